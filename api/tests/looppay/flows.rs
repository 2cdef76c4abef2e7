//! The everyday flows: top-ups, transfers, payments, refunds, and reading them back.

use chrono::Utc;
use loopync_testkit::{Options, event_count, instant, int, replay_wallet, spawn_app, string, uuid};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeSet;
use uuid::Uuid;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_dev_top_up_is_confirmed_at_once_and_a_transfer_moves_it(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup().await;
    let bob = app.signup().await;
    let before_anything = Utc::now();

    let reply = app.top_up(&ada, 5000, None).await;
    let top_up = reply.created().clone();
    let top_up_id = uuid(&top_up["topUpId"]);
    assert_eq!(top_up["status"], "confirmed");
    assert_eq!(top_up["amount"], 5000);
    assert_eq!(top_up["currency"], "LOOP");
    assert_eq!(top_up["provider"], "dev");
    assert!(top_up.get("checkoutUrl").is_none(), "{top_up}");
    assert_eq!(top_up["balance"], json!({"available": 5000, "held": 0, "currency": "LOOP"}));
    let after_top_up_position = reply.pos();

    let status = app
        .get_at(&ada.token, &format!("/api/looppay/topups/{top_up_id}"), Some(&after_top_up_position))
        .await;
    let status = status.fresh();
    assert_eq!(status["topUpId"], top_up_id.to_string());
    assert_eq!(status["status"], "confirmed");
    assert_eq!(status["amount"], 5000);
    assert_eq!(status["currency"], "LOOP");
    assert_eq!(status["requestedAt"], status["settledAt"], "confirmed at once: {status}");
    let requested = string(&status["requestedAt"]);
    assert!(
        requested.len() == 24 && requested.ends_with('Z') && requested.as_bytes()[19] == b'.',
        "timestamps are RFC 3339 UTC with milliseconds and Z: {requested}"
    );
    assert_eq!(app.balance(&ada, &after_top_up_position).await, (5000, 0));
    let after_top_up = Utc::now();

    let reply = app.transfer(&ada, bob.id, 1200, Some("  for lunch 🍜  "), None).await;
    let sent = reply.created().clone();
    let position = reply.pos();
    let transaction_id = uuid(&sent["entryId"]);
    assert_eq!(sent["to"], bob.id.to_string());
    assert_eq!(sent["amount"], 1200);
    assert_eq!(sent["currency"], "LOOP");
    assert_eq!(sent["note"], "for lunch 🍜", "the note is trimmed");
    assert_eq!(sent["balance"], json!({"available": 3800, "held": 0, "currency": "LOOP"}));

    assert_eq!(app.balance(&ada, &position).await, (3800, 0));
    assert_eq!(app.balance(&bob, &position).await, (1200, 0));

    // The recipient's statement: the transfer, received, with who sent it and why.
    let reply = app.transactions(&bob, "", &position).await;
    let page = reply.fresh();
    let rows = page["data"].as_array().cloned().expect("a JSON array");
    assert_eq!(rows.len(), 1, "{page}");
    let row = &rows[0];
    assert_eq!(row["entryId"], transaction_id.to_string());
    assert_eq!(row["type"], "transfer_received");
    assert_eq!(row["amount"], 1200);
    assert_eq!(row["change"], 1200);
    assert_eq!(row["currency"], "LOOP");
    assert_eq!(row["counterparty"], ada.id.to_string());
    assert_eq!(row["note"], "for lunch 🍜");
    assert_eq!(row["paymentId"], Value::Null);
    assert_eq!(row["balanceAfter"], json!({"available": 1200, "held": 0, "currency": "LOOP"}));
    assert_eq!(page["pagination"]["nextCursor"], Value::Null);

    // The sender's: newest first, the same entry id on both sides.
    let reply = app.transactions(&ada, "", &position).await;
    let rows = reply.fresh()["data"].as_array().cloned().expect("a JSON array");
    assert_eq!(rows.len(), 2, "{}", reply.text);
    assert_eq!(rows[0]["type"], "transfer_sent");
    assert_eq!(rows[0]["entryId"], transaction_id.to_string());
    assert_eq!(rows[0]["change"], -1200);
    assert_eq!(rows[0]["counterparty"], bob.id.to_string());
    assert_eq!(rows[0]["balanceAfter"]["available"], 3800);
    assert_eq!(rows[1]["type"], "top_up");
    assert_eq!(rows[1]["entryId"], top_up_id.to_string());
    assert_eq!(rows[1]["counterparty"], "system.funding");
    assert_eq!(rows[1]["change"], 5000);
    assert_eq!(rows[1]["balanceAfter"]["available"], 5000);

    // Balances in the past.
    let path = format!("/api/looppay/balance?at={}", instant(after_top_up));
    let then = app.get_at(&ada.token, &path, Some(&position)).await;
    let then = then.fresh();
    assert_eq!((int(&then["available"]), int(&then["held"])), (5000, 0), "{then}");
    assert!(then["at"].is_string(), "a point-in-time balance names its instant: {then}");
    let path = format!("/api/looppay/balance?at={}", instant(before_anything));
    let reply = app.get_at(&ada.token, &path, Some(&position)).await;
    assert_eq!(reply.fresh()["available"], 0, "{}", reply.text);
    let path = format!("/api/looppay/balance?at={}", instant(Utc::now()));
    let reply = app.get_at(&ada.token, &path, Some(&position)).await;
    assert_eq!(reply.fresh()["available"], 3800, "{}", reply.text);
    let reply = app.get_at(&ada.token, "/api/looppay/balance", Some(&position)).await;
    assert!(reply.fresh().get("at").is_none(), "{}", reply.text);
    let reply = app.get_at(&ada.token, "/api/looppay/balance?at=yesterday", None).await;
    reply.problem(400, "invalid_request");

    // A top-up of someone else's is unknown to this caller.
    let reply = app
        .get_at(&bob.token, &format!("/api/looppay/topups/{top_up_id}"), Some(&after_top_up_position))
        .await;
    reply.problem(404, "top_up_not_found");
    let reply = app.get_at(&ada.token, &format!("/api/looppay/topups/{}", Uuid::now_v7()), None).await;
    reply.problem(404, "top_up_not_found");

    // The event store agrees with the read model.
    assert_eq!(replay_wallet(&pool, &ada.id.to_string()).await.available, 3800);
    assert_eq!(replay_wallet(&pool, &bob.id.to_string()).await.available, 1200);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn payments_to_users_and_escrow_and_partial_refunds(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (payer, _) = app.funded(5000).await;
    let merchant = app.signup().await;

    let reply = app.pay(&payer, &merchant.id.to_string(), 1000, "order:42", None).await;
    let payment = reply.created().clone();
    let payment_id = uuid(&payment["paymentId"]);
    assert_eq!(payment["payer"], payer.id.to_string());
    assert_eq!(payment["payee"], merchant.id.to_string());
    assert_eq!(payment["status"], "paid");
    assert_eq!(payment["amount"], 1000);
    assert_eq!(payment["refunded"], 0);
    assert_eq!(payment["reference"], "order:42");
    assert_eq!(payment["balance"], json!({"available": 4000, "held": 0, "currency": "LOOP"}));

    let reply = app.pay(&payer, "system.escrow", 700, "event:summer_fest", None).await;
    let escrow_payment = reply.created().clone();
    let position = reply.pos();
    assert_eq!(escrow_payment["payee"], "system.escrow");
    assert_eq!(escrow_payment["balance"]["available"], 3300);
    assert_eq!(app.balance(&payer, &position).await, (3300, 0));
    assert_eq!(app.balance(&merchant, &position).await, (1000, 0));
    assert_eq!(replay_wallet(&pool, "system.escrow").await.available, 700);

    // Both parties read the payment.
    for who in [&payer, &merchant] {
        let reply =
            app.get_at(&who.token, &format!("/api/looppay/payments/{payment_id}"), Some(&position)).await;
        let read = reply.fresh();
        assert_eq!(read["paymentId"], payment_id.to_string());
        assert_eq!(read["payer"], payer.id.to_string());
        assert_eq!(read["payee"], merchant.id.to_string());
        assert_eq!(read["status"], "paid");
        assert_eq!(read["amount"], 1000);
        assert_eq!(read["refunded"], 0);
        assert_eq!(read["reference"], "order:42");
        assert!(read.get("balance").is_none(), "{read}");
    }
    let reply = app.get_at(&payer.token, &format!("/api/looppay/payments/{}", Uuid::now_v7()), None).await;
    reply.problem(404, "payment_not_found");

    // A partial refund by the payee: a new entry from payee to payer.
    let reply = app.refund(&merchant, payment_id, Some(300), None).await;
    let refund = reply.created().clone();
    let position = reply.pos();
    let refund_id = uuid(&refund["refundId"]);
    assert_ne!(refund_id, payment_id, "a refund is an entry of its own");
    assert_eq!(refund["paymentId"], payment_id.to_string());
    assert_eq!(refund["amount"], 300);
    assert_eq!(refund["balance"], json!({"available": 700, "held": 0, "currency": "LOOP"}));
    assert_eq!(app.balance(&payer, &position).await, (3600, 0));
    assert_eq!(app.balance(&merchant, &position).await, (700, 0));
    let reply =
        app.get_at(&payer.token, &format!("/api/looppay/payments/{payment_id}"), Some(&position)).await;
    assert_eq!(reply.fresh()["refunded"], 300, "{}", reply.text);

    // More than what is left is refused, and nothing moves.
    let events = event_count(&pool).await;
    let reply = app.refund(&merchant, payment_id, Some(800), None).await;
    reply.problem(422, "refund_exceeds_payment");
    assert_eq!(event_count(&pool).await, events);
    assert_eq!(app.balance(&payer, &position).await, (3600, 0));
    assert_eq!(app.balance(&merchant, &position).await, (700, 0));

    // Everything that is left, then nothing.
    let reply = app.refund(&merchant, payment_id, None, None).await;
    assert_eq!(reply.created()["amount"], 700);
    let position = reply.pos();
    let reply = app.refund(&merchant, payment_id, None, None).await;
    reply.problem(422, "refund_exceeds_payment");
    assert_eq!(app.balance(&payer, &position).await, (4300, 0));
    assert_eq!(app.balance(&merchant, &position).await, (0, 0));
    let reply =
        app.get_at(&merchant.token, &format!("/api/looppay/payments/{payment_id}"), Some(&position)).await;
    let read = reply.fresh();
    assert_eq!((read["status"].clone(), read["refunded"].clone()), (json!("paid"), json!(1000)));

    // The statements.
    let reply = app.transactions(&merchant, "type=refund", &position).await;
    let rows = reply.fresh()["data"].as_array().cloned().expect("a JSON array");
    let kinds: Vec<&str> = rows.iter().filter_map(|r| r["type"].as_str()).collect();
    assert_eq!(kinds, ["refund_sent", "refund_sent"], "{}", reply.text);
    assert!(rows.iter().all(|r| r["paymentId"] == payment_id.to_string()), "{rows:?}");
    let reply = app.transactions(&payer, "", &position).await;
    let rows = reply.fresh()["data"].as_array().cloned().expect("a JSON array");
    let kinds: Vec<&str> = rows.iter().filter_map(|r| r["type"].as_str()).collect();
    assert_eq!(
        kinds,
        ["refund_received", "refund_received", "payment_sent", "payment_sent", "top_up"],
        "{}",
        reply.text
    );
    assert_eq!(rows[2]["counterparty"], "system.escrow");
    assert_eq!(rows[2]["reference"], "event:summer_fest");
    assert_eq!(rows[3]["counterparty"], merchant.id.to_string());
    assert_eq!(rows[1]["entryId"], refund_id.to_string(), "the first refund");
    assert_eq!((rows[0]["amount"].clone(), rows[1]["amount"].clone()), (json!(700), json!(300)));
    assert!(rows[0]["entryId"] != rows[1]["entryId"], "each refund is an entry");

    assert_eq!(replay_wallet(&pool, "system.escrow").await.available, 700);
    assert_eq!(replay_wallet(&pool, &payer.id.to_string()).await.available, 4300);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn concurrent_refunds_never_give_back_more_than_was_paid(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (payer, _) = app.funded(1000).await;
    let (shop, _) = app.funded(5000).await;
    let reply = app.pay(&payer, &shop.id.to_string(), 1000, "order:1", None).await;
    let payment_id = uuid(&reply.created()["paymentId"]);

    let replies =
        futures::future::join_all((0..10).map(|_| app.refund(&shop, payment_id, Some(300), None))).await;
    let refunded = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(refunded, 3, "{:?}", replies.iter().map(|r| &r.text).collect::<Vec<_>>());
    for reply in replies.iter().filter(|r| r.status != 201) {
        reply.problem(422, "refund_exceeds_payment");
    }
    let position = loopync_testkit::latest(&replies);
    assert_eq!(app.balance(&payer, &position).await, (900, 0));
    assert_eq!(app.balance(&shop, &position).await, (5000 + 1000 - 900, 0));
    let reply =
        app.get_at(&payer.token, &format!("/api/looppay/payments/{payment_id}"), Some(&position)).await;
    assert_eq!(reply.fresh()["refunded"], 900);
    assert_eq!(loopync_testkit::events_of_type(&pool, "payment.refunded").await, 3);
}

/// The `transactionId`s of a page.
fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .map(|rows| rows.iter().map(|r| string(&r["entryId"])).collect())
        .unwrap_or_default()
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn statements_filter_by_type_and_period_and_page_without_gaps(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, _) = app.funded(10_000).await;
    let bob = app.signup().await;

    let start = Utc::now();
    for amount in [100, 200, 300] {
        app.transfer(&ada, bob.id, amount, None, None).await.created();
    }
    let middle = Utc::now();
    app.top_up(&ada, 50, None).await.created();
    app.pay(&ada, "system.escrow", 10, "order:1", None).await.created();
    app.pay(&ada, "system.escrow", 20, "order:2", None).await.created();
    let reply = app.transfer(&bob, ada.id, 5, None, None).await;
    reply.created();
    let position = reply.pos();
    let end = Utc::now();

    let all = app.transactions(&ada, "limit=100", &position).await;
    let all = all.fresh().clone();
    let everything = ids(&all);
    assert_eq!(everything.len(), 8, "{all}");
    assert_eq!(everything.iter().collect::<BTreeSet<_>>().len(), 8, "one row per movement: {all}");
    // Newest first, and each row's balance follows from the one before it.
    let rows = all["data"].as_array().cloned().expect("a JSON array");
    for pair in rows.windows(2) {
        let (newer, older) = (&pair[0], &pair[1]);
        assert_eq!(
            int(&newer["balanceAfter"]["available"]) - int(&newer["change"]),
            int(&older["balanceAfter"]["available"]),
            "{newer} after {older}"
        );
        assert!(string(&newer["occurredAt"]) >= string(&older["occurredAt"]));
    }
    assert_eq!(rows[0]["balanceAfter"]["available"], 10_000 - 600 + 50 - 30 + 5);

    let kinds_of = |page: &Value| -> Vec<String> {
        page["data"].as_array().map(|r| r.iter().map(|r| string(&r["type"])).collect()).expect("a JSON array")
    };
    let reply = app.transactions(&ada, "type=transfer", &position).await;
    assert_eq!(
        kinds_of(reply.fresh()),
        ["transfer_received", "transfer_sent", "transfer_sent", "transfer_sent"],
        "{}",
        reply.text
    );
    let reply = app.transactions(&ada, "type=top_up", &position).await;
    let page = reply.fresh();
    assert_eq!(kinds_of(page), ["top_up", "top_up"]);
    let amounts: Vec<i64> =
        page["data"].as_array().map(|r| r.iter().map(|r| int(&r["amount"])).collect()).expect("a JSON array");
    assert_eq!(amounts, [50, 10_000]);
    let reply = app.transactions(&ada, "type=transfer_sent,payment_sent", &position).await;
    assert_eq!(kinds_of(reply.fresh()).len(), 5, "{}", reply.text);
    let reply = app.transactions(&bob, "type=top_up", &position).await;
    assert_eq!(kinds_of(reply.fresh()).len(), 0, "{}", reply.text);
    // An empty filter filters nothing.
    let unfiltered = kinds_of(app.transactions(&ada, "", &position).await.fresh());
    assert!(unfiltered.len() > 5, "{unfiltered:?}");
    assert_eq!(kinds_of(app.transactions(&ada, "type=", &position).await.fresh()), unfiltered);
    let reply = app.transactions(&ada, "type=bribe", &position).await;
    reply.field_problem(400, "invalid_request", "type");
    let reply = app.transactions(&ada, "type=transfer,bribe", &position).await;
    reply.field_problem(400, "invalid_request", "type");

    // Periods: `from` inclusive, `to` exclusive.
    let query = format!("from={}&to={}", instant(start), instant(middle));
    let reply = app.transactions(&ada, &query, &position).await;
    let page = reply.fresh();
    assert_eq!(kinds_of(page), ["transfer_sent", "transfer_sent", "transfer_sent"], "{}", reply.text);
    assert_eq!(ids(page), everything[4..7].to_vec());
    let reply = app.transactions(&ada, &format!("from={}", instant(middle)), &position).await;
    assert_eq!(ids(reply.fresh()), everything[..4].to_vec(), "{}", reply.text);
    let reply = app.transactions(&ada, &format!("to={}", instant(start)), &position).await;
    assert_eq!(kinds_of(reply.fresh()), ["top_up"], "{}", reply.text);
    let reply = app.transactions(&ada, &format!("from={}", instant(end)), &position).await;
    assert_eq!(ids(reply.fresh()).len(), 0, "{}", reply.text);
    let reply = app.transactions(&ada, "from=last-week", &position).await;
    reply.problem(400, "invalid_request");

    // Pages of 3: 3 + 3 + 2, no duplicates, no gaps, the last without a cursor.
    for (limit, sizes) in
        [(3, vec![3, 3, 2]), (4, vec![4, 4, 0]), (8, vec![8, 0]), (1, [vec![1; 8], vec![0]].concat())]
    {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut got_sizes = Vec::new();
        loop {
            let query = match &cursor {
                Some(cursor) => format!("limit={limit}&cursor={cursor}"),
                None => format!("limit={limit}"),
            };
            let reply = app.transactions(&ada, &query, &position).await;
            let page = reply.fresh().clone();
            assert_eq!(page["pagination"]["limit"], limit, "{page}");
            got_sizes.push(ids(&page).len());
            seen.extend(ids(&page));
            match page["pagination"]["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            assert!(got_sizes.len() <= 9, "paging does not end: {got_sizes:?}");
        }
        assert_eq!(got_sizes, sizes, "limit {limit}");
        assert_eq!(seen, everything, "limit {limit}: every row once, in order");
    }
    // Paging and filters together.
    let reply = app.transactions(&ada, "type=transfer&limit=2", &position).await;
    let first = reply.fresh().clone();
    let cursor = string(&first["pagination"]["nextCursor"]);
    let reply = app.transactions(&ada, &format!("type=transfer&limit=2&cursor={cursor}"), &position).await;
    let second = reply.fresh();
    assert_eq!(kinds_of(second), ["transfer_sent", "transfer_sent"]);
    assert_eq!(
        [ids(&first), ids(second)].concat(),
        [everything[0].clone()].into_iter().chain(everything[4..7].iter().cloned()).collect::<Vec<_>>()
    );

    // Bad cursors and limits.
    for query in ["cursor=abc", "cursor=0", "cursor=-3", "cursor=1.5", "cursor="] {
        let reply = app.transactions(&ada, query, &position).await;
        reply.field_problem(400, "invalid_request", "cursor");
    }
    for query in ["limit=0", "limit=101", "limit=-1"] {
        let reply = app.transactions(&ada, query, &position).await;
        reply.field_problem(400, "invalid_request", "limit");
    }
    let reply = app.transactions(&ada, "limit=ten", &position).await;
    reply.problem(400, "invalid_request");
    let reply = app.transactions(&ada, "limit=100", &position).await;
    assert_eq!(ids(reply.fresh()).len(), 8);
}
