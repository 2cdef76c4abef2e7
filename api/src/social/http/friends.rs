//! The friends endpoints: `/api/friends/*`.
//!
//! | endpoint                                        | who                                    |
//! |-------------------------------------------------|----------------------------------------|
//! | `POST /request`, `/accept`, `/reject`, `/cancel` | the signed-in user, about another user |
//! | `DELETE /{friendId}`                            | either friend                          |
//! | `POST /block`, `DELETE /block/{userId}`, `GET /blocked` | the blocker                    |
//! | `GET /requests`, `/suggestions`                 | the signed-in user, their own          |
//! | `GET /{userId}`, `/{userId}/mutual`             | whoever may see the user's profile     |
//!
//! Every command is decided on the pair's own stream (`relationship-<a>:<b>`): crossed
//! requests end as one friendship, a block ends friendship, request and follows at once.

use super::cursors::{decode_dated, encode_dated};
use super::{READ_MODELS, Tag};
use crate::command_request::CommandRequest;
use crate::consistency::{Applied, Done, ReadResponse};
use crate::identity::BearerAuth;
use crate::json::JsonBody;
use crate::pagination::{PageCursor, PageLimit, Pagination};
use crate::refusals;
use crate::refusals::Refused;
use crate::social::errors::{SocialApiError, social_codes as c};
use crate::social::service::Social;
use crate::social::views::*;
use crate::state::AppState;
use loopync_domain::social::{RelationshipAction, RelationshipEvent};
use loopync_projections::social::{EdgeList, graph};
use poem_openapi::OpenApi;
use poem_openapi::param::{Header, Path, Query};
use std::sync::Arc;
use uuid::Uuid;

refusals!(FriendRequestRefusals, "FriendRequest", |set| set
    .signed_in()
    .body()
    .idempotent()
    .with(403, &[c::BLOCKED])
    .with(404, &[c::USER_NOT_FOUND])
    .with(409, &[c::ALREADY_FRIENDS])
    .with(422, &[c::SELF_TARGET]));
refusals!(FriendAcceptRefusals, "FriendAccept", |set| set
    .signed_in()
    .body()
    .idempotent()
    .with(403, &[c::BLOCKED])
    .with(404, &[c::USER_NOT_FOUND, c::REQUEST_NOT_FOUND])
    .with(422, &[c::SELF_TARGET]));
refusals!(FriendAnswerRefusals, "FriendAnswer", |set| set
    .signed_in()
    .body()
    .idempotent()
    .with(404, &[c::USER_NOT_FOUND, c::REQUEST_NOT_FOUND])
    .with(422, &[c::SELF_TARGET]));
refusals!(UnfriendRefusals, "Unfriend", |set| set
    .signed_in()
    .idempotent()
    .with(404, &[c::USER_NOT_FOUND, c::NOT_FRIENDS])
    .with(422, &[c::SELF_TARGET]));
refusals!(BlockRefusals, "Block", |set| set
    .signed_in()
    .body()
    .idempotent()
    .with(404, &[c::USER_NOT_FOUND])
    .with(422, &[c::SELF_TARGET]));
refusals!(UnblockRefusals, "Unblock", |set| set
    .signed_in()
    .idempotent()
    .with(404, &[c::USER_NOT_FOUND, c::NOT_BLOCKED])
    .with(422, &[c::SELF_TARGET]));
refusals!(OwnListRefusals, "OwnSocialList", |set| set.signed_in().reads_position());
refusals!(UserListRefusals, "UserSocialList", |set| set
    .signed_in()
    .reads_position()
    .with(403, &[c::PROFILE_HIDDEN])
    .with(404, &[c::USER_NOT_FOUND]));

/// `/api/friends/*`.
pub struct FriendsApi {
    social: Arc<Social>,
    state: AppState,
}

impl FriendsApi {
    pub fn new(state: &AppState) -> Self {
        Self { social: state.social.clone(), state: state.clone() }
    }
}

/// A page of edges and its pagination.
pub(super) fn edge_page(limit: PageLimit, rows: Vec<loopync_projections::social::UserEdge>) -> UserCardPage {
    let pagination = Pagination::of(limit, &rows, |row| encode_dated(row.since, row.user_id));
    UserCardPage { data: rows.into_iter().map(UserCardView::from).collect(), pagination }
}

/// Where a friendship stands after `events` (none: it already stood there).
fn friendship_after(events: &[RelationshipEvent]) -> FriendshipStatus {
    match events.first() {
        Some(RelationshipEvent::FriendRequested(_)) => FriendshipStatus::RequestSent,
        Some(_) => FriendshipStatus::Friends,
        // Asked again: still waiting; accepted again: still friends. Told apart by the caller.
        None => FriendshipStatus::RequestSent,
    }
}

#[OpenApi(prefix_path = "/friends", tag = "Tag::Friends")]
impl FriendsApi {
    /// Ask a user to be friends.
    ///
    /// When they have already asked you, this accepts their request (`status: friends`).
    /// `already_friends` (409), `self_target` (422), `user_not_found` (404, also for a user
    /// who blocked you), `blocked` (403) while you block them.
    #[oai(path = "/request", method = "post")]
    async fn request(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        body: JsonBody<UserIdRequest>,
    ) -> Result<Applied<FriendshipView>, Refused<FriendRequestRefusals>> {
        let other = body.0.user_id;
        let outcome = self
            .social
            .relate(command.caller(), other, RelationshipAction::RequestFriendship, command.context())
            .await?;
        let view = FriendshipView { user_id: other, status: friendship_after(&outcome.events) };
        Ok(Applied::new(view, outcome.position))
    }

    /// Accept a user's friend request. `request_not_found` (404) when they have not asked you.
    #[oai(path = "/accept", method = "post")]
    async fn accept(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        body: JsonBody<UserIdRequest>,
    ) -> Result<Applied<FriendshipView>, Refused<FriendAcceptRefusals>> {
        let other = body.0.user_id;
        let outcome = self
            .social
            .relate(command.caller(), other, RelationshipAction::AcceptRequest, command.context())
            .await?;
        Ok(Applied::new(
            FriendshipView { user_id: other, status: FriendshipStatus::Friends },
            outcome.position,
        ))
    }

    /// Turn down a user's friend request. `request_not_found` (404) when there is none.
    #[oai(path = "/reject", method = "post")]
    async fn reject(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        body: JsonBody<UserIdRequest>,
    ) -> Result<Done, Refused<FriendAnswerRefusals>> {
        let outcome = self
            .social
            .relate(command.caller(), body.0.user_id, RelationshipAction::RejectRequest, command.context())
            .await?;
        Ok(Done::at(outcome.position))
    }

    /// Withdraw your friend request to a user. `request_not_found` (404) when there is none.
    #[oai(path = "/cancel", method = "post")]
    async fn cancel(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        body: JsonBody<UserIdRequest>,
    ) -> Result<Done, Refused<FriendAnswerRefusals>> {
        let outcome = self
            .social
            .relate(command.caller(), body.0.user_id, RelationshipAction::CancelRequest, command.context())
            .await?;
        Ok(Done::at(outcome.position))
    }

    /// Your incoming or outgoing friend requests, newest first.
    #[oai(path = "/requests", method = "get")]
    async fn requests(
        &self,
        auth: BearerAuth,
        /// `incoming` (the default): requests you received; `outgoing`: those you sent.
        direction: Query<Option<RequestDirection>>,
        limit: PageLimit,
        cursor: PageCursor,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<UserCardPage>, Refused<OwnListRefusals>> {
        let after = cursor.decode(decode_dated)?;
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        let list = match direction.0.unwrap_or(RequestDirection::Incoming) {
            RequestDirection::Incoming => EdgeList::Incoming,
            RequestDirection::Outgoing => EdgeList::Outgoing,
        };
        let rows = graph::edges(&self.state.pool, list, auth.0.user_id, after, limit.get()).await?;
        Ok(ReadResponse::ok(edge_page(limit, rows), freshness))
    }

    /// People you may know: friends of your friends, most friends in common first (never
    /// your friends, anyone with a pending request either way, or anyone blocked either way).
    #[oai(path = "/suggestions", method = "get")]
    async fn suggestions(
        &self,
        auth: BearerAuth,
        limit: PageLimit,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<SuggestionList>, Refused<OwnListRefusals>> {
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        let rows = graph::suggestions(&self.state.pool, auth.0.user_id, limit.get()).await?;
        Ok(ReadResponse::ok(
            SuggestionList { data: rows.into_iter().map(SuggestionView::from).collect() },
            freshness,
        ))
    }

    /// Block a user: your friendship, any pending request and both follows end at once, and
    /// neither of you sees the other's posts, comments or profile until you unblock them.
    #[oai(path = "/block", method = "post")]
    async fn block(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        body: JsonBody<UserIdRequest>,
    ) -> Result<Done, Refused<BlockRefusals>> {
        let outcome = self
            .social
            .relate(command.caller(), body.0.user_id, RelationshipAction::Block, command.context())
            .await?;
        Ok(Done::at(outcome.position))
    }

    /// Lift your block of a user. `not_blocked` (404) when you do not block them.
    #[oai(path = "/block/:userId", method = "delete")]
    async fn unblock(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The user you block.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
    ) -> Result<Done, Refused<UnblockRefusals>> {
        let outcome = self
            .social
            .relate(command.caller(), user_id.0, RelationshipAction::Unblock, command.context())
            .await?;
        Ok(Done::at(outcome.position))
    }

    /// The users you block, most recent first.
    #[oai(path = "/blocked", method = "get")]
    async fn blocked(
        &self,
        auth: BearerAuth,
        limit: PageLimit,
        cursor: PageCursor,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<UserCardPage>, Refused<OwnListRefusals>> {
        let after = cursor.decode(decode_dated)?;
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        let rows =
            graph::edges(&self.state.pool, EdgeList::Blocked, auth.0.user_id, after, limit.get()).await?;
        Ok(ReadResponse::ok(edge_page(limit, rows), freshness))
    }

    /// End a friendship (either friend may). `not_friends` (404) when you are not friends.
    #[oai(path = "/:friendId", method = "delete")]
    async fn unfriend(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The friend.
        #[oai(name = "friendId")]
        friend_id: Path<Uuid>,
    ) -> Result<Done, Refused<UnfriendRefusals>> {
        let outcome = self
            .social
            .relate(command.caller(), friend_id.0, RelationshipAction::Unfriend, command.context())
            .await?;
        Ok(Done::at(outcome.position))
    }

    /// A user's friends, most recent first: shown when their profile is (public, or you are
    /// friends, or it is yours); `profile_hidden` (403) otherwise.
    #[oai(path = "/:userId", method = "get")]
    async fn friends(
        &self,
        auth: BearerAuth,
        /// The user whose friends to list.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
        limit: PageLimit,
        cursor: PageCursor,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<UserCardPage>, Refused<UserListRefusals>> {
        let after = cursor.decode(decode_dated)?;
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        self.visible_profile(auth.0.user_id, user_id.0, "friends").await?;
        let rows = graph::edges(&self.state.pool, EdgeList::Friends, user_id.0, after, limit.get()).await?;
        Ok(ReadResponse::ok(edge_page(limit, rows), freshness))
    }

    /// The friends you and a user have in common (by id).
    #[oai(path = "/:userId/mutual", method = "get")]
    async fn mutual(
        &self,
        auth: BearerAuth,
        /// The other user.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
        limit: PageLimit,
        cursor: PageCursor,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<UserCardPage>, Refused<UserListRefusals>> {
        let after = cursor.decode(|text| Uuid::try_parse(text).ok())?;
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        self.visible_profile(auth.0.user_id, user_id.0, "friends").await?;
        let rows =
            graph::mutual_friends(&self.state.pool, auth.0.user_id, user_id.0, after, limit.get()).await?;
        let pagination = Pagination::of(limit, &rows, |row| row.user_id.to_string());
        Ok(ReadResponse::ok(
            UserCardPage { data: rows.into_iter().map(UserCardView::from).collect(), pagination },
            freshness,
        ))
    }
}

impl FriendsApi {
    /// Refuses unless `viewer` may see `user`'s profile (and so its lists of `what`).
    async fn visible_profile(
        &self,
        viewer: Uuid,
        user: Uuid,
        what: &'static str,
    ) -> Result<(), SocialApiError> {
        visible_profile(&self.social, viewer, user, what).await
    }
}

/// Refuses unless `viewer` may see `user`'s profile (and so its lists of `what`): 404 for a
/// user who does not exist or blocked the viewer, 403 `profile_hidden` for one whose privacy
/// setting does not show the viewer their profile.
pub(super) async fn visible_profile(
    social: &Social,
    viewer: Uuid,
    user: Uuid,
    what: &'static str,
) -> Result<(), SocialApiError> {
    let (relation, privacy) = social.visible_user(viewer, user).await?;
    if relation.blocked() {
        return Err(SocialApiError::UserNotFound);
    }
    if !relation.may_see(privacy) {
        return Err(SocialApiError::ProfileHidden(what));
    }
    Ok(())
}
