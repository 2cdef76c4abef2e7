//! `WebhookSmsSender` against a poem server on a real socket: the JSON and the bearer header that
//! arrive, and how the gateway's answers map to `Rejected` and `Unavailable`.

use crate::smtp_sink::dead_port;
use loopync_delivery::{DeliveryError, Sms, SmsSender, WebhookSmsSender};
use loopync_testkit::{assert_never_logged, every_line};
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Request, Response, Server};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One request the test gateway received.
#[derive(Debug)]
struct Posted {
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Value,
}

/// A gateway that records every request and answers each with `status` after `delay`. Its
/// answer body echoes the request, as real gateways' error bodies do.
struct Gateway {
    url: String,
    posted: mpsc::UnboundedReceiver<Posted>,
    server: JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Gateway {
    async fn start(status: StatusCode, delay: Duration) -> Self {
        let (sender, posted) = mpsc::unbounded_channel();
        let endpoint = poem::endpoint::make(move |mut request: Request| {
            let sender = sender.clone();
            async move {
                let header = |name: &str| request.header(name).map(str::to_owned);
                let (authorization, content_type) = (header("authorization"), header("content-type"));
                let bytes = request.take_body().into_vec().await.unwrap_or_default();
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let path = request.uri().path().to_owned();
                let _ = sender.send(Posted { path, authorization, content_type, body });
                tokio::time::sleep(delay).await;
                Response::builder().status(status).body(format!("echo: {}", String::from_utf8_lossy(&bytes)))
            }
        });
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().copied())
            .expect("no local address");
        let server = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(endpoint).await;
        });
        Self { url: format!("http://{addr}/sms/send?api_key=query-secret"), posted, server }
    }

    async fn next(&mut self) -> Posted {
        match tokio::time::timeout(Duration::from_secs(5), self.posted.recv()).await {
            Ok(Some(posted)) => posted,
            Ok(None) | Err(_) => panic!("the gateway received no request"),
        }
    }
}

fn sender(url: &str, bearer_token: Option<&str>, timeout: Duration) -> WebhookSmsSender {
    WebhookSmsSender::new(url, bearer_token.map(str::to_owned), timeout).expect("webhook sender")
}

fn code_sms(code: &str) -> Sms {
    Sms { to: "+15551234567".into(), text: format!("Your Loopync code is {code}") }
}

async fn refused(sender: &WebhookSmsSender, sms: Sms) -> DeliveryError {
    match sender.send(sms).await {
        Ok(()) => panic!("the SMS was sent"),
        Err(error) => error,
    }
}

#[tokio::test]
async fn an_sms_is_posted_as_json_with_the_bearer_token() {
    every_line();
    let mut gateway = Gateway::start(StatusCode::ACCEPTED, Duration::ZERO).await;
    let sender = sender(&gateway.url, Some("gateway-token-123"), Duration::from_secs(5));

    sender.send(code_sms("493817")).await.expect("send");

    let posted = gateway.next().await;
    assert_eq!(posted.path, "/sms/send");
    assert_eq!(posted.body, json!({"to": "+15551234567", "text": "Your Loopync code is 493817"}));
    assert_eq!(posted.authorization.as_deref(), Some("Bearer gateway-token-123"));
    assert_eq!(posted.content_type.as_deref(), Some("application/json"));
    assert_never_logged("493817");
    assert_never_logged("gateway-token-123");
}

#[tokio::test]
async fn without_a_token_no_authorization_header_is_sent() {
    let mut gateway = Gateway::start(StatusCode::OK, Duration::ZERO).await;

    sender(&gateway.url, None, Duration::from_secs(5)).send(code_sms("220145")).await.expect("send");

    assert_eq!(gateway.next().await.authorization, None);
}

#[tokio::test]
async fn a_400_is_rejected_and_the_error_does_not_echo_the_answer() {
    let gateway = Gateway::start(StatusCode::BAD_REQUEST, Duration::ZERO).await;

    let error = refused(&sender(&gateway.url, None, Duration::from_secs(5)), code_sms("857310")).await;

    assert!(matches!(error, DeliveryError::Rejected { .. }), "{error:?}");
    let shown = error.to_string();
    assert!(shown.contains("400"), "{shown}");
    assert!(!shown.contains("857310") && !shown.contains("query-secret"), "{shown}");
}

#[tokio::test]
async fn a_500_is_unavailable() {
    let gateway = Gateway::start(StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO).await;

    let error = refused(&sender(&gateway.url, None, Duration::from_secs(5)), code_sms("857311")).await;

    assert!(matches!(error, DeliveryError::Unavailable { .. }), "{error:?}");
    assert!(error.to_string().contains("500"), "{error}");
}

#[tokio::test]
async fn a_429_is_unavailable_not_rejected() {
    let gateway = Gateway::start(StatusCode::TOO_MANY_REQUESTS, Duration::ZERO).await;

    let error = refused(&sender(&gateway.url, None, Duration::from_secs(5)), code_sms("857312")).await;

    assert!(matches!(error, DeliveryError::Unavailable { .. }), "{error:?}");
}

#[tokio::test]
async fn a_slow_gateway_times_out_as_unavailable() {
    let gateway = Gateway::start(StatusCode::OK, Duration::from_secs(10)).await;

    let started = tokio::time::Instant::now();
    let error = refused(&sender(&gateway.url, None, Duration::from_millis(300)), code_sms("857313")).await;

    assert!(matches!(error, DeliveryError::Unavailable { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn an_unreachable_gateway_is_unavailable_and_the_error_hides_the_url() {
    let url = format!("http://127.0.0.1:{}/sms?api_key=query-secret", dead_port().await);

    let error = refused(&sender(&url, None, Duration::from_secs(5)), code_sms("857314")).await;

    assert!(matches!(error, DeliveryError::Unavailable { .. }), "{error:?}");
    assert!(!error.to_string().contains("query-secret"), "{error}");
}

#[tokio::test]
async fn a_number_that_is_not_e164_is_rejected_before_posting() {
    let mut gateway = Gateway::start(StatusCode::OK, Duration::ZERO).await;
    let sms = Sms { to: "555-123-4567".into(), text: "Your Loopync code is 857315".into() };

    let error = refused(&sender(&gateway.url, None, Duration::from_secs(5)), sms).await;

    assert!(matches!(error, DeliveryError::Rejected { .. }), "{error:?}");
    assert!(gateway.posted.try_recv().is_err(), "the gateway was called");
}
