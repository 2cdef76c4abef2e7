//! Fresh databases for one benchmark run.
//!
//! Every run creates its own databases (`loopync_bench_<random>`, and `..._peer` for the
//! cqrs-es peer, whose `events` table would clash with ours) on the server of `DATABASE_URL`,
//! so runs never see each other's data, and drops them at the end.

use rand::Rng;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error("DATABASE_URL is not a postgres:// URL: {0}")]
    InvalidUrl(String),
    #[error("database `{database}`: {source}")]
    Database {
        database: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "pool `{application}` commits with synchronous_commit = `{setting}`: its commits would not wait \
         for the WAL flush, and what it measures would not be comparable"
    )]
    NotDurable { application: String, setting: String },
}

/// The server all scratch databases live on, reached through the database of `DATABASE_URL`.
#[derive(Debug, Clone)]
pub struct Server {
    url: Url,
    admin: PgPool,
}

impl Server {
    pub async fn connect(database_url: &str) -> Result<Self, ScratchError> {
        let url = Url::parse(database_url).map_err(|e| ScratchError::InvalidUrl(e.to_string()))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(ScratchError::InvalidUrl(format!("unexpected scheme `{}`", url.scheme())));
        }
        let options = PgConnectOptions::from_str(database_url)
            .map_err(|e| ScratchError::InvalidUrl(e.to_string()))?
            .application_name("loopync-bench-admin");
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|source| ScratchError::Database { database: database_name(&url), source })?;
        Ok(Self { url, admin })
    }

    /// A connection to the database of `DATABASE_URL` (for server-wide facts).
    pub fn admin(&self) -> &PgPool {
        &self.admin
    }

    /// A random name prefix for this run's databases.
    pub fn run_name() -> String {
        format!("loopync_bench_{:08x}", rand::rng().random::<u32>())
    }

    /// Creates an empty database.
    pub async fn create(&self, name: &str) -> Result<ScratchDatabase, ScratchError> {
        let sql = format!("CREATE DATABASE {}", quote_ident(name));
        sqlx::query(&sql)
            .execute(&self.admin)
            .await
            .map_err(|source| ScratchError::Database { database: name.to_owned(), source })?;
        let mut url = self.url.clone();
        url.set_path(&format!("/{name}"));
        Ok(ScratchDatabase { name: name.to_owned(), url })
    }

    /// Drops a scratch database, disconnecting whoever is still connected to it.
    pub async fn drop_database(&self, database: ScratchDatabase) -> Result<(), ScratchError> {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&database.name));
        sqlx::query(&sql)
            .execute(&self.admin)
            .await
            .map(|_| ())
            .map_err(|source| ScratchError::Database { database: database.name.clone(), source })
    }
}

/// A database created for this run.
#[derive(Debug, Clone)]
pub struct ScratchDatabase {
    name: String,
    url: Url,
}

impl ScratchDatabase {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its URL (for `pgbench`, which takes a libpq connection URI as its database name).
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// A pool of at most `max_connections` on it, named `application` in `pg_stat_activity`.
    pub async fn pool(&self, max_connections: u32, application: &str) -> Result<PgPool, ScratchError> {
        self.pool_with(max_connections, application, &[]).await
    }

    /// [`Self::pool`] with session settings (`SET name = value` on every connection).
    pub async fn pool_with(
        &self,
        max_connections: u32,
        application: &str,
        settings: &[(String, String)],
    ) -> Result<PgPool, ScratchError> {
        let options = PgConnectOptions::from_str(self.url.as_str())
            .map_err(|e| ScratchError::InvalidUrl(e.to_string()))?
            .application_name(application)
            .options(settings.iter().map(|(name, value)| (name.as_str(), value.as_str())));
        PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|source| ScratchError::Database { database: self.name.clone(), source })
    }
}

impl ScratchDatabase {
    /// A pool whose commits are measured: [`Self::pool_with`], refused unless its connections
    /// (with `settings` applied) commit durably. The server's default is checked once; a
    /// `--pg-setting synchronous_commit=off` for the measured pools would slip past that.
    pub async fn measured_pool(
        &self,
        max_connections: u32,
        application: &str,
        settings: &[(String, String)],
    ) -> Result<PgPool, ScratchError> {
        let pool = self.pool_with(max_connections, application, settings).await?;
        let setting: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&pool)
            .await
            .map_err(|source| ScratchError::Database { database: self.name.clone(), source })?;
        if setting == "off" {
            pool.close().await;
            return Err(ScratchError::NotDurable { application: application.to_owned(), setting });
        }
        Ok(pool)
    }
}

fn database_name(url: &Url) -> String {
    url.path().trim_start_matches('/').to_owned()
}

/// Quotes an SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("loopync_bench_1"), "\"loopync_bench_1\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn run_names_are_valid_database_names() {
        let name = Server::run_name();
        assert!(name.starts_with("loopync_bench_") && name.len() < 63);
    }
}
