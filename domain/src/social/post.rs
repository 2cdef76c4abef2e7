//! A post: the [`Post`] aggregate, one stream per post (`post-<id>`). Its text is edited only
//! by its author within [`EDIT_WINDOW_MINUTES`] of posting, every edit kept as an event; a
//! deleted post stays deleted. Likes, comments and shares are other streams' events.

use super::values::{PostText, Visibility};
use super::{EDIT_WINDOW_MINUTES, SocialError};
use crate::{Aggregate, DomainEvent};
use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Post {
    pub author: Option<Uuid>,
    pub visibility: Visibility,
    pub repost_of: Option<Uuid>,
    pub created_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    pub edits: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PostCommand {
    /// A new post (the stream must be new: post ids are drawn by the server).
    Create(NewPost),
    Edit {
        by: Uuid,
        text: PostText,
        /// Handles resolved by the service to the users they name.
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

/// What a new post holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewPost {
    pub author: Uuid,
    /// `None` only for a plain repost (no text of one's own).
    pub text: Option<PostText>,
    pub visibility: Visibility,
    pub repost_of: Option<Uuid>,
    #[serde(skip)]
    pub mentions: Vec<Uuid>,
    #[serde(skip)]
    pub at: DateTime<Utc>,
}

/// Payload of `post.created`, schema version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostCreated {
    pub author: Uuid,
    /// Empty for a plain repost.
    pub text: String,
    pub visibility: Visibility,
    /// The post this one shares (a repost, or a quote when it has text).
    pub repost_of: Option<Uuid>,
    /// Lowercased, without `#`, as found in the text.
    pub hashtags: Vec<String>,
    /// The users the text mentions, as resolved when it was posted.
    pub mentions: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Payload of `post.edited`, schema version 1: the new text (the old one is the previous
/// event's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostEdited {
    pub text: String,
    pub hashtags: Vec<String>,
    pub mentions: Vec<Uuid>,
    pub edited_at: DateTime<Utc>,
}

/// Payload of `post.deleted`, schema version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostDeleted {
    pub by: Uuid,
    pub deleted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum PostEvent {
    #[serde(rename = "post.created")]
    Created(PostCreated),
    #[serde(rename = "post.edited")]
    Edited(PostEdited),
    #[serde(rename = "post.deleted")]
    Deleted(PostDeleted),
}

impl DomainEvent for PostEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Created(_) => "post.created",
            Self::Edited(_) => "post.edited",
            Self::Deleted(_) => "post.deleted",
        }
    }

    fn schema_version(&self) -> i32 {
        1
    }
}

impl Post {
    /// Whether the post exists and is not deleted.
    pub fn is_live(&self) -> bool {
        self.author.is_some() && !self.deleted
    }
}

impl Aggregate for Post {
    const CATEGORY: &'static str = "post";
    type Command = PostCommand;
    type Event = PostEvent;
    type Error = SocialError;

    fn decide(&self, command: &PostCommand) -> Result<Vec<PostEvent>, SocialError> {
        match command {
            PostCommand::Create(new) => {
                if self.author.is_some() {
                    return Err(SocialError::PostExists);
                }
                let text = new.text.as_ref().map(PostText::as_str).unwrap_or_default();
                if text.is_empty() && new.repost_of.is_none() {
                    return Err(SocialError::Invalid(super::TextError::Empty));
                }
                Ok(vec![PostEvent::Created(PostCreated {
                    author: new.author,
                    text: text.to_owned(),
                    visibility: new.visibility,
                    repost_of: new.repost_of,
                    hashtags: super::hashtags(text),
                    mentions: without(&new.mentions, new.author),
                    created_at: new.at,
                })])
            }
            PostCommand::Edit { by, text, mentions, at } => {
                let author = self.live_author()?;
                if author != *by {
                    return Err(SocialError::NotAuthor);
                }
                let posted = self.created_at.unwrap_or(*at);
                if *at - posted > Duration::minutes(EDIT_WINDOW_MINUTES) {
                    return Err(SocialError::EditWindowClosed);
                }
                Ok(vec![PostEvent::Edited(PostEdited {
                    text: text.as_str().to_owned(),
                    hashtags: super::hashtags(text.as_str()),
                    mentions: without(mentions, author),
                    edited_at: *at,
                })])
            }
            PostCommand::Delete { by, at } => {
                if self.live_author()? != *by {
                    return Err(SocialError::NotAuthor);
                }
                Ok(vec![PostEvent::Deleted(PostDeleted { by: *by, deleted_at: *at })])
            }
        }
    }

    fn apply(&mut self, event: &PostEvent) {
        match event {
            PostEvent::Created(e) => {
                self.author = Some(e.author);
                self.visibility = e.visibility;
                self.repost_of = e.repost_of;
                self.created_at = Some(e.created_at);
            }
            PostEvent::Edited(_) => self.edits += 1,
            PostEvent::Deleted(_) => self.deleted = true,
        }
    }
}

impl Post {
    fn live_author(&self) -> Result<Uuid, SocialError> {
        self.author.filter(|_| !self.deleted).ok_or(SocialError::PostNotFound)
    }
}

/// `users` without `author` (no one is notified of mentioning themself), once each.
fn without(users: &[Uuid], author: Uuid) -> Vec<Uuid> {
    let mut kept: Vec<Uuid> = Vec::new();
    for user in users {
        if *user != author && !kept.contains(user) {
            kept.push(*user);
        }
    }
    kept
}
