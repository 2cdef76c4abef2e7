//! The notifications endpoints: `/api/notifications/*`, each about the caller's own.
//!
//! Reading and deleting name an entry by its id and take its whole group with it ("Ada and 3
//! others liked your post" is read at once). Every change is an event of the caller's inbox
//! stream (`inbox-<user>`), applied by the notifications read model, which tells the caller's
//! other devices (`notification_read`).

use super::errors::{NotificationsError, notification_codes as c};
use super::views::*;
use crate::command_request::CommandRequest;
use crate::consistency::{Applied, Done, ReadResponse};
use crate::identity::BearerAuth;
use crate::json::JsonBody;
use crate::pagination::{PageCursor, PageLimit, Pagination};
use crate::refusals;
use crate::refusals::Refused;
use crate::social::views::AuthorView;
use crate::state::AppState;
use loopync_commands::{CommandContext, CommandOutcome};
use loopync_domain::StreamName;
use loopync_domain::notifications::{Inbox, InboxCommand, InboxEvent, NotificationKind};
use loopync_projections::identity::profiles;
use loopync_projections::notifications::{NotificationGroup, NotificationsReadModel, queries};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::{OpenApi, Tags};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Tags)]
enum Tag {
    /// Notifications: friend requests, likes, comments, replies, mentions, shares.
    Notifications,
}

refusals!(ListRefusals, "Notifications", |set| set.signed_in().reads_position());
refusals!(ReadRefusals, "ReadNotification", |set| set
    .signed_in()
    .idempotent()
    .with(404, &[c::NOTIFICATION_NOT_FOUND]));
refusals!(ReadAllRefusals, "ReadAllNotifications", |set| set.signed_in().idempotent());
refusals!(SettingsRefusals, "NotificationSettings", |set| set.signed_in());
refusals!(ChangeSettingsRefusals, "ChangeNotificationSettings", |set| set.signed_in().body().idempotent());
refusals!(RegisterRefusals, "RegisterPushDevice", |set| set
    .signed_in()
    .body()
    .idempotent()
    .with(400, &[c::INVALID_PUSH_TOKEN]));

/// What the reads wait for, for read-your-writes.
const READ_MODELS: &[&str] = &[NotificationsReadModel::NAME];

/// `/api/notifications/*`.
pub struct NotificationsApi {
    state: AppState,
}

impl NotificationsApi {
    pub fn new(state: &AppState) -> Self {
        Self { state: state.clone() }
    }

    async fn decide(
        &self,
        user: Uuid,
        command: InboxCommand,
        mut context: CommandContext,
    ) -> Result<CommandOutcome<Vec<InboxEvent>>, NotificationsError> {
        context.actor = Some(user.to_string());
        Ok(self.state.pipeline.execute::<Inbox>(user, command, &context).await?)
    }

    /// The entries as views, with their actors' cards.
    async fn views(
        &self,
        groups: Vec<NotificationGroup>,
    ) -> Result<Vec<NotificationView>, NotificationsError> {
        let mut actors: Vec<Uuid> = groups.iter().flat_map(|group| group.actors.iter().copied()).collect();
        actors.sort();
        actors.dedup();
        // One query for every actor of the page.
        let cards: HashMap<Uuid, AuthorView> = profiles::profiles(&self.state.pool, &actors)
            .await?
            .into_iter()
            .map(|p| {
                let card = AuthorView {
                    id: p.user_id,
                    handle: Some(p.handle),
                    name: Some(p.name),
                    avatar: p.avatar,
                };
                (card.id, card)
            })
            .collect();
        Ok(groups
            .into_iter()
            .map(|group| {
                // An actor the profiles do not show yet is named by id alone.
                let actors: Vec<AuthorView> = group
                    .actors
                    .iter()
                    .map(|id| {
                        cards.get(id).cloned().unwrap_or(AuthorView {
                            id: *id,
                            handle: None,
                            name: None,
                            avatar: None,
                        })
                    })
                    .collect();
                let first =
                    actors.first().and_then(|a| a.name.clone()).unwrap_or_else(|| "Someone".to_owned());
                NotificationView {
                    id: group.notification_id,
                    kind: KindName::of(&group.kind),
                    summary: summary(&first, group.actor_count, &group.kind),
                    actors,
                    actor_count: group.actor_count,
                    post_id: group.post_id,
                    comment_id: group.comment_id,
                    created_at: group.latest_at.into(),
                    read: !group.unread,
                }
            })
            .collect())
    }
}

/// "Ada and 3 others liked your post".
fn summary(first: &str, actors: i64, kind: &str) -> String {
    let kind = NotificationKind::parse(kind).unwrap_or(NotificationKind::Mention);
    loopync_domain::notifications::summary(first, actors, kind)
}

/// The list's cursor: `<microseconds>_<group key>`.
fn encode_cursor(group: &NotificationGroup) -> String {
    format!("{}_{}", group.latest_at.timestamp_micros(), group.group_key)
}

fn decode_cursor(text: &str) -> Option<queries::GroupCursor> {
    let (micros, key) = text.split_once('_')?;
    let at = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    (!key.is_empty() && key.len() <= 80).then(|| (at, key.to_owned()))
}

#[OpenApi(prefix_path = "/notifications", tag = "Tag::Notifications")]
impl NotificationsApi {
    /// Your notifications, newest first; likes and shares of one post are one entry.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: BearerAuth,
        /// `true`: only entries with something unread.
        unread: Query<Option<bool>>,
        limit: PageLimit,
        cursor: PageCursor,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<NotificationPage>, Refused<ListRefusals>> {
        let after = cursor.decode(decode_cursor)?;
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        let groups =
            queries::groups(&self.state.pool, auth.0.user_id, unread.0.unwrap_or(false), after, limit.get())
                .await?;
        let pagination = Pagination::of(limit, &groups, encode_cursor);
        let data = self.views(groups).await?;
        Ok(ReadResponse::ok(NotificationPage { data, pagination }, freshness))
    }

    /// How many entries of your notifications are unread.
    #[oai(path = "/unread-count", method = "get")]
    async fn unread_count(
        &self,
        auth: BearerAuth,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<UnreadCount>, Refused<ListRefusals>> {
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), READ_MODELS).await?;
        let count = queries::unread_count(&self.state.pool, auth.0.user_id).await?;
        Ok(ReadResponse::ok(UnreadCount { count }, freshness))
    }

    /// Mark a notification read, with its group.
    #[oai(path = "/:id/read", method = "patch")]
    async fn read(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The entry's id.
        id: Path<Uuid>,
    ) -> Result<Applied<ReadView>, Refused<ReadRefusals>> {
        let user = command.caller().user_id;
        if !queries::is_theirs(&self.state.pool, user, id.0).await? {
            return Err(NotificationsError::NotFound.into());
        }
        let at = chrono::Utc::now();
        let outcome =
            self.decide(user, InboxCommand::Read { ids: vec![id.0], at }, command.context()).await?;
        Ok(Applied::new(ReadView { id: id.0, read: true }, outcome.position))
    }

    /// Mark every notification you have read; those that arrive later stay unread.
    #[oai(path = "/read-all", method = "post")]
    async fn read_all(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
    ) -> Result<Done, Refused<ReadAllRefusals>> {
        let user = command.caller().user_id;
        let outcome =
            self.decide(user, InboxCommand::ReadAll { at: chrono::Utc::now() }, command.context()).await?;
        Ok(Done::at(outcome.position))
    }

    /// Delete a notification, with its group.
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        /// The entry's id.
        id: Path<Uuid>,
    ) -> Result<Done, Refused<ReadRefusals>> {
        let user = command.caller().user_id;
        if !queries::is_theirs(&self.state.pool, user, id.0).await? {
            return Err(NotificationsError::NotFound.into());
        }
        let at = chrono::Utc::now();
        let outcome =
            self.decide(user, InboxCommand::Delete { ids: vec![id.0], at }, command.context()).await?;
        Ok(Done::at(outcome.position))
    }

    /// Which kinds of notification you get (read from your inbox itself: a change shows at
    /// once).
    #[oai(path = "/settings", method = "get")]
    async fn settings(
        &self,
        auth: BearerAuth,
    ) -> Result<crate::consistency::Answer<NotificationSettingsView>, Refused<SettingsRefusals>> {
        let inbox = self
            .state
            .pipeline
            .load_latest::<Inbox>(StreamName::of::<Inbox>(auth.0.user_id))
            .await
            .map_err(NotificationsError::from)?;
        Ok(crate::consistency::Answer::ok(NotificationSettingsView::of(&inbox.state.settings)))
    }

    /// Choose which kinds of notification you get. A muted kind stops new notifications of
    /// it; those you have stay.
    #[oai(path = "/settings", method = "put")]
    async fn change_settings(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        body: JsonBody<NotificationSettingsView>,
    ) -> Result<Applied<NotificationSettingsView>, Refused<ChangeSettingsRefusals>> {
        let user = command.caller().user_id;
        let settings = body.0.settings();
        let change = InboxCommand::ChangeSettings { settings: settings.clone(), at: chrono::Utc::now() };
        let outcome = self.decide(user, change, command.context()).await?;
        Ok(Applied::new(NotificationSettingsView::of(&settings), outcome.position))
    }

    /// Receive push notifications on this device while this session lasts (signing out, or
    /// the session's revocation, drops it). At most 10 devices; a new one replaces the oldest.
    #[oai(path = "/register", method = "post")]
    async fn register(
        &self,
        #[oai(name = "Idempotency-Key")] command: CommandRequest,
        body: JsonBody<PushRegistration>,
    ) -> Result<Done, Refused<RegisterRefusals>> {
        let caller = command.caller();
        let registration = InboxCommand::RegisterPushToken {
            token: body.0.token.trim().to_owned(),
            platform: body.0.platform.into(),
            session_id: caller.session_id,
            at: chrono::Utc::now(),
        };
        let outcome = self.decide(caller.user_id, registration, command.context()).await?;
        Ok(Done::at(outcome.position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_carry_the_date_and_the_group() {
        let cursor = decode_cursor("1796188463827000_like:0193a0c5-1d2e-7f30-8a4b-5c6d7e8f9012");
        assert_eq!(cursor.map(|(_, key)| key).as_deref(), Some("like:0193a0c5-1d2e-7f30-8a4b-5c6d7e8f9012"));
        assert_eq!(decode_cursor("nonsense"), None);
        assert_eq!(decode_cursor("17_"), None);
    }
}
