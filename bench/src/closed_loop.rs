//! Closed-loop load over HTTP or in process, as `bench-auth` and `bench-social` drive it: C
//! tasks each running an operation back to back, a warm-up, then a measured window; a row of
//! throughput, p50, p99 and errors, printed as a markdown table line next to a baseline.

use anyhow::Result;
use hdrhistogram::Histogram;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one row measured.
pub struct Row {
    pub name: String,
    pub per_second: f64,
    pub p50_micros: u64,
    pub p99_micros: u64,
    pub errors: u64,
}

/// Runs `op(client, i)` back to back on `clients` tasks (`i` counts each task's calls from 1):
/// a warm-up, then the measured window. Prints the row, and each task's first error, as it
/// goes.
pub async fn closed_loop<F, Fut>(
    clients: usize,
    warmup: Duration,
    duration: Duration,
    name: &str,
    op: F,
) -> Result<Row>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    let op = Arc::new(op);
    let measure_from = Instant::now() + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
            let (mut ok, mut errors, mut last_end, mut i) = (0u64, 0u64, measure_from, 0u64);
            let mut first_error = None;
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                i += 1;
                let outcome = op(client, i).await;
                let finished = Instant::now();
                if started < measure_from {
                    continue;
                }
                last_end = last_end.max(finished);
                match outcome {
                    Ok(()) => {
                        ok += 1;
                        latency.saturating_record(finished.duration_since(started).as_micros() as u64);
                    }
                    Err(error) => {
                        errors += 1;
                        first_error.get_or_insert(error.to_string());
                    }
                }
            }
            anyhow::Ok((latency, ok, errors, last_end, first_error))
        }));
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let (mut ok, mut errors, mut last_end) = (0, 0, measure_from);
    for task in tasks {
        let (histogram, client_ok, client_errors, client_end, first_error) = task.await??;
        latency.add(histogram)?;
        ok += client_ok;
        errors += client_errors;
        last_end = last_end.max(client_end);
        if let Some(error) = first_error {
            eprintln!("{name}: first error: {error}");
        }
    }
    let elapsed = last_end.duration_since(measure_from).as_secs_f64().max(1e-9);
    let row = Row {
        name: name.to_owned(),
        per_second: ok as f64 / elapsed,
        p50_micros: latency.value_at_quantile(0.5),
        p99_micros: latency.value_at_quantile(0.99),
        errors,
    };
    eprintln!("{}", line(&row, None));
    Ok(row)
}

/// The header of a table of [`line`]s.
pub const HEADER: &str = "| row                                                  |     per s |  p50 ms |  p99 ms | errors |  ratio |\n\
                          |------------------------------------------------------|----------:|--------:|--------:|-------:|-------:|";

/// The row as a markdown table line, with its throughput's ratio to `baseline`'s.
pub fn line(row: &Row, baseline: Option<&Row>) -> String {
    let ratio = baseline.map_or_else(|| "—".to_owned(), |b| format!("{:.2}", row.per_second / b.per_second));
    format!(
        "| {:<52} | {:>9.1} | {:>8.2} | {:>8.2} | {:>6} | {:>6} |",
        row.name,
        row.per_second,
        row.p50_micros as f64 / 1000.0,
        row.p99_micros as f64 / 1000.0,
        row.errors,
        ratio
    )
}
