//! The `projections` subcommands: status, rebuilding one of the features' projections, and the
//! events a projection could not apply (failed, retry, skip).

use crate::config::Config;
use crate::runtime::connect;
use anyhow::{Context, bail};
use loopync_projections::{CheckpointBoard, LogWaker};
use loopync_workers::dead_letters::{self, Resolution};
use loopync_workers::{ProjectionRunner, RunnerConfig, projection_status, rebuild};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// `loopync projections status`.
pub async fn status(config: &Config) -> anyhow::Result<()> {
    let pool = connect(config).await?;
    let statuses = projection_status(&pool).await.context("cannot read projection status")?;
    println!(
        "{:<28} {:>4} {:>24} {:>10} {:>9} {:>7} {:<28} rebuild",
        "projection", "gen", "position", "lag", "lag (s)", "parked", "owner"
    );
    for s in &statuses {
        let rebuild = s.rebuild.map(|(g, p)| format!("g{g} at {p}")).unwrap_or_else(|| "-".to_owned());
        println!(
            "{:<28} {:>4} {:>24} {:>10} {:>9.1} {:>7} {:<28} {}",
            s.name,
            s.active_generation,
            s.position.to_string(),
            s.lag_events,
            s.lag_seconds,
            s.parked_events,
            s.owner.as_deref().unwrap_or("(none)"),
            rebuild
        );
    }
    if statuses.is_empty() {
        println!("(no projection has run yet)");
    }
    let parked = dead_letters::list(&pool).await.context("cannot read the parked events")?;
    if !parked.is_empty() {
        println!(
            "\n{} event(s) could not be applied and are parked: `loopync projections failed`",
            parked.len()
        );
    }
    Ok(())
}

/// `loopync projections failed`: the events projections could not apply, with their errors.
pub async fn failed(config: &Config) -> anyhow::Result<()> {
    let pool = connect(config).await?;
    let parked = dead_letters::list(&pool).await.context("cannot read the parked events")?;
    if parked.is_empty() {
        println!("no parked events");
    }
    for letter in &parked {
        println!(
            "{} g{} position {} ({}, event {}), parked {}:\n  {}",
            letter.projection,
            letter.generation,
            letter.position.global_position,
            letter.event_type,
            letter.event_id,
            letter.parked_at.to_rfc3339(),
            letter.error
        );
    }
    Ok(())
}

/// `loopync projections retry NAME POSITION` (`retry = true`) or `... skip NAME POSITION`.
pub async fn resolve(config: &Config, name: &str, position: i64, retry: bool) -> anyhow::Result<()> {
    let projections = loopync_api::features::projections();
    let Some(projection) = projections.iter().find(|p| p.name() == name).cloned() else {
        let known: Vec<_> = projections.iter().map(|p| p.name()).collect();
        bail!("unknown projection `{name}`; known: {}", known.join(", "));
    };
    let pool = connect(config).await?;
    let resolution = if retry {
        dead_letters::retry(&pool, projection.as_ref(), position).await?
    } else {
        dead_letters::skip(&pool, name, position).await?
    };
    match resolution {
        Resolution::Applied => println!("{name}: position {position} applied"),
        Resolution::Skipped => println!("{name}: position {position} given up (not applied)"),
        Resolution::NotFound => bail!("{name} has no parked event at position {position}"),
    }
    Ok(())
}

/// `loopync projections rebuild NAME`: records the request, then — unless `wait` is off —
/// helps: if no worker owns the projection, this process takes it and does the rebuild; either
/// way it reports progress until readers have been switched to the new generation.
pub async fn rebuild(config: &Config, name: &str, wait: bool) -> anyhow::Result<()> {
    // The features' projections, as their descriptors declare them (the sample wallet's is
    // the core's reference for tests and `bench-core` and never runs here).
    let projections = loopync_api::features::projections();
    let known: Vec<_> = projections.iter().map(|p| p.name()).collect();
    let Some(projection) = projections.iter().find(|p| p.name() == name).cloned() else {
        bail!("unknown projection `{name}`; known: {}", known.join(", "));
    };
    let pool = connect(config).await?;
    let Some(generation) = rebuild::request(&pool, name).await.context("cannot request the rebuild")? else {
        println!("{name} has never run; its first run builds it from the start of the log");
        return Ok(());
    };
    println!("rebuilding {name} into generation {generation}");
    if !wait {
        return Ok(());
    }
    let shutdown = CancellationToken::new();
    let runner = ProjectionRunner::new(
        pool.clone(),
        vec![projection],
        LogWaker::new(pool.clone(), None),
        CheckpointBoard::new(pool.clone()),
        None,
        RunnerConfig { worker_id: format!("rebuild-{}", std::process::id()), ..RunnerConfig::default() },
    );
    let helper = tokio::spawn(runner.run(shutdown.child_token()));
    let started = Instant::now();
    let result = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let statuses = match projection_status(&pool).await {
            Ok(statuses) => statuses,
            Err(error) => break Err(anyhow::Error::new(error).context("cannot read projection status")),
        };
        let Some(status) = statuses.into_iter().find(|s| s.name == name) else { continue };
        match status.rebuild {
            Some((g, position)) if g == generation => {
                println!("  generation {g} at {position}; live generation at {}", status.position);
            }
            _ if status.active_generation == generation => {
                println!("switched to generation {generation} after {:.1}s", started.elapsed().as_secs_f64());
                break Ok(());
            }
            _ => break Err(anyhow::anyhow!("the rebuild was replaced by another request")),
        }
    };
    shutdown.cancel();
    let _ = helper.await;
    result
}
