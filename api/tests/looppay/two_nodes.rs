//! Races between two nodes over HTTP: two apps on one database, each with its own pool,
//! command pipeline and event store, served on its own port, as two API processes are.
//!
//! Within one node, commands on the same streams take turns and never conflict, so only two
//! nodes race the way production does. Each test fires its race at both nodes at once, checks
//! that appends really lost races (the nodes' conflict counts; a round that happened to be
//! serialized is run again, up to `MOST_ROUNDS`), and then checks the business rule the race
//! could break: a payment refunded at most once, a confirmed top-up credited once, money
//! conserved.
//!
//! Runs on a multi-threaded runtime (so both nodes really run at once), hence databases of
//! their own rather than `sqlx::test`.

use crate::webhooks::{WEBHOOK, deliver_to, notice, pending_top_up, sign};
use futures::future::join_all;
use loopync_testkit::{
    Options, Reply, TestApp, TestDb, User, events_of_type, latest, replay_wallets, spawn_two_nodes, string,
    uuid,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// Rounds a race is run at most until it has conflicted at least once.
const MOST_ROUNDS: usize = 20;

/// Appends lost on either node so far.
fn conflicts(nodes: &[TestApp; 2]) -> u64 {
    nodes.iter().map(TestApp::conflicts).sum()
}

/// `(status, code)` of each answer, counted.
fn outcomes(replies: &[Reply]) -> BTreeMap<(u16, String), usize> {
    let mut outcomes = BTreeMap::new();
    for reply in replies {
        let code = reply.body["code"].as_str().unwrap_or("-").to_owned();
        *outcomes.entry((reply.status, code)).or_default() += 1;
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refunds_of_one_payment_racing_on_two_nodes_refund_it_once() {
    const PRICE: i64 = 1_000;
    const REFUNDS: usize = 16;
    let db = TestDb::create(20).await;
    let nodes = spawn_two_nodes(&db, Options::default()).await;
    let (shop, _) = nodes[0].funded(1).await;

    let mut payers: Vec<User> = Vec::new();
    let mut rounds = 0;
    while conflicts(&nodes) == 0 && rounds < MOST_ROUNDS {
        rounds += 1;
        let (payer, _) = nodes[0].funded(PRICE).await;
        let reply = nodes[0].pay(&payer, &shop.id.to_string(), PRICE, &format!("order:{rounds}"), None).await;
        let payment_id = uuid(&reply.created()["paymentId"]);
        // The whole payment back, asked for again and again, half of the times on each node.
        let refunds = (0..REFUNDS).map(|i| nodes[i % 2].refund(&shop, payment_id, None, None));
        let replies = join_all(refunds).await;
        let refunded: Vec<&Reply> = replies.iter().filter(|reply| reply.status == 201).collect();
        assert_eq!(refunded.len(), 1, "round {rounds}: one refund goes through: {:?}", outcomes(&replies));
        assert_eq!(refunded[0].body["amount"], PRICE, "{}", refunded[0].text);
        for reply in replies.iter().filter(|reply| reply.status != 201) {
            reply.problem(422, "refund_exceeds_payment");
        }
        let position = latest(&replies);
        assert_eq!(nodes[1].balance(&payer, &position).await, (PRICE, 0), "round {rounds}: refunded once");
        payers.push(payer);
    }
    let conflicts = conflicts(&nodes);
    eprintln!("refunds: {rounds} round(s), {conflicts} conflict(s)");
    assert!(conflicts > 0, "{rounds} rounds of refunds racing on two nodes never conflicted");

    // The ledger: one refund event per payment, every payer whole again, the shop as it was.
    assert_eq!(events_of_type(&db.pool, "payment.refunded").await, rounds as i64);
    let wallets = replay_wallets(&db.pool).await;
    for payer in &payers {
        assert_eq!(wallets[&payer.id.to_string()].available, PRICE);
    }
    assert_eq!(wallets[&shop.id.to_string()].available, 1);
    drop(nodes);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirmation_delivered_to_two_nodes_at_once_credits_the_top_up_once() {
    const AMOUNT: i64 = 777;
    const DELIVERIES: i64 = 20;
    let db = TestDb::create(20).await;
    let nodes = spawn_two_nodes(&db, Options::webhook()).await;

    let mut payers: Vec<User> = Vec::new();
    let mut rounds = 0;
    while conflicts(&nodes) == 0 && rounds < MOST_ROUNDS {
        rounds += 1;
        let ada = nodes[0].signup().await;
        let (top_up_id, _) = pending_top_up(&nodes[0], &ada, AMOUNT).await;
        let body = notice("top_up.succeeded", top_up_id, ada.id, AMOUNT);
        // The provider's retries of one confirmation, each signed at another second, landing
        // on both nodes behind a load balancer.
        let deliveries = (0..DELIVERIES).map(|i| {
            let (node, body, signature) = (&nodes[(i % 2) as usize], &body, sign(&body, -i));
            async move { deliver_to(node, WEBHOOK, body, Some(&signature)).await }
        });
        let replies = join_all(deliveries).await;
        let statuses: Vec<String> =
            replies.iter().map(|reply| string(&reply.expect(200)["status"])).collect();
        let applied = statuses.iter().filter(|status| *status == "applied").count();
        assert_eq!(applied, 1, "round {rounds}: {statuses:?}");
        assert_eq!(statuses.len() - applied, statuses.iter().filter(|s| *s == "already_applied").count());
        payers.push(ada);
    }
    let conflicts = conflicts(&nodes);
    eprintln!("confirmations: {rounds} round(s), {conflicts} conflict(s)");
    assert!(conflicts > 0, "{rounds} rounds of confirmations racing on two nodes never conflicted");

    // Credited once per top-up, in the ledger and in what each payer reads on the other node
    // (after a transfer, whose position the read waits for: the webhook answers none).
    assert_eq!(events_of_type(&db.pool, "wallet.topped_up").await, rounds as i64);
    let wallets = replay_wallets(&db.pool).await;
    let bob = nodes[0].signup().await;
    for payer in &payers {
        assert_eq!(wallets[&payer.id.to_string()].available, AMOUNT);
        let position = nodes[0].transfer(payer, bob.id, 1, None, None).await.pos();
        assert_eq!(nodes[1].balance(payer, &position).await, (AMOUNT - 1, 0));
    }
    drop(nodes);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfers_among_a_few_wallets_on_two_nodes_conserve_money() {
    const WALLETS: usize = 4;
    const FUNDS: i64 = 2_000;
    const TRANSFERS: usize = 120;
    let db = TestDb::create(24).await;
    let nodes = spawn_two_nodes(&db, Options::default()).await;
    let mut users = Vec::new();
    for _ in 0..WALLETS {
        users.push(nodes[0].funded(FUNDS).await.0);
    }

    let mut rounds = 0;
    let mut moved = 0;
    while conflicts(&nodes) == 0 && rounds < MOST_ROUNDS {
        rounds += 1;
        let mut rng = StdRng::seed_from_u64(rounds as u64);
        // Between random distinct wallets, 1 to 400 credits (some more than is left), through
        // either node; all at once.
        let transfers: Vec<(usize, usize, i64)> = (0..TRANSFERS)
            .map(|_| {
                let from = rng.random_range(0..WALLETS);
                let to = (from + rng.random_range(1..WALLETS)) % WALLETS;
                (from, to, rng.random_range(1..=400))
            })
            .collect();
        let sent = transfers.iter().enumerate().map(|(i, &(from, to, amount))| {
            nodes[i % 2].transfer(&users[from], users[to].id, amount, None, None)
        });
        let replies = join_all(sent).await;
        let outcomes = outcomes(&replies);
        for reply in &replies {
            match (reply.status, reply.body["code"].as_str()) {
                (201, _) => moved += 1,
                (422, Some("insufficient_funds")) => {}
                _ => panic!("round {rounds}: unexpected {}: {}: {outcomes:?}", reply.what, reply.text),
            }
        }
        eprintln!("round {rounds}: {outcomes:?}");
    }
    let conflicts = conflicts(&nodes);
    eprintln!("transfers: {rounds} round(s), {moved} moved, {conflicts} conflict(s)");
    assert!(conflicts > 0, "{rounds} rounds of transfers on two nodes never conflicted");
    assert!(moved > 0, "no transfer went through");

    // Replayed from the event store (chains and balances verified): nothing created or lost,
    // nothing negative, one transfer event pair per transfer that went through.
    let wallets = replay_wallets(&db.pool).await;
    let total: i64 = users.iter().map(|user| wallets[&user.id.to_string()].total()).sum();
    assert_eq!(total, FUNDS * WALLETS as i64, "money conserved");
    assert!(users.iter().all(|user| wallets[&user.id.to_string()].available >= 0));
    let sequences: i64 = users.iter().map(|user| wallets[&user.id.to_string()].sequence).sum();
    assert_eq!(sequences, WALLETS as i64 + 2 * moved, "a top-up each, and two legs per transfer");
    drop(nodes);
    db.drop_database().await;
}
