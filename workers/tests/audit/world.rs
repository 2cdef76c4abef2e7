//! The ledger of the tests, built through the command pipeline: top-ups (at once, confirmed
//! later, failed), transfers, a payment with a partial refund, a hold partly captured then
//! refunded, a voided hold, an expired hold and a hold still active.

use crate::ok;
use chrono::{DateTime, Duration, Utc};
use loopync_commands::{CommandContext, CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
use loopync_domain::StreamName;
use loopync_domain::given::credits;
use loopync_domain::looppay::{
    CaptureHold, LedgerAccount, Pay, PlaceHold, Refund, Release, ReleaseHold, TopUp, TopUpLimits, Transfer,
    Wallet, WalletCommand,
};
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

const LIMITS: TopUpLimits = TopUpLimits { per_top_up: 1_000_000, daily: 10_000_000, pending: 100 };

/// The ledger of the tests, and who is who in it.
pub struct World {
    pub ledger: Arc<CommandPipeline>,
    pub now: DateTime<Utc>,
    pub ada: LedgerAccount,
    pub bob: LedgerAccount,
    pub carol: LedgerAccount,
    pub dave: LedgerAccount,
    /// Ada pays escrow 2000 at once; escrow refunds 500 of it.
    pub paid: Uuid,
    /// The transfer from Ada to Dave: Dave's only event, the last of the ledger.
    pub to_dave: Uuid,
}

fn ledger(pool: &PgPool) -> Arc<CommandPipeline> {
    let store =
        PgEventStore::new(pool.clone(), GroupCommit { enabled: false, max_batch: 64, max_in_flight: 1 });
    Arc::new(CommandPipeline::new(Arc::new(store), PipelineConfig::default()))
}

pub fn top_up_of(
    account: LedgerAccount,
    top_up_id: Uuid,
    amount: i64,
    confirmed: bool,
    now: DateTime<Utc>,
) -> TopUp {
    TopUp { account, top_up_id, amount: credits(amount), confirmed, limits: LIMITS, now }
}

/// A wallet as the store has it now.
pub async fn wallet(ledger: &CommandPipeline, account: LedgerAccount) -> Wallet {
    (*ok(ledger.load_latest::<Wallet>(StreamName::of::<Wallet>(account)).await).state).clone()
}

pub fn user() -> LedgerAccount {
    LedgerAccount::User(Uuid::now_v7())
}

/// Top-ups (at once, confirmed later, failed), transfers, a payment with a partial refund, a
/// hold partly captured then refunded, a voided hold, an expired hold and a hold still active.
///
/// Money: 17 000 topped up; escrow ends with 2000 - 500 + 600 - 600 = 1500; 100 still held.
pub async fn world(pool: &PgPool) -> World {
    let ledger = ledger(pool);
    let now = Utc::now();
    let cx = CommandContext::actor("audit-test");
    let (ada, bob, carol, dave) = (user(), user(), user(), user());
    let escrow = LedgerAccount::Escrow;

    ok(ledger.decide(&top_up_of(ada, Uuid::now_v7(), 10_000, true, now), &cx).await);
    ok(ledger.decide(&top_up_of(bob, Uuid::now_v7(), 5_000, true, now), &cx).await);
    let later = Uuid::now_v7();
    ok(ledger.decide(&top_up_of(carol, later, 2_000, false, now), &cx).await);
    ok(ledger
        .execute::<Wallet>(carol, WalletCommand::ConfirmTopUp { account: carol, top_up_id: later, now }, &cx)
        .await);
    let failed = Uuid::now_v7();
    ok(ledger.decide(&top_up_of(carol, failed, 700, false, now), &cx).await);
    ok(ledger
        .execute::<Wallet>(carol, WalletCommand::FailTopUp { account: carol, top_up_id: failed, now }, &cx)
        .await);

    let transfer = |from, to, amount| Transfer {
        entry_id: Uuid::now_v7(),
        from,
        to,
        amount: credits(amount),
        note: None,
        now,
    };
    ok(ledger.decide(&transfer(ada, bob, 1_500), &cx).await);
    ok(ledger.decide(&transfer(bob, carol, 300), &cx).await);

    let paid = Uuid::now_v7();
    let pay = Pay {
        payment_id: paid,
        payer: ada,
        payee: escrow,
        amount: credits(2_000),
        reference: "order:1".into(),
        note: Some("tickets".into()),
        now,
    };
    ok(ledger.decide(&pay, &cx).await);
    let refund = |payment_id, accounts, amount: Option<i64>| Refund {
        payment_id,
        accounts,
        refund_id: Uuid::now_v7(),
        amount: amount.map(credits),
        reason: None,
        now,
    };
    ok(ledger.decide(&refund(paid, (ada, escrow), Some(500)), &cx).await);

    let hold = |payer, payee, amount| PlaceHold {
        payment_id: Uuid::now_v7(),
        payer,
        payee,
        amount: credits(amount),
        reference: "event:1".into(),
        expires_at: now + Duration::minutes(15),
        now,
    };
    let captured = hold(bob, escrow, 1_000);
    ok(ledger.decide(&captured.clone(), &cx).await);
    ok(ledger
        .decide(
            &CaptureHold {
                payment_id: captured.payment_id,
                accounts: (bob, escrow),
                amount: Some(credits(600)),
                now,
            },
            &cx,
        )
        .await);
    ok(ledger.decide(&refund(captured.payment_id, (bob, escrow), None), &cx).await);

    let voided = hold(carol, bob, 200);
    ok(ledger.decide(&voided.clone(), &cx).await);
    ok(ledger
        .decide(&ReleaseHold { payment_id: voided.payment_id, payer: carol, why: Release::Void, now }, &cx)
        .await);

    let expired = hold(ada, escrow, 800);
    ok(ledger.decide(&expired.clone(), &cx).await);
    let due = now + Duration::minutes(16);
    ok(ledger
        .decide(
            &ReleaseHold { payment_id: expired.payment_id, payer: ada, why: Release::Expire, now: due },
            &cx,
        )
        .await);

    ok(ledger.decide(&hold(ada, bob, 100), &cx).await);

    let to_dave = transfer(ada, dave, 250);
    let to_dave_id = to_dave.entry_id;
    ok(ledger.decide(&to_dave, &cx).await);

    World { ledger, now, ada, bob, carol, dave, paid, to_dave: to_dave_id }
}
