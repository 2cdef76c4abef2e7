//! The LoopPay endpoints: `/api/looppay/*`.
//!
//! | endpoint                                   | who                                        |
//! |--------------------------------------------|--------------------------------------------|
//! | `POST /topup`, `/transfer`, `/pay`         | the signed-in user, from their own wallet   |
//! | `GET /balance`, `/transactions`, `/topups/{id}` | the wallet's owner only                |
//! | `GET /payments/{id}`                       | its payer, its payee, auditors and admins   |
//! | `POST /payments/{id}/refund`               | its payee (admins for `system.escrow`)      |
//! | `GET /ledger/{walletId}/history`           | the wallet's owner, auditors and admins     |
//! | `POST /webhooks/{provider}`                | the provider, by HMAC signature (no token)  |
//!
//! Nobody reads or moves another user's money: every wallet an endpoint touches is the
//! caller's own, except the recipient of a transfer or payment, who is only credited.

use super::amount::AmountInput;
use super::errors::{bad_field, forbidden, pay_codes as c};
use super::provider::SIGNATURE_HEADER;
use super::service::{LoopPay, NoticeApplied};
use super::views::*;
use crate::command_request::CommandRequest;
use crate::consistency::{Answer, Created, ReadResponse};
use crate::identity::{BearerAuth, Caller, Identity};
use crate::pagination::{PageCursor, PageLimit, Pagination};
use crate::problem::{FieldProblem, Problem, codes, field_codes};
use crate::refusals;
use crate::refusals::Refused;
use crate::request_id::RequestId;
use crate::state::AppState;
use crate::timestamp::Timestamp;
use loopync_domain::looppay::{CURRENCY, LedgerAccount, LedgerError, WalletEvent};
use loopync_projections::looppay::{self as read, LedgerReadModel, TRANSACTION_KINDS, TransactionFilter};
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::{OpenApi, Tags};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Tags)]
enum Tag {
    /// LoopPay: the wallet of Loop credits.
    #[oai(rename = "LoopPay")]
    LoopPay,
}

// Each operation's refusals, as the OpenAPI document shows them (see `crate::refusals`).
refusals!(TopUpRefusals, "TopUp", |set| set
    .signed_in()
    .body()
    .idempotent()
    .with(400, &[c::INVALID_AMOUNT])
    .with(
        422,
        &[
            c::TOP_UP_LIMIT_EXCEEDED,
            c::DAILY_LIMIT_EXCEEDED,
            c::TOO_MANY_PENDING_TOP_UPS,
            c::BALANCE_OVERFLOW
        ]
    )
    .with(503, &[c::PROVIDER_UNAVAILABLE]));
refusals!(TopUpStatusRefusals, "TopUpStatus", |set| set
    .signed_in()
    .reads_position()
    .with(404, &[c::TOP_UP_NOT_FOUND]));
refusals!(WebhookRefusals, "Webhook", |set| set
    .body()
    .command()
    .with(401, &[c::INVALID_SIGNATURE])
    .with(404, &[c::PROVIDER_NOT_FOUND, c::TOP_UP_NOT_FOUND])
    .with(409, &[c::WEBHOOK_REPLAYED, c::TOP_UP_ALREADY_SETTLED])
    .with(422, &[c::AMOUNT_MISMATCH, c::BALANCE_OVERFLOW]));
refusals!(TransferRefusals, "Transfer", |set| set
    .signed_in()
    .body()
    .idempotent()
    .with(400, &[c::INVALID_AMOUNT, c::INVALID_NOTE])
    .with(404, &[c::RECIPIENT_NOT_FOUND])
    .with(422, &[c::INSUFFICIENT_FUNDS, c::SELF_TRANSFER, c::BALANCE_OVERFLOW]));
refusals!(PayRefusals, "Pay", |set| set
    .signed_in()
    .body()
    .idempotent()
    .with(400, &[c::INVALID_AMOUNT, c::INVALID_ACCOUNT, c::INVALID_REFERENCE, c::INVALID_NOTE])
    .with(404, &[c::RECIPIENT_NOT_FOUND])
    .with(409, &[c::PAYMENT_EXISTS])
    .with(422, &[c::INSUFFICIENT_FUNDS, c::SELF_TRANSFER, c::BALANCE_OVERFLOW]));
refusals!(PaymentRefusals, "Payment", |set| set
    .signed_in()
    .reads_position()
    .with(404, &[c::PAYMENT_NOT_FOUND]));
refusals!(RefundRefusals, "Refund", |set| set
    .signed_in()
    .body()
    .idempotent()
    .with(400, &[c::INVALID_AMOUNT, c::INVALID_NOTE])
    .with(403, &[codes::FORBIDDEN])
    .with(404, &[c::PAYMENT_NOT_FOUND])
    .with(409, &[c::PAYMENT_NOT_REFUNDABLE])
    .with(422, &[c::REFUND_EXCEEDS_PAYMENT, c::INSUFFICIENT_FUNDS, c::BALANCE_OVERFLOW]));
refusals!(BalanceRefusals, "Balance", |set| set.signed_in().reads_position());
refusals!(TransactionsRefusals, "Transactions", |set| set.signed_in().reads_position());
refusals!(HistoryRefusals, "LedgerHistory", |set| set
    .signed_in()
    .with(400, &[c::INVALID_ACCOUNT])
    .with(403, &[codes::FORBIDDEN]));

/// `/api/looppay/*`.
pub struct LoopPayApi {
    looppay: Arc<LoopPay>,
    identity: Arc<Identity>,
    state: AppState,
}

impl LoopPayApi {
    pub fn new(state: &AppState) -> Self {
        Self { looppay: state.looppay.clone(), identity: state.identity.clone(), state: state.clone() }
    }

    /// Whether the caller may read any wallet: their token says auditor or admin, and their
    /// account still is one (a demotion takes effect at once).
    async fn may_audit(&self, caller: &Caller) -> Result<bool, Problem> {
        if !caller.role.may_audit_ledgers() {
            return Ok(false);
        }
        Ok(self
            .identity
            .current_role(caller.user_id)
            .await
            .map(|role| role.may_audit_ledgers())
            .unwrap_or(false))
    }
}

/// The sequence cursors of the ledger's lists: positive integers.
fn sequence_cursor(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().filter(|n| *n > 0)
}

fn note_of(note: Option<String>) -> Option<String> {
    note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty())
}

/// The caller's wallet after a movement: the last of its events.
fn own_balance(events: &[WalletEvent]) -> BalanceView {
    BalanceView::after(events.last())
}

#[OpenApi(prefix_path = "/looppay", tag = "Tag::LoopPay")]
impl LoopPayApi {
    /// Add credits to your wallet through the payment provider.
    ///
    /// With the development provider the credits arrive at once (`confirmed`); with a
    /// webhook provider the top-up is `pending` until the provider confirms it. Send an
    /// `Idempotency-Key`: a retry with the same key returns the original top-up. Limits:
    /// `top_up_limit_exceeded` per top-up, `daily_limit_exceeded` per UTC day,
    /// `too_many_pending_top_ups` while the wallet already has the most top-ups waiting for
    /// the provider (422). A pending top-up the provider has not confirmed within the pending
    /// window (60 minutes by default) expires.
    #[oai(path = "/topup", method = "post")]
    async fn top_up(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        body: JsonBody<TopUpRequest>,
    ) -> Result<Created<TopUpView>, Refused<TopUpRefusals>> {
        let amount = body.0.amount.credits("amount")?;
        let started = self.looppay.top_up(command.caller(), amount, command.context()).await?;
        let view = TopUpView {
            top_up_id: started.top_up_id,
            status: if started.confirmed { "confirmed" } else { "pending" }.to_owned(),
            amount: amount.minor_units(),
            currency: CURRENCY.to_owned(),
            provider: self.looppay.provider_name().to_owned(),
            checkout_url: started.checkout_url,
            balance: own_balance(&started.outcome.events),
        };
        Ok(Created::new(view, started.outcome.position))
    }

    /// A top-up of yours and where it stands.
    #[oai(path = "/topups/:topUpId", method = "get")]
    async fn top_up_status(
        &self,
        auth: BearerAuth,
        /// The `topUpId` the top-up was answered with.
        #[oai(name = "topUpId")]
        top_up_id: Path<Uuid>,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<TopUpStatusView>, Refused<TopUpStatusRefusals>> {
        let freshness = self
            .state
            .wait_for_position(Some(&auth.0), position.0.as_deref(), &[LedgerReadModel::NAME])
            .await?;
        let row = read::top_up(&self.state.pool, top_up_id.0)
            .await?
            .filter(|row| row.account == auth.0.user_id.to_string())
            .ok_or(LedgerError::TopUpNotFound)
            .map_err(|refusal| Problem::from(loopync_commands::CommandError::Domain(refusal)))?;
        Ok(ReadResponse::ok(
            TopUpStatusView {
                top_up_id: row.top_up_id,
                status: row.status,
                amount: row.amount,
                currency: CURRENCY.to_owned(),
                requested_at: row.requested_at.into(),
                settled_at: row.settled_at.map(Timestamp),
            },
            freshness,
        ))
    }

    /// The payment provider's confirmation of a top-up (signed; see the README).
    ///
    /// `invalid_signature` (401) for a missing, wrong or stale signature, `webhook_replayed`
    /// (409) for a notice id already used for another notice, `top_up_not_found` (404). A
    /// notice whose first delivery failed is applied when it comes again (verbatim or signed
    /// afresh), once; any notice confirming a top-up already settled answers `already_applied`
    /// and moves nothing. A confirmation of a top-up that expired unconfirmed credits nothing
    /// and answers `expired` (200, so the provider stops retrying; the charge is to be
    /// refunded).
    #[oai(path = "/webhooks/:provider", method = "post")]
    async fn webhook(
        &self,
        /// The provider's name, as configured (`LOOPYNC_PAYMENT_PROVIDER`).
        provider: Path<String>,
        request: &Request,
        body: super::raw_body::RawJson,
        request_id: RequestId,
    ) -> Result<Answer<WebhookAnswer>, Refused<WebhookRefusals>> {
        let signature = request.headers().get(SIGNATURE_HEADER).and_then(|value| value.to_str().ok());
        let applied = self
            .looppay
            .webhook(&provider.0, signature, &body.0, Some(request_id.as_str().to_owned()))
            .await?;
        let status = match applied {
            NoticeApplied::Applied => "applied",
            NoticeApplied::AlreadyApplied => "already_applied",
            NoticeApplied::Expired => "expired",
        };
        Ok(Answer::ok(WebhookAnswer { status: status.to_owned() }))
    }

    /// Send credits to another user.
    ///
    /// Debits your wallet and credits theirs in one atomic append. `insufficient_funds`
    /// (422), `self_transfer` (422), `recipient_not_found` (404), `invalid_amount` (400).
    /// Idempotent with `Idempotency-Key`.
    #[oai(path = "/transfer", method = "post")]
    async fn transfer(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        body: JsonBody<TransferRequest>,
    ) -> Result<Created<TransferView>, Refused<TransferRefusals>> {
        let body = body.0;
        let amount = body.amount.credits("amount")?;
        let note = note_of(body.note);
        let outcome =
            self.looppay.transfer(command.caller(), body.to, amount, note, command.context()).await?;
        let (sent, _) = &outcome.events;
        let entry = sent.first().map(WalletEvent::entry);
        let view = TransferView {
            entry_id: entry.map_or_else(Uuid::nil, |e| e.entry_id),
            to: body.to,
            amount: entry.map_or(amount.minor_units(), |e| e.amount),
            currency: CURRENCY.to_owned(),
            note: entry.and_then(|e| e.note.clone()),
            balance: own_balance(sent),
        };
        Ok(Created::new(view, outcome.position))
    }

    /// Pay a user or the platform for something (`reference`: `event:<id>`, `order:<id>`).
    ///
    /// `to` is a user id, or `system.escrow` for platform sales. Idempotent with
    /// `Idempotency-Key`. `invalid_reference` (400), `insufficient_funds` (422),
    /// `recipient_not_found` (404), `invalid_account` (400).
    #[oai(path = "/pay", method = "post")]
    async fn pay(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        body: JsonBody<PayRequest>,
    ) -> Result<Created<PaymentView>, Refused<PayRefusals>> {
        let body = body.0;
        let amount = body.amount.credits("amount")?;
        let payee = LedgerAccount::parse(body.to.trim())
            .ok_or_else(|| bad_field(c::INVALID_ACCOUNT, "to", "must be a user id or `system.escrow`"))?;
        let outcome = self
            .looppay
            .pay(command.caller(), payee, amount, body.reference, note_of(body.note), command.context())
            .await?;
        let (sent, _, _) = &outcome.events;
        let entry = sent.first().map(WalletEvent::entry);
        let view = PaymentView {
            payment_id: entry.and_then(|e| e.payment_id).unwrap_or_else(Uuid::nil),
            payer: command.caller().user_id.to_string(),
            payee: payee.to_string(),
            status: "paid".to_owned(),
            amount: entry.map_or(amount.minor_units(), |e| e.amount),
            refunded: 0,
            currency: CURRENCY.to_owned(),
            reference: entry.and_then(|e| e.reference.clone()).unwrap_or_default(),
            expires_at: None,
            balance: Some(own_balance(sent)),
        };
        Ok(Created::new(view, outcome.position))
    }

    /// A payment you made or received (auditors and admins: any).
    #[oai(path = "/payments/:paymentId", method = "get")]
    async fn payment(
        &self,
        auth: BearerAuth,
        /// The payment's id.
        #[oai(name = "paymentId")]
        payment_id: Path<Uuid>,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<PaymentView>, Refused<PaymentRefusals>> {
        let freshness = self
            .state
            .wait_for_position(Some(&auth.0), position.0.as_deref(), &[LedgerReadModel::NAME])
            .await?;
        let not_found =
            || Problem::from(loopync_commands::CommandError::Domain(LedgerError::PaymentNotFound));
        let row = read::payment(&self.state.pool, payment_id.0).await?.ok_or_else(not_found)?;
        let me = auth.0.user_id.to_string();
        if row.payer != me && row.payee != me && !self.may_audit(&auth.0).await? {
            return Err(not_found().into());
        }
        Ok(ReadResponse::ok(
            PaymentView {
                payment_id: row.payment_id,
                payer: row.payer,
                payee: row.payee,
                status: row.status,
                amount: row.amount,
                refunded: row.refunded,
                currency: CURRENCY.to_owned(),
                reference: row.reference,
                expires_at: row.expires_at.map(Timestamp),
                balance: None,
            },
            freshness,
        ))
    }

    /// Give back (part of) a payment you received, as a new compensating entry.
    ///
    /// Only the payee refunds (admins refund payments to `system.escrow`).
    /// `refund_exceeds_payment` (422), `payment_not_refundable` (409), `insufficient_funds`
    /// (422) when the credits were spent. Idempotent with `Idempotency-Key`.
    #[oai(path = "/payments/:paymentId/refund", method = "post")]
    async fn refund(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The payment to refund.
        #[oai(name = "paymentId")]
        payment_id: Path<Uuid>,
        body: JsonBody<RefundRequest>,
    ) -> Result<Created<RefundView>, Refused<RefundRefusals>> {
        let body = body.0;
        let amount = body.amount.as_ref().map(|a: &AmountInput| a.credits("amount")).transpose()?;
        let caller = command.caller();
        let is_admin = caller.role.is_admin()
            && self.identity.current_role(caller.user_id).await.map(|r| r.is_admin()).unwrap_or(false);
        let outcome = self
            .looppay
            .refund(caller, is_admin, payment_id.0, amount, note_of(body.reason), command.context())
            .await?;
        let (sent, _, _) = &outcome.events;
        let entry = sent.first().map(WalletEvent::entry);
        let view = RefundView {
            refund_id: entry.map_or_else(Uuid::nil, |e| e.entry_id),
            payment_id: payment_id.0,
            amount: entry.map_or(0, |e| e.amount),
            currency: CURRENCY.to_owned(),
            balance: own_balance(sent),
        };
        Ok(Created::new(view, outcome.position))
    }

    /// Your wallet's balances: now, or at a past instant with `at` (RFC 3339).
    #[oai(path = "/balance", method = "get")]
    async fn balance(
        &self,
        auth: BearerAuth,
        /// A past instant (RFC 3339) to read the balances at; now when absent.
        at: Query<Option<Timestamp>>,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<BalanceView>, Refused<BalanceRefusals>> {
        let freshness = self
            .state
            .wait_for_position(Some(&auth.0), position.0.as_deref(), &[LedgerReadModel::NAME])
            .await?;
        let account = auth.0.user_id.to_string();
        let view = match at.0 {
            Some(at) => {
                let (available, held) = read::balance_at(&self.state.pool, &account, at.0).await?;
                BalanceView { at: Some(at), ..BalanceView::new(available, held) }
            }
            None => read::balance(&self.state.pool, &account)
                .await?
                .map_or_else(|| BalanceView::new(0, 0), |row| BalanceView::new(row.available, row.held)),
        };
        Ok(ReadResponse::ok(view, freshness))
    }

    /// Your wallet's movements, newest first.
    #[oai(path = "/transactions", method = "get")]
    #[allow(clippy::too_many_arguments)] // one per query parameter and header
    async fn transactions(
        &self,
        auth: BearerAuth,
        /// Comma-separated movement types: `top_up`, `transfer_sent`, `transfer_received`,
        /// `payment_sent`, `payment_received`, `hold_placed`, `hold_captured`,
        /// `hold_released`, `refund_sent`, `refund_received`, or a group (`transfer`,
        /// `payment`, `hold`, `refund`). All when absent or empty.
        #[oai(name = "type")]
        kinds: Query<Option<String>>,
        /// The earliest instant (inclusive, RFC 3339).
        from: Query<Option<Timestamp>>,
        /// The latest instant (exclusive, RFC 3339).
        to: Query<Option<Timestamp>>,
        limit: PageLimit,
        cursor: PageCursor,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<TransactionPage>, Refused<TransactionsRefusals>> {
        let before = cursor.decode(sequence_cursor)?;
        // `type=` with nothing in it filters nothing.
        let kinds = kinds.0.as_deref().map(parse_kinds).transpose()?.filter(|kinds| !kinds.is_empty());
        let freshness = self
            .state
            .wait_for_position(Some(&auth.0), position.0.as_deref(), &[LedgerReadModel::NAME])
            .await?;
        let filter = TransactionFilter { kinds, from: from.0.map(|at| at.0), to: to.0.map(|at| at.0) };
        let account = auth.0.user_id.to_string();
        let rows = read::transactions(&self.state.pool, &account, &filter, before, limit.get()).await?;
        let pagination = Pagination::of(limit, &rows, |row| row.sequence.to_string());
        let data = rows
            .into_iter()
            .map(|row| TransactionView {
                entry_id: row.entry_id,
                kind: row.kind,
                amount: row.amount,
                change: row.available_delta + row.held_delta,
                currency: CURRENCY.to_owned(),
                counterparty: row.counterparty,
                payment_id: row.payment_id,
                reference: row.reference,
                note: row.note,
                balance_after: BalanceView::new(row.available_after, row.held_after),
                occurred_at: row.occurred_at.into(),
            })
            .collect();
        Ok(ReadResponse::ok(TransactionPage { data, pagination }, freshness))
    }

    /// A wallet's raw ledger events with their positions and hash chain, oldest first.
    ///
    /// For the wallet's owner, auditors and admins. Read from the event store itself, not
    /// from a read model. Each `payload` is exactly as stored (its instants in the format
    /// they were stored in), so that `hash` can be recomputed from it.
    #[oai(path = "/ledger/:walletId/history", method = "get")]
    async fn history(
        &self,
        auth: BearerAuth,
        /// A user id, or `system.escrow`.
        #[oai(name = "walletId")]
        wallet_id: Path<String>,
        limit: PageLimit,
        cursor: PageCursor,
    ) -> Result<Answer<LedgerHistoryPage>, Refused<HistoryRefusals>> {
        let after = cursor.decode(sequence_cursor)?.unwrap_or(0);
        let account =
            LedgerAccount::parse(&wallet_id.0).filter(|account| account.has_stream()).ok_or_else(|| {
                bad_field(c::INVALID_ACCOUNT, "walletId", "must be a user id or `system.escrow`")
            })?;
        let own = account == LedgerAccount::User(auth.0.user_id);
        if !own && !self.may_audit(&auth.0).await? {
            return Err(forbidden("only the wallet's owner, auditors and admins read its ledger").into());
        }
        let data = super::history::page(&self.state.pool, account, after, limit.get()).await?;
        let pagination = Pagination::of(limit, &data, |e| e.stream_version.to_string());
        Ok(Answer::ok(LedgerHistoryPage { wallet_id: account.to_string(), data, pagination }))
    }
}

/// `type=transfer,top_up` → the stored kinds.
fn parse_kinds(value: &str) -> Result<Vec<String>, Problem> {
    let mut kinds = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let expanded: Vec<&str> = match part {
            "transfer" | "payment" | "hold" | "refund" => {
                TRANSACTION_KINDS.iter().copied().filter(|k| k.starts_with(part)).collect()
            }
            kind if TRANSACTION_KINDS.contains(&kind) => vec![kind],
            _ => {
                return Err(Problem::invalid_request(format!("unknown transaction type `{part}`"))
                    .with_errors([FieldProblem::new(
                        "type",
                        field_codes::NOT_ALLOWED,
                        format!("must be one of {}", TRANSACTION_KINDS.join(", ")),
                    )]));
            }
        };
        kinds.extend(expanded.into_iter().map(str::to_owned));
    }
    Ok(kinds)
}

use crate::json::JsonBody;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_filters_expand_groups_and_refuse_unknown_types() {
        assert_eq!(
            parse_kinds("transfer").ok(),
            Some(vec!["transfer_sent".to_owned(), "transfer_received".to_owned()])
        );
        assert_eq!(
            parse_kinds("top_up, refund_sent").ok(),
            Some(vec!["top_up".to_owned(), "refund_sent".to_owned()])
        );
        assert_eq!(
            parse_kinds("bribe").err().map(|p| p.code().to_owned()).as_deref(),
            Some("invalid_request")
        );
    }
}
