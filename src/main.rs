//! `loopync`: the Loopync backend in one binary.
//!
//! - `serve`: the HTTP API, the WebSocket gateway and every worker in one process (the
//!   single-node default);
//! - `worker`: workers only (projections, housekeeping), for scale-out;
//! - `migrate`: applies the event store's migrations;
//! - `projections status` / `projections rebuild NAME`: operate the projection runtime.

mod config;
mod projections;
mod runtime;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::{Config, LogFormat};

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
}

#[derive(Debug, Subcommand)]
enum ProjectionsCommand {
    /// Position, lag and owner of every projection.
    Status,
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
        Command::Projections { command: ProjectionsCommand::Rebuild { name, no_wait } } => {
            projections::rebuild(&cli.config, &name, !no_wait).await
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
