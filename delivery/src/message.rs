//! What is sent — [`Mail`], [`Sms`] — and the traits every sender implements.

use crate::DeliveryError;
use async_trait::async_trait;
use lettre::message::Mailbox;
use std::fmt;

/// A plain-text mail to one recipient. The sender's address is the mailer's, not the mail's.
///
/// `Debug` shows the recipient and only the lengths of the subject and text: they carry codes.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    /// An address, `ada@example.com`, or a mailbox, `Ada Lovelace <ada@example.com>`.
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// A text message to one phone.
///
/// `Debug` shows the recipient and only the length of the text: it carries codes.
#[derive(Clone, PartialEq, Eq)]
pub struct Sms {
    /// E.164: `+`, the country code and the number, digits only (`+15551234567`).
    pub to: String,
    pub text: String,
}

/// Sends account mail. Returning `Ok` means the provider (or the outbox) took the message,
/// not that it reached an inbox.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, mail: Mail) -> Result<(), DeliveryError>;
}

/// Sends account SMS. Returning `Ok` means the gateway (or the outbox) took the message, not
/// that it reached a phone.
#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    async fn send(&self, sms: Sms) -> Result<(), DeliveryError>;
}

impl fmt::Debug for Mail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("subject", &Redacted(self.subject.len()))
            .field("text", &Redacted(self.text.len()))
            .finish()
    }
}

impl fmt::Debug for Sms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sms").field("to", &self.to).field("text", &Redacted(self.text.len())).finish()
    }
}

/// Stands in for a text in `Debug` output: its length in bytes, not its content.
struct Redacted(usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

/// The recipient of a mail as lettre's mailbox. Every mailer checks it, the outbox and the
/// recorder too, so a bad address fails in development and tests as it would in production.
pub(crate) fn mail_recipient(mail: &Mail) -> Result<Mailbox, DeliveryError> {
    mail.to.parse::<Mailbox>().map_err(|error| DeliveryError::rejected(format!("recipient address: {error}")))
}

/// Checks that an SMS recipient is E.164 (`+` and 2 to 15 digits), in every sender for the
/// same reason as [`mail_recipient`].
pub(crate) fn check_sms_recipient(sms: &Sms) -> Result<(), DeliveryError> {
    let digits = sms.to.strip_prefix('+').unwrap_or_default();
    let is_e164 = (2..=15).contains(&digits.len()) && digits.bytes().all(|byte| byte.is_ascii_digit());
    if is_e164 {
        Ok(())
    } else {
        Err(DeliveryError::rejected("recipient number is not E.164 (+ and up to 15 digits)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_subjects_and_texts() {
        let mail =
            Mail { to: "ada@example.com".into(), subject: "Code 493817".into(), text: "493817".into() };
        let sms = Sms { to: "+15551234567".into(), text: "Your code: 493817".into() };
        let shown = format!("{mail:?} {sms:?}");
        assert!(!shown.contains("493817"), "{shown}");
        assert!(shown.contains("ada@example.com") && shown.contains("+15551234567"), "{shown}");
    }

    #[test]
    fn sms_recipients_must_be_e164() {
        let sms = |to: &str| Sms { to: to.into(), text: String::new() };
        for good in ["+15551234567", "+491701234567", "+44"] {
            assert!(check_sms_recipient(&sms(good)).is_ok(), "{good}");
        }
        for bad in ["15551234567", "+1 555 123 4567", "+1555123456789012", "+", "", "+1555-1234"] {
            assert!(matches!(check_sms_recipient(&sms(bad)), Err(DeliveryError::Rejected { .. })), "{bad}");
        }
    }

    #[test]
    fn mail_recipients_may_be_addresses_or_mailboxes() {
        let mail = |to: &str| Mail { to: to.into(), subject: String::new(), text: String::new() };
        assert!(mail_recipient(&mail("ada@example.com")).is_ok());
        assert!(mail_recipient(&mail("Ada Lovelace <ada@example.com>")).is_ok());
        for bad in ["", "ada", "ada@", "<ada@example.com"] {
            assert!(matches!(mail_recipient(&mail(bad)), Err(DeliveryError::Rejected { .. })), "{bad}");
        }
    }
}
