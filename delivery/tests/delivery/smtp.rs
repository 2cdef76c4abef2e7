//! `SmtpMailer` against the test SMTP sink: what arrives, and which failures are `Rejected`
//! (this message, for good) and which `Unavailable` (try again later).

use crate::smtp_sink::{Script, SmtpSink, dead_port, silent_server};
use loopync_delivery::{DeliveryError, Mail, Mailer, SmtpConfig, SmtpMailer, SmtpSecurity};
use loopync_testkit::{assert_never_logged, every_line};
use std::time::Duration;

fn config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        username: None,
        password: None,
        security: SmtpSecurity::None,
        from: "Loopync <no-reply@loopync.example>".into(),
        timeout: Duration::from_secs(5),
    }
}

fn mailer(config: SmtpConfig) -> SmtpMailer {
    SmtpMailer::new(config).expect("smtp mailer")
}

fn code_mail(to: &str, code: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: "Your Loopync code".into(),
        text: format!("Hi Ada,\n\nyour sign-in code is {code}.\nIt expires in 10 minutes."),
    }
}

/// Sends one mail and returns the error, failing the test if it went through.
async fn refused(mailer: &SmtpMailer, mail: Mail) -> DeliveryError {
    match mailer.send(mail).await {
        Ok(()) => panic!("the mail was sent"),
        Err(error) => error,
    }
}

#[tokio::test]
async fn a_mail_arrives_with_its_recipient_subject_and_text() {
    every_line();
    let mut sink = SmtpSink::start(Script::default()).await;
    let mail = code_mail("Ada Lovelace <ada@example.com>", "702915");

    mailer(config(sink.port())).send(mail.clone()).await.expect("send");

    let received = sink.next().await;
    assert_eq!(received.mail_from, "no-reply@loopync.example");
    assert_eq!(received.rcpt_to, ["ada@example.com"]);
    assert_eq!(received.header("To").as_deref(), Some("\"Ada Lovelace\" <ada@example.com>"));
    assert_eq!(received.header("From").as_deref(), Some("Loopync <no-reply@loopync.example>"));
    assert_eq!(received.header("Subject").as_deref(), Some("Your Loopync code"));
    assert!(received.header("Content-Type").is_some_and(|value| value.starts_with("text/plain")));
    assert_eq!(received.text(), mail.text);
    assert_never_logged("702915");
}

#[tokio::test]
async fn non_ascii_text_arrives_encoded_for_relays_without_8bitmime() {
    let mut sink = SmtpSink::start(Script::default()).await;
    let mail = Mail {
        to: "jurgen@example.com".into(),
        subject: "Dein Code".into(),
        text: "Hallo Jürgen, dein Code für Loopync ist 318264. Schöne Grüße!".into(),
    };

    mailer(config(sink.port())).send(mail.clone()).await.expect("send");

    let received = sink.next().await;
    assert!(received.data.is_ascii(), "the relay offered no 8BITMIME: {}", received.data);
    assert_eq!(received.text(), mail.text);
}

#[tokio::test]
async fn a_subject_with_line_breaks_cannot_add_headers_or_recipients() {
    let mut sink = SmtpSink::start(Script::default()).await;
    // Subjects may quote a user's display name, which the user chose.
    let mail = Mail {
        to: "ada@example.com".into(),
        subject: "Mallory invited you\r\nBcc: eve@example.com".into(),
        text: "Join Mallory on Loopync.".into(),
    };

    mailer(config(sink.port())).send(mail).await.expect("send");

    let received = sink.next().await;
    assert_eq!(received.rcpt_to, ["ada@example.com"]);
    assert_eq!(received.header("Bcc"), None, "{}", received.data);
}

#[tokio::test]
async fn credentials_are_sent_with_auth_plain() {
    let script = Script { credentials: Some(("loopync", "s3cret-pass")), ..Script::default() };
    let mut sink = SmtpSink::start(script).await;
    let config = SmtpConfig {
        username: Some("loopync".into()),
        password: Some("s3cret-pass".into()),
        ..config(sink.port())
    };

    mailer(config).send(code_mail("ada@example.com", "550231")).await.expect("send");

    // The sink answers MAIL with 530 until AUTH succeeded, so a mail means we authenticated.
    assert_eq!(sink.next().await.rcpt_to, ["ada@example.com"]);
}

#[tokio::test]
async fn wrong_credentials_are_unavailable_not_rejected() {
    let script = Script { credentials: Some(("loopync", "s3cret-pass")), ..Script::default() };
    let mut sink = SmtpSink::start(script).await;
    let config = SmtpConfig {
        username: Some("loopync".into()),
        password: Some("wrong".into()),
        ..config(sink.port())
    };

    let error = refused(&mailer(config), code_mail("ada@example.com", "550232")).await;

    // Our credentials are wrong, not the mail: once an operator fixes them, it goes through.
    assert!(matches!(error, DeliveryError::Unavailable { .. }), "{error:?}");
    assert!(error.to_string().contains("535"), "{error}");
    sink.assert_nothing_received();
}

#[tokio::test]
async fn a_550_to_the_recipient_is_rejected() {
    let script = Script { rcpt_reply: Some("550 5.1.1 no such user here"), ..Script::default() };
    let mut sink = SmtpSink::start(script).await;

    let error = refused(&mailer(config(sink.port())), code_mail("nobody@example.com", "481127")).await;

    assert!(matches!(error, DeliveryError::Rejected { .. }), "{error:?}");
    assert!(!error.is_transient());
    let shown = error.to_string();
    assert!(shown.contains("550") && shown.contains("no such user"), "{shown}");
    assert!(!shown.contains("481127") && !shown.contains("Your Loopync code"), "{shown}");
    sink.assert_nothing_received();
}

#[tokio::test]
async fn a_451_to_the_recipient_is_unavailable() {
    let script = Script { rcpt_reply: Some("451 4.7.1 greylisted, try again later"), ..Script::default() };
    let sink = SmtpSink::start(script).await;

    let error = refused(&mailer(config(sink.port())), code_mail("ada@example.com", "481128")).await;

    assert!(matches!(error, DeliveryError::Unavailable { .. }), "{error:?}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn an_unreachable_relay_is_unavailable() {
    let port = dead_port().await;

    let error = refused(&mailer(config(port)), code_mail("ada@example.com", "390411")).await;

    assert!(matches!(error, DeliveryError::Unavailable { .. }), "{error:?}");
    assert!(!error.to_string().contains("390411"), "{error}");
}

#[tokio::test]
async fn a_relay_that_never_greets_times_out_as_unavailable() {
    let (port, server) = silent_server().await;
    let config = SmtpConfig { timeout: Duration::from_millis(300), ..config(port) };

    let started = tokio::time::Instant::now();
    let error = refused(&mailer(config), code_mail("ada@example.com", "390412")).await;

    assert!(matches!(error, DeliveryError::Unavailable { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    server.abort();
}

#[tokio::test]
async fn a_relay_without_starttls_is_never_sent_plain_text_when_starttls_is_configured() {
    let mut sink = SmtpSink::start(Script::default()).await;
    let config = SmtpConfig { security: SmtpSecurity::StartTls, ..config(sink.port()) };

    let error = refused(&mailer(config), code_mail("ada@example.com", "612094")).await;

    assert!(matches!(error, DeliveryError::Unavailable { .. }), "{error:?}");
    assert!(error.to_string().contains("STARTTLS"), "{error}");
    sink.assert_nothing_received();
}

#[tokio::test]
async fn an_unparseable_recipient_is_rejected_without_connecting() {
    // Nothing listens there: reaching the network would make it `Unavailable`.
    let port = dead_port().await;

    let error = refused(&mailer(config(port)), code_mail("ada at example dot com", "771203")).await;

    assert!(matches!(error, DeliveryError::Rejected { .. }), "{error:?}");
}
