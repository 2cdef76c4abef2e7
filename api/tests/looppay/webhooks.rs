//! A webhook provider: top-ups stay pending until a signed notice settles them, exactly once.

use chrono::Utc;
use futures::future::join_all;
use loopync_api::looppay::{SIGNATURE_HEADER, WebhookProvider};
use loopync_testkit::{
    CHECKOUT_URL, Options, Reply, TestApp, User, WEBHOOK_SECRET, event_count, events_of_type, key, spawn_app,
    string, uuid,
};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

pub(crate) const WEBHOOK: &str = "/api/looppay/webhooks/webhook";

/// A notice body as the provider would send it.
pub(crate) fn notice(kind: &str, top_up_id: Uuid, account: Uuid, amount: i64) -> String {
    json!({
        "id": format!("evt_{}", Uuid::now_v7().simple()),
        "type": kind,
        "topUpId": top_up_id,
        "account": account,
        "amount": amount,
    })
    .to_string()
}

/// Delivers `body` to `path` with `signature` (none: no header).
pub(crate) async fn deliver_to(app: &TestApp, path: &str, body: &str, signature: Option<&str>) -> Reply {
    let mut request =
        app.client.post(app.url(path)).header("content-type", "application/json").body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    app.send(format!("POST {path}"), request).await
}

/// The signature header for `body` at `offset` seconds from now, with the right secret.
pub(crate) fn sign(body: &str, offset: i64) -> String {
    WebhookProvider::sign(WEBHOOK_SECRET.as_bytes(), Utc::now().timestamp() + offset, body.as_bytes())
}

/// Delivers `body`, freshly signed.
async fn deliver(app: &TestApp, body: &str) -> Reply {
    deliver_to(app, WEBHOOK, body, Some(&sign(body, 0))).await
}

/// Starts a top-up; asserts it is pending and moved nothing. Returns its id.
pub(crate) async fn pending_top_up(app: &TestApp, user: &User, amount: i64) -> (Uuid, String) {
    let reply = app.top_up(user, amount, None).await;
    let body = reply.created();
    let top_up_id = uuid(&body["topUpId"]);
    assert_eq!(body["status"], "pending", "{}", reply.text);
    assert_eq!(body["provider"], "webhook");
    assert_eq!(body["amount"], amount);
    assert_eq!(string(&body["checkoutUrl"]), CHECKOUT_URL.replace("{topUpId}", &top_up_id.to_string()));
    assert_eq!(body["balance"], json!({"available": 0, "held": 0, "currency": "LOOP"}), "{}", reply.text);
    (top_up_id, reply.pos())
}

async fn top_up_status(app: &TestApp, user: &User, top_up_id: Uuid, position: &str) -> String {
    let reply = app.get_at(&user.token, &format!("/api/looppay/topups/{top_up_id}"), Some(position)).await;
    string(&reply.fresh()["status"])
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_signed_confirmation_credits_a_pending_top_up_exactly_once(pool: PgPool) {
    let app = spawn_app(&pool, Options::webhook()).await;
    let ada = app.signup().await;
    let (top_up_id, position) = pending_top_up(&app, &ada, 2500).await;
    assert_eq!(app.balance(&ada, &position).await, (0, 0), "pending moves nothing");
    assert_eq!(top_up_status(&app, &ada, top_up_id, &position).await, "pending");
    assert_eq!(events_of_type(&pool, "wallet.topped_up").await, 0);

    let body = notice("top_up.succeeded", top_up_id, ada.id, 2500);
    let signature = sign(&body, 0);
    let reply = deliver_to(&app, WEBHOOK, &body, Some(&signature)).await;
    assert_eq!(reply.expect(200), &json!({"status": "applied"}));
    assert_eq!(events_of_type(&pool, "wallet.topped_up").await, 1);
    // The webhook answers no position; the top-up's own reads catch up with it.
    let position = app.top_up(&ada, 1, None).await.pos();
    assert_eq!(app.balance(&ada, &position).await, (2500, 0));
    assert_eq!(top_up_status(&app, &ada, top_up_id, &position).await, "confirmed");

    // The provider retries with a fresh signature: nothing more.
    let again = notice("top_up.succeeded", top_up_id, ada.id, 2500);
    let reply = deliver(&app, &again).await;
    assert_eq!(reply.expect(200), &json!({"status": "already_applied"}));
    // The very same delivery, replayed: answered, and nothing more.
    let reply = deliver_to(&app, WEBHOOK, &body, Some(&signature)).await;
    assert_eq!(reply.expect(200), &json!({"status": "already_applied"}));
    assert_eq!(events_of_type(&pool, "wallet.topped_up").await, 1);
    assert_eq!(app.balance(&ada, &position).await, (2500, 0));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_delivery_whose_effect_failed_is_applied_once_when_retried_verbatim(pool: PgPool) {
    let app = spawn_app(&pool, Options::webhook()).await;
    let ada = app.signup().await;
    let (top_up_id, _) = pending_top_up(&app, &ada, 1200).await;
    let body = notice("top_up.succeeded", top_up_id, ada.id, 1200);
    let signature = sign(&body, 0);

    // The event store fails the confirmation: the delivery is not applied.
    sqlx::query("ALTER TABLE events RENAME TO events_away").execute(&pool).await.unwrap();
    let failed = deliver_to(&app, WEBHOOK, &body, Some(&signature)).await;
    sqlx::query("ALTER TABLE events_away RENAME TO events").execute(&pool).await.unwrap();
    assert!(failed.status >= 500, "{}", failed.text);
    assert_eq!(events_of_type(&pool, "wallet.topped_up").await, 0);

    // The provider's verbatim retry credits it, once, and is answered 2xx; so is the next,
    // which moves nothing.
    for answer in ["applied", "already_applied"] {
        let reply = deliver_to(&app, WEBHOOK, &body, Some(&signature)).await;
        assert_eq!(reply.expect(200), &json!({"status": answer}));
    }
    assert_eq!(events_of_type(&pool, "wallet.topped_up").await, 1);
    let position = app.top_up(&ada, 1, None).await.pos();
    assert_eq!(app.balance(&ada, &position).await, (1200, 0));

    // The same notice id for another top-up is not a retry.
    let other = uuid(&app.top_up(&ada, 300, None).await.created()["topUpId"]);
    let mut reused: serde_json::Value = serde_json::from_str(&body).unwrap();
    reused["topUpId"] = json!(other);
    reused["amount"] = json!(300);
    let reused = reused.to_string();
    let reply = deliver_to(&app, WEBHOOK, &reused, Some(&sign(&reused, 0))).await;
    reply.problem(409, "webhook_replayed");
    assert_eq!(events_of_type(&pool, "wallet.topped_up").await, 1);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn unsigned_forged_stale_or_mismatched_notices_move_nothing(pool: PgPool) {
    let app = spawn_app(&pool, Options::webhook()).await;
    let ada = app.signup().await;
    let bob = app.signup().await;
    let (top_up_id, position) = pending_top_up(&app, &ada, 1000).await;
    let events = event_count(&pool).await;
    let body = notice("top_up.succeeded", top_up_id, ada.id, 1000);
    let now = Utc::now().timestamp();

    let forged = WebhookProvider::sign(b"not-the-secret", now, body.as_bytes());
    let stale = WebhookProvider::sign(WEBHOOK_SECRET.as_bytes(), now - 600, body.as_bytes());
    let future = WebhookProvider::sign(WEBHOOK_SECRET.as_bytes(), now + 600, body.as_bytes());
    let other_body = WebhookProvider::sign(WEBHOOK_SECRET.as_bytes(), now, b"{}");
    let good = WebhookProvider::sign(WEBHOOK_SECRET.as_bytes(), now, body.as_bytes());
    let v1 = good.split_once(",v1=").map(|(_, v1)| v1.to_owned()).expect("a v1 signature");
    let signatures = [
        None,
        Some(String::new()),
        Some("garbage".to_owned()),
        Some(forged),
        Some(stale),
        Some(future),
        Some(other_body),
        Some(format!("t={},v1={v1}", now + 7)),
        Some(format!("v1={v1}")),
    ];
    for signature in &signatures {
        let reply = deliver_to(&app, WEBHOOK, &body, signature.as_deref()).await;
        reply.problem(401, "invalid_signature");
    }
    // A body changed after signing.
    let tampered = body.replace("1000", "9000");
    let reply = deliver_to(&app, WEBHOOK, &tampered, Some(&good)).await;
    reply.problem(401, "invalid_signature");

    // Signed, but the amount is not the one requested.
    let reply = deliver(&app, &notice("top_up.succeeded", top_up_id, ada.id, 9000)).await;
    reply.problem(422, "amount_mismatch");
    // Signed, but about no top-up of this wallet.
    let reply = deliver(&app, &notice("top_up.succeeded", Uuid::now_v7(), ada.id, 1000)).await;
    reply.problem(404, "top_up_not_found");
    let reply = deliver(&app, &notice("top_up.succeeded", top_up_id, bob.id, 1000)).await;
    reply.problem(404, "top_up_not_found");
    // Signed, but not a notice.
    let reply = deliver(&app, r#"{"id":"evt_1","type":"top_up.refunded"}"#).await;
    reply.problem(400, "invalid_request");
    // Providers that do not send webhooks here.
    for provider in ["stripe", "dev"] {
        let path = format!("/api/looppay/webhooks/{provider}");
        let reply = deliver_to(&app, &path, &body, Some(&sign(&body, 0))).await;
        reply.problem(404, "provider_not_found");
    }

    assert_eq!(event_count(&pool).await, events, "nothing was appended");
    assert_eq!(app.balance(&ada, &position).await, (0, 0));
    assert_eq!(app.balance(&bob, &position).await, (0, 0));
    assert_eq!(top_up_status(&app, &ada, top_up_id, &position).await, "pending");

    // The genuine notice still works afterwards.
    let reply = deliver_to(&app, WEBHOOK, &body, Some(&good)).await;
    assert_eq!(reply.expect(200)["status"], "applied");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_failed_top_up_cannot_succeed_later_and_frees_the_daily_limit(pool: PgPool) {
    let app = spawn_app(&pool, Options::webhook().with_limits(1000, 1000)).await;
    let ada = app.signup().await;
    let (top_up_id, _) = pending_top_up(&app, &ada, 1000).await;
    // Pending top-ups count against the day.
    app.top_up(&ada, 1, None).await.problem(422, "daily_limit_exceeded");

    let reply = deliver(&app, &notice("top_up.failed", top_up_id, ada.id, 1000)).await;
    assert_eq!(reply.expect(200)["status"], "applied");
    let reply = deliver(&app, &notice("top_up.failed", top_up_id, ada.id, 1000)).await;
    assert_eq!(reply.expect(200)["status"], "already_applied");
    let reply = deliver(&app, &notice("top_up.succeeded", top_up_id, ada.id, 1000)).await;
    reply.problem(409, "top_up_already_settled");
    assert_eq!(events_of_type(&pool, "wallet.topped_up").await, 0);
    assert_eq!(events_of_type(&pool, "wallet.top_up_failed").await, 1);

    // The failed one no longer counts: the whole day's limit is free again.
    let (second, position) = pending_top_up(&app, &ada, 1000).await;
    assert_eq!(top_up_status(&app, &ada, top_up_id, &position).await, "failed");
    assert_eq!(app.balance(&ada, &position).await, (0, 0));
    let reply = deliver(&app, &notice("top_up.succeeded", second, ada.id, 1000)).await;
    assert_eq!(reply.expect(200)["status"], "applied");
    let reply = deliver(&app, &notice("top_up.failed", second, ada.id, 1000)).await;
    reply.problem(409, "top_up_already_settled");
    let position = app.transfer(&ada, app.signup().await.id, 1, None, None).await.pos();
    assert_eq!(app.balance(&ada, &position).await, (999, 0));
    assert_eq!(top_up_status(&app, &ada, second, &position).await, "confirmed");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn twenty_concurrent_confirmations_credit_once(pool: PgPool) {
    let app = spawn_app(&pool, Options::webhook()).await;
    let ada = app.signup().await;
    let (top_up_id, _) = pending_top_up(&app, &ada, 777).await;
    let body = notice("top_up.succeeded", top_up_id, ada.id, 777);
    // The same confirmation, each delivery signed at another second.
    let deliveries = (0..20).map(|i| {
        let signature = sign(&body, -i);
        let app = &app;
        let body = &body;
        async move { deliver_to(app, WEBHOOK, body, Some(&signature)).await }
    });
    let replies = join_all(deliveries).await;
    let statuses: Vec<String> = replies.iter().map(|reply| string(&reply.expect(200)["status"])).collect();
    assert_eq!(statuses.iter().filter(|s| *s == "applied").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| *s == "already_applied").count(), 19, "{statuses:?}");
    assert_eq!(events_of_type(&pool, "wallet.topped_up").await, 1);
    let position = app.top_up(&ada, 1, None).await.pos();
    assert_eq!(app.balance(&ada, &position).await, (777, 0));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_retried_pending_top_up_points_to_the_original_checkout(pool: PgPool) {
    let app = spawn_app(&pool, Options::webhook()).await;
    let ada = app.signup().await;
    let key = key();
    let first = app.top_up(&ada, 500, Some(&key)).await;
    let original = first.created().clone();
    let again = app.top_up(&ada, 500, Some(&key)).await;
    let replayed = again.created();
    assert_eq!(replayed["topUpId"], original["topUpId"]);
    assert_eq!(replayed["status"], "pending");
    assert_eq!(replayed["checkoutUrl"], original["checkoutUrl"], "the checkout of the original top-up");
}
