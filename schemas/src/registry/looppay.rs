//! LoopPay's event types: payments and the wallets' hash-chained legs.

use super::EventTypeInfo;
use loopync_domain::looppay;
use schemars::schema_for;

/// LoopPay's event types.
pub static EVENTS: &[EventTypeInfo] = &[
    EventTypeInfo::first(
        "payment.paid",
        "A payment made at once; its wallet legs are appended with it.",
        || schema_for!(looppay::PaymentPaid),
    ),
    EventTypeInfo::first(
        "payment.authorized",
        "Credits of the payer held for a payee until capture, void or expiry.",
        || schema_for!(looppay::PaymentAuthorized),
    ),
    EventTypeInfo::first(
        "payment.captured",
        "A hold turned into a payment (the uncaptured rest released).",
        || schema_for!(looppay::PaymentCaptured),
    ),
    EventTypeInfo::first("payment.voided", "A hold was cancelled; its credits are available again.", || {
        schema_for!(looppay::HoldReleased)
    }),
    EventTypeInfo::first(
        "payment.expired",
        "A hold reached its expiry unsettled; its credits are available again.",
        || schema_for!(looppay::HoldReleased),
    ),
    EventTypeInfo::first(
        "payment.refunded",
        "Part or all of a payment was given back, as a new compensating entry.",
        || schema_for!(looppay::PaymentRefunded),
    ),
    EventTypeInfo::first(
        "wallet.top_up_requested",
        "A top-up was started with a provider that confirms later; counts toward the daily limit, moves nothing yet. Hash-chained per wallet.",
        || schema_for!(looppay::WalletEntry),
    ),
    EventTypeInfo::first(
        "wallet.topped_up",
        "Credits arrived from a payment provider (counterparty system.funding). Hash-chained per wallet.",
        || schema_for!(looppay::WalletEntry),
    ),
    EventTypeInfo::first(
        "wallet.top_up_failed",
        "The provider reported a requested top-up as failed; nothing moved. Hash-chained per wallet.",
        || schema_for!(looppay::WalletEntry),
    ),
    EventTypeInfo::first(
        "wallet.top_up_expired",
        "A requested top-up stayed unconfirmed past the pending window; nothing moved, and a confirmation arriving later credits nothing. Hash-chained per wallet.",
        || schema_for!(looppay::WalletEntry),
    ),
    EventTypeInfo::first(
        "wallet.transfer_sent",
        "The sender's leg of a transfer between users. Hash-chained per wallet.",
        || schema_for!(looppay::WalletEntry),
    ),
    EventTypeInfo::first(
        "wallet.transfer_received",
        "The recipient's leg of a transfer between users. Hash-chained per wallet.",
        || schema_for!(looppay::WalletEntry),
    ),
    EventTypeInfo::first(
        "wallet.payment_sent",
        "The payer's leg of a payment made at once. Hash-chained per wallet.",
        || schema_for!(looppay::WalletEntry),
    ),
    EventTypeInfo::first(
        "wallet.payment_received",
        "The payee's leg of a payment, made at once or by capturing a hold. Hash-chained per wallet.",
        || schema_for!(looppay::WalletEntry),
    ),
    EventTypeInfo::first(
        "wallet.hold_placed",
        "Credits moved from available to held for a payment that may be captured later. Hash-chained per wallet.",
        || schema_for!(looppay::WalletEntry),
    ),
    EventTypeInfo::first(
        "wallet.hold_captured",
        "A hold was captured: the captured amount paid to the payee, the rest available again. Hash-chained per wallet.",
        || schema_for!(looppay::WalletEntry),
    ),
    EventTypeInfo::first(
        "wallet.hold_released",
        "A hold was voided or expired: its credits are available again. Hash-chained per wallet.",
        || schema_for!(looppay::WalletEntry),
    ),
    EventTypeInfo::first(
        "wallet.refund_sent",
        "The payee's leg of a refund: part or all of a payment given back. Hash-chained per wallet.",
        || schema_for!(looppay::WalletEntry),
    ),
    EventTypeInfo::first(
        "wallet.refund_received",
        "The payer's leg of a refund. Hash-chained per wallet.",
        || schema_for!(looppay::WalletEntry),
    ),
];
