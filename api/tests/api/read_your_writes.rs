//! A read by the caller after its command reflects the command: command answers carry the
//! position reached, and reads that send it back wait (bounded) for the read model.

use crate::support::{assert_problem, spawn_app, spawn_with, state};
use loopync_projections::Consistency;
use loopync_projections::sample::SampleWalletBalances;
use serde_json::Value;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_read_with_the_commands_position_reflects_the_command(pool: PgPool) {
    let app = spawn_app(&pool).await;
    app.run_projections();
    let id = Uuid::now_v7();
    let mut balance = 0;
    for (path, amount, expected) in
        [("top-ups", 50, 50), ("withdrawals", 20, 30), ("top-ups", 7, 37), ("withdrawals", 37, 0)]
    {
        let response = app
            .post_json(
                &format!("/api/sample-wallets/{id}/{path}"),
                &format!(r#"{{"amount": {amount}}}"#),
                None,
            )
            .await;
        assert_eq!(response.status().as_u16(), 201);
        let position = header(&response, "loopync-position").unwrap_or_else(|| panic!("no Loopync-Position"));
        let body: Value = response.json().await.unwrap_or_default();
        assert_eq!(body["position"], position.as_str(), "the body carries the position too");
        assert_eq!(body["balance"], expected);

        // Immediately: no sleep, no retry. The read waits for the projection.
        let read = app
            .client
            .get(app.url(&format!("/api/sample-wallets/{id}")))
            .header("Loopync-Position", &position)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.status().as_u16(), 200);
        assert_eq!(header(&read, "loopync-consistency").as_deref(), Some("fresh"));
        let wallet: Value = read.json().await.unwrap_or_default();
        assert_eq!(wallet["balance"], expected, "{wallet}");
        balance = wallet["balance"].as_i64().unwrap_or(-1);
    }
    assert_eq!(balance, 0);

    // An unknown wallet, once the read model exists: 404 with its own code.
    let missing = app.get(&format!("/api/sample-wallets/{}", Uuid::now_v7())).await;
    assert_problem(missing, 404, "wallet_not_found").await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_read_whose_position_is_never_reached_answers_stale_after_the_bound(pool: PgPool) {
    let (mut state, store) = state(&pool, None);
    state.config.read_your_writes_timeout = Duration::from_millis(500);
    let app = spawn_with(state, store).await;
    app.run_projections();
    let id = Uuid::now_v7();
    let response =
        app.post_json(&format!("/api/sample-wallets/{id}/top-ups"), r#"{"amount": 5}"#, None).await;
    let position = header(&response, "loopync-position").unwrap_or_default();
    // Let the projection pass the top-up without the short bound: only the wait below is tested.
    let position_reached = loopync_api::parse_position(&position).unwrap_or_else(|e| panic!("{e}"));
    let reached = app.state.checkpoints.wait_for(
        &[SampleWalletBalances::NAME],
        position_reached,
        Duration::from_secs(30),
    );
    assert_eq!(reached.await, Consistency::Reached);
    let fresh = app
        .client
        .get(app.url(&format!("/api/sample-wallets/{id}")))
        .header("Loopync-Position", &position)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(header(&fresh, "loopync-consistency").as_deref(), Some("fresh"));

    // A position far beyond the log: the read waits its bound, then answers, marked stale.
    let started = std::time::Instant::now();
    let stale = app
        .client
        .get(app.url(&format!("/api/sample-wallets/{id}")))
        .header("Loopync-Position", format!("{}-1", i64::MAX))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stale.status().as_u16(), 200);
    assert_eq!(header(&stale, "loopync-consistency").as_deref(), Some("stale"));
    let waited = started.elapsed();
    assert!(waited >= app.state.config.read_your_writes_timeout, "waited {waited:?}");

    // Without a position there is nothing to wait for, and no consistency header.
    let plain = app.get(&format!("/api/sample-wallets/{id}")).await;
    assert_eq!(plain.status().as_u16(), 200);
    assert_eq!(header(&plain, "loopync-consistency"), None);
}
