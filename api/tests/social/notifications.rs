//! Notifications: derived from friend requests, likes, comments, replies, mentions and
//! reposts; grouped; read, read all, deleted; muted by kind; hidden from blocked users; push
//! devices tied to their session; equal to a rebuild.

use crate::read;
use loopync_testkit::{Options, TestApp, User, ids, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

/// `user`'s notifications (caught up): `(kind, actorCount, summary, read)` of each entry.
async fn inbox(app: &TestApp, user: &User) -> Vec<(String, i64, String, bool)> {
    let page = read(app, user, "/api/notifications").await;
    entries(&page)
}

fn entries(page: &Value) -> Vec<(String, i64, String, bool)> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["kind"].as_str().unwrap().to_owned(),
                n["actorCount"].as_i64().unwrap(),
                n["summary"].as_str().unwrap().to_owned(),
                n["read"].as_bool().unwrap(),
            )
        })
        .collect()
}

async fn unread(app: &TestApp, user: &User) -> i64 {
    read(app, user, "/api/notifications/unread-count").await["count"].as_i64().unwrap()
}

/// A user with a display name of their handle (what summaries show).
fn name(user: &User) -> &str {
    &user.handle
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn social_events_notify_the_right_people_grouped(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob, cy, dee) =
        (app.signup().await, app.signup().await, app.signup().await, app.signup().await);
    app.friends(&bob, "request", &ada).await.expect(200);
    assert_eq!(
        inbox(&app, &ada).await,
        vec![("friend_request".into(), 1, format!("{} asked to be your friend", name(&bob)), false)]
    );
    app.friends(&ada, "accept", &bob).await.expect(200);
    assert_eq!(inbox(&app, &bob).await[0].0, "friend_accepted");

    // Three likes of one post are one entry; one taken back leaves two; one's own is nothing.
    let post = app.posted(&ada, "like this", "public").await;
    for fan in [&bob, &cy, &dee] {
        app.like(fan, Method::PUT, post).await.expect(200);
    }
    app.like(&ada, Method::PUT, post).await.expect(200);
    let entries = inbox(&app, &ada).await;
    assert_eq!(entries[0], ("like".into(), 3, format!("{} and 2 others liked your post", name(&dee)), false));
    app.like(&cy, Method::DELETE, post).await.expect(200);
    assert_eq!(inbox(&app, &ada).await[0].1, 2);

    // A comment notifies the post's author; a reply, the comment's; a mention, the mentioned
    // who may see the post.
    let comment = app.comment_on(&cy, post, &format!("hi @{}", dee.handle), None).await.created().clone();
    let comment_id: uuid::Uuid = comment["id"].as_str().unwrap().parse().unwrap();
    app.comment_on(&ada, post, "thanks!", Some(comment_id)).await.created();
    assert_eq!(inbox(&app, &ada).await[0].0, "comment");
    let cy_kinds: Vec<String> = inbox(&app, &cy).await.into_iter().map(|e| e.0).collect();
    assert_eq!(cy_kinds, vec!["reply"]);
    let dee_kinds: Vec<String> = inbox(&app, &dee).await.into_iter().map(|e| e.0).collect();
    assert_eq!(dee_kinds, vec!["mention"]);
    // A friends-only post mentioning a stranger tells them nothing; a friend, yes.
    app.posted(&ada, &format!("between friends @{} @{}", dee.handle, bob.handle), "friends").await;
    assert_eq!(inbox(&app, &dee).await.len(), 1);
    assert_eq!(inbox(&app, &bob).await[0].0, "mention");
    // A repost notifies the original's author.
    app.command(&bob.token, "/api/posts", &json!({"repostOf": post}), None).await.created();
    assert_eq!(inbox(&app, &ada).await[0].0, "repost");

    // Deleting the comment takes its notifications away.
    app.delete_as(&cy.token, &format!("/api/comments/{comment_id}")).await.expect(204);
    assert!(inbox(&app, &dee).await.is_empty());
    assert_eq!(
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM live_updates WHERE user_id = $1 AND kind = 'notification_created'"
        )
        .bind(ada.id)
        .fetch_one(&pool)
        .await
        .unwrap(),
        6,
        "a live frame for each notification Ada got: the request, three likes, the comment, the repost"
    );
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn reading_reads_a_group_and_read_all_leaves_later_ones_unread(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob, cy) = (app.signup().await, app.signup().await, app.signup().await);
    let post = app.posted(&ada, "read me", "public").await;
    app.like(&bob, Method::PUT, post).await.expect(200);
    app.like(&cy, Method::PUT, post).await.expect(200);
    app.friends(&bob, "request", &ada).await.expect(200);
    assert_eq!(unread(&app, &ada).await, 2);

    let page = read(&app, &ada, "/api/notifications").await;
    let like_entry =
        page["data"].as_array().unwrap().iter().find(|n| n["kind"] == "like").unwrap()["id"].clone();
    let path = format!("/api/notifications/{}/read", like_entry.as_str().unwrap());
    app.call(Method::PATCH, &path, Some(&ada.token), None, None).await.expect(200);
    assert_eq!(unread(&app, &ada).await, 1, "both likes read at once");
    let unread_only = read(&app, &ada, "/api/notifications?unread=true").await;
    assert_eq!(entries(&unread_only).into_iter().map(|e| e.0).collect::<Vec<_>>(), vec!["friend_request"]);

    app.call(Method::POST, "/api/notifications/read-all", Some(&ada.token), None, None).await.expect(204);
    assert_eq!(unread(&app, &ada).await, 0);
    app.comment_on(&cy, post, "later", None).await.created();
    assert_eq!(unread(&app, &ada).await, 1, "what came after read-all is unread");

    // Deleting: one's own only.
    let page = read(&app, &ada, "/api/notifications").await;
    let newest = page["data"][0]["id"].as_str().unwrap().to_owned();
    app.delete_as(&bob.token, &format!("/api/notifications/{newest}"))
        .await
        .problem(404, "notification_not_found");
    app.call(Method::PATCH, &format!("/api/notifications/{newest}/read"), Some(&bob.token), None, None)
        .await
        .problem(404, "notification_not_found");
    app.delete_as(&ada.token, &format!("/api/notifications/{newest}")).await.expect(204);
    assert_eq!(ids(&read(&app, &ada, "/api/notifications").await).len(), 2);
    assert_eq!(unread(&app, &ada).await, 0);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn muted_kinds_and_blocked_users_notify_nobody(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob, cy) = (app.signup().await, app.signup().await, app.signup().await);
    let post = app.posted(&ada, "quiet please", "public").await;
    let muted = json!({"friendRequest": true, "friendAccepted": true, "like": false, "comment": true, "reply": true, "mention": true, "repost": true});
    assert_eq!(
        app.put_as(&ada.token, "/api/notifications/settings", &muted).await.expect(200)["like"],
        false
    );
    assert_eq!(app.get_as(&ada.token, "/api/notifications/settings").await.expect(200).clone(), muted);
    app.like(&bob, Method::PUT, post).await.expect(200);
    app.comment_on(&bob, post, "noisy", None).await.created();
    app.comment_on(&cy, post, "me too", None).await.created();
    let kinds: Vec<String> = inbox(&app, &ada).await.into_iter().map(|e| e.0).collect();
    assert_eq!(kinds, vec!["comment", "comment"], "no like");

    // Ada blocks Bob: his comment's notification is no longer shown, and nothing new comes.
    app.friends(&ada, "block", &bob).await.expect(204);
    assert_eq!(inbox(&app, &ada).await.len(), 1);
    app.friends(&bob, "request", &ada).await.problem(404, "user_not_found");
    assert_eq!(unread(&app, &ada).await, 1);
    app.put_as(&ada.token, "/api/notifications/settings", &json!({"like": true}))
        .await
        .problem(400, "invalid_request");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_push_device_lasts_as_long_as_its_session(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup().await;
    let register = |token: &str| json!({"token": token, "platform": "ios"});
    app.command(&ada.token, "/api/notifications/register", &register("apns:abc123"), None).await.expect(204);
    app.command(&ada.token, "/api/notifications/register", &register("apns:abc123"), None).await.expect(204);
    app.command(&ada.token, "/api/notifications/register", &register("bad token"), None).await.field_problem(
        400,
        "invalid_push_token",
        "token",
    );
    app.command(&ada.token, "/api/notifications/register", &json!({"token": "x", "platform": "fax"}), None)
        .await
        .problem(400, "invalid_request");
    app.caught_up().await;
    let devices = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT token FROM private_read_models.push_devices WHERE user_id = $1",
        )
        .bind(ada.id)
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    assert_eq!(devices().await, vec!["apns:abc123".to_owned()]);
    app.call(Method::POST, "/api/auth/logout", Some(&ada.token), None, None).await.expect(204);
    app.caught_up().await;
    assert!(devices().await.is_empty(), "signed out: the device gets nothing more");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn new_notifications_are_pushed_once_to_live_devices(pool: PgPool) {
    use loopync_delivery::RecordingPushSender;
    use loopync_workers::notifications::push::{PUSH_WINDOW, push_new};
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob) = (app.signup().await, app.signup().await);
    let register = json!({"token": "fcm:ada-phone-0001", "platform": "android"});
    app.command(&ada.token, "/api/notifications/register", &register, None).await.expect(204);
    let post = app.posted(&ada, "push me", "public").await;
    app.like(&bob, Method::PUT, post).await.expect(200);
    app.caught_up().await;

    let pushes = RecordingPushSender::new();
    assert_eq!(push_new(&pool, &pushes, PUSH_WINDOW, 100).await.unwrap(), 1);
    assert_eq!(push_new(&pool, &pushes, PUSH_WINDOW, 100).await.unwrap(), 0, "never twice");
    let sent = pushes.messages();
    assert_eq!((sent[0].token.as_str(), sent[0].platform.as_str()), ("fcm:ada-phone-0001", "android"));
    assert_eq!(sent[0].body, format!("{} liked your post", bob.handle));

    // Signed out: the device gets nothing more.
    app.call(Method::POST, "/api/auth/logout", Some(&ada.token), None, None).await.expect(204);
    app.comment_on(&bob, post, "hello?", None).await.created();
    app.caught_up().await;
    assert_eq!(push_new(&pool, &pushes, PUSH_WINDOW, 100).await.unwrap(), 0);
    assert_eq!(pushes.messages().len(), 1);
}
