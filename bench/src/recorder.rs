//! What the pipeline says about itself, through its `metrics`.
//!
//! The benchmark installs [`BenchRecorder`] as the process's `metrics` recorder. It keeps only
//! what the report needs and discards every other metric:
//!
//! - `loopync_append_conflicts_total` (all label sets together): appends refused because a
//!   stream moved on, after which the pipeline reloads and decides again — the conflict retries;
//! - `loopync_group_commit_batch_size`: how many appends each group commit carried.
//!
//! Looking a metric up costs the pipeline about what a real recorder's lookup would.

use metrics::{Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counter the pipeline increments on each conflicting append.
pub const CONFLICTS_METRIC: &str = "loopync_append_conflicts_total";
/// The histogram the group-commit writer records each batch's size in.
pub const BATCH_SIZE_METRIC: &str = "loopync_group_commit_batch_size";

#[derive(Debug, Default)]
struct Totals {
    conflicts: Arc<AtomicU64>,
    batches: AtomicU64,
    batched_appends: AtomicU64,
}

impl HistogramFn for Totals {
    fn record(&self, value: f64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        // Batch sizes are small whole numbers.
        self.batched_appends.fetch_add(value.max(0.0).round() as u64, Ordering::Relaxed);
    }
}

/// A `metrics` recorder that only keeps the two metrics above.
#[derive(Debug, Clone, Default)]
pub struct BenchRecorder {
    totals: Arc<Totals>,
}

/// Running totals of the pipeline's metrics; take two and subtract to measure a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineTotals {
    pub conflicts: u64,
    pub batches: u64,
    pub batched_appends: u64,
}

impl PipelineTotals {
    pub fn since(self, earlier: Self) -> Self {
        Self {
            conflicts: self.conflicts.saturating_sub(earlier.conflicts),
            batches: self.batches.saturating_sub(earlier.batches),
            batched_appends: self.batched_appends.saturating_sub(earlier.batched_appends),
        }
    }

    /// Mean appends per group commit, if there was any.
    pub fn mean_batch(&self) -> Option<f64> {
        (self.batches > 0).then(|| self.batched_appends as f64 / self.batches as f64)
    }
}

/// A handle on the totals kept by a [`BenchRecorder`].
#[derive(Debug, Clone)]
pub struct PipelineMetrics(Arc<Totals>);

impl PipelineMetrics {
    pub fn totals(&self) -> PipelineTotals {
        PipelineTotals {
            conflicts: self.0.conflicts.load(Ordering::Relaxed),
            batches: self.0.batches.load(Ordering::Relaxed),
            batched_appends: self.0.batched_appends.load(Ordering::Relaxed),
        }
    }
}

/// `metrics::set_global_recorder` failed: a recorder was already installed.
#[derive(Debug, thiserror::Error)]
#[error("a metrics recorder is already installed in this process")]
pub struct AlreadyInstalled;

impl BenchRecorder {
    /// Installs a recorder as the process-wide one and returns a handle on its totals.
    pub fn install() -> Result<PipelineMetrics, AlreadyInstalled> {
        let recorder = Self::default();
        let metrics = recorder.metrics();
        metrics::set_global_recorder(recorder).map_err(|_| AlreadyInstalled)?;
        Ok(metrics)
    }

    pub fn metrics(&self) -> PipelineMetrics {
        PipelineMetrics(self.totals.clone())
    }
}

impl Recorder for BenchRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        if key.name() == CONFLICTS_METRIC {
            Counter::from_arc(self.totals.conflicts.clone())
        } else {
            Counter::noop()
        }
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        if key.name() == BATCH_SIZE_METRIC {
            Histogram::from_arc(self.totals.clone())
        } else {
            Histogram::noop()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_conflicts_and_batch_sizes_are_kept() {
        let recorder = BenchRecorder::default();
        let metrics = recorder.metrics();
        let before = metrics.totals();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!(CONFLICTS_METRIC, "kind" => "a").increment(2);
            metrics::counter!(CONFLICTS_METRIC, "kind" => "b").increment(1);
            metrics::counter!("loopync_events_appended_total").increment(5);
            metrics::histogram!(BATCH_SIZE_METRIC).record(3.0);
            metrics::histogram!(BATCH_SIZE_METRIC).record(5.0);
            metrics::histogram!("loopync_command_duration_seconds").record(0.5);
        });
        let window = metrics.totals().since(before);
        assert_eq!(window, PipelineTotals { conflicts: 3, batches: 2, batched_appends: 8 });
        assert_eq!(window.mean_batch(), Some(4.0));
    }
}
