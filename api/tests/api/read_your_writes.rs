//! A read by the caller after its command reflects the command: command answers carry the
//! position reached, and reads that send it back wait (bounded) for the read model.

use crate::sample;
use loopync_projections::Consistency;
use loopync_projections::sample::SampleWalletBalances;
use loopync_testkit::assert_problem;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_read_with_the_commands_position_reflects_the_command(pool: PgPool) {
    let app = sample::spawn(&pool, sample::Options { projections: true, ..sample::options() }).await;
    let id = Uuid::now_v7();
    let mut balance = 0;
    for (path, amount, expected) in
        [("top-ups", 50, 50), ("withdrawals", 20, 30), ("top-ups", 7, 37), ("withdrawals", 37, 0)]
    {
        let response = app
            .post_raw(
                None,
                &format!("/api/sample-wallets/{id}/{path}"),
                &format!(r#"{{"amount": {amount}}}"#),
                None,
            )
            .await;
        assert_eq!(response.status, 201);
        let position = response.header("loopync-position").expect("a Loopync-Position");
        let body = response.body.clone();
        assert_eq!(body["position"], position.as_str(), "the body carries the position too");
        assert_eq!(body["balance"], expected);

        // Immediately: no sleep, no retry. The read waits for the projection.
        let read = app
            .execute(
                app.client
                    .get(app.url(&format!("/api/sample-wallets/{id}")))
                    .header("Loopync-Position", &position),
            )
            .await;
        assert_eq!(read.status, 200);
        assert_eq!(read.header("loopync-consistency").as_deref(), Some("fresh"));
        let wallet = read.body.clone();
        assert_eq!(wallet["balance"], expected, "{wallet}");
        balance = wallet["balance"].as_i64().expect("a balance");
    }
    assert_eq!(balance, 0);

    // An unknown wallet, once the read model exists: 404 with its own code.
    let missing = app.get(&format!("/api/sample-wallets/{}", Uuid::now_v7())).await;
    assert_problem(missing, 404, "wallet_not_found");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_read_whose_position_is_never_reached_answers_stale_after_the_bound(pool: PgPool) {
    let mut options = sample::Options { projections: true, ..sample::options() };
    options.config.read_your_writes_timeout = Duration::from_millis(500);
    let app = sample::spawn(&pool, options).await;
    let id = Uuid::now_v7();
    let response =
        app.post_raw(None, &format!("/api/sample-wallets/{id}/top-ups"), r#"{"amount": 5}"#, None).await;
    let position = response.header("loopync-position").expect("a Loopync-Position");
    // Let the projection pass the top-up without the short bound: only the wait below is tested.
    let position_reached = loopync_api::parse_position(&position).unwrap();
    let reached = app.state.checkpoints.wait_for(
        &[SampleWalletBalances::NAME],
        position_reached,
        Duration::from_secs(30),
    );
    assert_eq!(reached.await, Consistency::Reached);
    let fresh = app
        .execute(
            app.client
                .get(app.url(&format!("/api/sample-wallets/{id}")))
                .header("Loopync-Position", &position),
        )
        .await;
    assert_eq!(fresh.header("loopync-consistency").as_deref(), Some("fresh"));

    // A position far beyond the log: the read waits its bound, then answers, marked stale.
    let started = std::time::Instant::now();
    let stale = app
        .execute(
            app.client
                .get(app.url(&format!("/api/sample-wallets/{id}")))
                .header("Loopync-Position", format!("{}-1", i64::MAX)),
        )
        .await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.header("loopync-consistency").as_deref(), Some("stale"));
    let waited = started.elapsed();
    assert!(waited >= app.state.config.read_your_writes_timeout, "waited {waited:?}");

    // Without a position there is nothing to wait for, and no consistency header.
    let plain = app.get(&format!("/api/sample-wallets/{id}")).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("loopync-consistency"), None);
}
