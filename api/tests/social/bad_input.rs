//! Bad input gets a clear 4xx with a stable code, and appends nothing.

use loopync_testkit::{Options, event_count, spawn_app};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn bad_posts_and_comments_are_refused_and_append_nothing(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob) = (app.signup().await, app.signup().await);
    let post = app.posted(&ada, "a post", "private").await;
    let visible = app.posted(&ada, "a public post", "public").await;
    let events = event_count(&pool).await;

    let posts = [
        (json!({"text": ""}), 400, "empty_post", Some("text")),
        (json!({"text": "   \n "}), 400, "empty_post", Some("text")),
        (json!({}), 400, "empty_post", Some("text")),
        (json!({"text": "x".repeat(5001)}), 400, "text_too_long", Some("text")),
        (json!({"text": "nul \u{0} inside"}), 400, "invalid_request", Some("text")),
        (json!({"text": "hi", "mediaIds": ["m1"]}), 400, "media_not_supported", Some("mediaIds")),
        (json!({"text": "hi", "visibility": "secret"}), 400, "invalid_request", Some("visibility")),
        (json!({"text": 42}), 400, "invalid_request", Some("text")),
        (json!({"text": "hi", "colour": "red"}), 400, "invalid_request", Some("colour")),
        (json!({"repostOf": "not-a-uuid"}), 400, "invalid_request", Some("repostOf")),
    ];
    for (body, status, code, field) in posts {
        let reply = app.command(&ada.token, "/api/posts", &body, None).await;
        match field {
            Some(field) => reply.field_problem(status, code, field),
            None => reply.problem(status, code),
        };
    }
    let comments = [
        (json!({"text": ""}), 400, "empty_comment"),
        (json!({"text": "y".repeat(2001)}), 400, "text_too_long"),
        (json!({"text": "ok", "replyTo": Uuid::now_v7()}), 404, "comment_not_found"),
    ];
    for (body, status, code) in comments {
        app.command(&bob.token, &format!("/api/posts/{visible}/comment"), &body, None)
            .await
            .problem(status, code);
    }
    // A post one may not see does not exist, whatever is asked of it.
    app.comment_on(&bob, post, "hello?", None).await.problem(404, "post_not_found");
    app.like(&bob, Method::PUT, post).await.problem(404, "post_not_found");
    app.put_as(&bob.token, &format!("/api/posts/{post}/bookmark"), &json!({}))
        .await
        .problem(404, "post_not_found");
    app.patch_as(&bob.token, &format!("/api/posts/{post}"), &json!({"text": "x"}))
        .await
        .problem(404, "post_not_found");
    app.delete_as(&bob.token, &format!("/api/posts/{post}")).await.problem(404, "post_not_found");
    app.get_as(&bob.token, &format!("/api/posts/{post}/comments")).await.problem(404, "post_not_found");
    app.patch_as(&ada.token, &format!("/api/posts/{visible}"), &json!({"text": " "})).await.field_problem(
        400,
        "empty_post",
        "text",
    );
    app.get_as(&bob.token, "/api/posts/not-a-uuid").await.problem(400, "invalid_request");
    app.get_as(&bob.token, "/api/hashtags/not%20a%20tag/posts").await.problem(400, "invalid_hashtag");
    app.get_as(&bob.token, "/api/posts?mode=sideways").await.problem(400, "invalid_request");
    app.get_as(&bob.token, "/api/posts?cursor=nonsense").await.problem(400, "invalid_request");
    app.get_as(&bob.token, "/api/posts?mode=ranked&cursor=nonsense").await.problem(400, "invalid_request");
    assert_eq!(event_count(&pool).await, events, "nothing was appended");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn relationship_commands_about_nobody_or_oneself_are_refused(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob) = (app.signup().await, app.signup().await);
    let events = event_count(&pool).await;
    for action in ["request", "accept", "reject", "cancel", "block"] {
        app.friends(&ada, action, &ada).await.problem(422, "self_target");
        let nobody = json!({"userId": Uuid::now_v7()});
        app.command(&ada.token, &format!("/api/friends/{action}"), &nobody, None)
            .await
            .problem(404, "user_not_found");
        app.command(&ada.token, &format!("/api/friends/{action}"), &json!({"userId": "ada"}), None)
            .await
            .field_problem(400, "invalid_request", "userId");
        app.command(&ada.token, &format!("/api/friends/{action}"), &json!({}), None).await.field_problem(
            400,
            "invalid_request",
            "userId",
        );
    }
    app.friends(&ada, "accept", &bob).await.problem(404, "request_not_found");
    app.friends(&ada, "reject", &bob).await.problem(404, "request_not_found");
    app.delete_as(&ada.token, &format!("/api/friends/{}", bob.id)).await.problem(404, "not_friends");
    app.delete_as(&ada.token, &format!("/api/friends/block/{}", bob.id)).await.problem(404, "not_blocked");
    app.get_as(&ada.token, &format!("/api/friends/{}", Uuid::now_v7())).await.problem(404, "user_not_found");
    app.get_as(&ada.token, "/api/friends/requests?direction=sideways").await.problem(400, "invalid_request");
    assert_eq!(event_count(&pool).await, events, "nothing was appended");
}
