//! The in-memory senders other crates' tests use: `wait_for` finds a message whether it was sent
//! before or after the wait started, hands each out once, and gives up at its timeout.

use loopync_delivery::{Mail, Mailer, RecordingMailer, RecordingSmsSender, Sms, SmsSender};
use std::sync::Arc;
use std::time::Duration;

fn mail(to: &str, text: &str) -> Mail {
    Mail { to: to.into(), subject: "Your Loopync code".into(), text: text.into() }
}

#[tokio::test]
async fn wait_for_returns_a_mail_sent_after_the_wait_started() {
    let recorder = RecordingMailer::new();
    // The app holds a clone as a trait object; the test keeps the original.
    let app_mailer: Arc<dyn Mailer> = Arc::new(recorder.clone());
    let sending = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app_mailer.send(mail("someone-else@example.com", "not yours")).await?;
        app_mailer.send(mail("ada@example.com", "code 493817")).await
    });

    let received = recorder.wait_for("ada@example.com", Duration::from_secs(5)).await;

    assert_eq!(received, Some(mail("ada@example.com", "code 493817")));
    assert!(matches!(sending.await, Ok(Ok(()))));
    assert_eq!(recorder.messages().len(), 2);
}

#[tokio::test]
async fn wait_for_gives_up_at_its_timeout() {
    let recorder = RecordingMailer::new();
    recorder.send(mail("someone-else@example.com", "not yours")).await.expect("send");

    let started = tokio::time::Instant::now();
    let received = recorder.wait_for("ada@example.com", Duration::from_millis(200)).await;

    assert_eq!(received, None);
    assert!(started.elapsed() >= Duration::from_millis(200), "gave up after {:?}", started.elapsed());
}

#[tokio::test]
async fn wait_for_hands_out_each_message_once_oldest_first() {
    let recorder = RecordingMailer::new();
    for text in ["first code 111111", "second code 222222"] {
        recorder.send(mail("ada@example.com", text)).await.expect("send");
    }

    let wait = || recorder.wait_for("ada@example.com", Duration::from_millis(100));
    assert_eq!(wait().await.map(|mail| mail.text), Some("first code 111111".into()));
    assert_eq!(wait().await.map(|mail| mail.text), Some("second code 222222".into()));
    assert_eq!(wait().await, None);
    assert_eq!(recorder.messages().len(), 2, "messages() still lists what wait_for handed out");
}

#[tokio::test]
async fn sms_wait_for_returns_an_sms_sent_after_the_wait_started_and_none_on_timeout() {
    let recorder = RecordingSmsSender::new();
    let app_sender: Arc<dyn SmsSender> = Arc::new(recorder.clone());
    let sending = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app_sender.send(Sms { to: "+15551234567".into(), text: "Your code is 493817".into() }).await
    });

    let received = recorder.wait_for("+15551234567", Duration::from_secs(5)).await;

    assert_eq!(received.map(|sms| sms.text), Some("Your code is 493817".into()));
    assert!(matches!(sending.await, Ok(Ok(()))));
    assert_eq!(recorder.wait_for("+15551234567", Duration::from_millis(100)).await, None);
    assert_eq!(recorder.messages().len(), 1);
}

#[tokio::test]
async fn many_waiters_each_get_their_own_message() {
    let recorder = RecordingSmsSender::new();
    let waiters: Vec<_> = (0..8)
        .map(|n| {
            let recorder = recorder.clone();
            tokio::spawn(async move {
                recorder.wait_for(&format!("+1555000000{n}"), Duration::from_secs(5)).await
            })
        })
        .collect();

    for n in (0..8).rev() {
        let sms = Sms { to: format!("+1555000000{n}"), text: format!("code {n}") };
        recorder.send(sms).await.expect("send");
    }

    for (n, waiter) in waiters.into_iter().enumerate() {
        let received = waiter.await.expect("waiter");
        assert_eq!(received.map(|sms| sms.text), Some(format!("code {n}")));
    }
}
