//! `loopync`: the Loopync backend in one binary.
//!
//! - `serve`: the HTTP API, the WebSocket gateway and every worker in one process (the
//!   single-node default; `LOOPYNC_SERVE_WORKERS=false`: the API only);
//! - `worker`: workers only (projections, housekeeping), for scale-out;
//! - `migrate`: applies the event store's migrations;
//! - `projections status` / `rebuild NAME` / `failed` / `retry NAME POS` / `skip NAME POS`:
//!   operate the projection runtime;
//! - `audit ledger`: prove the LoopPay ledger from the event store, export or verify its chain
//!   heads (exit 0 clean, 1 mismatch, 2 could not audit);
//! - `admin set-role --email ... --role ...`: an operator's role change (the first founder).

mod allocator;

mod admin;
mod config;
mod projections;
mod runtime;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::{Config, LogFormat};
use loopync_workers::looppay::audit;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "loopync", version, about = "Loopync backend: event-sourced social superapp")]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API and run every worker in this process.
    Serve,
    /// Run the workers only (projections and housekeeping), for scale-out.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Inspect or rebuild projections.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Audit the event store.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Operator commands on accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Give an account a role, with a founder's authority (how a deployment gets its first
    /// founder).
    SetRole {
        /// The email address the account was registered with.
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: admin::RoleArg,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Replay every wallet and payment stream: hash chains, double entry, conservation of
    /// money, payments, read models. Exits 0 when clean, 1 on any mismatch, 2 on errors.
    Ledger {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Wait up to this many seconds for the looppay_ledger projection to reach the end of
        /// the log before comparing its read models (0: compare at its current position).
        #[arg(long, value_name = "SECS", default_value_t = 0)]
        wait_for_projection: u64,
        /// Do not compare read models (an event store restored without projections).
        #[arg(long)]
        skip_read_models: bool,
        /// Mismatches listed in the report; all are counted.
        #[arg(long, default_value_t = 1000)]
        max_mismatches: usize,
        /// Write each wallet's chain head (stream, version, hash, position) to FILE as JSON, with
        /// the log position they were taken at, if the ledger audits clean. Keep the file where
        /// the database's writers cannot reach it.
        #[arg(long, value_name = "FILE")]
        export_heads: Option<PathBuf>,
        /// Check that every head in FILE (from `--export-heads`) is still in its wallet's chain
        /// with the same hash; a missing or changed one is a mismatch naming the wallet.
        #[arg(long, value_name = "FILE")]
        verify_heads: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ProjectionsCommand {
    /// Position, lag and owner of every projection.
    Status,
    /// The events a projection could not apply (parked), with their errors.
    Failed,
    /// Apply a parked event again (after a fix) and un-park it.
    Retry {
        /// The projection's name.
        name: String,
        /// The event's global position (see `projections failed`).
        position: i64,
    },
    /// Give up a parked event: it stays unapplied.
    Skip { name: String, position: i64 },
    /// Rebuild a projection from the start of the log into fresh tables, then switch readers
    /// over without downtime.
    Rebuild {
        /// The projection's name (see `projections status`).
        name: String,
        /// Only record the request; the projection's owner does the work.
        #[arg(long)]
        no_wait: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    allocator::configure();
    let cli = Cli::parse();
    init_tracing(cli.config.log_format);
    match cli.command {
        Command::Serve => runtime::serve(&cli.config).await,
        Command::Worker => runtime::worker(&cli.config).await,
        Command::Migrate => {
            let pool = runtime::connect(&cli.config).await?;
            loopync_schemas::MIGRATOR.run(&pool).await.context("migrations failed")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Projections { command: ProjectionsCommand::Status } => {
            projections::status(&cli.config).await
        }
        Command::Projections { command: ProjectionsCommand::Failed } => {
            projections::failed(&cli.config).await
        }
        Command::Projections { command: ProjectionsCommand::Retry { name, position } } => {
            projections::resolve(&cli.config, &name, position, true).await
        }
        Command::Projections { command: ProjectionsCommand::Skip { name, position } } => {
            projections::resolve(&cli.config, &name, position, false).await
        }
        Command::Projections { command: ProjectionsCommand::Rebuild { name, no_wait } } => {
            projections::rebuild(&cli.config, &name, !no_wait).await
        }
        Command::Admin { command: AdminCommand::SetRole { email, role } } => {
            admin::set_role(&cli.config, &email, role).await
        }
        Command::Audit {
            command:
                AuditCommand::Ledger {
                    json,
                    wait_for_projection,
                    skip_read_models,
                    max_mismatches,
                    export_heads,
                    verify_heads,
                },
        } => {
            let verify_heads = match verify_heads.as_deref().map(audit::ChainHeads::read).transpose() {
                Ok(heads) => heads.map(Arc::new),
                Err(error) => {
                    eprintln!("error: the ledger could not be audited: {error}");
                    std::process::exit(2)
                }
            };
            let options = audit::AuditOptions {
                wait_for_projection: (wait_for_projection > 0)
                    .then(|| Duration::from_secs(wait_for_projection)),
                compare_read_models: !skip_read_models,
                max_mismatches,
                export_heads: export_heads.is_some(),
                verify_heads,
            };
            std::process::exit(audit_ledger(&cli.config, &options, json, export_heads.as_deref()).await)
        }
    }
}

/// `loopync audit ledger`: writes the chain heads if asked (and clean), prints the report and
/// returns the exit code.
async fn audit_ledger(
    config: &Config,
    options: &audit::AuditOptions,
    json: bool,
    export_heads: Option<&Path>,
) -> i32 {
    let audited = match runtime::connect(config).await {
        Ok(pool) => audit::audit_ledger(&pool, options).await.map_err(anyhow::Error::from),
        Err(error) => Err(error),
    };
    let mut report = match audited {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: the ledger could not be audited: {error:#}");
            return 2;
        }
    };
    if let (Some(path), Some(heads)) = (export_heads, &report.heads) {
        if let Err(error) = heads.write(path) {
            eprintln!("error: {error}");
            return 2;
        }
        report.heads_exported = Some(heads.heads.len() as u64);
    }
    use std::io::Write;
    let text = if json { report.to_json().map(|text| text + "\n") } else { Ok(report.to_string()) };
    let mut stdout = std::io::stdout().lock();
    match text.map(|text| stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush())) {
        Ok(Ok(())) => report.exit_code(),
        Ok(Err(error)) => {
            eprintln!("error: cannot print the report: {error}");
            2
        }
        Err(error) => {
            eprintln!("error: cannot print the report: {error}");
            2
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}
