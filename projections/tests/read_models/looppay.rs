//! The LoopPay read models against real PostgreSQL: movements are decided by the domain
//! (`loopync_domain::looppay`) and appended atomically through the command pipeline, read
//! back from the log and applied the way the runtime applies them — a batch per transaction,
//! in the generation's schema — and read through the `read_models` views.

use crate::generation::{Generation, ok, pipeline};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use loopync_commands::{
    CommandContext, CommandPipeline, DecisionEvents, DecisionIds, DecisionLoaded, Loaded, Streams,
};
use loopync_domain::Decision;
use loopync_domain::given::credits;
use loopync_domain::looppay::{
    CaptureHold, LedgerAccount, LedgerError, Pay, Payment, PlaceHold, Refund, Release, ReleaseHold,
    TopUpLimits, Transfer, Wallet, WalletCommand, WalletEvent,
};
use loopync_projections::looppay::{
    self as ledger, BalanceRow, LedgerReadModel, PaymentRow, TopUpRow, TransactionFilter, TransactionRow,
};
use loopync_projections::projection::LiveUpdate;
use sqlx::PgPool;
use sqlx::types::Uuid;

// ----------------------------------------------------------------------------------------------
// Harness
// ----------------------------------------------------------------------------------------------

/// `minutes` after noon on 2 November 2026.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).single().expect("no such time") + TimeDelta::minutes(minutes)
}

const LIMITS: TopUpLimits = TopUpLimits { per_top_up: 1_000_000, daily: 100_000_000, pending: 100 };
const ESCROW: &str = LedgerAccount::ESCROW;

fn user() -> LedgerAccount {
    LedgerAccount::User(Uuid::now_v7())
}

/// The write side: every movement decided by the domain and appended atomically.
struct Movements {
    pipeline: CommandPipeline,
    context: CommandContext,
}

impl Movements {
    fn new(pool: &PgPool) -> Self {
        Self { pipeline: pipeline(pool), context: CommandContext::actor("looppay-tests") }
    }

    /// A wallet command on the stream `wallet-<stream_id>`.
    async fn wallet(&self, stream_id: String, command: WalletCommand) -> Vec<WalletEvent> {
        ok(self.pipeline.execute::<Wallet>(stream_id, command, &self.context).await).events
    }

    /// A top-up, confirmed at once or left pending.
    async fn top_up(&self, account: LedgerAccount, amount: i64, confirmed: bool, now: DateTime<Utc>) -> Uuid {
        let top_up_id = Uuid::now_v7();
        let command = WalletCommand::RequestTopUp {
            account,
            top_up_id,
            amount: credits(amount),
            confirmed,
            limits: LIMITS,
            now,
        };
        assert_eq!(self.wallet(account.to_string(), command).await.len(), 1);
        top_up_id
    }

    async fn confirm(&self, account: LedgerAccount, top_up_id: Uuid, now: DateTime<Utc>) {
        self.wallet(account.to_string(), WalletCommand::ConfirmTopUp { account, top_up_id, now }).await;
    }

    async fn fail(&self, account: LedgerAccount, top_up_id: Uuid, now: DateTime<Utc>) {
        self.wallet(account.to_string(), WalletCommand::FailTopUp { account, top_up_id, now }).await;
    }

    /// A decision, which must be accepted.
    async fn decide<D>(&self, decision: &D) -> DecisionEvents<D>
    where
        D: Decision<Error = LedgerError>,
        DecisionLoaded<D>: Streams<Ids = DecisionIds<D>, Events = DecisionEvents<D>>,
    {
        ok(self.pipeline.decide(decision, &self.context).await).events
    }

    async fn transfer(
        &self,
        from: LedgerAccount,
        to: LedgerAccount,
        amount: i64,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Uuid {
        let command = Transfer {
            entry_id: Uuid::now_v7(),
            from,
            to,
            amount: credits(amount),
            note: note.map(str::to_owned),
            now,
        };
        self.decide(&command).await;
        command.entry_id
    }

    async fn pay(
        &self,
        payer: LedgerAccount,
        payee: LedgerAccount,
        amount: i64,
        reference: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Uuid {
        let command = Pay {
            payment_id: Uuid::now_v7(),
            payer,
            payee,
            amount: credits(amount),
            reference: reference.to_owned(),
            note: note.map(str::to_owned),
            now,
        };
        self.decide(&command).await;
        command.payment_id
    }

    /// A hold on the stream `payment-<payment_stream>`, which need not be its payment's id: a
    /// decision never writes such a stream, so this goes the pipeline's general way.
    async fn place_hold(&self, payment_stream: String, command: &PlaceHold) {
        ok(self
            .pipeline
            .run::<(Loaded<Wallet>, Loaded<Payment>), LedgerError, _>(
                (command.payer.to_string(), payment_stream),
                "looppay.hold",
                command,
                &self.context,
                |(payer, payment)| command.decide((&payer.state, &payment.state)),
            )
            .await);
    }

    async fn hold(
        &self,
        payer: LedgerAccount,
        payee: LedgerAccount,
        amount: i64,
        reference: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Uuid {
        let command = PlaceHold {
            payment_id: Uuid::now_v7(),
            payer,
            payee,
            amount: credits(amount),
            reference: reference.to_owned(),
            expires_at,
            now,
        };
        self.decide(&command).await;
        command.payment_id
    }

    async fn capture(
        &self,
        payment_id: Uuid,
        payer: LedgerAccount,
        payee: LedgerAccount,
        amount: Option<i64>,
        now: DateTime<Utc>,
    ) {
        self.decide(&CaptureHold { payment_id, accounts: (payer, payee), amount: amount.map(credits), now })
            .await;
    }

    async fn release(&self, payment_id: Uuid, payer: LedgerAccount, why: Release, now: DateTime<Utc>) {
        self.decide(&ReleaseHold { payment_id, payer, why, now }).await;
    }

    async fn refund(
        &self,
        payment_id: Uuid,
        payer: LedgerAccount,
        payee: LedgerAccount,
        amount: Option<i64>,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Uuid {
        let command = Refund {
            payment_id,
            accounts: (payer, payee),
            refund_id: Uuid::now_v7(),
            amount: amount.map(credits),
            reason: reason.map(str::to_owned),
            now,
        };
        self.decide(&command).await;
        command.refund_id
    }
}

async fn balance(pool: &PgPool, account: LedgerAccount) -> BalanceRow {
    ok(ledger::balance(pool, &account.to_string()).await)
        .unwrap_or_else(|| panic!("no balance for {account}"))
}

/// `(available, held, sequence)` of a wallet.
async fn balances(pool: &PgPool, account: LedgerAccount) -> (i64, i64, i64) {
    let row = balance(pool, account).await;
    (row.available, row.held, row.sequence)
}

async fn statement(pool: &PgPool, account: LedgerAccount) -> Vec<TransactionRow> {
    ok(ledger::transactions(pool, &account.to_string(), &TransactionFilter::default(), None, 200).await)
}

/// `(kind, available_delta, held_delta, available_after, held_after)` of every statement row,
/// oldest first.
async fn movements(pool: &PgPool, account: LedgerAccount) -> Vec<(String, i64, i64, i64, i64)> {
    let mut rows = statement(pool, account).await;
    rows.reverse();
    rows.into_iter()
        .map(|r| (r.kind, r.available_delta, r.held_delta, r.available_after, r.held_after))
        .collect()
}

async fn payment(pool: &PgPool, payment_id: Uuid) -> PaymentRow {
    ok(ledger::payment(pool, payment_id).await).unwrap_or_else(|| panic!("no payment {payment_id}"))
}

async fn top_up(pool: &PgPool, top_up_id: Uuid) -> TopUpRow {
    ok(ledger::top_up(pool, top_up_id).await).unwrap_or_else(|| panic!("no top-up {top_up_id}"))
}

/// The hash of the last event of a wallet's stream.
async fn head_hash(pool: &PgPool, account: LedgerAccount) -> String {
    ok(sqlx::query_scalar(
        "SELECT payload->>'hash' FROM events WHERE stream_name = $1 ORDER BY stream_version DESC LIMIT 1",
    )
    .bind(format!("wallet-{account}"))
    .fetch_one(pool)
    .await)
}

fn balance_update(account: LedgerAccount, available: i64, held: i64, sequence: i64) -> LiveUpdate {
    let Some(user_id) = account.user() else { panic!("{account} is not a user's wallet") };
    LiveUpdate {
        user_id,
        kind: "balance_updated",
        data: serde_json::json!({ "available": available, "held": held, "currency": "LOOP", "sequence": sequence }),
    }
}

/// Live updates in a deterministic order (the projection sorts them by account).
fn sorted(mut updates: Vec<LiveUpdate>) -> Vec<LiveUpdate> {
    updates.sort_by_key(|update| update.user_id.to_string());
    updates
}

// ----------------------------------------------------------------------------------------------
// Top-ups
// ----------------------------------------------------------------------------------------------

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn top_ups_credit_the_wallet_and_track_their_status(pool: PgPool) {
    let ledger = Movements::new(&pool);
    let mut generation = Generation::create(&pool, LedgerReadModel, 1, true).await;
    let ada = user();

    let instant = ledger.top_up(ada, 5_000, true, at(1)).await;
    let requested = ledger.top_up(ada, 3_000, false, at(2)).await;
    let failing = ledger.top_up(ada, 2_000, false, at(3)).await;
    // Confirmed in the request's batch.
    let quick = ledger.top_up(ada, 700, false, at(4)).await;
    ledger.confirm(ada, quick, at(5)).await;
    let first = generation.catch_up(&pool, 100).await;
    assert_eq!(first, vec![balance_update(ada, 5_700, 0, 5)]);
    assert_eq!(
        top_up(&pool, requested).await,
        TopUpRow {
            top_up_id: requested,
            account: ada.to_string(),
            amount: 3_000,
            status: "pending".into(),
            requested_at: at(2),
            settled_at: None,
        }
    );

    // Settled in later batches, one event each.
    ledger.confirm(ada, requested, at(10)).await;
    ledger.fail(ada, failing, at(11)).await;
    let pending = ledger.top_up(ada, 1_000, false, at(12)).await;
    let later = generation.catch_up(&pool, 1).await;
    assert_eq!(
        later,
        vec![
            balance_update(ada, 8_700, 0, 6),
            balance_update(ada, 8_700, 0, 7),
            balance_update(ada, 8_700, 0, 8),
        ],
        "a request or a failure moves nothing but still advances the wallet's chain"
    );

    // A top-up confirmed at once was requested when it was confirmed.
    let instant_row = top_up(&pool, instant).await;
    assert_eq!(
        (instant_row.status.as_str(), instant_row.amount, instant_row.requested_at, instant_row.settled_at),
        ("confirmed", 5_000, at(1), Some(at(1)))
    );
    let quick_row = top_up(&pool, quick).await;
    assert_eq!(
        (quick_row.status.as_str(), quick_row.requested_at, quick_row.settled_at),
        ("confirmed", at(4), Some(at(5)))
    );
    assert_eq!(
        top_up(&pool, requested).await,
        TopUpRow {
            top_up_id: requested,
            account: ada.to_string(),
            amount: 3_000,
            status: "confirmed".into(),
            requested_at: at(2),
            settled_at: Some(at(10)),
        }
    );
    let failed_row = top_up(&pool, failing).await;
    assert_eq!(
        (failed_row.status.as_str(), failed_row.amount, failed_row.requested_at, failed_row.settled_at),
        ("failed", 2_000, at(3), Some(at(11)))
    );
    let pending_row = top_up(&pool, pending).await;
    assert_eq!((pending_row.status.as_str(), pending_row.settled_at), ("pending", None));
    assert_eq!(ok(ledger::top_up(&pool, Uuid::now_v7()).await), None);

    // Balances: the three confirmations; the chain counts every event.
    let row = balance(&pool, ada).await;
    assert_eq!(
        row,
        BalanceRow {
            account: ada.to_string(),
            available: 8_700,
            held: 0,
            sequence: 8,
            last_hash: head_hash(&pool, ada).await,
            updated_at: at(12),
        }
    );

    // Statement: only the confirmations, newest first, from system.funding.
    let rows = statement(&pool, ada).await;
    let summary: Vec<(i64, &str, i64, i64, Option<Uuid>)> = rows
        .iter()
        .map(|r| (r.sequence, r.kind.as_str(), r.amount, r.available_after, r.top_up_id))
        .collect();
    assert_eq!(
        summary,
        vec![
            (6, "top_up", 3_000, 8_700, Some(requested)),
            (5, "top_up", 700, 5_700, Some(quick)),
            (1, "top_up", 5_000, 5_000, Some(instant)),
        ]
    );
    for row in &rows {
        assert_eq!(row.counterparty.as_deref(), Some(LedgerAccount::FUNDING));
        assert_eq!((row.available_delta, row.held_delta, row.held_after), (row.amount, 0, 0));
        assert_eq!(Some(row.entry_id), row.top_up_id);
        assert_eq!((row.payment_id, row.reference.as_deref(), row.note.as_deref()), (None, None, None));
    }
}

// ----------------------------------------------------------------------------------------------
// Transfers
// ----------------------------------------------------------------------------------------------

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn transfers_record_both_legs_with_counterparty_and_note(pool: PgPool) {
    let ledger = Movements::new(&pool);
    let mut generation = Generation::create(&pool, LedgerReadModel, 1, true).await;
    let (ada, grace, alan) = (user(), user(), user());
    ledger.top_up(ada, 10_000, true, at(1)).await;
    let dinner = ledger.transfer(ada, grace, 2_500, Some("dinner 🍝"), at(2)).await;
    ledger.transfer(grace, alan, 500, None, at(3)).await;
    let updates = generation.catch_up(&pool, 1000).await;

    assert_eq!(
        sorted(updates),
        sorted(vec![
            balance_update(ada, 7_500, 0, 2),
            balance_update(grace, 2_000, 0, 2),
            balance_update(alan, 500, 0, 1),
        ]),
        "one update per touched wallet and batch, with the batch's final balances"
    );
    assert_eq!(balances(&pool, ada).await, (7_500, 0, 2));
    assert_eq!(balances(&pool, grace).await, (2_000, 0, 2));
    assert_eq!(balances(&pool, alan).await, (500, 0, 1));
    for account in [ada, grace, alan] {
        assert_eq!(balance(&pool, account).await.last_hash, head_hash(&pool, account).await);
    }
    assert_eq!(balance(&pool, grace).await.updated_at, at(3));

    let sent = statement(&pool, ada).await.remove(0);
    let received = statement(&pool, grace).await.pop().expect("no received");
    assert_eq!(
        sent,
        TransactionRow {
            account: ada.to_string(),
            sequence: 2,
            global_position: sent.global_position,
            kind: "transfer_sent".into(),
            entry_id: dinner,
            amount: 2_500,
            available_delta: -2_500,
            held_delta: 0,
            available_after: 7_500,
            held_after: 0,
            counterparty: Some(grace.to_string()),
            payment_id: None,
            top_up_id: None,
            reference: None,
            note: Some("dinner 🍝".into()),
            occurred_at: at(2),
        }
    );
    assert_eq!(
        (received.kind.as_str(), received.entry_id, received.amount, received.available_delta),
        ("transfer_received", dinner, 2_500, 2_500)
    );
    assert_eq!(
        (received.available_after, received.counterparty, received.note.as_deref()),
        (2_500, Some(ada.to_string()), Some("dinner 🍝"))
    );
    // Both legs were appended together, one position apart.
    assert_eq!(received.global_position, sent.global_position + 1);
    assert_eq!(ok(ledger::balance(&pool, &user().to_string()).await), None);
    assert_eq!(ok(ledger::balance_at(&pool, &user().to_string(), at(9)).await), (0, 0));
}

// ----------------------------------------------------------------------------------------------
// Payments and holds
// ----------------------------------------------------------------------------------------------

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_hold_is_captured_then_refunded(pool: PgPool) {
    let ledger = Movements::new(&pool);
    let mut generation = Generation::create(&pool, LedgerReadModel, 1, true).await;
    let ada = user();
    let escrow = LedgerAccount::Escrow;
    ledger.top_up(ada, 10_000, true, at(0)).await;
    let ticket = ledger.hold(ada, escrow, 4_000, "event:42", at(1), at(61)).await;
    let updates = generation.catch_up(&pool, 1000).await;
    assert_eq!(updates, vec![balance_update(ada, 6_000, 4_000, 2)]);

    assert_eq!(
        payment(&pool, ticket).await,
        PaymentRow {
            payment_id: ticket,
            payer: ada.to_string(),
            payee: ESCROW.into(),
            status: "held".into(),
            amount: 4_000,
            refunded: 0,
            reference: "event:42".into(),
            expires_at: Some(at(61)),
            updated_at: at(1),
        }
    );
    assert_eq!(balances(&pool, ada).await, (6_000, 4_000, 2));

    // Captured in part: 3000 to escrow, 1000 back to available.
    ledger.capture(ticket, ada, escrow, Some(3_000), at(5)).await;
    let updates = generation.catch_up(&pool, 1000).await;
    assert_eq!(updates, vec![balance_update(ada, 7_000, 0, 3)], "escrow has no live updates");
    let captured = payment(&pool, ticket).await;
    assert_eq!(
        (captured.status.as_str(), captured.amount, captured.refunded, captured.updated_at),
        ("paid", 3_000, 0, at(5))
    );
    assert_eq!(balances(&pool, escrow).await, (3_000, 0, 1));

    // Refunded in two parts.
    ledger.refund(ticket, ada, escrow, Some(1_000), Some("seat moved"), at(20)).await;
    let rest = ledger.refund(ticket, ada, escrow, None, None, at(21)).await;
    let updates = generation.catch_up(&pool, 1).await;
    assert_eq!(updates, vec![balance_update(ada, 8_000, 0, 4), balance_update(ada, 10_000, 0, 5)]);
    let refunded = payment(&pool, ticket).await;
    assert_eq!((refunded.status.as_str(), refunded.refunded, refunded.updated_at), ("paid", 3_000, at(21)));
    assert_eq!(balances(&pool, escrow).await, (0, 0, 3));

    assert_eq!(
        movements(&pool, ada).await,
        vec![
            ("top_up".into(), 10_000, 0, 10_000, 0),
            ("hold_placed".into(), -4_000, 4_000, 6_000, 4_000),
            ("hold_captured".into(), 1_000, -4_000, 7_000, 0),
            ("refund_received".into(), 1_000, 0, 8_000, 0),
            ("refund_received".into(), 2_000, 0, 10_000, 0),
        ]
    );
    assert_eq!(
        movements(&pool, escrow).await,
        vec![
            ("payment_received".into(), 3_000, 0, 3_000, 0),
            ("refund_sent".into(), -1_000, 0, 2_000, 0),
            ("refund_sent".into(), -2_000, 0, 0, 0),
        ]
    );
    // Every leg names the payment and its reference; refunds are entries of their own.
    let ada_rows = statement(&pool, ada).await;
    for row in ada_rows.iter().filter(|r| r.kind != "top_up") {
        assert_eq!((row.payment_id, row.reference.as_deref()), (Some(ticket), Some("event:42")));
        assert_eq!(row.counterparty.as_deref(), Some(ESCROW));
    }
    let capture = &ada_rows[2];
    assert_eq!((capture.kind.as_str(), capture.amount, capture.entry_id), ("hold_captured", 3_000, ticket));
    assert_eq!((ada_rows[0].entry_id, ada_rows[0].note.as_deref()), (rest, None));
    assert_eq!(ada_rows[1].note.as_deref(), Some("seat moved"));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn payments_voids_and_expiries_each_have_their_status(pool: PgPool) {
    let ledger = Movements::new(&pool);
    let mut generation = Generation::create(&pool, LedgerReadModel, 1, true).await;
    let (ada, shop) = (user(), user());
    ledger.top_up(ada, 10_000, true, at(0)).await;
    let order = ledger.pay(ada, shop, 1_200, "order:7", Some("thanks!"), at(1)).await;
    let voided = ledger.hold(ada, shop, 1_000, "order:8", at(2), at(30)).await;
    let expiring = ledger.hold(ada, shop, 2_000, "event:9", at(3), at(20)).await;
    let later = ledger.hold(ada, shop, 500, "event:10", at(4), at(40)).await;
    let same_time = ledger.hold(ada, shop, 300, "event:11", at(4), at(40)).await;
    generation.catch_up(&pool, 2).await;

    assert_eq!(
        payment(&pool, order).await,
        PaymentRow {
            payment_id: order,
            payer: ada.to_string(),
            payee: shop.to_string(),
            status: "paid".into(),
            amount: 1_200,
            refunded: 0,
            reference: "order:7".into(),
            expires_at: None,
            updated_at: at(1),
        }
    );
    let shop_rows = statement(&pool, shop).await;
    assert_eq!(shop_rows.len(), 1);
    assert_eq!(
        (shop_rows[0].kind.as_str(), shop_rows[0].note.as_deref(), shop_rows[0].payment_id),
        ("payment_received", Some("thanks!"), Some(order))
    );
    assert_eq!(balances(&pool, ada).await, (5_000, 3_800, 6));

    ledger.release(voided, ada, Release::Void, at(10)).await;
    ledger.release(expiring, ada, Release::Expire, at(25)).await;
    generation.catch_up(&pool, 1000).await;
    let voided_row = payment(&pool, voided).await;
    assert_eq!((voided_row.status.as_str(), voided_row.updated_at), ("voided", at(10)));
    let expired_row = payment(&pool, expiring).await;
    assert_eq!((expired_row.status.as_str(), expired_row.updated_at), ("expired", at(25)));
    for held in [later, same_time] {
        assert_eq!(payment(&pool, held).await.status, "held");
    }

    let releases: Vec<(String, i64, i64, Option<String>)> = statement(&pool, ada)
        .await
        .into_iter()
        .filter(|r| r.kind == "hold_released")
        .map(|r| (r.kind, r.available_delta, r.held_delta, r.note))
        .collect();
    assert_eq!(
        releases,
        vec![
            ("hold_released".into(), 2_000, -2_000, Some("expired".into())),
            ("hold_released".into(), 1_000, -1_000, Some("voided".into())),
        ]
    );
    assert_eq!(balances(&pool, ada).await, (8_000, 800, 8));
    assert_eq!(ok(ledger::payment(&pool, Uuid::now_v7()).await), None);
}

// ----------------------------------------------------------------------------------------------
// Statements
// ----------------------------------------------------------------------------------------------

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn balance_at_answers_for_any_instant(pool: PgPool) {
    let ledger = Movements::new(&pool);
    let mut generation = Generation::create(&pool, LedgerReadModel, 1, true).await;
    let (ada, grace) = (user(), user());
    ledger.top_up(ada, 1_000, true, at(10)).await;
    ledger.transfer(ada, grace, 300, None, at(20)).await;
    let hold = ledger.hold(ada, grace, 200, "event:1", at(30), at(90)).await;
    // A request moves nothing: not a transaction, and the balance at its instant is unchanged.
    ledger.top_up(ada, 5_000, false, at(40)).await;
    ledger.capture(hold, ada, grace, None, at(50)).await;
    // Two movements in the same instant: the later one (by sequence) wins.
    ledger.transfer(grace, ada, 100, None, at(60)).await;
    ledger.transfer(grace, ada, 50, None, at(60)).await;
    generation.catch_up(&pool, 3).await;

    let ada_id = ada.to_string();
    let cases = [
        (at(0), (0, 0)),
        (at(10) - TimeDelta::microseconds(1), (0, 0)),
        (at(10), (1_000, 0)),
        (at(25), (700, 0)),
        (at(30), (500, 200)),
        (at(45), (500, 200)),
        (at(50), (500, 0)),
        (at(60), (650, 0)),
        (at(1_000), (650, 0)),
    ];
    for (instant, expected) in cases {
        assert_eq!(ok(ledger::balance_at(&pool, &ada_id, instant).await), expected, "at {instant}");
    }
    assert_eq!(ok(ledger::balance_at(&pool, &grace.to_string(), at(55)).await), (500, 0));
    assert_eq!(ok(ledger::balance_at(&pool, &grace.to_string(), at(60)).await), (350, 0));
    assert_eq!(balances(&pool, ada).await, (650, 0, 7));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn statements_filter_by_kind_and_period_and_page_by_sequence(pool: PgPool) {
    let ledger = Movements::new(&pool);
    let mut generation = Generation::create(&pool, LedgerReadModel, 1, true).await;
    let (ada, grace) = (user(), user());
    ledger.top_up(ada, 10_000, true, at(0)).await; // 1
    for n in 0..10 {
        ledger.transfer(ada, grace, 100 + n, None, at(10 + n)).await; // 2..=11
    }
    ledger.top_up(ada, 1_000, true, at(30)).await; // 12
    ledger.transfer(grace, ada, 5, Some("back"), at(31)).await; // 13
    ledger.pay(ada, grace, 7, "order:1", None, at(32)).await; // 14
    generation.catch_up(&pool, 5).await;
    let id = ada.to_string();
    let sequences = |rows: Vec<TransactionRow>| rows.into_iter().map(|r| r.sequence).collect::<Vec<_>>();
    let everything = TransactionFilter::default();

    assert_eq!(
        sequences(ok(ledger::transactions(&pool, &id, &everything, None, 100).await)),
        (1..=14).rev().collect::<Vec<_>>()
    );

    // Kinds.
    let top_ups = TransactionFilter { kinds: Some(vec!["top_up".into()]), ..TransactionFilter::default() };
    assert_eq!(sequences(ok(ledger::transactions(&pool, &id, &top_ups, None, 100).await)), vec![12, 1]);
    let incoming = TransactionFilter {
        kinds: Some(vec!["top_up".into(), "transfer_received".into()]),
        ..TransactionFilter::default()
    };
    assert_eq!(sequences(ok(ledger::transactions(&pool, &id, &incoming, None, 100).await)), vec![13, 12, 1]);
    let none = TransactionFilter { kinds: Some(Vec::new()), ..TransactionFilter::default() };
    assert!(ok(ledger::transactions(&pool, &id, &none, None, 100).await).is_empty());

    // Periods: `from` inclusive, `to` exclusive.
    let period = TransactionFilter { from: Some(at(12)), to: Some(at(15)), ..TransactionFilter::default() };
    assert_eq!(sequences(ok(ledger::transactions(&pool, &id, &period, None, 100).await)), vec![6, 5, 4]);
    let since = TransactionFilter { from: Some(at(30)), ..TransactionFilter::default() };
    assert_eq!(sequences(ok(ledger::transactions(&pool, &id, &since, None, 100).await)), vec![14, 13, 12]);
    let until = TransactionFilter { to: Some(at(10)), ..TransactionFilter::default() };
    assert_eq!(sequences(ok(ledger::transactions(&pool, &id, &until, None, 100).await)), vec![1]);
    let sent_in_period =
        TransactionFilter { kinds: Some(vec!["transfer_sent".into()]), from: Some(at(15)), to: Some(at(40)) };
    assert_eq!(
        sequences(ok(ledger::transactions(&pool, &id, &sent_in_period, None, 100).await)),
        vec![11, 10, 9, 8, 7]
    );

    // Keyset pages of 4, newest first, without duplicates or gaps; filters apply to every page.
    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let page = ok(ledger::transactions(&pool, &id, &everything, before, 4).await);
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 4);
        before = page.last().map(|r| r.sequence);
        paged.extend(sequences(page));
    }
    assert_eq!(paged, (1..=14).rev().collect::<Vec<_>>());
    let sent =
        TransactionFilter { kinds: Some(vec!["transfer_sent".into()]), ..TransactionFilter::default() };
    assert_eq!(sequences(ok(ledger::transactions(&pool, &id, &sent, Some(8), 3).await)), vec![7, 6, 5]);
    assert!(ok(ledger::transactions(&pool, &id, &everything, Some(1), 10).await).is_empty());
    assert!(ok(ledger::transactions(&pool, &id, &everything, None, 0).await).is_empty());
    assert!(ok(ledger::transactions(&pool, &user().to_string(), &everything, None, 10).await).is_empty());
}

// ----------------------------------------------------------------------------------------------
// Streams the ledger does not know
// ----------------------------------------------------------------------------------------------

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn streams_whose_id_is_not_an_account_are_skipped(pool: PgPool) {
    let ledger = Movements::new(&pool);
    let mut generation = Generation::create(&pool, LedgerReadModel, 1, true).await;
    let (ada, stranger) = (user(), user());
    let top_up = |account| WalletCommand::RequestTopUp {
        account,
        top_up_id: Uuid::now_v7(),
        amount: credits(100),
        confirmed: true,
        limits: LIMITS,
        now: at(1),
    };
    // Not an account, the funding account (which has no wallet), and a user id spelled
    // otherwise than the command side spells it.
    ledger.wallet("not-an-account".into(), top_up(stranger)).await;
    ledger.wallet(LedgerAccount::FUNDING.into(), top_up(LedgerAccount::Funding)).await;
    ledger.wallet(stranger.to_string().to_uppercase(), top_up(stranger)).await;
    // A hold whose payment stream is not a uuid: the wallet leg counts, the payment does not.
    ledger.top_up(ada, 1_000, true, at(2)).await;
    let hold = PlaceHold {
        payment_id: Uuid::now_v7(),
        payer: ada,
        payee: LedgerAccount::Escrow,
        amount: credits(400),
        reference: "event:1".into(),
        expires_at: at(9),
        now: at(3),
    };
    ledger.place_hold("not-a-uuid".into(), &hold).await;
    let updates = generation.catch_up(&pool, 1000).await;

    assert_eq!(updates, vec![balance_update(ada, 600, 400, 2)]);
    let accounts: Vec<String> =
        ok(ledger::all_balances(&pool).await).into_iter().map(|b| b.account).collect();
    assert_eq!(accounts, vec![ada.to_string()]);
    let top_ups: i64 =
        ok(sqlx::query_scalar("SELECT count(*) FROM read_models.ledger_top_ups").fetch_one(&pool).await);
    assert_eq!(top_ups, 1);
    assert_eq!(ok(ledger::payment(&pool, hold.payment_id).await), None);
    let payments: i64 =
        ok(sqlx::query_scalar("SELECT count(*) FROM read_models.ledger_payments").fetch_one(&pool).await);
    assert_eq!(payments, 0);
}

// ----------------------------------------------------------------------------------------------
// Rebuilds and volume
// ----------------------------------------------------------------------------------------------

/// A bit of every movement the read models fold.
async fn ledger_history(
    ledger: &Movements,
    (ada, grace, alan): (LedgerAccount, LedgerAccount, LedgerAccount),
) {
    let escrow = LedgerAccount::Escrow;
    ledger.top_up(ada, 10_000, true, at(0)).await;
    let pending = ledger.top_up(grace, 3_000, false, at(1)).await;
    let failing = ledger.top_up(alan, 2_000, false, at(1)).await;
    ledger.transfer(ada, alan, 1_500, Some("rent"), at(2)).await;
    ledger.confirm(grace, pending, at(3)).await;
    ledger.fail(alan, failing, at(3)).await;
    let order = ledger.pay(ada, grace, 800, "order:1", None, at(4)).await;
    let ticket = ledger.hold(grace, escrow, 1_000, "event:1", at(5), at(65)).await;
    let voided = ledger.hold(ada, escrow, 300, "event:2", at(5), at(65)).await;
    ledger.hold(alan, escrow, 200, "event:3", at(6), at(66)).await;
    ledger.capture(ticket, grace, escrow, Some(900), at(7)).await;
    ledger.release(voided, ada, Release::Void, at(8)).await;
    ledger.refund(order, ada, grace, Some(300), Some("damaged"), at(9)).await;
    ledger.refund(ticket, grace, escrow, None, None, at(10)).await;
    ledger.transfer(grace, ada, 100, None, at(11)).await;
    ledger.top_up(alan, 50, false, at(12)).await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_rebuild_from_zero_gives_the_same_rows(pool: PgPool) {
    let ledger = Movements::new(&pool);
    let users = (user(), user(), user());
    // Generation 1 follows the log as it grows, in batches of 1 to 3 events...
    let mut live = Generation::create(&pool, LedgerReadModel, 1, true).await;
    ledger_history(&ledger, users).await;
    live.catch_up_in(&pool, &[1, 2, 3]).await;
    ledger_history(&ledger, users).await;
    live.catch_up_in(&pool, &[3, 1, 2]).await;

    // ...generation 2 reads it all from zero in one batch.
    let mut rebuilt = Generation::create(&pool, LedgerReadModel, 2, false).await;
    rebuilt.catch_up(&pool, 1000).await;
    assert_eq!(
        live.tables(&pool).await,
        ["ledger_payments", "ledger_top_ups", "wallet_balances", "wallet_transactions"]
    );
    let rows = live.dump(&pool).await;
    assert_eq!(rebuilt.dump(&pool).await, rows);
    let count = |table: &str| rows.iter().filter(|row| row.starts_with(&format!("{table} "))).count();
    assert_eq!(count("wallet_balances"), 4, "three users and escrow");
    assert_eq!(count("ledger_payments"), 8);
    assert_eq!(count("ledger_top_ups"), 8);
    assert_eq!(count("wallet_transactions"), 2 * 18);

    // Balances follow from the statements, and the ledger balances: what users and escrow
    // own is what was topped up.
    let all = ok(ledger::all_balances(&pool).await);
    let mut sorted_accounts: Vec<String> = all.iter().map(|b| b.account.clone()).collect();
    sorted_accounts.sort();
    assert_eq!(all.iter().map(|b| b.account.clone()).collect::<Vec<_>>(), sorted_accounts);
    let owned: i64 = all.iter().map(|b| b.available + b.held).sum();
    assert_eq!(owned, 2 * (10_000 + 3_000));
    for row in &all {
        let last =
            ok(ledger::transactions(&pool, &row.account, &TransactionFilter::default(), None, 1).await);
        let last = last.first().unwrap_or_else(|| panic!("no statement for {}", row.account));
        assert_eq!((last.available_after, last.held_after), (row.available, row.held));
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_batch_of_a_thousand_events_is_applied_at_once(pool: PgPool) {
    let ledger = Movements::new(&pool);
    let users: Vec<LedgerAccount> = (0..20).map(|_| user()).collect();
    for (n, account) in users.iter().enumerate() {
        ledger.top_up(*account, 10_000, true, at(i64::try_from(n).unwrap_or(0))).await;
    }
    for n in 0..500_usize {
        let from = users[n % users.len()];
        let to = users[(n * 7 + 3) % users.len()];
        if from != to {
            ledger.transfer(from, to, 1 + i64::try_from(n % 50).unwrap_or(0), None, at(100)).await;
        }
    }
    let events: i64 = ok(sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await);
    assert!(events >= 1_000, "{events} events");

    let mut whole = Generation::create(&pool, LedgerReadModel, 1, true).await;
    let updates = whole.catch_up(&pool, 2_000).await;
    assert_eq!(updates.len(), users.len(), "one update per user, however many events");
    let mut pieces = Generation::create(&pool, LedgerReadModel, 2, false).await;
    pieces.catch_up(&pool, 97).await;
    assert_eq!(pieces.dump(&pool).await, whole.dump(&pool).await);

    let all = ok(ledger::all_balances(&pool).await);
    assert_eq!(all.len(), users.len());
    assert_eq!(all.iter().map(|b| b.available).sum::<i64>(), 10_000 * 20);
    let rows: i64 =
        ok(sqlx::query_scalar("SELECT count(*) FROM read_models.wallet_transactions").fetch_one(&pool).await);
    assert_eq!(rows, events);
    assert_eq!(all.iter().map(|b| b.sequence).sum::<i64>(), events);
}
