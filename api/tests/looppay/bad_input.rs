//! Bad input: every refusal is a 4xx problem+json with its stable code, and nothing moves.

use loopync_domain::given::credits;
use loopync_testkit::{Options, Reply, TestApp, User, event_count, latest, spawn_app};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// What must not change after a refusal: the event log, and both wallets as read back fresh.
struct Unmoved<'a> {
    app: &'a TestApp,
    pool: &'a PgPool,
    position: String,
    events: i64,
    wallets: Vec<(&'a User, (i64, i64))>,
}

impl<'a> Unmoved<'a> {
    async fn new(app: &'a TestApp, pool: &'a PgPool, position: String, users: &[&'a User]) -> Self {
        let mut wallets = Vec::new();
        for user in users {
            wallets.push((*user, app.balance(user, &position).await));
        }
        Self { app, pool, position, events: event_count(pool).await, wallets }
    }

    async fn check(&self, what: &str) {
        assert_eq!(event_count(self.pool).await, self.events, "{what}: events were appended");
        for (user, balance) in &self.wallets {
            assert_eq!(self.app.balance(user, &self.position).await, *balance, "{what}: a balance moved");
        }
    }
}

/// `{"to": <to>, "amount": <raw>}` as written, for amounts JSON builders would rewrite.
fn transfer_with_amount(to: Uuid, raw: &str) -> String {
    format!(r#"{{"to":"{to}","amount":{raw}}}"#)
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn amounts_that_are_not_positive_whole_minor_units_are_invalid_amount(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, position) = app.funded(1000).await;
    let bob = app.signup().await;
    let unmoved = Unmoved::new(&app, &pool, position, &[&ada, &bob]).await;

    let bad = ["0", "-5", "1.5", "\"10\"", "1e30", "9223372036854775808", "true", "[1]", "{}", "-0.0"];
    for raw in bad {
        let reply = app
            .post_raw(Some(&ada.token), "/api/looppay/transfer", transfer_with_amount(bob.id, raw), None)
            .await;
        reply.field_problem(400, "invalid_amount", "amount");
        let body = format!(r#"{{"amount":{raw}}}"#);
        let reply = app.post_raw(Some(&ada.token), "/api/looppay/topup", body, None).await;
        reply.field_problem(400, "invalid_amount", "amount");
        let body = format!(r#"{{"to":"system.escrow","amount":{raw},"reference":"order:1"}}"#);
        let reply = app.post_raw(Some(&ada.token), "/api/looppay/pay", body, None).await;
        reply.field_problem(400, "invalid_amount", "amount");
    }
    // The largest i64 is an amount: refused by the rules instead (nobody has that much).
    let reply = app.transfer(&ada, bob.id, i64::MAX, None, None).await;
    reply.problem(422, "insufficient_funds");
    let reply = app.top_up(&ada, i64::MAX, None).await;
    reply.problem(422, "top_up_limit_exceeded");
    // A missing amount (or null) is a missing field.
    let reply = app
        .post_raw(Some(&ada.token), "/api/looppay/transfer", format!(r#"{{"to":"{}"}}"#, bob.id), None)
        .await;
    reply.field_problem(400, "invalid_request", "amount");
    let reply = app.post_raw(Some(&ada.token), "/api/looppay/topup", r#"{"amount":null}"#, None).await;
    reply.field_problem(400, "invalid_request", "amount");
    let reply = app.post_raw(Some(&ada.token), "/api/looppay/topup", "{}", None).await;
    reply.field_problem(400, "invalid_request", "amount");
    unmoved.check("amounts").await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn malformed_bodies_are_invalid_request_naming_the_field(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, position) = app.funded(1000).await;
    let bob = app.signup().await;
    let unmoved = Unmoved::new(&app, &pool, position, &[&ada, &bob]).await;
    let token = Some(ada.token.as_str());

    // Unknown fields.
    let body = format!(r#"{{"to":"{}","amount":10,"currency":"USD"}}"#, bob.id);
    app.post_raw(token, "/api/looppay/transfer", body, None).await.field_problem(
        400,
        "invalid_request",
        "currency",
    );
    let body = r#"{"amount":10,"account":"someone-else"}"#;
    app.post_raw(token, "/api/looppay/topup", body, None).await.field_problem(
        400,
        "invalid_request",
        "account",
    );
    let body = r#"{"to":"system.escrow","amount":10,"reference":"order:1","from":"x"}"#;
    app.post_raw(token, "/api/looppay/pay", body, None).await.field_problem(400, "invalid_request", "from");

    // Wrong types for to, and a missing one.
    for raw in ["42", "\"not-a-uuid\"", "null", "{}", "[]", "true"] {
        let body = format!(r#"{{"to":{raw},"amount":10}}"#);
        let reply = app.post_raw(token, "/api/looppay/transfer", body, None).await;
        reply.field_problem(400, "invalid_request", "to");
    }
    let reply = app.post_raw(token, "/api/looppay/transfer", r#"{"amount":10}"#, None).await;
    reply.field_problem(400, "invalid_request", "to");
    let reply = app
        .post_raw(
            token,
            "/api/looppay/pay",
            r#"{"to":["system.escrow"],"amount":10,"reference":"order:1"}"#,
            None,
        )
        .await;
    reply.field_problem(400, "invalid_request", "to");
    let reply = app.post_raw(token, "/api/looppay/pay", r#"{"to":"system.escrow","amount":10}"#, None).await;
    reply.field_problem(400, "invalid_request", "reference");

    // Not JSON at all, or not an object.
    for raw in [r#"{"to":"#, "amount=10", "", "   ", "[1,2]", "\"transfer\"", "null"] {
        let reply = app.post_raw(token, "/api/looppay/transfer", raw, None).await;
        reply.problem(400, "invalid_request");
    }
    // Not declared as JSON.
    let request = app
        .client
        .post(app.url("/api/looppay/topup"))
        .bearer_auth(&ada.token)
        .header("content-type", "text/plain")
        .body(r#"{"amount":10}"#);
    let reply = app.send("POST /api/looppay/topup as text".to_owned(), request).await;
    reply.problem(415, "unsupported_media_type");

    // Larger than the body limit: 413 before anything is parsed.
    let note = "x".repeat(loopync_testkit::TEST_BODY_LIMIT + 1);
    let reply = app.transfer(&ada, bob.id, 10, Some(&note), None).await;
    reply.problem(413, "payload_too_large");

    unmoved.check("malformed bodies").await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn movements_the_rules_refuse_leave_every_wallet_as_it_was(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, position) = app.funded(1000).await;
    let bob = app.signup().await;
    let unmoved = Unmoved::new(&app, &pool, position, &[&ada, &bob]).await;

    // Notes: 280 characters (not bytes) at most.
    let long = "é".repeat(281);
    app.transfer(&ada, bob.id, 10, Some(&long), None).await.problem(400, "invalid_note");
    let body = json!({"to": bob.id, "amount": 10, "reference": "order:1", "note": long});
    app.command(&ada.token, "/api/looppay/pay", &body, None).await.problem(400, "invalid_note");
    unmoved.check("long notes").await;

    // Oneself, nobody, too much.
    app.transfer(&ada, ada.id, 10, None, None).await.problem(422, "self_transfer");
    app.transfer(&ada, Uuid::now_v7(), 10, None, None).await.problem(404, "recipient_not_found");
    let reply = app.transfer(&ada, bob.id, 1001, None, None).await;
    let problem = reply.problem(422, "insufficient_funds");
    assert!(problem["detail"].as_str().expect("a detail").contains("1000"), "{problem}");
    app.transfer(&bob, ada.id, 1, None, None).await.problem(422, "insufficient_funds");
    unmoved.check("transfers").await;

    // Payments: references, accounts, funds.
    let references =
        ["order", "Order:1", ":1", "order:", "order:has space", "or-der:1", "order:1\n", "ordér:1"];
    let too_long = format!("order:{}", "1".repeat(160));
    for reference in references.iter().copied().chain([too_long.as_str()]) {
        let reply = app.pay(&ada, "system.escrow", 10, reference, None).await;
        reply.problem(400, "invalid_reference");
    }
    for to in ["system.funding", "bob", "system.anything", "", "00000000-0000-0000-0000-00000000000g"] {
        let reply = app.pay(&ada, to, 10, "order:1", None).await;
        reply.problem(400, "invalid_account");
    }
    app.pay(&ada, &ada.id.to_string(), 10, "order:1", None).await.problem(422, "self_transfer");
    app.pay(&ada, &Uuid::now_v7().to_string(), 10, "order:1", None).await.problem(404, "recipient_not_found");
    app.pay(&ada, "system.escrow", 1001, "order:1", None).await.problem(422, "insufficient_funds");
    app.pay(&bob, &ada.id.to_string(), 1, "order:1", None).await.problem(422, "insufficient_funds");
    unmoved.check("payments").await;

    // Refunds of nothing, or of invalid amounts.
    let reply = app.refund(&ada, Uuid::now_v7(), Some(10), None).await;
    reply.problem(404, "payment_not_found");
    let reply = app.pay(&ada, &bob.id.to_string(), 100, "order:9", None).await;
    let payment_id = loopync_testkit::uuid(&reply.created()["paymentId"]);
    let position = reply.pos();
    let after_payment = Unmoved::new(&app, &pool, position, &[&ada, &bob]).await;
    for raw in ["0", "-1", "2.5", "\"50\""] {
        let body = format!(r#"{{"amount":{raw}}}"#);
        let reply = app
            .post_raw(Some(&bob.token), &format!("/api/looppay/payments/{payment_id}/refund"), body, None)
            .await;
        reply.field_problem(400, "invalid_amount", "amount");
    }
    app.refund(&bob, payment_id, Some(101), None).await.problem(422, "refund_exceeds_payment");
    let reply = app.post_raw(Some(&bob.token), "/api/looppay/payments/not-a-uuid/refund", "{}", None).await;
    reply.field_problem(400, "invalid_request", "paymentId");
    let reply = app.get_at(&bob.token, "/api/looppay/payments/not-a-uuid", None).await;
    reply.field_problem(400, "invalid_request", "paymentId");
    after_payment.check("refunds").await;

    // A payee who spent the money cannot refund it.
    let reply = app.transfer(&bob, ada.id, 80, None, None).await;
    reply.created();
    let spent = Unmoved::new(&app, &pool, reply.pos(), &[&ada, &bob]).await;
    app.refund(&bob, payment_id, Some(50), None).await.problem(422, "insufficient_funds");
    spent.check("a refund of spent money").await;

    // A hold is not refundable until it is captured.
    let hold_id = Uuid::now_v7();
    let now = chrono::Utc::now();
    let hold = loopync_domain::looppay::PlaceHold {
        payment_id: hold_id,
        payer: loopync_domain::looppay::LedgerAccount::User(ada.id),
        payee: loopync_domain::looppay::LedgerAccount::User(bob.id),
        amount: credits(100),
        reference: "event:hold".to_owned(),
        expires_at: now + chrono::Duration::minutes(5),
        now,
    };
    let context = loopync_commands::CommandContext::actor("tests");
    let held = app.state.looppay.place_hold(hold, &context).await;
    let position = held.expect("hold").position.map(|p| p.to_string()).expect("the hold's position");
    let holding = Unmoved::new(&app, &pool, position, &[&ada, &bob]).await;
    app.refund(&bob, hold_id, Some(50), None).await.problem(409, "payment_not_refundable");
    app.refund(&ada, hold_id, None, None).await.problem(403, "forbidden");
    holding.check("a refund of a hold").await;

    // A note of exactly 280 characters is fine.
    let fine = "é".repeat(280);
    let reply = app.transfer(&ada, bob.id, 10, Some(&fine), None).await;
    assert_eq!(reply.created()["note"].as_str().map(|n| n.chars().count()), Some(280));
}

/// A top-up, refused or not.
async fn top_up(app: &TestApp, user: &User, amount: i64) -> Reply {
    app.top_up(user, amount, None).await
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn top_ups_over_the_single_or_daily_limit_are_refused(pool: PgPool) {
    let app = spawn_app(&pool, Options::default().with_limits(1000, 2500)).await;
    let ada = app.signup().await;

    let reply = top_up(&app, &ada, 1001).await;
    let problem = reply.problem(422, "top_up_limit_exceeded");
    assert!(problem["detail"].as_str().expect("a detail").contains("1000"), "{problem}");
    let first = top_up(&app, &ada, 1000).await;
    first.created();
    let reply = top_up(&app, &ada, 1000).await;
    reply.created();
    let position = reply.pos();
    let unmoved = Unmoved::new(&app, &pool, position, &[&ada]).await;
    let reply = top_up(&app, &ada, 600).await;
    let problem = reply.problem(422, "daily_limit_exceeded");
    assert!(problem["detail"].as_str().expect("a detail").contains("500 left"), "{problem}");
    unmoved.check("over the daily limit").await;
    let reply = top_up(&app, &ada, 500).await;
    reply.created();
    let position = reply.pos();
    assert_eq!(app.balance(&ada, &position).await, (2500, 0));
    top_up(&app, &ada, 1).await.problem(422, "daily_limit_exceeded");
    assert_eq!(app.balance(&ada, &position).await, (2500, 0));

    // Racing top-ups cannot pass the daily limit together.
    let carol = app.signup().await;
    let replies = futures::future::join_all((0..10).map(|_| top_up(&app, &carol, 1000))).await;
    let confirmed = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(confirmed, 2, "{:?}", replies.iter().map(|r| &r.text).collect::<Vec<_>>());
    for reply in replies.iter().filter(|r| r.status != 201) {
        reply.problem(422, "daily_limit_exceeded");
    }
    let position = latest(&replies);
    assert_eq!(app.balance(&carol, &position).await, (2000, 0));

    // The limits are per wallet.
    let bob = app.signup().await;
    let reply = top_up(&app, &bob, 1000).await;
    reply.created();
    assert_eq!(app.balance(&bob, &reply.pos()).await, (1000, 0));
    assert_eq!(loopync_testkit::events_of_type(&pool, "wallet.topped_up").await, 6);
}
