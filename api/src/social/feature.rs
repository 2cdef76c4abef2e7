//! The social core's descriptor: its event types, its read model, and the `feed_item` frame.

use crate::feature::Feature;
use crate::realtime::asyncapi::{Cursor, FrameDoc, Sender};
use chrono::DateTime;
use loopync_projections::Projection;
use loopync_projections::social::{FeedItem, SocialReadModel};
use loopync_schemas::EventTypeInfo;
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
