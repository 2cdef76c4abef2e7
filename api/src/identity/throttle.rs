//! Lockouts after repeated failures: at most `limit` failures per key in a sliding `window`,
//! then 429 with `Retry-After` until the oldest failure in the window ages out.
//!
//! Every attempt is recorded as a failure when it starts ([`FailureThrottle::begin`]) and
//! forgiven when it succeeds ([`FailureThrottle::clear`]): an attempt that dies half-way (a
//! crash, a dropped connection) still counts, and N guesses sent at once count as N.
//!
//! Counted in PostgreSQL (`auth_failures`), not in memory, so the limit is the same whichever
//! node a guess lands on and survives restarts. A check and a record are one indexed query
//! each; next to a bcrypt verification they cost nothing.

use super::errors::AuthError;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct FailureThrottle {
    pool: PgPool,
    scope: &'static str,
    limit: u32,
    window: Duration,
}

impl FailureThrottle {
    pub fn new(pool: PgPool, scope: &'static str, limit: u32, window: Duration) -> Self {
        Self { pool, scope, limit, window }
    }

    fn key_hash(key: &str) -> String {
        hex::encode(Sha256::digest(key.as_bytes()))
    }

    /// Starts an attempt for `key`: refuses with `RateLimited` when the window already holds
    /// `limit` failures, and otherwise records this attempt as a failure until [`Self::clear`]
    /// says it succeeded. Counting and recording happen under a per-key advisory lock, so
    /// parallel guesses cannot all slip past the count before any of them is recorded.
    pub async fn begin(&self, key: &str) -> Result<(), AuthError> {
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
    pub async fn clear(&self, key: &str) -> Result<(), AuthError> {
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
