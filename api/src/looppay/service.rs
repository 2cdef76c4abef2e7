//! LoopPay's use cases as the HTTP edge needs them: who may move what, where the money comes
//! from (the payment provider), and the checks that need I/O (does the recipient exist, was
//! this webhook delivery seen before). The rules themselves are the domain's decisions
//! ([`loopync_domain::looppay::movements`]), run by `pipeline.decide`. Refusals are
//! [`LoopPayError`]s; `errors.rs` turns them into HTTP answers.

use super::errors::LoopPayError;
use super::provider::{
    ChargeStarted, DevProvider, NoticeKind, PaymentProvider, WebhookNotice, WebhookProvider,
};
use crate::identity::Caller;
use chrono::{DateTime, Utc};
use loopync_commands::{CommandContext, CommandError, CommandOutcome, CommandPipeline};
use loopync_domain::StreamName;
use loopync_domain::identity::account::Account;
use loopync_domain::looppay::{
    CaptureHold, Credits, LedgerAccount, LedgerError, Pay, Payment, PaymentEvent, PlaceHold, Refund, Release,
    ReleaseHold, TopUp, TopUpLimits, Transfer, Wallet, WalletCommand, WalletEvent, payment_accounts,
};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
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
    /// How often expired holds are swept (default 1 s).
    pub hold_expiry_interval: Duration,
    /// How long a top-up may wait for the provider before it expires (default 60 min).
    pub top_up_pending_window: Duration,
    /// How often top-ups pending past the window are swept (10 s: the window is minutes long).
    pub top_up_expiry_interval: Duration,
}

impl Default for LoopPayConfig {
    fn default() -> Self {
        // 1,000.00 LOOP per top-up, 5,000.00 LOOP a day, 5 waiting for the provider at once.
        Self {
            provider: ProviderChoice::Dev,
            limits: TopUpLimits { per_top_up: 100_000, daily: 500_000, pending: 5 },
            hold_expiry_interval: Duration::from_secs(1),
            top_up_pending_window: Duration::from_secs(60 * 60),
            top_up_expiry_interval: Duration::from_secs(10),
        }
    }
}

/// The outcome of a movement between two wallets.
pub type TwoWallets = CommandOutcome<(Vec<WalletEvent>, Vec<WalletEvent>)>;
/// The outcome of a movement between two wallets that belongs to a payment.
pub type PaymentMovement = CommandOutcome<(Vec<WalletEvent>, Vec<WalletEvent>, Vec<PaymentEvent>)>;
/// The outcome of a hold placed or released: the payer's wallet and the payment.
pub type HoldMovement = CommandOutcome<(Vec<WalletEvent>, Vec<PaymentEvent>)>;

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
    /// A confirmation of a top-up that expired unconfirmed: refused, nothing credited.
    Expired,
}

/// LoopPay's use cases.
pub struct LoopPay {
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
        Self { pipeline, pool, provider, limits: config.limits }
    }

    pub fn provider_name(&self) -> &'static str {
        self.provider.name()
    }

    /// `POST /looppay/topup`: starts a top-up with the provider; credits arrive now or when
    /// its webhook confirms.
    pub async fn top_up(
        &self,
        caller: &Caller,
        amount: Credits,
        context: CommandContext,
    ) -> Result<TopUpStarted, LoopPayError> {
        let context = as_actor(context, caller.user_id);
        let top_up = TopUp {
            account: LedgerAccount::User(caller.user_id),
            top_up_id: Uuid::now_v7(),
            amount,
            confirmed: self.provider.confirms_at_once(),
            limits: self.limits,
            now: Utc::now(),
        };
        let outcome = self.pipeline.decide(&top_up, &context).await?;
        // The top-up as recorded: a retried request gets the original one, whose id the
        // provider charges (and deduplicates) by.
        let Some(top_up_id) = outcome.events.first().and_then(|e| e.entry().top_up_id) else {
            return Err(LoopPayError::Internal("a top-up appended no wallet event"));
        };
        let checkout_url = match self.provider.start(top_up_id, caller.user_id, amount.minor_units()) {
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
    ) -> Result<NoticeApplied, LoopPayError> {
        if provider != self.provider.name() || provider == DevProvider.name() {
            return Err(LoopPayError::ProviderNotFound(provider.to_owned()));
        }
        self.provider
            .verify(signature, body, Utc::now())
            .map_err(|error| LoopPayError::InvalidSignature(error.to_string()))?;
        let notice: WebhookNotice = serde_json::from_slice(body)
            .map_err(|error| LoopPayError::NoticeNotUnderstood(error.to_string()))?;
        let account = LedgerAccount::User(notice.account);
        let wallet = self.pipeline.load_latest::<Wallet>(StreamName::of::<Wallet>(account)).await?;
        if let Some(requested) = wallet.state.pending_top_ups.get(&notice.top_up_id).map(|p| p.amount)
            && requested != notice.amount
        {
            return Err(LoopPayError::AmountMismatch { notified: notice.amount, requested });
        }
        // The provider's id of the notice is the command's idempotency key, recorded in the same
        // transaction as the wallet's events: a delivery whose effect failed is applied when it
        // comes again (verbatim or re-signed), once; the same id for another notice is refused.
        let key = hex::encode(Sha256::digest(format!("{provider}:{}", notice.id)));
        let context = CommandContext {
            actor: Some(format!("provider:{provider}")),
            correlation_id: request_id,
            idempotency_key: Some(key),
            ..CommandContext::default()
        };
        let (top_up_id, now) = (notice.top_up_id, Utc::now());
        let command = match notice.kind {
            NoticeKind::Succeeded => WalletCommand::ConfirmTopUp { account, top_up_id, now },
            NoticeKind::Failed => WalletCommand::FailTopUp { account, top_up_id, now },
        };
        let outcome = match self.pipeline.execute::<Wallet>(account, command, &context).await {
            // The same notice id with another content: not a retry.
            Err(CommandError::IdempotencyKeyReused { .. }) => return Err(LoopPayError::WebhookReplayed),
            // The top-up expired before the provider confirmed it: the wallet credits nothing.
            // Answered 2xx all the same, because the provider did nothing wrong that a retry
            // could fix, and an error would only make it retry for days; the warning is what
            // support follows to have the charge given back.
            Err(CommandError::Domain(LedgerError::TopUpExpired)) => {
                tracing::warn!(
                    notice = %notice.id,
                    top_up = %notice.top_up_id,
                    account = %notice.account,
                    amount = notice.amount,
                    "a confirmation arrived for an expired top-up; nothing credited, the charge must be refunded"
                );
                return Ok(NoticeApplied::Expired);
            }
            outcome => outcome?,
        };
        // For support questions, which deliveries arrived; it refuses nothing (the key does).
        let digest = Sha256::digest(signature.unwrap_or_default().as_bytes()).to_vec();
        let receipt = sqlx::query!(
            "INSERT INTO looppay_webhook_receipts (provider, signature_sha256, notice_id) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            provider,
            &digest,
            &notice.id,
        )
        .execute(&self.pool)
        .await;
        if let Err(error) = receipt {
            tracing::warn!(%error, notice = %notice.id, "a webhook receipt was not recorded");
        }
        Ok(if outcome.events.is_empty() { NoticeApplied::AlreadyApplied } else { NoticeApplied::Applied })
    }

    /// `POST /looppay/transfer`.
    pub async fn transfer(
        &self,
        caller: &Caller,
        to: Uuid,
        amount: Credits,
        note: Option<String>,
        context: CommandContext,
    ) -> Result<TwoWallets, LoopPayError> {
        self.require_user(to).await?;
        let command = Transfer {
            entry_id: Uuid::now_v7(),
            from: LedgerAccount::User(caller.user_id),
            to: LedgerAccount::User(to),
            amount,
            note,
            now: Utc::now(),
        };
        Ok(self.pipeline.decide(&command, &as_actor(context, caller.user_id)).await?)
    }

    /// `POST /looppay/pay`: pays a user or the platform (`system.escrow`) for something.
    pub async fn pay(
        &self,
        caller: &Caller,
        payee: LedgerAccount,
        amount: Credits,
        reference: String,
        note: Option<String>,
        context: CommandContext,
    ) -> Result<PaymentMovement, LoopPayError> {
        let payer = LedgerAccount::User(caller.user_id);
        // Whether the payee may be paid at all (not the funding account, not oneself) is the
        // decision's to say; only whether a user payee exists needs a read.
        if let LedgerAccount::User(user) = payee {
            self.require_user(user).await?;
        }
        let command =
            Pay { payment_id: Uuid::now_v7(), payer, payee, amount, reference, note, now: Utc::now() };
        Ok(self.pipeline.decide(&command, &as_actor(context, caller.user_id)).await?)
    }

    /// `POST /looppay/payments/{id}/refund`: the payee gives (part of) a payment back. Payments
    /// to the platform's escrow are refunded by admins.
    pub async fn refund(
        &self,
        caller: &Caller,
        caller_is_admin: bool,
        payment_id: Uuid,
        amount: Option<Credits>,
        reason: Option<String>,
        context: CommandContext,
    ) -> Result<PaymentMovement, LoopPayError> {
        let (payer, payee) = self.accounts_of(payment_id).await?;
        let caller_account = LedgerAccount::User(caller.user_id);
        let allowed = payee == caller_account || (payee == LedgerAccount::Escrow && caller_is_admin);
        if !allowed {
            // The payer learns the payment exists (it is theirs) but may not refund it; anyone
            // else learns nothing.
            return Err(if payer == caller_account {
                LoopPayError::Forbidden("only the payee refunds a payment")
            } else {
                LedgerError::PaymentNotFound.into()
            });
        }
        let command = Refund {
            payment_id,
            accounts: (payer, payee),
            refund_id: Uuid::now_v7(),
            amount,
            reason,
            now: Utc::now(),
        };
        Ok(self.pipeline.decide(&command, &as_actor(context, caller.user_id)).await?)
    }

    /// Holds credits of the payer for a payee until `expires_at`: for features that sell
    /// through LoopPay (tickets, orders), which capture or void the hold later.
    pub async fn place_hold(
        &self,
        command: PlaceHold,
        context: &CommandContext,
    ) -> Result<HoldMovement, LoopPayError> {
        Ok(self.pipeline.decide(&command, context).await?)
    }

    /// Captures a hold (all of it, or `amount`); the rest goes back to the payer.
    pub async fn capture_hold(
        &self,
        payment_id: Uuid,
        amount: Option<Credits>,
        context: &CommandContext,
    ) -> Result<PaymentMovement, LoopPayError> {
        let accounts = self.accounts_of(payment_id).await?;
        let command = CaptureHold { payment_id, accounts, amount, now: Utc::now() };
        Ok(self.pipeline.decide(&command, context).await?)
    }

    /// Voids a hold (or expires it, if it is due at `now`).
    pub async fn release_hold(
        &self,
        payment_id: Uuid,
        why: Release,
        now: DateTime<Utc>,
        context: &CommandContext,
    ) -> Result<HoldMovement, LoopPayError> {
        let (payer, _) = self.accounts_of(payment_id).await?;
        let command = ReleaseHold { payment_id, payer, why, now };
        Ok(self.pipeline.decide(&command, context).await?)
    }

    /// The payer and payee of a payment, which name the wallets a capture, release or refund
    /// loads; `PaymentNotFound` when there is no such payment. (They never change once the
    /// payment exists, and the decision checks them against the payment again.)
    async fn accounts_of(&self, payment_id: Uuid) -> Result<(LedgerAccount, LedgerAccount), LoopPayError> {
        let payment = self.pipeline.load_latest::<Payment>(StreamName::of::<Payment>(payment_id)).await?;
        payment_accounts(&payment.state).ok_or(LedgerError::PaymentNotFound.into())
    }

    /// `recipient_not_found` unless `user` has an account. An account never stops being
    /// registered, so a cached one answers without I/O; only an unknown one is read afresh.
    async fn require_user(&self, user: Uuid) -> Result<(), LoopPayError> {
        let stream = StreamName::of::<Account>(user);
        if self.pipeline.load::<Account>(stream.clone()).await?.state.registered {
            return Ok(());
        }
        let account = self.pipeline.load_latest::<Account>(stream).await?;
        if account.state.registered { Ok(()) } else { Err(LoopPayError::RecipientNotFound) }
    }
}

/// The caller acts; their idempotency keys are scoped to them.
fn as_actor(mut context: CommandContext, user: Uuid) -> CommandContext {
    context.actor = Some(user.to_string());
    context
}
