//! Nobody reads or moves another's money: anonymous callers, other users, payers, auditors,
//! admins, and roles that changed under a token.

use loopync_domain::identity::Role;
use loopync_testkit::{Options, event_count, spawn_app, string, uuid};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeSet;
use uuid::Uuid;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn every_endpoint_but_the_webhook_is_401_without_a_valid_token(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, _) = app.funded(1000).await;
    let bob = app.signup().await;
    let reply = app.pay(&ada, &bob.id.to_string(), 100, "order:1", None).await;
    let payment_id = uuid(&reply.created()["paymentId"]);
    let before = event_count(&pool).await;

    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/api/looppay/topup".into(), Some(json!({"amount": 100}))),
        (Method::POST, "/api/looppay/transfer".into(), Some(json!({"to": bob.id, "amount": 100}))),
        (
            Method::POST,
            "/api/looppay/pay".into(),
            Some(json!({"to": "system.escrow", "amount": 100, "reference": "order:1"})),
        ),
        (Method::GET, "/api/looppay/balance".into(), None),
        (Method::GET, "/api/looppay/transactions".into(), None),
        (Method::GET, format!("/api/looppay/topups/{}", Uuid::now_v7()), None),
        (Method::GET, format!("/api/looppay/payments/{payment_id}"), None),
        (Method::POST, format!("/api/looppay/payments/{payment_id}/refund"), Some(json!({"amount": 10}))),
        (Method::GET, format!("/api/looppay/ledger/{}/history", ada.id), None),
        (Method::GET, "/api/looppay/ledger/system.escrow/history".into(), None),
    ];
    // A token signed with another secret, and an expired-looking garbage one.
    let forged = {
        let header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
        format!("{header}.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl")
    };
    for (method, path, body) in endpoints {
        for token in [None, Some("not-a-token"), Some(forged.as_str())] {
            let reply = app.call(method.clone(), &path, token, body.as_ref(), None).await;
            let problem = reply.problem(401, "unauthorized");
            assert!(problem["requestId"].is_string(), "{method} {path}: {problem}");
        }
    }
    assert_eq!(event_count(&pool).await, before, "nothing was written");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn payments_are_read_by_their_parties_and_refunded_by_their_payee_only(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (payer, _) = app.funded(5000).await;
    let merchant = app.signup().await;
    let stranger = app.signup().await;
    let mut admin = app.signup().await;
    app.promote(&mut admin, Role::Admin).await;

    let reply = app.pay(&payer, &merchant.id.to_string(), 1000, "order:1", None).await;
    let payment_id = uuid(&reply.created()["paymentId"]);
    let reply = app.pay(&payer, "system.escrow", 500, "event:gig", None).await;
    let escrow_payment = uuid(&reply.created()["paymentId"]);
    let position = reply.pos();
    let path = format!("/api/looppay/payments/{payment_id}");

    // Reading: the parties and admins, nobody else (and strangers learn nothing).
    app.get_at(&payer.token, &path, Some(&position)).await.fresh();
    app.get_at(&merchant.token, &path, Some(&position)).await.fresh();
    app.get_at(&admin.token, &path, Some(&position)).await.fresh();
    app.get_at(&stranger.token, &path, Some(&position)).await.problem(404, "payment_not_found");
    let escrow_path = format!("/api/looppay/payments/{escrow_payment}");
    app.get_at(&merchant.token, &escrow_path, Some(&position)).await.problem(404, "payment_not_found");

    // Refunding: the payer may not (403), a stranger learns nothing (404).
    let events = event_count(&pool).await;
    app.refund(&payer, payment_id, Some(100), None).await.problem(403, "forbidden");
    app.refund(&stranger, payment_id, Some(100), None).await.problem(404, "payment_not_found");
    app.refund(&admin, payment_id, Some(100), None).await.problem(404, "payment_not_found");
    // Payments to escrow are refunded by admins only.
    app.refund(&payer, escrow_payment, Some(100), None).await.problem(403, "forbidden");
    app.refund(&merchant, escrow_payment, Some(100), None).await.problem(404, "payment_not_found");
    assert_eq!(event_count(&pool).await, events, "nothing moved");
    assert_eq!(app.balance(&payer, &position).await, (3500, 0));
    assert_eq!(app.balance(&merchant, &position).await, (1000, 0));

    let reply = app.refund(&merchant, payment_id, Some(100), None).await;
    assert_eq!(reply.created()["balance"]["available"], 900);
    let reply = app.refund(&admin, escrow_payment, Some(200), None).await;
    let refund = reply.created();
    assert_eq!(refund["amount"], 200);
    assert_eq!(refund["balance"]["available"], 300, "escrow's balance after: {refund}");
    let position = reply.pos();
    assert_eq!(app.balance(&payer, &position).await, (3800, 0));
    assert_eq!(app.balance(&admin, &position).await, (0, 0), "the admin's own wallet is not touched");
    assert_eq!(loopync_testkit::replay_wallet(&pool, "system.escrow").await.available, 300);

    // A demoted admin refunds nothing more, whatever the token says.
    app.set_role(admin.id, Role::User).await;
    app.refund(&admin, escrow_payment, Some(100), None).await.problem(404, "payment_not_found");
    assert_eq!(loopync_testkit::replay_wallet(&pool, "system.escrow").await.available, 300);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn ledger_history_is_for_its_owner_auditors_and_admins(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, _) = app.funded(1000).await;
    let bob = app.signup().await;
    let mut auditor = app.signup().await;
    let mut admin = app.signup().await;
    app.promote(&mut auditor, Role::Auditor).await;
    app.promote(&mut admin, Role::Admin).await;
    let reply = app.pay(&ada, "system.escrow", 100, "event:gig", None).await;
    let payment_id = string(&reply.created()["paymentId"]);
    let position = reply.pos();
    let history = format!("/api/looppay/ledger/{}/history", ada.id);
    let escrow = "/api/looppay/ledger/system.escrow/history";

    for who in [&ada, &auditor, &admin] {
        let reply = app.get_at(&who.token, &history, None).await;
        let page = reply.expect(200);
        assert_eq!(page["walletId"], ada.id.to_string());
        assert_eq!(page["data"].as_array().map(Vec::len), Some(2), "{}", reply.text);
    }
    let reply = app.get_at(&bob.token, &history, None).await;
    reply.problem(403, "forbidden");
    let reply = app.get_at(&ada.token, escrow, None).await;
    reply.problem(403, "forbidden");
    for who in [&auditor, &admin] {
        let reply = app.get_at(&who.token, escrow, None).await;
        assert_eq!(reply.expect(200)["data"].as_array().map(Vec::len), Some(1), "{}", reply.text);
    }
    // Auditors read any payment too.
    let payment_path = format!("/api/looppay/payments/{payment_id}");
    let reply = app.get_at(&auditor.token, &payment_path, Some(&position)).await;
    assert_eq!(reply.fresh()["payer"], ada.id.to_string());

    // Not wallets.
    for wallet in ["system.funding", "nobody", "SYSTEM.ESCROW"] {
        let reply = app.get_at(&auditor.token, &format!("/api/looppay/ledger/{wallet}/history"), None).await;
        reply.field_problem(400, "invalid_account", "walletId");
    }

    // An auditor demoted to user is refused at once, even with the auditor token.
    app.set_role(auditor.id, Role::User).await;
    app.get_at(&auditor.token, &history, None).await.problem(403, "forbidden");
    app.get_at(&auditor.token, escrow, None).await.problem(403, "forbidden");
    app.get_at(&auditor.token, &payment_path, None).await.problem(404, "payment_not_found");
    // And a user promoted without a new token is not an auditor yet.
    app.set_role(bob.id, Role::Auditor).await;
    app.get_at(&bob.token, &history, None).await.problem(403, "forbidden");
    // The owner still reads their own.
    app.get_at(&ada.token, &history, None).await.expect(200);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn balances_and_statements_only_ever_show_the_callers_own_wallet(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, _) = app.funded(300).await;
    let (bob, _) = app.funded(5000).await;
    let carol = app.signup().await;
    let mut bobs = BTreeSet::new();
    for amount in [100, 200, 300] {
        let reply = app.transfer(&bob, carol.id, amount, None, None).await;
        bobs.insert(string(&reply.created()["entryId"]));
    }
    let reply = app.pay(&bob, "system.escrow", 50, "order:5", None).await;
    bobs.insert(string(&reply.created()["paymentId"]));
    let reply = app.top_up(&bob, 10, None).await;
    bobs.insert(string(&reply.created()["topUpId"]));
    let position = reply.pos();

    for query in
        ["", "limit=100", "type=transfer", &format!("account={}", bob.id), &format!("userId={}", bob.id)]
    {
        let reply = app.transactions(&ada, query, &position).await;
        let rows = reply.fresh()["data"].as_array().cloned().unwrap_or_default();
        let ids: BTreeSet<String> = rows.iter().map(|r| string(&r["entryId"])).collect();
        assert!(ids.is_disjoint(&bobs), "{query}: Bob's movements in Ada's statement: {}", reply.text);
        assert!(rows.iter().all(|r| r["type"] == "top_up"), "{query}: {}", reply.text);
    }
    for query in ["", &format!("?account={}", bob.id), &format!("?userId={}", bob.id)] {
        let reply = app.get_at(&ada.token, &format!("/api/looppay/balance{query}"), Some(&position)).await;
        assert_eq!(reply.fresh()["available"], 300, "{query}: {}", reply.text);
    }
    let reply = app.transactions(&carol, "", &position).await;
    let rows = reply.fresh()["data"].as_array().cloned().expect("a JSON array");
    assert_eq!(rows.len(), 3, "{}", reply.text);
    assert!(rows.iter().all(|r| r["type"] == "transfer_received" && r["counterparty"] == bob.id.to_string()));
    assert_eq!(app.balance(&carol, &position).await, (600, 0));
    assert_eq!(app.balance(&bob, &position).await, (5000 - 600 - 50 + 10, 0));
}
