//! A wallet's ledger history: the events as stored, in order, each chained to the one before
//! by its hash, and each hash recomputable from the payload returned.

use chrono::{Duration, Utc};
use loopync_commands::CommandContext;
use loopync_domain::given::credits;
use loopync_domain::identity::Role;
use loopync_domain::looppay::{GENESIS_HASH, LedgerAccount, PlaceHold, Release, WalletEntry};
use loopync_testkit::{Options, TestApp, User, int, spawn_app, string, uuid};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// Every page of a wallet's history at `limit` per page.
async fn all_pages(app: &TestApp, reader: &User, wallet: &str, limit: i64) -> (Vec<Value>, Vec<usize>) {
    let mut events = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/looppay/ledger/{wallet}/history?limit={limit}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let reply = app.get_at(&reader.token, &path, None).await;
        let page = reply.expect(200).clone();
        assert_eq!(page["walletId"], wallet, "{page}");
        assert_eq!(page["pagination"]["limit"], limit);
        let data = page["data"].as_array().cloned().expect("a JSON array");
        sizes.push(data.len());
        events.extend(data);
        match page["pagination"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(sizes.len() < 100, "history paging does not end");
    }
    (events, sizes)
}

/// Checks the chain of `events` (a whole history, oldest first) and returns its head hash.
fn verify(events: &[Value], account: &str) -> String {
    let mut previous = GENESIS_HASH.to_owned();
    let mut last_position = 0;
    for (index, event) in events.iter().enumerate() {
        let version = index as i64 + 1;
        assert_eq!(int(&event["streamVersion"]), version, "versions are 1..n without gaps: {event}");
        assert!(int(&event["globalPosition"]) > last_position, "log order: {event}");
        last_position = int(&event["globalPosition"]);
        assert_eq!(string(&event["prevHash"]), previous, "event {version} links to the one before");
        let hash = string(&event["hash"]);
        assert_eq!(hash.len(), 64, "{event}");
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{event}");
        let event_type = string(&event["eventType"]);
        let entry: WalletEntry = serde_json::from_value(event["payload"].clone())
            .unwrap_or_else(|e| panic!("event {version}'s payload is not a wallet entry: {e}: {event}"));
        assert_eq!(entry.account, account);
        assert_eq!(entry.sequence, version, "payload sequence = stream version");
        assert_eq!(entry.prev_hash, previous);
        assert_eq!(entry.hash, hash);
        assert_eq!(entry.expected_hash(&event_type), hash, "event {version}'s hash is recomputable");
        // The check can fail: any edit of the payload, or another type, gives another hash.
        let mut edited = entry.clone();
        edited.amount += 1;
        assert_ne!(edited.expected_hash(&event_type), hash);
        let mut edited = entry.clone();
        edited.available_after -= 1;
        assert_ne!(edited.expected_hash(&event_type), hash);
        assert_ne!(entry.expected_hash("wallet.topped_up_twice"), hash);
        previous = hash;
    }
    previous
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn the_owners_history_is_a_verifiable_hash_chain_in_pages(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, _) = app.funded(5000).await;
    let (bob, _) = app.funded(1000).await;
    let mut admin = app.signup().await;
    app.promote(&mut admin, Role::Admin).await;

    app.transfer(&ada, bob.id, 300, Some("quoted \"note\"\nwith a line"), None).await.created();
    app.pay(&ada, "system.escrow", 200, "event:gig", None).await.created();
    app.transfer(&bob, ada.id, 50, None, None).await.created();
    let reply = app.pay(&ada, &bob.id.to_string(), 400, "order:9", None).await;
    let payment_id = uuid(&reply.created()["paymentId"]);
    app.refund(&bob, payment_id, Some(100), None).await.created();

    // Holds, through the ledger (no endpoint places them yet): one captured, one voided.
    let looppay = &app.state.looppay;
    let context = CommandContext::actor("history-tests");
    let account = LedgerAccount::User(ada.id);
    let (captured, voided) = (Uuid::now_v7(), Uuid::now_v7());
    for payment_id in [captured, voided] {
        let now = Utc::now();
        let hold = PlaceHold {
            payment_id,
            payer: account,
            payee: LedgerAccount::Escrow,
            amount: credits(250),
            reference: "event:hold".to_owned(),
            expires_at: now + Duration::minutes(10),
            now,
        };
        looppay.place_hold(hold, &context).await.expect("hold");
    }
    looppay.capture_hold(captured, Some(credits(200)), &context).await.expect("capture");
    looppay.release_hold(voided, Release::Void, Utc::now(), &context).await.expect("void");

    let (events, sizes) = all_pages(&app, &ada, &ada.id.to_string(), 100).await;
    assert_eq!(sizes, [10]);
    let types: Vec<String> = events.iter().map(|e| string(&e["eventType"])).collect();
    assert_eq!(
        types,
        [
            "wallet.topped_up",
            "wallet.transfer_sent",
            "wallet.payment_sent",
            "wallet.transfer_received",
            "wallet.payment_sent",
            "wallet.refund_received",
            "wallet.hold_placed",
            "wallet.hold_placed",
            "wallet.hold_captured",
            "wallet.hold_released",
        ]
    );
    let head = verify(&events, &ada.id.to_string());
    let last = &events[events.len() - 1]["payload"];
    // 5000 - 300 - 200 + 50 - 400 + 100 - 250 - 250 + (250 - 200) + 250
    assert_eq!((int(&last["availableAfter"]), int(&last["heldAfter"])), (4050, 0), "{last}");

    // Pages: the same events, in order, whatever the page size.
    for (limit, expected) in
        [(3, vec![3, 3, 3, 1]), (10, vec![10, 0]), (4, vec![4, 4, 2]), (1, [vec![1; 10], vec![0]].concat())]
    {
        let (paged, sizes) = all_pages(&app, &ada, &ada.id.to_string(), limit).await;
        assert_eq!(sizes, expected, "limit {limit}");
        let ids = |events: &[Value]| events.iter().map(|e| string(&e["eventId"])).collect::<Vec<_>>();
        assert_eq!(ids(&paged), ids(&events), "limit {limit}");
    }
    let path = format!("/api/looppay/ledger/{}/history?limit=3&cursor=7", ada.id);
    let reply = app.get_at(&ada.token, &path, None).await;
    let page = reply.expect(200);
    let versions: Vec<i64> = page["data"]
        .as_array()
        .map(|d| d.iter().map(|e| int(&e["streamVersion"])).collect())
        .expect("a JSON array");
    assert_eq!(versions, [8, 9, 10], "the cursor is the last version seen");
    for query in ["cursor=abc", "cursor=0", "cursor=-1", "limit=0", "limit=101"] {
        let path = format!("/api/looppay/ledger/{}/history?{query}", ada.id);
        app.get_at(&ada.token, &path, None).await.problem(400, "invalid_request");
    }

    // The read model's head of the chain is the history's.
    app.caught_up().await;
    let (sequence, last_hash): (i64, String) =
        sqlx::query_as("SELECT sequence, last_hash FROM read_models.wallet_balances WHERE account = $1")
            .bind(ada.id.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((sequence, last_hash), (10, head));

    // Escrow's history, for an admin: every payment and capture it received, chained too.
    let (escrow, _) = all_pages(&app, &admin, "system.escrow", 2).await;
    let types: Vec<String> = escrow.iter().map(|e| string(&e["eventType"])).collect();
    assert_eq!(types, ["wallet.payment_received", "wallet.payment_received"]);
    verify(&escrow, "system.escrow");
    // Bob's, for Bob.
    let (bobs, _) = all_pages(&app, &bob, &bob.id.to_string(), 5).await;
    assert_eq!(bobs.len(), 5);
    verify(&bobs, &bob.id.to_string());
}
