//! Payment providers: where top-up money comes from.
//!
//! A [`PaymentProvider`] starts a charge for a top-up and, when it settles later, tells us by
//! webhook. Two are built in:
//!
//! - [`DevProvider`] (`dev`): confirms every top-up at once; for development and tests.
//! - [`WebhookProvider`] (`webhook`): the top-up stays pending until the provider calls
//!   `POST /api/looppay/webhooks/webhook` with a signed confirmation.
//!
//! **Webhook signatures.** The provider signs each delivery with the shared secret:
//! `Loopync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. A
//! delivery is accepted only when the HMAC matches (compared in constant time) and `t` is within
//! [`SIGNATURE_TOLERANCE_SECONDS`] of our clock; the same signature presented twice is
//! refused (see the receipts in the service), and the confirmation itself is applied once by
//! the wallet whatever the provider retries.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use uuid::Uuid;

/// How far a webhook's timestamp may be from our clock, either way.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// The header carrying a webhook's signature.
pub const SIGNATURE_HEADER: &str = "Loopync-Signature";

/// How a provider answered a new top-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeStarted {
    /// Settled already: credit the wallet now.
    Confirmed,
    /// Confirmation will come by webhook; the client may be sent to `checkout_url` to pay.
    Pending { checkout_url: Option<String> },
}

/// A signed delivery, verified: what the provider says happened to a top-up.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookNotice {
    /// The provider's id of this notice.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: NoticeKind,
    pub top_up_id: Uuid,
    /// The wallet the top-up was started for (we hand it to the provider with the charge).
    pub account: Uuid,
    pub amount: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum NoticeKind {
    #[serde(rename = "top_up.succeeded")]
    Succeeded,
    #[serde(rename = "top_up.failed")]
    Failed,
}

/// Why a webhook delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {SIGNATURE_HEADER} header is missing or malformed")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signature's timestamp is more than {SIGNATURE_TOLERANCE_SECONDS} s from now")]
    Stale,
    #[error("this provider does not send webhooks")]
    NoWebhooks,
}

/// A source of top-up money.
pub trait PaymentProvider: Send + Sync + 'static {
    /// The name in `POST /api/looppay/webhooks/{provider}`.
    fn name(&self) -> &'static str;

    /// Whether a charge settles at once (no webhook will follow).
    fn confirms_at_once(&self) -> bool;

    /// Starts charging the user for a top-up the ledger has recorded. Called again with the
    /// same id when a client retries: providers deduplicate charges by it.
    fn start(&self, top_up_id: Uuid, account: Uuid, amount: i64) -> ChargeStarted;

    /// Checks a webhook delivery's signature header against its raw body at `now`.
    fn verify(&self, signature: Option<&str>, body: &[u8], now: DateTime<Utc>) -> Result<(), SignatureError>;
}

/// Confirms every top-up at once. Never use it where real money is involved.
#[derive(Debug, Default, Clone, Copy)]
pub struct DevProvider;

impl PaymentProvider for DevProvider {
    fn name(&self) -> &'static str {
        "dev"
    }

    fn confirms_at_once(&self) -> bool {
        true
    }

    fn start(&self, _top_up_id: Uuid, _account: Uuid, _amount: i64) -> ChargeStarted {
        ChargeStarted::Confirmed
    }

    fn verify(
        &self,
        _signature: Option<&str>,
        _body: &[u8],
        _now: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        Err(SignatureError::NoWebhooks)
    }
}

/// A provider that confirms by signed webhook.
#[derive(Clone)]
pub struct WebhookProvider {
    secret: Vec<u8>,
    /// Where to send the user to pay; `{topUpId}` is replaced by the top-up's id.
    checkout_url: Option<String>,
}

impl std::fmt::Debug for WebhookProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookProvider").field("checkout_url", &self.checkout_url).finish_non_exhaustive()
    }
}

impl WebhookProvider {
    pub fn new(secret: impl Into<Vec<u8>>, checkout_url: Option<String>) -> Self {
        Self { secret: secret.into(), checkout_url }
    }

    /// The signature header a provider holding `secret` sends for `body` at `timestamp`.
    pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
        format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body)))
    }
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// `t=<unix>,v1=<hex>` → (t, signature bytes).
fn parse_signature(header: &str) -> Option<(i64, Vec<u8>)> {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.trim().split_once('=')? {
            ("t", value) => timestamp = value.parse::<i64>().ok(),
            ("v1", value) => signature = hex::decode(value).ok(),
            _ => {}
        }
    }
    Some((timestamp?, signature?))
}

impl PaymentProvider for WebhookProvider {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn confirms_at_once(&self) -> bool {
        false
    }

    fn start(&self, top_up_id: Uuid, _account: Uuid, _amount: i64) -> ChargeStarted {
        ChargeStarted::Pending {
            checkout_url: self
                .checkout_url
                .as_ref()
                .map(|url| url.replace("{topUpId}", &top_up_id.to_string())),
        }
    }

    fn verify(&self, header: Option<&str>, body: &[u8], now: DateTime<Utc>) -> Result<(), SignatureError> {
        let (timestamp, signature) = header.and_then(parse_signature).ok_or(SignatureError::Malformed)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).map_err(|_| SignatureError::Mismatch)?;
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // verify_slice compares in constant time.
        mac.verify_slice(&signature).map_err(|_| SignatureError::Mismatch)?;
        if (now.timestamp() - timestamp).abs() > SIGNATURE_TOLERANCE_SECONDS {
            return Err(SignatureError::Stale);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_body_secret_and_time() {
        let provider = WebhookProvider::new("s3cret", None);
        let now = Utc::now();
        let body = br#"{"id":"evt_1"}"#;
        let header = WebhookProvider::sign(b"s3cret", now.timestamp(), body);
        assert_eq!(provider.verify(Some(&header), body, now), Ok(()));
        assert_eq!(provider.verify(Some(&header), br#"{"id":"evt_2"}"#, now), Err(SignatureError::Mismatch));
        let forged = WebhookProvider::sign(b"guess", now.timestamp(), body);
        assert_eq!(provider.verify(Some(&forged), body, now), Err(SignatureError::Mismatch));
        let old = WebhookProvider::sign(b"s3cret", now.timestamp() - 301, body);
        assert_eq!(provider.verify(Some(&old), body, now), Err(SignatureError::Stale));
        for malformed in [None, Some(""), Some("t=1"), Some("v1=00"), Some("t=x,v1=00"), Some("t=1,v1=zz")] {
            assert_eq!(
                provider.verify(malformed, body, now),
                Err(SignatureError::Malformed),
                "{malformed:?}"
            );
        }
    }
}
