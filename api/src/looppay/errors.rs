//! The refusals of the LoopPay endpoints and their HTTP answers, each with a stable `code`.
//!
//! Bad input (an amount that is not a positive whole number of minor units, a malformed
//! reference or account) is 400; a well-formed movement the ledger refuses (insufficient
//! funds, a limit, a settled hold) is 422 or 409; an unknown recipient, payment or top-up 404.
//! In every case nothing moved.

use crate::problem::{DomainProblem, FieldProblem, Problem};
use loopync_commands::{CommandError, StoreError};
use loopync_domain::looppay::LedgerError;
use poem::http::StatusCode;

/// Why a LoopPay use case did not happen. Nothing moved.
#[derive(Debug, thiserror::Error)]
pub enum LoopPayError {
    /// The ledger refused the movement, or the event store failed.
    #[error(transparent)]
    Ledger(#[from] CommandError<LedgerError>),
    #[error("no user with this id")]
    RecipientNotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("no payment provider `{0}` sends webhooks here")]
    ProviderNotFound(String),
    #[error("{0}")]
    InvalidSignature(String),
    #[error("the notice is not understood: {0}")]
    NoticeNotUnderstood(String),
    #[error("this notice id was already used for another notice")]
    WebhookReplayed,
    #[error("the notice says {notified} but {requested} was requested")]
    AmountMismatch { notified: i64, requested: i64 },
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// A broken invariant of our own: logged, answered 500.
    #[error("{0}")]
    Internal(&'static str),
}

impl From<LedgerError> for LoopPayError {
    fn from(refusal: LedgerError) -> Self {
        Self::Ledger(CommandError::Domain(refusal))
    }
}

impl From<StoreError> for LoopPayError {
    fn from(error: StoreError) -> Self {
        Self::Ledger(CommandError::Store(error))
    }
}

impl From<LoopPayError> for Problem {
    fn from(error: LoopPayError) -> Self {
        let detail = error.to_string();
        match error {
            LoopPayError::Ledger(error) => error.into(),
            LoopPayError::Database(error) => error.into(),
            LoopPayError::RecipientNotFound => {
                Problem::new(StatusCode::NOT_FOUND, c::RECIPIENT_NOT_FOUND, detail)
            }
            LoopPayError::Forbidden(_) => {
                Problem::new(StatusCode::FORBIDDEN, crate::problem::codes::FORBIDDEN, detail)
            }
            LoopPayError::ProviderNotFound(_) => {
                Problem::new(StatusCode::NOT_FOUND, c::PROVIDER_NOT_FOUND, detail)
            }
            LoopPayError::InvalidSignature(_) => {
                Problem::new(StatusCode::UNAUTHORIZED, c::INVALID_SIGNATURE, detail)
            }
            LoopPayError::NoticeNotUnderstood(_) => Problem::invalid_request(detail),
            LoopPayError::WebhookReplayed => Problem::new(StatusCode::CONFLICT, c::WEBHOOK_REPLAYED, detail),
            LoopPayError::AmountMismatch { .. } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, c::AMOUNT_MISMATCH, detail)
            }
            LoopPayError::Internal(why) => {
                tracing::error!(why, "LoopPay invariant broken");
                Problem::internal()
            }
        }
    }
}

/// Stable codes of the LoopPay endpoints.
pub mod pay_codes {
    pub const INVALID_AMOUNT: &str = "invalid_amount";
    pub const INSUFFICIENT_FUNDS: &str = "insufficient_funds";
    pub const SELF_TRANSFER: &str = "self_transfer";
    pub const RECIPIENT_NOT_FOUND: &str = "recipient_not_found";
    pub const TOP_UP_LIMIT_EXCEEDED: &str = "top_up_limit_exceeded";
    pub const DAILY_LIMIT_EXCEEDED: &str = "daily_limit_exceeded";
    pub const TOP_UP_NOT_FOUND: &str = "top_up_not_found";
    pub const TOP_UP_ALREADY_SETTLED: &str = "top_up_already_settled";
    pub const TOP_UP_EXPIRED: &str = "top_up_expired";
    pub const TOO_MANY_PENDING_TOP_UPS: &str = "too_many_pending_top_ups";
    pub const PAYMENT_NOT_FOUND: &str = "payment_not_found";
    pub const PAYMENT_EXISTS: &str = "payment_exists";
    pub const HOLD_NOT_ACTIVE: &str = "hold_not_active";
    pub const HOLD_EXPIRED: &str = "hold_expired";
    pub const CAPTURE_EXCEEDS_HOLD: &str = "capture_exceeds_hold";
    pub const PAYMENT_NOT_REFUNDABLE: &str = "payment_not_refundable";
    pub const REFUND_EXCEEDS_PAYMENT: &str = "refund_exceeds_payment";
    pub const INVALID_REFERENCE: &str = "invalid_reference";
    pub const INVALID_NOTE: &str = "invalid_note";
    pub const INVALID_HOLD_DURATION: &str = "invalid_hold_duration";
    pub const INVALID_ACCOUNT: &str = "invalid_account";
    pub const BALANCE_OVERFLOW: &str = "balance_overflow";
    pub const PROVIDER_NOT_FOUND: &str = "provider_not_found";
    pub const INVALID_SIGNATURE: &str = "invalid_signature";
    pub const WEBHOOK_REPLAYED: &str = "webhook_replayed";
    pub const AMOUNT_MISMATCH: &str = "amount_mismatch";
    pub const PROVIDER_UNAVAILABLE: &str = "provider_unavailable";
}

use pay_codes as c;

impl DomainProblem for LedgerError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidAmount(_)
            | Self::InvalidReference
            | Self::NoteTooLong
            | Self::InvalidHoldDuration
            | Self::NotAWallet(_) => StatusCode::BAD_REQUEST,
            Self::TopUpNotFound | Self::PaymentNotFound => StatusCode::NOT_FOUND,
            Self::TopUpAlreadySettled
            | Self::TopUpExpired
            | Self::PaymentExists
            | Self::HoldNotActive(_)
            | Self::HoldExpired(_)
            | Self::NotRefundable(_) => StatusCode::CONFLICT,
            Self::InsufficientFunds { .. }
            | Self::Overflow
            | Self::SameAccount
            | Self::TopUpLimitExceeded { .. }
            | Self::DailyLimitExceeded { .. }
            | Self::TooManyPendingTopUps { .. }
            | Self::CaptureExceedsHold { .. }
            | Self::RefundExceedsPayment { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::InvalidAmount(_) => c::INVALID_AMOUNT,
            Self::InsufficientFunds { .. } => c::INSUFFICIENT_FUNDS,
            Self::Overflow => c::BALANCE_OVERFLOW,
            Self::SameAccount => c::SELF_TRANSFER,
            Self::TopUpLimitExceeded { .. } => c::TOP_UP_LIMIT_EXCEEDED,
            Self::DailyLimitExceeded { .. } => c::DAILY_LIMIT_EXCEEDED,
            Self::TopUpNotFound => c::TOP_UP_NOT_FOUND,
            Self::TopUpAlreadySettled => c::TOP_UP_ALREADY_SETTLED,
            Self::TopUpExpired => c::TOP_UP_EXPIRED,
            Self::TooManyPendingTopUps { .. } => c::TOO_MANY_PENDING_TOP_UPS,
            Self::PaymentNotFound => c::PAYMENT_NOT_FOUND,
            Self::PaymentExists => c::PAYMENT_EXISTS,
            Self::HoldNotActive(_) => c::HOLD_NOT_ACTIVE,
            Self::HoldExpired(_) => c::HOLD_EXPIRED,
            Self::CaptureExceedsHold { .. } => c::CAPTURE_EXCEEDS_HOLD,
            Self::NotRefundable(_) => c::PAYMENT_NOT_REFUNDABLE,
            Self::RefundExceedsPayment { .. } => c::REFUND_EXCEEDS_PAYMENT,
            Self::InvalidReference => c::INVALID_REFERENCE,
            Self::NoteTooLong => c::INVALID_NOTE,
            Self::InvalidHoldDuration => c::INVALID_HOLD_DURATION,
            Self::NotAWallet(_) => c::INVALID_ACCOUNT,
        }
    }
}

/// 400 `code` naming one offending field, with the same code for the field.
pub fn bad_field(code: &'static str, field: &str, message: impl Into<String>) -> Problem {
    let message = message.into();
    Problem::new(StatusCode::BAD_REQUEST, code, format!("`{field}` {message}"))
        .with_errors([FieldProblem::new(field, code, message)])
}

pub fn forbidden(detail: &str) -> Problem {
    Problem::new(StatusCode::FORBIDDEN, crate::problem::codes::FORBIDDEN, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_400_refusals_422_or_409_unknown_ids_404() {
        assert_eq!(LedgerError::InvalidAmount(0).status(), StatusCode::BAD_REQUEST);
        assert_eq!(LedgerError::InvalidAmount(0).code(), "invalid_amount");
        let broke = LedgerError::InsufficientFunds { available: 1, requested: 2 };
        assert_eq!((broke.status(), broke.code()), (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_funds"));
        assert_eq!(LedgerError::PaymentNotFound.status(), StatusCode::NOT_FOUND);
        assert_eq!(LedgerError::HoldNotActive("voided").status(), StatusCode::CONFLICT);
        let crowded = LedgerError::TooManyPendingTopUps { limit: 5 };
        assert_eq!(
            (crowded.status(), crowded.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "too_many_pending_top_ups")
        );
        assert_eq!(LedgerError::TopUpExpired.code(), "top_up_expired");
    }
}
