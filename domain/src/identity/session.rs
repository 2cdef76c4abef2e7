//! A signed-in device: one `Session` per sign-in (stream `session-<session id>`), holding the
//! refresh token family of that device.
//!
//! Refresh tokens rotate on every use: a refresh retires the presented token and names the
//! hash of the next one. A retired token presented again means two parties hold the family
//! (a stolen token was used, by the thief or by the victim), so the whole session is revoked:
//! `session.revoked` with reason `token_reused`. Two refreshes racing with one token end the
//! same way, by design: the store lets exactly one rotate, and the other is a reuse.
//!
//! The aggregate only ever sees SHA-256 hashes of refresh tokens; the tokens themselves exist
//! on the client and, for a moment, in the request that mints them.

use crate::identity::account::TokenChallenge;
use crate::{Aggregate, DomainEvent};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How many retired refresh-token hashes a session remembers for reuse detection. Older ones
/// are simply unknown (refused without revoking): at a 15-minute access token lifetime this
/// covers a day of continuous use.
pub const RETIRED_TOKENS_KEPT: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub account_id: Option<String>,
    /// The account's credentials epoch when the session started.
    pub credentials_epoch: u32,
    pub refresh: Option<TokenChallenge>,
    /// Hashes of rotated-out refresh tokens, newest last.
    pub retired: Vec<String>,
    pub revoked: Option<RevocationReason>,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// The user signed out on this device.
    Logout,
    /// The user (or an admin) ended it from the devices list.
    Revoked,
    /// A rotated refresh token was presented again.
    TokenReused,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SessionCommand {
    Start {
        account_id: String,
        credentials_epoch: u32,
        refresh: TokenChallenge,
        device: Option<String>,
        ip: Option<String>,
        at: DateTime<Utc>,
    },
    /// Rotate: `presented_hash` for the next token. `account_epoch` is the account's current
    /// credentials epoch: a session from an earlier one is over.
    Refresh {
        presented_hash: String,
        next: TokenChallenge,
        account_epoch: u32,
        at: DateTime<Utc>,
    },
    Revoke {
        reason: RevocationReason,
        at: DateTime<Utc>,
    },
}

/// Payload of `session.started`, v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionStarted {
    pub account_id: String,
    pub credentials_epoch: u32,
    /// SHA-256 of the first refresh token, and its expiry.
    pub refresh: TokenChallenge,
    /// The client's `User-Agent`, cut to 200 characters.
    pub device: Option<String>,
    pub ip: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// Payload of `session.refreshed`, v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionRefreshed {
    /// SHA-256 of the next refresh token, and its expiry.
    pub refresh: TokenChallenge,
    pub refreshed_at: DateTime<Utc>,
}

/// Payload of `session.revoked`, v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionRevoked {
    pub reason: RevocationReason,
    pub revoked_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum SessionEvent {
    #[serde(rename = "session.started")]
    Started(SessionStarted),
    #[serde(rename = "session.refreshed")]
    Refreshed(SessionRefreshed),
    #[serde(rename = "session.revoked")]
    Revoked(SessionRevoked),
}

impl DomainEvent for SessionEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Started(_) => "session.started",
            Self::Refreshed(_) => "session.refreshed",
            Self::Revoked(_) => "session.revoked",
        }
    }

    fn schema_version(&self) -> i32 {
        1
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the refresh token is not valid")]
    UnknownToken,
    #[error("the refresh token has expired")]
    Expired,
    #[error("the session has ended")]
    Ended,
    #[error("the session already exists")]
    AlreadyStarted,
}

impl Session {
    /// Whether the session is live for an account at `account_epoch`.
    pub fn is_live(&self, account_epoch: u32) -> bool {
        self.account_id.is_some() && self.revoked.is_none() && self.credentials_epoch >= account_epoch
    }
}

impl Aggregate for Session {
    const CATEGORY: &'static str = "session";
    type Command = SessionCommand;
    type Event = SessionEvent;
    type Error = SessionError;

    fn decide(&self, command: &SessionCommand) -> Result<Vec<SessionEvent>, SessionError> {
        match command {
            SessionCommand::Start { account_id, credentials_epoch, refresh, device, ip, at } => {
                if self.account_id.is_some() {
                    return Err(SessionError::AlreadyStarted);
                }
                Ok(vec![SessionEvent::Started(SessionStarted {
                    account_id: account_id.clone(),
                    credentials_epoch: *credentials_epoch,
                    refresh: refresh.clone(),
                    device: device.clone(),
                    ip: ip.clone(),
                    started_at: *at,
                })])
            }
            SessionCommand::Refresh { presented_hash, next, account_epoch, at } => {
                let current = self.refresh.as_ref().ok_or(SessionError::UnknownToken)?;
                if self.revoked.is_some() || self.credentials_epoch < *account_epoch {
                    return Err(SessionError::Ended);
                }
                if self.retired.contains(presented_hash) {
                    return Ok(vec![SessionEvent::Revoked(SessionRevoked {
                        reason: RevocationReason::TokenReused,
                        revoked_at: *at,
                    })]);
                }
                if &current.token_hash != presented_hash {
                    return Err(SessionError::UnknownToken);
                }
                if *at >= current.expires_at {
                    return Err(SessionError::Expired);
                }
                Ok(vec![SessionEvent::Refreshed(SessionRefreshed {
                    refresh: next.clone(),
                    refreshed_at: *at,
                })])
            }
            SessionCommand::Revoke { reason, at } => {
                if self.account_id.is_none() {
                    return Err(SessionError::UnknownToken);
                }
                if self.revoked.is_some() {
                    return Ok(vec![]);
                }
                Ok(vec![SessionEvent::Revoked(SessionRevoked { reason: *reason, revoked_at: *at })])
            }
        }
    }

    fn apply(&mut self, event: &SessionEvent) {
        match event {
            SessionEvent::Started(started) => {
                self.account_id = Some(started.account_id.clone());
                self.credentials_epoch = started.credentials_epoch;
                self.refresh = Some(started.refresh.clone());
            }
            SessionEvent::Refreshed(refreshed) => {
                if let Some(previous) = self.refresh.replace(refreshed.refresh.clone()) {
                    self.retired.push(previous.token_hash);
                }
                if self.retired.len() > RETIRED_TOKENS_KEPT {
                    self.retired.remove(0);
                }
            }
            SessionEvent::Revoked(revoked) => self.revoked = Some(revoked.reason),
        }
    }
}

#[cfg(test)]
mod rules {
    use super::*;
    use crate::given::given;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).single().unwrap_or_default()
    }

    fn token(hash: &str, expires_day: u32) -> TokenChallenge {
        TokenChallenge { token_hash: hash.into(), expires_at: at(expires_day) }
    }

    fn started() -> SessionEvent {
        SessionEvent::Started(SessionStarted {
            account_id: "ada".into(),
            credentials_epoch: 0,
            refresh: token("r1", 8),
            device: None,
            ip: None,
            started_at: at(1),
        })
    }

    fn refreshed(hash: &str, day: u32) -> SessionEvent {
        SessionEvent::Refreshed(SessionRefreshed { refresh: token(hash, day + 7), refreshed_at: at(day) })
    }

    fn refresh(presented: &str, next: &str, day: u32) -> SessionCommand {
        SessionCommand::Refresh {
            presented_hash: presented.into(),
            next: token(next, day + 7),
            account_epoch: 0,
            at: at(day),
        }
    }

    #[test]
    fn a_refresh_token_rotates_on_use() {
        given::<Session>([started()]).when(refresh("r1", "r2", 2)).then([refreshed("r2", 2)]);
    }

    #[test]
    fn presenting_a_rotated_token_again_revokes_the_whole_session() {
        given::<Session>([started(), refreshed("r2", 2)]).when(refresh("r1", "r3", 3)).then([
            SessionEvent::Revoked(SessionRevoked {
                reason: RevocationReason::TokenReused,
                revoked_at: at(3),
            }),
        ]);
        let reused = SessionEvent::Revoked(SessionRevoked {
            reason: RevocationReason::TokenReused,
            revoked_at: at(3),
        });
        given::<Session>([started(), refreshed("r2", 2), reused])
            .when(refresh("r2", "r3", 3))
            .then_error(SessionError::Ended);
    }

    #[test]
    fn unknown_expired_and_outdated_tokens_are_refused() {
        given::<Session>([started()]).when(refresh("nope", "r2", 2)).then_error(SessionError::UnknownToken);
        given::<Session>([started()]).when(refresh("r1", "r2", 8)).then_error(SessionError::Expired);
        given::<Session>([]).when(refresh("r1", "r2", 2)).then_error(SessionError::UnknownToken);
        given::<Session>([started()])
            .when(SessionCommand::Refresh {
                presented_hash: "r1".into(),
                next: token("r2", 9),
                account_epoch: 1,
                at: at(2),
            })
            .then_error(SessionError::Ended);
    }

    #[test]
    fn a_session_is_revoked_once() {
        let logout = || SessionCommand::Revoke { reason: RevocationReason::Logout, at: at(2) };
        let revoked =
            SessionEvent::Revoked(SessionRevoked { reason: RevocationReason::Logout, revoked_at: at(2) });
        given::<Session>([started()]).when(logout()).then([revoked.clone()]);
        given::<Session>([started(), revoked]).when(logout()).then([]);
    }

    #[test]
    fn reuse_detection_remembers_a_bounded_number_of_retired_tokens() {
        let mut history = vec![started()];
        for n in 0..(RETIRED_TOKENS_KEPT + 5) {
            history.push(refreshed(&format!("g{n}"), 2));
        }
        let state = Session::default().fold(&history);
        assert_eq!(state.retired.len(), RETIRED_TOKENS_KEPT);
        assert!(!state.retired.contains(&"r1".to_owned()), "the oldest are forgotten");
    }
}
