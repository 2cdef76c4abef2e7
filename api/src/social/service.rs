//! [`Social`]: the social use cases. Each checks what the read models know (the other user
//! exists and has not blocked the caller; the post exists, is not deleted and may be seen),
//! then decides on the command's own small stream (`loopync_domain::social`). What only the
//! stream can guarantee — a like counted once, a comment deleted once, a block ending a
//! friendship in the same event — the decision guarantees, whatever the read models say.

use super::errors::{SocialApiError, social_codes};
use crate::auth::Caller;
use loopync_commands::{CommandContext, CommandOutcome, CommandPipeline};
use loopync_domain::identity::account::{Account, Privacy};
use loopync_domain::social::{
    Comment, CommentCommand, CommentEvent, CommentText, Mark, MarkCommand, NewPost, Post, PostCommand,
    PostEvent, PostText, Relation, Relationship, RelationshipAction, RelationshipCommand, RelationshipEvent,
    Visibility, mentioned_handles, pair_id, reaction_id,
};
use loopync_domain::{Aggregate, StreamName};
use loopync_projections::identity::profiles;
use loopync_projections::social::graph;
use loopync_schemas::Position;
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

/// The social use cases.
pub struct Social {
    pipeline: Arc<CommandPipeline>,
    pool: PgPool,
}

/// A post a caller may see: who wrote it and who may see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisiblePost {
    pub author: Uuid,
    pub visibility: Visibility,
}

/// A new post as the client asked for it.
#[derive(Debug, Clone)]
pub struct PostInput {
    pub text: Option<String>,
    pub media_ids: Option<Vec<String>>,
    pub visibility: Visibility,
    pub repost_of: Option<Uuid>,
}

/// A post just created or edited: its id and its events.
#[derive(Debug)]
pub struct PostChanged {
    pub post_id: Uuid,
    pub events: Vec<PostEvent>,
    pub position: Option<Position>,
}

/// A comment just added.
#[derive(Debug)]
pub struct CommentAddedOutcome {
    pub comment_id: Uuid,
    pub events: Vec<CommentEvent>,
    pub position: Option<Position>,
}

impl Social {
    pub fn new(pipeline: Arc<CommandPipeline>, pool: PgPool) -> Self {
        Self { pipeline, pool }
    }

    /// What `user` is to `viewer`, refusing a user who does not exist or who blocked the
    /// viewer (both 404: a block is not announced to the blocked). Also returns the user's
    /// privacy setting.
    pub async fn visible_user(
        &self,
        viewer: Uuid,
        user: Uuid,
    ) -> Result<(Relation, Visibility), SocialApiError> {
        let privacy = profiles::privacy(&self.pool, user).await?.ok_or(SocialApiError::UserNotFound)?;
        let relation = graph::relation(&self.pool, viewer, user).await?;
        if relation.blocked_by && !relation.is_self {
            return Err(SocialApiError::UserNotFound);
        }
        Ok((relation, Visibility::parse(&privacy).unwrap_or(Visibility::Private)))
    }

    /// A relationship command of the caller's about `other`.
    pub async fn relate(
        &self,
        caller: &Caller,
        other: Uuid,
        action: RelationshipAction,
        context: CommandContext,
    ) -> Result<CommandOutcome<Vec<RelationshipEvent>>, SocialApiError> {
        use RelationshipAction as A;
        let actor = caller.user_id;
        if other == actor {
            return Err(loopync_domain::social::SocialError::SelfTarget.into());
        }
        // The account itself, not the profiles read model: someone who signed up a moment ago
        // exists, and their privacy setting is the current one.
        let account = self.pipeline.load_latest::<Account>(StreamName::of::<Account>(other)).await?;
        if !account.state.registered {
            return Err(SocialApiError::UserNotFound);
        }
        let relation = graph::relation(&self.pool, actor, other).await?;
        // Reaching out to someone who blocked you finds nobody there; ending things (cancel,
        // unfollow, unblock, a block of one's own) is always possible.
        if relation.blocked_by && matches!(action, A::RequestFriendship | A::AcceptRequest | A::Follow) {
            return Err(SocialApiError::UserNotFound);
        }
        let public = account.state.settings.privacy == Privacy::Public;
        if action == A::Follow && !public && !relation.friends && !relation.following {
            return Err(SocialApiError::NotFollowable);
        }
        let command = RelationshipCommand { actor, other, action, at: chrono::Utc::now() };
        Ok(self
            .pipeline
            .execute::<Relationship>(pair_id(actor, other), command, &as_actor(context, actor))
            .await?)
    }

    /// The author and visibility of a post the caller may see; 404 for one they may not, or
    /// that does not exist or is deleted. The post's own stream says whether it exists (a
    /// post made a moment ago, on any node, is there): its cached state when that has it
    /// live — a hot post costs no read — and the stream caught up otherwise. Whether the
    /// caller may see it is the social read model's relation.
    pub async fn visible_post(&self, viewer: Uuid, post_id: Uuid) -> Result<VisiblePost, SocialApiError> {
        let stream = StreamName::of::<Post>(post_id);
        let mut post = self.pipeline.load::<Post>(stream.clone()).await?;
        if !post.state.is_live() {
            post = self.pipeline.load_latest::<Post>(stream).await?;
        }
        let Some(author) = post.state.author.filter(|_| post.state.is_live()) else {
            return Err(SocialApiError::PostNotFound);
        };
        if !graph::may_see(&self.pool, viewer, author, post.state.visibility).await? {
            return Err(SocialApiError::PostNotFound);
        }
        Ok(VisiblePost { author, visibility: post.state.visibility })
    }

    /// The users `text` mentions, as the profiles read model knows their handles, in the order
    /// they are mentioned.
    async fn mentions(&self, text: &str) -> Result<Vec<Uuid>, SocialApiError> {
        let handles = mentioned_handles(text);
        let found = profiles::ids_by_handles(&self.pool, &handles).await?;
        Ok(handles
            .iter()
            .filter_map(|handle| found.iter().find(|(h, _)| h == handle).map(|(_, id)| *id))
            .collect())
    }

    /// `POST /posts`.
    pub async fn create_post(
        &self,
        caller: &Caller,
        input: PostInput,
        context: CommandContext,
    ) -> Result<PostChanged, SocialApiError> {
        if input.media_ids.as_ref().is_some_and(|ids| !ids.is_empty()) {
            return Err(SocialApiError::MediaNotSupported);
        }
        let raw = input.text.unwrap_or_default();
        // A repost may say nothing of its own; any other post must say something.
        let text = if raw.trim().is_empty() && input.repost_of.is_some() {
            None
        } else {
            Some(PostText::parse(&raw).map_err(|error| SocialApiError::Text {
                field: "text",
                empty_code: social_codes::EMPTY_POST,
                error,
            })?)
        };
        if let Some(original) = input.repost_of {
            let original = self.visible_post(caller.user_id, original).await?;
            if original.visibility != Visibility::Public {
                return Err(SocialApiError::NotShareable);
            }
        }
        let mentions = match &text {
            Some(text) => self.mentions(text.as_str()).await?,
            None => Vec::new(),
        };
        let post_id = Uuid::now_v7();
        let command = PostCommand::Create(NewPost {
            author: caller.user_id,
            text,
            visibility: input.visibility,
            repost_of: input.repost_of,
            mentions,
            at: chrono::Utc::now(),
        });
        let outcome =
            self.pipeline.execute::<Post>(post_id, command, &as_actor(context, caller.user_id)).await?;
        // A retry with the same `Idempotency-Key` answers the original post, whose id is in
        // its stream's name rather than in the new one drawn here.
        let post_id = outcome
            .appended
            .first()
            .and_then(|event| event.stream.strip_prefix("post-"))
            .and_then(|id| Uuid::parse_str(id).ok())
            .unwrap_or(post_id);
        Ok(PostChanged { post_id, events: outcome.events, position: outcome.position })
    }

    /// `PATCH /posts/{id}`: the author edits the text within the edit window.
    pub async fn edit_post(
        &self,
        caller: &Caller,
        post_id: Uuid,
        text: &str,
        context: CommandContext,
    ) -> Result<PostChanged, SocialApiError> {
        self.visible_post(caller.user_id, post_id).await?;
        let text = PostText::parse(text).map_err(|error| SocialApiError::Text {
            field: "text",
            empty_code: social_codes::EMPTY_POST,
            error,
        })?;
        let mentions = self.mentions(text.as_str()).await?;
        let command = PostCommand::Edit { by: caller.user_id, text, mentions, at: chrono::Utc::now() };
        let outcome =
            self.pipeline.execute::<Post>(post_id, command, &as_actor(context, caller.user_id)).await?;
        Ok(PostChanged { post_id, events: outcome.events, position: outcome.position })
    }

    /// `DELETE /posts/{id}`: the author deletes the post.
    pub async fn delete_post(
        &self,
        caller: &Caller,
        post_id: Uuid,
        context: CommandContext,
    ) -> Result<Option<Position>, SocialApiError> {
        self.visible_post(caller.user_id, post_id).await?;
        let command = PostCommand::Delete { by: caller.user_id, at: chrono::Utc::now() };
        let outcome =
            self.pipeline.execute::<Post>(post_id, command, &as_actor(context, caller.user_id)).await?;
        Ok(outcome.position)
    }

    /// Sets, clears or toggles the caller's like or bookmark (`A`) of a post they may see.
    /// Returns whether it is set afterwards.
    pub async fn mark<A>(
        &self,
        caller: &Caller,
        post_id: Uuid,
        mark: Mark,
        context: CommandContext,
    ) -> Result<(bool, Option<Position>), SocialApiError>
    where
        A: Aggregate<Command = MarkCommand, Error = loopync_domain::social::SocialError>,
    {
        let post = self.visible_post(caller.user_id, post_id).await?;
        let command = MarkCommand {
            post: post_id,
            user: caller.user_id,
            mark,
            post_author: post.author,
            at: chrono::Utc::now(),
        };
        let id = reaction_id(post_id, caller.user_id);
        let outcome = self.pipeline.execute::<A>(id, command, &as_actor(context, caller.user_id)).await?;
        let set = match outcome.events.first() {
            Some(event) => loopync_domain::DomainEvent::event_type(event).ends_with(".added"),
            None => mark == Mark::Set,
        };
        Ok((set, outcome.position))
    }

    /// `POST /posts/{id}/comment`.
    pub async fn add_comment(
        &self,
        caller: &Caller,
        post_id: Uuid,
        text: &str,
        reply_to: Option<Uuid>,
        context: CommandContext,
    ) -> Result<CommentAddedOutcome, SocialApiError> {
        let post = self.visible_post(caller.user_id, post_id).await?;
        let text = CommentText::parse(text).map_err(|error| SocialApiError::Text {
            field: "text",
            empty_code: social_codes::EMPTY_COMMENT,
            error,
        })?;
        let reply_to_author = match reply_to {
            None => None,
            Some(comment_id) => {
                let (comment_post, author) = self.live_comment(comment_id).await?;
                if comment_post != post_id {
                    return Err(SocialApiError::CommentNotFound);
                }
                Some(author)
            }
        };
        let mentions = self.mentions(text.as_str()).await?;
        let comment_id = Uuid::now_v7();
        let command = CommentCommand::Add {
            post: post_id,
            author: caller.user_id,
            text,
            reply_to,
            post_author: post.author,
            reply_to_author,
            mentions,
            at: chrono::Utc::now(),
        };
        let outcome =
            self.pipeline.execute::<Comment>(comment_id, command, &as_actor(context, caller.user_id)).await?;
        let comment_id = outcome
            .appended
            .first()
            .and_then(|event| event.stream.strip_prefix("comment-"))
            .and_then(|id| Uuid::parse_str(id).ok())
            .unwrap_or(comment_id);
        Ok(CommentAddedOutcome { comment_id, events: outcome.events, position: outcome.position })
    }

    /// The post and author of a comment that exists and is not deleted, from its stream
    /// (caught up: comments are not hot, and one deleted a moment ago must be gone).
    async fn live_comment(&self, comment_id: Uuid) -> Result<(Uuid, Uuid), SocialApiError> {
        let comment = self.pipeline.load_latest::<Comment>(StreamName::of::<Comment>(comment_id)).await?;
        match (comment.state.post, comment.state.author, comment.state.deleted) {
            (Some(post), Some(author), false) => Ok((post, author)),
            _ => Err(SocialApiError::CommentNotFound),
        }
    }

    /// `DELETE /comments/{id}`: by the comment's author or the post's.
    pub async fn delete_comment(
        &self,
        caller: &Caller,
        comment_id: Uuid,
        context: CommandContext,
    ) -> Result<Option<Position>, SocialApiError> {
        let (post_id, author) = self.live_comment(comment_id).await?;
        // Someone who cannot see the post learns nothing of its comments.
        if author != caller.user_id {
            self.visible_post(caller.user_id, post_id).await.map_err(|_| SocialApiError::CommentNotFound)?;
        }
        let command = CommentCommand::Delete { by: caller.user_id, at: chrono::Utc::now() };
        let outcome =
            self.pipeline.execute::<Comment>(comment_id, command, &as_actor(context, caller.user_id)).await?;
        Ok(outcome.position)
    }
}

/// The caller acts; their idempotency keys are scoped to them.
fn as_actor(mut context: CommandContext, user: Uuid) -> CommandContext {
    context.actor = Some(user.to_string());
    context
}
