//! The binary's command line, run as a process:
//!
//! - `loopync serve` refuses settings that are only safe on a developer's machine — tokens
//!   signed with a random secret, the `dev` payment provider that confirms top-ups without
//!   payment — unless development mode is on, in which case it says in the log that they are in
//!   use. No forgotten setting makes money or lets sessions die with the process in production.
//! - `loopync admin set-role` makes a deployment's first founder (and any other role change an
//!   operator must make), through the command pipeline like any command.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use loopync_testkit::{Options, database_url, spawn_app};
use sqlx::PgPool;
use std::process::Command;

/// Runs `loopync serve` with exactly `envs` among Loopync's settings, against a database URL
/// that cannot be used: a server that gets past its settings stops there, with another error.
/// Returns the exit code and everything it printed.
fn serve(envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loopync"));
    for (name, _) in std::env::vars() {
        if name.starts_with("LOOPYNC_") {
            command.env_remove(name);
        }
    }
    let output = command
        .env("DATABASE_URL", "not-a-database-url")
        .env("RUST_LOG", "warn")
        .env("LOOPYNC_LOG_FORMAT", "json")
        .envs(envs.iter().copied())
        .arg("serve")
        .output()
        .expect("cannot run loopync");
    let printed =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), printed)
}

const SECRET: (&str, &str) = ("LOOPYNC_JWT_SECRET", "a-production-secret-of-at-least-32-bytes");
const WEBHOOK: [(&str, &str); 2] =
    [("LOOPYNC_PAYMENT_PROVIDER", "webhook"), ("LOOPYNC_PAYMENT_WEBHOOK_SECRET", "shared-with-the-provider")];
const REFUSED: &str = "refusing to serve with settings that are only safe in development";
const PAST_SETTINGS: &str = "DATABASE_URL is not a valid PostgreSQL URL";

#[test]
fn without_development_mode_the_defaults_are_refused_naming_each_setting() {
    let (code, printed) = serve(&[]);
    assert_ne!(code, Some(0), "{printed}");
    assert!(printed.contains(REFUSED), "{printed}");
    assert!(printed.contains("LOOPYNC_JWT_SECRET is not set"), "{printed}");
    assert!(printed.contains("LOOPYNC_PAYMENT_PROVIDER=dev"), "{printed}");
    assert!(printed.contains("LOOPYNC_DEV_MODE=true"), "the way out is named: {printed}");
    assert!(!printed.contains(PAST_SETTINGS), "refused before anything else: {printed}");
}

#[test]
fn the_dev_payment_provider_alone_is_refused() {
    let (code, printed) = serve(&[SECRET, ("LOOPYNC_PAYMENT_PROVIDER", "dev")]);
    assert_ne!(code, Some(0), "{printed}");
    assert!(printed.contains(REFUSED) && printed.contains("LOOPYNC_PAYMENT_PROVIDER=dev"), "{printed}");
    assert!(!printed.contains("LOOPYNC_JWT_SECRET is not set"), "{printed}");
}

#[test]
fn an_unset_token_secret_alone_is_refused() {
    let (code, printed) = serve(&WEBHOOK);
    assert_ne!(code, Some(0), "{printed}");
    assert!(printed.contains(REFUSED) && printed.contains("LOOPYNC_JWT_SECRET is not set"), "{printed}");
    assert!(!printed.contains("LOOPYNC_PAYMENT_PROVIDER=dev"), "{printed}");
}

#[test]
fn production_settings_pass() {
    let (_, printed) = serve(&[SECRET, WEBHOOK[0], WEBHOOK[1]]);
    assert!(!printed.contains(REFUSED), "{printed}");
    assert!(printed.contains(PAST_SETTINGS), "it went on to the database: {printed}");
}

#[test]
fn development_mode_allows_them_and_says_so_in_the_log() {
    let (_, printed) = serve(&[("LOOPYNC_DEV_MODE", "true")]);
    assert!(!printed.contains(REFUSED), "{printed}");
    assert!(printed.contains(PAST_SETTINGS), "it went on to the database: {printed}");
    let warnings: Vec<&str> = printed.lines().filter(|line| line.contains("development mode: ")).collect();
    assert_eq!(warnings.len(), 2, "one warning per development-only setting: {printed}");
    assert!(warnings.iter().all(|line| line.contains("\"level\":\"WARN\"")), "{warnings:?}");
}

/// Runs `loopync admin set-role` against the test's database.
fn set_role(database_url: &str, email: &str, role: &str) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_loopync"))
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .args(["admin", "set-role", "--email", email, "--role", role])
        .output()
        .expect("cannot run loopync");
    let printed =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), printed)
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn admin_set_role_makes_the_first_founder_through_the_pipeline(pool: PgPool) {
    let app = spawn_app(&pool, Options::default().without_projections()).await;
    let ada = app.signup_named("ada@example.com", "ada").await;
    let url = database_url(&pool).await;

    let (code, printed) = set_role(&url, "ADA@example.com", "founder");
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("User -> Founder"), "{printed}");
    let me = app.get_as(&ada.token, "/api/auth/me").await;
    assert_eq!(me.expect(200)["role"], "founder");
    let actor: String =
        sqlx::query_scalar("SELECT metadata->>'actor' FROM events WHERE event_type = 'account.role_changed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(actor.starts_with("operator:"), "recorded as the operator's doing: {actor}");

    // Signed in again (a token carries the role it was issued with), the founder promotes
    // others through the API.
    let founder = app.login_ok("ada@example.com", &ada.password).await;
    let grace = app.signup_named("grace@example.com", "grace").await;
    let body = serde_json::json!({"role": "admin"});
    app.put_as(&founder.token, &format!("/api/admin/users/{}/role", grace.id), &body).await.expect(200);

    // Again: nothing to change. Unknown and malformed addresses: refused, nothing appended.
    let (code, printed) = set_role(&url, "ada@example.com", "founder");
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("already has that role"), "{printed}");
    let events = loopync_testkit::event_count(&pool).await;
    for (email, why) in [("nobody@example.com", "no account is registered"), ("not an address", "--email")] {
        let (code, printed) = set_role(&url, email, "founder");
        assert_ne!(code, Some(0), "{printed}");
        assert!(printed.contains(why), "{printed}");
    }
    assert_eq!(loopync_testkit::event_count(&pool).await, events);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn projections_failed_retry_and_skip_answer_on_the_command_line(pool: PgPool) {
    let url = database_url(&pool).await;
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_loopync"))
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "warn")
            .arg("projections")
            .args(args)
            .output()
            .expect("cannot run loopync");
        let printed =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.code(), printed)
    };
    assert_eq!(run(&["failed"]), (Some(0), "no parked events\n".to_owned()));
    let (code, printed) = run(&["skip", "user_profiles", "42"]);
    assert_ne!(code, Some(0));
    assert!(printed.contains("user_profiles has no parked event at position 42"), "{printed}");
    let (code, printed) = run(&["retry", "no_such_projection", "42"]);
    assert_ne!(code, Some(0));
    assert!(printed.contains("unknown projection `no_such_projection`"), "{printed}");
}
