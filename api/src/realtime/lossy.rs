//! The lossy path of a connection: the ephemeral frames other users cause (`typing_indicator`,
//! `signal`, `user_online`, `user_offline`), queued apart from the durable frames and the
//! gateway's replies.
//!
//! Those frames are worth something only now: a typing indicator from ten seconds ago, or an
//! ICE candidate of a call that has been given up, is noise. And others decide how many there
//! are, so a receiver that reads slowly must not be closed because a sender is busy (that would
//! let anyone disconnect anyone by typing at them). So the queue is bounded and, when full,
//! drops its *oldest* frame to take the new one: the receiver, once it reads again, gets the
//! latest state (the last typing state sent, the latest presence change) rather than a stale
//! backlog. Each dropped frame is counted in `loopync_ws_dropped_total{kind}`.
//!
//! The durable path keeps its own bound and its slow-consumer close (4005): a durable frame
//! cannot be dropped without the client missing state, and closing is how the client learns
//! to resume. The writer serves the durable queue first; ephemeral frames have no order
//! relative to durable ones (they have no cursor to be ordered by).

use super::frames::{RelayedSignal, TypingIndicator, UserOffline, UserOnline};
use loopync_projections::live::LiveFrame;
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use tokio::sync::Notify;

/// A bounded queue that drops its oldest frame when full.
pub(crate) struct LossyQueue {
    frames: Mutex<VecDeque<String>>,
    capacity: usize,
    /// Holds one permit when a frame arrived while the writer was not waiting, so a push
    /// between the writer's check and its wait is never missed.
    arrived: Notify,
}

impl LossyQueue {
    /// A queue of at most `capacity` frames (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            frames: Mutex::new(VecDeque::with_capacity(capacity.min(64))),
            capacity,
            arrived: Notify::new(),
        }
    }

    /// Queues `frame`, dropping the oldest queued one when full (counted by its kind).
    pub(crate) fn push(&self, frame: String) {
        let dropped = {
            let mut frames = self.frames.lock().unwrap_or_else(PoisonError::into_inner);
            let dropped = if frames.len() >= self.capacity { frames.pop_front() } else { None };
            frames.push_back(frame);
            dropped
        };
        self.arrived.notify_one();
        if let Some(dropped) = dropped {
            metrics::counter!("loopync_ws_dropped_total", "kind" => kind_of(&dropped)).increment(1);
        }
    }

    /// The oldest queued frame, waiting for one.
    pub(crate) async fn pop(&self) -> String {
        loop {
            if let Some(frame) = self.frames.lock().unwrap_or_else(PoisonError::into_inner).pop_front() {
                return frame;
            }
            self.arrived.notified().await;
        }
    }

    /// Frames queued now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.frames.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// The `type` of an ephemeral frame, as a label of bounded cardinality: the frames of other
/// nodes arrive as text from NATS, and are read only when one is dropped.
fn kind_of(frame: &str) -> &'static str {
    #[derive(Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: &'a str,
    }
    match serde_json::from_str::<Kind<'_>>(frame).map(|frame| frame.kind) {
        Ok(TypingIndicator::KIND) => TypingIndicator::KIND,
        Ok(RelayedSignal::KIND) => RelayedSignal::KIND,
        Ok(UserOnline::KIND) => UserOnline::KIND,
        Ok(UserOffline::KIND) => UserOffline::KIND,
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn frame(kind: &str, n: usize) -> String {
        format!(r#"{{"cursor":null,"data":{{"n":{n}}},"type":"{kind}"}}"#)
    }

    #[tokio::test]
    async fn a_full_queue_drops_its_oldest_frames() {
        let queue = LossyQueue::new(3);
        for n in 0..5 {
            queue.push(frame("typing_indicator", n));
        }
        assert_eq!(queue.len(), 3);
        for n in 2..5 {
            assert_eq!(queue.pop().await, frame("typing_indicator", n));
        }
    }

    #[tokio::test]
    async fn a_waiting_writer_wakes_for_the_next_frame() {
        let queue = std::sync::Arc::new(LossyQueue::new(4));
        let writer = tokio::spawn({
            let queue = queue.clone();
            async move { queue.pop().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        queue.push(frame("signal", 1));
        let popped = tokio::time::timeout(Duration::from_secs(5), writer).await;
        assert_eq!(popped.ok().and_then(Result::ok), Some(frame("signal", 1)));
    }

    #[test]
    fn dropped_frames_are_labelled_by_a_known_kind() {
        assert_eq!(kind_of(&frame("typing_indicator", 1)), "typing_indicator");
        assert_eq!(kind_of(&frame("signal", 1)), "signal");
        assert_eq!(kind_of(&frame("user_online", 1)), "user_online");
        assert_eq!(kind_of(&frame("user_offline", 1)), "user_offline");
        assert_eq!(kind_of(&frame("anything_else", 1)), "other");
        assert_eq!(kind_of("not json"), "other");
    }
}
