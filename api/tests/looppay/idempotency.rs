//! `Idempotency-Key`: a retried request moves money once and answers like the original; the
//! same key with another request is refused.

use futures::future::join_all;
use loopync_testkit::{Options, event_count, events_of_type, key, spawn_app, uuid};
use sqlx::PgPool;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_retried_top_up_returns_the_original_and_credits_once(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup().await;
    let key = key();

    let first = app.top_up(&ada, 2500, Some(&key)).await;
    let original = first.created().clone();
    let again = app.top_up(&ada, 2500, Some(&key)).await;
    let replayed = again.created();
    assert_eq!(replayed["topUpId"], original["topUpId"], "the same top-up");
    assert_eq!(replayed["status"], "confirmed");
    assert_eq!(replayed["balance"], original["balance"], "the original answer");
    assert_eq!(again.position, first.position, "the original position");
    assert_eq!(app.balance(&ada, &again.pos()).await, (2500, 0), "credited once");
    assert_eq!(events_of_type(&pool, "wallet.topped_up").await, 1);

    // The same key for another amount is refused, and nothing moves.
    let events = event_count(&pool).await;
    let reply = app.top_up(&ada, 2600, Some(&key)).await;
    reply.problem(422, "idempotency_key_reused");
    assert_eq!(event_count(&pool).await, events);
    assert_eq!(app.balance(&ada, &again.pos()).await, (2500, 0));

    // Keys are scoped to their user: another user's identical key is another request.
    let bob = app.signup().await;
    let reply = app.top_up(&bob, 2500, Some(&key)).await;
    let theirs = reply.created();
    assert_ne!(theirs["topUpId"], original["topUpId"]);
    assert_eq!(app.balance(&bob, &reply.pos()).await, (2500, 0));
    assert_eq!(app.balance(&ada, &reply.pos()).await, (2500, 0));

    // A malformed key is refused before anything happens.
    for bad in ["", "has space", &"k".repeat(300)] {
        let reply = app.top_up(&ada, 100, Some(bad)).await;
        reply.problem(400, "invalid_idempotency_key");
    }
    assert_eq!(app.balance(&ada, &reply.pos()).await, (2500, 0));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_retried_transfer_moves_once_even_after_the_money_is_gone(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, _) = app.funded(1000).await;
    let bob = app.signup().await;
    let key = key();

    let first = app.transfer(&ada, bob.id, 1000, Some("rent"), Some(&key)).await;
    let original = first.created().clone();
    // Ada's wallet is empty now; the retry still gets the original answer, not a refusal.
    let again = app.transfer(&ada, bob.id, 1000, Some("rent"), Some(&key)).await;
    let replayed = again.created();
    assert_eq!(replayed["entryId"], original["entryId"]);
    assert_eq!(replayed["balance"]["available"], 0);
    assert_eq!(app.balance(&ada, &again.pos()).await, (0, 0));
    assert_eq!(app.balance(&bob, &again.pos()).await, (1000, 0), "moved once");
    assert_eq!(events_of_type(&pool, "wallet.transfer_sent").await, 1);

    // Another amount, note or recipient under the same key: refused.
    let carol = app.signup().await;
    let events = event_count(&pool).await;
    app.transfer(&ada, bob.id, 999, Some("rent"), Some(&key)).await.problem(422, "idempotency_key_reused");
    app.transfer(&ada, bob.id, 1000, Some("food"), Some(&key)).await.problem(422, "idempotency_key_reused");
    app.transfer(&ada, carol.id, 1000, Some("rent"), Some(&key)).await.problem(422, "idempotency_key_reused");
    // The same key on another endpoint is another request too.
    app.top_up(&ada, 1000, Some(&key)).await.problem(422, "idempotency_key_reused");
    app.pay(&ada, "system.escrow", 1000, "order:1", Some(&key)).await.problem(422, "idempotency_key_reused");
    assert_eq!(event_count(&pool).await, events, "nothing moved");
    assert_eq!(app.balance(&bob, &again.pos()).await, (1000, 0));
    assert_eq!(app.balance(&carol, &again.pos()).await, (0, 0));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn retried_payments_and_refunds_move_once(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, _) = app.funded(3000).await;
    let shop = app.signup().await;
    let pay_key = key();

    let first = app.pay(&ada, &shop.id.to_string(), 1200, "order:7", Some(&pay_key)).await;
    let original = first.created().clone();
    let again = app.pay(&ada, &shop.id.to_string(), 1200, "order:7", Some(&pay_key)).await;
    assert_eq!(again.created()["paymentId"], original["paymentId"]);
    let payment_id = uuid(&original["paymentId"]);
    assert_eq!(app.balance(&ada, &again.pos()).await, (1800, 0));
    assert_eq!(app.balance(&shop, &again.pos()).await, (1200, 0));
    assert_eq!(events_of_type(&pool, "payment.paid").await, 1);
    let reply = app.pay(&ada, &shop.id.to_string(), 1200, "order:8", Some(&pay_key)).await;
    reply.problem(422, "idempotency_key_reused");

    let refund_key = key();
    let first = app.refund(&shop, payment_id, Some(200), Some(&refund_key)).await;
    let refund = first.created().clone();
    let again = app.refund(&shop, payment_id, Some(200), Some(&refund_key)).await;
    assert_eq!(again.created()["refundId"], refund["refundId"]);
    let position = again.pos();
    assert_eq!(app.balance(&ada, &position).await, (2000, 0));
    assert_eq!(app.balance(&shop, &position).await, (1000, 0));
    let reply = app.get_at(&ada.token, &format!("/api/looppay/payments/{payment_id}"), Some(&position)).await;
    assert_eq!(reply.fresh()["refunded"], 200, "refunded once: {}", reply.text);
    let reply = app.refund(&shop, payment_id, Some(300), Some(&refund_key)).await;
    reply.problem(422, "idempotency_key_reused");
    assert_eq!(events_of_type(&pool, "payment.refunded").await, 1);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn concurrent_duplicates_of_one_request_move_once(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, _) = app.funded(5000).await;
    let bob = app.signup().await;
    let key = key();

    let replies = join_all((0..10).map(|_| app.transfer(&ada, bob.id, 700, None, Some(&key)))).await;
    let ids: Vec<_> = replies.iter().map(|reply| reply.created()["entryId"].clone()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one transaction: {ids:?}");
    let position = replies[0].pos();
    assert!(replies.iter().all(|r| r.position.as_deref() == Some(position.as_str())), "one position");
    assert_eq!(app.balance(&ada, &position).await, (4300, 0));
    assert_eq!(app.balance(&bob, &position).await, (700, 0));
    assert_eq!(events_of_type(&pool, "wallet.transfer_received").await, 1);

    let key = loopync_testkit::key();
    let replies = join_all((0..10).map(|_| app.top_up(&bob, 300, Some(&key)))).await;
    let ids: Vec<_> = replies.iter().map(|reply| reply.created()["topUpId"].clone()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one top-up: {ids:?}");
    let position = replies[0].pos();
    assert!(replies.iter().all(|r| r.position.as_deref() == Some(position.as_str())), "one position");
    assert_eq!(app.balance(&bob, &position).await, (1000, 0));
}
