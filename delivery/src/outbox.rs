//! The development senders: every message becomes one text file in an outbox directory, where
//! a developer reads the code they were sent.
//!
//! Files are named `<UTC time>-mail-<UUIDv7>.txt` (or `-sms-`), so `ls` lists them in the order
//! they were sent and mail and SMS can share a directory. Each is written under a hidden
//! temporary name and renamed into place, so whoever watches the directory never reads half a
//! message. The log line names the recipient and the file, never the subject or the text: they
//! carry one-time codes, and logs are kept and shipped where codes must not go.

use crate::message::{check_sms_recipient, mail_recipient};
use crate::{DeliveryError, Mail, Mailer, Sms, SmsSender};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Writes each mail to `<dir>/<time>-mail-<id>.txt`: `To:` and `Subject:` lines, a blank line,
/// the text.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
}

/// Writes each SMS to `<dir>/<time>-sms-<id>.txt`: a `To:` line, a blank line, the text.
#[derive(Debug, Clone)]
pub struct OutboxSmsSender {
    dir: PathBuf,
}

impl OutboxMailer {
    /// The directory is created on the first send (and again if it was removed meanwhile).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

impl OutboxSmsSender {
    /// The directory is created on the first send (and again if it was removed meanwhile).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: Mail) -> Result<(), DeliveryError> {
        mail_recipient(&mail)?;
        let contents = format!("To: {}\nSubject: {}\n\n{}\n", mail.to, mail.subject, mail.text);
        let path = write_message(&self.dir, "mail", &contents).await?;
        tracing::info!(to = %mail.to, path = %path.display(), "mail written to the outbox");
        Ok(())
    }
}

#[async_trait]
impl SmsSender for OutboxSmsSender {
    async fn send(&self, sms: Sms) -> Result<(), DeliveryError> {
        check_sms_recipient(&sms)?;
        let contents = format!("To: {}\n\n{}\n", sms.to, sms.text);
        let path = write_message(&self.dir, "sms", &contents).await?;
        tracing::info!(to = %sms.to, path = %path.display(), "sms written to the outbox");
        Ok(())
    }
}

/// Writes one message file and returns its path.
pub(crate) async fn write_message(dir: &Path, kind: &str, contents: &str) -> Result<PathBuf, DeliveryError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DeliveryError::Io { path, source }
    };
    tokio::fs::create_dir_all(dir).await.map_err(io_error(dir))?;

    // No colons in the time: they are not allowed in Windows file names.
    let time = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let name = format!("{time}-{kind}-{}.txt", Uuid::now_v7());
    let path = dir.join(&name);
    let partial = dir.join(format!(".{name}.partial"));
    tokio::fs::write(&partial, contents).await.map_err(io_error(&partial))?;
    tokio::fs::rename(&partial, &path).await.map_err(io_error(&path))?;
    Ok(path)
}
