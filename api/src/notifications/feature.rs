//! The notifications' descriptor: the inbox's event types, the notifications read model, its
//! frames, and the push job.

use crate::feature::{Feature, Job, JobContext};
use crate::realtime::asyncapi::{Cursor, FrameDoc, Sender};
use chrono::DateTime;
use loopync_projections::Projection;
use loopync_projections::notifications::{NotificationCreated, NotificationRead, NotificationsReadModel};
use loopync_schemas::EventTypeInfo;
use loopync_workers::notifications::push;
use std::sync::Arc;
use uuid::Uuid;

/// What users are told of, and what they do with it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotificationsFeature;

impl Feature for NotificationsFeature {
    fn name(&self) -> &'static str {
        "notifications"
    }

    fn event_types(&self) -> &'static [EventTypeInfo] {
        loopync_schemas::registry::notifications::EVENTS
    }

    fn projections(&self) -> Vec<Arc<dyn Projection>> {
        vec![Arc::new(NotificationsReadModel)]
    }

    /// New notifications are pushed to their recipients' devices, every two seconds, by
    /// whichever process claims them first.
    fn jobs(&self, context: &JobContext) -> Vec<Job> {
        vec![Job::new(
            "notifications.push",
            push::run_push(
                context.pool.clone(),
                context.push.clone(),
                std::time::Duration::from_secs(2),
                context.shutdown.child_token(),
            ),
        )]
    }

    fn live_frames(&self) -> Vec<FrameDoc> {
        let notification = Uuid::from_u128(0x0193_a0c6_0a1b_7c2d_8e3f_4a5b_6c7d_8e9f);
        vec![
            FrameDoc::new::<NotificationCreated>(Sender::Server(Cursor::Durable)).example(
                "post_liked",
                "Someone liked your post.",
                Some(2049),
                NotificationCreated {
                    notification_id: notification,
                    kind: "like".to_owned(),
                    actor_id: Uuid::from_u128(0x0193_a0c4_8b11_7e4f_a2c3_6d7e_8f90_1234),
                    post_id: Some(Uuid::from_u128(0x0193_a0c5_1d2e_7f30_8a4b_5c6d_7e8f_9012)),
                    comment_id: None,
                    created_at: DateTime::from_timestamp_millis(1_796_188_463_827).unwrap_or_default(),
                },
            ),
            FrameDoc::new::<NotificationRead>(Sender::Server(Cursor::Durable)).example(
                "read_elsewhere",
                "A notification was read on another of your devices.",
                Some(2050),
                NotificationRead { notification_ids: vec![notification], all: false },
            ),
        ]
    }
}
