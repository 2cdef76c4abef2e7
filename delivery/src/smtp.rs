//! [`SmtpMailer`]: account mail over SMTP with lettre, one connection per message.
//!
//! [`SmtpSecurity`] picks the wire: `Tls` (implicit TLS, port 465) or `StartTls` (port 587) for a
//! real relay, `None` for a relay on the same machine or a development sink such as Mailpit.
//! TLS certificates are checked against the system's roots.
//!
//! Replies map to [`DeliveryError`] by what a retry would do: 5xx is `Rejected` (the relay will
//! not take this message), 4xx, connection failures and timeouts are `Unavailable`; so are the
//! 5xx authentication replies, because they are about our credentials, not the message.

use crate::error::chain;
use crate::message::mail_recipient;
use crate::{DeliveryError, Mail, Mailer};
use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::fmt;
use std::time::Duration;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain text, credentials included: only for a relay on this machine or a test sink.
    None,
    /// Plain connect, then `STARTTLS` before anything else is said; a relay that does not offer
    /// it is an error, never a silent fallback to plain text.
    StartTls,
    /// TLS from the first byte ("implicit TLS", SMTPS).
    Tls,
}

impl SmtpSecurity {
    /// The port conventionally used with this security: 25, 587 or 465.
    pub fn default_port(self) -> u16 {
        match self {
            Self::None => 25,
            Self::StartTls => 587,
            Self::Tls => 465,
        }
    }
}

/// Where and as whom account mail is sent. `Debug` leaves the password out.
#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// Both or neither: the relay is asked to `AUTH` only when both are set.
    pub username: Option<String>,
    pub password: Option<String>,
    pub security: SmtpSecurity,
    /// The `From:` of every mail, an address or `Loopync <no-reply@loopync.example>`.
    pub from: String,
    /// Bounds one whole send: connecting, TLS, `AUTH` and the conversation up to the relay's
    /// final reply.
    pub timeout: Duration,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("security", &self.security)
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Sends each mail over a fresh SMTP connection: account mail is rare, and a fresh connection
/// never finds that the relay dropped an idle one.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    host: String,
    port: u16,
    security: SmtpSecurity,
    timeout: Duration,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Checks the configuration and prepares the transport; nothing is connected until the first
    /// send, so an unreachable relay shows up there, as `Unavailable`.
    pub fn new(config: SmtpConfig) -> Result<Self, DeliveryError> {
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|error| DeliveryError::Config(format!("SMTP from address: {error}")))?;

        // `builder_dangerous` is lettre's name for "no TLS unless asked": the TLS modes are set
        // right after, with the relay's host name as the name its certificate must carry.
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
            .port(config.port)
            .timeout(Some(config.timeout));
        match config.security {
            SmtpSecurity::None => {}
            SmtpSecurity::StartTls => builder = builder.tls(Tls::Required(tls_parameters(&config.host)?)),
            SmtpSecurity::Tls => builder = builder.tls(Tls::Wrapper(tls_parameters(&config.host)?)),
        }
        match (config.username, config.password) {
            (Some(username), Some(password)) => {
                builder = builder.credentials(Credentials::new(username, password))
            }
            (None, None) => {}
            _ => return Err(DeliveryError::Config("SMTP username and password go together".into())),
        }

        Ok(Self {
            transport: builder.build(),
            from,
            host: config.host,
            port: config.port,
            security: config.security,
            timeout: config.timeout,
        })
    }
}

fn tls_parameters(host: &str) -> Result<TlsParameters, DeliveryError> {
    TlsParameters::new(host.to_owned())
        .map_err(|error| DeliveryError::Config(format!("SMTP TLS: {}", chain(&error))))
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: Mail) -> Result<(), DeliveryError> {
        let to = mail_recipient(&mail)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text)
            // Building fails only on a missing From or To, both set above; it is still an error
            // about this message, never a panic.
            .map_err(|error| DeliveryError::rejected(format!("building the mail: {error}")))?;

        // lettre's own timeout covers only the TCP connect: a relay that accepts the connection
        // and then never answers would hold this send, and the request behind it, forever.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_accepted)) => Ok(()),
            Ok(Err(error)) => Err(smtp_error(error)),
            Err(_elapsed) => Err(DeliveryError::unavailable(format!(
                "SMTP relay did not finish within {:?}",
                self.timeout
            ))),
        }
    }
}

/// Maps a lettre error by what a retry would do (see the module header).
fn smtp_error(error: lettre::transport::smtp::Error) -> DeliveryError {
    let reason = chain(&error);
    let is_authentication_reply = error.status().is_some_and(|code| {
        // 530 authentication required, 534 mechanism too weak, 535 credentials invalid,
        // 538 encryption required for the mechanism (RFC 4954).
        matches!(code.to_string().as_str(), "530" | "534" | "535" | "538")
    });
    if error.is_permanent() && !is_authentication_reply {
        DeliveryError::Rejected { reason }
    } else {
        DeliveryError::Unavailable { reason }
    }
}
