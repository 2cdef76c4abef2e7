//! Push notifications to devices: [`Push`] and the [`PushSender`] trait, with the development
//! outbox ([`OutboxPushSender`]) and the in-memory recorder for tests
//! ([`RecordingPushSender`]). A provider's sender (FCM, APNs, Web Push) implements the same
//! trait.

use crate::DeliveryError;
use async_trait::async_trait;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// One notification for one device.
///
/// `Debug` shows the platform and the token's last characters only: a token is an address
/// anyone could push to.
#[derive(Clone, PartialEq, Eq)]
pub struct Push {
    /// The push service's token of the device.
    pub token: String,
    /// `ios`, `android` or `web`.
    pub platform: String,
    pub title: String,
    pub body: String,
    /// What the app opens: the notification's id.
    pub notification_id: uuid::Uuid,
}

impl Push {
    /// The token's last six characters, for logs.
    pub fn token_tail(&self) -> &str {
        let start = self.token.char_indices().rev().nth(5).map_or(0, |(i, _)| i);
        &self.token[start..]
    }
}

impl fmt::Debug for Push {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Push")
            .field("platform", &self.platform)
            .field("token", &format_args!("…{}", self.token_tail()))
            .field("notification_id", &self.notification_id)
            .finish_non_exhaustive()
    }
}

/// Sends push notifications. `Ok` means the provider (or the outbox) took it, not that the
/// device showed it.
#[async_trait]
pub trait PushSender: Send + Sync + 'static {
    async fn send(&self, push: Push) -> Result<(), DeliveryError>;
}

/// Writes each push to `<dir>/<time>-push-<id>.txt`: `To:` (platform and the token's end),
/// `Title:`, a blank line, the body.
#[derive(Debug, Clone)]
pub struct OutboxPushSender {
    dir: PathBuf,
}

impl OutboxPushSender {
    /// The directory is created on the first send.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

#[async_trait]
impl PushSender for OutboxPushSender {
    async fn send(&self, push: Push) -> Result<(), DeliveryError> {
        let contents = format!(
            "To: {} …{}\nTitle: {}\nNotification: {}\n\n{}\n",
            push.platform,
            push.token_tail(),
            push.title,
            push.notification_id,
            push.body
        );
        let path = crate::outbox::write_message(&self.dir, "push", &contents).await?;
        tracing::info!(platform = %push.platform, path = %path.display(), "push written to the outbox");
        Ok(())
    }
}

/// Keeps every push sent through it; clones share them.
#[derive(Debug, Clone, Default)]
pub struct RecordingPushSender {
    sent: Arc<Mutex<Vec<Push>>>,
}

impl RecordingPushSender {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every push sent so far, in sending order.
    pub fn messages(&self) -> Vec<Push> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[async_trait]
impl PushSender for RecordingPushSender {
    async fn send(&self, push: Push) -> Result<(), DeliveryError> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).push(push);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_shows_only_the_end_of_its_token() {
        let push = Push {
            token: "secret-device-token-123456".to_owned(),
            platform: "ios".to_owned(),
            title: "Loopync".to_owned(),
            body: "Ada liked your post".to_owned(),
            notification_id: uuid::Uuid::nil(),
        };
        assert_eq!(push.token_tail(), "123456");
        assert!(!format!("{push:?}").contains("secret"));
    }

    #[tokio::test]
    async fn the_outbox_writes_one_file_per_push() {
        let dir = std::env::temp_dir().join(format!("loopync-push-{}", uuid::Uuid::now_v7()));
        let sender = OutboxPushSender::new(&dir);
        let push = Push {
            token: "tok-abcdef".to_owned(),
            platform: "android".to_owned(),
            title: "Loopync".to_owned(),
            body: "Ada liked your post".to_owned(),
            notification_id: uuid::Uuid::nil(),
        };
        sender.send(push).await.unwrap_or_else(|e| panic!("{e}"));
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")).collect();
        assert_eq!(files.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
