//! Limits shared by every node: at most `limit` counted attempts per key in a sliding
//! `window`, then 429 with `Retry-After` until the oldest one in the window ages out.
//!
//! - **Lockouts after failures** (passwords per email address, SMS codes per phone number):
//!   every attempt is counted when it starts ([`SharedLimit::take`]) and forgiven when it
//!   succeeds ([`SharedLimit::forgive`]): an attempt that dies half-way (a crash, a dropped
//!   connection) still counts, and N guesses sent at once count as N.
//! - **Caps on what is sent** (mail and SMS per recipient): every send is counted and never
//!   forgiven, so nobody can flood one inbox or phone, from however many addresses.
//!
//! Counted in PostgreSQL (`auth_failures`), not in memory, so the limit is the same whichever
//! node a request lands on and survives restarts. A check and a record are one indexed query
//! each. Keys are stored as their SHA-256: the table holds no addresses or numbers.

use super::errors::AuthError;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SharedLimit {
    pool: PgPool,
    scope: &'static str,
    limit: u32,
    window: Duration,
}

impl SharedLimit {
    pub fn new(pool: PgPool, scope: &'static str, limit: u32, window: Duration) -> Self {
        Self { pool, scope, limit, window }
    }

    fn key_hash(key: &str) -> String {
        hex::encode(Sha256::digest(key.as_bytes()))
    }

    /// Counts an attempt for `key`: refuses with `RateLimited` when the window already holds
    /// `limit` of them, and otherwise records this one (until [`Self::forgive`], if ever). Counting and recording happen under a per-key advisory lock, so
    /// parallel guesses cannot all slip past the count before any of them is recorded.
    pub async fn take(&self, key: &str) -> Result<(), AuthError> {
        if self.limit == 0 {
            return Ok(()); // a limit of 0 is off
        }
        let key_hash = Self::key_hash(key);
        let window_seconds = self.window.as_secs_f64();
        let mut transaction = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))")
            .bind(self.scope)
            .bind(&key_hash)
            .execute(&mut *transaction)
            .await?;
        let recent = sqlx::query!(
            r#"SELECT count(*) AS "failures!",
                      extract(epoch FROM min(failed_at) + make_interval(secs => $3) - now())::float8 AS retry_after
                 FROM (SELECT failed_at FROM auth_failures
                        WHERE scope = $1 AND key_hash = $2 AND failed_at > now() - make_interval(secs => $3)
                        ORDER BY failed_at DESC LIMIT $4) recent"#,
            self.scope,
            &key_hash,
            window_seconds,
            i64::from(self.limit),
        )
        .fetch_one(&mut *transaction)
        .await?;
        let (failures, retry_after) = (recent.failures, recent.retry_after);
        if failures >= i64::from(self.limit) {
            let retry_after = retry_after.unwrap_or(window_seconds).ceil().max(1.0) as u32;
            return Err(AuthError::RateLimited { retry_after });
        }
        sqlx::query!("INSERT INTO auth_failures (scope, key_hash) VALUES ($1, $2)", self.scope, &key_hash)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// After a success: earlier failures no longer count.
    pub async fn forgive(&self, key: &str) -> Result<(), AuthError> {
        sqlx::query!(
            "DELETE FROM auth_failures WHERE scope = $1 AND key_hash = $2",
            self.scope,
            Self::key_hash(key)
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
