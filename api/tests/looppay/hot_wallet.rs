//! A hot wallet: 32 payers paying one account 20 times each, all at once. Every payment goes
//! through (or is refused for funds alone), nobody sees a `conflict`, the payee's stream has
//! no gaps and its balance is the sum of what was paid; with one API node and with two (two
//! pipelines over two event stores on one database, racing across processes: their appends
//! do conflict, and are decided again, out of the clients' sight).

use futures::future::join_all;
use loopync_testkit::{
    Options, Reply, TestApp, TestDb, User, replay_wallets, spawn_app, spawn_two_nodes, wallet_streams,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const PAYERS: usize = 32;
const PAYMENTS: usize = 20;
const PRICE: i64 = 100;
/// The whole burst must finish within this (no deadlock, no endless retrying).
const BOUND: Duration = Duration::from_secs(120);

/// What payer `i` is funded with: every fourth one can afford only 15 of its 20 payments.
fn funding(i: usize) -> i64 {
    if i.is_multiple_of(4) { 15 * PRICE } else { PAYMENTS as i64 * PRICE }
}

/// Funds the payers through `nodes[0]`, then fires every payment at once, payment `j` of payer
/// `i` through node `(i + j) % nodes.len()`, to `payee` (an account, or `None` for a new
/// merchant user). Checks the answers, the ledger and the read model.
async fn burst(nodes: &[TestApp], db: &TestDb, merchant: bool) {
    let app = &nodes[0];
    let mut payers: Vec<User> = Vec::new();
    for i in 0..PAYERS {
        let user = app.signup().await;
        app.top_up(&user, funding(i), None).await.created();
        payers.push(user);
    }
    let (payee, payee_account) = if merchant {
        let shop = app.signup().await;
        let id = shop.id.to_string();
        (Some(shop), id)
    } else {
        (None, "system.escrow".to_owned())
    };

    let started = Instant::now();
    let payments = payers.iter().enumerate().flat_map(|(i, payer)| {
        let payee_account = &payee_account;
        (0..PAYMENTS).map(move |j| {
            let node = &nodes[(i + j) % nodes.len()];
            async move { (i, node.pay(payer, payee_account, PRICE, &format!("order:{i}-{j}"), None).await) }
        })
    });
    let replies: Vec<(usize, Reply)> = tokio::time::timeout(BOUND, join_all(payments))
        .await
        .unwrap_or_else(|_| panic!("{} payments did not finish within {BOUND:?}", PAYERS * PAYMENTS));
    let elapsed = started.elapsed();

    let mut paid: BTreeMap<usize, i64> = BTreeMap::new();
    let mut outcomes: BTreeMap<(u16, String), usize> = BTreeMap::new();
    let mut unexpected = Vec::new();
    for (i, reply) in &replies {
        let code = reply.body["code"].as_str().unwrap_or_default().to_owned();
        *outcomes.entry((reply.status, code.clone())).or_default() += 1;
        match (reply.status, code.as_str()) {
            (201, _) => *paid.entry(*i).or_default() += 1,
            (422, "insufficient_funds") => {}
            _ => unexpected.push(format!("payer {i}: {} {}", reply.status, reply.text)),
        }
    }
    eprintln!(
        "{} node(s), payee {payee_account}: {} payments in {elapsed:?}: {outcomes:?}",
        nodes.len(),
        replies.len()
    );
    assert!(!outcomes.keys().any(|(status, _)| *status == 409), "a conflict reached a client: {outcomes:?}");
    // Two nodes race for the payee's stream: their appends lose races (and are decided again),
    // or they did not race at all. 640 payments at once leave no chance of a serialized burst.
    let conflicts: u64 = nodes.iter().map(TestApp::conflicts).sum();
    eprintln!("{} node(s): {conflicts} conflict(s)", nodes.len());
    if nodes.len() > 1 {
        assert!(conflicts > 0, "two nodes paying one payee never conflicted");
    }
    assert!(unexpected.is_empty(), "unexpected answers: {outcomes:?}: {unexpected:#?}");
    for i in 0..PAYERS {
        let expected = (funding(i) / PRICE).min(PAYMENTS as i64);
        assert_eq!(paid.get(&i).copied().unwrap_or(0), expected, "payer {i}'s successful payments");
    }
    let successes: i64 = paid.values().sum();

    // The ledger: the payee's stream is 1..n without gaps, one event per successful payment
    // (plus nothing else), and its balance is their sum.
    let streams = wallet_streams(&db.pool).await;
    let wallets = replay_wallets(&db.pool).await;
    let events = &streams[&payee_account];
    let versions: Vec<i64> = events.iter().map(|(recorded, _)| recorded.stream_version).collect();
    assert_eq!(versions, (1..=successes).collect::<Vec<_>>(), "the payee's stream versions");
    assert_eq!(wallets[&payee_account].available, successes * PRICE);
    assert_eq!(wallets[&payee_account].sequence, successes);
    for (i, payer) in payers.iter().enumerate() {
        let left = funding(i) - paid.get(&i).copied().unwrap_or(0) * PRICE;
        assert_eq!(wallets[&payer.id.to_string()].available, left, "payer {i}'s balance");
    }
    let total: i64 = wallets.values().map(|w| w.total()).sum();
    assert_eq!(total, (0..PAYERS).map(funding).sum::<i64>(), "money conserved");

    // The read model, caught up, agrees.
    nodes[0].caught_up().await;
    let row: (i64, i64, i64) = sqlx::query_as(
        "SELECT available, held, sequence FROM read_models.wallet_balances WHERE account = $1",
    )
    .bind(&payee_account)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(row, (successes * PRICE, 0, successes));

    // What the payee reads (a merchant reads their own balance; escrow has no owner).
    if let Some(shop) = &payee {
        let position = nodes[0].top_up(shop, 1, None).await.pos();
        assert_eq!(nodes[0].balance(shop, &position).await, (successes * PRICE + 1, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_node_hot_escrow_pays_everyone_in_turn() {
    let db = TestDb::create(20).await;
    let node = spawn_app(&db.pool, Options::default()).await;
    burst(std::slice::from_ref(&node), &db, false).await;
    drop(node);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_hot_escrow_race_across_event_stores_without_conflicts() {
    let db = TestDb::create(20).await;
    let nodes = spawn_two_nodes(&db, Options::default()).await;
    burst(&nodes, &db, false).await;
    drop(nodes);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_hot_merchant_race_across_event_stores_without_conflicts() {
    let db = TestDb::create(20).await;
    let nodes = spawn_two_nodes(&db, Options::default()).await;
    burst(&nodes, &db, true).await;
    drop(nodes);
    db.drop_database().await;
}
