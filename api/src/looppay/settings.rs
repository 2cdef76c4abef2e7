//! LoopPay's settings, read by the binary from flags or the environment.

use super::service::{LoopPayConfig, ProviderChoice};
use clap::{Args, ValueEnum};
use loopync_domain::looppay::TopUpLimits;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct LoopPaySettings {
    /// LoopPay's payment provider: `dev` confirms top-ups at once (development only),
    /// `webhook` waits for a signed confirmation at `POST /api/looppay/webhooks/webhook`.
    #[arg(long, env = "LOOPYNC_PAYMENT_PROVIDER", value_enum, default_value_t = PaymentProviderArg::Dev)]
    pub payment_provider: PaymentProviderArg,

    /// The HMAC-SHA256 secret shared with the webhook payment provider (required for `webhook`).
    #[arg(long, env = "LOOPYNC_PAYMENT_WEBHOOK_SECRET", hide_env_values = true)]
    pub payment_webhook_secret: Option<String>,

    /// Where the webhook provider's checkout page is; `{topUpId}` is replaced.
    #[arg(long, env = "LOOPYNC_PAYMENT_CHECKOUT_URL")]
    pub payment_checkout_url: Option<String>,

    /// Largest single top-up, in minor units of Loop credits (100 = 1.00 LOOP).
    #[arg(long, env = "LOOPYNC_TOP_UP_MAX", default_value_t = 100_000)]
    pub top_up_max: i64,

    /// Most a wallet may top up per UTC day, in minor units.
    #[arg(long, env = "LOOPYNC_TOP_UP_DAILY_MAX", default_value_t = 500_000)]
    pub top_up_daily_max: i64,

    /// How often expired LoopPay holds are swept, in seconds.
    #[arg(long, env = "LOOPYNC_HOLD_EXPIRY_INTERVAL_SECONDS", default_value_t = 1)]
    pub hold_expiry_interval_seconds: u64,

    /// Most top-ups a wallet may have waiting for the payment provider at once; past it a new
    /// one is refused `422 too_many_pending_top_ups`.
    #[arg(long, env = "LOOPYNC_TOP_UP_PENDING_MAX", default_value_t = 5)]
    pub top_up_pending_max: usize,

    /// How long a top-up may wait for the provider's confirmation before it expires, in minutes.
    #[arg(long, env = "LOOPYNC_TOP_UP_PENDING_MINUTES", default_value_t = 60)]
    pub top_up_pending_minutes: u64,
}

/// The longest pending window accepted: a year.
const MAX_PENDING_MINUTES: u64 = 366 * 24 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PaymentProviderArg {
    Dev,
    Webhook,
}

/// Settings that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoopPaySettingsError {
    #[error("LOOPYNC_PAYMENT_WEBHOOK_SECRET (at least 16 bytes) is required with the webhook provider")]
    WebhookSecretMissing,
    #[error("top-up limits must be positive, and the daily one at least the per-top-up one")]
    TopUpLimits,
    #[error(
        "LOOPYNC_TOP_UP_PENDING_MAX and LOOPYNC_TOP_UP_PENDING_MINUTES must be at least 1 (and the window at most a year)"
    )]
    PendingTopUps,
}

impl LoopPaySettings {
    /// The provider, limits and sweep interval, checked.
    pub fn config(&self) -> Result<LoopPayConfig, LoopPaySettingsError> {
        let provider = match self.payment_provider {
            PaymentProviderArg::Dev => ProviderChoice::Dev,
            PaymentProviderArg::Webhook => match &self.payment_webhook_secret {
                Some(secret) if secret.len() >= 16 => ProviderChoice::Webhook {
                    secret: secret.clone(),
                    checkout_url: self.payment_checkout_url.clone(),
                },
                _ => return Err(LoopPaySettingsError::WebhookSecretMissing),
            },
        };
        if self.top_up_max <= 0 || self.top_up_daily_max < self.top_up_max {
            return Err(LoopPaySettingsError::TopUpLimits);
        }
        // A window of zero would expire every top-up before its checkout could be paid.
        if self.top_up_pending_max == 0 || !(1..=MAX_PENDING_MINUTES).contains(&self.top_up_pending_minutes) {
            return Err(LoopPaySettingsError::PendingTopUps);
        }
        Ok(LoopPayConfig {
            provider,
            limits: TopUpLimits {
                per_top_up: self.top_up_max,
                daily: self.top_up_daily_max,
                pending: self.top_up_pending_max,
            },
            hold_expiry_interval: Duration::from_secs(self.hold_expiry_interval_seconds.max(1)),
            top_up_pending_window: Duration::from_secs(self.top_up_pending_minutes * 60),
            ..LoopPayConfig::default()
        })
    }
}

impl LoopPaySettings {
    /// What only development may run with: the `dev` provider confirms every top-up at once,
    /// without any payment.
    pub fn development_only(&self) -> Option<&'static str> {
        (self.payment_provider == PaymentProviderArg::Dev).then_some(
            "LOOPYNC_PAYMENT_PROVIDER=dev: every top-up is confirmed at once, without any payment \
             (set LOOPYNC_PAYMENT_PROVIDER=webhook and its secret)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LoopPaySettings {
        LoopPaySettings {
            payment_provider: PaymentProviderArg::Dev,
            payment_webhook_secret: None,
            payment_checkout_url: None,
            top_up_max: 100_000,
            top_up_daily_max: 500_000,
            hold_expiry_interval_seconds: 0,
            top_up_pending_max: 5,
            top_up_pending_minutes: 60,
        }
    }

    #[test]
    fn settings_that_cannot_run_are_refused_at_start() {
        let config = settings().config().expect("the defaults run");
        assert!(matches!(config.provider, ProviderChoice::Dev));
        assert_eq!(config.hold_expiry_interval, Duration::from_secs(1), "a sweep at least every second");

        let webhook = LoopPaySettings { payment_provider: PaymentProviderArg::Webhook, ..settings() };
        assert_eq!(webhook.config().err(), Some(LoopPaySettingsError::WebhookSecretMissing));
        let short = LoopPaySettings { payment_webhook_secret: Some("too short".into()), ..webhook.clone() };
        assert_eq!(short.config().err(), Some(LoopPaySettingsError::WebhookSecretMissing));
        let signed = LoopPaySettings { payment_webhook_secret: Some("s".repeat(16)), ..webhook };
        assert!(matches!(signed.config().map(|c| c.provider), Ok(ProviderChoice::Webhook { .. })));

        let daily_below = LoopPaySettings { top_up_daily_max: 99_999, ..settings() };
        assert_eq!(daily_below.config().err(), Some(LoopPaySettingsError::TopUpLimits));
        let zero = LoopPaySettings { top_up_max: 0, ..settings() };
        assert_eq!(zero.config().err(), Some(LoopPaySettingsError::TopUpLimits));

        assert_eq!(config.limits.pending, 5);
        assert_eq!(config.top_up_pending_window, Duration::from_secs(3600));
        for refused in [
            LoopPaySettings { top_up_pending_max: 0, ..settings() },
            LoopPaySettings { top_up_pending_minutes: 0, ..settings() },
            LoopPaySettings { top_up_pending_minutes: u64::MAX, ..settings() },
        ] {
            assert_eq!(refused.config().err(), Some(LoopPaySettingsError::PendingTopUps));
        }
    }
}
