//! LoopPay's use cases as the HTTP edge needs them: who may move what, where the money comes
//! from (the payment provider), and the checks that need I/O (does the recipient exist, was
//! this webhook delivery seen before). The rules themselves are the domain's; the movements
//! run through [`Ledger`].

use super::errors::{forbidden, pay_codes, recipient_not_found};
use super::provider::{
    ChargeStarted, DevProvider, NoticeKind, PaymentProvider, WebhookNotice, WebhookProvider,
};
use crate::identity::Caller;
use crate::problem::Problem;
use chrono::Utc;
use loopync_commands::ledger::{PaymentMovement, TwoWallets};
use loopync_commands::{CommandContext, CommandOutcome, CommandPipeline, Ledger};
use loopync_domain::StreamName;
use loopync_domain::account::Account;
use loopync_domain::looppay::{LedgerAccount, LedgerError, Pay, Refund, TopUpLimits, Transfer, WalletEvent};
use poem::http::StatusCode;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

/// Which payment provider tops wallets up.
#[derive(Clone, Default)]
pub enum ProviderChoice {
    /// Confirms at once ([`DevProvider`]).
    #[default]
    Dev,
    /// Confirms by signed webhook ([`WebhookProvider`]).
    Webhook { secret: String, checkout_url: Option<String> },
}

impl std::fmt::Debug for ProviderChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dev => f.write_str("Dev"),
            // Never print the secret.
            Self::Webhook { checkout_url, .. } => {
                f.debug_struct("Webhook").field("checkout_url", checkout_url).finish_non_exhaustive()
            }
        }
    }
}

/// LoopPay's settings.
#[derive(Debug, Clone)]
pub struct LoopPayConfig {
    pub provider: ProviderChoice,
    pub limits: TopUpLimits,
}

impl Default for LoopPayConfig {
    fn default() -> Self {
        // 1,000.00 LOOP per top-up, 5,000.00 LOOP a day.
        Self { provider: ProviderChoice::Dev, limits: TopUpLimits { per_top_up: 100_000, daily: 500_000 } }
    }
}

/// A top-up as started.
#[derive(Debug, Clone)]
pub struct TopUpStarted {
    pub top_up_id: Uuid,
    pub confirmed: bool,
    pub checkout_url: Option<String>,
    pub outcome: CommandOutcome<Vec<WalletEvent>>,
}

/// What a webhook delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeApplied {
    Applied,
    /// The wallet had settled this top-up already: nothing moved.
    AlreadyApplied,
}

/// LoopPay's use cases.
pub struct LoopPay {
    ledger: Ledger,
    pipeline: Arc<CommandPipeline>,
    pool: PgPool,
    provider: Arc<dyn PaymentProvider>,
    limits: TopUpLimits,
}

impl LoopPay {
    pub fn new(pipeline: Arc<CommandPipeline>, pool: PgPool, config: &LoopPayConfig) -> Self {
        let provider: Arc<dyn PaymentProvider> = match &config.provider {
            ProviderChoice::Dev => Arc::new(DevProvider),
            ProviderChoice::Webhook { secret, checkout_url } => {
                Arc::new(WebhookProvider::new(secret.as_bytes(), checkout_url.clone()))
            }
        };
        Self { ledger: Ledger::new(pipeline.clone()), pipeline, pool, provider, limits: config.limits }
    }

    /// The movements themselves, for features that pay through LoopPay (tickets, orders).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn provider_name(&self) -> &'static str {
        self.provider.name()
    }

    /// `POST /looppay/topup`: starts a top-up with the provider; credits arrive now or when
    /// its webhook confirms.
    pub async fn top_up(
        &self,
        caller: &Caller,
        amount: i64,
        context: CommandContext,
    ) -> Result<TopUpStarted, Problem> {
        let context = as_actor(context, caller.user_id);
        let account = LedgerAccount::User(caller.user_id);
        let confirmed = self.provider.confirms_at_once();
        let outcome = self
            .ledger
            .top_up(account, Uuid::now_v7(), amount, confirmed, self.limits, Utc::now(), &context)
            .await?;
        // The top-up as recorded: a retried request gets the original one, whose id the
        // provider charges (and deduplicates) by.
        let Some(top_up_id) = outcome.events.first().and_then(|e| e.entry().top_up_id) else {
            tracing::error!("a top-up appended no wallet event");
            return Err(Problem::internal());
        };
        let checkout_url = match self.provider.start(top_up_id, caller.user_id, amount) {
            ChargeStarted::Confirmed => None,
            ChargeStarted::Pending { checkout_url } => checkout_url,
        };
        let confirmed = outcome.events.iter().any(|e| matches!(e, WalletEvent::ToppedUp(_)));
        Ok(TopUpStarted { top_up_id, confirmed, checkout_url, outcome })
    }

    /// `POST /looppay/webhooks/{provider}`: a signed notice that a top-up settled.
    pub async fn webhook(
        &self,
        provider: &str,
        signature: Option<&str>,
        body: &[u8],
        request_id: Option<String>,
    ) -> Result<NoticeApplied, Problem> {
        if provider != self.provider.name() || provider == DevProvider.name() {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                pay_codes::PROVIDER_NOT_FOUND,
                format!("no payment provider `{provider}` sends webhooks here"),
            ));
        }
        self.provider.verify(signature, body, Utc::now()).map_err(|error| {
            Problem::new(StatusCode::UNAUTHORIZED, pay_codes::INVALID_SIGNATURE, error.to_string())
        })?;
        let notice: WebhookNotice = serde_json::from_slice(body)
            .map_err(|error| Problem::invalid_request(format!("the notice is not understood: {error}")))?;
        // A delivery presented twice verbatim is refused: its signature was spent. (Providers
        // sign every retry afresh, and the wallet applies a confirmation once anyway.)
        let digest = Sha256::digest(signature.unwrap_or_default().as_bytes()).to_vec();
        let fresh = sqlx::query(
            "INSERT INTO looppay_webhook_receipts (provider, signature_sha256, notice_id) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(provider)
        .bind(&digest)
        .bind(&notice.id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        if !fresh {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                pay_codes::WEBHOOK_REPLAYED,
                "this signed delivery was already received",
            ));
        }
        let account = LedgerAccount::User(notice.account);
        let wallet = self.ledger.wallet(account).await?;
        if let Some(pending) = wallet.state.pending_top_ups.get(&notice.top_up_id).map(|p| p.amount)
            && pending != notice.amount
        {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                pay_codes::AMOUNT_MISMATCH,
                format!("the notice says {} but {} was requested", notice.amount, pending),
            ));
        }
        let context = CommandContext {
            actor: Some(format!("provider:{provider}")),
            correlation_id: request_id,
            ..CommandContext::default()
        };
        let outcome = match notice.kind {
            NoticeKind::Succeeded => {
                self.ledger.confirm_top_up(account, notice.top_up_id, Utc::now(), &context).await
            }
            NoticeKind::Failed => {
                self.ledger.fail_top_up(account, notice.top_up_id, Utc::now(), &context).await
            }
        }?;
        Ok(if outcome.events.is_empty() { NoticeApplied::AlreadyApplied } else { NoticeApplied::Applied })
    }

    /// `POST /looppay/transfer`.
    pub async fn transfer(
        &self,
        caller: &Caller,
        to: Uuid,
        amount: i64,
        note: Option<String>,
        context: CommandContext,
    ) -> Result<TwoWallets, Problem> {
        if to == caller.user_id {
            return Err(LedgerError::SameAccount.into_problem());
        }
        self.require_user(to).await?;
        let command = Transfer {
            entry_id: Uuid::now_v7(),
            from: LedgerAccount::User(caller.user_id),
            to: LedgerAccount::User(to),
            amount,
            note,
            now: Utc::now(),
        };
        Ok(self.ledger.transfer(command, &as_actor(context, caller.user_id)).await?)
    }

    /// `POST /looppay/pay`: pays a user or the platform (`system.escrow`) for something.
    pub async fn pay(
        &self,
        caller: &Caller,
        payee: LedgerAccount,
        amount: i64,
        reference: String,
        note: Option<String>,
        context: CommandContext,
    ) -> Result<PaymentMovement, Problem> {
        let payer = LedgerAccount::User(caller.user_id);
        if payee == payer {
            return Err(LedgerError::SameAccount.into_problem());
        }
        match payee {
            LedgerAccount::User(user) => self.require_user(user).await?,
            LedgerAccount::Funding => return Err(LedgerError::NotAWallet(payee.to_string()).into_problem()),
            LedgerAccount::Escrow => {}
        }
        let command =
            Pay { payment_id: Uuid::now_v7(), payer, payee, amount, reference, note, now: Utc::now() };
        Ok(self.ledger.pay(command, &as_actor(context, caller.user_id)).await?)
    }

    /// `POST /looppay/payments/{id}/refund`: the payee gives (part of) a payment back. Payments
    /// to the platform's escrow are refunded by admins.
    pub async fn refund(
        &self,
        caller: &Caller,
        caller_is_admin: bool,
        payment_id: Uuid,
        amount: Option<i64>,
        reason: Option<String>,
        context: CommandContext,
    ) -> Result<PaymentMovement, Problem> {
        let payment = self.ledger.payment(payment_id).await?;
        let payee = payment.state.payee.as_deref().and_then(LedgerAccount::parse);
        let payer = payment.state.payer.as_deref().and_then(LedgerAccount::parse);
        let caller_account = LedgerAccount::User(caller.user_id);
        let allowed = match payee {
            Some(payee) if payee == caller_account => true,
            Some(LedgerAccount::Escrow) => caller_is_admin,
            _ => false,
        };
        if !allowed {
            // The payer learns the payment exists (it is theirs) but may not refund it; anyone
            // else learns nothing.
            return Err(if payer == Some(caller_account) {
                forbidden("only the payee refunds a payment")
            } else {
                LedgerError::PaymentNotFound.into_problem()
            });
        }
        let command = Refund { payment_id, refund_id: Uuid::now_v7(), amount, reason, now: Utc::now() };
        Ok(self.ledger.refund(command, &as_actor(context, caller.user_id)).await?)
    }

    /// 404 `recipient_not_found` unless `user` has an account. An account never stops being
    /// registered, so a cached one answers without I/O; only an unknown one is read afresh.
    async fn require_user(&self, user: Uuid) -> Result<(), Problem> {
        let stream = StreamName::of::<Account>(user);
        if self.pipeline.load::<Account>(stream.clone()).await?.state.registered {
            return Ok(());
        }
        let account = self.pipeline.load_latest::<Account>(stream).await?;
        if account.state.registered { Ok(()) } else { Err(recipient_not_found()) }
    }
}

/// The caller acts; their idempotency keys are scoped to them.
fn as_actor(mut context: CommandContext, user: Uuid) -> CommandContext {
    context.actor = Some(user.to_string());
    context
}

/// A ledger refusal as its problem.
trait IntoProblem {
    fn into_problem(self) -> Problem;
}

impl IntoProblem for LedgerError {
    fn into_problem(self) -> Problem {
        loopync_commands::CommandError::Domain(self).into()
    }
}
