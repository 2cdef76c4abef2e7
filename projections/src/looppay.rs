//! The LoopPay read models: balances, statements, payments and top-ups of the ledger.
//!
//! [`LedgerReadModel`] folds the wallet streams (`wallet-<account>`, where the account is a
//! user id or `system.escrow`) and the payment streams (`payment-<uuid>`) into four tables:
//!
//! - `wallet_balances`: one row per wallet, with its `available` and `held` balances, its
//!   chain length (`sequence`) and head (`last_hash`) after its last event, the global
//!   position of that event and when it occurred.
//! - `wallet_transactions`: the wallet's statement, one row per wallet event that moved
//!   credits (a non-zero `available_delta` or `held_delta`), keyed by `(account, sequence)`,
//!   with the balances it left behind. `kind` is the event type without `wallet.`, except
//!   `wallet.topped_up` which is `top_up` (see [`TRANSACTION_KINDS`]). Top-up requests,
//!   failures and expiries move nothing and are not rows here.
//! - `ledger_payments`: one row per payment stream: who pays whom, how much, how much of it
//!   was refunded, and its status (`held`, `paid`, `voided` or `expired`). (The expiry
//!   worker does not look for due holds here: a read model may lag, so it reads a table the
//!   event store's trigger keeps, see `loopync_workers::looppay::hold_expiry`.)
//! - `ledger_top_ups`: one row per top-up, `pending` from its request, then `confirmed`,
//!   `failed` or `expired`. A top-up confirmed at once has no request: its row is `confirmed`
//!   with `requested_at = settled_at`.
//!
//! Every batch is decoded, folded in memory and written back with one bulk statement per
//! table (plus one read of the payments it touches): a handful of round trips whatever the
//! batch's size. Wallet events carry the balances they leave, so the wallet tables need no
//! read at all; their writes are keyed by the wallet's sequence, which makes them idempotent.
//!
//! Each batch also yields one [`BalanceUpdated`] live update per user wallet it touched (escrow
//! has no subscriber), with the balances the batch left; [`frames`] holds it.
//!
//! Queries read the `read_models.*` views: [`balance`], [`balance_at`], [`transactions`],
//! [`payment`], [`top_up`] and [`all_balances`].
//!
//! The SQL on this projection's tables is unchecked (`sqlx::query`, not the `query!` macros):
//! the tables exist only in the per-generation schemas and `read_models` views the runtime
//! creates, never in the migrated schema the macros are checked against.

pub mod frames;

pub use frames::BalanceUpdated;

use crate::projection::{LiveUpdate, Projection, ProjectionError};
use async_trait::async_trait;
use loopync_domain::Aggregate;
use loopync_domain::looppay::{
    CURRENCY, LedgerAccount, Payment, PaymentEvent, Wallet, WalletEntry, WalletEvent, WalletEventKind,
};
use loopync_schemas::RecordedEvent;
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, BTreeSet};

/// The LoopPay ledger's read models: `wallet_balances`, `wallet_transactions`,
/// `ledger_payments` and `ledger_top_ups` (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct LedgerReadModel;

impl LedgerReadModel {
    /// The projection's name (its generations are the schemas `proj_looppay_ledger_g<n>`).
    pub const NAME: &'static str = "looppay_ledger";
}

/// The tables, created in each generation's schema (see the file's comments).
const SCHEMA: &str = include_str!("looppay/schema.sql");

/// Every `kind` a `wallet_transactions` row can have.
pub const TRANSACTION_KINDS: &[&str] = &[
    "top_up",
    "transfer_sent",
    "transfer_received",
    "payment_sent",
    "payment_received",
    "hold_placed",
    "hold_captured",
    "hold_released",
    "refund_sent",
    "refund_received",
];

/// The `kind` of a statement row for an event of this kind; `None` for the kinds that never
/// move credits (top-up requests, failures and expiries).
pub fn transaction_kind(kind: WalletEventKind) -> Option<&'static str> {
    match kind {
        WalletEventKind::TopUpRequested | WalletEventKind::TopUpFailed | WalletEventKind::TopUpExpired => {
            None
        }
        WalletEventKind::ToppedUp => Some("top_up"),
        WalletEventKind::TransferSent => Some("transfer_sent"),
        WalletEventKind::TransferReceived => Some("transfer_received"),
        WalletEventKind::PaymentSent => Some("payment_sent"),
        WalletEventKind::PaymentReceived => Some("payment_received"),
        WalletEventKind::HoldPlaced => Some("hold_placed"),
        WalletEventKind::HoldCaptured => Some("hold_captured"),
        WalletEventKind::HoldReleased => Some("hold_released"),
        WalletEventKind::RefundSent => Some("refund_sent"),
        WalletEventKind::RefundReceived => Some("refund_received"),
    }
}

#[async_trait]
impl Projection for LedgerReadModel {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn schema_sql(&self) -> &'static str {
        SCHEMA
    }

    fn tables(&self) -> &'static [&'static str] {
        &["wallet_balances", "wallet_transactions", "ledger_payments", "ledger_top_ups"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<Vec<LiveUpdate>, ProjectionError> {
        let mut wallets = WalletFold::default();
        let mut payment_events = Vec::new();
        for recorded in events {
            if let Some(id) = stream_id(recorded, Wallet::CATEGORY) {
                let Some(account) = wallet_account(recorded, id) else { continue };
                wallets.fold(account, recorded, &recorded.decode::<WalletEvent>()?);
            } else if let Some(id) = stream_id(recorded, Payment::CATEGORY) {
                let Some(payment_id) = payment_uuid(recorded, id) else { continue };
                payment_events.push((payment_id, recorded.decode::<PaymentEvent>()?));
            }
        }

        write_transactions(conn, &wallets.transactions).await?;
        write_balances(conn, &wallets.heads).await?;
        write_top_ups(conn, &wallets.top_ups).await?;
        if !payment_events.is_empty() {
            let ids: BTreeSet<Uuid> = payment_events.iter().map(|(id, _)| *id).collect();
            let ids: Vec<Uuid> = ids.into_iter().collect();
            let mut rows: BTreeMap<Uuid, Option<PaymentRow>> = ids.iter().map(|id| (*id, None)).collect();
            for row in load_payments(conn, &ids).await? {
                rows.insert(row.payment_id, Some(row));
            }
            let mut changed = BTreeSet::new();
            for (payment_id, event) in payment_events {
                let row = rows.entry(payment_id).or_default();
                if fold_payment(row, payment_id, event) {
                    changed.insert(payment_id);
                }
            }
            let written: Vec<&PaymentRow> =
                changed.iter().filter_map(|id| rows.get(id).and_then(Option::as_ref)).collect();
            write_payments(conn, &written).await?;
        }

        // One update per user wallet and batch, with the balances the batch left.
        let mut updates = Vec::new();
        for (account, head) in &wallets.heads {
            let Some(user) = LedgerAccount::parse(account).and_then(LedgerAccount::user) else { continue };
            let balance = BalanceUpdated {
                available: head.available,
                held: head.held,
                currency: CURRENCY.to_owned(),
                sequence: head.sequence,
            };
            updates.push(LiveUpdate::new(user, &balance)?);
        }
        Ok(updates)
    }
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// The id of the stream of `recorded` when it is `<category>-<id>`.
fn stream_id<'a>(recorded: &'a RecordedEvent, category: &str) -> Option<&'a str> {
    recorded.stream_name.strip_prefix(category)?.strip_prefix('-')
}

/// The account of a wallet stream: a user id or `system.escrow`, written the way the command
/// side writes it (`StreamName::of::<Wallet>(account)`, a lowercase hyphenated UUID). Other
/// ids are skipped with a warning: a read model must not stall the log on an event it cannot
/// represent, nor count one wallet under two names.
fn wallet_account(recorded: &RecordedEvent, id: &str) -> Option<LedgerAccount> {
    match LedgerAccount::parse(id) {
        Some(account) if account.has_stream() && account.to_string() == id => Some(account),
        _ => {
            tracing::warn!(stream = %recorded.stream_name, "wallet stream id is not a wallet account; event skipped");
            None
        }
    }
}

/// The id of a payment stream, which must be a UUID; other ids are skipped with a warning.
fn payment_uuid(recorded: &RecordedEvent, id: &str) -> Option<Uuid> {
    match Uuid::parse_str(id) {
        Ok(id) => Some(id),
        Err(_) => {
            tracing::warn!(stream = %recorded.stream_name, "payment stream id is not a uuid; event skipped");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Wallets: balances, statements, top-ups
// ---------------------------------------------------------------------------------------------

/// A wallet as its last event in the batch left it.
struct WalletHead {
    available: i64,
    held: i64,
    sequence: i64,
    last_hash: String,
    last_position: i64,
    updated_at: DateTime<Utc>,
}

/// A top-up as the batch saw it. `requested_at` is `None` when the batch holds no request
/// for it (one from an earlier batch, or a top-up confirmed at once).
struct TopUpChange {
    account: String,
    amount: i64,
    status: &'static str,
    requested_at: Option<DateTime<Utc>>,
    settled_at: Option<DateTime<Utc>>,
}

/// What a batch's wallet events add up to (BTreeMaps: deterministic write and update order).
#[derive(Default)]
struct WalletFold {
    heads: BTreeMap<String, WalletHead>,
    transactions: TransactionColumns,
    top_ups: BTreeMap<Uuid, TopUpChange>,
}

impl WalletFold {
    fn fold(&mut self, account: LedgerAccount, recorded: &RecordedEvent, event: &WalletEvent) {
        let account = account.to_string();
        let entry = event.entry();
        if entry.account != account {
            tracing::warn!(
                stream = %recorded.stream_name,
                entry_account = %entry.account,
                "wallet event names another account than its stream; the stream's is used"
            );
        }
        let position = recorded.position.global_position;

        // Events of one stream arrive in sequence order; the highest sequence is the head.
        let newer = self.heads.get(&account).is_none_or(|head| entry.sequence > head.sequence);
        if newer {
            self.heads.insert(
                account.clone(),
                WalletHead {
                    available: entry.available_after,
                    held: entry.held_after,
                    sequence: entry.sequence,
                    last_hash: entry.hash.clone(),
                    last_position: position,
                    updated_at: entry.occurred_at,
                },
            );
        }

        let moved = entry.available_delta != 0 || entry.held_delta != 0;
        if let Some(kind) = transaction_kind(event.kind())
            && moved
        {
            self.transactions.push(&account, position, kind, entry);
        }

        let top_up_status = match event {
            WalletEvent::TopUpRequested(_) => Some("pending"),
            WalletEvent::ToppedUp(_) => Some("confirmed"),
            WalletEvent::TopUpFailed(_) => Some("failed"),
            WalletEvent::TopUpExpired(_) => Some("expired"),
            _ => None,
        };
        if let (Some(status), Some(top_up_id)) = (top_up_status, entry.top_up_id) {
            self.fold_top_up(top_up_id, account, status, entry);
        }
    }

    /// The same rule as the write's `ON CONFLICT` clause, so that a rebuild (one batch) and
    /// incremental batches agree: the first event of a top-up creates it (account and amount
    /// never change afterwards), a settlement settles a pending top-up once, and anything
    /// after the settlement is ignored.
    fn fold_top_up(&mut self, top_up_id: Uuid, account: String, status: &'static str, entry: &WalletEntry) {
        let at = entry.occurred_at;
        match self.top_ups.get_mut(&top_up_id) {
            None => {
                let pending = status == "pending";
                self.top_ups.insert(
                    top_up_id,
                    TopUpChange {
                        account,
                        amount: entry.amount,
                        status,
                        requested_at: pending.then_some(at),
                        settled_at: (!pending).then_some(at),
                    },
                );
            }
            Some(change) if change.status == "pending" && status != "pending" => {
                change.status = status;
                change.settled_at = Some(at);
            }
            Some(_) => {}
        }
    }
}

/// Statement rows as one array per column, for `unnest`.
#[derive(Default)]
struct TransactionColumns {
    account: Vec<String>,
    sequence: Vec<i64>,
    global_position: Vec<i64>,
    kind: Vec<&'static str>,
    entry_id: Vec<Uuid>,
    amount: Vec<i64>,
    available_delta: Vec<i64>,
    held_delta: Vec<i64>,
    available_after: Vec<i64>,
    held_after: Vec<i64>,
    counterparty: Vec<Option<String>>,
    payment_id: Vec<Option<Uuid>>,
    top_up_id: Vec<Option<Uuid>>,
    reference: Vec<Option<String>>,
    note: Vec<Option<String>>,
    occurred_at: Vec<DateTime<Utc>>,
}

impl TransactionColumns {
    fn push(&mut self, account: &str, position: i64, kind: &'static str, entry: &WalletEntry) {
        self.account.push(account.to_owned());
        self.sequence.push(entry.sequence);
        self.global_position.push(position);
        self.kind.push(kind);
        self.entry_id.push(entry.entry_id);
        self.amount.push(entry.amount);
        self.available_delta.push(entry.available_delta);
        self.held_delta.push(entry.held_delta);
        self.available_after.push(entry.available_after);
        self.held_after.push(entry.held_after);
        self.counterparty.push(entry.counterparty.clone());
        self.payment_id.push(entry.payment_id);
        self.top_up_id.push(entry.top_up_id);
        self.reference.push(entry.reference.clone());
        self.note.push(entry.note.clone());
        self.occurred_at.push(entry.occurred_at);
    }
}

const TRANSACTION_COLUMNS: &str = "account, sequence, global_position, kind, entry_id, amount, \
     available_delta, held_delta, available_after, held_after, counterparty, payment_id, top_up_id, \
     reference, note, occurred_at";

/// Inserts statement rows in one statement. A row already there (same account and sequence)
/// stays: an event is in a wallet's chain once.
async fn write_transactions(conn: &mut PgConnection, rows: &TransactionColumns) -> Result<(), sqlx::Error> {
    if rows.account.is_empty() {
        return Ok(());
    }
    sqlx::query(&format!(
        "INSERT INTO wallet_transactions ({TRANSACTION_COLUMNS}) \
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::uuid[], $6::bigint[], \
             $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::uuid[], $13::uuid[], \
             $14::text[], $15::text[], $16::timestamptz[]) \
         ON CONFLICT (account, sequence) DO NOTHING"
    ))
    .bind(&rows.account)
    .bind(&rows.sequence)
    .bind(&rows.global_position)
    .bind(&rows.kind)
    .bind(&rows.entry_id)
    .bind(&rows.amount)
    .bind(&rows.available_delta)
    .bind(&rows.held_delta)
    .bind(&rows.available_after)
    .bind(&rows.held_after)
    .bind(&rows.counterparty)
    .bind(&rows.payment_id)
    .bind(&rows.top_up_id)
    .bind(&rows.reference)
    .bind(&rows.note)
    .bind(&rows.occurred_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Upserts the wallets' heads in one statement; a stored row further along its chain (a
/// replayed batch) is left as it is.
async fn write_balances(
    conn: &mut PgConnection,
    heads: &BTreeMap<String, WalletHead>,
) -> Result<(), sqlx::Error> {
    if heads.is_empty() {
        return Ok(());
    }
    let accounts: Vec<&str> = heads.keys().map(String::as_str).collect();
    let available: Vec<i64> = heads.values().map(|h| h.available).collect();
    let held: Vec<i64> = heads.values().map(|h| h.held).collect();
    let sequence: Vec<i64> = heads.values().map(|h| h.sequence).collect();
    let last_hash: Vec<&str> = heads.values().map(|h| h.last_hash.as_str()).collect();
    let last_position: Vec<i64> = heads.values().map(|h| h.last_position).collect();
    let updated_at: Vec<DateTime<Utc>> = heads.values().map(|h| h.updated_at).collect();
    sqlx::query(
        "INSERT INTO wallet_balances (account, available, held, sequence, last_hash, last_position, updated_at) \
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[], \
             $7::timestamptz[]) \
         ON CONFLICT (account) DO UPDATE SET available = excluded.available, held = excluded.held, \
             sequence = excluded.sequence, last_hash = excluded.last_hash, \
             last_position = excluded.last_position, updated_at = excluded.updated_at \
         WHERE wallet_balances.sequence < excluded.sequence",
    )
    .bind(&accounts)
    .bind(&available)
    .bind(&held)
    .bind(&sequence)
    .bind(&last_hash)
    .bind(&last_position)
    .bind(&updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Upserts top-ups in one statement, with the rule of [`WalletFold::fold_top_up`]: a new
/// top-up is inserted (a settlement without a request in sight as requested when settled);
/// a stored one keeps its account, amount and request time, and is settled only while
/// pending.
async fn write_top_ups(
    conn: &mut PgConnection,
    top_ups: &BTreeMap<Uuid, TopUpChange>,
) -> Result<(), sqlx::Error> {
    if top_ups.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = top_ups.keys().copied().collect();
    let accounts: Vec<&str> = top_ups.values().map(|t| t.account.as_str()).collect();
    let amounts: Vec<i64> = top_ups.values().map(|t| t.amount).collect();
    let statuses: Vec<&str> = top_ups.values().map(|t| t.status).collect();
    let requested_at: Vec<Option<DateTime<Utc>>> =
        top_ups.values().map(|t| t.requested_at.or(t.settled_at)).collect();
    let settled_at: Vec<Option<DateTime<Utc>>> = top_ups.values().map(|t| t.settled_at).collect();
    sqlx::query(
        "INSERT INTO ledger_top_ups (top_up_id, account, amount, status, requested_at, settled_at) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[], \
             $6::timestamptz[]) \
         ON CONFLICT (top_up_id) DO UPDATE SET status = excluded.status, settled_at = excluded.settled_at \
         WHERE ledger_top_ups.status = 'pending' AND excluded.status <> 'pending'",
    )
    .bind(&ids)
    .bind(&accounts)
    .bind(&amounts)
    .bind(&statuses)
    .bind(&requested_at)
    .bind(&settled_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Payments
// ---------------------------------------------------------------------------------------------

const PAYMENT_COLUMNS: &str =
    "payment_id, payer, payee, status, amount, refunded, reference, expires_at, updated_at";

/// Folds one payment event into the payment's row (`None` before its first event). Returns
/// whether the row changed. `updated_at` is the event's own time.
fn fold_payment(row: &mut Option<PaymentRow>, payment_id: Uuid, event: PaymentEvent) -> bool {
    match event {
        PaymentEvent::Paid(paid) => {
            if row.is_some() {
                tracing::warn!(%payment_id, "payment.paid for a payment that exists; ignored");
                return false;
            }
            *row = Some(PaymentRow {
                payment_id,
                payer: paid.payer,
                payee: paid.payee,
                status: "paid".to_owned(),
                amount: paid.amount,
                refunded: 0,
                reference: paid.reference,
                expires_at: None,
                updated_at: paid.paid_at,
            });
            true
        }
        PaymentEvent::Authorized(authorized) => {
            if row.is_some() {
                tracing::warn!(%payment_id, "payment.authorized for a payment that exists; ignored");
                return false;
            }
            *row = Some(PaymentRow {
                payment_id,
                payer: authorized.payer,
                payee: authorized.payee,
                status: "held".to_owned(),
                amount: authorized.amount,
                refunded: 0,
                reference: authorized.reference,
                expires_at: Some(authorized.expires_at),
                updated_at: authorized.authorized_at,
            });
            true
        }
        other => {
            // Every other event follows the payment's first in its stream.
            let Some(payment) = row.as_mut() else {
                tracing::warn!(%payment_id, "payment event before the payment's first; ignored");
                return false;
            };
            match other {
                PaymentEvent::Paid(_) | PaymentEvent::Authorized(_) => return false,
                PaymentEvent::Captured(captured) => {
                    payment.status = "paid".to_owned();
                    payment.amount = captured.amount;
                    payment.updated_at = captured.captured_at;
                }
                PaymentEvent::Voided(released) => {
                    payment.status = "voided".to_owned();
                    payment.updated_at = released.released_at;
                }
                PaymentEvent::Expired(released) => {
                    payment.status = "expired".to_owned();
                    payment.updated_at = released.released_at;
                }
                PaymentEvent::Refunded(refunded) => {
                    payment.refunded += refunded.amount;
                    payment.updated_at = refunded.refunded_at;
                }
            }
            true
        }
    }
}

/// The stored rows of `ids` in the generation being written.
async fn load_payments(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {PAYMENT_COLUMNS} FROM ledger_payments WHERE payment_id = ANY($1)"))
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
}

/// Upserts whole payment rows in one statement.
async fn write_payments(conn: &mut PgConnection, rows: &[&PaymentRow]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.payment_id).collect();
    let payers: Vec<&str> = rows.iter().map(|r| r.payer.as_str()).collect();
    let payees: Vec<&str> = rows.iter().map(|r| r.payee.as_str()).collect();
    let statuses: Vec<&str> = rows.iter().map(|r| r.status.as_str()).collect();
    let amounts: Vec<i64> = rows.iter().map(|r| r.amount).collect();
    let refunded: Vec<i64> = rows.iter().map(|r| r.refunded).collect();
    let references: Vec<&str> = rows.iter().map(|r| r.reference.as_str()).collect();
    let expires_at: Vec<Option<DateTime<Utc>>> = rows.iter().map(|r| r.expires_at).collect();
    let updated_at: Vec<DateTime<Utc>> = rows.iter().map(|r| r.updated_at).collect();
    sqlx::query(&format!(
        "INSERT INTO ledger_payments ({PAYMENT_COLUMNS}) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], \
             $7::text[], $8::timestamptz[], $9::timestamptz[]) \
         ON CONFLICT (payment_id) DO UPDATE SET payer = excluded.payer, payee = excluded.payee, \
             status = excluded.status, amount = excluded.amount, refunded = excluded.refunded, \
             reference = excluded.reference, expires_at = excluded.expires_at, \
             updated_at = excluded.updated_at"
    ))
    .bind(&ids)
    .bind(&payers)
    .bind(&payees)
    .bind(&statuses)
    .bind(&amounts)
    .bind(&refunded)
    .bind(&references)
    .bind(&expires_at)
    .bind(&updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

/// A wallet's balances as `read_models.wallet_balances` shows them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BalanceRow {
    /// A user id or `system.escrow`.
    pub account: String,
    /// What the wallet can spend.
    pub available: i64,
    /// What holds reserve until they are captured, voided or expire.
    pub held: i64,
    /// The wallet's last event sequence (its chain length).
    pub sequence: i64,
    /// The hash of the wallet's last event (the head of its chain).
    pub last_hash: String,
    /// When the wallet's last event occurred.
    pub updated_at: DateTime<Utc>,
}

const BALANCE_COLUMNS: &str = "account, available, held, sequence, last_hash, updated_at";

/// One row of a wallet's statement, `read_models.wallet_transactions`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TransactionRow {
    /// The wallet: a user id or `system.escrow`.
    pub account: String,
    /// The event's place in the wallet's chain.
    pub sequence: i64,
    /// The event's position in the global log.
    pub global_position: i64,
    /// One of [`TRANSACTION_KINDS`].
    pub kind: String,
    /// The movement this leg belongs to (shared by its legs).
    pub entry_id: Uuid,
    /// The amount moved (positive).
    pub amount: i64,
    /// Signed change of the available balance.
    pub available_delta: i64,
    /// Signed change of the held balance.
    pub held_delta: i64,
    /// The available balance this movement left.
    pub available_after: i64,
    /// The held balance this movement left.
    pub held_after: i64,
    /// The account on the other side (`system.funding` for top-ups).
    pub counterparty: Option<String>,
    /// The payment (or hold) this leg belongs to.
    pub payment_id: Option<Uuid>,
    /// The top-up this leg belongs to.
    pub top_up_id: Option<Uuid>,
    /// What was paid for, e.g. `event:<id>`.
    pub reference: Option<String>,
    /// The sender's note, a refund's reason, or `voided` / `expired` on released holds.
    pub note: Option<String>,
    /// When the movement occurred (the command's time).
    pub occurred_at: DateTime<Utc>,
}

/// A payment as `read_models.ledger_payments` shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PaymentRow {
    /// The payment's id (its stream is `payment-<id>`).
    pub payment_id: Uuid,
    /// The paying account (a user id or `system.escrow`).
    pub payer: String,
    /// The account paid (a user id or `system.escrow`).
    pub payee: String,
    /// `held`, `paid`, `voided` or `expired`.
    pub status: String,
    /// Held (while held) or paid amount.
    pub amount: i64,
    /// How much of a paid payment was refunded.
    pub refunded: i64,
    /// What was paid for, e.g. `event:<id>` or `order:<id>`.
    pub reference: String,
    /// When a hold expires; `None` for payments made at once.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the payment's last event occurred.
    pub updated_at: DateTime<Utc>,
}

/// A top-up as `read_models.ledger_top_ups` shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TopUpRow {
    /// The top-up's id.
    pub top_up_id: Uuid,
    /// The wallet topped up.
    pub account: String,
    /// The amount requested (and credited, once confirmed).
    pub amount: i64,
    /// `pending`, `confirmed`, `failed` or `expired`.
    pub status: String,
    /// When it was requested (when it was confirmed, for a top-up confirmed at once).
    pub requested_at: DateTime<Utc>,
    /// When it was confirmed or failed.
    pub settled_at: Option<DateTime<Utc>>,
}

/// Which statement rows [`transactions`] returns. Empty: all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionFilter {
    /// Only these kinds (see [`TRANSACTION_KINDS`]).
    pub kinds: Option<Vec<String>>,
    /// Only rows that occurred at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only rows that occurred before this instant.
    pub to: Option<DateTime<Utc>>,
}

/// Most rows one [`transactions`] page returns; larger limits are cut to it.
pub const MAX_TRANSACTIONS_LIMIT: i64 = 200;

/// A wallet's balances (`account` is a user id or `system.escrow`); `None` for a wallet
/// without events.
pub async fn balance(pool: &PgPool, account: &str) -> Result<Option<BalanceRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {BALANCE_COLUMNS} FROM read_models.wallet_balances WHERE account = $1"))
        .bind(account)
        .fetch_optional(pool)
        .await
}

/// Every wallet's balances, by account: what an auditor compares with the event log.
pub async fn all_balances(pool: &PgPool) -> Result<Vec<BalanceRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {BALANCE_COLUMNS} FROM read_models.wallet_balances ORDER BY account"))
        .fetch_all(pool)
        .await
}

/// A wallet's `(available, held)` after its last transaction (by sequence) that occurred at
/// or before `at`; `(0, 0)` when there is none.
pub async fn balance_at(pool: &PgPool, account: &str, at: DateTime<Utc>) -> Result<(i64, i64), sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT available_after, held_after FROM read_models.wallet_transactions \
         WHERE account = $1 AND occurred_at <= $2 ORDER BY sequence DESC LIMIT 1",
    )
    .bind(account)
    .bind(at)
    .fetch_optional(pool)
    .await?;
    Ok(row.unwrap_or((0, 0)))
}

/// A page of a wallet's statement, newest first (by sequence). Pages by keyset: pass the
/// `sequence` of the last row of a page as `before_sequence` for the next one. `from` is
/// inclusive, `to` exclusive. `limit` is cut to [`MAX_TRANSACTIONS_LIMIT`].
pub async fn transactions(
    pool: &PgPool,
    account: &str,
    filter: &TransactionFilter,
    before_sequence: Option<i64>,
    limit: i64,
) -> Result<Vec<TransactionRow>, sqlx::Error> {
    let limit = limit.min(MAX_TRANSACTIONS_LIMIT);
    if limit <= 0 {
        return Ok(Vec::new());
    }
    sqlx::query_as(&format!(
        "SELECT {TRANSACTION_COLUMNS} FROM read_models.wallet_transactions \
         WHERE account = $1 \
           AND ($2::text[] IS NULL OR kind = ANY($2)) \
           AND ($3::timestamptz IS NULL OR occurred_at >= $3) \
           AND ($4::timestamptz IS NULL OR occurred_at < $4) \
           AND ($5::bigint IS NULL OR sequence < $5) \
         ORDER BY sequence DESC \
         LIMIT $6"
    ))
    .bind(account)
    .bind(filter.kinds.as_deref())
    .bind(filter.from)
    .bind(filter.to)
    .bind(before_sequence)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One payment; `None` when there is no such payment.
pub async fn payment(pool: &PgPool, payment_id: Uuid) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM read_models.ledger_payments WHERE payment_id = $1"
    ))
    .bind(payment_id)
    .fetch_optional(pool)
    .await
}

/// One top-up; `None` when there is no such top-up.
pub async fn top_up(pool: &PgPool, top_up_id: Uuid) -> Result<Option<TopUpRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT top_up_id, account, amount, status, requested_at, settled_at \
         FROM read_models.ledger_top_ups WHERE top_up_id = $1",
    )
    .bind(top_up_id)
    .fetch_optional(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_moving_kind_has_a_transaction_kind() {
        let kinds = WalletEventKind::ALL;
        let named: Vec<&str> = kinds.iter().filter_map(|kind| transaction_kind(*kind)).collect();
        assert_eq!(named, TRANSACTION_KINDS);
        for kind in kinds {
            if let Some(name) = transaction_kind(kind)
                && name != "top_up"
            {
                assert_eq!(kind.event_type().strip_prefix("wallet."), Some(name));
            }
        }
    }
}
