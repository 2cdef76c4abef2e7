//! The ledger's invariants under load: 32 clients moving money between 16 users for 20 s,
//! retrying a fifth of their requests with the same `Idempotency-Key`. Afterwards, replayed
//! from the event store: money is conserved, nothing ever went negative, every entry has its
//! legs, every key moved money at most once, and the read model agrees with the replay.
//!
//! Runs on a multi-threaded runtime (so clients, handlers, the group-commit writer and the
//! projection really run in parallel), hence a database of its own rather than `sqlx::test`.

use loopync_domain::looppay::{LedgerAccount, WalletEvent, WalletEventKind};
use loopync_testkit::{
    Options, Reply, TestApp, TestDb, User, key, replay_wallets, spawn_app, wallet_streams,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use uuid::Uuid;

const USERS: usize = 16;
const CLIENTS: usize = 32;
const LOAD: Duration = Duration::from_secs(20);
const INITIAL: i64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    TopUp,
    Transfer,
    Pay,
}

impl Kind {
    /// The field of a success answer naming the entry it made.
    fn id_field(self) -> &'static str {
        match self {
            Self::TopUp => "topUpId",
            Self::Transfer => "entryId",
            Self::Pay => "paymentId",
        }
    }

    /// Wallet legs of one entry of this kind.
    fn legs(self) -> usize {
        match self {
            Self::TopUp => 1,
            Self::Transfer | Self::Pay => 2,
        }
    }
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// Per idempotency key: the kind, and every entry id a success answer named.
    keys: BTreeMap<String, (Kind, BTreeSet<Uuid>)>,
    /// Confirmed top-ups, by id, with their amounts.
    top_ups: BTreeMap<Uuid, i64>,
    /// Answers by kind, status and code.
    outcomes: BTreeMap<(Kind, u16, String), u64>,
    /// Answers no client should ever get.
    unexpected: Vec<String>,
    requests: u64,
    resent: u64,
}

impl Seen {
    fn record(&mut self, kind: Kind, key: &str, amount: i64, reply: &Reply) {
        self.requests += 1;
        let code = reply.body["code"].as_str().unwrap_or_default().to_owned();
        *self.outcomes.entry((kind, reply.status, code.clone())).or_default() += 1;
        let ids = &mut self.keys.entry(key.to_owned()).or_insert_with(|| (kind, BTreeSet::new())).1;
        match (reply.status, code.as_str()) {
            (201, _) => match Uuid::parse_str(reply.body[kind.id_field()].as_str().unwrap_or_default()) {
                Ok(id) => {
                    ids.insert(id);
                    if kind == Kind::TopUp {
                        self.top_ups.insert(id, amount);
                    }
                }
                Err(_) => self.unexpected.push(format!("{}: no id: {}", reply.what, reply.text)),
            },
            (422, "insufficient_funds" | "daily_limit_exceeded") => {}
            _ => self.unexpected.push(format!("{} → {} {}", reply.what, reply.status, reply.text)),
        }
    }
}

/// One client: random movements until `deadline`, a fifth of them sent twice with one key.
async fn client(
    app: Arc<TestApp>,
    users: Arc<Vec<User>>,
    seen: Arc<Mutex<Seen>>,
    seed: u64,
    deadline: Instant,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut n = 0_u64;
    while Instant::now() < deadline {
        n += 1;
        let from = &users[rng.random_range(0..USERS)];
        let to = loop {
            let to = &users[rng.random_range(0..USERS)];
            if to.id != from.id {
                break to;
            }
        };
        let amount = rng.random_range(1..=8_000);
        let roll = rng.random_range(0..100);
        let kind = match roll {
            0..30 => Kind::TopUp,
            30..70 => Kind::Transfer,
            _ => Kind::Pay,
        };
        let payee = if rng.random_bool(0.5) { "system.escrow".to_owned() } else { to.id.to_string() };
        let reference = format!("order:{seed}-{n}");
        let key = key();
        let send = || {
            let (app, key, payee, reference) = (&app, &key, &payee, &reference);
            async move {
                match kind {
                    Kind::TopUp => app.top_up(from, amount, Some(key)).await,
                    Kind::Transfer => app.transfer(from, to.id, amount, None, Some(key)).await,
                    Kind::Pay => app.pay(from, payee, amount, reference, Some(key)).await,
                }
            }
        };
        let resend = rng.random_range(0..100);
        let replies = if resend < 10 {
            // Sent twice at once.
            let (a, b) = tokio::join!(send(), send());
            vec![a, b]
        } else if resend < 20 {
            // Retried after the answer, as after a lost response.
            let first = send().await;
            let second = send().await;
            if first.status == 201 && (second.status != 201 || second.body != first.body) {
                let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                seen.unexpected
                    .push(format!("retry of {} differs: {} then {}", first.what, first.text, second.text));
            }
            vec![first, second]
        } else {
            vec![send().await]
        };
        let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        if replies.len() > 1 {
            seen.resent += 1;
        }
        for reply in &replies {
            seen.record(kind, &key, amount, reply);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn money_is_conserved_and_every_key_moves_once_under_concurrent_load() {
    let db = TestDb::create(24).await;
    let app = Arc::new(spawn_app(&db.pool, Options::default().with_limits(50_000, 1_000_000_000)).await);

    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut users = Vec::new();
    for _ in 0..USERS {
        let user = app.signup().await;
        let key = key();
        let reply = app.top_up(&user, INITIAL, Some(&key)).await;
        reply.created();
        seen.lock().unwrap_or_else(PoisonError::into_inner).record(Kind::TopUp, &key, INITIAL, &reply);
        users.push(user);
    }
    let users = Arc::new(users);

    let deadline = Instant::now() + LOAD;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            tokio::spawn(client(app.clone(), users.clone(), seen.clone(), 7919 * i as u64 + 1, deadline))
        })
        .collect();
    for client in clients {
        tokio::time::timeout(LOAD + Duration::from_secs(60), client)
            .await
            .expect("a client hung after the load")
            .expect("a client panicked");
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    eprintln!(
        "load: {} requests ({} sent twice) over {} keys; outcomes {:?}",
        seen.requests,
        seen.resent,
        seen.keys.len(),
        seen.outcomes
    );
    assert!(
        seen.unexpected.is_empty(),
        "{} unexpected answers, e.g. {:#?}",
        seen.unexpected.len(),
        &seen.unexpected[..seen.unexpected.len().min(10)]
    );
    let successes: u64 =
        seen.outcomes.iter().filter(|((_, status, _), _)| *status == 201).map(|(_, n)| n).sum();
    assert!(successes > 500, "the load did too little to mean anything: {successes} successes");
    let refusals: u64 =
        seen.outcomes.iter().filter(|((_, status, _), _)| *status == 422).map(|(_, n)| n).sum();
    assert!(
        refusals > 0,
        "no movement was ever refused for funds: amounts larger than balances were meant to be"
    );

    // Each key named one entry at most, whatever was resent.
    for (key, (kind, ids)) in &seen.keys {
        assert!(ids.len() <= 1, "{kind:?} key {key} made {} entries: {ids:?}", ids.len());
    }

    // The event store: every wallet replayed, its chain and balances checked.
    let streams = wallet_streams(&db.pool).await;
    let wallets = replay_wallets(&db.pool).await;
    let mut legs_by_key: BTreeMap<String, Vec<&WalletEvent>> = BTreeMap::new();
    let mut legs_by_entry: BTreeMap<Uuid, Vec<&WalletEvent>> = BTreeMap::new();
    let mut topped_up = 0_i64;
    for (account, events) in &streams {
        for (recorded, event) in events {
            let entry = event.entry();
            assert!(
                entry.available_after >= 0 && entry.held_after >= 0,
                "wallet-{account} went negative: {entry:?}"
            );
            assert_eq!(&entry.account, account);
            legs_by_key.entry(recorded.metadata.command_id.clone()).or_default().push(event);
            if event.kind() != WalletEventKind::ToppedUp {
                legs_by_entry.entry(entry.entry_id).or_default().push(event);
            } else {
                topped_up += entry.amount;
            }
        }
    }

    // Per key, in the ledger: at most one entry, with all its legs, the one the answer named.
    for (key, (kind, ids)) in &seen.keys {
        let legs = legs_by_key.get(key).map(Vec::as_slice).unwrap_or_default();
        let entries: BTreeSet<Uuid> = legs.iter().map(|e| e.entry().entry_id).collect();
        match ids.iter().next() {
            Some(id) => {
                assert_eq!(entries, BTreeSet::from([*id]), "{kind:?} key {key}: the ledger's entries");
                assert_eq!(legs.len(), kind.legs(), "{kind:?} key {key}: legs {legs:?}");
            }
            None => assert!(legs.is_empty(), "{kind:?} key {key} was refused but moved money: {legs:?}"),
        }
    }

    // Every transfer and payment has exactly two legs that mirror each other.
    for (entry_id, legs) in &legs_by_entry {
        assert_eq!(legs.len(), 2, "entry {entry_id} has {} legs: {legs:?}", legs.len());
        let (sent, received) = (legs[0].entry(), legs[1].entry());
        let (sent, received) = if sent.available_delta < 0 { (sent, received) } else { (received, sent) };
        let pair = (legs[0].kind(), legs[1].kind());
        assert!(
            matches!(
                pair,
                (WalletEventKind::TransferSent, WalletEventKind::TransferReceived)
                    | (WalletEventKind::TransferReceived, WalletEventKind::TransferSent)
                    | (WalletEventKind::PaymentSent, WalletEventKind::PaymentReceived)
                    | (WalletEventKind::PaymentReceived, WalletEventKind::PaymentSent)
            ),
            "entry {entry_id}: {pair:?}"
        );
        assert_eq!(sent.amount, received.amount);
        assert_eq!((sent.available_delta, received.available_delta), (-sent.amount, sent.amount));
        assert_eq!(sent.counterparty.as_deref(), Some(received.account.as_str()));
        assert_eq!(received.counterparty.as_deref(), Some(sent.account.as_str()));
    }

    // Money is conserved: what the wallets own is what came in through confirmed top-ups
    // (the funding account, which has no stream, mirrors it).
    let confirmed: i64 = seen.top_ups.values().sum();
    assert_eq!(topped_up, confirmed, "the ledger's top-ups are the ones the clients were confirmed");
    let owned: i64 = wallets.values().map(|w| w.total()).sum();
    assert_eq!(owned, confirmed, "money was created or destroyed");
    let accounts: BTreeSet<String> =
        users.iter().map(|u| u.id.to_string()).chain(["system.escrow".to_owned()]).collect();
    assert!(wallets.keys().all(|a| accounts.contains(a)), "a wallet nobody owns: {:?}", wallets.keys());
    assert!(wallets.values().all(|w| w.held == 0), "no holds were placed");
    assert!(wallets.contains_key(LedgerAccount::ESCROW), "escrow was paid");

    // The read model, caught up, equals the replay.
    app.caught_up().await;
    let rows: Vec<(String, i64, i64, i64, String)> = sqlx::query_as(
        "SELECT account, available, held, sequence, last_hash FROM read_models.wallet_balances",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let projected: BTreeMap<String, (i64, i64, i64, String)> = rows
        .into_iter()
        .map(|(a, available, held, sequence, hash)| (a, (available, held, sequence, hash)))
        .collect();
    let replayed: BTreeMap<String, (i64, i64, i64, String)> = wallets
        .iter()
        .map(|(a, w)| (a.clone(), (w.available, w.held, w.sequence, w.last_hash.clone())))
        .collect();
    assert_eq!(projected, replayed, "read_models.wallet_balances differs from the replay");

    // And so does what users read over HTTP.
    let position = app.top_up(&users[0], 1, None).await.pos();
    for user in users.iter().skip(1) {
        let wallet = &wallets[&user.id.to_string()];
        assert_eq!(app.balance(user, &position).await, (wallet.available, 0), "{}", user.id);
    }

    drop(app);
    db.drop_database().await;
}
