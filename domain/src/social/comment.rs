//! A comment on a post: the [`Comment`] aggregate, one stream per comment (`comment-<id>`),
//! so a busy thread has no hot stream. Deleted by its author or by the post's author, once.

use super::SocialError;
use super::values::CommentText;
use crate::{Aggregate, DomainEvent};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub post: Option<Uuid>,
    pub author: Option<Uuid>,
    pub post_author: Option<Uuid>,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CommentCommand {
    Add {
        post: Uuid,
        author: Uuid,
        text: CommentText,
        reply_to: Option<Uuid>,
        /// The post's author and the replied-to comment's author, as the service found them.
        #[serde(skip)]
        post_author: Uuid,
        #[serde(skip)]
        reply_to_author: Option<Uuid>,
        #[serde(skip)]
        mentions: Vec<Uuid>,
        #[serde(skip)]
        at: DateTime<Utc>,
    },
    Delete {
        by: Uuid,
        #[serde(skip)]
        at: DateTime<Utc>,
    },
}

/// Payload of `comment.added`, schema version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommentAdded {
    pub post: Uuid,
    pub author: Uuid,
    pub post_author: Uuid,
    pub text: String,
    /// The comment this one answers, and its author.
    pub reply_to: Option<Uuid>,
    pub reply_to_author: Option<Uuid>,
    pub mentions: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Payload of `comment.deleted`, schema version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommentDeleted {
    pub post: Uuid,
    pub by: Uuid,
    pub deleted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CommentEvent {
    #[serde(rename = "comment.added")]
    Added(CommentAdded),
    #[serde(rename = "comment.deleted")]
    Deleted(CommentDeleted),
}

impl DomainEvent for CommentEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Added(_) => "comment.added",
            Self::Deleted(_) => "comment.deleted",
        }
    }

    fn schema_version(&self) -> i32 {
        1
    }
}

impl Aggregate for Comment {
    const CATEGORY: &'static str = "comment";
    type Command = CommentCommand;
    type Event = CommentEvent;
    type Error = SocialError;

    fn decide(&self, command: &CommentCommand) -> Result<Vec<CommentEvent>, SocialError> {
        match command {
            CommentCommand::Add {
                post,
                author,
                text,
                reply_to,
                post_author,
                reply_to_author,
                mentions,
                at,
            } => {
                if self.author.is_some() {
                    return Ok(vec![]);
                }
                let mut mentioned: Vec<Uuid> = Vec::new();
                for user in mentions {
                    if user != author && !mentioned.contains(user) {
                        mentioned.push(*user);
                    }
                }
                Ok(vec![CommentEvent::Added(CommentAdded {
                    post: *post,
                    author: *author,
                    post_author: *post_author,
                    text: text.as_str().to_owned(),
                    reply_to: *reply_to,
                    reply_to_author: *reply_to_author,
                    mentions: mentioned,
                    created_at: *at,
                })])
            }
            CommentCommand::Delete { by, at } => {
                let (Some(post), Some(author), false) = (self.post, self.author, self.deleted) else {
                    return Err(SocialError::CommentNotFound);
                };
                if *by != author && Some(*by) != self.post_author {
                    return Err(SocialError::NotAuthor);
                }
                Ok(vec![CommentEvent::Deleted(CommentDeleted { post, by: *by, deleted_at: *at })])
            }
        }
    }

    fn apply(&mut self, event: &CommentEvent) {
        match event {
            CommentEvent::Added(e) => {
                self.post = Some(e.post);
                self.author = Some(e.author);
                self.post_author = Some(e.post_author);
            }
            CommentEvent::Deleted(_) => self.deleted = true,
        }
    }
}
