//! [`MailerConfig`] and [`SmsConfig`]: which sender the binary builds. Plain data: the binary
//! fills them from its own configuration (environment variables) and calls `build` once.

use crate::webhook::redacted_url;
use crate::{
    DeliveryError, Mailer, OutboxMailer, OutboxSmsSender, SmsSender, SmtpConfig, SmtpMailer, WebhookSmsSender,
};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How account mail leaves the process.
#[derive(Debug, Clone)]
pub enum MailerConfig {
    /// Development: one file per mail in `dir` (see [`OutboxMailer`]).
    Outbox { dir: PathBuf },
    /// An SMTP relay (see [`SmtpMailer`]).
    Smtp(SmtpConfig),
}

/// How account SMS leave the process. `Debug` leaves the bearer token and the URL's query and
/// password out.
#[derive(Clone)]
pub enum SmsConfig {
    /// Development: one file per SMS in `dir` (see [`OutboxSmsSender`]).
    Outbox { dir: PathBuf },
    /// A JSON POST per SMS to `url` (see [`WebhookSmsSender`]).
    Webhook { url: String, bearer_token: Option<String>, timeout: Duration },
}

impl fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Outbox { dir } => f.debug_struct("Outbox").field("dir", dir).finish(),
            Self::Webhook { url, bearer_token, timeout } => f
                .debug_struct("Webhook")
                .field("url", &redacted_url(url))
                .field("bearer_token", &bearer_token.as_ref().map(|_| "<redacted>"))
                .field("timeout", timeout)
                .finish(),
        }
    }
}

impl MailerConfig {
    /// The mailer; fails only on a configuration that cannot work (it does not connect).
    pub fn build(self) -> Result<Arc<dyn Mailer>, DeliveryError> {
        Ok(match self {
            Self::Outbox { dir } => Arc::new(OutboxMailer::new(dir)),
            Self::Smtp(config) => Arc::new(SmtpMailer::new(config)?),
        })
    }
}

impl SmsConfig {
    /// The SMS sender; fails only on a configuration that cannot work (it does not connect).
    pub fn build(self) -> Result<Arc<dyn SmsSender>, DeliveryError> {
        Ok(match self {
            Self::Outbox { dir } => Arc::new(OutboxSmsSender::new(dir)),
            Self::Webhook { url, bearer_token, timeout } => {
                Arc::new(WebhookSmsSender::new(&url, bearer_token, timeout)?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SmtpSecurity;

    fn smtp_config() -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.com".into(),
            port: 587,
            username: Some("loopync".into()),
            password: Some("hunter2-secret".into()),
            security: SmtpSecurity::StartTls,
            from: "Loopync <no-reply@loopync.example>".into(),
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mailer_config = MailerConfig::Smtp(smtp_config());
        let sms_config = SmsConfig::Webhook {
            url: "https://gw:pw-secret@sms.example.com/send?key=key-secret".into(),
            bearer_token: Some("tok-secret".into()),
            timeout: Duration::from_secs(5),
        };
        let shown = format!("{mailer_config:?} {sms_config:?}");
        for secret in ["hunter2", "tok-secret", "pw-secret", "key-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("smtp.example.com") && shown.contains("<redacted>"), "{shown}");

        let mailer = SmtpMailer::new(smtp_config()).unwrap_or_else(|e| panic!("smtp mailer: {e}"));
        let sender = WebhookSmsSender::new(
            "https://gw:pw-secret@sms.example.com/send?key=key-secret",
            Some("tok-secret".into()),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("webhook sender: {e}"));
        let shown = format!("{mailer:?} {sender:?}");
        for secret in ["hunter2", "tok-secret", "pw-secret", "key-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("sms.example.com/send"), "{shown}");
    }

    #[test]
    fn configurations_that_cannot_work_fail_to_build() {
        let bad_from = SmtpConfig { from: "not an address".into(), ..smtp_config() };
        let half_credentials = SmtpConfig { password: None, ..smtp_config() };
        for config in [bad_from, half_credentials] {
            assert!(matches!(MailerConfig::Smtp(config).build(), Err(DeliveryError::Config(_))));
        }
        for url in ["not a url", "ftp://sms.example.com/send"] {
            let config =
                SmsConfig::Webhook { url: url.into(), bearer_token: None, timeout: Duration::from_secs(1) };
            assert!(matches!(config.build(), Err(DeliveryError::Config(_))), "{url}");
        }
    }

    #[test]
    fn every_configuration_builds_outside_a_runtime() {
        // The binary may build its senders before it starts tokio; nothing here may spawn.
        let configs = [
            MailerConfig::Outbox { dir: "outbox".into() },
            MailerConfig::Smtp(SmtpConfig { security: SmtpSecurity::None, ..smtp_config() }),
            MailerConfig::Smtp(smtp_config()),
            MailerConfig::Smtp(SmtpConfig { security: SmtpSecurity::Tls, port: 465, ..smtp_config() }),
        ];
        for config in configs {
            assert!(config.build().is_ok());
        }
        let webhook = SmsConfig::Webhook {
            url: "http://127.0.0.1:9/sms".into(),
            bearer_token: None,
            timeout: Duration::from_secs(1),
        };
        for config in [SmsConfig::Outbox { dir: "outbox".into() }, webhook] {
            assert!(config.build().is_ok());
        }
    }
}
