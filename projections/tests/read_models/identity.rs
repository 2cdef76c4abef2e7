//! The identity read models: profiles and their search, and sessions.

use crate::generation::{Generation, ok, pipeline};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use loopync_commands::{CommandContext, CommandPipeline};
use loopync_domain::identity::account::{
    Account, AccountCommand, Privacy, ProfilePatch, Registration, Settings, TokenChallenge,
};
use loopync_domain::identity::session::{RevocationReason, Session, SessionCommand};
use loopync_domain::identity::{DisplayName, Email, Handle, Role};
use loopync_domain::{Aggregate, DomainEvent};
use loopync_projections::identity::profiles::{self, ProfileRow, SearchCursor};
use loopync_projections::identity::sessions;
use loopync_projections::identity::{UserProfiles, UserSessions};
use loopync_projections::projection::LiveUpdate;
use sqlx::PgPool;
use sqlx::types::Uuid;
use std::collections::BTreeSet;
use std::fmt::Debug;

// ----------------------------------------------------------------------------------------------
// Harness
// ----------------------------------------------------------------------------------------------

/// A day of November 2026, at noon.
fn day(n: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, n, 12, 0, 0).single().unwrap_or_else(|| panic!("day {n}"))
}

/// The write side, appending one command at a time.
struct Commands {
    pipeline: CommandPipeline,
}

impl Commands {
    fn new(pool: &PgPool) -> Self {
        Self { pipeline: pipeline(pool) }
    }

    async fn run<A: Aggregate>(&self, id: Uuid, command: A::Command) -> Vec<A::Event>
    where
        A::Event: DomainEvent,
        A::Error: Debug,
    {
        ok(self.pipeline.execute::<A>(id, command, &CommandContext::actor("identity-tests")).await).events
    }

    /// Registers `handle` by email, with password hash `pw-0` and a verification token `verify`.
    async fn register(&self, handle: &str, name: &str, at: DateTime<Utc>) -> Uuid {
        let user_id = Uuid::now_v7();
        self.run::<Account>(
            user_id,
            AccountCommand::Register(Registration {
                email: Some(ok(Email::parse(&format!("{handle}@example.com")))),
                phone: None,
                handle: ok(Handle::parse(handle)),
                name: ok(DisplayName::parse(name)),
                password_hash: Some("pw-0".into()),
                email_verification: Some(TokenChallenge { token_hash: "verify".into(), expires_at: day(28) }),
                at,
            }),
        )
        .await;
        user_id
    }

    /// Starts a session whose first refresh token `<session>-r0` expires a week later.
    async fn sign_in(&self, user_id: Uuid, epoch: u32, at: DateTime<Utc>) -> Uuid {
        let session_id = Uuid::now_v7();
        self.run::<Session>(
            session_id,
            SessionCommand::Start {
                account_id: user_id.to_string(),
                credentials_epoch: epoch,
                refresh: TokenChallenge {
                    token_hash: format!("{session_id}-r0"),
                    expires_at: at + TimeDelta::days(7),
                },
                device: Some("Firefox on Linux".into()),
                ip: Some("192.0.2.7".into()),
                at,
            },
        )
        .await;
        session_id
    }

    /// Rotates refresh token `<session>-r<n>` into `<session>-r<n+1>`, expiring a week later.
    async fn refresh(&self, session_id: Uuid, n: u32, epoch: u32, at: DateTime<Utc>) {
        self.run::<Session>(
            session_id,
            SessionCommand::Refresh {
                presented_hash: format!("{session_id}-r{n}"),
                next: TokenChallenge {
                    token_hash: format!("{session_id}-r{}", n + 1),
                    expires_at: at + TimeDelta::days(7),
                },
                account_epoch: epoch,
                at,
            },
        )
        .await;
    }

    async fn sign_out(&self, session_id: Uuid, at: DateTime<Utc>) {
        self.run::<Session>(session_id, SessionCommand::Revoke { reason: RevocationReason::Logout, at })
            .await;
    }

    /// Changes the password from `pw-<from>` to `pw-<from+1>`.
    async fn change_password(&self, user_id: Uuid, from: u32, at: DateTime<Utc>) {
        self.run::<Account>(
            user_id,
            AccountCommand::ChangePassword {
                verified_against: format!("pw-{from}"),
                password_hash: format!("pw-{}", from + 1),
                at,
            },
        )
        .await;
    }
}

/// A whole profile in one event: the name and bio it gives, and every other field cleared.
fn ada_king_the_analyst() -> AccountCommand {
    AccountCommand::UpdateProfile(ProfilePatch {
        name: Some(ok(DisplayName::parse("Ada King"))),
        bio: Some(Some("Analyst".into())),
        avatar: Some(None),
        cover_photo: Some(None),
        location: Some(None),
        website: Some(None),
    })
}

async fn profile(pool: &PgPool, user_id: Uuid) -> ProfileRow {
    ok(profiles::profile(pool, user_id).await).unwrap_or_else(|| panic!("no profile for {user_id}"))
}

async fn handles(pool: &PgPool, query: &str) -> Vec<String> {
    ok(profiles::search(pool, query, Uuid::nil(), &Default::default(), None, 100).await)
        .into_iter()
        .map(|(row, _)| row.handle)
        .collect()
}

async fn scores(pool: &PgPool, query: &str) -> Vec<(String, i32)> {
    ok(profiles::search(pool, query, Uuid::nil(), &Default::default(), None, 100).await)
        .into_iter()
        .map(|(row, cursor)| (row.handle, cursor.score))
        .collect()
}

/// The ids of a user's active sessions at `now`, as listed.
async fn active(pool: &PgPool, user_id: Uuid, now: DateTime<Utc>) -> Vec<Uuid> {
    ok(sessions::active_sessions(pool, user_id, now).await).into_iter().map(|s| s.session_id).collect()
}

/// When and why a session ended, if it did.
async fn ending(pool: &PgPool, session_id: Uuid) -> (Option<DateTime<Utc>>, Option<String>) {
    let row =
        ok(sessions::session(pool, session_id).await).unwrap_or_else(|| panic!("no session {session_id}"));
    (row.revoked_at, row.revoked_reason)
}

// ----------------------------------------------------------------------------------------------
// user_profiles
// ----------------------------------------------------------------------------------------------

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_registration_creates_a_profile_with_default_settings(pool: PgPool) {
    let commands = Commands::new(&pool);
    let mut generation = Generation::create(&pool, UserProfiles, 1, true).await;
    let ada = commands.register("ada_l", "Ada Lovelace", day(1)).await;
    let updates = generation.catch_up(&pool, 100).await;

    let row = profile(&pool, ada).await;
    let registered: (DateTime<Utc>, i64) = ok(sqlx::query_as(
        "SELECT recorded_at, global_position FROM events WHERE event_type = 'account.registered'",
    )
    .fetch_one(&pool)
    .await);
    assert_eq!(
        row,
        ProfileRow {
            user_id: ada,
            handle: "ada_l".into(),
            name: "Ada Lovelace".into(),
            bio: None,
            avatar: None,
            cover_photo: None,
            location: None,
            website: None,
            role: "user".into(),
            email: Some("ada_l@example.com".into()),
            email_verified: false,
            phone: None,
            privacy: "public".into(),
            notifications: true,
            dark_mode: false,
            registered_at: day(1),
            updated_at: registered.0,
            last_position: registered.1,
        }
    );
    // The verification request that came with the registration changes nothing visible.
    assert_eq!(
        updates,
        vec![LiveUpdate {
            user_id: ada,
            kind: "profile_updated",
            data: serde_json::json!({
                "userId": ada, "handle": "ada_l", "name": "Ada Lovelace", "avatar": null,
            }),
        }]
    );
    assert_eq!(ok(profiles::profile(&pool, Uuid::now_v7()).await), None);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn profile_handle_settings_role_and_email_changes_update_the_row(pool: PgPool) {
    let commands = Commands::new(&pool);
    let mut generation = Generation::create(&pool, UserProfiles, 1, true).await;
    let ada = commands.register("ada_l", "Ada Lovelace", day(1)).await;
    // In the registration's batch: folded onto a row that is not in the table yet.
    commands
        .run::<Account>(
            ada,
            AccountCommand::UpdateProfile(ProfilePatch {
                name: Some(ok(DisplayName::parse("Ada King"))),
                bio: Some(Some("Poet of numbers".into())),
                avatar: Some(Some("/api/media/a1".into())),
                cover_photo: Some(Some("https://cdn.example.com/c.jpg".into())),
                location: Some(Some("London".into())),
                website: Some(Some("https://ada.example.com".into())),
            }),
        )
        .await;
    let first = generation.catch_up(&pool, 100).await;
    assert_eq!(first.len(), 1, "one live update per user and batch: {first:?}");
    assert_eq!(first[0].data["name"], "Ada King");
    assert_eq!(first[0].data["avatar"], "/api/media/a1");

    // In later batches, one event each: folded onto the stored row.
    commands
        .run::<Account>(ada, AccountCommand::VerifyEmail { token_hash: "verify".into(), at: day(2) })
        .await;
    commands
        .run::<Account>(ada, AccountCommand::ChangeHandle { handle: ok(Handle::parse("countess")) })
        .await;
    commands
        .run::<Account>(
            ada,
            AccountCommand::UpdateSettings(Settings {
                privacy: Privacy::Friends,
                notifications: false,
                dark_mode: true,
            }),
        )
        .await;
    commands.run::<Account>(ada, AccountCommand::ChangeRole { role: Role::Verified, by: Role::Admin }).await;
    // The whole profile is in the event: what it leaves out is cleared.
    commands.run::<Account>(ada, ada_king_the_analyst()).await;
    let later = generation.catch_up(&pool, 1).await;

    let row = profile(&pool, ada).await;
    assert_eq!(row.handle, "countess");
    assert_eq!(row.name, "Ada King");
    assert_eq!(row.bio.as_deref(), Some("Analyst"));
    assert_eq!((row.avatar, row.cover_photo, row.location, row.website), (None, None, None, None));
    assert_eq!((row.email.as_deref(), row.email_verified), (Some("ada_l@example.com"), true));
    assert_eq!((row.privacy.as_str(), row.notifications, row.dark_mode), ("friends", false, true));
    assert_eq!(row.role, "verified");
    assert_eq!(row.registered_at, day(1));

    // Live updates for the handle and the profile only, and never a private field.
    assert_eq!(later.len(), 2, "{later:?}");
    assert_eq!(later[0].data["handle"], "countess");
    for update in first.iter().chain(&later) {
        assert_eq!((update.user_id, update.kind), (ada, "profile_updated"));
        let keys: BTreeSet<&str> =
            update.data.as_object().map(|o| o.keys().map(String::as_str).collect()).expect("a JSON object");
        assert_eq!(keys, BTreeSet::from(["userId", "handle", "name", "avatar"]));
    }

    // A password change is none of this read model's business: the row does not move.
    commands.change_password(ada, 0, day(3)).await;
    let updates = generation.catch_up(&pool, 100).await;
    assert!(updates.is_empty());
    assert_eq!(profile(&pool, ada).await.last_position, row.last_position);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn search_ranks_handle_prefixes_then_name_prefixes_then_similar_words(pool: PgPool) {
    let commands = Commands::new(&pool);
    let mut generation = Generation::create(&pool, UserProfiles, 1, true).await;
    commands.register("ada_l", "Ada Lovelace", day(1)).await;
    commands.register("adam_s", "Adam Smith", day(1)).await;
    commands.register("byron", "Ada Byron", day(1)).await;
    commands.register("grace", "Grace Hopper", day(1)).await;
    commands.register("lovelace_fan", "Charles Babbage", day(1)).await;
    generation.catch_up(&pool, 100).await;

    // Handle prefix and name prefix and a whole word, then handle prefix and most of a word,
    // then a name prefix alone.
    assert_eq!(
        scores(&pool, "ada").await,
        vec![("ada_l".to_owned(), 4000), ("adam_s".to_owned(), 3750), ("byron".to_owned(), 2000),]
    );
    // Case, surrounding blanks and a leading `@` make no difference.
    assert_eq!(handles(&pool, "  @ADA ").await, handles(&pool, "ada").await);
    // A word of the name, or of the handle, is found by similarity.
    assert_eq!(handles(&pool, "Lovelace").await, vec!["lovelace_fan", "ada_l"]);
    // A typo still finds its user, below exact matches.
    let typo = scores(&pool, "lovelase").await;
    assert_eq!(
        typo.iter().map(|(handle, _)| handle.as_str()).collect::<Vec<_>>(),
        vec!["ada_l", "lovelace_fan"]
    );
    assert!(typo.iter().all(|(_, score)| (600..1000).contains(score)), "{typo:?}");
    assert_eq!(handles(&pool, "hopper").await, vec!["grace"]);
    assert_eq!(handles(&pool, "gr").await, vec!["grace"]);
    // Nothing alike, or nothing at all.
    assert!(handles(&pool, "zebra").await.is_empty());
    assert!(handles(&pool, "").await.is_empty());
    assert!(handles(&pool, "  @ ").await.is_empty());
    assert!(ok(profiles::search(&pool, "ada", Uuid::nil(), &Default::default(), None, 0).await).is_empty());
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn like_metacharacters_in_a_query_match_only_themselves(pool: PgPool) {
    let commands = Commands::new(&pool);
    let mut generation = Generation::create(&pool, UserProfiles, 1, true).await;
    commands.register("ada_l", "Ada Lovelace", day(1)).await;
    commands.register("adam", "Adam Smith", day(1)).await;
    commands.register("_under", "Under Score", day(1)).await;
    generation.catch_up(&pool, 100).await;

    for everything in ["%", "%%", "\\", "%\\%"] {
        assert!(handles(&pool, everything).await.is_empty(), "`{everything}` matched something");
    }
    assert_eq!(handles(&pool, "_").await, vec!["_under"]);
    // `_` is not "any character": "ada_" is a handle prefix of ada_l only. (adam is still
    // similar to the word "ada", but earns no prefix points.)
    let matches = scores(&pool, "ada_").await;
    assert_eq!(matches.first().map(|(handle, _)| handle.as_str()), Some("ada_l"));
    assert!(matches.iter().all(|(handle, score)| handle == "ada_l" || *score < 1000), "{matches:?}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn search_pages_by_cursor_without_duplicates_or_gaps(pool: PgPool) {
    let commands = Commands::new(&pool);
    let mut generation = Generation::create(&pool, UserProfiles, 1, true).await;
    // Matches of several scores, with many ties (same score, ordered by user id).
    for n in 0..12 {
        commands.register(&format!("pager_{n:02}"), &format!("Pager {n}"), day(1)).await;
    }
    for n in 0..8 {
        commands.register(&format!("reader_{n:02}"), &format!("Pager Reader {n}"), day(1)).await;
    }
    for n in 0..5 {
        commands.register(&format!("other_{n:02}"), &format!("Someone Pager {n}"), day(1)).await;
    }
    commands.register("unrelated", "Nobody Here", day(1)).await;
    generation.catch_up(&pool, 100).await;

    let everything = ok(profiles::search(&pool, "pager", Uuid::nil(), &Default::default(), None, 100).await);
    assert_eq!(everything.len(), 25, "{everything:?}");
    let mut paged = Vec::new();
    let mut after: Option<SearchCursor> = None;
    let mut pages = 0;
    loop {
        let page = ok(profiles::search(&pool, "pager", Uuid::nil(), &Default::default(), after, 10).await);
        if page.is_empty() {
            break;
        }
        pages += 1;
        // Clients hold the cursor as a token between requests.
        let token = page.last().map(|(_, cursor)| cursor.encode()).unwrap_or_default();
        after = Some(SearchCursor::decode(&token).unwrap_or_else(|| panic!("bad token {token}")));
        paged.extend(page);
    }
    assert_eq!(pages, 3);
    assert_eq!(
        paged.iter().map(|(row, cursor)| (row.user_id, *cursor)).collect::<Vec<_>>(),
        everything.iter().map(|(row, cursor)| (row.user_id, *cursor)).collect::<Vec<_>>(),
        "paging returned other rows than one big page"
    );
    let distinct: BTreeSet<Uuid> = paged.iter().map(|(row, _)| row.user_id).collect();
    assert_eq!(distinct.len(), 25);
    // Best first, ties by user id.
    assert!(paged.windows(2).all(|w| (-w[0].1.score, w[0].1.user_id) < (-w[1].1.score, w[1].1.user_id)));
    assert!(paged.iter().take(12).all(|(row, _)| row.handle.starts_with("pager_")));
    // Limits above the maximum are cut to it.
    assert_eq!(
        ok(profiles::search(&pool, "pager", Uuid::nil(), &Default::default(), None, 10_000).await).len(),
        25
    );
}

// ----------------------------------------------------------------------------------------------
// user_sessions
// ----------------------------------------------------------------------------------------------

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn sessions_follow_sign_ins_refreshes_and_sign_outs(pool: PgPool) {
    let commands = Commands::new(&pool);
    let mut generation = Generation::create(&pool, UserSessions, 1, true).await;
    let ada = commands.register("ada_l", "Ada Lovelace", day(1)).await;
    let laptop = commands.sign_in(ada, 0, day(1)).await;
    let phone = commands.sign_in(ada, 0, day(2)).await;
    let tablet = commands.sign_in(ada, 0, day(3)).await;
    let updates = generation.catch_up(&pool, 100).await;
    assert!(updates.is_empty());

    commands.refresh(laptop, 0, 0, day(5)).await;
    commands.sign_out(phone, day(6)).await;
    generation.catch_up(&pool, 1).await;

    let laptop_row = ok(sessions::session(&pool, laptop).await).expect("no laptop");
    assert_eq!(laptop_row.user_id, ada);
    assert_eq!(laptop_row.device.as_deref(), Some("Firefox on Linux"));
    assert_eq!(laptop_row.ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(laptop_row.credentials_epoch, 0);
    assert_eq!((laptop_row.started_at, laptop_row.last_used_at), (day(1), day(5)));
    assert_eq!(laptop_row.expires_at, day(12));
    assert_eq!(laptop_row.revoked_at, None);

    let phone_row = ok(sessions::session(&pool, phone).await).expect("no phone");
    assert_eq!((phone_row.revoked_at, phone_row.revoked_reason.as_deref()), (Some(day(6)), Some("logout")));

    // Newest first; the signed-out phone is gone.
    assert_eq!(active(&pool, ada, day(7)).await, vec![tablet, laptop]);
    // The tablet's token expired on day 10, the refreshed laptop's lasts until day 12.
    assert_eq!(active(&pool, ada, day(11)).await, vec![laptop]);
    assert!(active(&pool, ada, day(12)).await.is_empty());
    assert!(ok(sessions::active_sessions(&pool, Uuid::now_v7(), day(7)).await).is_empty());
    assert_eq!(ok(sessions::session(&pool, Uuid::now_v7()).await), None);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_password_change_ends_only_the_sessions_of_earlier_epochs(pool: PgPool) {
    for (number, batch_size) in [(1, 1), (2, 3), (3, 100)] {
        let commands = Commands::new(&pool);
        let name = format!("ada{batch_size}");
        let mut generation = Generation::create(&pool, UserSessions, number, true).await;
        let ada = commands.register(&name, "Ada Lovelace", day(1)).await;
        let grace = commands.register(&format!("grace{batch_size}"), "Grace Hopper", day(1)).await;
        let laptop = commands.sign_in(ada, 0, day(1)).await;
        let phone = commands.sign_in(ada, 0, day(2)).await;
        let signed_out = commands.sign_in(ada, 0, day(2)).await;
        commands.sign_out(signed_out, day(3)).await;
        let graces = commands.sign_in(grace, 0, day(2)).await;
        // Applied before the change when batches are small, together with it when large.
        generation.catch_up(&pool, batch_size).await;

        commands.change_password(ada, 0, day(4)).await;
        // Signed in with the new password.
        let fresh = commands.sign_in(ada, 1, day(5)).await;
        // A sign-in that read the epoch just before the change, appended just after it.
        let late = commands.sign_in(ada, 0, day(4)).await;
        // A sign-out of a session the change already ended keeps the first ending.
        commands.sign_out(phone, day(6)).await;
        generation.catch_up(&pool, batch_size).await;

        let changed = Some("credentials_changed".to_owned());
        assert_eq!(ending(&pool, laptop).await, (Some(day(4)), changed.clone()), "batch size {batch_size}");
        assert_eq!(ending(&pool, phone).await, (Some(day(4)), changed.clone()), "batch size {batch_size}");
        assert_eq!(ending(&pool, signed_out).await, (Some(day(3)), Some("logout".to_owned())));
        assert_eq!(ending(&pool, late).await, (Some(day(4)), changed), "batch size {batch_size}");
        assert_eq!(ending(&pool, fresh).await, (None, None));
        assert_eq!(ending(&pool, graces).await, (None, None), "another user's sessions are untouched");
        let active: Vec<Uuid> = ok(sessions::active_sessions(&pool, ada, day(6)).await)
            .into_iter()
            .map(|s| s.session_id)
            .collect();
        assert_eq!(active, vec![fresh]);
    }
}

// ----------------------------------------------------------------------------------------------
// Rebuilds
// ----------------------------------------------------------------------------------------------

/// A bit of everything both read models fold, for rebuild comparisons.
async fn identity_history(commands: &Commands) {
    let ada = commands.register("ada_l", "Ada Lovelace", day(1)).await;
    let grace = commands.register("grace", "Grace Hopper", day(1)).await;
    let laptop = commands.sign_in(ada, 0, day(1)).await;
    let phone = commands.sign_in(ada, 0, day(2)).await;
    commands.sign_in(grace, 0, day(2)).await;
    commands
        .run::<Account>(ada, AccountCommand::VerifyEmail { token_hash: "verify".into(), at: day(2) })
        .await;
    commands.refresh(laptop, 0, 0, day(3)).await;
    commands.run::<Account>(ada, ada_king_the_analyst()).await;
    commands.sign_out(phone, day(3)).await;
    commands.change_password(ada, 0, day(4)).await;
    commands.sign_in(ada, 1, day(5)).await;
    commands
        .run::<Account>(grace, AccountCommand::ChangeHandle { handle: ok(Handle::parse("amazing_grace")) })
        .await;
    commands.run::<Account>(grace, AccountCommand::ChangeRole { role: Role::Admin, by: Role::Founder }).await;
    commands
        .run::<Account>(
            grace,
            AccountCommand::UpdateSettings(Settings { privacy: Privacy::Private, ..Settings::default() }),
        )
        .await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_rebuild_from_zero_gives_the_same_rows(pool: PgPool) {
    let commands = Commands::new(&pool);
    // Generation 1 follows the log as it grows, a few events per batch...
    let mut live_profiles = Generation::create(&pool, UserProfiles, 1, true).await;
    let mut live_sessions = Generation::create(&pool, UserSessions, 1, true).await;
    identity_history(&commands).await;
    live_profiles.catch_up(&pool, 3).await;
    live_sessions.catch_up(&pool, 2).await;
    identity_history(&commands).await;
    live_profiles.catch_up(&pool, 1).await;
    live_sessions.catch_up(&pool, 5).await;

    // ...generation 2 reads it all from zero in one batch, and takes over the views.
    let mut rebuilt_profiles = Generation::create(&pool, UserProfiles, 2, false).await;
    let mut rebuilt_sessions = Generation::create(&pool, UserSessions, 2, false).await;
    rebuilt_profiles.catch_up(&pool, 1000).await;
    rebuilt_sessions.catch_up(&pool, 1000).await;

    let profiles_before = live_profiles.dump(&pool).await;
    assert_eq!(profiles_before.len(), 8, "4 profiles and their 4 contacts");
    assert_eq!(rebuilt_profiles.dump(&pool).await, profiles_before);
    let sessions_before = live_sessions.dump(&pool).await;
    assert_eq!(sessions_before.len(), 18, "8 sessions, their 8 addresses and 2 epochs");
    assert_eq!(rebuilt_sessions.dump(&pool).await, sessions_before);

    // The rebuilt generation's trigram indexes resolved `gin_trgm_ops`, and search uses them.
    let trigram_indexes: Vec<String> = ok(sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes \
         WHERE schemaname = 'proj_user_profiles_g2' AND indexdef LIKE '%gin_trgm_ops%' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await);
    assert_eq!(trigram_indexes, vec!["user_profiles_handle_trgm", "user_profiles_name_trgm"]);
    let before = handles(&pool, "lovelase").await;
    rebuilt_profiles.point_views(&pool).await;
    rebuilt_sessions.point_views(&pool).await;
    assert_eq!(handles(&pool, "lovelase").await, before);
    // Grace's profiles are private: found by their exact handle, not by a prefix.
    assert_eq!(handles(&pool, "amazing_grace").await.len(), 2);
    assert!(handles(&pool, "amazing").await.is_empty());
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn search_finds_a_profile_that_is_not_public_only_by_its_exact_handle_or_for_its_owner(pool: PgPool) {
    let commands = Commands::new(&pool);
    let mut generation = Generation::create(&pool, UserProfiles, 1, true).await;
    let ada = commands.register("ada_lovelace", "Ada Lovelace", day(1)).await;
    commands
        .run::<Account>(
            ada,
            AccountCommand::UpdateSettings(Settings { privacy: Privacy::Friends, ..Settings::default() }),
        )
        .await;
    generation.catch_up(&pool, 10).await;
    let found = |viewer: Uuid, query: &'static str| {
        let pool = pool.clone();
        async move {
            ok(profiles::search(&pool, query, viewer, &Default::default(), None, 10).await)
                .into_iter()
                .map(|(row, _)| row.handle)
                .collect::<Vec<_>>()
        }
    };
    let stranger = Uuid::now_v7();
    for query in ["ada", "Lovelace", "ada_love", "lovelase"] {
        assert!(found(stranger, query).await.is_empty(), "{query}");
    }
    assert_eq!(found(stranger, "ada_lovelace").await, ["ada_lovelace"]);
    assert_eq!(found(stranger, "ADA_LOVELACE").await, ["ada_lovelace"], "handles fold case");
    assert_eq!(found(ada, "lovelace").await, ["ada_lovelace"], "one finds oneself");
}

// ----------------------------------------------------------------------------------------------
// personal data apart
// ----------------------------------------------------------------------------------------------

/// The columns of the views in `schema`, as `table.column`.
async fn view_columns(pool: &PgPool, schema: &str) -> BTreeSet<String> {
    let columns: Vec<String> = ok(sqlx::query_scalar(
        "SELECT table_name::text || '.' || column_name::text FROM information_schema.columns \
         WHERE table_schema = $1",
    )
    .bind(schema)
    .fetch_all(pool)
    .await);
    columns.into_iter().collect()
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn email_phone_and_ip_addresses_are_only_in_the_private_views(pool: PgPool) {
    let commands = Commands::new(&pool);
    let mut profiles_generation = Generation::create(&pool, UserProfiles, 1, true).await;
    let mut sessions_generation = Generation::create(&pool, UserSessions, 1, true).await;
    let ada = commands.register("ada_l", "Ada Lovelace", day(1)).await;
    let session = commands.sign_in(ada, 0, day(2)).await;
    profiles_generation.catch_up(&pool, 100).await;
    sessions_generation.catch_up(&pool, 100).await;

    // What analysts read: nothing that reaches or locates a person.
    let public = view_columns(&pool, "read_models").await;
    assert!(public.contains("user_profiles.handle") && public.contains("user_sessions.device"), "{public:?}");
    for personal in ["email", "email_verified", "phone", "ip"] {
        assert!(
            !public.iter().any(|column| column.ends_with(&format!(".{personal}"))),
            "{personal} in {public:?}"
        );
    }
    let private = view_columns(&pool, "private_read_models").await;
    for column in ["user_contacts.email", "user_contacts.phone", "user_session_addresses.ip"] {
        assert!(private.contains(column), "{column} not in {private:?}");
    }

    // The API still reads them, for the account's owner.
    assert_eq!(profile(&pool, ada).await.email.as_deref(), Some("ada_l@example.com"));
    let row = ok(sessions::session(&pool, session).await).unwrap_or_else(|| panic!("no session"));
    assert!(row.ip.is_some(), "{row:?}");
}
