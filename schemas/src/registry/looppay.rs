//! LoopPay's event types: payments and the wallets' hash-chained legs.

use super::EventTypeInfo;
use loopync_domain::looppay;
use schemars::schema_for;

/// LoopPay's event types.
pub static EVENTS: &[EventTypeInfo] = &[
    EventTypeInfo {
        name: "payment.paid",
        version: 1,
        description: "A payment made at once; its wallet legs are appended with it.",
        schema: || schema_for!(looppay::PaymentPaid),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "payment.authorized",
        version: 1,
        description: "Credits of the payer held for a payee until capture, void or expiry.",
        schema: || schema_for!(looppay::PaymentAuthorized),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "payment.captured",
        version: 1,
        description: "A hold turned into a payment (the uncaptured rest released).",
        schema: || schema_for!(looppay::PaymentCaptured),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "payment.voided",
        version: 1,
        description: "A hold was cancelled; its credits are available again.",
        schema: || schema_for!(looppay::HoldReleased),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "payment.expired",
        version: 1,
        description: "A hold reached its expiry unsettled; its credits are available again.",
        schema: || schema_for!(looppay::HoldReleased),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "payment.refunded",
        version: 1,
        description: "Part or all of a payment was given back, as a new compensating entry.",
        schema: || schema_for!(looppay::PaymentRefunded),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.top_up_requested",
        version: 1,
        description: "A top-up was started with a provider that confirms later; counts toward the daily limit, moves nothing yet. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.topped_up",
        version: 1,
        description: "Credits arrived from a payment provider (counterparty system.funding). Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.top_up_failed",
        version: 1,
        description: "The provider reported a requested top-up as failed; nothing moved. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.transfer_sent",
        version: 1,
        description: "The sender's leg of a transfer between users. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.transfer_received",
        version: 1,
        description: "The recipient's leg of a transfer between users. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.payment_sent",
        version: 1,
        description: "The payer's leg of a payment made at once. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.payment_received",
        version: 1,
        description: "The payee's leg of a payment, made at once or by capturing a hold. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.hold_placed",
        version: 1,
        description: "Credits moved from available to held for a payment that may be captured later. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.hold_captured",
        version: 1,
        description: "A hold was captured: the captured amount paid to the payee, the rest available again. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.hold_released",
        version: 1,
        description: "A hold was voided or expired: its credits are available again. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.refund_sent",
        version: 1,
        description: "The payee's leg of a refund: part or all of a payment given back. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.refund_received",
        version: 1,
        description: "The payer's leg of a refund. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
];
