//! Races for real: crossed friend requests, one user liking a hundred times at once, two
//! hundred users liking one post at once, a block in the middle of likes and comments; and
//! the read model they leave equals the one a rebuild from the log builds.

use crate::read;
use futures::future::join_all;
use loopync_projections::social::SocialReadModel;
use loopync_testkit::{Options, TestApp, User, events_of_type, spawn_app};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::Duration;

/// `n` new users, signed up a few at a time (sign-ups hash passwords on a bounded queue).
async fn users(app: &TestApp, n: usize) -> Vec<User> {
    let mut users = Vec::with_capacity(n);
    while users.len() < n {
        let batch = (users.len()..n.min(users.len() + 16)).map(|_| app.signup());
        users.extend(join_all(batch).await);
    }
    users
}

/// Every row of the social read model, as text, in a stable order.
async fn dump(pool: &PgPool) -> Vec<String> {
    let mut rows = Vec::new();
    for (table, order) in [
        ("friendships", "user_id, friend_id"),
        ("friend_requests", "from_id, to_id"),
        ("follows", "follower_id, followee_id"),
        ("blocks", "blocker_id, blocked_id"),
        ("social_counts", "user_id"),
        ("posts", "post_id"),
        ("post_hashtags", "tag, post_id"),
        ("post_likes", "post_id, user_id"),
        ("comments", "comment_id"),
        ("bookmarks", "user_id, post_id"),
    ] {
        let table_rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT format('{table} %s', t) FROM read_models.{table} t ORDER BY {order}"
        ))
        .fetch_all(pool)
        .await
        .unwrap();
        rows.extend(table_rows);
    }
    rows
}

/// Rebuilds the social read model from the log and waits until readers see the new generation.
async fn rebuild(pool: &PgPool) {
    let generation = loopync_workers::rebuild::request(pool, SocialReadModel::NAME).await.unwrap().unwrap();
    for _ in 0..600 {
        let active: i32 = sqlx::query_scalar("SELECT active_generation FROM projections WHERE name = $1")
            .bind(SocialReadModel::NAME)
            .fetch_one(pool)
            .await
            .unwrap();
        if active == generation {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the social read model was not rebuilt within 30 s");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn crossed_friend_requests_end_as_one_friendship(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let people = users(&app, 40).await;
    let pairs: Vec<(&User, &User)> = people.chunks(2).map(|pair| (&pair[0], &pair[1])).collect();
    let asks = pairs.iter().flat_map(|(a, b)| [app.friends(a, "request", b), app.friends(b, "request", a)]);
    let answers = join_all(asks).await;
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for answer in &answers {
        *statuses.entry(answer.expect(200)["status"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    // Each pair: one request and one acceptance of it, whichever came first.
    assert_eq!(statuses, BTreeMap::from([("friends".to_owned(), 20), ("request_sent".to_owned(), 20)]));
    assert_eq!(events_of_type(&pool, "relationship.friends_made").await, 20);
    assert_eq!(events_of_type(&pool, "relationship.friend_requested").await, 20);
    for (a, b) in &pairs {
        let profile = read(&app, a, &format!("/api/users/{}", b.id)).await;
        assert_eq!(
            (profile["relationship"].clone(), profile["counts"]["friends"].clone()),
            (json!("friends"), json!(1))
        );
    }
    let before = dump(&pool).await;
    rebuild(&pool).await;
    assert_eq!(dump(&pool).await, before, "a rebuild builds the same graph");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_hundred_likes_of_one_user_at_once_count_once(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob) = (app.signup().await, app.signup().await);
    let post = app.posted(&ada, "like me once", "public").await;
    let answers = join_all((0..100).map(|_| app.like(&bob, Method::PUT, post))).await;
    assert!(answers.iter().all(|a| a.expect(200)["liked"] == true));
    assert_eq!(events_of_type(&pool, "like.added").await, 1);
    assert_eq!(read(&app, &ada, &format!("/api/posts/{post}")).await["likes"], 1);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn two_hundred_users_liking_one_post_at_once_count_two_hundred(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup().await;
    let post = app.posted(&ada, "the hot post", "public").await;
    let fans = users(&app, 200).await;
    let answers = join_all(fans.iter().map(|fan| app.like(fan, Method::PUT, post))).await;
    assert!(answers.iter().all(|a| a.expect(200)["liked"] == true));
    // No stream of the post's was written: no like could conflict with another.
    assert_eq!(app.conflicts(), 0);
    assert_eq!(events_of_type(&pool, "like.added").await, 200);
    assert_eq!(read(&app, &ada, &format!("/api/posts/{post}")).await["likes"], 200);
    let before = dump(&pool).await;
    rebuild(&pool).await;
    assert_eq!(dump(&pool).await, before, "the counts equal a rebuild's");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_block_in_the_middle_of_likes_and_comments_stops_them_and_counts_stay_exact(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, bob) = (app.signup().await, app.signup().await);
    app.befriend(&ada, &bob).await;
    let posts = [app.posted(&ada, "one", "friends").await, app.posted(&ada, "two", "public").await];
    app.caught_up().await;

    // Bob likes and comments in three waves: before the block, racing it, after it.
    let wave = |from: usize| {
        join_all((from..from + 20).map(|i| {
            let (app, bob, post) = (&app, &bob, posts[i % 2]);
            async move {
                if i % 3 == 0 {
                    app.like(bob, Method::POST, post).await
                } else {
                    app.comment_on(bob, post, &format!("comment {i}"), None).await
                }
            }
        }))
    };
    let before = wave(0).await;
    assert!(before.iter().all(|a| a.status == 200 || a.status == 201), "before the block");
    let (racing, blocked) = tokio::join!(wave(20), app.friends(&ada, "block", &bob));
    blocked.expect(204);
    let mut outcomes: BTreeMap<u16, usize> = BTreeMap::new();
    for answer in &racing {
        *outcomes.entry(answer.status).or_default() += 1;
        assert!(
            matches!(
                (answer.status, answer.body["code"].as_str()),
                (200 | 201, _) | (404, Some("post_not_found"))
            ),
            "{}: {}",
            answer.status,
            answer.text
        );
    }
    eprintln!("likes and comments racing a block: {outcomes:?}");
    app.caught_up().await;
    let after = wave(40).await;
    for answer in &after {
        answer.problem(404, "post_not_found");
    }

    // Each count is the rows it counts, and what a rebuild counts.
    let (mismatched,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM read_models.posts p WHERE p.likes <> (SELECT count(*) FROM read_models.post_likes l WHERE l.post_id = p.post_id) \
            OR p.comments <> (SELECT count(*) FROM read_models.comments c WHERE c.post_id = p.post_id AND c.deleted_at IS NULL)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(mismatched, 0);
    let comments: i64 = sqlx::query_scalar("SELECT coalesce(sum(comments), 0) FROM read_models.posts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(comments, events_of_type(&pool, "comment.added").await);
    let before = dump(&pool).await;
    rebuild(&pool).await;
    assert_eq!(dump(&pool).await, before);
}
