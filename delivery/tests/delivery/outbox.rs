//! The development outbox: one file per message, holding the text a developer needs, while the
//! log line names only the recipient and the file.

use loopync_delivery::{DeliveryError, Mail, Mailer, OutboxMailer, OutboxSmsSender, Sms, SmsSender};
use loopync_testkit::{assert_never_logged, every_line};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// A fresh directory path under the system's temporary directory, removed on drop. Not created:
/// the outbox must create it.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("loopync-delivery-{}", Uuid::now_v7())))
    }

    fn outbox(&self) -> PathBuf {
        self.0.join("outbox")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The files in `dir`, sorted by name.
fn files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries.map(|entry| entry.expect("entry").path()).collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
}

#[tokio::test]
async fn a_mail_becomes_one_file_in_a_created_directory() {
    let temp = TempDir::new();
    let mail = Mail {
        to: "ada@example.com".into(),
        subject: "Reset your password".into(),
        text: "Open https://loopync.example/reset?token=rst-4f9a2c to choose a new password.".into(),
    };

    OutboxMailer::new(temp.outbox()).send(mail).await.expect("send");

    let files = files(&temp.outbox());
    assert_eq!(files.len(), 1, "{files:?}");
    let name = file_name(&files[0]);
    assert!(name.contains("-mail-") && name.ends_with(".txt"), "{name}");
    assert_eq!(
        read(&files[0]),
        "To: ada@example.com\nSubject: Reset your password\n\n\
         Open https://loopync.example/reset?token=rst-4f9a2c to choose a new password.\n"
    );
}

#[tokio::test]
async fn an_sms_becomes_one_file_in_a_created_directory() {
    let temp = TempDir::new();
    let sms = Sms { to: "+15551234567".into(), text: "Your Loopync code is 264019".into() };

    OutboxSmsSender::new(temp.outbox()).send(sms).await.expect("send");

    let files = files(&temp.outbox());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(file_name(&files[0]).contains("-sms-"), "{files:?}");
    assert_eq!(read(&files[0]), "To: +15551234567\n\nYour Loopync code is 264019\n");
}

#[tokio::test]
async fn the_log_names_the_recipient_and_the_file_but_never_the_code() {
    let logs = every_line();
    let temp = TempDir::new();
    let mail = Mail {
        to: "grace@example.com".into(),
        subject: "Your code is 493817".into(),
        text: "Your Loopync sign-in code is 493817.".into(),
    };
    let sms = Sms { to: "+15550001111".into(), text: "Your Loopync code is 493817".into() };

    OutboxMailer::new(temp.outbox()).send(mail).await.expect("send mail");
    OutboxSmsSender::new(temp.outbox()).send(sms).await.expect("send sms");

    let text = logs.text();
    for file in files(&temp.outbox()) {
        assert!(read(&file).contains("493817"), "the developer needs the code");
        let path = file.display().to_string();
        let line = text
            .lines()
            .find(|line| line.contains(&path))
            .unwrap_or_else(|| panic!("no log line for {path}"));
        let recipient = if path.contains("-mail-") { "grace@example.com" } else { "+15550001111" };
        assert!(line.contains("INFO") && line.contains(recipient), "{line}");
    }
    assert_never_logged("493817");
}

#[tokio::test]
async fn files_sort_in_sending_order_and_none_is_left_half_written() {
    let temp = TempDir::new();
    let outbox = OutboxSmsSender::new(temp.outbox());

    for n in 0..5 {
        let sms = Sms { to: "+15551234567".into(), text: format!("message {n}") };
        outbox.send(sms).await.expect("send");
    }

    let texts: Vec<String> = files(&temp.outbox()).iter().map(|file| read(file)).collect();
    let expected: Vec<String> = (0..5).map(|n| format!("To: +15551234567\n\nmessage {n}\n")).collect();
    assert_eq!(texts, expected, "temporary files left behind, or out of order");
}

#[tokio::test]
async fn an_outbox_that_cannot_be_created_is_an_io_error() {
    let temp = TempDir::new();
    std::fs::create_dir_all(&temp.0).expect("create");
    let blocker = temp.0.join("a-file");
    std::fs::write(&blocker, "not a directory").expect("write");
    let mail = Mail { to: "ada@example.com".into(), subject: "Hi".into(), text: "code 118822".into() };

    let result = OutboxMailer::new(blocker.join("outbox")).send(mail).await;

    assert!(matches!(&result, Err(DeliveryError::Io { .. })), "{result:?}");
}

#[tokio::test]
async fn bad_recipients_are_rejected_as_in_production() {
    let temp = TempDir::new();
    let mail = Mail { to: "not an address".into(), subject: "Hi".into(), text: "Hello".into() };
    let sms = Sms { to: "5551234567".into(), text: "Hello".into() };

    let mail_result = OutboxMailer::new(temp.outbox()).send(mail).await;
    let sms_result = OutboxSmsSender::new(temp.outbox()).send(sms).await;

    assert!(matches!(mail_result, Err(DeliveryError::Rejected { .. })), "{mail_result:?}");
    assert!(matches!(sms_result, Err(DeliveryError::Rejected { .. })), "{sms_result:?}");
    assert!(!temp.outbox().exists(), "nothing may be written for a rejected message");
}
