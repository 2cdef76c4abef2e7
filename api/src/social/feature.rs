//! The social core's descriptor: its event types, its read model, the `feed_item` frame, and
//! the expiry of ranking snapshots.

use crate::feature::{Feature, Job, JobContext};
use crate::realtime::asyncapi::{Cursor, FrameDoc, Sender};
use chrono::DateTime;
use loopync_projections::Projection;
use loopync_projections::social::{FeedItem, SocialReadModel};
use loopync_schemas::EventTypeInfo;
use loopync_workers::social::snapshot_expiry;
use std::sync::Arc;
use uuid::Uuid;

/// Friends, follows and blocks; posts, likes, comments, bookmarks and the feed.
#[derive(Debug, Clone, Copy, Default)]
pub struct SocialFeature;

impl Feature for SocialFeature {
    fn name(&self) -> &'static str {
        "social"
    }

    fn event_types(&self) -> &'static [EventTypeInfo] {
        loopync_schemas::registry::social::EVENTS
    }

    fn projections(&self) -> Vec<Arc<dyn Projection>> {
        vec![Arc::new(SocialReadModel)]
    }

    /// Ranking snapshots older than an hour are dropped, every five minutes, by whichever
    /// process gets to them (deleting twice deletes nothing).
    fn jobs(&self, context: &JobContext) -> Vec<Job> {
        vec![Job::new(
            "social.snapshot_expiry",
            snapshot_expiry::run_snapshot_expiry(
                context.pool.clone(),
                std::time::Duration::from_secs(300),
                context.shutdown.child_token(),
            ),
        )]
    }

    fn live_frames(&self) -> Vec<FrameDoc> {
        vec![FrameDoc::new::<FeedItem>(Sender::Server(Cursor::Durable)).example(
            "friend_posted",
            "A friend posted; read it with GET /api/posts/{postId}.",
            Some(2048),
            FeedItem {
                post_id: Uuid::from_u128(0x0193_a0c5_1d2e_7f30_8a4b_5c6d_7e8f_9012),
                author_id: Uuid::from_u128(0x0193_a0c4_8b11_7e4f_a2c3_6d7e_8f90_1234),
                created_at: DateTime::from_timestamp_millis(1_796_188_463_827).unwrap_or_default(),
            },
        )]
    }
}
