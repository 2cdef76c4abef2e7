//! What operators and client developers rely on: health, readiness, metrics, the OpenAPI
//! document, the docs and request ids.

use crate::sample;
use loopync_testkit::{Options, assert_problem, error_fields, logs, spawn_app};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn ready_when_postgres_answers_migrations_are_applied_read_models_exist_and_nats_is_connected(
    pool: PgPool,
) {
    let app = spawn_app(&pool, Options::default().with_nats(loopync_testkit::nats().await)).await;
    // The projection runner makes the read models just after start.
    let started = Instant::now();
    let response = loop {
        let response = app.get("/ready").await;
        if response.status == 200 || started.elapsed() > Duration::from_secs(20) {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(response.status, 200, "{}", response.text);
    let body = response.body.clone();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["nats"], "ok");
    assert_eq!(body["checks"]["read_models"], "ok");
}

/// `/ready` as soon as it answers 200 (the projection runner makes the read models just after
/// start).
async fn ready_body(app: &loopync_testkit::TestApp) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let response = app.get("/ready").await;
        if response.status == 200 {
            return response.body.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never ready: {}", response.text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A read model that lags or has parked events is a warning in a 200, not a 503: every node
/// reads the same read models, so failing readiness for it would take every node out of the
/// load balancer at once.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn ready_warns_about_a_lagging_projection_or_parked_events_and_stays_200(pool: PgPool) {
    let nats = loopync_testkit::nats().await;
    // A node makes the read models and leaves; the node under test runs no projections, so
    // what it appends stays unapplied.
    let builder = spawn_app(&pool, Options::default().with_nats(nats.clone())).await;
    ready_body(&builder).await;
    builder.stop().await.unwrap();
    let mut options = Options::default().with_nats(nats).without_projections();
    options.config.ready_max_lag_events = 2;
    let app = spawn_app(&pool, options).await;
    let body = ready_body(&app).await;
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["checks"]["projections"], "ok", "{body}");
    assert!(body.get("warnings").is_none(), "{body}");

    for _ in 0..3 {
        app.signup().await;
    }
    // The events become readable to the lag count once no older transaction is open.
    let started = Instant::now();
    let body = loop {
        let response = app.get("/ready").await;
        assert_eq!(response.status, 200, "lag alone never makes a node unready: {}", response.text);
        if response.body.get("warnings").is_some() || started.elapsed() > Duration::from_secs(20) {
            break response.body.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["checks"]["projections"], "degraded", "{body}");
    let warnings = body["warnings"].as_array().expect("warnings").clone();
    assert!(
        warnings
            .iter()
            .all(|w| w["check"] == "projections" && w["lagging"] == true && w["parkedEvents"] == 0),
        "{body}"
    );
    // Lag is counted in the log's events, whichever the projection handles: all of them lag.
    let lagging: Vec<&str> = warnings.iter().filter_map(|w| w["projection"].as_str()).collect();
    assert_eq!(lagging.len(), app.projection_names.len(), "{body}");

    // And one of them has an event parked.
    let poisoned = app.projection_names[0];
    sqlx::query(
        "INSERT INTO projection_dead_letters \
             (projection, generation, transaction_id, global_position, event_id, event_type, error) \
         VALUES ($1, 1, '1'::xid8, 1, $2, 'test.poisoned', 'cannot be applied')",
    )
    .bind(poisoned)
    .bind(Uuid::now_v7())
    .execute(&pool)
    .await
    .unwrap();
    let response = app.get("/ready").await;
    assert_eq!(response.status, 200, "{}", response.text);
    let parked = response.body["warnings"]
        .as_array()
        .and_then(|warnings| warnings.iter().find(|w| w["projection"] == poisoned).cloned())
        .unwrap_or_else(|| panic!("no warning for {poisoned}: {}", response.text));
    assert_eq!(parked["parkedEvents"], 1, "{parked}");
    assert_eq!(parked["lagging"], true, "{parked}");
    assert!(parked["message"].as_str().unwrap().contains("loopync projections failed"), "{parked}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn not_ready_without_nats_read_models_or_with_a_pending_migration(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let problem = assert_problem(app.get("/ready").await, 503, "not_ready");
    assert_eq!(error_fields(&problem), ["read_models", "nats"]);

    // A migration whose file was edited after it was applied.
    sqlx::query("UPDATE _sqlx_migrations SET checksum = sha384('edited') WHERE version = 1")
        .execute(&pool)
        .await
        .unwrap();
    let problem = assert_problem(app.get("/ready").await, 503, "not_ready");
    assert_eq!(error_fields(&problem), ["migrations", "read_models", "nats"]);
    assert!(problem["detail"].as_str().unwrap().contains("applied with other contents: 1"), "{problem}");

    sqlx::query("DELETE FROM _sqlx_migrations").execute(&pool).await.unwrap();
    let problem = assert_problem(app.get("/ready").await, 503, "not_ready");
    assert_eq!(error_fields(&problem), ["migrations", "read_models", "nats"]);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn reads_before_the_read_models_exist_are_503_with_retry_after_not_500(pool: PgPool) {
    // A brand-new database, and no projection runner yet to make the read models.
    // Reads do not wait long for the sign-up's position: no runner will ever reach it.
    let mut options = Options::default().without_projections();
    options.config.read_your_writes_timeout = Duration::from_millis(50);
    let app = spawn_app(&pool, options).await;
    let ada = app.signup().await;
    for path in ["/api/users/search?q=ada", "/api/auth/sessions", "/api/looppay/transactions"] {
        let reply = app.get_as(&ada.token, path).await;
        assert_problem(reply.clone(), 503, "service_unavailable");
        assert!(reply.header("retry-after").is_some(), "{path}: {}", reply.text);
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn health_is_always_200(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let response = app.get("/health").await;
    assert_eq!(response.status, 200);
    let body = response.body.clone();
    assert_eq!(body["status"], "ok");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn metrics_show_command_latency_and_http_requests(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let path = format!("/api/sample-wallets/{}/top-ups", Uuid::now_v7());
    assert_eq!(app.post_raw(None, &path, r#"{"amount": 5}"#, None).await.status, 201);
    let response = app.get("/metrics").await;
    assert_eq!(response.status, 200);
    let content_type = response.header("content-type");
    assert!(content_type.expect("a content type").starts_with("text/plain"));
    let text = response.text.clone();
    assert!(text.contains("loopync_command_duration_seconds_bucket{"), "{text}");
    assert!(text.contains(r#"le="0.0005""#), "latency buckets from half a millisecond: {text}");
    assert!(text.contains("loopync_http_requests_total{"), "{text}");
    assert!(
        text.contains(r#"route="/api/sample-wallets/{id}/top-ups""#),
        "documented routes, not paths, label requests: {text}"
    );
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn the_openapi_document_lists_the_paths_and_the_problem_schema(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status, 200);
    let spec = &response.body;
    assert!(spec["openapi"].as_str().expect("the spec is JSON with a version").starts_with("3."));
    assert_eq!(spec["servers"][0]["url"], "/api");
    for path in ["/sample-wallets/{id}/top-ups", "/sample-wallets/{id}/withdrawals", "/sample-wallets/{id}"] {
        assert!(spec["paths"][path].is_object(), "{path} missing from {}", spec["paths"]);
    }
    let problem = &spec["components"]["schemas"]["Problem"];
    for field in ["type", "title", "status", "detail", "code", "instance", "errors", "requestId"] {
        assert!(problem["properties"][field].is_object(), "Problem.{field}: {problem}");
    }
    let top_up = &spec["paths"]["/sample-wallets/{id}/top-ups"]["post"];
    // poem-openapi writes response header names in capitals; HTTP does not mind.
    let headers: Vec<String> = top_up["responses"]["201"]["headers"]
        .as_object()
        .map(|headers| headers.keys().map(|k| k.to_ascii_lowercase()).collect())
        .expect("the 201 answer's headers");
    assert!(headers.contains(&"loopync-position".to_owned()), "{top_up}");
    assert!(top_up["responses"]["4XX"]["content"]["application/problem+json"].is_object(), "{top_up}");
    let parameters: Vec<&str> =
        top_up["parameters"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();
    assert!(parameters.contains(&"Idempotency-Key"), "{parameters:?}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn the_docs_are_html(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let response = app.get("/docs").await;
    assert_eq!(response.status, 200);
    let content_type = response.header("content-type");
    assert!(content_type.expect("a content type").starts_with("text/html"));
    assert!(response.text.clone().contains("swagger"));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn request_ids_are_echoed_or_generated(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let echoed = app.execute(app.client.get(app.url("/health")).header("X-Request-Id", "client-id-1")).await;
    assert_eq!(echoed.header("x-request-id").as_deref(), Some("client-id-1"));

    let replaced = app.execute(app.client.get(app.url("/nope")).header("X-Request-Id", "bad id!")).await;
    let id = replaced.header("x-request-id");
    let id = id.expect("an X-Request-Id");
    assert!(Uuid::parse_str(&id).is_ok(), "a fresh UUID replaces an unsafe id: {id}");
    let problem = assert_problem(replaced, 404, "not_found");
    assert_eq!(problem["requestId"], id.as_str(), "the problem quotes the request id");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn shutdown_lets_requests_in_flight_finish_then_stops(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let slow = tokio::spawn(app.client.get(app.url("/api/test/slow")).send());
    tokio::time::sleep(Duration::from_millis(150)).await;
    let addr = app.addr;
    let started = Instant::now();
    app.stop().await.expect("serve ends cleanly");
    assert!(started.elapsed() < Duration::from_secs(5), "stopped within the grace period");

    let response = slow.await.unwrap().expect("the request in flight is answered");
    assert_eq!(response.status().as_u16(), 200, "the request in flight was answered");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no new connections after shutdown");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn every_request_is_logged_with_its_request_id(pool: PgPool) {
    let app = sample::spawn(&pool, sample::Options { capture_logs: true, ..sample::options() }).await;
    // Unique: the log buffer is shared by every test of the binary.
    let request_id = format!("log-test-{}", Uuid::now_v7());
    let path = format!("/api/sample-wallets/{}/top-ups", Uuid::now_v7());
    let response = app
        .execute(
            app.client
                .post(app.url(&path))
                .header("X-Request-Id", &request_id)
                .header("content-type", "application/json")
                .body(r#"{"amount": "x"}"#),
        )
        .await;
    assert_eq!(response.status, 400);

    let lines = logs().lines();
    let finished = lines
        .iter()
        .find(|line| {
            line["fields"]["message"] == "request finished"
                && line["span"]["request_id"] == request_id.as_str()
        })
        .expect("an access log line with the request id");
    assert_eq!(finished["span"]["method"], "POST");
    assert_eq!(finished["span"]["path"], path.as_str());
    assert_eq!(finished["fields"]["status"], 400);
    assert!(finished["fields"]["latency_ms"].is_number());
}
