//! Prometheus metrics: the process-wide recorder and what `/metrics` renders.
//!
//! The `metrics` facade has one global recorder per process, so installing it is idempotent:
//! the first [`install`] wins and every later app (tests build many in one process) shares its
//! handle. Metrics come from everywhere in the process:
//!
//! | metric | from |
//! |---|---|
//! | `loopync_command_duration_seconds{kind,outcome}` (histogram) | `commands` pipeline |
//! | `loopync_events_appended_total`, `loopync_append_conflicts_total{kind}` | `commands` |
//! | `loopync_group_commit_batch_size` (histogram) | `commands` group commit |
//! | `loopync_projection_lag_events{projection}`, `loopync_projection_lag_seconds{projection}` | `workers` |
//! | `loopync_projection_parked_events{projection}` (events waiting for `loopync projections retry`/`skip`), `loopync_projection_dead_letters_total{projection}` | `workers` |
//! | `loopync_live_updates_republished_total{projection}` (live updates published after a takeover or a NATS outage) | `workers` runner |
//! | `loopync_event_log_held_back_events`, `loopync_event_log_oldest_transaction_seconds` | `workers` |
//! | `loopync_http_requests_total{method,route,status}` | [`crate::telemetry`] |
//! | `loopync_http_request_duration_seconds{method,route}` (histogram) | [`crate::telemetry`] |
//! | `loopync_read_your_writes_sessions`, `loopync_read_your_writes_evicted_total` | [`crate::consistency::sessions`] |
//! | `loopync_ws_dropped_total{kind}`, `loopync_ws_sockets_refused_total{cap}`, `loopync_ws_target_limited_total{type}` | [`crate::realtime`] |

use metrics::Unit;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Bucket bounds of every `*_seconds` histogram: from half a millisecond (a cached command
/// with group commit) to five seconds (something is badly wrong), so both the single-digit-ms
/// p99 target and outages are visible.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Bucket bounds of group-commit batch sizes (events per PostgreSQL transaction).
const BATCH_SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// How often histogram samples are folded into buckets. The recorder keeps raw samples until
/// then, so without upkeep an unscraped process would grow without bound.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's global recorder, once, and returns its
/// handle. `None` when another recorder was installed first (by an embedding program): the
/// app then serves `/metrics` as a 500 problem rather than an empty page that looks healthy.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| match build() {
            Ok(handle) => {
                start_upkeep(handle.clone());
                describe();
                Some(handle)
            }
            Err(error) => {
                tracing::warn!(%error, "prometheus recorder not installed; /metrics will fail");
                None
            }
        })
        .clone()
}

fn build() -> Result<PrometheusHandle, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full("loopync_group_commit_batch_size".to_owned()),
            BATCH_SIZE_BUCKETS,
        )?
        .install_recorder()
}

/// A plain thread rather than a task: the recorder outlives any runtime that installed it.
fn start_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new().name("metrics-upkeep".to_owned()).spawn(move || {
        loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            handle.run_upkeep();
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "metrics upkeep thread not started; histograms are folded on scrape only");
    }
}

/// HELP lines for the metrics the core emits.
fn describe() {
    metrics::describe_histogram!(
        "loopync_command_duration_seconds",
        Unit::Seconds,
        "Time from receiving a command to its outcome, by command kind and outcome."
    );
    metrics::describe_counter!("loopync_events_appended_total", "Events appended to the event store.");
    metrics::describe_counter!(
        "loopync_append_conflicts_total",
        "Appends refused because a stream changed concurrently (each is retried on fresh state)."
    );
    metrics::describe_histogram!(
        "loopync_group_commit_batch_size",
        "Commands committed per group-commit transaction."
    );
    metrics::describe_gauge!(
        "loopync_projection_lag_events",
        "Readable events a projection has not applied yet."
    );
    metrics::describe_gauge!(
        "loopync_projection_lag_seconds",
        Unit::Seconds,
        "Age of the oldest event a projection has not applied yet."
    );
    metrics::describe_gauge!(
        "loopync_projection_parked_events",
        "Events a projection could not apply, parked until an operator retries or skips them."
    );
    metrics::describe_counter!(
        "loopync_live_updates_republished_total",
        "Live updates published after their batch's worker had not: a takeover, or NATS away."
    );
    metrics::describe_gauge!(
        "loopync_event_log_held_back_events",
        "Committed events readers cannot see yet because an older transaction is still open."
    );
    metrics::describe_gauge!(
        "loopync_event_log_oldest_transaction_seconds",
        Unit::Seconds,
        "Age of the oldest open transaction holding the log's visibility horizon back."
    );
    metrics::describe_counter!(
        "loopync_http_requests_total",
        "HTTP requests answered, by method, route and status."
    );
    metrics::describe_histogram!(
        "loopync_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by method and route."
    );
    metrics::describe_gauge!(
        "loopync_read_your_writes_sessions",
        "Sessions whose last command position this node remembers for their reads."
    );
    metrics::describe_counter!(
        "loopync_ws_dropped_total",
        "Ephemeral frames (typing, signals, presence changes) dropped for WebSocket clients reading too slowly, by frame type."
    );
    metrics::describe_counter!(
        "loopync_ws_sockets_refused_total",
        "WebSockets refused at a cap: `address` (429 too_many_sockets) or `user` (closed with 4006)."
    );
    metrics::describe_counter!(
        "loopync_ws_target_limited_total",
        "Typing and signal frames refused for going over the per-(sender, target) limit, by frame type."
    );
    metrics::describe_counter!(
        "loopync_read_your_writes_evicted_total",
        "Sessions' positions forgotten to stay within capacity, maybe before every projection passed them."
    );
}

/// The Prometheus text exposition of every metric recorded so far.
pub fn render(handle: &PrometheusHandle) -> String {
    // Fold pending histogram samples first, so a scrape right after a command shows it.
    handle.run_upkeep();
    handle.render()
}
