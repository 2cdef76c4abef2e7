//! Durable live updates: the per-user outbox the realtime gateway resumes from.
//!
//! A projection's batch yields [`LiveUpdate`]s for the users it concerns. The runtime stores them
//! with [`append`] in the batch's own transaction (so they exist exactly when the read-model
//! change does) and publishes them on NATS after the commit, on the user's
//! [`Subjects::live_durable`](crate::Subjects::live_durable), as a [`StoredUpdate::frame`] with
//! the cursor also in the [`CURSOR_HEADER`] header.
//!
//! Each user's updates are numbered 1, 2, 3, ... in commit order without gaps (see migration
//! `0006_live_updates.sql` for why the numbering cannot skip). The cursor a client sees is that
//! number as a string; the gateway treats a jump in the numbers that NATS brings as a gap and
//! reads the missing ones back with [`after`]. Housekeeping (`workers`) deletes updates past
//! their retention.
//!
//! A gap shows only when a later update arrives, so an update must not be left unpublished
//! for good: the batch also marks its updates ([`mark_unpublished`]), the runtime clears the
//! marks once NATS confirms ([`published`]), and a projection's next owner publishes whatever
//! is still marked ([`unpublished`]) — the updates of a worker that died between its commit
//! and its publish.
//!
//! Every frame of the realtime protocol, durable or not, is a [`LiveFrame`]: a typed payload
//! that knows its `type`. Projections build their updates from such types
//! ([`LiveUpdate::new`]) next to the read model that emits them, the gateway builds its own
//! frames the same way ([`encode`]) and reads them back by type ([`decode`]), and the AsyncAPI
//! document generates each payload's schema from the type: what is sent and what is documented
//! cannot drift apart.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The NATS header carrying a durable update's cursor, so that nodes need not parse payloads to
/// order them.
pub const CURSOR_HEADER: &str = "Loopync-Cursor";

/// The payload (`data`) of one `type` of frame of the realtime protocol.
///
/// Serialized, it is exactly the frame's `data`; its [`JsonSchema`] is what the AsyncAPI
/// document shows for it. Its doc comment documents the frame there: the first paragraph
/// (one sentence) is the summary, the rest the description, and field docs describe the
/// fields.
pub trait LiveFrame: Serialize + DeserializeOwned + JsonSchema {
    /// The frame's `type`, e.g. `balance_updated`.
    const KIND: &'static str;
}

/// The wire frame `{"type","cursor","data"}` of `frame`; `cursor` is `null` for a frame that is
/// not stored.
pub fn encode<F: LiveFrame>(cursor: Option<i64>, frame: &F) -> Result<String, serde_json::Error> {
    Ok(envelope(F::KIND, cursor, serde_json::to_value(frame)?))
}

/// The payload of a wire frame when it is an `F` (its `type` is `F::KIND`); `Ok(None)` for
/// any other type. Only the envelope's `type` is read from frames of other types.
pub fn decode<F: LiveFrame>(frame: &str) -> Result<Option<F>, serde_json::Error> {
    // The rest of the envelope is skipped without being built: most frames are not the one
    // asked for.
    #[derive(Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
    }
    #[derive(Deserialize)]
    struct Data<F> {
        data: F,
    }
    let Kind { kind } = serde_json::from_str(frame)?;
    if kind != F::KIND {
        return Ok(None);
    }
    let Data { data } = serde_json::from_str(frame)?;
    Ok(Some(data))
}

/// `{"type","cursor","data"}`: the envelope of every frame.
fn envelope(kind: &str, cursor: Option<i64>, data: Value) -> String {
    serde_json::json!({ "type": kind, "cursor": cursor.map(|cursor| cursor.to_string()), "data": data })
        .to_string()
}

/// An update for one user, as a projection yields it (before it has a cursor).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveUpdate {
    /// Who receives it: every connected device of this user.
    pub user_id: Uuid,
    /// The frame's `type`, e.g. `balance_updated`.
    pub kind: &'static str,
    /// The frame's `data`.
    pub data: Value,
}

impl LiveUpdate {
    /// The update carrying `frame` to every device of `user_id`.
    pub fn new<F: LiveFrame>(user_id: Uuid, frame: &F) -> Result<Self, serde_json::Error> {
        Ok(Self { user_id, kind: F::KIND, data: serde_json::to_value(frame)? })
    }
}

/// A stored update: a [`LiveUpdate`] with its number in the user's sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredUpdate {
    pub user_id: Uuid,
    pub seq: i64,
    pub kind: String,
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

impl StoredUpdate {
    /// The wire frame `{"type","cursor","data"}`.
    pub fn frame(&self) -> String {
        envelope(&self.kind, Some(self.seq), self.data.clone())
    }

    /// The update's payload when it is an `F` (its kind is `F::KIND`); `Ok(None)` for any
    /// other kind.
    pub fn decode<F: LiveFrame>(&self) -> Result<Option<F>, serde_json::Error> {
        if self.kind != F::KIND {
            return Ok(None);
        }
        F::deserialize(&self.data).map(Some)
    }
}

/// Stores a batch's updates, numbering each user's in order. Call inside the batch's
/// transaction: the numbers' row locks are held until it commits.
pub async fn append(
    conn: &mut PgConnection,
    updates: Vec<LiveUpdate>,
) -> Result<Vec<StoredUpdate>, sqlx::Error> {
    if updates.is_empty() {
        return Ok(Vec::new());
    }
    let mut per_user: BTreeMap<Uuid, i64> = BTreeMap::new();
    for update in &updates {
        *per_user.entry(update.user_id).or_default() += 1;
    }
    let (users, counts): (Vec<Uuid>, Vec<i64>) = per_user.into_iter().unzip();
    // Sorted by user id, so concurrent batches lock users in the same order and never deadlock.
    let reserved = sqlx::query!(
        "INSERT INTO live_cursors (user_id, last_seq) \
         SELECT user_id, count FROM unnest($1::uuid[], $2::bigint[]) AS batch(user_id, count) ORDER BY user_id \
         ON CONFLICT (user_id) DO UPDATE SET last_seq = live_cursors.last_seq + EXCLUDED.last_seq \
         RETURNING user_id, last_seq",
        &users,
        &counts,
    )
    .fetch_all(&mut *conn)
    .await?;

    // The first number of each user's run: the new last minus the run's length, plus one.
    let mut next: BTreeMap<Uuid, i64> = BTreeMap::new();
    for row in reserved {
        let (user_id, last) = (row.user_id, row.last_seq);
        let count = users.iter().position(|u| *u == user_id).map_or(0, |i| counts[i]);
        next.insert(user_id, last - count + 1);
    }
    let mut stored = Vec::with_capacity(updates.len());
    for update in updates {
        let seq = next.get_mut(&update.user_id).map_or(0, |n| {
            *n += 1;
            *n - 1
        });
        stored.push(StoredUpdate {
            user_id: update.user_id,
            seq,
            kind: update.kind.to_owned(),
            data: update.data,
            created_at: Utc::now(),
        });
    }
    sqlx::query!(
        "INSERT INTO live_updates (user_id, seq, kind, data) \
         SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::jsonb[])",
        &stored.iter().map(|u| u.user_id).collect::<Vec<_>>(),
        &stored.iter().map(|u| u.seq).collect::<Vec<_>>(),
        &stored.iter().map(|u| u.kind.clone()).collect::<Vec<_>>(),
        &stored.iter().map(|u| u.data.clone()).collect::<Vec<_>>(),
    )
    .execute(&mut *conn)
    .await?;
    Ok(stored)
}

/// Marks stored updates as not yet published, for `projection`. Call in the batch's transaction,
/// right after [`append`]: an update exists exactly when its mark does, until [`published`]
/// clears the mark (see migration `0011_live_updates_unpublished.sql`).
pub async fn mark_unpublished(
    conn: &mut PgConnection,
    projection: &str,
    updates: &[StoredUpdate],
) -> Result<(), sqlx::Error> {
    if updates.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "INSERT INTO live_updates_unpublished (user_id, seq, projection) \
         SELECT user_id, seq, $3 FROM unnest($1::uuid[], $2::bigint[]) AS batch(user_id, seq)",
        &updates.iter().map(|u| u.user_id).collect::<Vec<_>>(),
        &updates.iter().map(|u| u.seq).collect::<Vec<_>>(),
        projection,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Clears the marks of updates NATS has confirmed.
pub async fn published(pool: &PgPool, updates: &[StoredUpdate]) -> Result<(), sqlx::Error> {
    if updates.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "DELETE FROM live_updates_unpublished u \
         USING unnest($1::uuid[], $2::bigint[]) AS done(user_id, seq) \
         WHERE u.user_id = done.user_id AND u.seq = done.seq",
        &updates.iter().map(|u| u.user_id).collect::<Vec<_>>(),
        &updates.iter().map(|u| u.seq).collect::<Vec<_>>(),
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Up to `limit` of `projection`'s updates still marked unpublished, each user's in cursor
/// order.
pub async fn unpublished(
    pool: &PgPool,
    projection: &str,
    limit: i64,
) -> Result<Vec<StoredUpdate>, sqlx::Error> {
    sqlx::query_as!(
        StoredUpdate,
        "SELECT l.user_id, l.seq, l.kind, l.data, l.created_at \
           FROM live_updates_unpublished u JOIN live_updates l USING (user_id, seq) \
          WHERE u.projection = $1 ORDER BY l.user_id, l.seq LIMIT $2",
        projection,
        limit,
    )
    .fetch_all(pool)
    .await
}

/// The last number drawn for `user_id` (0 before their first update).
pub async fn head(pool: &PgPool, user_id: Uuid) -> Result<i64, sqlx::Error> {
    let head = sqlx::query_scalar!("SELECT last_seq FROM live_cursors WHERE user_id = $1", user_id)
        .fetch_optional(pool)
        .await?;
    Ok(head.unwrap_or(0))
}

/// Up to `limit` of the user's stored updates after `since`, in order.
pub async fn after(
    pool: &PgPool,
    user_id: Uuid,
    since: i64,
    limit: i64,
) -> Result<Vec<StoredUpdate>, sqlx::Error> {
    sqlx::query_as!(
        StoredUpdate,
        "SELECT user_id, seq, kind, data, created_at FROM live_updates \
         WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        user_id,
        since,
        limit,
    )
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame of this test's own.
    #[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
    struct Waved {
        by: String,
    }

    impl LiveFrame for Waved {
        const KIND: &'static str = "waved";
    }

    #[test]
    fn frames_are_read_back_by_type_only() {
        let waved = Waved { by: "ada".to_owned() };
        let frame = encode(Some(7), &waved).unwrap_or_else(|e| panic!("{e}"));
        let wire: Value = serde_json::from_str(&frame).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wire, serde_json::json!({ "type": "waved", "cursor": "7", "data": { "by": "ada" } }));
        assert_eq!(decode::<Waved>(&frame).ok(), Some(Some(waved)));

        let other = r#"{"type":"balance_updated","cursor":"8","data":{"available":1}}"#;
        assert_eq!(decode::<Waved>(other).ok(), Some(None));
        assert!(decode::<Waved>(r#"{"type":"waved","cursor":null,"data":{}}"#).is_err(), "data must fit");
        assert!(decode::<Waved>("not json").is_err());
    }

    #[test]
    fn updates_carry_their_frame_type_and_data() {
        let user_id = Uuid::nil();
        let update =
            LiveUpdate::new(user_id, &Waved { by: "ada".to_owned() }).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(update.kind, "waved");
        let stored = StoredUpdate {
            user_id,
            seq: 3,
            kind: update.kind.to_owned(),
            data: update.data,
            created_at: Utc::now(),
        };
        assert_eq!(stored.decode::<Waved>().ok(), Some(Some(Waved { by: "ada".to_owned() })));
        assert_eq!(decode::<Waved>(&stored.frame()).ok(), Some(Some(Waved { by: "ada".to_owned() })));
    }
}
