//! Operational endpoints, outside the documented API: `/health`, `/ready`, `/metrics`.
//!
//! - `/health` is liveness: 200 while the process serves requests, whatever its dependencies
//!   do. Restarting a process because PostgreSQL is down would not bring PostgreSQL back.
//! - `/ready` is readiness: 200 only when PostgreSQL answers, every migration this binary
//!   embeds is applied (with the same contents: checksums compared), every feature's read models exist (on a brand-new database the
//!   projection runner creates them just after start), NATS is connected, and the WebSocket
//!   gateway (on a node that runs one) is up — `serve` retries its NATS setup in the background
//!   until it is; otherwise a 503 `not_ready` problem with
//!   `Retry-After`, naming the failing checks in `errors`. A load balancer stops sending
//!   traffic to a node that is not ready.
//!
//!   A projection more than `LOOPYNC_READY_MAX_LAG_EVENTS` behind the log, or with parked
//!   events, is a *warning*: still 200, with `"status": "degraded"` and the projection named in
//!   `warnings`. Every node reads the same read models, so a lagging or poisoned one would fail
//!   every node's check at once and the load balancer would take the whole service down —
//!   commands, and every read that does not touch that read model, included — for what is a
//!   slower or incomplete read model (reads of it still answer, marked stale when they cannot
//!   wait for their writes). Alerting on it belongs to the metrics
//!   (`loopync_projection_lag_events`, `loopync_projection_parked_events`); the warning tells
//!   whoever looks at a node why.
//! - `/metrics` is the Prometheus text exposition ([`crate::metrics`]).

use crate::metrics;
use crate::problem::{FieldProblem, Problem, RETRY_AFTER_SECONDS, codes};
use crate::realtime::{Gateway, GatewayState};
use crate::state::AppState;
use loopync_commands::error::is_unavailable;
use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{IntoResponse, Response, handler};
use serde_json::json;

/// Liveness.
#[handler]
pub(crate) fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness.
#[handler]
pub(crate) async fn ready(Data(state): Data<&AppState>) -> Result<Json<serde_json::Value>, Problem> {
    let (postgres, migrations) = check_postgres(state).await;
    let nats = check_nats(state.nats.as_ref());
    let read_models =
        if postgres.is_ok() { check_read_models(state).await } else { Err("unknown".to_owned()) };
    let realtime = check_realtime(&state.realtime);
    let checks = [
        ("postgres", postgres),
        ("migrations", migrations),
        ("read_models", read_models),
        ("nats", nats),
        ("realtime", realtime),
    ];
    let failing: Vec<FieldProblem> = checks
        .iter()
        .filter_map(|(name, check)| {
            check.as_ref().err().map(|message| FieldProblem::new(*name, "unavailable", message.clone()))
        })
        .collect();
    if !failing.is_empty() {
        let summary: Vec<String> = failing.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::NOT_READY,
            format!("not ready: {}", summary.join("; ")),
        )
        .with_errors(failing)
        .with_retry_after(RETRY_AFTER_SECONDS));
    }
    let warnings = projection_warnings(state).await;
    let projections = if warnings.is_empty() { "ok" } else { "degraded" };
    let mut body = json!({
        "status": if warnings.is_empty() { "ready" } else { "degraded" },
        "checks": {
            "postgres": "ok", "migrations": "ok", "read_models": "ok", "nats": "ok",
            "realtime": if state.realtime.state() == GatewayState::Off { "off" } else { "ok" },
            "projections": projections,
        },
    });
    if !warnings.is_empty() {
        body["warnings"] = serde_json::Value::Array(warnings);
    }
    Ok(Json(body))
}

/// A warning per projection that lags more than `ready_max_lag_events` or has parked events:
/// `{"check": "projections", "projection", "lagging", "parkedEvents", "message"}`. None when
/// they cannot be read in time: the checks that decide readiness have just passed, and a
/// warning that cannot be computed is not worth failing them for.
async fn projection_warnings(state: &AppState) -> Vec<serde_json::Value> {
    let max_lag = state.config.ready_max_lag_events;
    // Lag is counted up to one past the threshold: enough to know it is past.
    let cap = if max_lag > 0 { max_lag.saturating_add(1) } else { 0 };
    let query = loopync_workers::status::projection_health(&state.pool, cap);
    let projections = match tokio::time::timeout(state.config.readiness_timeout, query).await {
        Ok(Ok(projections)) => projections,
        Ok(Err(error)) => {
            tracing::debug!(%error, "readiness: projection health not readable");
            return Vec::new();
        }
        Err(_) => return Vec::new(),
    };
    projections
        .into_iter()
        .filter_map(|projection| {
            let lagging = max_lag > 0 && projection.lag_events > max_lag;
            let parked = projection.parked_events;
            if !lagging && parked == 0 {
                return None;
            }
            let mut problems = Vec::new();
            if lagging {
                problems.push(format!("more than {max_lag} events behind the log"));
            }
            if parked > 0 {
                problems.push(format!("{parked} parked events (loopync projections failed)"));
            }
            Some(json!({
                "check": "projections",
                "projection": projection.name,
                "lagging": lagging,
                "parkedEvents": parked,
                "message": format!("{}: {}", projection.name, problems.join("; ")),
            }))
        })
        .collect()
}

type Check = Result<(), String>;

/// PostgreSQL reachability and migrations, in one query: the applied migrations' versions and
/// checksums. A migration applied with other contents than this binary embeds (edited after
/// it ran) is as wrong as a missing one.
async fn check_postgres(state: &AppState) -> (Check, Check) {
    let query =
        sqlx::query!("SELECT version, checksum FROM _sqlx_migrations WHERE success").fetch_all(&state.pool);
    let applied = match tokio::time::timeout(state.config.readiness_timeout, query).await {
        Err(_) => return (Err("did not answer in time".to_owned()), Err("unknown".to_owned())),
        Ok(Err(error)) if is_unavailable(&error) || !matches!(error, sqlx::Error::Database(_)) => {
            tracing::debug!(%error, "readiness: postgres unreachable");
            return (Err("unreachable".to_owned()), Err("unknown".to_owned()));
        }
        // The server answered with an error: reachable, but the migrations table is missing.
        Ok(Err(error)) => {
            tracing::debug!(%error, "readiness: migrations table not readable");
            return (Ok(()), Err("not applied".to_owned()));
        }
        Ok(Ok(applied)) => applied,
    };
    let mut pending = Vec::new();
    let mut changed = Vec::new();
    for migration in loopync_schemas::MIGRATOR.iter().filter(|m| !m.migration_type.is_down_migration()) {
        match applied.iter().find(|row| row.version == migration.version) {
            None => pending.push(migration.version.to_string()),
            Some(row) if *row.checksum != *migration.checksum => changed.push(migration.version.to_string()),
            Some(_) => {}
        }
    }
    let mut problems = Vec::new();
    if !pending.is_empty() {
        problems.push(format!("pending: {}", pending.join(", ")));
    }
    if !changed.is_empty() {
        problems.push(format!("applied with other contents: {}", changed.join(", ")));
    }
    if problems.is_empty() { (Ok(()), Ok(())) } else { (Ok(()), Err(problems.join("; "))) }
}

/// Whether every read model of every feature has its views in `read_models` and
/// `private_read_models`. (A catalog query, not a checked one: the views are made by the
/// projection runner, not by migrations.)
async fn check_read_models(state: &AppState) -> Check {
    let expected: Vec<String> = crate::features::projections()
        .iter()
        .flat_map(|projection| {
            loopync_projections::views(projection.as_ref()).map(|(views, table)| format!("{views}.{table}"))
        })
        .collect();
    let query = sqlx::query_scalar::<_, String>(
        "SELECT schemaname::text || '.' || viewname::text FROM pg_views \
         WHERE schemaname::text || '.' || viewname::text = ANY($1)",
    )
    .bind(&expected)
    .fetch_all(&state.pool);
    let present = match tokio::time::timeout(state.config.readiness_timeout, query).await {
        Ok(Ok(present)) => present,
        Ok(Err(_)) | Err(_) => return Err("unknown".to_owned()),
    };
    let missing: Vec<&str> =
        expected.iter().filter(|table| !present.contains(table)).map(String::as_str).collect();
    if missing.is_empty() { Ok(()) } else { Err(format!("not built yet: {}", missing.join(", "))) }
}

fn check_nats(nats: Option<&async_nats::Client>) -> Check {
    match nats.map(async_nats::Client::connection_state) {
        None => Err("not configured".to_owned()),
        Some(async_nats::connection::State::Connected) => Ok(()),
        Some(state) => Err(format!("{state:?}").to_lowercase()),
    }
}

/// The WebSocket gateway: up, or not run on this node (neither is a failure); starting is.
fn check_realtime(gateway: &Gateway) -> Check {
    match gateway.state() {
        GatewayState::Up | GatewayState::Off => Ok(()),
        GatewayState::Starting => Err("starting: its NATS setup is retried until NATS answers".to_owned()),
    }
}

/// The Prometheus exposition.
#[handler]
pub(crate) fn prometheus() -> Result<Response, Problem> {
    let Some(handle) = metrics::install() else {
        // Logged when installation failed; a 500 makes the scrape fail loudly.
        return Err(Problem::internal());
    };
    Ok(metrics::render(&handle).with_content_type("text/plain; version=0.0.4; charset=utf-8").into_response())
}
