//! Worker processes for real: the owner of a projection (LoopPay's ledger read model) is killed
//! with SIGKILL mid-stream, a second worker process takes the projection over within seconds
//! and finishes it, and the `loopync projections` commands report and rebuild it.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use loopync_projections::looppay::LedgerReadModel;
use loopync_testkit::{database_url, node_pipeline};
use loopync_workers::status::owner;
use sqlx::PgPool;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn loopync(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loopync"));
    command
        .env("DATABASE_URL", database_url)
        .env("NATS_URL", std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()))
        .env("RUST_LOG", "warn")
        .env("LOOPYNC_PROJECTION_BATCH_SIZE", "50");
    command
}

/// A worker process, killed when dropped so a failing test leaves nothing behind.
struct Worker(Child);

impl Worker {
    fn start(database_url: &str, id: &str) -> Self {
        let child = loopync(database_url)
            .arg("worker")
            .env("LOOPYNC_WORKER_ID", id)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start a worker");
        Self(child)
    }

    fn kill(&mut self) {
        // SIGKILL: no shutdown hook runs, the lease connection just vanishes.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_for_owner(pool: &PgPool, expected: &str, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if owner(pool, LedgerReadModel::NAME).await.ok().flatten().as_deref() == Some(expected) {
            return started.elapsed();
        }
        assert!(started.elapsed() < timeout, "{expected} did not take the projection within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_killed_owner_is_replaced_within_seconds_and_nothing_is_applied_twice(pool: PgPool) {
    let url = database_url(&pool).await;
    let mut first = Worker::start(&url, "worker-a");
    wait_for_owner(&pool, "worker-a", Duration::from_secs(30)).await;
    let mut second = Worker::start(&url, "worker-b");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        owner(&pool, LedgerReadModel::NAME).await.ok().flatten().as_deref(),
        Some("worker-a"),
        "exactly one owner"
    );

    let pipeline = node_pipeline(&pool, true);
    let traffic = {
        let pipeline = pipeline.clone();
        tokio::spawn(async move { generate_ledger_traffic(&pipeline, 30, 2400).await })
    };
    // Kill the owner while it is busy.
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill();
    let takeover = wait_for_owner(&pool, "worker-b", Duration::from_secs(10)).await;
    println!("takeover after {takeover:?}");
    traffic.await.unwrap();
    wait_caught_up(&pool, LedgerReadModel::NAME, Duration::from_secs(60)).await;
    let before = dump_ledger_read_models(&pool).await;
    // Every event moved credits (top-ups and transfers): one statement row each, none twice.
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_name LIKE 'wallet-%'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(before.iter().filter(|row| row.starts_with("movement")).count() as i64, events);

    // The CLI: status shows the new owner; a rebuild (done by the owner) changes nothing.
    let status = loopync(&url).args(["projections", "status"]).output().unwrap();
    let status_text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success() && status_text.contains("worker-b"), "status: {status_text}");
    let rebuild = loopync(&url).args(["projections", "rebuild", LedgerReadModel::NAME]).output().unwrap();
    let rebuild_text = String::from_utf8_lossy(&rebuild.stdout);
    assert!(
        rebuild.status.success() && rebuild_text.contains("switched to generation 2"),
        "rebuild: {rebuild_text}"
    );
    wait_caught_up(&pool, LedgerReadModel::NAME, Duration::from_secs(60)).await;
    assert_eq!(dump_ledger_read_models(&pool).await, before);

    let unknown = loopync(&url).args(["projections", "rebuild", "nope"]).output().unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown projection"));

    // Let PostgreSQL see the last worker go before the test database is dropped.
    second.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Social traffic straight through the pipeline: 40 users post, then 8 clients like, unlike,
/// comment and befriend at random. Returns nothing: the log is the truth to compare with.
async fn generate_social_traffic(
    pipeline: &std::sync::Arc<loopync_commands::CommandPipeline>,
    actions: usize,
) {
    use loopync_commands::CommandContext;
    use loopync_domain::social::*;
    use rand::Rng;
    let users: Vec<uuid::Uuid> = (0..40).map(|_| uuid::Uuid::now_v7()).collect();
    let mut posts = Vec::new();
    for (i, author) in users.iter().enumerate() {
        let post = uuid::Uuid::now_v7();
        let command = PostCommand::Create(NewPost {
            author: *author,
            text: PostText::parse(&format!("post {i}")).ok(),
            visibility: Visibility::Public,
            repost_of: None,
            mentions: vec![],
            at: chrono::Utc::now(),
        });
        pipeline.execute::<Post>(post, command, &CommandContext::default()).await.unwrap();
        posts.push((post, *author));
    }
    let (users, posts) = (std::sync::Arc::new(users), std::sync::Arc::new(posts));
    let clients = (0..8).map(|_| {
        let (pipeline, users, posts) = (pipeline.clone(), users.clone(), posts.clone());
        tokio::spawn(async move {
            for _ in 0..actions / 8 {
                let (user, (post, author), what, other) = {
                    let mut rng = rand::rng();
                    let user = users[rng.random_range(0..users.len())];
                    let post = posts[rng.random_range(0..posts.len())];
                    (user, post, rng.random_range(0..4), users[rng.random_range(0..users.len())])
                };
                let context = CommandContext::default();
                let at = chrono::Utc::now();
                match what {
                    0 | 1 => {
                        let command = MarkCommand { post, user, mark: Mark::Toggle, post_author: author, at };
                        pipeline.execute::<Like>(reaction_id(post, user), command, &context).await.unwrap();
                    }
                    2 => {
                        let command = CommentCommand::Add {
                            post,
                            author: user,
                            text: CommentText::parse("hello").unwrap(),
                            reply_to: None,
                            post_author: author,
                            reply_to_author: None,
                            mentions: vec![],
                            at,
                        };
                        pipeline.execute::<Comment>(uuid::Uuid::now_v7(), command, &context).await.unwrap();
                    }
                    _ => {
                        let action = RelationshipAction::RequestFriendship;
                        let command = RelationshipCommand { actor: user, other, action, at };
                        // Asking oneself, or a friend, is refused: part of the traffic.
                        let _ =
                            pipeline.execute::<Relationship>(pair_id(user, other), command, &context).await;
                    }
                }
            }
        })
    });
    for client in futures::future::join_all(clients).await {
        client.unwrap();
    }
}

/// Every notification, as text, in a stable order.
async fn dump_notifications(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT format('%s %s %s %s %s %s %s', notification_id, recipient, kind, actor, post_id, comment_id, read_at) \
           FROM read_models.notifications ORDER BY notification_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn notifications_survive_a_killed_worker_exactly_and_equal_a_rebuild(pool: PgPool) {
    use loopync_projections::notifications::NotificationsReadModel;
    let url = database_url(&pool).await;
    let mut first = Worker::start(&url, "worker-a");
    wait_for_owner_of(&pool, NotificationsReadModel::NAME, "worker-a", Duration::from_secs(30)).await;
    let mut second = Worker::start(&url, "worker-b");

    let pipeline = node_pipeline(&pool, true);
    let traffic = {
        let pipeline = pipeline.clone();
        tokio::spawn(async move { generate_social_traffic(&pipeline, 2400).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill();
    wait_for_owner_of(&pool, NotificationsReadModel::NAME, "worker-b", Duration::from_secs(15)).await;
    traffic.await.unwrap();
    wait_caught_up(&pool, NotificationsReadModel::NAME, Duration::from_secs(60)).await;
    let before = dump_notifications(&pool).await;

    // Exactly what the log says: a like notification per like standing (never one's own), a
    // comment notification per comment on someone else's post, a friend request per request
    // standing.
    let expected: i64 = sqlx::query_scalar(
        "SELECT \
            (SELECT count(*) FROM (SELECT stream_name, (array_agg(event_type ORDER BY stream_version DESC))[1] AS last, \
                                          (array_agg(payload ORDER BY stream_version DESC))[1] AS p \
                                     FROM events WHERE stream_name LIKE 'like-%' GROUP BY stream_name) l \
              WHERE last = 'like.added' AND p->>'user' <> p->>'postAuthor') \
          + (SELECT count(*) FROM events WHERE event_type = 'comment.added' AND payload->>'author' <> payload->>'postAuthor') \
          + (SELECT count(*) FROM events WHERE event_type = 'relationship.friend_requested') \
          + (SELECT count(*) FROM events WHERE event_type = 'relationship.friends_made')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(before.len() as i64, expected, "one notification per cause standing, none twice");
    assert!(expected > 100, "the traffic made notifications: {expected}");

    let rebuild =
        loopync(&url).args(["projections", "rebuild", NotificationsReadModel::NAME]).output().unwrap();
    assert!(rebuild.status.success(), "rebuild: {}", String::from_utf8_lossy(&rebuild.stdout));
    wait_caught_up(&pool, NotificationsReadModel::NAME, Duration::from_secs(60)).await;
    assert_eq!(dump_notifications(&pool).await, before, "a rebuild makes the same notifications");

    second.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn wait_for_owner_of(pool: &PgPool, projection: &str, expected: &str, timeout: Duration) {
    let started = Instant::now();
    loop {
        if owner(pool, projection).await.ok().flatten().as_deref() == Some(expected) {
            return;
        }
        assert!(started.elapsed() < timeout, "{expected} did not take {projection} within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
