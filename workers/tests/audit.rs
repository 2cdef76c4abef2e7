//! `audit_ledger` against a real PostgreSQL: a ledger built through the command pipeline audits
//! clean with the right totals; then every kind of tampering done directly in SQL is found,
//! with the right reason and location.
//!
//! The read models are plain tables made here from the events (the audit reads them with
//! plain SQL, whoever fills them).

use chrono::{DateTime, Duration, Utc};
use loopync_commands::{CommandContext, CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
use loopync_domain::looppay::{
    self, CaptureHold, LedgerAccount, Pay, Payment, PaymentEvent, PlaceHold, Refund, Release, ReleaseHold,
    TopUp, TopUpLimits, Transfer, Wallet, WalletCommand, WalletEntry, WalletEvent,
};
use loopync_domain::{Aggregate, DomainEvent, StreamName};
use loopync_schemas::{EventMetadata, Position, RecordedEvent};
use loopync_workers::audit::{
    AuditOptions, AuditReport, ChainVerifier, Mismatch, MismatchKind, ReadModelStatus, audit_ledger,
};
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::sync::Arc;
use uuid::Uuid;

#[track_caller]
fn ok<T, E: std::fmt::Debug>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| panic!("{e:?}"))
}

const LIMITS: TopUpLimits = TopUpLimits { per_top_up: 1_000_000, daily: 10_000_000 };

/// The ledger of the tests, and who is who in it.
struct World {
    ledger: Arc<CommandPipeline>,
    now: DateTime<Utc>,
    ada: LedgerAccount,
    bob: LedgerAccount,
    carol: LedgerAccount,
    dave: LedgerAccount,
    /// Ada pays escrow 2000 at once; escrow refunds 500 of it.
    paid: Uuid,
    /// The transfer from Ada to Dave: Dave's only event, the last of the ledger.
    to_dave: Uuid,
}

fn ledger(pool: &PgPool) -> Arc<CommandPipeline> {
    let store =
        PgEventStore::new(pool.clone(), GroupCommit { enabled: false, max_batch: 64, max_in_flight: 1 });
    Arc::new(CommandPipeline::new(Arc::new(store), PipelineConfig::default()))
}

fn top_up_of(
    account: LedgerAccount,
    top_up_id: Uuid,
    amount: i64,
    confirmed: bool,
    now: DateTime<Utc>,
) -> TopUp {
    TopUp { account, top_up_id, amount, confirmed, limits: LIMITS, now }
}

/// A wallet as the store has it now.
async fn wallet(ledger: &CommandPipeline, account: LedgerAccount) -> Wallet {
    (*ok(ledger.load_latest::<Wallet>(StreamName::of::<Wallet>(account)).await).state).clone()
}

fn user() -> LedgerAccount {
    LedgerAccount::User(Uuid::now_v7())
}

/// Top-ups (at once, confirmed later, failed), transfers, a payment with a partial refund, a
/// hold partly captured then refunded, a voided hold, an expired hold and a hold still active.
///
/// Money: 17 000 topped up; escrow ends with 2000 - 500 + 600 - 600 = 1500; 100 still held.
async fn world(pool: &PgPool) -> World {
    let ledger = ledger(pool);
    let now = Utc::now();
    let cx = CommandContext::actor("audit-test");
    let (ada, bob, carol, dave) = (user(), user(), user(), user());
    let escrow = LedgerAccount::Escrow;

    ok(ledger.decide(&top_up_of(ada, Uuid::now_v7(), 10_000, true, now), &cx).await);
    ok(ledger.decide(&top_up_of(bob, Uuid::now_v7(), 5_000, true, now), &cx).await);
    let later = Uuid::now_v7();
    ok(ledger.decide(&top_up_of(carol, later, 2_000, false, now), &cx).await);
    ok(ledger
        .execute::<Wallet>(carol, WalletCommand::ConfirmTopUp { account: carol, top_up_id: later, now }, &cx)
        .await);
    let failed = Uuid::now_v7();
    ok(ledger.decide(&top_up_of(carol, failed, 700, false, now), &cx).await);
    ok(ledger
        .execute::<Wallet>(carol, WalletCommand::FailTopUp { account: carol, top_up_id: failed, now }, &cx)
        .await);

    let transfer =
        |from, to, amount| Transfer { entry_id: Uuid::now_v7(), from, to, amount, note: None, now };
    ok(ledger.decide(&transfer(ada, bob, 1_500), &cx).await);
    ok(ledger.decide(&transfer(bob, carol, 300), &cx).await);

    let paid = Uuid::now_v7();
    let pay = Pay {
        payment_id: paid,
        payer: ada,
        payee: escrow,
        amount: 2_000,
        reference: "order:1".into(),
        note: Some("tickets".into()),
        now,
    };
    ok(ledger.decide(&pay, &cx).await);
    let refund = |payment_id, accounts, amount| Refund {
        payment_id,
        accounts,
        refund_id: Uuid::now_v7(),
        amount,
        reason: None,
        now,
    };
    ok(ledger.decide(&refund(paid, (ada, escrow), Some(500)), &cx).await);

    let hold = |payer, payee, amount| PlaceHold {
        payment_id: Uuid::now_v7(),
        payer,
        payee,
        amount,
        reference: "event:1".into(),
        expires_at: now + Duration::minutes(15),
        now,
    };
    let captured = hold(bob, escrow, 1_000);
    ok(ledger.decide(&captured.clone(), &cx).await);
    ok(ledger
        .decide(
            &CaptureHold { payment_id: captured.payment_id, accounts: (bob, escrow), amount: Some(600), now },
            &cx,
        )
        .await);
    ok(ledger.decide(&refund(captured.payment_id, (bob, escrow), None), &cx).await);

    let voided = hold(carol, bob, 200);
    ok(ledger.decide(&voided.clone(), &cx).await);
    ok(ledger
        .decide(&ReleaseHold { payment_id: voided.payment_id, payer: carol, why: Release::Void, now }, &cx)
        .await);

    let expired = hold(ada, escrow, 800);
    ok(ledger.decide(&expired.clone(), &cx).await);
    let due = now + Duration::minutes(16);
    ok(ledger
        .decide(
            &ReleaseHold { payment_id: expired.payment_id, payer: ada, why: Release::Expire, now: due },
            &cx,
        )
        .await);

    ok(ledger.decide(&hold(ada, bob, 100), &cx).await);

    let to_dave = transfer(ada, dave, 250);
    let to_dave_id = to_dave.entry_id;
    ok(ledger.decide(&to_dave, &cx).await);

    World { ledger, now, ada, bob, carol, dave, paid, to_dave: to_dave_id }
}

// ---------------------------------------------------------------------------------------------
// Reading and tampering with the store
// ---------------------------------------------------------------------------------------------

/// One stored wallet event.
#[derive(Debug, Clone)]
struct Stored {
    version: i64,
    position: i64,
    event_type: String,
    entry: WalletEntry,
}

fn recorded(
    stream: &str,
    version: i64,
    position: (i64, i64),
    event_type: String,
    payload: serde_json::Value,
) -> RecordedEvent {
    RecordedEvent {
        position: Position::new(position.0, position.1),
        stream_name: stream.to_owned(),
        stream_version: version,
        event_id: Uuid::nil(),
        event_type,
        schema_version: 1,
        payload,
        metadata: EventMetadata::default(),
        recorded_at: Utc::now(),
    }
}

async fn wallet_events(pool: &PgPool, account: LedgerAccount) -> Vec<Stored> {
    let stream = format!("wallet-{account}");
    let rows: Vec<(i64, i64, i64, String, serde_json::Value)> = ok(sqlx::query_as(
        "SELECT stream_version, global_position, transaction_id::text::bigint, event_type, payload FROM events \
         WHERE stream_name = $1 ORDER BY stream_version",
    )
    .bind(&stream)
    .fetch_all(pool)
    .await);
    rows.into_iter()
        .map(|(version, position, transaction, event_type, payload)| {
            let event: WalletEvent =
                ok(recorded(&stream, version, (transaction, position), event_type.clone(), payload).decode());
            Stored { version, position, event_type, entry: event.entry().clone() }
        })
        .collect()
}

/// Writes a wallet event's payload back, as is (the hash is whatever `entry` says).
async fn overwrite(pool: &PgPool, account: LedgerAccount, stored: &Stored) {
    let payload = ok(serde_json::to_value(&stored.entry));
    let updated =
        ok(sqlx::query("UPDATE events SET payload = $1 WHERE stream_name = $2 AND stream_version = $3")
            .bind(payload)
            .bind(format!("wallet-{account}"))
            .bind(stored.version)
            .execute(pool)
            .await);
    assert_eq!(updated.rows_affected(), 1);
}

/// Forges the wallet's event at `version` with `edit`, then re-seals it and every later event
/// of the wallet with the domain's own hash (`WalletEntry::expected_hash`) so that the chain
/// of hashes is intact. With `carry_balances`, the change of the edited event's balances is
/// carried into every later event's balances too: a forgery only the money checks can see.
async fn forge(
    pool: &PgPool,
    account: LedgerAccount,
    version: i64,
    carry_balances: bool,
    edit: impl Fn(&mut WalletEntry),
) -> Stored {
    let events = wallet_events(pool, account).await;
    let mut prev_hash = None::<String>;
    let mut shift = (0i64, 0i64);
    let mut forged = None;
    for mut stored in events.into_iter().filter(|s| s.version >= version) {
        if stored.version == version {
            let before = (stored.entry.available_after, stored.entry.held_after);
            edit(&mut stored.entry);
            shift = (stored.entry.available_after - before.0, stored.entry.held_after - before.1);
        } else {
            if carry_balances {
                stored.entry.available_after += shift.0;
                stored.entry.held_after += shift.1;
            }
            if let Some(prev) = prev_hash.take() {
                stored.entry.prev_hash = prev;
            }
        }
        stored.entry.hash = stored.entry.expected_hash(&stored.event_type);
        prev_hash = Some(stored.entry.hash.clone());
        overwrite(pool, account, &stored).await;
        if stored.version == version {
            forged = Some(stored);
        }
    }
    forged.unwrap_or_else(|| panic!("no event {version} in wallet-{account}"))
}

/// `read_models.wallet_balances` as a plain table, filled from the events (up to `until`, a
/// global position, when given) the way the projection would.
async fn build_balances(pool: &PgPool, until: Option<i64>) {
    ok(sqlx::query(
        "CREATE TABLE IF NOT EXISTS read_models.wallet_balances (account text PRIMARY KEY, available bigint NOT NULL, \
         held bigint NOT NULL, sequence bigint NOT NULL, last_hash text NOT NULL, last_position bigint NOT NULL, \
         updated_at timestamptz NOT NULL)",
    )
    .execute(pool)
    .await);
    ok(sqlx::query("DELETE FROM read_models.wallet_balances").execute(pool).await);
    ok(sqlx::query(
        "INSERT INTO read_models.wallet_balances \
         SELECT DISTINCT ON (stream_name) substr(stream_name, 8), (payload->>'availableAfter')::bigint, \
                (payload->>'heldAfter')::bigint, stream_version, payload->>'hash', global_position, recorded_at \
         FROM events WHERE stream_name LIKE 'wallet-%' AND global_position <= $1 \
         ORDER BY stream_name, stream_version DESC",
    )
    .bind(until.unwrap_or(i64::MAX))
    .execute(pool)
    .await);
}

/// `read_models.ledger_payments` as a plain table, folded with the domain's `Payment`.
async fn build_payments(pool: &PgPool) {
    ok(sqlx::query(
        "CREATE TABLE read_models.ledger_payments (payment_id uuid PRIMARY KEY, payer text NOT NULL, \
         payee text NOT NULL, status text NOT NULL, amount bigint NOT NULL, refunded bigint NOT NULL)",
    )
    .execute(pool)
    .await);
    let rows: Vec<(String, i64, String, serde_json::Value)> = ok(sqlx::query_as(
        "SELECT stream_name, stream_version, event_type, payload FROM events WHERE stream_name LIKE 'payment-%' \
         ORDER BY stream_name, stream_version",
    )
    .fetch_all(pool)
    .await);
    let mut payments: std::collections::BTreeMap<String, Payment> = Default::default();
    for (stream, version, event_type, payload) in rows {
        let event: PaymentEvent = ok(recorded(&stream, version, (0, 0), event_type, payload).decode());
        payments.entry(stream).or_default().apply(&event);
    }
    for (stream, payment) in payments {
        let id = ok(Uuid::parse_str(stream.trim_start_matches("payment-")));
        ok(sqlx::query("INSERT INTO read_models.ledger_payments VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id)
            .bind(payment.payer)
            .bind(payment.payee)
            .bind(payment.status.as_str())
            .bind(payment.amount)
            .bind(payment.refunded)
            .execute(pool)
            .await);
    }
}

async fn audit(pool: &PgPool) -> AuditReport {
    ok(audit_ledger(pool, &AuditOptions::default()).await)
}

/// The ledger's own checks only (no read models).
async fn audit_events(pool: &PgPool) -> AuditReport {
    ok(audit_ledger(pool, &AuditOptions { compare_read_models: false, ..AuditOptions::default() }).await)
}

fn kinds(report: &AuditReport) -> BTreeSet<&'static str> {
    report.mismatches.iter().map(|m| m.kind.as_str()).collect()
}

fn set(kinds: &[MismatchKind]) -> BTreeSet<&'static str> {
    kinds.iter().map(|k| k.as_str()).collect()
}

/// The only mismatch of `kind`.
#[track_caller]
fn only(report: &AuditReport, kind: MismatchKind) -> Mismatch {
    let found: Vec<&Mismatch> = report.of_kind(kind).collect();
    match found.as_slice() {
        [one] => (*one).clone(),
        _ => panic!("expected one {kind} mismatch, found {found:#?}\n{report}"),
    }
}

fn stream(account: LedgerAccount) -> Option<String> {
    Some(format!("wallet-{account}"))
}

// ---------------------------------------------------------------------------------------------
// A clean ledger
// ---------------------------------------------------------------------------------------------

#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_clean_ledger_audits_clean_with_the_right_totals(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    build_payments(&pool).await;
    let report = audit(&pool).await;
    assert!(report.clean, "{report}");
    assert_eq!(report.exit_code(), 0);
    assert!(report.mismatches.is_empty());

    // Ada, Bob, Carol, Dave and escrow; 5 payments (1 paid, 4 holds).
    assert_eq!(report.wallets, 5);
    assert_eq!(report.payments, 5);
    assert_eq!(report.top_ups, 3);
    let wallet_events: i64 =
        ok(sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_name LIKE 'wallet-%'")
            .fetch_one(&pool)
            .await);
    assert_eq!(report.wallet_events as i64, wallet_events);
    // 4 top-ups, 3 transfers, 1 payment, 2 refunds, 4 holds.
    assert_eq!(report.entries, 14);

    let t = report.totals;
    assert_eq!(t.funding, -17_000);
    assert_eq!(t.circulation, 17_000);
    assert_eq!(t.held, 100);
    assert_eq!(t.available, 16_900);
    assert_eq!(t.escrow, 1_500);
    assert_eq!(t.imbalance, 0);

    assert_eq!(report.read_models.status, ReadModelStatus::Compared);
    assert_eq!(report.read_models.wallet_rows, 5);
    assert_eq!(report.read_models.payment_rows, Some(5));
    assert_eq!(report.read_models.position, None, "no checkpoint: compared with the whole log");

    // Every wallet's balances match what the domain folds.
    for account in [w.ada, w.bob, w.carol, w.dave, LedgerAccount::Escrow] {
        let wallet = wallet(&w.ledger, account).await;
        let (available, held): (i64, i64) =
            ok(sqlx::query_as("SELECT available, held FROM read_models.wallet_balances WHERE account = $1")
                .bind(account.to_string())
                .fetch_one(&pool)
                .await);
        assert_eq!((available, held), (wallet.available, wallet.held));
    }

    let text = report.to_string();
    assert!(text.contains("wallets checked   5"), "{text}");
    assert!(text.contains("imbalance 0"), "{text}");
    assert!(text.contains("CLEAN"), "{text}");
    let json: serde_json::Value = ok(serde_json::from_str(&ok(report.to_json())));
    assert_eq!(json["clean"], true);
    assert_eq!(json["totals"]["funding"], -17_000);
    assert_eq!(json["readModels"]["status"], "compared");
}

/// `ChainVerifier` is `verify_chain` one event at a time: on real chains and on every
/// single-field tampering of them, both find the same first break.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn the_streaming_verifier_agrees_with_verify_chain(pool: PgPool) {
    let w = world(&pool).await;
    for account in [w.ada, w.bob, w.carol, w.dave, LedgerAccount::Escrow] {
        let stored = wallet_events(&pool, account).await;
        let events: Vec<WalletEvent> =
            stored.iter().map(|s| event_of(&s.event_type, s.entry.clone())).collect();
        let edits: [fn(&mut WalletEntry); 6] = [
            |e| e.sequence += 1,
            |e| e.prev_hash = "00".repeat(32).replacen('0', "1", 1),
            |e| e.amount += 1,
            |e| e.available_after += 1,
            |e| e.held_after -= 1,
            |e| {
                // Below zero, sealed properly: only the negative check can refuse it.
                e.available_delta -= e.available_after + 1;
                e.available_after = -1;
            },
        ];
        for index in 0..events.len() {
            for (n, edit) in edits.iter().enumerate() {
                let mut tampered = events.clone();
                let mut entry = tampered[index].entry().clone();
                edit(&mut entry);
                if n == 5 {
                    entry.hash = entry.expected_hash(tampered[index].event_type());
                }
                tampered[index] = event_of(tampered[index].event_type(), entry);
                let expected = looppay::verify_chain(&tampered).err();
                let mut verifier = ChainVerifier::default();
                let found =
                    tampered.iter().enumerate().find_map(|(i, e)| verifier.check(e).err().map(|b| (i, b)));
                assert_eq!(found, expected, "wallet-{account} event {index}");
            }
        }
        let mut verifier = ChainVerifier::default();
        assert!(events.iter().all(|e| verifier.check(e).is_ok()));
        assert_eq!(looppay::verify_chain(&events).map(|wallet| wallet.sequence), Ok(verifier.sequence()));
    }
}

fn event_of(event_type: &str, entry: WalletEntry) -> WalletEvent {
    let tagged = serde_json::json!({ "type": event_type, "data": entry });
    ok(serde_json::from_value(tagged))
}

// ---------------------------------------------------------------------------------------------
// Tampering
// ---------------------------------------------------------------------------------------------

#[sqlx::test(migrations = "../schemas/migrations")]
async fn an_edited_amount_breaks_the_hash_chain(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    let sent = wallet_events(&pool, w.ada).await.remove(1);
    assert_eq!(sent.event_type, "wallet.transfer_sent");
    ok(sqlx::query(
        "UPDATE events SET payload = jsonb_set(payload, '{amount}', '9999') WHERE stream_name = $1 AND stream_version = 2",
    )
    .bind(format!("wallet-{}", w.ada))
    .execute(&pool)
    .await);

    let report = audit(&pool).await;
    assert!(!report.clean);
    assert_eq!(report.exit_code(), 1);
    assert_eq!(kinds(&report), set(&[MismatchKind::Hash, MismatchKind::LegShape]), "{report}");
    let hash = only(&report, MismatchKind::Hash);
    assert_eq!((hash.stream, hash.version, hash.position), (stream(w.ada), Some(2), Some(sent.position)));
    assert!(hash.reason.contains("altered"), "{}", hash.reason);
    assert!(only(&report, MismatchKind::LegShape).reason.contains("amount 9999"));
    assert!(
        report
            .to_string()
            .contains(&format!("MISMATCH hash stream=wallet-{} version=2 position={}", w.ada, sent.position))
    );
}

/// The amount, deltas and balances edited together, the hash left alone: the money of the
/// wallet looks right, its hash does not; and the entry no longer balances.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn an_amount_edited_with_its_balances_but_not_its_hash_is_found(pool: PgPool) {
    let w = world(&pool).await;
    let received = wallet_events(&pool, w.bob).await.remove(1);
    assert_eq!(received.event_type, "wallet.transfer_received");
    ok(sqlx::query(
        "UPDATE events SET payload = payload || jsonb_build_object('amount', 1600, 'availableDelta', 1600, \
         'availableAfter', (payload->>'availableAfter')::bigint + 100) WHERE stream_name = $1 AND stream_version = 2",
    )
    .bind(format!("wallet-{}", w.bob))
    .execute(&pool)
    .await);

    let report = audit(&pool).await;
    let hash = only(&report, MismatchKind::Hash);
    assert_eq!((hash.stream, hash.version, hash.position), (stream(w.bob), Some(2), Some(received.position)));
    // Only the first break of the wallet: Bob's later events are not reported again.
    let chain =
        [MismatchKind::Sequence, MismatchKind::PrevHash, MismatchKind::Balance, MismatchKind::Negative];
    assert!(report.mismatches.iter().all(|m| !chain.contains(&m.kind)), "{report}");
    let unbalanced = only(&report, MismatchKind::UnbalancedEntry);
    assert_eq!(unbalanced.entry_id, Some(received.entry.entry_id));
    assert!(unbalanced.reason.contains("+100"), "{}", unbalanced.reason);
    assert!(only(&report, MismatchKind::Conservation).reason.contains("+100"));
    assert_eq!(report.totals.imbalance, 100);
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_deleted_event_breaks_the_sequence(pool: PgPool) {
    let w = world(&pool).await;
    let events = wallet_events(&pool, w.ada).await;
    let (deleted, next) = (&events[2], &events[3]);
    assert_eq!(deleted.event_type, "wallet.payment_sent");
    ok(sqlx::query("DELETE FROM events WHERE stream_name = $1 AND stream_version = 3")
        .bind(format!("wallet-{}", w.ada))
        .execute(&pool)
        .await);

    let report = audit(&pool).await;
    let sequence = only(&report, MismatchKind::Sequence);
    assert_eq!(
        (sequence.stream, sequence.version, sequence.position),
        (stream(w.ada), Some(4), Some(next.position))
    );
    assert!(sequence.reason.contains("sequence 4 where 3 was expected"), "{}", sequence.reason);
    // The payment's other leg is now alone, the money is not conserved, the payment's legs
    // disagree with it.
    let incomplete = only(&report, MismatchKind::IncompleteEntry);
    assert_eq!(incomplete.entry_id, Some(w.paid));
    assert!(incomplete.reason.contains("has legs payment_received"), "{}", incomplete.reason);
    assert_eq!(only(&report, MismatchKind::UnbalancedEntry).entry_id, Some(w.paid));
    assert!(report.has(MismatchKind::Conservation));
    assert!(
        only(&report, MismatchKind::PaymentLegs)
            .reason
            .contains("payment_sent legs total 0, its events say 2000")
    );
}

/// The last event of a wallet deleted: every chain is still intact; double entry finds it.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_deleted_leg_of_a_transfer_unbalances_its_entry(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    let sent = wallet_events(&pool, w.ada).await.pop().unwrap_or_else(|| panic!("Ada has events"));
    assert_eq!(sent.entry.entry_id, w.to_dave);
    let deleted = ok(sqlx::query("DELETE FROM events WHERE stream_name = $1")
        .bind(format!("wallet-{}", w.dave))
        .execute(&pool)
        .await);
    assert_eq!(deleted.rows_affected(), 1);

    let report = audit(&pool).await;
    assert_eq!(
        kinds(&report),
        set(&[
            MismatchKind::IncompleteEntry,
            MismatchKind::UnbalancedEntry,
            MismatchKind::Conservation,
            MismatchKind::ReadModelExtra,
        ]),
        "{report}"
    );
    let incomplete = only(&report, MismatchKind::IncompleteEntry);
    assert_eq!(incomplete.entry_id, Some(w.to_dave));
    assert_eq!(
        (incomplete.stream, incomplete.version, incomplete.position),
        (stream(w.ada), Some(sent.version), Some(sent.position))
    );
    assert!(incomplete.reason.contains("transfer_sent + transfer_received"), "{}", incomplete.reason);
    assert!(only(&report, MismatchKind::UnbalancedEntry).reason.contains("-250"));
    assert_eq!(report.totals.imbalance, -250);
    assert_eq!(only(&report, MismatchKind::ReadModelExtra).stream, stream(w.dave));
}

/// Balances after forged with valid hashes (the whole chain re-sealed with the domain's
/// hash): the balances no longer follow from the deltas.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn forged_balances_with_recomputed_hashes_break_the_balance_check(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    let forged = forge(&pool, w.ada, 4, true, |e| e.available_after += 1_000).await;

    let report = audit(&pool).await;
    assert_eq!(kinds(&report), set(&[MismatchKind::Balance]), "{report}");
    let balance = only(&report, MismatchKind::Balance);
    assert_eq!(
        (balance.stream, balance.version, balance.position),
        (stream(w.ada), Some(4), Some(forged.position))
    );
}

/// The amount, deltas and balances forged consistently through the whole chain, every hash
/// recomputed with the domain: every chain is valid. Only the money checks can catch it: the
/// entry does not balance, money is not conserved (and the read model disagrees).
#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_consistently_forged_leg_is_caught_by_double_entry_and_conservation(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    let forged = forge(&pool, w.dave, 1, true, |e| {
        e.amount = 2_500;
        e.available_delta = 2_500;
        e.available_after = 2_500;
    })
    .await;
    let chain = wallet_events(&pool, w.dave).await;
    let events: Vec<WalletEvent> = chain.iter().map(|s| event_of(&s.event_type, s.entry.clone())).collect();
    assert!(looppay::verify_chain(&events).is_ok(), "the forged chain verifies");

    let report = audit(&pool).await;
    assert_eq!(
        kinds(&report),
        set(&[MismatchKind::UnbalancedEntry, MismatchKind::Conservation, MismatchKind::ReadModelDiffers]),
        "{report}"
    );
    let unbalanced = only(&report, MismatchKind::UnbalancedEntry);
    assert_eq!(unbalanced.entry_id, Some(w.to_dave));
    assert!(unbalanced.reason.contains("+2250"), "{}", unbalanced.reason);
    assert_eq!(report.totals.imbalance, 2_250);
    let differs = only(&report, MismatchKind::ReadModelDiffers);
    assert_eq!((differs.stream, differs.position), (stream(w.dave), Some(forged.position)));
    assert!(differs.reason.contains("available 250 (replay 2500)"), "{}", differs.reason);
}

/// A top-up forged the same way balances itself (its funding leg is implied by the event):
/// neither double entry nor conservation can see it. Only the read model (built before the
/// forgery) and the provider's own records can. This documents the limit.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_consistently_forged_top_up_is_only_visible_in_the_read_model(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    forge(&pool, w.bob, 1, true, |e| {
        e.amount += 1_000_000;
        e.available_delta += 1_000_000;
        e.available_after += 1_000_000;
    })
    .await;

    let report = audit(&pool).await;
    assert_eq!(kinds(&report), set(&[MismatchKind::ReadModelDiffers]), "{report}");
    assert_eq!(only(&report, MismatchKind::ReadModelDiffers).stream, stream(w.bob));
    assert_eq!(report.totals.funding, -1_017_000);
    assert_eq!(report.totals.imbalance, 0);
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_forged_counterparty_is_found(pool: PgPool) {
    let w = world(&pool).await;
    let carol = w.carol.to_string();
    forge(&pool, w.dave, 1, false, |e| e.counterparty = Some(carol.clone())).await;

    let report = audit_events(&pool).await;
    assert_eq!(kinds(&report), set(&[MismatchKind::Counterparty]), "{report}");
    let counterparty = only(&report, MismatchKind::Counterparty);
    assert_eq!(counterparty.entry_id, Some(w.to_dave));
    assert!(counterparty.reason.contains(&w.carol.to_string()), "{}", counterparty.reason);
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_refund_beyond_the_payment_is_found_in_its_stream(pool: PgPool) {
    let w = world(&pool).await;
    // The payment streams have no hash chain: their wallet legs are their witnesses.
    ok(sqlx::query(
        "UPDATE events SET payload = jsonb_set(payload, '{amount}', '5000') \
         WHERE stream_name = $1 AND event_type = 'payment.refunded'",
    )
    .bind(format!("payment-{}", w.paid))
    .execute(&pool)
    .await);

    let report = audit_events(&pool).await;
    assert_eq!(kinds(&report), set(&[MismatchKind::PaymentState, MismatchKind::PaymentLegs]), "{report}");
    let state = only(&report, MismatchKind::PaymentState);
    assert_eq!((state.stream, state.version), (Some(format!("payment-{}", w.paid)), Some(2)));
    assert!(state.reason.contains("refunds of 5000 exceed the 2000 paid"), "{}", state.reason);
    let legs: Vec<&Mismatch> = report.of_kind(MismatchKind::PaymentLegs).collect();
    assert_eq!(legs.len(), 2, "refund_sent and refund_received: {legs:#?}");
    assert!(legs.iter().all(|m| m.reason.contains("legs total 500, its events say 5000")));
}

/// A top-up id credited to two wallets: each entry balances with its implied funding leg, but
/// one top-up (one payment from a provider) was credited twice.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_top_up_credited_twice_is_a_duplicate_leg(pool: PgPool) {
    let w = world(&pool).await;
    let cx = CommandContext::actor("audit-test");
    let top_up = Uuid::now_v7();
    ok(w.ledger.decide(&top_up_of(w.ada, top_up, 40, true, w.now), &cx).await);
    ok(w.ledger.decide(&top_up_of(w.bob, top_up, 40, true, w.now), &cx).await);

    let report = audit(&pool).await;
    assert!(kinds(&report).contains(MismatchKind::DuplicateLeg.as_str()), "{report}");
    let duplicate = only(&report, MismatchKind::DuplicateLeg);
    assert_eq!(duplicate.entry_id, Some(top_up));
    assert!(duplicate.reason.contains("second topped_up"), "{}", duplicate.reason);
}

// ---------------------------------------------------------------------------------------------
// Read models

/// Where the global log ends: the last event's `(transaction, position)`.
async fn end_of_log(pool: &PgPool) -> Position {
    let (transaction, position): (i64, i64) = ok(sqlx::query_as(
        "SELECT transaction_id::text::bigint, global_position FROM events \
         ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
    )
    .fetch_one(pool)
    .await);
    Position::new(transaction, position)
}

/// The last event before the transfer to Dave (the ledger's last movement): a projection
/// checkpointed there has applied everything but that transfer's two legs.
async fn before_the_transfer_to_dave(pool: &PgPool, w: &World) -> Position {
    let (transaction, position): (i64, i64) = ok(sqlx::query_as(
        "SELECT transaction_id::text::bigint, global_position FROM events \
         WHERE transaction_id < (SELECT transaction_id FROM events WHERE stream_name = $1) \
         ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
    )
    .bind(format!("wallet-{}", w.dave))
    .fetch_one(pool)
    .await);
    Position::new(transaction, position)
}

/// Sets the active generation's checkpoint of `looppay_ledger` to the event at `at`, the way
/// the projection runtime records it (`projections` and `projection_checkpoints`).
async fn checkpoint(pool: &PgPool, at: Position) {
    ok(sqlx::query("INSERT INTO projections (name, active_generation) VALUES ('looppay_ledger', 1) ON CONFLICT DO NOTHING")
        .execute(pool)
        .await);
    let set = ok(sqlx::query(
        "INSERT INTO projection_checkpoints (projection, generation, transaction_id, global_position) \
         SELECT 'looppay_ledger', 1, transaction_id, global_position FROM events WHERE global_position = $1 \
         ON CONFLICT (projection, generation) DO UPDATE \
         SET transaction_id = EXCLUDED.transaction_id, global_position = EXCLUDED.global_position, updated_at = now()",
    )
    .bind(at.global_position)
    .execute(pool)
    .await);
    assert_eq!(set.rows_affected(), 1, "no event at {at}");
}

async fn audit_with(pool: &PgPool, options: AuditOptions) -> AuditReport {
    ok(audit_ledger(pool, &options).await)
}

/// The last stored event of a wallet: what its read-model row must say.
async fn head(pool: &PgPool, account: LedgerAccount) -> Stored {
    wallet_events(pool, account).await.pop().unwrap_or_else(|| panic!("wallet-{account} has events"))
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_read_model_row_that_differs_from_the_replay_is_found_and_named(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    build_payments(&pool).await;
    let edit = |sql: &'static str, account: LedgerAccount| {
        let pool = pool.clone();
        async move {
            let updated = ok(sqlx::query(sql).bind(account.to_string()).execute(&pool).await);
            assert_eq!(updated.rows_affected(), 1);
        }
    };
    edit("UPDATE read_models.wallet_balances SET available = available + 1 WHERE account = $1", w.ada).await;
    edit("UPDATE read_models.wallet_balances SET held = 7 WHERE account = $1", w.bob).await;
    edit("UPDATE read_models.wallet_balances SET sequence = sequence - 1 WHERE account = $1", w.carol).await;
    edit("UPDATE read_models.wallet_balances SET last_hash = repeat('ab', 32) WHERE account = $1", w.dave)
        .await;
    ok(sqlx::query(
        "UPDATE read_models.ledger_payments SET status = 'held', refunded = 0 WHERE payment_id = $1",
    )
    .bind(w.paid)
    .execute(&pool)
    .await);

    let report = audit(&pool).await;
    assert!(!report.clean);
    assert_eq!(report.exit_code(), 1);
    assert_eq!(kinds(&report), set(&[MismatchKind::ReadModelDiffers]), "{report}");
    assert_eq!(report.mismatch_count, 5, "{report}");
    assert_eq!(report.read_models.status, ReadModelStatus::Compared);
    assert_eq!((report.read_models.wallet_rows, report.read_models.payment_rows), (5, Some(5)));
    assert!(
        report.warnings.iter().any(|warning| warning.contains("looppay_ledger has no checkpoint")),
        "{:?}",
        report.warnings
    );

    let of = |stream: Option<String>| -> Mismatch {
        let found: Vec<&Mismatch> =
            report.of_kind(MismatchKind::ReadModelDiffers).filter(|m| m.stream == stream).collect();
        match found.as_slice() {
            [one] => (*one).clone(),
            _ => panic!("expected one read_model_differs on {stream:?}: {found:#?}"),
        }
    };
    let ada = head(&pool, w.ada).await;
    let differs = of(stream(w.ada));
    assert_eq!((differs.version, differs.position), (Some(ada.version), Some(ada.position)));
    assert!(differs.reason.contains(&format!("wallet_balances row of {}", w.ada)), "{}", differs.reason);
    let available = ada.entry.available_after;
    assert!(
        differs.reason.contains(&format!("available {} (replay {available})", available + 1)),
        "{}",
        differs.reason
    );
    let bob = of(stream(w.bob));
    assert!(bob.reason.contains("held 7 (replay 0)"), "{}", bob.reason);
    let carol = head(&pool, w.carol).await;
    let differs = of(stream(w.carol));
    assert!(
        differs.reason.contains(&format!("sequence {} (replay {})", carol.version - 1, carol.version)),
        "{}",
        differs.reason
    );
    let dave = head(&pool, w.dave).await;
    let differs = of(stream(w.dave));
    assert!(
        differs.reason.contains(&format!("last_hash {} (replay {})", "ab".repeat(32), dave.entry.hash)),
        "{}",
        differs.reason
    );
    // Only the columns that differ are named.
    assert!(!differs.reason.contains("available"), "{}", differs.reason);
    let payment = of(Some(format!("payment-{}", w.paid)));
    assert_eq!(payment.version, Some(2));
    assert!(payment.reason.contains("status held (replay paid)"), "{}", payment.reason);
    assert!(payment.reason.contains("refunded 0 (replay 500)"), "{}", payment.reason);
    assert!(
        report.to_string().contains(&format!(
            "MISMATCH read_model_differs stream=wallet-{} version={} position={}",
            w.ada, ada.version, ada.position
        )),
        "{report}"
    );
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn missing_and_extra_read_model_rows_are_mismatches(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    build_payments(&pool).await;
    let stranger = user();
    let phantom = Uuid::now_v7();
    ok(sqlx::query("DELETE FROM read_models.wallet_balances WHERE account = $1")
        .bind(w.carol.to_string())
        .execute(&pool)
        .await);
    ok(sqlx::query(
        "INSERT INTO read_models.wallet_balances VALUES ($1, 100, 0, 1, repeat('0', 64), 1, now())",
    )
    .bind(stranger.to_string())
    .execute(&pool)
    .await);
    ok(sqlx::query("DELETE FROM read_models.ledger_payments WHERE payment_id = $1")
        .bind(w.paid)
        .execute(&pool)
        .await);
    ok(sqlx::query("INSERT INTO read_models.ledger_payments VALUES ($1, $2, $3, 'paid', 10, 0)")
        .bind(phantom)
        .bind(w.ada.to_string())
        .bind(w.bob.to_string())
        .execute(&pool)
        .await);

    let report = audit(&pool).await;
    assert_eq!(
        kinds(&report),
        set(&[MismatchKind::ReadModelMissing, MismatchKind::ReadModelExtra]),
        "{report}"
    );
    assert_eq!(report.mismatch_count, 4, "{report}");
    assert_eq!((report.read_models.wallet_rows, report.read_models.payment_rows), (5, Some(5)));

    let carol = head(&pool, w.carol).await;
    let missing: Vec<&Mismatch> = report.of_kind(MismatchKind::ReadModelMissing).collect();
    let [wallet, payment] = missing.as_slice() else { panic!("two missing rows: {missing:#?}") };
    assert_eq!(
        (&wallet.stream, wallet.version, wallet.position),
        (&stream(w.carol), Some(carol.version), Some(carol.position))
    );
    assert!(wallet.reason.contains(&format!("no wallet_balances row for {}", w.carol)), "{}", wallet.reason);
    assert_eq!((&payment.stream, payment.version), (&Some(format!("payment-{}", w.paid)), Some(2)));
    assert!(payment.reason.contains("no ledger_payments row"), "{}", payment.reason);

    let extra: Vec<&Mismatch> = report.of_kind(MismatchKind::ReadModelExtra).collect();
    let [wallet, payment] = extra.as_slice() else { panic!("two extra rows: {extra:#?}") };
    assert_eq!((&wallet.stream, wallet.version, wallet.position), (&stream(stranger), None, None));
    assert!(wallet.reason.contains("which has no wallet events"), "{}", wallet.reason);
    assert_eq!((&payment.stream, payment.version), (&Some(format!("payment-{phantom}")), None));
    assert!(payment.reason.contains("which has no payment events"), "{}", payment.reason);
}

/// The projection lags: its checkpoint is before the transfer to Dave. Its rows are compared
/// with the replay at the checkpoint (Ada's row without the transfer, no row for Dave), and
/// the lag itself is only a warning. Rows ahead of their checkpoint are mismatches.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_lagging_projection_is_compared_at_its_checkpoint(pool: PgPool) {
    let w = world(&pool).await;
    let lag = before_the_transfer_to_dave(&pool, &w).await;
    assert!(lag < end_of_log(&pool).await);
    build_balances(&pool, Some(lag.global_position)).await;
    build_payments(&pool).await;
    checkpoint(&pool, lag).await;
    // A rebuild's generation, far behind: not the active one, so not the checkpoint used.
    ok(sqlx::query(
        "INSERT INTO projection_checkpoints (projection, generation) VALUES ('looppay_ledger', 2)",
    )
    .execute(&pool)
    .await);

    let ada = wallet(&w.ledger, w.ada).await;
    let (available, sequence): (i64, i64) =
        ok(sqlx::query_as("SELECT available, sequence FROM read_models.wallet_balances WHERE account = $1")
            .bind(w.ada.to_string())
            .fetch_one(&pool)
            .await);
    assert_eq!(
        (available, sequence),
        (ada.available + 250, ada.sequence - 1),
        "Ada's row predates the transfer"
    );

    let report = audit(&pool).await;
    assert!(report.clean, "{report}");
    assert_eq!(report.read_models.status, ReadModelStatus::Compared);
    assert_eq!(report.read_models.position, Some(lag));
    assert_eq!(report.read_models.events_not_projected, 2, "the transfer's two legs");
    assert_eq!((report.read_models.wallet_rows, report.read_models.payment_rows), (4, Some(5)));
    assert!(
        report
            .warnings
            .iter()
            .any(|warning| warning.contains("2 ledger events are after looppay_ledger's position")),
        "{:?}",
        report.warnings
    );
    assert!(
        report.warnings.iter().all(|warning| !warning.contains("no checkpoint")),
        "{:?}",
        report.warnings
    );
    assert!(report.to_string().contains(&format!("looppay_ledger at {lag}")), "{report}");
    // The ledger's own checks still cover every event.
    assert_eq!(report.wallets, 5);
    assert_eq!(report.totals.imbalance, 0);

    // Rows ahead of the checkpoint they claim: Ada's differs from the replay at the
    // checkpoint, Dave's is for a wallet whose events are all after it.
    build_balances(&pool, None).await;
    let report = audit(&pool).await;
    assert_eq!(
        kinds(&report),
        set(&[MismatchKind::ReadModelDiffers, MismatchKind::ReadModelExtra]),
        "{report}"
    );
    let differs = only(&report, MismatchKind::ReadModelDiffers);
    assert_eq!(differs.stream, stream(w.ada));
    assert_eq!(differs.version, Some(ada.sequence - 1));
    assert!(
        differs.reason.contains(&format!("available {} (replay {})", ada.available, ada.available + 250)),
        "{}",
        differs.reason
    );
    let extra = only(&report, MismatchKind::ReadModelExtra);
    assert_eq!(extra.stream, stream(w.dave));
    assert!(extra.reason.contains("all after the projection's position"), "{}", extra.reason);
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn absent_read_models_are_a_warning_on_an_empty_ledger(pool: PgPool) {
    let report = audit(&pool).await;
    assert!(report.clean, "{report}");
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.read_models.status, ReadModelStatus::Absent);
    assert_eq!((report.wallets, report.payments, report.wallet_events), (0, 0, 0));
    let [warning] = report.warnings.as_slice() else { panic!("one warning: {:?}", report.warnings) };
    assert!(warning.contains("read models absent"), "{warning}");
    assert!(warning.contains("the ledger has no events either"), "{warning}");
    assert!(report.to_string().contains("read models       absent"), "{report}");
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn absent_read_models_are_a_failure_when_the_ledger_has_events(pool: PgPool) {
    world(&pool).await;
    let events: i64 = ok(sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE stream_name LIKE 'wallet-%' OR stream_name LIKE 'payment-%'",
    )
    .fetch_one(&pool)
    .await);

    let report = audit(&pool).await;
    assert!(!report.clean);
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.read_models.status, ReadModelStatus::Absent);
    assert_eq!(kinds(&report), set(&[MismatchKind::ReadModelsAbsent]), "{report}");
    let absent = only(&report, MismatchKind::ReadModelsAbsent);
    assert_eq!((absent.stream, absent.version, absent.position), (None, None, None));
    assert!(absent.reason.contains(&format!("but the ledger has {events} events")), "{}", absent.reason);

    // The wallets' table alone: compared, and the payments' absence is only a warning.
    build_balances(&pool, None).await;
    let report = audit(&pool).await;
    assert!(report.clean, "{report}");
    assert_eq!(report.read_models.status, ReadModelStatus::Compared);
    assert_eq!((report.read_models.wallet_rows, report.read_models.payment_rows), (5, None));
    assert!(
        report.warnings.iter().any(|warning| warning.contains("read_models.ledger_payments does not exist")),
        "{:?}",
        report.warnings
    );
    assert!(report.to_string().contains("no payment table"), "{report}");
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn wait_for_projection_waits_for_the_checkpoint_then_compares(pool: PgPool) {
    let w = world(&pool).await;
    let lag = before_the_transfer_to_dave(&pool, &w).await;
    let end = end_of_log(&pool).await;
    build_balances(&pool, Some(lag.global_position)).await;
    build_payments(&pool).await;
    checkpoint(&pool, lag).await;

    // Nobody moves the projection: the wait gives up after its timeout, and the rows are
    // compared at the checkpoint.
    let options = |wait_ms| AuditOptions {
        wait_for_projection: Some(std::time::Duration::from_millis(wait_ms)),
        ..AuditOptions::default()
    };
    let started = std::time::Instant::now();
    let report = audit_with(&pool, options(300)).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert!(report.clean, "{report}");
    assert_eq!(report.read_models.position, Some(lag));
    assert_eq!(report.read_models.events_not_projected, 2);
    assert!(
        report
            .warnings
            .iter()
            .any(|warning| warning.contains("looppay_ledger did not reach the end of the log within 0.3s")),
        "{:?}",
        report.warnings
    );

    // The projection catches up while the audit waits: the audit compares once it has.
    let projector = tokio::spawn({
        let pool = pool.clone();
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            build_balances(&pool, None).await;
            checkpoint(&pool, end).await;
        }
    });
    let started = std::time::Instant::now();
    let report = audit_with(&pool, options(30_000)).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(400), "it waited");
    ok(projector.await);
    assert!(report.clean, "{report}");
    assert_eq!(report.read_models.position, Some(end));
    assert_eq!(report.read_models.events_not_projected, 0);
    assert_eq!(report.read_models.wallet_rows, 5, "Dave's row, projected meanwhile, is compared");
    assert!(
        report
            .warnings
            .iter()
            .all(|warning| !warning.contains("did not reach") && !warning.contains("after")),
        "{:?}",
        report.warnings
    );

    // Already there: no wait at all.
    let started = std::time::Instant::now();
    let report = audit_with(&pool, options(30_000)).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(report.clean, "{report}");
}

/// Garbage where a payload should be: a mismatch at that event, not an error. The broken
/// wallet (payment) is not compared with its read-model row.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn an_undecodable_payload_is_a_mismatch_not_an_error(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    build_payments(&pool).await;
    let sent = wallet_events(&pool, w.ada).await.remove(1);
    assert_eq!(sent.event_type, "wallet.transfer_sent");
    let updated = ok(sqlx::query(
        "UPDATE events SET payload = '{\"garbage\": [1, 2, 3]}' WHERE stream_name = $1 AND stream_version = 2",
    )
    .bind(format!("wallet-{}", w.ada))
    .execute(&pool)
    .await);
    assert_eq!(updated.rows_affected(), 1);
    let refunded = ok(sqlx::query(
        "UPDATE events SET payload = '\"not an object\"' WHERE stream_name = $1 AND stream_version = 2 \
         RETURNING global_position",
    )
    .bind(format!("payment-{}", w.paid))
    .fetch_one(&pool)
    .await);
    let refunded: i64 = sqlx::Row::get(&refunded, 0);

    let report = audit_with(&pool, AuditOptions::default()).await;
    assert!(!report.clean);
    let undecodable: Vec<&Mismatch> = report.of_kind(MismatchKind::Undecodable).collect();
    let [payment, wallet] = undecodable.as_slice() else { panic!("two undecodable: {report}") };
    assert_eq!(
        (&payment.stream, payment.version, payment.position),
        (&Some(format!("payment-{}", w.paid)), Some(2), Some(refunded))
    );
    assert_eq!(
        (&wallet.stream, wallet.version, wallet.position),
        (&stream(w.ada), Some(2), Some(sent.position))
    );
    assert!(wallet.reason.contains("wallet.transfer_sent v1 does not decode"), "{}", wallet.reason);
    assert!(payment.reason.contains("payment.refunded v1 does not decode"), "{}", payment.reason);
    // Ada's row (her real balance) and the payment's row are not compared with a replay that
    // stopped at the garbage: no read-model mismatch. The missing legs are still felt by the
    // money checks: the transfer has only its received leg, the refund only its wallet legs.
    assert_eq!(
        kinds(&report),
        set(&[
            MismatchKind::Undecodable,
            MismatchKind::IncompleteEntry,
            MismatchKind::UnbalancedEntry,
            MismatchKind::PaymentLegs,
            MismatchKind::Conservation,
        ]),
        "{report}"
    );
    assert_eq!(only(&report, MismatchKind::IncompleteEntry).entry_id, Some(sent.entry.entry_id));
    assert_eq!(report.read_models.status, ReadModelStatus::Compared);
    assert_eq!(report.totals.imbalance, 1_500);
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn max_mismatches_caps_the_list_but_counts_every_mismatch(pool: PgPool) {
    world(&pool).await;
    build_balances(&pool, None).await;
    build_payments(&pool).await;
    ok(sqlx::query("UPDATE read_models.wallet_balances SET available = available + 1").execute(&pool).await);
    ok(sqlx::query("UPDATE read_models.ledger_payments SET amount = amount + 1").execute(&pool).await);

    let report = audit(&pool).await;
    assert_eq!(report.mismatch_count, 10, "{report}");
    assert_eq!(report.mismatches.len(), 10);
    assert!(!report.mismatches_truncated);

    let capped = |max_mismatches| AuditOptions { max_mismatches, ..AuditOptions::default() };
    let report = audit_with(&pool, capped(3)).await;
    assert!(!report.clean);
    assert_eq!(report.mismatch_count, 10);
    assert_eq!(report.mismatches.len(), 3);
    assert!(report.mismatches_truncated);
    assert_eq!(kinds(&report), set(&[MismatchKind::ReadModelDiffers]));
    let text = report.to_string();
    assert!(text.contains("... 7 more mismatches not shown"), "{text}");
    assert!(text.contains("FAILED: 10 mismatches"), "{text}");
    let json: serde_json::Value = ok(serde_json::from_str(&ok(report.to_json())));
    assert_eq!(json["mismatchCount"], 10);
    assert_eq!(json["mismatchesTruncated"], true);

    let report = audit_with(&pool, capped(0)).await;
    assert!(!report.clean);
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.mismatch_count, 10);
    assert!(report.mismatches.is_empty());
    assert!(report.mismatches_truncated);
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn compare_read_models_false_skips_the_comparison(pool: PgPool) {
    let w = world(&pool).await;
    let skip = |wait: Option<std::time::Duration>| AuditOptions {
        compare_read_models: false,
        wait_for_projection: wait,
        ..AuditOptions::default()
    };

    // No read models at all: not a failure when they are not compared.
    let report = audit_with(&pool, skip(None)).await;
    assert!(report.clean, "{report}");
    assert_eq!(report.read_models.status, ReadModelStatus::Skipped);
    assert!(
        report.warnings.iter().any(|warning| warning.contains("read models not compared")),
        "{:?}",
        report.warnings
    );
    assert!(report.to_string().contains("read models       not compared"), "{report}");

    // Wrong rows and a lagging checkpoint: neither compared nor waited for.
    build_balances(&pool, None).await;
    build_payments(&pool).await;
    ok(sqlx::query("UPDATE read_models.wallet_balances SET held = held + 1").execute(&pool).await);
    ok(sqlx::query("DELETE FROM read_models.ledger_payments").execute(&pool).await);
    checkpoint(&pool, before_the_transfer_to_dave(&pool, &w).await).await;
    assert!(!audit(&pool).await.clean, "compared, the rows are wrong");

    let started = std::time::Instant::now();
    let report = audit_with(&pool, skip(Some(std::time::Duration::from_secs(30)))).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "no wait");
    assert!(report.clean, "{report}");
    let r = &report.read_models;
    assert_eq!(r.status, ReadModelStatus::Skipped);
    assert_eq!((r.position, r.wallet_rows, r.payment_rows, r.events_not_projected), (None, 0, None, 0));
    assert!(
        report.warnings.iter().all(|warning| !warning.contains("did not reach")),
        "{:?}",
        report.warnings
    );
}
