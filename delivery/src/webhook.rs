//! [`WebhookSmsSender`]: each SMS is one JSON POST, `{"to": "+15551234567", "text": "..."}`, to an
//! SMS gateway (or a small adapter in front of one).
//!
//! A 2xx answer means the gateway took the message. 4xx is `Rejected` — except 408 and 429,
//! which say "later" — and 5xx, timeouts and connection failures are `Unavailable`. Redirects
//! are not followed: a webhook that moved is a configuration to fix, and following it would
//! post the message (and the token) somewhere nobody configured.

use crate::error::chain;
use crate::message::check_sms_recipient;
use crate::{DeliveryError, Sms, SmsSender};
use async_trait::async_trait;
use reqwest::{StatusCode, Url};
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// Posts each SMS to a configured URL, with `Authorization: Bearer <token>` when a token is set.
/// `Debug` leaves the token out, and the URL's query and password too.
#[derive(Clone)]
pub struct WebhookSmsSender {
    client: reqwest::Client,
    url: Url,
    bearer_token: Option<String>,
    timeout: Duration,
}

impl fmt::Debug for WebhookSmsSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSmsSender")
            .field("url", &redacted_url(self.url.as_str()))
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The request body.
#[derive(Serialize)]
struct WebhookMessage<'a> {
    to: &'a str,
    text: &'a str,
}

impl WebhookSmsSender {
    /// `url` must be `http` or `https`; `timeout` bounds each whole request, connecting included.
    pub fn new(url: &str, bearer_token: Option<String>, timeout: Duration) -> Result<Self, DeliveryError> {
        let url =
            Url::parse(url).map_err(|error| DeliveryError::Config(format!("SMS webhook URL: {error}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(DeliveryError::Config(format!(
                "SMS webhook URL: scheme `{}` is not http or https",
                url.scheme()
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| DeliveryError::Config(format!("SMS webhook client: {}", chain(&error))))?;
        Ok(Self { client, url, bearer_token, timeout })
    }
}

#[async_trait]
impl SmsSender for WebhookSmsSender {
    async fn send(&self, sms: Sms) -> Result<(), DeliveryError> {
        check_sms_recipient(&sms)?;
        let mut request =
            self.client.post(self.url.clone()).json(&WebhookMessage { to: &sms.to, text: &sms.text });
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token);
        }

        let response = request.send().await.map_err(|error| self.request_error(error))?;
        let status = response.status();
        // The body is not read into errors: gateways echo the request, code included, in their
        // error bodies.
        if status.is_success() {
            Ok(())
        } else if status.is_client_error()
            && status != StatusCode::REQUEST_TIMEOUT
            && status != StatusCode::TOO_MANY_REQUESTS
        {
            Err(DeliveryError::rejected(format!("SMS webhook answered {status}")))
        } else {
            Err(DeliveryError::unavailable(format!("SMS webhook answered {status}")))
        }
    }
}

impl WebhookSmsSender {
    fn request_error(&self, error: reqwest::Error) -> DeliveryError {
        if error.is_timeout() {
            return DeliveryError::unavailable(format!("SMS webhook timed out after {:?}", self.timeout));
        }
        // Without the URL: some gateways take their API key in the query string.
        DeliveryError::unavailable(format!("SMS webhook: {}", chain(&error.without_url())))
    }
}

/// The URL without its password and query, for `Debug` output: some gateways take their API key
/// in the query string. A URL that does not parse is hidden whole.
pub(crate) fn redacted_url(url: &str) -> String {
    let Ok(mut url) = Url::parse(url) else {
        return "<unparseable URL>".to_owned();
    };
    if url.password().is_some() {
        // Only fails for URLs that cannot carry a password, which this one does.
        let _ = url.set_password(Some("redacted"));
    }
    if url.query().is_some() {
        url.set_query(Some("redacted"));
    }
    url.to_string()
}
