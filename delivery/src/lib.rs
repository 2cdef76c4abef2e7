//! How Loopync sends account mail and SMS: sign-up codes, password resets, sign-in alerts.
//!
//! Features hold an `Arc<dyn Mailer>` / `Arc<dyn SmsSender>` and never know which one:
//!
//! - [`message`]: [`Mail`] and [`Sms`], the [`Mailer`] and [`SmsSender`] traits.
//! - [`error`]: [`DeliveryError`] — rejected for good, unavailable for now, or a local I/O failure.
//! - [`outbox`]: [`OutboxMailer`], [`OutboxSmsSender`] — development: one file per message.
//! - [`smtp`]: [`SmtpMailer`] over lettre, plain, STARTTLS or TLS.
//! - [`webhook`]: [`WebhookSmsSender`], a JSON POST to an SMS gateway.
//! - [`recording`]: [`RecordingMailer`], [`RecordingSmsSender`] — in memory, for other crates' tests.
//! - [`push`]: [`Push`] and [`PushSender`], with the development outbox and the recorder.
//! - [`config`]: [`MailerConfig`], [`SmsConfig`] — which sender the binary builds.
//!
//! Bodies carry one-time codes and reset tokens, so no sender logs a body or a subject, no error
//! says one, and the `Debug` of a message or of a config hides them and every secret.
//!
//! ```ignore
//! let mailer: Arc<dyn Mailer> = MailerConfig::Outbox { dir: "outbox".into() }.build()?;
//! mailer.send(Mail { to: "ada@example.com".into(), subject: "Your code".into(), text }).await?;
//! ```

pub mod config;
pub mod error;
pub mod message;
pub mod outbox;
pub mod push;
pub mod recording;
pub mod smtp;
pub mod webhook;

pub use config::{MailerConfig, SmsConfig};
pub use error::DeliveryError;
pub use message::{Mail, Mailer, Sms, SmsSender};
pub use outbox::{OutboxMailer, OutboxSmsSender};
pub use push::{OutboxPushSender, Push, PushSender, RecordingPushSender};
pub use recording::{RecordingMailer, RecordingSmsSender};
pub use smtp::{SmtpConfig, SmtpMailer, SmtpSecurity};
pub use webhook::WebhookSmsSender;
