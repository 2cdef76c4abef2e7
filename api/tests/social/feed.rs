//! The feed: pages that neither repeat nor skip while posts and likes keep arriving, the
//! ranking, and the live `feed_item` a friend's post sends.

use crate::read;
use futures::future::join_all;
use loopync_testkit::{Options, TestApp, User, ids, spawn_app};
use reqwest::Method;
use sqlx::PgPool;
use std::collections::BTreeSet;
use uuid::Uuid;

/// Every page of `path` as `user`, following `nextCursor`, while `between` runs after each
/// page (new posts and likes arriving mid-pagination).
async fn all_pages<F, Fut>(app: &TestApp, user: &User, path: &str, mut between: F) -> Vec<String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(cursor) => format!("{path}{separator}limit=4&cursor={cursor}"),
            None => format!("{path}{separator}limit=4"),
        };
        let page = read(app, user, &url).await;
        seen.extend(ids(&page));
        between().await;
        match page["pagination"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
}

/// Ada with three friends who have posted `posts` posts between them.
async fn ada_and_friends(app: &TestApp, posts: usize) -> (User, Vec<User>, Vec<Uuid>) {
    let ada = app.signup().await;
    let friends = vec![app.signup().await, app.signup().await, app.signup().await];
    for friend in &friends {
        app.befriend(&ada, friend).await;
    }
    let mut ids = Vec::new();
    for i in 0..posts {
        ids.push(app.posted(&friends[i % friends.len()], &format!("post {i}"), "public").await);
    }
    (ada, friends, ids)
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn latest_pages_neither_repeat_nor_skip_while_friends_keep_posting(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, friends, posted) = ada_and_friends(&app, 14).await;
    let mut more = 0;
    let seen = all_pages(&app, &ada, "/api/posts", || {
        more += 1;
        let (app, friend, n) = (&app, &friends[more % 3], more);
        async move {
            app.posted(friend, &format!("later {n}"), "public").await;
        }
    })
    .await;
    // Newest first, each exactly once; what was posted after the first page is not in it.
    let expected: Vec<String> = posted.iter().rev().map(Uuid::to_string).collect();
    assert_eq!(seen, expected);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn the_ranked_feed_orders_by_engagement_and_its_pages_keep_the_first_ranking(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, friends, posted) = ada_and_friends(&app, 13).await;
    // Engagement: the oldest post is liked by everyone, the second oldest commented on.
    for user in friends.iter().chain([&ada]) {
        app.like(user, Method::PUT, posted[0]).await.expect(200);
    }
    app.comment_on(&ada, posted[1], "nice", None).await.created();
    let first = read(&app, &ada, "/api/posts?mode=ranked&limit=3").await;
    let top = ids(&first);
    assert_eq!(top[0], posted[0].to_string(), "4 likes first");
    assert_eq!(top[1], posted[1].to_string(), "a comment (worth 2 likes) next");
    assert_eq!(top[2], posted[12].to_string(), "then the newest");

    // Page through while new posts and likes reshuffle the live ranking.
    let mut round = 0;
    let seen = all_pages(&app, &ada, "/api/posts?mode=ranked", || {
        round += 1;
        let (app, friends, posted) = (&app, &friends, &posted);
        async move {
            let friend = &friends[round % 3];
            app.posted(friend, &format!("interloper {round}"), "friends").await;
            let likers = friends.iter().map(|f| app.like(f, Method::PUT, posted[12 - round.min(12)]));
            join_all(likers).await;
        }
    })
    .await;
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "no post twice: {seen:?}");
    let expected: BTreeSet<String> = posted.iter().map(Uuid::to_string).collect();
    assert_eq!(
        seen.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "every post of the first ranking, and only those"
    );

    // A cursor is its viewer's: another user's, or a made-up one, is refused.
    let page = read(&app, &ada, "/api/posts?mode=ranked&limit=2").await;
    let cursor = page["pagination"]["nextCursor"].as_str().unwrap().to_owned();
    let stolen = app.get_as(&friends[0].token, &format!("/api/posts?mode=ranked&cursor={cursor}")).await;
    stolen.problem(400, "invalid_request");
    let latest = app.get_as(&ada.token, &format!("/api/posts?cursor={cursor}")).await;
    latest.problem(400, "invalid_request");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_post_tells_friends_and_followers_but_not_strangers(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, friend, follower, stranger) =
        (app.signup().await, app.signup().await, app.signup().await, app.signup().await);
    app.befriend(&ada, &friend).await;
    app.follow(&follower, &ada).await.expect(204);
    let public = app.posted(&ada, "everyone", "public").await;
    let friends_only = app.posted(&ada, "friends", "friends").await;
    app.posted(&ada, "nobody", "private").await;
    app.caught_up().await;
    let told = |user: &User| {
        let (pool, id) = (pool.clone(), user.id);
        async move {
            let posts: Vec<String> = sqlx::query_scalar(
                "SELECT data->>'postId' FROM live_updates WHERE user_id = $1 AND kind = 'feed_item' ORDER BY seq",
            )
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap();
            posts
        }
    };
    assert_eq!(told(&friend).await, vec![public.to_string(), friends_only.to_string()]);
    assert_eq!(told(&follower).await, vec![public.to_string()]);
    assert!(told(&stranger).await.is_empty());
    assert!(told(&ada).await.is_empty(), "no news of one's own post");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_ranking_past_its_hour_is_dropped_and_its_cursor_refused(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, _, _) = ada_and_friends(&app, 5).await;
    let page = read(&app, &ada, "/api/posts?mode=ranked&limit=2").await;
    let cursor = page["pagination"]["nextCursor"].as_str().unwrap().to_owned();
    let next = format!("/api/posts?mode=ranked&limit=2&cursor={cursor}");
    app.get_as(&ada.token, &next).await.expect(200);
    let retention = loopync_workers::social::snapshot_expiry::SNAPSHOT_RETENTION;
    assert_eq!(
        loopync_workers::social::snapshot_expiry::expire_snapshots(&pool, retention).await.unwrap(),
        0
    );
    sqlx::query("UPDATE feed_snapshots SET created_at = now() - interval '61 minutes'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        loopync_workers::social::snapshot_expiry::expire_snapshots(&pool, retention).await.unwrap(),
        1
    );
    app.get_as(&ada.token, &next).await.field_problem(400, "invalid_request", "cursor");
}
