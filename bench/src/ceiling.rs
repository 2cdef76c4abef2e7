//! The ceiling: raw durable one-row inserts, driven by `pgbench`.
//!
//! Each transaction inserts one row shaped like a small event (a bigserial id, a stream name,
//! a jsonb payload the size of a top-up's, a `now()` timestamp) and commits; nothing is read,
//! validated or checked. `pgbench` runs it with prepared statements (`-M prepared`) from C
//! connections, so this is about as many durable commits per second as the server gives one
//! statement per commit at that concurrency. Latencies come from pgbench's per-transaction log
//! (`-l`), so p50/p99/max are computed exactly like ours.

use crate::cpu::{CpuSnapshot, CpuUsage};
use hdrhistogram::Histogram;
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

/// The ceiling's table, in the run's scratch database.
pub const CEILING_TABLE_SQL: &str = "CREATE TABLE ceiling_events (
    id bigserial PRIMARY KEY,
    stream_name text NOT NULL,
    payload jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
)";

/// The pgbench script: one insert per transaction (autocommit).
pub fn script(aggregates: usize) -> String {
    format!(
        "\\set aggregate random(1, {aggregates})\n\
         \\set amount random(1, 100)\n\
         INSERT INTO ceiling_events (stream_name, payload) VALUES ('sample_wallet-ceiling-' || :aggregate::bigint, \
         jsonb_build_object('amount', jsonb_build_object('minor', :amount::bigint, 'currency', 'LOOP'), \
         'balanceAfter', :amount::bigint));\n"
    )
}

#[derive(Debug, thiserror::Error)]
pub enum PgbenchError {
    #[error("pgbench I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "`{program}` cannot be started (is PostgreSQL's client installed? --skip-pgbench skips the ceiling): {source}"
    )]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("pgbench failed ({status}): {stderr}")]
    Failed { status: std::process::ExitStatus, stderr: String },
    #[error("pgbench's output has no `{0}` line:\n{1}")]
    Unparsed(&'static str, String),
    #[error("cannot build a latency histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
}

/// One measured pgbench run.
#[derive(Debug, Clone)]
pub struct CeilingRun {
    /// pgbench's own `tps` (excluding connection time).
    pub tps: f64,
    /// Transactions processed, per pgbench.
    pub transactions: u64,
    /// Failed transactions, per pgbench.
    pub failed: u64,
    /// Per-transaction latency in microseconds, from the transaction log.
    pub latency: Histogram<u64>,
    /// CPU used while pgbench ran (its own is this process's reaped children's).
    pub cpu: Option<CpuUsage>,
}

/// Runs `pgbench` against one database.
#[derive(Debug)]
pub struct Pgbench {
    program: PathBuf,
    database_url: String,
    dir: tempfile::TempDir,
    script: PathBuf,
    pgoptions: String,
}

/// Creates the ceiling table.
pub async fn create_table(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query(CEILING_TABLE_SQL).execute(pool).await.map(|_| ())
}

impl Pgbench {
    /// Writes the script to a temporary directory. pgbench reaches the database, which must
    /// have the ceiling table ([`create_table`]), at `database_url`; `settings` are passed to
    /// its sessions through `PGOPTIONS`.
    pub async fn prepare(
        program: impl Into<PathBuf>,
        database_url: &str,
        aggregates: usize,
        settings: &[(String, String)],
    ) -> Result<Self, PgbenchError> {
        let dir = tempfile::Builder::new().prefix("loopync-bench-").tempdir()?;
        let script_path = dir.path().join("ceiling.sql");
        tokio::fs::write(&script_path, script(aggregates)).await?;
        let pgoptions =
            settings.iter().map(|(name, value)| format!("-c {name}={value}")).collect::<Vec<_>>().join(" ");
        Ok(Self {
            program: program.into(),
            database_url: database_url.to_owned(),
            dir,
            script: script_path,
            pgoptions,
        })
    }

    /// pgbench's version line, to check it is there before the run starts.
    pub async fn version(&self) -> Result<String, PgbenchError> {
        let output =
            self.command().arg("--version").output().await.map_err(|source| PgbenchError::Spawn {
                program: self.program.display().to_string(),
                source,
            })?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.kill_on_drop(true);
        if !self.pgoptions.is_empty() {
            command.env("PGOPTIONS", &self.pgoptions);
        }
        command
    }

    /// Runs the script with `clients` connections for `duration`; with `log`, collects the
    /// per-transaction latencies.
    pub async fn run(
        &self,
        clients: usize,
        duration: Duration,
        log: bool,
    ) -> Result<CeilingRun, PgbenchError> {
        let log_dir = self.dir.path().join(format!("log-c{clients}-{}", duration.as_secs()));
        tokio::fs::create_dir_all(&log_dir).await?;
        let threads = clients.clamp(1, 2);
        let mut command = self.command();
        command
            .arg("-n")
            .arg("-M")
            .arg("prepared")
            .arg("-f")
            .arg(&self.script)
            .arg("-T")
            .arg(duration.as_secs().max(1).to_string())
            .arg("-c")
            .arg(clients.to_string())
            .arg("-j")
            .arg(threads.to_string());
        if log {
            command.arg("-l").arg(format!("--log-prefix={}", log_dir.join("tx").display()));
        }
        command.arg(&self.database_url);
        let cpu_before = CpuSnapshot::take();
        let output = command
            .output()
            .await
            .map_err(|source| PgbenchError::Spawn { program: self.program.display().to_string(), source })?;
        let cpu = cpu_before.zip(CpuSnapshot::take()).map(|(before, after)| after.since(&before));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            return Err(PgbenchError::Failed { status: output.status, stderr: format!("{stderr}{stdout}") });
        }
        let summary = Summary::parse(&stdout)?;
        let mut latency = Histogram::new_with_bounds(1, 600_000_000, 3)?;
        if log {
            read_transaction_logs(&log_dir, &mut latency).await?;
        }
        Ok(CeilingRun {
            tps: summary.tps,
            transactions: summary.transactions,
            failed: summary.failed,
            latency,
            cpu,
        })
    }
}

/// The lines of pgbench's summary the benchmark uses.
#[derive(Debug, Clone, PartialEq)]
struct Summary {
    tps: f64,
    transactions: u64,
    failed: u64,
}

impl Summary {
    fn parse(stdout: &str) -> Result<Self, PgbenchError> {
        let value = |prefix: &'static str| {
            stdout
                .lines()
                .find_map(|line| line.trim().strip_prefix(prefix))
                .and_then(|rest| rest.split_whitespace().next())
                .ok_or_else(|| PgbenchError::Unparsed(prefix, stdout.to_owned()))
        };
        let number = |prefix: &'static str| {
            value(prefix)
                .and_then(|v| v.parse::<f64>().map_err(|_| PgbenchError::Unparsed(prefix, stdout.to_owned())))
        };
        let tps = number("tps =")?;
        let transactions = number("number of transactions actually processed:")? as u64;
        // Only pgbench 15+ reports failures; older ones abort on an error instead.
        let failed = number("number of failed transactions:").map_or(0, |f| f as u64);
        Ok(Self { tps, transactions, failed })
    }
}

/// Adds the latency column of every per-transaction log file in `dir` to `latency`.
///
/// Each line is `client_id transaction_no latency_us script_no epoch epoch_us`; a failed or
/// skipped transaction has a word instead of the latency and is left out.
async fn read_transaction_logs(dir: &Path, latency: &mut Histogram<u64>) -> Result<(), PgbenchError> {
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let text = tokio::fs::read_to_string(entry.path()).await?;
        for micros in text.lines().filter_map(|line| line.split_whitespace().nth(2)?.parse::<u64>().ok()) {
            latency.saturating_record(micros.max(1));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "transaction type: /tmp/ceiling.sql
scaling factor: 1
query mode: prepared
number of clients: 8
number of threads: 2
maximum number of tries: 1
duration: 15 s
number of transactions actually processed: 61234
number of failed transactions: 0 (0.000%)
latency average = 1.959 ms
initial connection time = 12.345 ms
tps = 4082.266667 (without initial connection time)
";

    #[test]
    fn the_summary_is_parsed() -> Result<(), PgbenchError> {
        let summary = Summary::parse(OUTPUT)?;
        assert_eq!(summary, Summary { tps: 4082.266667, transactions: 61234, failed: 0 });
        assert!(Summary::parse("nothing").is_err());
        Ok(())
    }

    #[test]
    fn the_script_inserts_one_row() {
        let script = script(1000);
        assert!(script.contains("random(1, 1000)"));
        assert_eq!(script.matches("INSERT").count(), 1);
    }
}
