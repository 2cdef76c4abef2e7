//! LoopPay's descriptor: its event types, ledger read model, balance frames, hold expiry and
//! top-up expiry.

use crate::feature::{Feature, Job, JobContext};
use crate::rate_limit::{Budget, RateLimitClass};
use crate::realtime::asyncapi::{Cursor, FrameDoc, Sender};
use crate::state::ApiConfig;
use loopync_projections::Projection;
use loopync_projections::looppay::{BalanceUpdated, LedgerReadModel};
use loopync_schemas::EventTypeInfo;
use loopync_workers::looppay::{hold_expiry, top_up_expiry};
use std::sync::Arc;

/// The wallet: top-ups, transfers, payments, holds, refunds and the audited ledger.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoopPayFeature;

impl Feature for LoopPayFeature {
    fn name(&self) -> &'static str {
        "looppay"
    }

    fn event_types(&self) -> &'static [EventTypeInfo] {
        loopync_schemas::registry::looppay::EVENTS
    }

    fn projections(&self) -> Vec<Arc<dyn Projection>> {
        vec![Arc::new(LedgerReadModel)]
    }

    fn live_frames(&self) -> Vec<FrameDoc> {
        vec![FrameDoc::new::<BalanceUpdated>(Sender::Server(Cursor::Durable)).example(
            "transfer_received",
            "12.50 LOOP arrived; 3.00 are held by a pending payment.",
            Some(1042),
            BalanceUpdated { available: 9750, held: 300, currency: "LOOP".to_owned(), sequence: 17 },
        )]
    }

    /// Holds past their expiry are released, and top-ups pending past the window expire, by
    /// whichever worker gets to them first.
    fn jobs(&self, context: &JobContext) -> Vec<Job> {
        let looppay = &context.config.looppay;
        // The window is checked at start (at most a year), so it always fits.
        let window =
            chrono::Duration::from_std(looppay.top_up_pending_window).unwrap_or(chrono::Duration::days(366));
        vec![
            Job::new(
                "looppay.hold_expiry",
                hold_expiry::run_hold_expiry(
                    context.pipeline.clone(),
                    context.pool.clone(),
                    looppay.hold_expiry_interval,
                    context.shutdown.child_token(),
                ),
            ),
            Job::new(
                "looppay.top_up_expiry",
                top_up_expiry::run_top_up_expiry(
                    context.pipeline.clone(),
                    context.pool.clone(),
                    window,
                    looppay.top_up_expiry_interval,
                    context.shutdown.child_token(),
                ),
            ),
        ]
    }

    /// The payment providers' notices have a budget of their own, instead of the anonymous
    /// one: a provider sends from few addresses, in bursts (retries after an outage), and must
    /// not be refused for sharing the budget of anonymous readers.
    fn rate_limit_classes(&self, config: &ApiConfig) -> Vec<RateLimitClass> {
        vec![RateLimitClass {
            name: "webhook",
            paths: &["/api/looppay/webhooks/"],
            per_minute: config.rate_limits.webhook_per_minute,
            budget: Budget::PerAddressInstead,
        }]
    }
}
