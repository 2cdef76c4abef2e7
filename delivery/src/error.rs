//! [`DeliveryError`]: why a message was not handed over, split by what the caller should do next.

use std::path::PathBuf;

/// A message that was not handed over to its provider (or written to the outbox).
///
/// The split is by what the caller does next: [`Rejected`](Self::Rejected) — give up on this
/// message (and maybe tell the user their address is wrong); [`Unavailable`](Self::Unavailable)
/// — try again later, the same message may well go through; [`Io`](Self::Io) and
/// [`Config`](Self::Config) — an operator has to fix the machine or the configuration.
///
/// No variant ever carries the message's subject or text: they hold one-time codes and reset
/// tokens, and errors end up in logs. Provider replies are kept (an SMTP server's `550 5.1.1 no
/// such user` is what an operator needs), a webhook's response body is not, since gateways echo
/// the request in their error bodies.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// This message can never be delivered as it is: the recipient does not parse, or the
    /// provider refused it for good (an SMTP 5xx reply, an HTTP 4xx answer).
    #[error("message rejected: {reason}")]
    Rejected { reason: String },
    /// The provider could not take the message now: it could not be reached, timed out, or
    /// answered "later" (an SMTP 4xx reply, HTTP 5xx, 408 or 429) — or it refused our
    /// credentials, which an operator fixes without the message changing.
    #[error("delivery provider unavailable: {reason}")]
    Unavailable { reason: String },
    /// The development outbox could not be written.
    #[error("outbox {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A sender could not be built from its configuration (a bad `from` address or URL, a
    /// username without a password).
    #[error("invalid delivery configuration: {0}")]
    Config(String),
}

impl DeliveryError {
    /// Whether sending the same message again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    pub(crate) fn rejected(reason: impl Into<String>) -> Self {
        Self::Rejected { reason: reason.into() }
    }

    pub(crate) fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable { reason: reason.into() }
    }
}

/// An error and all its sources on one line, `outer: inner: innermost`: the interesting part
/// of a connection failure ("Connection refused") is usually a few sources down.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Some errors repeat their source in their own message; say it once.
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}
