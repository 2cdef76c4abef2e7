//! The contract of a projection, and where its tables live.
//!
//! A projection is a named, deterministic fold of events into PostgreSQL tables. Its tables
//! live in a schema of their own per *generation* (`proj_<name>_g<n>`): a rebuild fills a new
//! generation from the start of the log while the active one stays live, then switches the
//! views `read_models.<table>` — what queries and analysts read — over in one transaction.
//! Projection code writes unqualified table names; the runtime sets `search_path` to the
//! generation being written.
//!
//! Generations and views are made as the database role `loopync_workers` (when the session
//! may act as it), which therefore owns them: any worker login can replace what another made,
//! and each view is granted to the roles that read it as it is made — `read_models` views to
//! the API, analysts and auditors, `private_read_models` views to the API only (see
//! `schemas/migrations/0010_roles.sql`).
//!
//! The statements here are built at runtime (`sqlx::query(&format!(..))`): they name the
//! generation's schema, which the checked `query!` macros cannot.

pub use crate::live::LiveUpdate;
use async_trait::async_trait;
use loopync_schemas::{DecodeError, RecordedEvent};
use sqlx::PgConnection;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("read model write failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("live update not encoded: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("{0}")]
    Failed(String),
}

#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Stable name: lowercase letters, digits and `_`.
    fn name(&self) -> &'static str;

    /// DDL that creates the projection's tables and indexes, with unqualified names. Runs in
    /// a fresh schema for every generation.
    fn schema_sql(&self) -> &'static str;

    /// The tables exposed as views `read_models.<table>`: what analysts may read.
    fn tables(&self) -> &'static [&'static str];

    /// The tables exposed as views `private_read_models.<table>` instead: personal data (email
    /// addresses, phone numbers, IP addresses) that the API reads for its owner and that the
    /// analysts' database role cannot (it reads `read_models` only).
    fn private_tables(&self) -> &'static [&'static str] {
        &[]
    }

    /// Applies a batch of events (in log order) inside the runtime's transaction, which also
    /// advances the checkpoint. Must be deterministic: a rebuild from zero has to produce the
    /// same tables. Events the projection does not handle are skipped. Returns the batch's
    /// updates for users' devices, which the runtime stores in the same transaction and
    /// publishes after it commits.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<Vec<LiveUpdate>, ProjectionError>;
}

/// Whether `name` can be a projection name (it becomes part of a schema name).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The schema holding `generation` of the projection `name`.
pub fn generation_schema(name: &str, generation: i32) -> String {
    format!("proj_{name}_g{generation}")
}

/// Points `search_path` at a generation's schema for the rest of the transaction.
pub async fn use_generation(conn: &mut PgConnection, name: &str, generation: i32) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("SET LOCAL search_path = {}, public", generation_schema(name, generation)))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The role that owns the read models (`0010_roles.sql`).
pub const WORKERS_ROLE: &str = "loopync_workers";
/// The roles that read the views in [`VIEWS`].
pub const VIEW_READERS: &str = "loopync_app, loopync_analysts, loopync_auditors";
/// The roles that read the views in [`PRIVATE_VIEWS`]: the API only.
pub const PRIVATE_VIEW_READERS: &str = "loopync_app";

/// Makes the rest of the transaction run as [`WORKERS_ROLE`] when this session may, so that
/// what it creates belongs to that role rather than to the login that happened to create it:
/// PostgreSQL lets only an object's owner (or a member of the owning role) drop or replace it,
/// and a takeover or a rebuild by another worker login must replace the views and drop the old
/// generation. A login outside the role (a single-user development database) creates as itself.
/// Call inside a transaction, before the DDL.
pub async fn act_as_workers(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let member: bool = sqlx::query_scalar(
        "SELECT coalesce((SELECT pg_has_role(oid, 'MEMBER') FROM pg_roles WHERE rolname = $1), false)",
    )
    .bind(WORKERS_ROLE)
    .fetch_one(&mut *conn)
    .await?;
    if member {
        sqlx::query(&format!("SET LOCAL ROLE {WORKERS_ROLE}")).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Creates a generation's schema and tables (idempotent), owned by [`WORKERS_ROLE`]. Call
/// inside a transaction; the rest of it runs as that role.
pub async fn create_generation(
    conn: &mut PgConnection,
    projection: &dyn Projection,
    generation: i32,
) -> Result<(), sqlx::Error> {
    act_as_workers(conn).await?;
    let schema = generation_schema(projection.name(), generation);
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).execute(&mut *conn).await?;
    use_generation(conn, projection.name(), generation).await?;
    // A plain string runs through the simple query protocol, which accepts several statements.
    sqlx::Executor::execute(&mut *conn, projection.schema_sql()).await?;
    Ok(())
}

/// Drops a generation's tables. Call inside a transaction; the rest of it runs as
/// [`WORKERS_ROLE`].
pub async fn drop_generation(
    conn: &mut PgConnection,
    name: &str,
    generation: i32,
) -> Result<(), sqlx::Error> {
    act_as_workers(conn).await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {} CASCADE", generation_schema(name, generation)))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The schema of the views over the tables analysts may read.
pub const VIEWS: &str = "read_models";
/// The schema of the views over personal data ([`Projection::private_tables`]).
pub const PRIVATE_VIEWS: &str = "private_read_models";

/// Every view of `projection`, as `(schema, table)`.
pub fn views(projection: &dyn Projection) -> impl Iterator<Item = (&'static str, &'static str)> {
    let public = projection.tables().iter().map(|table| (VIEWS, *table));
    public.chain(projection.private_tables().iter().map(|table| (PRIVATE_VIEWS, *table)))
}

/// Points the views `read_models.<table>` (and `private_read_models.<table>`) at a generation
/// and grants them to their readers. Call inside a transaction (the rest of it runs as
/// [`WORKERS_ROLE`]): readers then see the old generation or the new one, never a mixture or
/// nothing.
pub async fn point_views(
    conn: &mut PgConnection,
    projection: &dyn Projection,
    generation: i32,
) -> Result<(), sqlx::Error> {
    act_as_workers(conn).await?;
    let schema = generation_schema(projection.name(), generation);
    for (views, table) in views(projection) {
        // DROP + CREATE, not CREATE OR REPLACE: a rebuilt generation may have other columns.
        sqlx::query(&format!("DROP VIEW IF EXISTS {views}.{table}")).execute(&mut *conn).await?;
        sqlx::query(&format!("CREATE VIEW {views}.{table} AS SELECT * FROM {schema}.{table}"))
            .execute(&mut *conn)
            .await?;
        // A new view has no grants: readers need SELECT on it (not on the generation's tables,
        // which a view reads with its owner's rights).
        let readers = if views == PRIVATE_VIEWS { PRIVATE_VIEW_READERS } else { VIEW_READERS };
        sqlx::query(&format!("GRANT SELECT ON {views}.{table} TO {readers}")).execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_names_fit_in_a_schema_name() {
        assert!(is_valid_name("sample_wallet_balances"));
        assert!(!is_valid_name("Sample"));
        assert!(!is_valid_name("a;drop"));
        assert!(!is_valid_name(""));
        assert_eq!(generation_schema("feed", 3), "proj_feed_g3");
    }
}
