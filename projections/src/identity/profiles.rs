//! `user_profiles`: one row per account — the public profile, the private settings and the
//! role — with the profile query, the privacy queries the realtime gateway asks, and the user
//! search.
//!
//! Search matches handles and names by prefix and, with pg_trgm, by word similarity, so a typo
//! still finds its user. Results are ranked by an integer score, which makes keyset pagination
//! exact: a page starts strictly after the `(score, user_id)` of the last row of the previous
//! one, with no duplicates and no gaps while the rows do not change.
//!
//! The SQL on this projection's tables is unchecked (`sqlx::query`, not the `query!` macros):
//! the tables exist only in the per-generation schemas and `read_models` views the runtime
//! creates, never in the migrated schema the macros are checked against.

use super::frames::ProfileUpdated;
use super::stream_uuid;
use crate::projection::{LiveUpdate, Projection, ProjectionError};
use async_trait::async_trait;
use loopync_domain::Aggregate;
use loopync_domain::identity::Role;
use loopync_domain::identity::account::{Account, AccountEvent, Privacy, Settings};
use loopync_schemas::RecordedEvent;
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, BTreeSet};

/// The profiles of all accounts.
#[derive(Debug, Default, Clone, Copy)]
pub struct UserProfiles;

impl UserProfiles {
    pub const NAME: &'static str = "user_profiles";
}

/// The tables, created in each generation's schema (see the file's comments).
const SCHEMA: &str = include_str!("profiles.sql");

/// The columns of `user_profiles`, as written.
const PROFILE_COLUMNS: &str = "user_id, handle, name, bio, avatar, cover_photo, location, website, role, \
     privacy, notifications, dark_mode, registered_at, updated_at, last_position";

/// A [`ProfileRow`], read from `user_profiles` joined with its `user_contacts`
/// ([`GENERATION_PROFILES`], [`PRIVATE_PROFILES`]). A profile without contacts has none.
const PROFILE_FIELDS: &str = "user_id, handle, name, bio, avatar, cover_photo, location, website, role, \
     email, coalesce(email_verified, false) AS email_verified, phone, privacy, notifications, dark_mode, \
     registered_at, updated_at, last_position";

/// The generation being written, profiles with their contacts (the runtime's search path).
const GENERATION_PROFILES: &str = "user_profiles LEFT JOIN user_contacts USING (user_id)";
/// Profiles with their contacts, as the API reads them.
const PRIVATE_PROFILES: &str =
    "read_models.user_profiles LEFT JOIN private_read_models.user_contacts USING (user_id)";

/// An account as `read_models.user_profiles` and `private_read_models.user_contacts` show it.
/// Holds private fields (email, phone, settings): callers choose what to show to whom.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProfileRow {
    pub user_id: Uuid,
    pub handle: String,
    pub name: String,
    pub bio: Option<String>,
    pub avatar: Option<String>,
    pub cover_photo: Option<String>,
    pub location: Option<String>,
    pub website: Option<String>,
    /// `user`, `verified`, `admin` or `founder`.
    pub role: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone: Option<String>,
    /// `public`, `friends` or `private`.
    pub privacy: String,
    pub notifications: bool,
    pub dark_mode: bool,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_position: i64,
}

#[async_trait]
impl Projection for UserProfiles {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn schema_sql(&self) -> &'static str {
        SCHEMA
    }

    fn tables(&self) -> &'static [&'static str] {
        &["user_profiles"]
    }

    fn private_tables(&self) -> &'static [&'static str] {
        &["user_contacts"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<Vec<LiveUpdate>, ProjectionError> {
        let mut decoded = Vec::new();
        for recorded in events {
            let Some(user_id) = stream_uuid(recorded, Account::CATEGORY) else { continue };
            decoded.push((user_id, recorded, recorded.decode::<AccountEvent>()?));
        }
        if decoded.is_empty() {
            return Ok(Vec::new());
        }

        // Every row the batch touches, as it stands before the batch (BTreeMap: deterministic
        // write and live-update order).
        let ids: BTreeSet<Uuid> = decoded.iter().map(|(user_id, _, _)| *user_id).collect();
        let ids: Vec<Uuid> = ids.into_iter().collect();
        let mut rows: BTreeMap<Uuid, Option<ProfileRow>> = ids.iter().map(|id| (*id, None)).collect();
        for row in load(conn, &ids).await? {
            rows.insert(row.user_id, Some(row));
        }

        let mut changed = BTreeSet::new();
        let mut public_changed = BTreeSet::new();
        for (user_id, recorded, event) in decoded {
            let row = rows.entry(user_id).or_default();
            match fold(row, user_id, event, recorded) {
                Change::None => {}
                Change::Private => {
                    changed.insert(user_id);
                }
                Change::Public => {
                    changed.insert(user_id);
                    public_changed.insert(user_id);
                }
            }
        }

        let written: Vec<&ProfileRow> =
            changed.iter().filter_map(|id| rows.get(id).and_then(Option::as_ref)).collect();
        write(conn, &written).await?;

        // One update per user and batch, with the card as the batch left it: subscribers want
        // the latest state, not every step to it. The public card: the user's other devices
        // show it.
        let mut updates = Vec::new();
        for row in public_changed.iter().filter_map(|id| rows.get(id).and_then(Option::as_ref)) {
            let card = ProfileUpdated {
                user_id: row.user_id,
                handle: row.handle.clone(),
                name: row.name.clone(),
                avatar: row.avatar.clone(),
            };
            updates.push(LiveUpdate::new(row.user_id, &card)?);
        }
        Ok(updates)
    }
}

/// What folding one event did to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Nothing: an event this read model ignores, or one already applied.
    None,
    /// Fields only the user and admins see.
    Private,
    /// Fields of the public card (handle, name, avatar): worth a live update.
    Public,
}

/// Folds one account event into the user's row (`None` before registration).
fn fold(
    row: &mut Option<ProfileRow>,
    user_id: Uuid,
    event: AccountEvent,
    recorded: &RecordedEvent,
) -> Change {
    let position = recorded.position.global_position;
    // Positions only grow along one stream, so an event at or below the row's position has
    // been applied already: replaying a batch leaves the row as it is.
    if row.as_ref().is_some_and(|row| row.last_position >= position) {
        return Change::None;
    }
    if let AccountEvent::Registered(registered) = event {
        let settings = Settings::default();
        *row = Some(ProfileRow {
            user_id,
            handle: registered.handle.into(),
            name: registered.name.into(),
            bio: None,
            avatar: None,
            cover_photo: None,
            location: None,
            website: None,
            role: role_name(registered.role).to_owned(),
            email: registered.email.map(String::from),
            email_verified: false,
            phone: registered.phone.map(String::from),
            privacy: privacy_name(settings.privacy).to_owned(),
            notifications: settings.notifications,
            dark_mode: settings.dark_mode,
            registered_at: registered.registered_at,
            updated_at: recorded.recorded_at,
            last_position: position,
        });
        return Change::Public;
    }
    // Every other event follows the registration in its stream; without a row there is
    // nothing to change.
    let Some(profile) = row.as_mut() else { return Change::None };
    let change = match event {
        // Registrations are handled above; challenges and passwords are not on a profile.
        AccountEvent::Registered(_)
        | AccountEvent::EmailVerificationRequested(_)
        | AccountEvent::PasswordResetRequested(_)
        | AccountEvent::PasswordChanged(_) => return Change::None,
        AccountEvent::EmailVerified(verified) => {
            profile.email = Some(verified.email.into());
            profile.email_verified = true;
            Change::Private
        }
        // The event holds the whole profile after the change, so fields it leaves empty are
        // cleared.
        AccountEvent::ProfileUpdated(updated) => {
            profile.name = updated.name.into();
            profile.bio = updated.details.bio;
            profile.avatar = updated.details.avatar;
            profile.cover_photo = updated.details.cover_photo;
            profile.location = updated.details.location;
            profile.website = updated.details.website;
            Change::Public
        }
        AccountEvent::HandleChanged(changed) => {
            profile.handle = changed.to.into();
            Change::Public
        }
        AccountEvent::SettingsUpdated(settings) => {
            profile.privacy = privacy_name(settings.privacy).to_owned();
            profile.notifications = settings.notifications;
            profile.dark_mode = settings.dark_mode;
            Change::Private
        }
        AccountEvent::RoleChanged(changed) => {
            profile.role = role_name(changed.to).to_owned();
            Change::Private
        }
    };
    profile.updated_at = recorded.recorded_at;
    profile.last_position = position;
    change
}

/// The role as stored: its wire name.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Verified => "verified",
        Role::Auditor => "auditor",
        Role::Admin => "admin",
        Role::Founder => "founder",
    }
}

/// The privacy setting as stored: its wire name.
fn privacy_name(privacy: Privacy) -> &'static str {
    match privacy {
        Privacy::Public => "public",
        Privacy::Friends => "friends",
        Privacy::Private => "private",
    }
}

/// The rows of `ids` in the generation being written (unqualified: the runtime's search path).
async fn load(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<ProfileRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {PROFILE_FIELDS} FROM {GENERATION_PROFILES} WHERE user_id = ANY($1)"))
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
}

/// Upserts whole rows in one statement.
async fn write(conn: &mut PgConnection, rows: &[&ProfileRow]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut columns = ProfileColumns::default();
    for row in rows {
        columns.push(row);
    }
    sqlx::query(&format!(
        "INSERT INTO user_profiles ({PROFILE_COLUMNS}) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::boolean[], $12::boolean[], \
             $13::timestamptz[], $14::timestamptz[], $15::bigint[]) \
         ON CONFLICT (user_id) DO UPDATE SET handle = excluded.handle, name = excluded.name, \
             bio = excluded.bio, avatar = excluded.avatar, cover_photo = excluded.cover_photo, \
             location = excluded.location, website = excluded.website, role = excluded.role, \
             privacy = excluded.privacy, notifications = excluded.notifications, \
             dark_mode = excluded.dark_mode, registered_at = excluded.registered_at, \
             updated_at = excluded.updated_at, last_position = excluded.last_position"
    ))
    .bind(&columns.user_id)
    .bind(&columns.handle)
    .bind(&columns.name)
    .bind(&columns.bio)
    .bind(&columns.avatar)
    .bind(&columns.cover_photo)
    .bind(&columns.location)
    .bind(&columns.website)
    .bind(&columns.role)
    .bind(&columns.privacy)
    .bind(&columns.notifications)
    .bind(&columns.dark_mode)
    .bind(&columns.registered_at)
    .bind(&columns.updated_at)
    .bind(&columns.last_position)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO user_contacts (user_id, email, email_verified, phone) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::boolean[], $4::text[]) \
         ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, \
             email_verified = excluded.email_verified, phone = excluded.phone",
    )
    .bind(&columns.user_id)
    .bind(&columns.email)
    .bind(&columns.email_verified)
    .bind(&columns.phone)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Rows turned into one array per column, for `unnest`.
#[derive(Default)]
struct ProfileColumns<'a> {
    user_id: Vec<Uuid>,
    handle: Vec<&'a str>,
    name: Vec<&'a str>,
    bio: Vec<Option<&'a str>>,
    avatar: Vec<Option<&'a str>>,
    cover_photo: Vec<Option<&'a str>>,
    location: Vec<Option<&'a str>>,
    website: Vec<Option<&'a str>>,
    role: Vec<&'a str>,
    email: Vec<Option<&'a str>>,
    email_verified: Vec<bool>,
    phone: Vec<Option<&'a str>>,
    privacy: Vec<&'a str>,
    notifications: Vec<bool>,
    dark_mode: Vec<bool>,
    registered_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    last_position: Vec<i64>,
}

impl<'a> ProfileColumns<'a> {
    fn push(&mut self, row: &'a ProfileRow) {
        self.user_id.push(row.user_id);
        self.handle.push(&row.handle);
        self.name.push(&row.name);
        self.bio.push(row.bio.as_deref());
        self.avatar.push(row.avatar.as_deref());
        self.cover_photo.push(row.cover_photo.as_deref());
        self.location.push(row.location.as_deref());
        self.website.push(row.website.as_deref());
        self.role.push(&row.role);
        self.email.push(row.email.as_deref());
        self.email_verified.push(row.email_verified);
        self.phone.push(row.phone.as_deref());
        self.privacy.push(&row.privacy);
        self.notifications.push(row.notifications);
        self.dark_mode.push(row.dark_mode);
        self.registered_at.push(row.registered_at);
        self.updated_at.push(row.updated_at);
        self.last_position.push(row.last_position);
    }
}

/// Reads one account from `read_models.user_profiles` and its contacts.
pub async fn profile(pool: &PgPool, user_id: Uuid) -> Result<Option<ProfileRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {PROFILE_FIELDS} FROM {PRIVATE_PROFILES} WHERE user_id = $1"))
        .bind(user_id)
        .fetch_optional(pool)
        .await
}

/// The profiles of `user_ids` that the read model has, in no particular order.
pub async fn profiles(pool: &PgPool, user_ids: &[Uuid]) -> Result<Vec<ProfileRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {PROFILE_FIELDS} FROM {PRIVATE_PROFILES} WHERE user_id = ANY($1)"))
        .bind(user_ids)
        .fetch_all(pool)
        .await
}

/// The account holding `handle` (lowercase, without `@`), if any.
pub async fn profile_by_handle(pool: &PgPool, handle: &str) -> Result<Option<ProfileRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {PROFILE_FIELDS} FROM {PRIVATE_PROFILES} WHERE handle = $1 LIMIT 1"))
        .bind(handle)
        .fetch_optional(pool)
        .await
}

/// The accounts holding `handles` (lowercase, without `@`): the users a text mentions.
pub async fn ids_by_handles(pool: &PgPool, handles: &[String]) -> Result<Vec<(String, Uuid)>, sqlx::Error> {
    if handles.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as("SELECT handle, user_id FROM read_models.user_profiles WHERE handle = ANY($1)")
        .bind(handles)
        .fetch_all(pool)
        .await
}

/// The privacy setting (`public`, `friends` or `private`) of `user_id`; `None` for a user the
/// read model does not have.
pub async fn privacy(pool: &PgPool, user_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT privacy FROM read_models.user_profiles WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await
}

/// The privacy settings of those of `user_ids` the read model has, as `(user_id, privacy)`.
pub async fn privacies(pool: &PgPool, user_ids: &[Uuid]) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as("SELECT user_id, privacy FROM read_models.user_profiles WHERE user_id = ANY($1)")
        .bind(user_ids)
        .fetch_all(pool)
        .await
}

/// Who the viewer of a search is to others, as the social graph says: whose `friends`
/// profiles they may find, and who they may not find at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchAudience {
    /// The viewer's friends.
    pub friends: Vec<Uuid>,
    /// Users blocked by the viewer or blocking them.
    pub hidden: Vec<Uuid>,
}

/// Most results one search page returns; larger limits are cut to it.
pub const MAX_SEARCH_LIMIT: i64 = 100;

/// Points a handle prefix match is worth: a handle is what people type to find someone.
pub const HANDLE_PREFIX_POINTS: i32 = 2000;
/// Points a (case-insensitive) prefix match of the whole display name is worth.
pub const NAME_PREFIX_POINTS: i32 = 1000;
/// Word similarity (0 to 1) of the query to the handle or name, whichever is higher, scaled
/// to points: a 1.0 similarity is worth as much as a name prefix.
pub const SIMILARITY_POINTS: i32 = 1000;
/// Least similarity points a fuzzy-only match needs: 0.6, pg_trgm's default
/// `word_similarity_threshold`. The `<%` operator (the one the trigram indexes serve) applies
/// the session's threshold; this check keeps 0.6 should someone lower that setting.
pub const FUZZY_THRESHOLD_POINTS: i32 = 600;

/// Where a search page ended: the next page starts strictly after this `(score, user_id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SearchCursor {
    pub score: i32,
    pub user_id: Uuid,
}

impl SearchCursor {
    /// An opaque token for clients: `<score>.<user id>`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.score, self.user_id.simple())
    }

    /// The cursor of a token from [`SearchCursor::encode`]; `None` for anything else.
    pub fn decode(token: &str) -> Option<Self> {
        let (score, user_id) = token.split_once('.')?;
        Some(Self { score: score.parse().ok()?, user_id: Uuid::try_parse(user_id).ok()? })
    }
}

#[derive(sqlx::FromRow)]
struct SearchHit {
    #[sqlx(flatten)]
    profile: ProfileRow,
    score: i32,
}

/// Finds users by handle or name: prefixes (case-insensitive) and, with pg_trgm, words similar
/// to the query (typos). `query` is trimmed and loses a leading `@`; an empty query finds
/// nobody. LIKE metacharacters (`%`, `_`, `\`) in it match only themselves.
///
/// Ranked by an integer score, best first, ties by user id:
/// [`HANDLE_PREFIX_POINTS`] if the handle starts with the query, [`NAME_PREFIX_POINTS`] if the
/// name does, plus the better word similarity of handle and name times [`SIMILARITY_POINTS`],
/// rounded. A user matched by similarity alone needs [`FUZZY_THRESHOLD_POINTS`].
///
/// Pages by keyset: pass the cursor of the last row of a page as `after` for the next page.
/// `limit` is cut to [`MAX_SEARCH_LIMIT`].
/// Profiles matching `query` as `viewer` may find them: a profile that is not public is found
/// only by its exact handle (or by its owner, or by `audience.friends` when it shows itself to
/// friends), so private users cannot be discovered by name; and `audience.hidden` (users
/// blocked either way) are not found at all.
pub async fn search(
    pool: &PgPool,
    query: &str,
    viewer: Uuid,
    audience: &SearchAudience,
    after: Option<SearchCursor>,
    limit: i64,
) -> Result<Vec<(ProfileRow, SearchCursor)>, sqlx::Error> {
    let query = query.trim();
    let query = query.strip_prefix('@').unwrap_or(query).trim();
    let limit = limit.min(MAX_SEARCH_LIMIT);
    if query.is_empty() || limit <= 0 {
        return Ok(Vec::new());
    }
    // Lowercased in SQL, not here: the name index is on PostgreSQL's `lower(name)`, and the
    // query must fold case exactly as it does. The prefix pattern `lower($2) || '%'` is a
    // constant once the parameters are bound, so the planner turns it into a range of the
    // handle btree; the four conditions of the inner WHERE each have an index (a BitmapOr).
    let sql = format!(
        "SELECT {PROFILE_FIELDS}, score FROM ( \
             SELECT *, (CASE WHEN handle_prefix THEN {HANDLE_PREFIX_POINTS} ELSE 0 END \
                        + CASE WHEN name_prefix THEN {NAME_PREFIX_POINTS} ELSE 0 END \
                        + similarity_points) AS score \
             FROM ( \
                 SELECT *, \
                     handle LIKE lower($2) || '%' AS handle_prefix, \
                     lower(name) LIKE lower($2) || '%' AS name_prefix, \
                     round(greatest(word_similarity(lower($1), handle), \
                                    word_similarity(lower($1), lower(name))) \
                           * {SIMILARITY_POINTS})::int AS similarity_points \
                 FROM {PRIVATE_PROFILES} \
                 WHERE (handle LIKE lower($2) || '%' \
                    OR lower(name) LIKE lower($2) || '%' \
                    OR lower($1) <% handle \
                    OR lower($1) <% lower(name)) \
                   AND (privacy = 'public' OR handle = lower($1) OR user_id = $6 \
                        OR (privacy = 'friends' AND user_id = ANY ($7))) \
                   AND user_id <> ALL ($8) \
             ) AS candidates \
             WHERE handle_prefix OR name_prefix OR similarity_points >= {FUZZY_THRESHOLD_POINTS} \
         ) AS matches \
         WHERE $3::int IS NULL OR score < $3 OR (score = $3 AND user_id > $4) \
         ORDER BY score DESC, user_id \
         LIMIT $5"
    );
    let hits: Vec<SearchHit> = sqlx::query_as(&sql)
        .bind(query)
        .bind(like_escaped(query))
        .bind(after.map(|cursor| cursor.score))
        .bind(after.map(|cursor| cursor.user_id))
        .bind(limit)
        .bind(viewer)
        .bind(&audience.friends)
        .bind(&audience.hidden)
        .fetch_all(pool)
        .await?;
    Ok(hits
        .into_iter()
        .map(|hit| {
            let cursor = SearchCursor { score: hit.score, user_id: hit.profile.user_id };
            (hit.profile, cursor)
        })
        .collect())
}

/// `text` with LIKE's metacharacters escaped (`\` is LIKE's default escape character), so that
/// it matches only itself.
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = SearchCursor { score: 3000, user_id: Uuid::now_v7() };
        assert_eq!(SearchCursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(SearchCursor::decode(""), None);
        assert_eq!(SearchCursor::decode("3000"), None);
        assert_eq!(SearchCursor::decode("x.00000000000000000000000000000000"), None);
        assert_eq!(SearchCursor::decode("3000.not-a-uuid"), None);
    }

    #[test]
    fn like_metacharacters_match_only_themselves() {
        assert_eq!(like_escaped("ada_l"), r"ada\_l");
        assert_eq!(like_escaped(r"100%\"), r"100\%\\");
        assert_eq!(like_escaped("ada"), "ada");
    }
}
