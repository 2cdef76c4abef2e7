//! One-time sign-in codes sent by SMS: one `PhoneCode` per phone number (stream
//! `phone_code-<E.164 number>`).
//!
//! A code lives for a few minutes, allows a handful of wrong guesses, and is used once. A new
//! code replaces the previous one, but not before the resend cooldown: each send costs money
//! and annoys the phone's owner. Every wrong guess is an event, so the attempt limit holds
//! across API processes and restarts, and two guesses racing are counted as two.
//!
//! The aggregate sees a keyed hash of the code (HMAC with a server secret), never the code:
//! six digits are too few to survive an unkeyed hash.

use crate::{Aggregate, DomainEvent};
use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneCode {
    pub current: Option<CodeSent>,
    pub failed_attempts: u32,
    pub used: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PhoneCodeCommand {
    /// Issue a new code unless the last one was sent less than `resend_after_seconds` ago.
    Send { code_hash: String, at: DateTime<Utc>, valid_for_seconds: i64, resend_after_seconds: i64 },
    /// Check a guess; at most `max_attempts` wrong guesses per code.
    Verify { code_hash: String, at: DateTime<Utc>, max_attempts: u32 },
}

/// Payload of `phone_code.sent`, v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeSent {
    /// HMAC-SHA-256 of the code under the server's secret.
    pub code_hash: String,
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Payload of `phone_code.attempt_failed`, v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttemptFailed {
    /// Wrong guesses of the current code so far, this one included.
    pub failed_attempts: u32,
    pub at: DateTime<Utc>,
}

/// Payload of `phone_code.verified`, v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeVerified {
    pub verified_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum PhoneCodeEvent {
    #[serde(rename = "phone_code.sent")]
    Sent(CodeSent),
    #[serde(rename = "phone_code.attempt_failed")]
    AttemptFailed(AttemptFailed),
    #[serde(rename = "phone_code.verified")]
    Verified(CodeVerified),
}

impl DomainEvent for PhoneCodeEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Sent(_) => "phone_code.sent",
            Self::AttemptFailed(_) => "phone_code.attempt_failed",
            Self::Verified(_) => "phone_code.verified",
        }
    }

    fn schema_version(&self) -> i32 {
        1
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneCodeError {
    #[error("a code was sent recently; a new one can be sent at {0}")]
    Cooldown(DateTime<Utc>),
    #[error("no code is pending for this number; request one")]
    NoCode,
    #[error("the code has expired; request a new one")]
    Expired,
    #[error("too many wrong codes; request a new one")]
    TooManyAttempts,
}

impl Aggregate for PhoneCode {
    const CATEGORY: &'static str = "phone_code";
    type Command = PhoneCodeCommand;
    type Event = PhoneCodeEvent;
    type Error = PhoneCodeError;

    fn decide(&self, command: &PhoneCodeCommand) -> Result<Vec<PhoneCodeEvent>, PhoneCodeError> {
        match command {
            PhoneCodeCommand::Send { code_hash, at, valid_for_seconds, resend_after_seconds } => {
                if let Some(current) = &self.current {
                    let resend_at = current.sent_at + Duration::seconds(*resend_after_seconds);
                    if *at < resend_at {
                        return Err(PhoneCodeError::Cooldown(resend_at));
                    }
                }
                Ok(vec![PhoneCodeEvent::Sent(CodeSent {
                    code_hash: code_hash.clone(),
                    sent_at: *at,
                    expires_at: *at + Duration::seconds(*valid_for_seconds),
                })])
            }
            PhoneCodeCommand::Verify { code_hash, at, max_attempts } => {
                let current = self.current.as_ref().filter(|_| !self.used).ok_or(PhoneCodeError::NoCode)?;
                if *at >= current.expires_at {
                    return Err(PhoneCodeError::Expired);
                }
                if self.failed_attempts >= *max_attempts {
                    return Err(PhoneCodeError::TooManyAttempts);
                }
                if &current.code_hash != code_hash {
                    return Ok(vec![PhoneCodeEvent::AttemptFailed(AttemptFailed {
                        failed_attempts: self.failed_attempts + 1,
                        at: *at,
                    })]);
                }
                Ok(vec![PhoneCodeEvent::Verified(CodeVerified { verified_at: *at })])
            }
        }
    }

    fn apply(&mut self, event: &PhoneCodeEvent) {
        match event {
            PhoneCodeEvent::Sent(sent) => {
                self.current = Some(sent.clone());
                self.failed_attempts = 0;
                self.used = false;
            }
            PhoneCodeEvent::AttemptFailed(failed) => self.failed_attempts = failed.failed_attempts,
            PhoneCodeEvent::Verified(_) => self.used = true,
        }
    }
}

#[cfg(test)]
mod rules {
    use super::*;
    use crate::given::given;
    use chrono::TimeZone;

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, second / 60, second % 60).single().unwrap_or_default()
    }

    fn sent(hash: &str, second: u32) -> PhoneCodeEvent {
        PhoneCodeEvent::Sent(CodeSent {
            code_hash: hash.into(),
            sent_at: at(second),
            expires_at: at(second + 300),
        })
    }

    fn send(hash: &str, second: u32) -> PhoneCodeCommand {
        PhoneCodeCommand::Send {
            code_hash: hash.into(),
            at: at(second),
            valid_for_seconds: 300,
            resend_after_seconds: 60,
        }
    }

    fn verify(hash: &str, second: u32) -> PhoneCodeCommand {
        PhoneCodeCommand::Verify { code_hash: hash.into(), at: at(second), max_attempts: 5 }
    }

    fn failed(n: u32, second: u32) -> PhoneCodeEvent {
        PhoneCodeEvent::AttemptFailed(AttemptFailed { failed_attempts: n, at: at(second) })
    }

    #[test]
    fn a_new_code_waits_for_the_resend_cooldown() {
        given::<PhoneCode>([]).when(send("a", 0)).then([sent("a", 0)]);
        given::<PhoneCode>([sent("a", 0)]).when(send("b", 59)).then_error(PhoneCodeError::Cooldown(at(60)));
        given::<PhoneCode>([sent("a", 0)]).when(send("b", 60)).then([sent("b", 60)]);
    }

    #[test]
    fn the_right_code_verifies_once() {
        let verified = PhoneCodeEvent::Verified(CodeVerified { verified_at: at(10) });
        given::<PhoneCode>([sent("a", 0)]).when(verify("a", 10)).then([verified.clone()]);
        given::<PhoneCode>([sent("a", 0), verified]).when(verify("a", 11)).then_error(PhoneCodeError::NoCode);
    }

    #[test]
    fn wrong_codes_count_and_five_end_the_code() {
        given::<PhoneCode>([sent("a", 0)]).when(verify("x", 1)).then([failed(1, 1)]);
        let five = [sent("a", 0), failed(1, 1), failed(2, 2), failed(3, 3), failed(4, 4), failed(5, 5)];
        given::<PhoneCode>(five.clone()).when(verify("a", 6)).then_error(PhoneCodeError::TooManyAttempts);
        let mut renewed = five.to_vec();
        renewed.push(sent("b", 70));
        given::<PhoneCode>(renewed)
            .when(verify("b", 71))
            .then([PhoneCodeEvent::Verified(CodeVerified { verified_at: at(71) })]);
    }

    #[test]
    fn codes_expire_after_their_lifetime() {
        given::<PhoneCode>([sent("a", 0)]).when(verify("a", 300)).then_error(PhoneCodeError::Expired);
        given::<PhoneCode>([]).when(verify("a", 1)).then_error(PhoneCodeError::NoCode);
    }
}
