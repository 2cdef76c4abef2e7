//! The posts endpoints: posts and the feed, likes, comments, bookmarks, hashtags, trending,
//! and a user's posts, followers and follows.
//!
//! | endpoint                                              | who                               |
//! |-------------------------------------------------------|-----------------------------------|
//! | `POST /posts`, `GET /posts` (the feed), `GET /bookmarks`, `GET /trending/*` | the signed-in user |
//! | `GET /posts/{id}`, `.../comments`, like, comment, bookmark | whoever may see the post     |
//! | `PATCH`, `DELETE /posts/{id}`                         | its author                        |
//! | `DELETE /comments/{id}`                               | its author or the post's author   |
//! | `GET /hashtags/{tag}/posts`                           | the signed-in user: what they may see |
//! | `POST`/`DELETE /users/{id}/follow`                    | the signed-in user, about a public profile |
//! | `GET /users/{id}/posts`, `/followers`, `/following`   | whoever may see the user          |
//!
//! A post the caller may not see answers exactly as one that does not exist (404
//! `post_not_found`).

use super::cursors::{SnapshotCursor, decode_dated, encode_dated};
use super::friends::{edge_page, visible_profile};
use super::{READ_MODELS, Tag};
use crate::command_request::CommandRequest;
use crate::consistency::{Applied, Created, Done, ReadResponse};
use crate::identity::BearerAuth;
use crate::json::JsonBody;
use crate::pagination::{PageCursor, PageLimit, Pagination};
use crate::problem::codes;
use crate::refusals;
use crate::refusals::Refused;
use crate::social::errors::{SocialApiError, social_codes as c};
use crate::social::service::{PostInput, Social};
use crate::social::snapshots::{self, RANKING_DEPTH, Ranking};
use crate::social::views::*;
use crate::state::AppState;
use loopync_domain::social::{
    Bookmark, Like, Mark, PostEvent, RelationshipAction, Visibility, normalize_hashtag,
};
use loopync_projections::identity::profiles;
use loopync_projections::social::{EdgeList, PostRow, graph, posts};
use poem_openapi::OpenApi;
use poem_openapi::param::{Header, Path, Query};
use std::sync::Arc;
use uuid::Uuid;

refusals!(CreatePostRefusals, "CreatePost", |set| set
    .signed_in()
    .body()
    .idempotent()
    .with(400, &[c::EMPTY_POST, c::TEXT_TOO_LONG, c::MEDIA_NOT_SUPPORTED])
    .with(404, &[c::POST_NOT_FOUND])
    .with(422, &[c::NOT_SHAREABLE]));
refusals!(EditPostRefusals, "EditPost", |set| set
    .signed_in()
    .body()
    .idempotent()
    .with(400, &[c::EMPTY_POST, c::TEXT_TOO_LONG])
    .with(403, &[codes::FORBIDDEN])
    .with(404, &[c::POST_NOT_FOUND])
    .with(409, &[c::EDIT_WINDOW_CLOSED]));
refusals!(DeletePostRefusals, "DeletePost", |set| set
    .signed_in()
    .idempotent()
    .with(403, &[codes::FORBIDDEN])
    .with(404, &[c::POST_NOT_FOUND]));
refusals!(MarkRefusals, "MarkPost", |set| set.signed_in().idempotent().with(404, &[c::POST_NOT_FOUND]));
refusals!(CommentRefusals, "AddComment", |set| set
    .signed_in()
    .body()
    .idempotent()
    .with(400, &[c::EMPTY_COMMENT, c::TEXT_TOO_LONG])
    .with(404, &[c::POST_NOT_FOUND, c::COMMENT_NOT_FOUND]));
refusals!(DeleteCommentRefusals, "DeleteComment", |set| set
    .signed_in()
    .idempotent()
    .with(403, &[codes::FORBIDDEN])
    .with(404, &[c::COMMENT_NOT_FOUND]));
refusals!(PostReadRefusals, "PostRead", |set| set
    .signed_in()
    .reads_position()
    .with(404, &[c::POST_NOT_FOUND]));
refusals!(FeedRefusals, "Feed", |set| set.signed_in().reads_position());
refusals!(HashtagRefusals, "HashtagPosts", |set| set
    .signed_in()
    .reads_position()
    .with(400, &[c::INVALID_HASHTAG]));
refusals!(FollowRefusals, "Follow", |set| set
    .signed_in()
    .idempotent()
    .with(403, &[c::BLOCKED, c::NOT_FOLLOWABLE])
    .with(404, &[c::USER_NOT_FOUND])
    .with(422, &[c::SELF_TARGET]));
refusals!(UnfollowRefusals, "Unfollow", |set| set
    .signed_in()
    .idempotent()
    .with(404, &[c::USER_NOT_FOUND])
    .with(422, &[c::SELF_TARGET]));
refusals!(UserPostsRefusals, "UserPosts", |set| set
    .signed_in()
    .reads_position()
    .with(404, &[c::USER_NOT_FOUND]));
refusals!(FollowListRefusals, "FollowList", |set| set
    .signed_in()
    .reads_position()
    .with(403, &[c::PROFILE_HIDDEN])
    .with(404, &[c::USER_NOT_FOUND]));

/// How far back trending looks.
const TRENDING_WINDOW_HOURS: i32 = 48;

/// The posts, hashtags, trending and follow endpoints.
pub struct PostsApi {
    social: Arc<Social>,
    state: AppState,
}

impl PostsApi {
    pub fn new(state: &AppState) -> Self {
        Self { social: state.social.clone(), state: state.clone() }
    }

    /// A page of posts in date order, with its cursor.
    fn dated_page(limit: PageLimit, rows: Vec<PostRow>) -> PostPage {
        let pagination = Pagination::of(limit, &rows, |row| encode_dated(row.created_at, row.post_id));
        PostPage { data: rows.into_iter().map(PostView::from).collect(), pagination }
    }

    /// A page of a ranking (the ranked feed, trending).
    async fn ranked_page(
        &self,
        viewer: Uuid,
        ranking: Ranking,
        cursor: &PageCursor,
        limit: PageLimit,
    ) -> Result<PostPage, crate::problem::Problem> {
        let after = cursor.decode(SnapshotCursor::decode)?;
        let pool = self.state.pool.clone();
        let now = chrono::Utc::now();
        let page = snapshots::page(&self.state.pool, viewer, ranking, after, limit, || async move {
            match ranking {
                Ranking::Feed => posts::feed_ranking(&pool, viewer, now, RANKING_DEPTH).await,
                Ranking::Trending => {
                    posts::trending_ranking(&pool, viewer, now, TRENDING_WINDOW_HOURS, RANKING_DEPTH).await
                }
            }
        })
        .await?;
        let rows = posts::posts_in_order(&self.state.pool, viewer, &page.post_ids).await?;
        Ok(PostPage { data: rows.into_iter().map(PostView::from).collect(), pagination: page.pagination })
    }

    /// The view of a post just created or edited, from its events (the read model may not
    /// have it yet) and what the read model says of the rest.
    async fn fresh_view(
        &self,
        viewer: Uuid,
        post_id: Uuid,
        events: &[PostEvent],
        position: Option<loopync_schemas::Position>,
    ) -> Result<PostView, SocialApiError> {
        // A retry answered from its idempotency record has no new events to build the view
        // from: the read model then shows the original, once it has reached it.
        if events.is_empty()
            && let Some(position) = position
        {
            let timeout = self.state.config.read_your_writes_timeout;
            self.state.checkpoints.wait_for(READ_MODELS, position, timeout).await;
        }
        let current = posts::post(&self.state.pool, viewer, post_id).await?;
        let mut view = match (current, events.first()) {
            (Some(row), _) => PostView::from(row),
            (None, Some(PostEvent::Created(created))) => {
                let author = profiles::profile(&self.state.pool, created.author).await?;
                PostView {
                    id: post_id,
                    author: AuthorView {
                        id: created.author,
                        handle: author.as_ref().map(|a| a.handle.clone()),
                        name: author.as_ref().map(|a| a.name.clone()),
                        avatar: author.and_then(|a| a.avatar),
                    },
                    text: created.text.clone(),
                    visibility: visibility_name(created.visibility),
                    repost_of: created.repost_of,
                    hashtags: created.hashtags.clone(),
                    created_at: created.created_at.into(),
                    edited_at: None,
                    likes: 0,
                    comments: 0,
                    shares: 0,
                    liked: false,
                    bookmarked: false,
                }
            }
            (None, _) => return Err(SocialApiError::PostNotFound),
        };
        if let Some(PostEvent::Edited(edited)) = events.first() {
            view.text = edited.text.clone();
            view.hashtags = edited.hashtags.clone();
            view.edited_at = Some(edited.edited_at.into());
        }
        Ok(view)
    }
}

fn visibility_name(visibility: Visibility) -> VisibilityName {
    match visibility {
        Visibility::Public => VisibilityName::Public,
        Visibility::Friends => VisibilityName::Friends,
        Visibility::Private => VisibilityName::Private,
    }
}

#[OpenApi(tag = "Tag::Posts")]
impl PostsApi {
    /// Post: text, or a repost of a public post (`repostOf`, with or without text).
    ///
    /// `empty_post` (400) without text or repost, `text_too_long` (400) past 5,000
    /// characters, `media_not_supported` (400) for `mediaIds`, `post_not_found` (404) for a
    /// repost of a post you cannot see, `not_shareable` (422) for one that is not public.
    /// Idempotent with `Idempotency-Key`.
    #[oai(path = "/posts", method = "post")]
    async fn create_post(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        body: JsonBody<CreatePostRequest>,
    ) -> Result<Created<PostView>, Refused<CreatePostRefusals>> {
        let body = body.0;
        let input = PostInput {
            text: body.text,
            media_ids: body.media_ids,
            visibility: body.visibility.map_or(Visibility::Public, Visibility::from),
            repost_of: body.repost_of,
        };
        let created = self.social.create_post(command.caller(), input, command.context()).await?;
        let view = self
            .fresh_view(command.caller().user_id, created.post_id, &created.events, created.position)
            .await?;
        Ok(Created::new(view, created.position))
    }

    /// Your feed: your posts, your friends' (public and friends-only) and the public posts of
    /// those you follow; never anything private of others, deleted, or of someone blocked
    /// either way.
    ///
    /// `mode=latest` (the default) is newest first; `mode=ranked` orders by engagement with
    /// time decay, and its cursor keeps the first page's ranking, so later pages neither
    /// repeat nor skip a post while new posts and likes arrive (a ranking expires after an
    /// hour: start again).
    #[oai(path = "/posts", method = "get")]
    async fn feed(
        &self,
        auth: BearerAuth,
        /// `latest` (the default) or `ranked`.
        mode: Query<Option<FeedMode>>,
        limit: PageLimit,
        cursor: PageCursor,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<PostPage>, Refused<FeedRefusals>> {
        let viewer = auth.0.user_id;
        let mode = mode.0.unwrap_or(FeedMode::Latest);
        // The cursor is checked before waiting: a bad one is answered at once.
        let after = match mode {
            FeedMode::Latest => cursor.decode(decode_dated)?,
            FeedMode::Ranked => None,
        };
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        let page = match mode {
            FeedMode::Latest => {
                let rows = posts::feed_latest(&self.state.pool, viewer, after, limit.get()).await?;
                Self::dated_page(limit, rows)
            }
            FeedMode::Ranked => self.ranked_page(viewer, Ranking::Feed, &cursor, limit).await?,
        };
        Ok(ReadResponse::ok(page, freshness))
    }

    /// A post, when you may see it (`post_not_found`, 404, otherwise).
    #[oai(path = "/posts/:postId", method = "get")]
    async fn post(
        &self,
        auth: BearerAuth,
        /// The post's id.
        #[oai(name = "postId")]
        post_id: Path<Uuid>,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<PostView>, Refused<PostReadRefusals>> {
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        let row = posts::post(&self.state.pool, auth.0.user_id, post_id.0)
            .await?
            .ok_or(SocialApiError::PostNotFound)?;
        Ok(ReadResponse::ok(PostView::from(row), freshness))
    }

    /// Edit your post's text, within 15 minutes of posting (`edit_window_closed`, 409, after).
    /// Every version is kept as an event.
    #[oai(path = "/posts/:postId", method = "patch")]
    async fn edit_post(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The post's id.
        #[oai(name = "postId")]
        post_id: Path<Uuid>,
        body: JsonBody<EditPostRequest>,
    ) -> Result<Applied<PostView>, Refused<EditPostRefusals>> {
        let edited =
            self.social.edit_post(command.caller(), post_id.0, &body.0.text, command.context()).await?;
        let view =
            self.fresh_view(command.caller().user_id, post_id.0, &edited.events, edited.position).await?;
        Ok(Applied::new(view, edited.position))
    }

    /// Delete your post: it leaves every feed, list and search at once.
    #[oai(path = "/posts/:postId", method = "delete")]
    async fn delete_post(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The post's id.
        #[oai(name = "postId")]
        post_id: Path<Uuid>,
    ) -> Result<Done, Refused<DeletePostRefusals>> {
        let position = self.social.delete_post(command.caller(), post_id.0, command.context()).await?;
        Ok(Done::at(position))
    }

    /// Like a post. Idempotent: liking a post you like changes nothing.
    #[oai(path = "/posts/:postId/like", method = "put")]
    async fn like(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The post's id.
        #[oai(name = "postId")]
        post_id: Path<Uuid>,
    ) -> Result<Applied<LikeView>, Refused<MarkRefusals>> {
        self.mark_like(command, post_id.0, Mark::Set).await
    }

    /// Take back your like. Idempotent.
    #[oai(path = "/posts/:postId/like", method = "delete")]
    async fn unlike(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The post's id.
        #[oai(name = "postId")]
        post_id: Path<Uuid>,
    ) -> Result<Applied<LikeView>, Refused<MarkRefusals>> {
        self.mark_like(command, post_id.0, Mark::Clear).await
    }

    /// Like, or take back your like (the original app's toggle).
    ///
    /// Not retry-safe: a retry undoes the first request. Prefer `PUT` and `DELETE`, or send an
    /// `Idempotency-Key`.
    #[oai(path = "/posts/:postId/like", method = "post")]
    async fn toggle_like(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The post's id.
        #[oai(name = "postId")]
        post_id: Path<Uuid>,
    ) -> Result<Applied<LikeView>, Refused<MarkRefusals>> {
        self.mark_like(command, post_id.0, Mark::Toggle).await
    }

    /// Comment on a post you may see, or reply to one of its comments (`replyTo`).
    /// `empty_comment` or `text_too_long` (400; 2,000 characters at most).
    #[oai(path = "/posts/:postId/comment", method = "post")]
    async fn comment(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The post's id.
        #[oai(name = "postId")]
        post_id: Path<Uuid>,
        body: JsonBody<CommentRequest>,
    ) -> Result<Created<CommentView>, Refused<CommentRefusals>> {
        let body = body.0;
        let caller = command.caller();
        let added =
            self.social.add_comment(caller, post_id.0, &body.text, body.reply_to, command.context()).await?;
        let author = profiles::profile(&self.state.pool, caller.user_id).await?;
        let (text, reply_to, created_at) = match added.events.first() {
            Some(loopync_domain::social::CommentEvent::Added(e)) => {
                (e.text.clone(), e.reply_to, e.created_at)
            }
            _ => (body.text.trim().to_owned(), body.reply_to, chrono::Utc::now()),
        };
        let view = CommentView {
            id: added.comment_id,
            post_id: post_id.0,
            author: AuthorView {
                id: caller.user_id,
                handle: author.as_ref().map(|a| a.handle.clone()),
                name: author.as_ref().map(|a| a.name.clone()),
                avatar: author.and_then(|a| a.avatar),
            },
            text,
            reply_to,
            created_at: created_at.into(),
        };
        Ok(Created::new(view, added.position))
    }

    /// A post's comments, oldest first (none of users blocked either way).
    #[oai(path = "/posts/:postId/comments", method = "get")]
    async fn comments(
        &self,
        auth: BearerAuth,
        /// The post's id.
        #[oai(name = "postId")]
        post_id: Path<Uuid>,
        limit: PageLimit,
        cursor: PageCursor,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<CommentPage>, Refused<PostReadRefusals>> {
        let after = cursor.decode(decode_dated)?;
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        self.social.visible_post(auth.0.user_id, post_id.0).await?;
        let rows = posts::comments(&self.state.pool, auth.0.user_id, post_id.0, after, limit.get()).await?;
        let pagination = Pagination::of(limit, &rows, |row| encode_dated(row.created_at, row.comment_id));
        Ok(ReadResponse::ok(
            CommentPage { data: rows.into_iter().map(CommentView::from).collect(), pagination },
            freshness,
        ))
    }

    /// Delete a comment: your own, or any on your post.
    #[oai(path = "/comments/:commentId", method = "delete")]
    async fn delete_comment(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The comment's id.
        #[oai(name = "commentId")]
        comment_id: Path<Uuid>,
    ) -> Result<Done, Refused<DeleteCommentRefusals>> {
        let position = self.social.delete_comment(command.caller(), comment_id.0, command.context()).await?;
        Ok(Done::at(position))
    }

    /// Keep a post to read later (only you see your bookmarks). Idempotent.
    #[oai(path = "/posts/:postId/bookmark", method = "put")]
    async fn bookmark(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The post's id.
        #[oai(name = "postId")]
        post_id: Path<Uuid>,
    ) -> Result<Applied<BookmarkView>, Refused<MarkRefusals>> {
        let (bookmarked, position) =
            self.social.mark::<Bookmark>(command.caller(), post_id.0, Mark::Set, command.context()).await?;
        Ok(Applied::new(BookmarkView { post_id: post_id.0, bookmarked }, position))
    }

    /// Drop a bookmark. Idempotent.
    #[oai(path = "/posts/:postId/bookmark", method = "delete")]
    async fn unbookmark(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The post's id.
        #[oai(name = "postId")]
        post_id: Path<Uuid>,
    ) -> Result<Applied<BookmarkView>, Refused<MarkRefusals>> {
        let (bookmarked, position) =
            self.social.mark::<Bookmark>(command.caller(), post_id.0, Mark::Clear, command.context()).await?;
        Ok(Applied::new(BookmarkView { post_id: post_id.0, bookmarked }, position))
    }

    /// Your bookmarks that you may still see, most recently kept first.
    #[oai(path = "/bookmarks", method = "get")]
    async fn bookmarks(
        &self,
        auth: BearerAuth,
        limit: PageLimit,
        cursor: PageCursor,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<PostPage>, Refused<FeedRefusals>> {
        let after = cursor.decode(decode_dated)?;
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        let rows = posts::bookmarks(&self.state.pool, auth.0.user_id, after, limit.get()).await?;
        let pagination = Pagination::of(limit, &rows, |(saved_at, row)| encode_dated(*saved_at, row.post_id));
        let data = rows.into_iter().map(|(_, row)| PostView::from(row)).collect();
        Ok(ReadResponse::ok(PostPage { data, pagination }, freshness))
    }

    /// The posts tagged `#tag` that you may see, newest first.
    #[oai(path = "/hashtags/:tag/posts", method = "get")]
    async fn hashtag_posts(
        &self,
        auth: BearerAuth,
        /// The hashtag, with or without `#` (case does not matter).
        tag: Path<String>,
        limit: PageLimit,
        cursor: PageCursor,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<PostPage>, Refused<HashtagRefusals>> {
        let tag = normalize_hashtag(&tag.0).ok_or_else(|| SocialApiError::InvalidHashtag(tag.0.clone()))?;
        let after = cursor.decode(decode_dated)?;
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        let rows =
            posts::posts_with_hashtag(&self.state.pool, auth.0.user_id, &tag, after, limit.get()).await?;
        Ok(ReadResponse::ok(Self::dated_page(limit, rows), freshness))
    }

    /// The hashtags most used on public posts of the last 48 hours.
    #[oai(path = "/trending/hashtags", method = "get")]
    async fn trending_hashtags(
        &self,
        auth: BearerAuth,
        limit: PageLimit,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<HashtagTrendList>, Refused<FeedRefusals>> {
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        let rows = posts::trending_hashtags(
            &self.state.pool,
            chrono::Utc::now(),
            TRENDING_WINDOW_HOURS,
            limit.get(),
        )
        .await?;
        let data = rows.into_iter().map(|(tag, posts)| HashtagTrend { tag, posts }).collect();
        Ok(ReadResponse::ok(HashtagTrendList { data }, freshness))
    }

    /// Everyone's public posts of the last 48 hours, by engagement with time decay (none of
    /// users blocked either way). The cursor keeps the first page's ranking.
    #[oai(path = "/trending/posts", method = "get")]
    async fn trending_posts(
        &self,
        auth: BearerAuth,
        limit: PageLimit,
        cursor: PageCursor,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<PostPage>, Refused<FeedRefusals>> {
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        let page = self.ranked_page(auth.0.user_id, Ranking::Trending, &cursor, limit).await?;
        Ok(ReadResponse::ok(page, freshness))
    }

    /// Follow a user's public posts (into your feed). Only public profiles can be followed
    /// (`not_followable`, 403); idempotent.
    #[oai(path = "/users/:userId/follow", method = "post")]
    async fn follow(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The user to follow.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
    ) -> Result<Done, Refused<FollowRefusals>> {
        let outcome = self
            .social
            .relate(command.caller(), user_id.0, RelationshipAction::Follow, command.context())
            .await?;
        Ok(Done::at(outcome.position))
    }

    /// Stop following a user. Idempotent.
    #[oai(path = "/users/:userId/follow", method = "delete")]
    async fn unfollow(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The user to stop following.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
    ) -> Result<Done, Refused<UnfollowRefusals>> {
        let outcome = self
            .social
            .relate(command.caller(), user_id.0, RelationshipAction::Unfollow, command.context())
            .await?;
        Ok(Done::at(outcome.position))
    }

    /// A user's posts that you may see, newest first.
    #[oai(path = "/users/:userId/posts", method = "get")]
    async fn user_posts(
        &self,
        auth: BearerAuth,
        /// The author.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
        limit: PageLimit,
        cursor: PageCursor,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<PostPage>, Refused<UserPostsRefusals>> {
        let after = cursor.decode(decode_dated)?;
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        let (relation, _) = self.social.visible_user(auth.0.user_id, user_id.0).await?;
        if relation.blocked() {
            return Err(SocialApiError::UserNotFound.into());
        }
        let rows =
            posts::posts_by_author(&self.state.pool, auth.0.user_id, user_id.0, after, limit.get()).await?;
        Ok(ReadResponse::ok(Self::dated_page(limit, rows), freshness))
    }

    /// Who follows a user, most recent first (shown when their profile is).
    #[oai(path = "/users/:userId/followers", method = "get")]
    async fn followers(
        &self,
        auth: BearerAuth,
        /// The user.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
        limit: PageLimit,
        cursor: PageCursor,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<UserCardPage>, Refused<FollowListRefusals>> {
        let after = cursor.decode(decode_dated)?;
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        visible_profile(&self.social, auth.0.user_id, user_id.0, "followers").await?;
        let rows = graph::edges(&self.state.pool, EdgeList::Followers, user_id.0, after, limit.get()).await?;
        Ok(ReadResponse::ok(edge_page(limit, rows), freshness))
    }

    /// Whom a user follows, most recent first (shown when their profile is).
    #[oai(path = "/users/:userId/following", method = "get")]
    async fn following(
        &self,
        auth: BearerAuth,
        /// The user.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
        limit: PageLimit,
        cursor: PageCursor,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<UserCardPage>, Refused<FollowListRefusals>> {
        let after = cursor.decode(decode_dated)?;
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        visible_profile(&self.social, auth.0.user_id, user_id.0, "follows").await?;
        let rows = graph::edges(&self.state.pool, EdgeList::Following, user_id.0, after, limit.get()).await?;
        Ok(ReadResponse::ok(edge_page(limit, rows), freshness))
    }
}

impl PostsApi {
    async fn mark_like(
        &self,
        command: CommandRequest,
        post_id: Uuid,
        mark: Mark,
    ) -> Result<Applied<LikeView>, Refused<MarkRefusals>> {
        let (liked, position) =
            self.social.mark::<Like>(command.caller(), post_id, mark, command.context()).await?;
        Ok(Applied::new(LikeView { post_id, liked }, position))
    }
}
