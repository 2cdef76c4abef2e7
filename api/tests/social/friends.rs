//! Friend requests, friendships, follows and blocks, and what they show on profiles and lists.

use crate::read;
use loopync_testkit::{Options, ids, spawn_app};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_request_and_an_acceptance_make_friends_who_show_in_lists_and_counts(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob, cy) = (app.signup().await, app.signup().await, app.signup().await);

    let asked = app.friends(&ada, "request", &bob).await;
    assert_eq!(asked.expect(200)["status"], "request_sent");
    let incoming = read(&app, &bob, "/api/friends/requests").await;
    assert_eq!(ids(&incoming), vec![ada.id.to_string()]);
    let outgoing = read(&app, &ada, "/api/friends/requests?direction=outgoing").await;
    assert_eq!(ids(&outgoing), vec![bob.id.to_string()]);
    let profile = read(&app, &ada, &format!("/api/users/{}", bob.id)).await;
    assert_eq!(profile["relationship"], "request_sent");

    // Only the addressee accepts.
    app.friends(&ada, "accept", &bob).await.problem(404, "request_not_found");
    let accepted = app.friends(&bob, "accept", &ada).await;
    assert_eq!(accepted.expect(200)["status"], "friends");

    assert_eq!(ids(&read(&app, &cy, &format!("/api/friends/{}", ada.id)).await), vec![bob.id.to_string()]);
    assert_eq!(ids(&read(&app, &ada, "/api/friends/requests").await), Vec::<String>::new());
    let profile = read(&app, &ada, &format!("/api/users/{}", bob.id)).await;
    assert_eq!(profile["relationship"], "friends");
    assert_eq!(profile["counts"], json!({"friends": 1, "followers": 0, "following": 0, "posts": 0}));

    // Asking again is refused; unfriending goes back to nothing, for both.
    app.friends(&ada, "request", &bob).await.problem(409, "already_friends");
    app.delete_as(&bob.token, &format!("/api/friends/{}", ada.id)).await.expect(204);
    let profile = read(&app, &bob, &format!("/api/users/{}", ada.id)).await;
    assert_eq!(
        (profile["relationship"].clone(), profile["counts"]["friends"].clone()),
        (json!("none"), json!(0))
    );
    app.delete_as(&bob.token, &format!("/api/friends/{}", ada.id)).await.problem(404, "not_friends");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn rejected_and_cancelled_requests_leave_nothing_behind(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob) = (app.signup().await, app.signup().await);
    app.friends(&ada, "request", &bob).await.expect(200);
    app.friends(&bob, "cancel", &ada).await.problem(404, "request_not_found");
    app.friends(&bob, "reject", &ada).await.expect(204);
    assert!(ids(&read(&app, &bob, "/api/friends/requests").await).is_empty());
    app.friends(&ada, "request", &bob).await.expect(200);
    app.friends(&ada, "cancel", &bob).await.expect(204);
    assert!(ids(&read(&app, &bob, "/api/friends/requests").await).is_empty());
    app.friends(&bob, "accept", &ada).await.problem(404, "request_not_found");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn mutual_friends_and_suggestions_come_from_friends_of_friends(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob, cy, dee, eve) =
        (app.signup().await, app.signup().await, app.signup().await, app.signup().await, app.signup().await);
    // Ada — Bob, Ada — Cy; Bob — Dee, Cy — Dee; Bob — Eve. Dee shares two friends with Ada.
    for (a, b) in [(&ada, &bob), (&ada, &cy), (&bob, &dee), (&cy, &dee), (&bob, &eve)] {
        app.befriend(a, b).await;
    }
    let suggestions = read(&app, &ada, "/api/friends/suggestions").await;
    let suggested: Vec<(String, i64)> = suggestions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_owned(), s["mutualFriends"].as_i64().unwrap()))
        .collect();
    assert_eq!(suggested, vec![(dee.id.to_string(), 2), (eve.id.to_string(), 1)]);
    let mut mutual = ids(&read(&app, &ada, &format!("/api/friends/{}/mutual", dee.id)).await);
    mutual.sort();
    let mut expected = vec![bob.id.to_string(), cy.id.to_string()];
    expected.sort();
    assert_eq!(mutual, expected);

    // A pending request, or a block, takes a suggestion away.
    app.friends(&ada, "request", &dee).await.expect(200);
    app.friends(&eve, "block", &ada).await.expect(204);
    assert!(ids(&read(&app, &ada, "/api/friends/suggestions").await).is_empty());
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_block_ends_everything_between_two_users_and_hides_each_from_the_other(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob) = (app.signup().await, app.signup().await);
    app.befriend(&ada, &bob).await;
    app.follow(&bob, &ada).await.expect(204);
    app.follow(&ada, &bob).await.expect(204);
    let post = app.posted(&ada, "hello #world", "public").await;

    app.friends(&ada, "block", &bob).await.expect(204);
    // Blocking twice changes nothing.
    app.friends(&ada, "block", &bob).await.expect(204);
    let counts = read(&app, &ada, &format!("/api/users/{}", ada.id)).await["counts"].clone();
    assert_eq!(counts, json!({"friends": 0, "followers": 0, "following": 0, "posts": 1}));
    assert_eq!(ids(&read(&app, &ada, "/api/friends/blocked").await), vec![bob.id.to_string()]);

    // Bob finds nobody: the profile, the post and its comments are not there for him.
    app.get_as(&bob.token, &format!("/api/users/{}", ada.id)).await.problem(404, "user_not_found");
    app.get_as(&bob.token, &format!("/api/posts/{post}")).await.problem(404, "post_not_found");
    app.get_as(&bob.token, &format!("/api/users/{}/posts", ada.id)).await.problem(404, "user_not_found");
    app.like(&bob, Method::PUT, post).await.problem(404, "post_not_found");
    app.friends(&bob, "request", &ada).await.problem(404, "user_not_found");
    app.follow(&bob, &ada).await.problem(404, "user_not_found");
    let found = read(&app, &bob, &format!("/api/users/search?q={}", ada.handle)).await;
    assert!(ids(&found).is_empty(), "a blocker is not found by the blocked: {found}");
    // Ada, who blocks, sees Bob's card and is told why she cannot ask him.
    let card = read(&app, &ada, &format!("/api/users/{}", bob.id)).await;
    assert_eq!((card["relationship"].clone(), card["private"].clone()), (json!("blocked"), json!(true)));
    app.friends(&ada, "request", &bob).await.problem(403, "blocked");

    // Only the blocker lifts the block; friendship does not come back by itself.
    app.call(Method::DELETE, &format!("/api/friends/block/{}", ada.id), Some(&bob.token), None, None)
        .await
        .problem(404, "not_blocked");
    app.call(Method::DELETE, &format!("/api/friends/block/{}", bob.id), Some(&ada.token), None, None)
        .await
        .expect(204);
    let profile = read(&app, &bob, &format!("/api/users/{}", ada.id)).await;
    assert_eq!(profile["relationship"], "none");
    app.get_as(&bob.token, &format!("/api/posts/{post}")).await.expect(200);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn public_profiles_can_be_followed_and_others_cannot(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob) = (app.signup().await, app.signup().await);
    app.follow(&bob, &ada).await.expect(204);
    app.follow(&bob, &ada).await.expect(204);
    assert_eq!(
        ids(&read(&app, &ada, &format!("/api/users/{}/followers", ada.id)).await),
        vec![bob.id.to_string()]
    );
    assert_eq!(
        ids(&read(&app, &ada, &format!("/api/users/{}/following", bob.id)).await),
        vec![ada.id.to_string()]
    );
    let counts = read(&app, &bob, &format!("/api/users/{}", ada.id)).await["counts"].clone();
    assert_eq!(counts["followers"], 1);
    app.call(Method::DELETE, &format!("/api/users/{}/follow", ada.id), Some(&bob.token), None, None)
        .await
        .expect(204);
    assert!(ids(&read(&app, &ada, &format!("/api/users/{}/followers", ada.id)).await).is_empty());

    app.put_as(
        &ada.token,
        &format!("/api/users/{}/settings", ada.id),
        &json!({"privacy": "friends", "notifications": true, "darkMode": false}),
    )
    .await
    .expect(200);
    app.caught_up().await;
    app.follow(&bob, &ada).await.problem(403, "not_followable");
    app.get_as(&bob.token, &format!("/api/users/{}/followers", ada.id)).await.problem(403, "profile_hidden");
    app.follow(&ada, &ada).await.problem(422, "self_target");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_handle_is_checked_against_its_claim_and_a_profile_is_found_by_it(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup().await;
    let bob = app.signup().await;
    let taken = app.get(&format!("/api/auth/check-handle/@{}", ada.handle.to_uppercase())).await;
    assert_eq!(
        taken.expect(200).clone(),
        json!({"handle": ada.handle, "available": false, "reason": "taken"})
    );
    let free = app.get("/api/auth/check-handle/nobody_has_this").await;
    assert_eq!(free.expect(200)["available"], true);
    let invalid = app.get("/api/auth/check-handle/no").await;
    assert_eq!(invalid.expect(200)["reason"], "invalid");
    let profile = read(&app, &bob, &format!("/api/users/handle/@{}", ada.handle)).await;
    assert_eq!(profile["id"], ada.id.to_string());
    app.get_as(&bob.token, "/api/users/handle/nobody_has_this").await.problem(404, "user_not_found");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn presence_follows_the_relation_friends_see_friends_only_profiles_and_blocks_hide(pool: PgPool) {
    let options = Options::default()
        .with_nats(loopync_testkit::nats().await)
        .with_realtime(loopync_api::realtime::RealtimeConfig::default());
    let app = spawn_app(&pool, options).await;
    let (ada, friend, stranger) = (app.signup().await, app.signup().await, app.signup().await);
    app.befriend(&ada, &friend).await;
    let settings = json!({"privacy": "friends", "notifications": true, "darkMode": false});
    app.put_as(&ada.token, &format!("/api/users/{}/settings", ada.id), &settings).await.expect(200);
    app.caught_up().await;
    let presence = format!("/api/users/{}/presence", ada.id);
    assert_eq!(app.get_as(&friend.token, &presence).await.expect(200)["status"], "offline");
    app.get_as(&stranger.token, &presence).await.problem(403, "presence_forbidden");
    app.friends(&ada, "block", &friend).await.expect(204);
    app.caught_up().await;
    app.get_as(&friend.token, &presence).await.problem(403, "presence_forbidden");
}
