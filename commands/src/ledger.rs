//! LoopPay's use cases: every movement of credits, run through the command pipeline.
//!
//! The rules are the domain's ([`loopync_domain::looppay`]); this module only knows which
//! streams each movement touches and appends their events atomically:
//!
//! | movement        | streams, appended in one transaction              |
//! |-----------------|---------------------------------------------------|
//! | top-up          | the wallet (its `system.funding` leg is implied)  |
//! | transfer        | sender's wallet, recipient's wallet               |
//! | payment         | payer's wallet, payee's wallet, the payment       |
//! | hold            | payer's wallet, the payment                       |
//! | capture         | payer's wallet, payee's wallet, the payment       |
//! | void / expiry   | payer's wallet, the payment                       |
//! | refund          | payee's wallet, payer's wallet, the payment       |
//!
//! Every append carries each stream's expected version, so two movements racing for one
//! wallet cannot both spend the same credits: the loser is decided again on the new balance.
//!
//! Idempotency keys are fingerprinted on the command's serialized form, which is what the
//! *client* asked for (amount, recipient, note, ...): the domain skips the ids and timestamps
//! the server adds, so a retried request with the same key finds the original movement.

use crate::error::{CommandError, StoreError};
use crate::pipeline::{CommandContext, CommandOutcome, CommandPipeline, Loaded};
use chrono::{DateTime, Utc};
use loopync_domain::StreamName;
use loopync_domain::looppay::{
    self, CaptureHold, LedgerAccount, LedgerError, Pay, Payment, PaymentEvent, PlaceHold, Refund,
    ReleaseHold, TopUpLimits, Transfer, Wallet, WalletCommand, WalletEvent,
};
use std::sync::Arc;
use uuid::Uuid;

/// What a movement can end in besides success.
pub type LedgerResult<T> = Result<T, CommandError<LedgerError>>;

/// The outcome of a movement between two wallets.
pub type TwoWallets = CommandOutcome<(Vec<WalletEvent>, Vec<WalletEvent>)>;
/// The outcome of a movement between two wallets that belongs to a payment.
pub type PaymentMovement = CommandOutcome<(Vec<WalletEvent>, Vec<WalletEvent>, Vec<PaymentEvent>)>;
/// The outcome of a hold placed or released: the payer's wallet and the payment.
pub type HoldMovement = CommandOutcome<(Vec<WalletEvent>, Vec<PaymentEvent>)>;

/// LoopPay's write side. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    pipeline: Arc<CommandPipeline>,
}

impl Ledger {
    pub fn new(pipeline: Arc<CommandPipeline>) -> Self {
        Self { pipeline }
    }

    pub fn pipeline(&self) -> &Arc<CommandPipeline> {
        &self.pipeline
    }

    /// Starts a top-up of `amount` into `account`. With `confirmed` (a provider that settles
    /// at once) the credits arrive in the same append; otherwise they arrive with
    /// [`Self::confirm_top_up`].
    #[allow(clippy::too_many_arguments)]
    pub async fn top_up(
        &self,
        account: LedgerAccount,
        top_up_id: Uuid,
        amount: i64,
        confirmed: bool,
        limits: TopUpLimits,
        now: DateTime<Utc>,
        context: &CommandContext,
    ) -> LedgerResult<CommandOutcome<Vec<WalletEvent>>> {
        let command = WalletCommand::RequestTopUp { account, top_up_id, amount, confirmed, limits, now };
        self.pipeline
            .run::<Loaded<Wallet>, _, _>(account.to_string(), "looppay.top_up", &command, context, |wallet| {
                looppay_decide(&wallet.state, &command)
            })
            .await
    }

    /// The provider confirmed a top-up: its credits arrive, once however often it is called.
    pub async fn confirm_top_up(
        &self,
        account: LedgerAccount,
        top_up_id: Uuid,
        now: DateTime<Utc>,
        context: &CommandContext,
    ) -> LedgerResult<CommandOutcome<Vec<WalletEvent>>> {
        let command = WalletCommand::ConfirmTopUp { account, top_up_id, now };
        self.pipeline.execute::<Wallet>(account, command, context).await
    }

    /// The provider reported a top-up as failed.
    pub async fn fail_top_up(
        &self,
        account: LedgerAccount,
        top_up_id: Uuid,
        now: DateTime<Utc>,
        context: &CommandContext,
    ) -> LedgerResult<CommandOutcome<Vec<WalletEvent>>> {
        let command = WalletCommand::FailTopUp { account, top_up_id, now };
        self.pipeline.execute::<Wallet>(account, command, context).await
    }

    /// Moves credits from one user's wallet to another's.
    pub async fn transfer(&self, command: Transfer, context: &CommandContext) -> LedgerResult<TwoWallets> {
        if command.from == command.to {
            // One stream cannot be loaded twice for one append; the domain's answer is this.
            return Err(CommandError::Domain(LedgerError::SameAccount));
        }
        let ids = (command.from.to_string(), command.to.to_string());
        self.pipeline
            .run::<(Loaded<Wallet>, Loaded<Wallet>), _, _>(
                ids,
                "looppay.transfer",
                &command,
                context,
                |(from, to)| looppay::transfer(&from.state, &to.state, &command),
            )
            .await
    }

    /// Pays `payee` at once.
    pub async fn pay(&self, command: Pay, context: &CommandContext) -> LedgerResult<PaymentMovement> {
        if command.payer == command.payee {
            return Err(CommandError::Domain(LedgerError::SameAccount));
        }
        let ids = (command.payer.to_string(), command.payee.to_string(), command.payment_id.to_string());
        self.pipeline
            .run::<(Loaded<Wallet>, Loaded<Wallet>, Loaded<Payment>), _, _>(
                ids,
                "looppay.pay",
                &command,
                context,
                |(payer, payee, payment)| looppay::pay(&payer.state, &payee.state, &payment.state, &command),
            )
            .await
    }

    /// Holds credits of the payer for a payee until `expires_at`.
    pub async fn place_hold(
        &self,
        command: PlaceHold,
        context: &CommandContext,
    ) -> LedgerResult<HoldMovement> {
        let ids = (command.payer.to_string(), command.payment_id.to_string());
        self.pipeline
            .run::<(Loaded<Wallet>, Loaded<Payment>), _, _>(
                ids,
                "looppay.hold",
                &command,
                context,
                |(payer, payment)| looppay::place_hold(&payer.state, &payment.state, &command),
            )
            .await
    }

    /// Captures a hold (all of it, or `amount`); the rest goes back to the payer.
    pub async fn capture_hold(
        &self,
        command: CaptureHold,
        context: &CommandContext,
    ) -> LedgerResult<PaymentMovement> {
        let (payer, payee) = self.accounts_of(command.payment_id).await?;
        let ids = (payer.to_string(), payee.to_string(), command.payment_id.to_string());
        self.pipeline
            .run::<(Loaded<Wallet>, Loaded<Wallet>, Loaded<Payment>), _, _>(
                ids,
                "looppay.capture",
                &command,
                context,
                |(payer_wallet, payee_wallet, payment)| {
                    looppay::capture_hold(
                        &payer_wallet.state,
                        &payee_wallet.state,
                        &payment.state,
                        (payer, payee),
                        &command,
                    )
                },
            )
            .await
    }

    /// Voids a hold, or expires it when it is due. An expiry that finds the hold settled or
    /// not yet due appends nothing: any number of workers may race to expire it.
    pub async fn release_hold(
        &self,
        command: ReleaseHold,
        context: &CommandContext,
    ) -> LedgerResult<HoldMovement> {
        let (payer, _) = self.accounts_of(command.payment_id).await?;
        let ids = (payer.to_string(), command.payment_id.to_string());
        self.pipeline
            .run::<(Loaded<Wallet>, Loaded<Payment>), _, _>(
                ids,
                "looppay.release",
                &command,
                context,
                |(payer_wallet, payment)| {
                    looppay::release_hold(&payer_wallet.state, &payment.state, payer, &command)
                },
            )
            .await
    }

    /// Refunds (part of) a payment from its payee to its payer, as a new entry.
    pub async fn refund(&self, command: Refund, context: &CommandContext) -> LedgerResult<PaymentMovement> {
        let (payer, payee) = self.accounts_of(command.payment_id).await?;
        let ids = (payee.to_string(), payer.to_string(), command.payment_id.to_string());
        self.pipeline
            .run::<(Loaded<Wallet>, Loaded<Wallet>, Loaded<Payment>), _, _>(
                ids,
                "looppay.refund",
                &command,
                context,
                |(payee_wallet, payer_wallet, payment)| {
                    looppay::refund(
                        &payee_wallet.state,
                        &payer_wallet.state,
                        &payment.state,
                        (payer, payee),
                        &command,
                    )
                },
            )
            .await
    }

    /// A wallet's current state, caught up with the store.
    pub async fn wallet(&self, account: LedgerAccount) -> Result<Loaded<Wallet>, StoreError> {
        self.pipeline.load_latest::<Wallet>(StreamName::of::<Wallet>(account)).await
    }

    /// A payment's current state, caught up with the store.
    pub async fn payment(&self, payment_id: Uuid) -> Result<Loaded<Payment>, StoreError> {
        self.pipeline.load_latest::<Payment>(StreamName::of::<Payment>(payment_id)).await
    }

    /// The payer and payee of a payment; `PaymentNotFound` when there is none.
    async fn accounts_of(&self, payment_id: Uuid) -> LedgerResult<(LedgerAccount, LedgerAccount)> {
        let payment = self.payment(payment_id).await?;
        looppay::payment_accounts(&payment.state).ok_or(CommandError::Domain(LedgerError::PaymentNotFound))
    }
}

/// The wallet aggregate's own decision (named so the closure above reads as a sentence).
fn looppay_decide(wallet: &Wallet, command: &WalletCommand) -> Result<Vec<WalletEvent>, LedgerError> {
    loopync_domain::Aggregate::decide(wallet, command)
}
