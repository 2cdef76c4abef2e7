//! The bodies of the LoopPay endpoints. Money is always integer minor units plus a currency.
//! An answer leaves out an optional field that has no value, never `null` (the document
//! declares such fields optional, not nullable).

use super::amount::AmountInput;
use crate::identity::views::Pagination;
use crate::timestamp::Timestamp;
use loopync_domain::looppay::{CURRENCY, WalletEvent};
use poem_openapi::Object;
use poem_openapi::types::Example;
use uuid::Uuid;

/// `POST /looppay/topup`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct TopUpRequest {
    pub amount: AmountInput,
}

/// `POST /looppay/transfer`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct TransferRequest {
    /// Who is credited: a user id.
    pub to: Uuid,
    pub amount: AmountInput,
    /// Shown to both sides; at most 280 characters.
    pub note: Option<String>,
}

/// `POST /looppay/pay`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct PayRequest {
    /// Who is credited (the payment's payee): a user id, or `system.escrow` for platform
    /// sales (tickets, orders).
    pub to: String,
    pub amount: AmountInput,
    /// What is paid for, `<kind>:<id>` (e.g. `event:0190...`, `order:0190...`).
    pub reference: String,
    pub note: Option<String>,
}

/// `POST /looppay/payments/{paymentId}/refund`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct RefundRequest {
    /// What to give back; everything still refundable when absent.
    pub amount: Option<AmountInput>,
    pub reason: Option<String>,
}

/// A wallet's balances.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct BalanceView {
    /// What can be spent.
    pub available: i64,
    /// Reserved by holds until they are captured, voided or expire.
    pub held: i64,
    pub currency: String,
    /// For a point-in-time balance, the instant it is for.
    #[oai(skip_serializing_if_is_none)]
    pub at: Option<Timestamp>,
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
#[oai(rename_all = "camelCase", example)]
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
#[oai(rename_all = "camelCase", example)]
pub struct TopUpStatusView {
    pub top_up_id: Uuid,
    /// `pending`, `confirmed` or `failed`.
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub requested_at: Timestamp,
    #[oai(skip_serializing_if_is_none)]
    pub settled_at: Option<Timestamp>,
}

/// The answer to a webhook delivery.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct WebhookAnswer {
    /// `applied`, or `already_applied` when the top-up was settled before.
    pub status: String,
}

/// A transfer as made.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct TransferView {
    /// The movement's entry id, shared by both legs (the sender's and the recipient's
    /// transaction).
    pub entry_id: Uuid,
    /// Who was credited.
    pub to: Uuid,
    pub amount: i64,
    pub currency: String,
    #[oai(skip_serializing_if_is_none)]
    pub note: Option<String>,
    /// The sender's wallet after the transfer.
    pub balance: BalanceView,
}

/// A payment.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
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
    pub expires_at: Option<Timestamp>,
    /// The caller's wallet after the movement (on commands).
    #[oai(skip_serializing_if_is_none)]
    pub balance: Option<BalanceView>,
}

/// A refund as made.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
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
#[oai(rename_all = "camelCase", example)]
pub struct TransactionView {
    /// The movement's entry id, shared by every leg of the movement (for a top-up, its
    /// `topUpId`; for a refund, its `refundId`).
    pub entry_id: Uuid,
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
    #[oai(skip_serializing_if_is_none)]
    pub counterparty: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub payment_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub reference: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub note: Option<String>,
    /// Balances right after this movement.
    pub balance_after: BalanceView,
    pub occurred_at: Timestamp,
}

/// A page of transactions, newest first.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct TransactionPage {
    pub data: Vec<TransactionView>,
    pub pagination: Pagination,
}

/// One ledger event exactly as stored, with its place in the log and its chain link.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct LedgerEventView {
    pub event_id: Uuid,
    /// Its version in the wallet's stream (= its `sequence` in the chain).
    pub stream_version: i64,
    /// Its position in the global log (`Loopync-Position` order within a transaction).
    pub global_position: i64,
    /// The event log's transaction that appended it (the `<transaction>` of a
    /// `Loopync-Position`; not a wallet movement: that is the payload's `entryId`).
    pub transaction_id: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub recorded_at: Timestamp,
    pub prev_hash: String,
    pub hash: String,
    /// The payload as stored; `hash` is recomputable from it (see the README's audit section).
    pub payload: serde_json::Value,
}

/// A page of a wallet's ledger history, oldest first.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct LedgerHistoryPage {
    pub wallet_id: String,
    pub data: Vec<LedgerEventView>,
    pub pagination: Pagination,
}

// Examples of every request and answer, shown in the OpenAPI document and Swagger UI.

const ADA: Uuid = Uuid::from_u128(0x0193_a0c4_6c1e_7d2a_9b1f_3f5e_8d2c_4a10);
const BOB: Uuid = Uuid::from_u128(0x0193_a0c5_1d44_7b90_8c21_4e6f_a0b1_c2d3);
const ENTRY: Uuid = Uuid::from_u128(0x0193_a0c6_2e55_7ca1_9d32_5f70_b1c2_d3e4);
const PAYMENT: Uuid = Uuid::from_u128(0x0193_a0c7_3f66_7db2_ae43_6081_c2d3_e4f5);
const REFERENCE: &str = "event:0193a0c8-4077-7ec3-bf54-7192d3e4f506";

impl Example for TopUpRequest {
    fn example() -> Self {
        Self { amount: AmountInput(5000.into()) }
    }
}

impl Example for TransferRequest {
    fn example() -> Self {
        Self { to: BOB, amount: AmountInput(1250.into()), note: Some("pizza 🍕".to_owned()) }
    }
}

impl Example for PayRequest {
    fn example() -> Self {
        Self {
            to: "system.escrow".to_owned(),
            amount: AmountInput(2500.into()),
            reference: REFERENCE.to_owned(),
            note: None,
        }
    }
}

impl Example for RefundRequest {
    fn example() -> Self {
        Self { amount: Some(AmountInput(500.into())), reason: Some("one ticket returned".to_owned()) }
    }
}

impl Example for BalanceView {
    fn example() -> Self {
        Self::new(3750, 0)
    }
}

impl Example for TopUpView {
    fn example() -> Self {
        Self {
            top_up_id: ENTRY,
            status: "confirmed".to_owned(),
            amount: 5000,
            currency: CURRENCY.to_owned(),
            provider: "dev".to_owned(),
            checkout_url: None,
            balance: BalanceView::new(5000, 0),
        }
    }
}

impl Example for TopUpStatusView {
    fn example() -> Self {
        Self {
            top_up_id: ENTRY,
            status: "confirmed".to_owned(),
            amount: 5000,
            currency: CURRENCY.to_owned(),
            requested_at: Timestamp::example(),
            settled_at: Some(Timestamp::example()),
        }
    }
}

impl Example for WebhookAnswer {
    fn example() -> Self {
        Self { status: "applied".to_owned() }
    }
}

impl Example for TransferView {
    fn example() -> Self {
        Self {
            entry_id: ENTRY,
            to: BOB,
            amount: 1250,
            currency: CURRENCY.to_owned(),
            note: Some("pizza 🍕".to_owned()),
            balance: BalanceView::example(),
        }
    }
}

impl Example for PaymentView {
    fn example() -> Self {
        Self {
            payment_id: PAYMENT,
            payer: ADA.to_string(),
            payee: "system.escrow".to_owned(),
            status: "paid".to_owned(),
            amount: 2500,
            refunded: 0,
            currency: CURRENCY.to_owned(),
            reference: REFERENCE.to_owned(),
            expires_at: None,
            balance: Some(BalanceView::new(1250, 0)),
        }
    }
}

impl Example for RefundView {
    fn example() -> Self {
        Self {
            refund_id: ENTRY,
            payment_id: PAYMENT,
            amount: 500,
            currency: CURRENCY.to_owned(),
            balance: BalanceView::new(2000, 0),
        }
    }
}

impl Example for TransactionView {
    fn example() -> Self {
        Self {
            entry_id: ENTRY,
            kind: "transfer_sent".to_owned(),
            amount: 1250,
            change: -1250,
            currency: CURRENCY.to_owned(),
            counterparty: Some(BOB.to_string()),
            payment_id: None,
            reference: None,
            note: Some("pizza 🍕".to_owned()),
            balance_after: BalanceView::example(),
            occurred_at: Timestamp::example(),
        }
    }
}

impl Example for TransactionPage {
    fn example() -> Self {
        Self { data: vec![TransactionView::example()], pagination: Pagination::example() }
    }
}

impl Example for LedgerEventView {
    fn example() -> Self {
        Self {
            event_id: Uuid::from_u128(0x0193_a0c9_5188_7fd4_c065_82a3_e4f5_0617),
            stream_version: 2,
            global_position: 1742,
            transaction_id: 918_273,
            event_type: "wallet.transfer_sent".to_owned(),
            schema_version: 1,
            recorded_at: Timestamp::example(),
            prev_hash: "9f2c4e1b7a0d3c5e8f6a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6".to_owned(),
            hash: "3b1d5f7a9c2e4f6a8b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a".to_owned(),
            payload: serde_json::json!({
                "entryId": ENTRY,
                "to": BOB,
                "amount": 1250,
                "availableAfter": 3750,
                "heldAfter": 0,
            }),
        }
    }
}

impl Example for LedgerHistoryPage {
    fn example() -> Self {
        Self {
            wallet_id: ADA.to_string(),
            data: vec![LedgerEventView::example()],
            pagination: Pagination::example(),
        }
    }
}
