//! The closed-loop load driver shared by the Rust variants.
//!
//! C clients (tokio tasks) each send one command at a time, back to back, for the warm-up and
//! then the measured window. A command counts when it *starts* inside the measured window; its
//! latency is taken from just before the call to just after the answer, conflict retries
//! included. Throughput is the number of counted commands over the time from the start of the
//! window to the end of the last counted command.

use crate::cpu::{CpuSnapshot, CpuUsage};
use crate::recorder::PipelineTotals;
use futures::{StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Something that executes top-ups: one of the benchmarked variants.
pub trait Target: Send + Sync + 'static {
    type Error: fmt::Display + Send;

    /// Tops up the aggregate number `aggregate` (0-based) by `amount`, durably.
    fn top_up(&self, aggregate: usize, amount: i64) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Conflict retries and group commits so far (running totals).
    fn totals(&self) -> PipelineTotals;
}

/// How long and how hard to drive a target.
#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    pub clients: usize,
    pub aggregates: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes, 3 significant digits.
const MAX_LATENCY_MICROS: u64 = 600_000_000;

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("cannot create a latency histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
    #[error("cannot merge latency histograms: {0}")]
    Merge(#[from] hdrhistogram::AdditionError),
    #[error("a benchmark client panicked or was cancelled: {0}")]
    Client(#[from] tokio::task::JoinError),
    #[error("preloading aggregate {aggregate} failed: {message}")]
    Preload { aggregate: usize, message: String },
}

/// What one measured window produced.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Commands that started in the window and succeeded.
    pub commands: u64,
    /// Commands that started in the window and failed.
    pub errors: u64,
    /// The first failure, to show what went wrong.
    pub first_error: Option<String>,
    /// Conflict retries and group commits during the window.
    pub pipeline: PipelineTotals,
    /// CPU used during the window, where `/proc` tells.
    pub cpu: Option<CpuUsage>,
    /// From the start of the window to the end of its last command.
    pub elapsed: Duration,
    /// Latency of the successful commands, in microseconds.
    pub latency: Histogram<u64>,
}

impl Measurement {
    pub fn per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.commands as f64 / secs } else { 0.0 }
    }
}

fn latency_histogram() -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3)
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Tops up every aggregate once, `concurrency` at a time, so that the measured commands load
/// real state rather than empty streams.
pub async fn preload<T: Target>(
    target: &T,
    aggregates: usize,
    concurrency: usize,
) -> Result<(), DriverError> {
    futures::stream::iter(0..aggregates)
        .map(|aggregate| async move {
            target
                .top_up(aggregate, 1)
                .await
                .map_err(|e| DriverError::Preload { aggregate, message: e.to_string() })
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<()>()
        .await
}

struct ClientResult {
    commands: u64,
    errors: u64,
    first_error: Option<String>,
    latency: Histogram<u64>,
    last_end: Instant,
}

/// Drives `target` with `plan.clients` clients: warm-up, then the measured window.
pub async fn run<T: Target>(target: Arc<T>, plan: LoadPlan) -> Result<Measurement, DriverError> {
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let end = measure_from + plan.duration;
    let aggregates = plan.aggregates.max(1);

    let mut clients = Vec::with_capacity(plan.clients);
    for _ in 0..plan.clients {
        let target = target.clone();
        let latency = latency_histogram()?;
        let mut rng = StdRng::from_rng(&mut rand::rng());
        clients.push(tokio::spawn(async move {
            let mut result =
                ClientResult { commands: 0, errors: 0, first_error: None, latency, last_end: measure_from };
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                let aggregate = rng.random_range(0..aggregates);
                let amount = rng.random_range(1..=100);
                let outcome = target.top_up(aggregate, amount).await;
                let finished = Instant::now();
                if started < measure_from {
                    continue;
                }
                result.last_end = result.last_end.max(finished);
                match outcome {
                    Ok(()) => {
                        result.commands += 1;
                        result.latency.saturating_record(micros(finished - started).max(1));
                    }
                    Err(error) => {
                        result.errors += 1;
                        if result.first_error.is_none() {
                            result.first_error = Some(error.to_string());
                        }
                    }
                }
            }
            result
        }));
    }

    tokio::time::sleep_until(measure_from).await;
    let totals_before = target.totals();
    let cpu_before = CpuSnapshot::take();
    let mut measurement = Measurement {
        commands: 0,
        errors: 0,
        first_error: None,
        pipeline: PipelineTotals::default(),
        cpu: None,
        elapsed: Duration::ZERO,
        latency: latency_histogram()?,
    };
    let mut last_end = measure_from;
    for client in clients {
        let result = client.await?;
        measurement.commands += result.commands;
        measurement.errors += result.errors;
        if measurement.first_error.is_none() {
            measurement.first_error = result.first_error;
        }
        measurement.latency.add(&result.latency)?;
        last_end = last_end.max(result.last_end);
    }
    measurement.pipeline = target.totals().since(totals_before);
    measurement.cpu = cpu_before.zip(CpuSnapshot::take()).map(|(before, after)| after.since(&before));
    measurement.elapsed = last_end - measure_from;
    Ok(measurement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Sleeper {
        calls: AtomicU64,
    }

    impl Target for Sleeper {
        type Error = String;
        async fn top_up(&self, aggregate: usize, _amount: i64) -> Result<(), String> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(2)).await;
            if aggregate == usize::MAX { Err("unreachable".into()) } else { Ok(()) }
        }
        fn totals(&self) -> PipelineTotals {
            PipelineTotals::default()
        }
    }

    #[tokio::test]
    async fn counts_only_the_measured_window() -> Result<(), DriverError> {
        let target = Arc::new(Sleeper { calls: AtomicU64::new(0) });
        preload(&*target, 10, 4).await?;
        assert_eq!(target.calls.load(Ordering::Relaxed), 10);
        let plan = LoadPlan {
            clients: 4,
            aggregates: 10,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(300),
        };
        let m = run(target.clone(), plan).await?;
        assert_eq!(m.errors, 0);
        assert!(m.commands > 0 && m.commands < target.calls.load(Ordering::Relaxed) - 10);
        assert_eq!(m.latency.len(), m.commands);
        assert!(m.latency.value_at_quantile(0.5) >= 2_000);
        assert!(m.elapsed >= Duration::from_millis(300));
        Ok(())
    }
}
