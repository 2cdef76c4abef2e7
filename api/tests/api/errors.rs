//! Bad input gets a clear 4xx `application/problem+json` with a stable code, and changes
//! nothing; a dependency outage gets 503 with `Retry-After`.

use crate::sample::{self, TEST_BODY_LIMIT};
use loopync_testkit::{assert_problem, chunk, error_fields, event_count, raw_request};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;
use uuid::Uuid;

fn top_ups(id: Uuid) -> String {
    format!("/api/sample-wallets/{id}/top-ups")
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn malformed_json_is_invalid_request(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let before = event_count(&pool).await;
    for body in [r#"{"amount": "#, "not json", r#"{"amount": 5}}"#, ""] {
        let response = app.post_raw(None, &top_ups(Uuid::now_v7()), body, None).await;
        assert_problem(response, 400, "invalid_request");
    }
    assert_eq!(event_count(&pool).await, before);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn wrong_types_missing_and_unknown_fields_are_named(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let before = event_count(&pool).await;
    let cases = [
        (r#"{"amount": "ten"}"#, "amount"),
        (r#"{"amount": 1.5}"#, "amount"),
        (r#"{"amount": null}"#, "amount"),
        (r#"{}"#, "amount"),
        (r#"{"amount": 5, "currency": "USD"}"#, "currency"),
        (r#"[5]"#, "body"),
    ];
    for (body, field) in cases {
        let response = app.post_raw(None, &top_ups(Uuid::now_v7()), body, None).await;
        let problem = assert_problem(response, 400, "invalid_request");
        assert_eq!(error_fields(&problem), [field], "{body}: {problem}");
    }
    assert_eq!(event_count(&pool).await, before);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_oversize_body_with_a_content_length_is_413(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let before = event_count(&pool).await;
    let padding = " ".repeat(TEST_BODY_LIMIT);
    let body = format!(r#"{{"amount": 5{padding}}}"#);
    let response = app.post_raw(None, &top_ups(Uuid::now_v7()), &body, None).await;
    assert_problem(response, 413, "payload_too_large");

    // Just under the limit is fine: the limit is on bytes, not on what they say.
    let padding = " ".repeat(TEST_BODY_LIMIT - 20);
    let body = format!(r#"{{"amount": 5{padding}}}"#);
    let response = app.post_raw(None, &top_ups(Uuid::now_v7()), &body, None).await;
    assert_eq!(response.status, 201);
    assert_eq!(event_count(&pool).await, before + 1);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_oversize_chunked_body_is_413_not_400(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let before = event_count(&pool).await;
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        top_ups(Uuid::now_v7())
    );
    let mut chunks = vec![chunk(br#"{"amount": 5"#)];
    chunks.extend((0..4).map(|_| chunk(" ".repeat(TEST_BODY_LIMIT / 2).as_bytes())));
    chunks.push(chunk(b"}"));
    chunks.push(b"0\r\n\r\n".to_vec());
    let response = raw_request(app.addr, &head, &chunks).await;
    assert_eq!(response.status, 413, "{}", response.head);
    assert!(response.head.contains("content-type: application/problem+json"), "{}", response.head);
    assert_eq!(response.body["code"], "payload_too_large");

    // The same body in chunks, small enough: accepted.
    let chunks = [chunk(br#"{"amount""#), chunk(br#": 5}"#), b"0\r\n\r\n".to_vec()];
    let response = raw_request(app.addr, &head, &chunks).await;
    assert_eq!(response.status, 201, "{}", response.head);
    assert_eq!(event_count(&pool).await, before + 1);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_body_that_is_not_json_is_415(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let before = event_count(&pool).await;
    let url = app.url(&top_ups(Uuid::now_v7()));
    let plain = app
        .execute(app.client.post(&url).header("content-type", "text/plain").body(r#"{"amount": 5}"#))
        .await;
    assert_problem(plain, 415, "unsupported_media_type");
    let missing = app.execute(app.client.post(&url).body(r#"{"amount": 5}"#)).await;
    assert_problem(missing, 415, "unsupported_media_type");
    assert_eq!(event_count(&pool).await, before);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn unknown_routes_are_404_and_wrong_methods_405(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    for path in
        ["/api/nothing-here", "/nothing-here", &format!("/api/sample-wallets/{}/refunds", Uuid::now_v7())]
    {
        let problem = assert_problem(app.get(path).await, 404, "not_found");
        assert_eq!(problem["instance"], path);
    }
    let response =
        app.execute(app.client.delete(app.url(&format!("/api/sample-wallets/{}", Uuid::now_v7())))).await;
    assert_eq!(response.header("allow").as_deref(), Some("GET"), "405s say what is allowed");
    assert_problem(response, 405, "method_not_allowed");
    let response = app
        .execute(app.client.get(app.url(&format!("/api/sample-wallets/{}/top-ups", Uuid::now_v7()))))
        .await;
    assert_eq!(response.header("allow").as_deref(), Some("POST"));
    assert_problem(response, 405, "method_not_allowed");
    let response = app.execute(app.client.post(app.url("/health"))).await;
    assert_eq!(response.header("allow").as_deref(), Some("GET"));
    assert_problem(response, 405, "method_not_allowed");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_invalid_path_id_is_invalid_request(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let before = event_count(&pool).await;
    let response =
        app.post_raw(None, "/api/sample-wallets/not-a-uuid/top-ups", r#"{"amount": 5}"#, None).await;
    let problem = assert_problem(response, 400, "invalid_request");
    assert_eq!(error_fields(&problem), ["id"]);
    assert_eq!(event_count(&pool).await, before);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_invalid_idempotency_key_is_refused(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let before = event_count(&pool).await;
    for key in ["has space", &"k".repeat(256)] {
        let response = app.post_raw(None, &top_ups(Uuid::now_v7()), r#"{"amount": 5}"#, Some(key)).await;
        let problem = assert_problem(response, 400, "invalid_idempotency_key");
        assert_eq!(error_fields(&problem), ["Idempotency-Key"]);
    }
    assert_eq!(event_count(&pool).await, before);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_reused_idempotency_key_with_another_payload_is_422(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let path = top_ups(Uuid::now_v7());
    let first = app.post_raw(None, &path, r#"{"amount": 5}"#, Some("key-1")).await;
    assert_eq!(first.status, 201);
    let before = event_count(&pool).await;
    let reused = app.post_raw(None, &path, r#"{"amount": 6}"#, Some("key-1")).await;
    assert_problem(reused, 422, "idempotency_key_reused");
    assert_eq!(event_count(&pool).await, before);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_repeated_command_gets_the_same_answer_and_appends_once(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let path = top_ups(Uuid::now_v7());
    let before = event_count(&pool).await;
    let first = app.post_raw(None, &path, r#"{"amount": 5}"#, Some("key-2")).await;
    let second = app.post_raw(None, &path, r#"{"amount": 5}"#, Some("key-2")).await;
    assert_eq!((first.status, second.status), (201, 201));
    assert!(first.position.is_some());
    assert_eq!(first.position, second.position);
    assert_eq!(first.body, second.body);
    assert_eq!(first.body["balance"], 5);
    assert_eq!(event_count(&pool).await, before + 1);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_domain_refusal_is_422_with_the_domain_code(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let id = Uuid::now_v7();
    let before = event_count(&pool).await;
    let withdrawal =
        app.post_raw(None, &format!("/api/sample-wallets/{id}/withdrawals"), r#"{"amount": 5}"#, None).await;
    let problem = assert_problem(withdrawal, 422, "insufficient_funds");
    assert!(problem["detail"].as_str().expect("a detail").contains("insufficient funds"), "{problem}");
    let top_up = app.post_raw(None, &top_ups(id), r#"{"amount": 0}"#, None).await;
    assert_problem(top_up, 422, "invalid_amount");
    let top_up = app.post_raw(None, &top_ups(id), r#"{"amount": -3}"#, None).await;
    assert_problem(top_up, 422, "invalid_amount");
    assert_eq!(event_count(&pool).await, before);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_invalid_position_is_400(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    for token in ["yesterday", "12", "1-x", "-1-2"] {
        let response = app
            .execute(
                app.client
                    .get(app.url(&format!("/api/sample-wallets/{}", Uuid::now_v7())))
                    .header("Loopync-Position", token),
            )
            .await;
        let problem = assert_problem(response, 400, "invalid_position");
        assert_eq!(error_fields(&problem), ["Loopync-Position"]);
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_panicking_handler_is_a_500_problem_and_the_server_lives_on(pool: PgPool) {
    let app = sample::spawn(&pool, sample::options()).await;
    let problem = assert_problem(app.get("/api/test/panic").await, 500, "internal_error");
    assert!(!problem["detail"].as_str().expect("a detail").contains("handler bug"), "causes stay hidden");
    assert_eq!(app.get("/health").await.status, 200);
}

/// PostgreSQL down: commands and reads answer 503 with `Retry-After`, `/ready` says not ready,
/// `/health` stays up.
#[tokio::test]
async fn the_database_down_is_503_with_retry_after() {
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy("postgres://postgres@127.0.0.1:1/nothing")
        .unwrap();
    let app = sample::spawn(&pool, sample::options()).await;

    let command = app.post_raw(None, &top_ups(Uuid::now_v7()), r#"{"amount": 5}"#, None).await;
    assert_eq!(command.header("retry-after").as_deref(), Some("1"));
    assert_problem(command, 503, "service_unavailable");

    let read = app.get(&format!("/api/sample-wallets/{}", Uuid::now_v7())).await;
    assert_eq!(read.header("retry-after").as_deref(), Some("1"));
    assert_problem(read, 503, "service_unavailable");

    let ready = app.get("/ready").await;
    assert!(ready.header("retry-after").is_some());
    let problem = assert_problem(ready, 503, "not_ready");
    assert_eq!(error_fields(&problem), ["postgres", "migrations", "read_models", "nats"]);

    assert_eq!(app.get("/health").await.status, 200);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn past_its_budget_a_caller_gets_429_with_retry_after_and_health_is_never_limited(pool: PgPool) {
    let mut options = sample::options();
    options.config.rate_limits =
        loopync_api::RateLimitConfig { anonymous_per_minute: 3, ..loopync_api::RateLimitConfig::off() };
    let app = sample::spawn(&pool, options).await;
    // Any /api request counts, whatever its answer: these are 400s (not a wallet id).
    for _ in 0..3 {
        let response = app.get("/api/sample-wallets/not-an-id").await;
        assert_eq!(response.status, 400, "within the budget");
    }
    let limited = app.get("/api/sample-wallets/not-an-id").await;
    let retry_after: u32 =
        limited.header("retry-after").expect("a Retry-After").parse().expect("Retry-After in seconds");
    assert!(retry_after >= 1, "Retry-After is at least a second");
    assert_problem(limited, 429, "rate_limited");
    for _ in 0..10 {
        assert_eq!(app.get("/health").await.status, 200, "operational endpoints are not limited");
    }
}

/// An anonymous read that passed through a proxy claiming `forwarded_for`.
async fn from(app: &loopync_testkit::TestApp, forwarded_for: &str) -> loopync_testkit::Reply {
    let request =
        app.client.get(app.url("/api/sample-wallets/not-an-id")).header("X-Forwarded-For", forwarded_for);
    app.execute(request).await
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_client_is_known_by_what_trusted_proxies_forwarded_and_never_by_its_own_claim(pool: PgPool) {
    use loopync_api::{RateLimitConfig, TrustedProxies, parse_network};
    let limited = RateLimitConfig { anonymous_per_minute: 2, ..RateLimitConfig::off() };

    // Without trusted proxies the header is the client's own word: ignored.
    let mut options = sample::options();
    options.config.rate_limits = limited;
    let app = sample::spawn(&pool, options).await;
    for claimed in ["203.0.113.1", "203.0.113.2"] {
        assert_eq!(from(&app, claimed).await.status, 400);
    }
    assert_problem(from(&app, "203.0.113.3").await, 429, "rate_limited");
    drop(app);

    // Behind our proxy (the tests' peer, 127.0.0.1), each forwarded client has its own budget;
    // what a client wrote left of it counts for nothing.
    let mut options = sample::options();
    options.config.rate_limits = limited;
    options.config.trusted_proxies = TrustedProxies::new(vec![parse_network("127.0.0.1").unwrap()]);
    let app = sample::spawn(&pool, options).await;
    for _ in 0..2 {
        assert_eq!(from(&app, "203.0.113.1").await.status, 400);
    }
    assert_problem(from(&app, "203.0.113.1").await, 429, "rate_limited");
    assert_problem(from(&app, "198.51.100.9, 203.0.113.1").await, 429, "rate_limited");
    assert_eq!(from(&app, "203.0.113.2").await.status, 400, "another client behind the proxy");
    // IPv6 clients by their /64: a new address in the same /64 is the same client.
    for address in ["2001:db8:0:1::1", "2001:db8:0:1::2"] {
        assert_eq!(from(&app, address).await.status, 400);
    }
    assert_problem(from(&app, "2001:db8:0:1:ffff::3").await, 429, "rate_limited");
    assert_eq!(from(&app, "2001:db8:0:2::1").await.status, 400, "the next /64");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn readiness_and_metrics_have_a_budget_and_liveness_has_none(pool: PgPool) {
    let mut options = sample::options();
    options.config.rate_limits =
        loopync_api::RateLimitConfig { operations_per_minute: 3, ..loopync_api::RateLimitConfig::off() };
    let app = sample::spawn(&pool, options).await;
    for path in ["/ready", "/metrics", "/ready"] {
        let status = app.get(path).await.status;
        assert!(status == 200 || status == 503, "{path}: {status}");
    }
    assert_problem(app.get("/metrics").await, 429, "rate_limited");
    assert_problem(app.get("/ready").await, 429, "rate_limited");
    assert_eq!(app.get("/health").await.status, 200);
}

/// Locks the profiles' read model until the returned transaction ends: reads of it block.
async fn lock_profiles(pool: &PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE proj_user_profiles_g1.user_profiles IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *holder)
        .await
        .unwrap();
    holder
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_request_past_its_deadline_is_503_and_the_next_one_is_served(pool: PgPool) {
    use loopync_testkit::{Options, spawn_app};
    // No statement timeout on this pool: only the request's deadline can cut the read off.
    let mut options = Options::default();
    options.config.request_timeout = Duration::from_millis(300);
    let app = spawn_app(&pool, options).await;
    let ada = app.signup().await;
    app.caught_up().await;

    let holder = lock_profiles(&pool).await;
    let started = std::time::Instant::now();
    let reply = app.get_as(&ada.token, &format!("/api/users/{}", ada.id)).await;
    assert!(started.elapsed() < Duration::from_secs(5), "cut off, not hung: {:?}", started.elapsed());
    assert!(reply.header("retry-after").is_some());
    assert_problem(reply, 503, "service_unavailable");
    holder.rollback().await.unwrap();
    assert_eq!(app.get_as(&ada.token, &format!("/api/users/{}", ada.id)).await.status, 200);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_read_past_the_statement_timeout_is_503_and_frees_its_connection(pool: PgPool) {
    use loopync_testkit::{Options, spawn_app};
    use sqlx::postgres::PgConnectOptions;
    // The app's reads on a pool whose statements stop after 200 ms, as `serve`'s read pool.
    let options: PgConnectOptions = loopync_testkit::database_url(&pool).await.parse().unwrap();
    let reads = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options.options([("statement_timeout", "200ms")]))
        .await
        .unwrap();
    let app = spawn_app(&reads, Options::default()).await;
    let ada = app.signup().await;
    app.caught_up().await;

    // Someone holds the profiles' table: reads of it block.
    let holder = lock_profiles(&pool).await;
    let started = std::time::Instant::now();
    let reply = app.get_as(&ada.token, &format!("/api/users/{}", ada.id)).await;
    assert_problem(reply.clone(), 503, "service_unavailable");
    assert!(reply.header("retry-after").is_some());
    assert!(started.elapsed() < Duration::from_secs(5), "cut off, not hung: {:?}", started.elapsed());
    holder.rollback().await.unwrap();
    assert_eq!(app.get_as(&ada.token, &format!("/api/users/{}", ada.id)).await.status, 200);
}
