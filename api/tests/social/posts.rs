//! Posts, edits and deletions, likes, comments, bookmarks and reposts.

use crate::read;
use loopync_testkit::{Options, events_of_type, ids, spawn_app};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_post_is_answered_read_back_edited_and_deleted_everywhere(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob) = (app.signup().await, app.signup().await);
    let reply = app.post_text(&ada, &format!("  Sunrise #Harbour with @{}  ", bob.handle), "public").await;
    let created = reply.created().clone();
    assert_eq!(created["text"], format!("Sunrise #Harbour with @{}", bob.handle));
    assert_eq!(created["hashtags"], json!(["harbour"]));
    assert_eq!(created["author"]["id"], ada.id.to_string());
    assert_eq!((created["likes"].clone(), created["visibility"].clone()), (json!(0), json!("public")));
    let post: Uuid = created["id"].as_str().unwrap().parse().unwrap();

    let read_back = read(&app, &bob, &format!("/api/posts/{post}")).await;
    assert_eq!(read_back["text"], created["text"]);
    assert_eq!(ids(&read(&app, &bob, "/api/hashtags/%23HARBOUR/posts").await), vec![post.to_string()]);
    assert_eq!(ids(&read(&app, &bob, &format!("/api/users/{}/posts", ada.id)).await), vec![post.to_string()]);

    // Edits: the author's, within the window, each one an event; the hashtags follow.
    let edited =
        app.patch_as(&ada.token, &format!("/api/posts/{post}"), &json!({"text": "Sunset #bay"})).await;
    let edited = edited.expect(200).clone();
    assert_eq!((edited["text"].clone(), edited["hashtags"].clone()), (json!("Sunset #bay"), json!(["bay"])));
    assert!(edited["editedAt"].is_string(), "{edited}");
    app.patch_as(&bob.token, &format!("/api/posts/{post}"), &json!({"text": "mine now"}))
        .await
        .problem(403, "forbidden");
    assert!(ids(&read(&app, &bob, "/api/hashtags/harbour/posts").await).is_empty());
    assert_eq!(ids(&read(&app, &bob, "/api/hashtags/bay/posts").await), vec![post.to_string()]);
    assert_eq!(events_of_type(&pool, "post.edited").await, 1);

    // Deleting: the author's alone, and the post leaves every read path.
    app.like(&bob, Method::PUT, post).await.expect(200);
    app.put_as(&bob.token, &format!("/api/posts/{post}/bookmark"), &json!({})).await.expect(200);
    app.delete_as(&bob.token, &format!("/api/posts/{post}")).await.problem(403, "forbidden");
    app.delete_as(&ada.token, &format!("/api/posts/{post}")).await.expect(204);
    app.caught_up().await;
    app.get_as(&bob.token, &format!("/api/posts/{post}")).await.problem(404, "post_not_found");
    for path in ["/api/posts", "/api/bookmarks", "/api/hashtags/bay/posts", "/api/trending/posts"] {
        assert!(ids(&read(&app, &bob, path).await).is_empty(), "{path}");
    }
    assert!(ids(&read(&app, &bob, &format!("/api/users/{}/posts", ada.id)).await).is_empty());
    app.like(&bob, Method::PUT, post).await.problem(404, "post_not_found");
    app.comment_on(&bob, post, "late", None).await.problem(404, "post_not_found");
    app.delete_as(&ada.token, &format!("/api/posts/{post}")).await.problem(404, "post_not_found");
    let counts = read(&app, &ada, &format!("/api/users/{}", ada.id)).await["counts"].clone();
    assert_eq!(counts["posts"], 0);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn likes_are_idempotent_and_the_toggle_flips(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob) = (app.signup().await, app.signup().await);
    let post = app.posted(&ada, "like me", "public").await;
    let path = format!("/api/posts/{post}");
    for _ in 0..2 {
        assert_eq!(app.like(&bob, Method::PUT, post).await.expect(200)["liked"], true);
    }
    let seen = read(&app, &bob, &path).await;
    assert_eq!((seen["likes"].clone(), seen["liked"].clone()), (json!(1), json!(true)));
    assert_eq!(read(&app, &ada, &path).await["liked"], false, "liked is the viewer's own");
    assert_eq!(app.like(&bob, Method::DELETE, post).await.expect(200)["liked"], false);
    assert_eq!(app.like(&bob, Method::DELETE, post).await.expect(200)["liked"], false);
    assert_eq!(read(&app, &bob, &path).await["likes"], 0);
    assert_eq!(app.like(&bob, Method::POST, post).await.expect(200)["liked"], true);
    assert_eq!(app.like(&bob, Method::POST, post).await.expect(200)["liked"], false);
    assert_eq!(app.like(&ada, Method::POST, post).await.expect(200)["liked"], true);
    assert_eq!(read(&app, &bob, &path).await["likes"], 1);
    assert_eq!(events_of_type(&pool, "like.added").await, 3);
    app.like(&bob, Method::PUT, Uuid::now_v7()).await.problem(404, "post_not_found");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn comments_and_replies_are_listed_counted_and_deleted_by_whom_may(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob, cy) = (app.signup().await, app.signup().await, app.signup().await);
    let post = app.posted(&ada, "talk to me", "public").await;
    let first = app.comment_on(&bob, post, "  first!  ", None).await.created().clone();
    assert_eq!(first["text"], "first!");
    let first_id: Uuid = first["id"].as_str().unwrap().parse().unwrap();
    let reply = app.comment_on(&ada, post, "welcome", Some(first_id)).await.created().clone();
    assert_eq!(reply["replyTo"], first_id.to_string());
    let other = app.posted(&ada, "elsewhere", "public").await;
    app.comment_on(&cy, other, "wrong thread", Some(first_id)).await.problem(404, "comment_not_found");

    let listed = read(&app, &cy, &format!("/api/posts/{post}/comments")).await;
    assert_eq!(ids(&listed), vec![first_id.to_string(), reply["id"].as_str().unwrap().to_owned()]);
    assert_eq!(read(&app, &cy, &format!("/api/posts/{post}")).await["comments"], 2);

    // Cy may not delete Bob's comment; Ada (the post's author) may; Bob's is then gone.
    app.delete_as(&cy.token, &format!("/api/comments/{first_id}")).await.problem(403, "forbidden");
    app.delete_as(&ada.token, &format!("/api/comments/{first_id}")).await.expect(204);
    app.delete_as(&bob.token, &format!("/api/comments/{first_id}")).await.problem(404, "comment_not_found");
    assert_eq!(ids(&read(&app, &cy, &format!("/api/posts/{post}/comments")).await).len(), 1);
    assert_eq!(read(&app, &cy, &format!("/api/posts/{post}")).await["comments"], 1);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn bookmarks_are_private_and_newest_first(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob) = (app.signup().await, app.signup().await);
    let one = app.posted(&ada, "one", "public").await;
    let two = app.posted(&ada, "two", "public").await;
    for post in [one, two] {
        let kept = app.put_as(&bob.token, &format!("/api/posts/{post}/bookmark"), &json!({})).await;
        assert_eq!(kept.expect(200)["bookmarked"], true);
    }
    assert_eq!(ids(&read(&app, &bob, "/api/bookmarks").await), vec![two.to_string(), one.to_string()]);
    assert!(ids(&read(&app, &ada, "/api/bookmarks").await).is_empty(), "bookmarks are their owner's");
    let page = read(&app, &bob, "/api/bookmarks?limit=1").await;
    let next = page["pagination"]["nextCursor"].as_str().unwrap().to_owned();
    assert_eq!(
        ids(&read(&app, &bob, &format!("/api/bookmarks?limit=1&cursor={next}")).await),
        vec![one.to_string()]
    );
    app.delete_as(&bob.token, &format!("/api/posts/{two}/bookmark")).await.expect(200);
    assert_eq!(read(&app, &bob, &format!("/api/posts/{two}")).await["bookmarked"], false);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn public_posts_can_be_shared_and_others_cannot(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob) = (app.signup().await, app.signup().await);
    app.befriend(&ada, &bob).await;
    let public = app.posted(&ada, "share me", "public").await;
    let friends_only = app.posted(&ada, "between us", "friends").await;
    let private = app.posted(&ada, "my diary", "private").await;

    let repost = app.command(&bob.token, "/api/posts", &json!({"repostOf": public}), None).await;
    let repost = repost.created().clone();
    assert_eq!((repost["text"].clone(), repost["repostOf"].clone()), (json!(""), json!(public.to_string())));
    let quote = json!({"repostOf": public, "text": "so true"});
    app.command(&bob.token, "/api/posts", &quote, None).await.created();
    assert_eq!(read(&app, &ada, &format!("/api/posts/{public}")).await["shares"], 2);

    let share = |post: Uuid| json!({"repostOf": post});
    app.command(&bob.token, "/api/posts", &share(friends_only), None).await.problem(422, "not_shareable");
    app.command(&bob.token, "/api/posts", &share(private), None).await.problem(404, "post_not_found");
    app.command(&bob.token, "/api/posts", &share(Uuid::now_v7()), None).await.problem(404, "post_not_found");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_retried_post_with_the_same_key_is_the_same_post(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup().await;
    let body = json!({"text": "only once", "visibility": "friends"});
    let first = app.command(&ada.token, "/api/posts", &body, Some("post-1")).await.created().clone();
    let again = app.command(&ada.token, "/api/posts", &body, Some("post-1")).await.created().clone();
    assert_eq!(first["id"], again["id"]);
    assert_eq!(events_of_type(&pool, "post.created").await, 1);
    let other = json!({"text": "something else"});
    app.command(&ada.token, "/api/posts", &other, Some("post-1"))
        .await
        .problem(422, "idempotency_key_reused");
}
