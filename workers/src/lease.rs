//! Ownership of projections: session-level advisory locks held by one connection per worker.
//!
//! When a worker process dies, PostgreSQL ends its session and releases its locks; another
//! worker's next attempt (every second by default) takes the projection over. The lock is for
//! efficiency, not for correctness: every batch also re-checks the checkpoint row under
//! `FOR UPDATE` (see `runner`), so even two owners at once could not apply a batch twice.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

/// The advisory lock key of a projection, computed by PostgreSQL so every process agrees.
pub const LOCK_KEY_SQL: &str = "hashtextextended('loopync.projection.' || $1, 0)";

/// A worker's lease connection.
pub struct Lease {
    connection: PgConnection,
}

impl Lease {
    /// Opens the lease connection, named after the worker so `projections status` can show
    /// owners.
    pub async fn connect(options: &PgConnectOptions, worker_id: &str) -> Result<Self, sqlx::Error> {
        let connection = options
            .clone()
            .application_name(&format!("loopync-worker:{worker_id}"))
            // A worker whose process dies closes its socket and loses its locks at once. One
            // whose *host* vanishes sends nothing more: these server-side keepalives make
            // PostgreSQL notice within ~11 s (instead of the OS default of two hours), end the
            // session and hand its projections to the other workers.
            .options([
                ("tcp_keepalives_idle", "5"),
                ("tcp_keepalives_interval", "2"),
                ("tcp_keepalives_count", "3"),
            ])
            .connect()
            .await?;
        Ok(Self { connection })
    }

    /// Takes ownership of `projection` if nobody holds it.
    pub async fn try_acquire(&mut self, projection: &str) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(&format!("SELECT pg_try_advisory_lock({LOCK_KEY_SQL})"))
            .bind(projection)
            .fetch_one(&mut self.connection)
            .await
    }

    /// Gives ownership of `projection` back.
    pub async fn release(&mut self, projection: &str) -> Result<(), sqlx::Error> {
        sqlx::query(&format!("SELECT pg_advisory_unlock({LOCK_KEY_SQL})"))
            .bind(projection)
            .execute(&mut self.connection)
            .await?;
        Ok(())
    }

    /// Checks the session (and with it every lock) is still there.
    pub async fn ping(&mut self) -> Result<(), sqlx::Error> {
        self.connection.ping().await
    }

    /// Ends the session, releasing every lock at once.
    pub async fn close(self) {
        let _ = self.connection.close().await;
    }
}
