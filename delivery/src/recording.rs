//! In-memory senders for tests across the workspace: they keep every message, and a test waits
//! for the one its request caused.
//!
//! `wait_for` hands out each message once, oldest first: a test that signs up, reads the code,
//! asks for a new code and waits again gets the second mail, not the first one again — and it
//! does not matter whether the mail was sent before or after the test started waiting.
//!
//! Clones share their messages: give one clone to the app (`Arc::new(mailer.clone())`) and keep
//! the other in the test.

use crate::message::{check_sms_recipient, mail_recipient};
use crate::{DeliveryError, Mail, Mailer, Sms, SmsSender};
use async_trait::async_trait;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// Keeps every mail sent through it. Recipients are checked as the real mailers check them.
#[derive(Debug, Clone, Default)]
pub struct RecordingMailer {
    recorder: Arc<Recorder<Mail>>,
}

/// Keeps every SMS sent through it. Recipients must be E.164, as for the real senders.
#[derive(Debug, Clone, Default)]
pub struct RecordingSmsSender {
    recorder: Arc<Recorder<Sms>>,
}

impl RecordingMailer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every mail sent so far, in sending order, whether or not `wait_for` returned it.
    pub fn messages(&self) -> Vec<Mail> {
        self.recorder.messages()
    }

    /// The oldest mail to exactly `to` that no earlier `wait_for` returned, waiting up to
    /// `timeout` for one to be sent; `None` if none was.
    pub async fn wait_for(&self, to: &str, timeout: Duration) -> Option<Mail> {
        self.recorder.wait_for(|mail| mail.to == to, timeout).await
    }
}

impl RecordingSmsSender {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every SMS sent so far, in sending order, whether or not `wait_for` returned it.
    pub fn messages(&self) -> Vec<Sms> {
        self.recorder.messages()
    }

    /// The oldest SMS to exactly `to` that no earlier `wait_for` returned, waiting up to
    /// `timeout` for one to be sent; `None` if none was.
    pub async fn wait_for(&self, to: &str, timeout: Duration) -> Option<Sms> {
        self.recorder.wait_for(|sms| sms.to == to, timeout).await
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, mail: Mail) -> Result<(), DeliveryError> {
        mail_recipient(&mail)?;
        self.recorder.record(mail);
        Ok(())
    }
}

#[async_trait]
impl SmsSender for RecordingSmsSender {
    async fn send(&self, sms: Sms) -> Result<(), DeliveryError> {
        check_sms_recipient(&sms)?;
        self.recorder.record(sms);
        Ok(())
    }
}

/// The messages, each with whether `wait_for` already handed it out, and a `Notify` that wakes
/// every waiter when one arrives.
#[derive(Debug)]
struct Recorder<T> {
    messages: Mutex<Vec<Recorded<T>>>,
    arrived: Notify,
}

#[derive(Debug)]
struct Recorded<T> {
    message: T,
    claimed: bool,
}

impl<T> Default for Recorder<T> {
    fn default() -> Self {
        Self { messages: Mutex::new(Vec::new()), arrived: Notify::new() }
    }
}

impl<T: Clone> Recorder<T> {
    fn record(&self, message: T) {
        self.lock().push(Recorded { message, claimed: false });
        self.arrived.notify_waiters();
    }

    fn messages(&self) -> Vec<T> {
        self.lock().iter().map(|recorded| recorded.message.clone()).collect()
    }

    async fn wait_for(&self, wanted: impl Fn(&T) -> bool, timeout: Duration) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so a message recorded between the look and the wait
            // still wakes us (`notify_waiters` only wakes futures that already exist).
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();

            if let Some(message) = self.claim(&wanted) {
                return Some(message);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }

    fn claim(&self, wanted: &impl Fn(&T) -> bool) -> Option<T> {
        let mut messages = self.lock();
        let recorded = messages.iter_mut().find(|recorded| !recorded.claimed && wanted(&recorded.message))?;
        recorded.claimed = true;
        Some(recorded.message.clone())
    }

    /// A panicking test thread cannot leave the list half-changed (each change is one push or
    /// one flag), so a poisoned lock is still a good one.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Recorded<T>>> {
        self.messages.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
