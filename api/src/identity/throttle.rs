//! Lockouts after repeated failures: at most `limit` failures per key in a sliding `window`,
//! then 429 with `Retry-After` until the oldest failure in the window ages out.
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

    /// Refuses with `RateLimited` when `key` has used up its failures.
    pub async fn check(&self, key: &str) -> Result<(), AuthError> {
        let window_seconds = self.window.as_secs_f64();
        let (failures, retry_after): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), \
                    extract(epoch FROM min(failed_at) + make_interval(secs => $3) - now())::float8 \
             FROM (SELECT failed_at FROM auth_failures \
                   WHERE scope = $1 AND key_hash = $2 AND failed_at > now() - make_interval(secs => $3) \
                   ORDER BY failed_at DESC LIMIT $4) recent",
        )
        .bind(self.scope)
        .bind(Self::key_hash(key))
        .bind(window_seconds)
        .bind(i64::from(self.limit))
        .fetch_one(&self.pool)
        .await?;
        if failures >= i64::from(self.limit) {
            let retry_after = retry_after.unwrap_or(window_seconds).ceil().max(1.0) as u32;
            return Err(AuthError::RateLimited { retry_after });
        }
        Ok(())
    }

    pub async fn record_failure(&self, key: &str) -> Result<(), AuthError> {
        sqlx::query("INSERT INTO auth_failures (scope, key_hash) VALUES ($1, $2)")
            .bind(self.scope)
            .bind(Self::key_hash(key))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// After a success: earlier failures no longer count.
    pub async fn clear(&self, key: &str) -> Result<(), AuthError> {
        sqlx::query("DELETE FROM auth_failures WHERE scope = $1 AND key_hash = $2")
            .bind(self.scope)
            .bind(Self::key_hash(key))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
