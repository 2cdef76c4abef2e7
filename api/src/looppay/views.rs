//! The bodies of the LoopPay endpoints. Money is always integer minor units plus a currency.

use super::amount::AmountInput;
use crate::identity::views::Pagination;
use chrono::{DateTime, Utc};
use loopync_domain::looppay::{CURRENCY, WalletEvent};
use poem_openapi::Object;
use uuid::Uuid;

/// `POST /looppay/topup`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct TopUpRequest {
    pub amount: AmountInput,
}

/// `POST /looppay/transfer`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferRequest {
    /// The recipient's user id.
    pub to_user_id: Uuid,
    pub amount: AmountInput,
    /// Shown to both sides; at most 280 characters.
    pub note: Option<String>,
}

/// `POST /looppay/pay`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayRequest {
    /// Who is paid: a user id, or `system.escrow` for platform sales (tickets, orders).
    pub to: String,
    pub amount: AmountInput,
    /// What is paid for, `<kind>:<id>` (e.g. `event:0190...`, `order:0190...`).
    pub reference: String,
    pub note: Option<String>,
}

/// `POST /looppay/payments/{paymentId}/refund`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefundRequest {
    /// What to give back; everything still refundable when absent.
    pub amount: Option<AmountInput>,
    pub reason: Option<String>,
}

/// A wallet's balances.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename_all = "camelCase")]
pub struct BalanceView {
    /// What can be spent.
    pub available: i64,
    /// Reserved by holds until they are captured, voided or expire.
    pub held: i64,
    pub currency: String,
    /// For a point-in-time balance, the instant it is for.
    #[oai(skip_serializing_if_is_none)]
    pub at: Option<DateTime<Utc>>,
}

impl BalanceView {
    pub fn new(available: i64, held: i64) -> Self {
        Self { available, held, currency: CURRENCY.to_owned(), at: None }
    }

    /// The balances a wallet event left behind.
    pub fn after(event: Option<&WalletEvent>) -> Self {
        event.map_or_else(|| Self::new(0, 0), |e| Self::new(e.entry().available_after, e.entry().held_after))
    }
}

/// A top-up as started.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct TopUpView {
    pub top_up_id: Uuid,
    /// `confirmed` (credits arrived) or `pending` (waiting for the provider).
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub provider: String,
    /// Where to pay, for providers with a checkout page.
    #[oai(skip_serializing_if_is_none)]
    pub checkout_url: Option<String>,
    /// The wallet after the top-up was recorded.
    pub balance: BalanceView,
}

/// A top-up's state.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct TopUpStatusView {
    pub top_up_id: Uuid,
    /// `pending`, `confirmed` or `failed`.
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub requested_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

/// The answer to a webhook delivery.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct WebhookAnswer {
    /// `applied`, or `already_applied` when the top-up was settled before.
    pub status: String,
}

/// A transfer as made.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct TransferView {
    /// The entry id shared by both legs (the sender's and the recipient's transaction).
    pub transaction_id: Uuid,
    pub to_user_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub note: Option<String>,
    /// The sender's wallet after the transfer.
    pub balance: BalanceView,
}

/// A payment.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct PaymentView {
    pub payment_id: Uuid,
    pub payer: String,
    pub payee: String,
    /// `held`, `paid`, `voided` or `expired`.
    pub status: String,
    pub amount: i64,
    pub refunded: i64,
    pub currency: String,
    pub reference: String,
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The caller's wallet after the movement (on commands).
    #[oai(skip_serializing_if_is_none)]
    pub balance: Option<BalanceView>,
}

/// A refund as made.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct RefundView {
    pub refund_id: Uuid,
    pub payment_id: Uuid,
    pub amount: i64,
    pub currency: String,
    /// The payee's wallet after the refund.
    pub balance: BalanceView,
}

/// One movement of the caller's wallet.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct TransactionView {
    /// The entry (movement) id, shared by every leg of the movement.
    pub transaction_id: Uuid,
    /// `top_up`, `transfer_sent`, `transfer_received`, `payment_sent`, `payment_received`,
    /// `hold_placed`, `hold_captured`, `hold_released`, `refund_sent`, `refund_received`.
    #[oai(rename = "type")]
    pub kind: String,
    /// The amount moved (positive).
    pub amount: i64,
    /// The signed change of what the wallet owns (available + held).
    pub change: i64,
    pub currency: String,
    /// The account on the other side: a user id, `system.funding` or `system.escrow`.
    pub counterparty: Option<String>,
    pub payment_id: Option<Uuid>,
    pub reference: Option<String>,
    pub note: Option<String>,
    /// Balances right after this movement.
    pub balance_after: BalanceView,
    pub occurred_at: DateTime<Utc>,
}

/// A page of transactions, newest first.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct TransactionPage {
    pub data: Vec<TransactionView>,
    pub pagination: Pagination,
}

/// One ledger event exactly as stored, with its place in the log and its chain link.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct LedgerEventView {
    pub event_id: Uuid,
    /// Its version in the wallet's stream (= its `sequence` in the chain).
    pub stream_version: i64,
    /// Its position in the global log (`Loopync-Position` order within a transaction).
    pub global_position: i64,
    pub transaction_id: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub recorded_at: DateTime<Utc>,
    pub prev_hash: String,
    pub hash: String,
    /// The payload as stored; `hash` is recomputable from it (see the README's audit section).
    pub payload: serde_json::Value,
}

/// A page of a wallet's ledger history, oldest first.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct LedgerHistoryPage {
    pub wallet_id: String,
    pub data: Vec<LedgerEventView>,
    pub pagination: Pagination,
}
