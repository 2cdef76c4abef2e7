//! `user_sessions`: one row per signed-in device, for the devices list ("where am I signed
//! in?") and its "sign out everywhere else".
//!
//! A session ends by its own `session.revoked`, or when the account's password changes:
//! `account.password_changed` ends every session started under an earlier credentials epoch,
//! though those sessions' streams never hear of it. The first ending is the one shown: a
//! later logout of a session already ended by a password change changes nothing.
//!
//! Each ending is also a [`SessionRevoked`] live update (`{sessionId, reason}`) for the user: the
//! realtime gateway closes that session's sockets with 4003.
//!
//! The SQL on this projection's tables is unchecked (`sqlx::query`, not the `query!` macros):
//! the tables exist only in the per-generation schemas and `read_models` views the runtime
//! creates, never in the migrated schema the macros are checked against.

use super::frames::{SessionEndReason, SessionRevoked};
use super::stream_uuid;
use crate::projection::{LiveUpdate, Projection, ProjectionError};
use async_trait::async_trait;
use loopync_domain::Aggregate;
use loopync_domain::identity::account::{Account, AccountEvent, PasswordChanged};
use loopync_domain::identity::session::{
    Session, SessionEvent, SessionRefreshed, SessionRevoked as RevokedEvent, SessionStarted,
};
use loopync_schemas::RecordedEvent;
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, BTreeSet};

/// The sessions of all accounts.
#[derive(Debug, Default, Clone, Copy)]
pub struct UserSessions;

impl UserSessions {
    pub const NAME: &'static str = "user_sessions";
}

/// `revoked_reason` of the sessions a password change ended.
pub const CREDENTIALS_CHANGED: &str = SessionEndReason::CredentialsChanged.as_str();

/// The tables, created in each generation's schema (see the file's comments).
const SCHEMA: &str = include_str!("sessions.sql");

/// The columns of `user_sessions`, as written.
const SESSION_COLUMNS: &str = "session_id, user_id, device, credentials_epoch, started_at, last_used_at, \
     expires_at, revoked_at, revoked_reason";

/// A [`SessionRow`], read from `user_sessions` joined with its address.
const SESSION_FIELDS: &str = "session_id, user_id, device, ip, credentials_epoch, started_at, last_used_at, \
     expires_at, revoked_at, revoked_reason";

/// The generation being written, sessions with their addresses (the runtime's search path).
const GENERATION_SESSIONS: &str = "user_sessions LEFT JOIN user_session_addresses USING (session_id)";
/// Sessions with their addresses, as the API reads them.
const PRIVATE_SESSIONS: &str =
    "read_models.user_sessions LEFT JOIN private_read_models.user_session_addresses USING (session_id)";

/// A session as `read_models.user_sessions` and `private_read_models.user_session_addresses`
/// show it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub device: Option<String>,
    pub ip: Option<String>,
    pub credentials_epoch: i32,
    pub started_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

/// An event this read model folds, with the aggregate it belongs to.
enum SessionChange {
    Started(Uuid, SessionStarted),
    Refreshed(Uuid, SessionRefreshed),
    Revoked(Uuid, RevokedEvent),
    PasswordChanged(Uuid, PasswordChanged),
}

#[async_trait]
impl Projection for UserSessions {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn schema_sql(&self) -> &'static str {
        SCHEMA
    }

    fn tables(&self) -> &'static [&'static str] {
        &["user_sessions"]
    }

    fn private_tables(&self) -> &'static [&'static str] {
        &["user_session_addresses"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<Vec<LiveUpdate>, ProjectionError> {
        let changes = decode(events)?;
        if changes.is_empty() {
            return Ok(Vec::new());
        }

        // What the batch needs to know before folding: the sessions its session events touch,
        // the live sessions of accounts whose password changes, and those accounts' epochs.
        let mut session_ids = BTreeSet::new();
        let mut password_users = BTreeSet::new();
        let mut epoch_users = BTreeSet::new();
        for change in &changes {
            match change {
                SessionChange::Started(session_id, started) => {
                    session_ids.insert(*session_id);
                    if let Ok(user_id) = Uuid::try_parse(&started.account_id) {
                        epoch_users.insert(user_id);
                    }
                }
                SessionChange::Refreshed(session_id, _) | SessionChange::Revoked(session_id, _) => {
                    session_ids.insert(*session_id);
                }
                SessionChange::PasswordChanged(user_id, _) => {
                    password_users.insert(*user_id);
                    epoch_users.insert(*user_id);
                }
            }
        }
        let mut fold = SessionFold::default();
        for row in load_sessions(conn, &session_ids, &password_users).await? {
            fold.sessions.insert(row.session_id, row);
        }
        fold.epochs = load_epochs(conn, &epoch_users).await?;

        for change in changes {
            fold.apply(change);
        }

        let rows: Vec<&SessionRow> =
            fold.changed_sessions.iter().filter_map(|id| fold.sessions.get(id)).collect();
        write_sessions(conn, &rows).await?;
        let epochs: Vec<(Uuid, i32)> = fold
            .changed_epochs
            .iter()
            .filter_map(|id| fold.epochs.get(id).map(|epoch| (*id, *epoch)))
            .collect();
        write_epochs(conn, &epochs).await?;

        // Every session the batch ended: its device's socket closes (`session_revoked`), and the
        // user's other devices learn that it is gone.
        let mut updates = Vec::with_capacity(fold.ended.len());
        for (session_id, reason) in &fold.ended {
            let Some(session) = fold.sessions.get(session_id) else { continue };
            let revoked = SessionRevoked { session_id: *session_id, reason: *reason };
            updates.push(LiveUpdate::new(session.user_id, &revoked)?);
        }
        Ok(updates)
    }
}

/// The batch's events this read model folds, in log order.
fn decode(events: &[RecordedEvent]) -> Result<Vec<SessionChange>, ProjectionError> {
    let mut changes = Vec::new();
    for recorded in events {
        if let Some(session_id) = stream_uuid(recorded, Session::CATEGORY) {
            changes.push(match recorded.decode::<SessionEvent>()? {
                SessionEvent::Started(started) => SessionChange::Started(session_id, started),
                SessionEvent::Refreshed(refreshed) => SessionChange::Refreshed(session_id, refreshed),
                SessionEvent::Revoked(revoked) => SessionChange::Revoked(session_id, revoked),
            });
        } else if recorded.event_type == "account.password_changed"
            && let Some(user_id) = stream_uuid(recorded, Account::CATEGORY)
            && let AccountEvent::PasswordChanged(changed) = recorded.decode::<AccountEvent>()?
        {
            // Filtered by type first: the other account events are none of this read
            // model's business, and decoding them would be wasted work.
            changes.push(SessionChange::PasswordChanged(user_id, changed));
        }
    }
    Ok(changes)
}

/// The rows a batch touches, folded in memory in log order.
#[derive(Default)]
struct SessionFold {
    sessions: BTreeMap<Uuid, SessionRow>,
    /// Known credentials epochs of the accounts the batch concerns.
    epochs: BTreeMap<Uuid, i32>,
    changed_sessions: BTreeSet<Uuid>,
    changed_epochs: BTreeSet<Uuid>,
    /// Sessions this batch ended, and why (the first ending, as the row shows it).
    ended: BTreeMap<Uuid, SessionEndReason>,
}

impl SessionFold {
    fn apply(&mut self, change: SessionChange) {
        match change {
            SessionChange::Started(session_id, started) => {
                // Already there: a replayed batch. Keep the row, which may have moved on since.
                if self.sessions.contains_key(&session_id) {
                    return;
                }
                let Ok(user_id) = Uuid::try_parse(&started.account_id) else {
                    tracing::warn!(%session_id, account_id = %started.account_id, "session of an account id that is not a uuid; skipped");
                    return;
                };
                let credentials_epoch = epoch(started.credentials_epoch);
                // Started under an epoch the account had already left: over from the start.
                let ended = self
                    .epochs
                    .get(&user_id)
                    .is_some_and(|current| *current > credentials_epoch)
                    .then_some(started.started_at);
                self.sessions.insert(
                    session_id,
                    SessionRow {
                        session_id,
                        user_id,
                        device: started.device,
                        ip: started.ip,
                        credentials_epoch,
                        started_at: started.started_at,
                        last_used_at: started.started_at,
                        expires_at: started.refresh.expires_at,
                        revoked_at: ended,
                        revoked_reason: ended.map(|_| CREDENTIALS_CHANGED.to_owned()),
                    },
                );
                self.changed_sessions.insert(session_id);
                if ended.is_some() {
                    self.ended.insert(session_id, SessionEndReason::CredentialsChanged);
                }
            }
            SessionChange::Refreshed(session_id, refreshed) => {
                let Some(session) = self.sessions.get_mut(&session_id) else { return };
                // Never backwards, so a replayed refresh cannot undo a later one.
                if refreshed.refreshed_at < session.last_used_at {
                    return;
                }
                session.last_used_at = refreshed.refreshed_at;
                session.expires_at = refreshed.refresh.expires_at;
                self.changed_sessions.insert(session_id);
            }
            SessionChange::Revoked(session_id, revoked) => {
                let Some(session) = self.sessions.get_mut(&session_id) else { return };
                if session.revoked_at.is_some() {
                    return;
                }
                let reason = SessionEndReason::from(revoked.reason);
                session.revoked_at = Some(revoked.revoked_at);
                session.revoked_reason = Some(reason.as_str().to_owned());
                self.changed_sessions.insert(session_id);
                self.ended.insert(session_id, reason);
            }
            SessionChange::PasswordChanged(user_id, changed) => {
                let new_epoch = epoch(changed.credentials_epoch);
                let known = self.epochs.entry(user_id).or_insert(new_epoch);
                *known = (*known).max(new_epoch);
                self.changed_epochs.insert(user_id);
                // `sessions` holds every live session of this user: those loaded for the
                // password change and those started earlier in the batch.
                for session in self.sessions.values_mut() {
                    if session.user_id == user_id
                        && session.credentials_epoch < new_epoch
                        && session.revoked_at.is_none()
                    {
                        session.revoked_at = Some(changed.changed_at);
                        session.revoked_reason = Some(CREDENTIALS_CHANGED.to_owned());
                        self.changed_sessions.insert(session.session_id);
                        self.ended.insert(session.session_id, SessionEndReason::CredentialsChanged);
                    }
                }
            }
        }
    }
}

/// The epoch as stored (`integer`). Four billion password changes of one account will not
/// happen; saturating keeps the fold total rather than stalling the log on it.
fn epoch(credentials_epoch: u32) -> i32 {
    i32::try_from(credentials_epoch).unwrap_or(i32::MAX)
}

/// The sessions in `session_ids`, and the live sessions of `users`, in the generation being
/// written.
async fn load_sessions(
    conn: &mut PgConnection,
    session_ids: &BTreeSet<Uuid>,
    users: &BTreeSet<Uuid>,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    let session_ids: Vec<Uuid> = session_ids.iter().copied().collect();
    let users: Vec<Uuid> = users.iter().copied().collect();
    sqlx::query_as(&format!(
        "SELECT {SESSION_FIELDS} FROM {GENERATION_SESSIONS} \
         WHERE session_id = ANY($1) OR (user_id = ANY($2) AND revoked_at IS NULL)"
    ))
    .bind(&session_ids)
    .bind(&users)
    .fetch_all(&mut *conn)
    .await
}

async fn load_epochs(
    conn: &mut PgConnection,
    users: &BTreeSet<Uuid>,
) -> Result<BTreeMap<Uuid, i32>, sqlx::Error> {
    if users.is_empty() {
        return Ok(BTreeMap::new());
    }
    let users: Vec<Uuid> = users.iter().copied().collect();
    let rows: Vec<(Uuid, i32)> =
        sqlx::query_as("SELECT user_id, credentials_epoch FROM user_session_epochs WHERE user_id = ANY($1)")
            .bind(&users)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Upserts whole rows in one statement.
async fn write_sessions(conn: &mut PgConnection, rows: &[&SessionRow]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut columns = SessionColumns::default();
    for row in rows {
        columns.push(row);
    }
    sqlx::query(&format!(
        "INSERT INTO user_sessions ({SESSION_COLUMNS}) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::integer[], \
             $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::text[]) \
         ON CONFLICT (session_id) DO UPDATE SET user_id = excluded.user_id, device = excluded.device, \
             credentials_epoch = excluded.credentials_epoch, \
             started_at = excluded.started_at, last_used_at = excluded.last_used_at, \
             expires_at = excluded.expires_at, revoked_at = excluded.revoked_at, \
             revoked_reason = excluded.revoked_reason"
    ))
    .bind(&columns.session_id)
    .bind(&columns.user_id)
    .bind(&columns.device)
    .bind(&columns.credentials_epoch)
    .bind(&columns.started_at)
    .bind(&columns.last_used_at)
    .bind(&columns.expires_at)
    .bind(&columns.revoked_at)
    .bind(&columns.revoked_reason)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO user_session_addresses (session_id, ip) \
         SELECT * FROM unnest($1::uuid[], $2::text[]) \
         ON CONFLICT (session_id) DO UPDATE SET ip = excluded.ip",
    )
    .bind(&columns.session_id)
    .bind(&columns.ip)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn write_epochs(conn: &mut PgConnection, epochs: &[(Uuid, i32)]) -> Result<(), sqlx::Error> {
    if epochs.is_empty() {
        return Ok(());
    }
    let (users, values): (Vec<Uuid>, Vec<i32>) = epochs.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO user_session_epochs (user_id, credentials_epoch) \
         SELECT * FROM unnest($1::uuid[], $2::integer[]) \
         ON CONFLICT (user_id) DO UPDATE \
         SET credentials_epoch = greatest(user_session_epochs.credentials_epoch, excluded.credentials_epoch)",
    )
    .bind(&users)
    .bind(&values)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Rows turned into one array per column, for `unnest`.
#[derive(Default)]
struct SessionColumns<'a> {
    session_id: Vec<Uuid>,
    user_id: Vec<Uuid>,
    device: Vec<Option<&'a str>>,
    ip: Vec<Option<&'a str>>,
    credentials_epoch: Vec<i32>,
    started_at: Vec<DateTime<Utc>>,
    last_used_at: Vec<DateTime<Utc>>,
    expires_at: Vec<DateTime<Utc>>,
    revoked_at: Vec<Option<DateTime<Utc>>>,
    revoked_reason: Vec<Option<&'a str>>,
}

impl<'a> SessionColumns<'a> {
    fn push(&mut self, row: &'a SessionRow) {
        self.session_id.push(row.session_id);
        self.user_id.push(row.user_id);
        self.device.push(row.device.as_deref());
        self.ip.push(row.ip.as_deref());
        self.credentials_epoch.push(row.credentials_epoch);
        self.started_at.push(row.started_at);
        self.last_used_at.push(row.last_used_at);
        self.expires_at.push(row.expires_at);
        self.revoked_at.push(row.revoked_at);
        self.revoked_reason.push(row.revoked_reason.as_deref());
    }
}

/// A user's sessions that are still usable at `now` (not ended, refresh token not expired),
/// newest first.
pub async fn active_sessions(
    pool: &PgPool,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SESSION_FIELDS} FROM {PRIVATE_SESSIONS} \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
         ORDER BY started_at DESC, session_id DESC"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_all(pool)
    .await
}

/// Reads one session from `read_models.user_sessions`.
pub async fn session(pool: &PgPool, session_id: Uuid) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {SESSION_FIELDS} FROM {PRIVATE_SESSIONS} WHERE session_id = $1"))
        .bind(session_id)
        .fetch_optional(pool)
        .await
}
