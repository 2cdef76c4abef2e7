//! The social graph and posts the benchmark reads: written straight into the read model's
//! tables (the feed is a read path: what it costs depends on the rows, not on how they came),
//! with a power-law friend graph.
//!
//! - Users: `users` synthetic profiles, plus the viewers (real accounts, signed up over HTTP).
//! - Friends: each user asks `k` others, `k = 0.4·median · e^(0.9·N(0,1))` (a log-normal, so
//!   degrees are heavy-tailed: most users have about the median, a few have thousands); each
//!   pair is a friendship both ways. The viewers get degrees from the same distribution.
//! - Posts: `posts` posts by authors drawn uniformly, over the last 30 days; 70 % public, 25 %
//!   friends-only, 5 % private; likes, comments and shares heavy-tailed (`⌊e^(U·s)⌋ − 1`).

use anyhow::{Context, Result};
use sqlx::PgPool;
use uuid::Uuid;

/// How big the world is.
#[derive(Debug, Clone, Copy)]
pub struct World {
    pub users: i64,
    pub posts: i64,
    pub median_friends: i64,
}

/// The schema of the active generation of `projection` (1: the benchmark's runs are fresh).
fn generation(projection: &str) -> String {
    loopync_projections::projection::generation_schema(projection, 1)
}

/// Seeds the world; `viewers` are real accounts that get friends like everyone else.
pub async fn seed(pool: &PgPool, world: World, viewers: &[Uuid]) -> Result<()> {
    let profiles = generation("user_profiles");
    let social = generation("social");
    let statements = [
        // Everyone: the synthetic users, numbered, then the viewers.
        "CREATE UNLOGGED TABLE bench_users (n serial PRIMARY KEY, id uuid NOT NULL)".to_owned(),
        format!(
            "INSERT INTO bench_users (id) SELECT gen_random_uuid() FROM generate_series(1, {})",
            world.users
        ),
        "INSERT INTO bench_users (id) SELECT unnest($1::uuid[])".to_owned(),
        format!(
            "INSERT INTO {profiles}.user_profiles (user_id, handle, name, role, privacy, notifications, dark_mode, \
                 registered_at, updated_at, last_position) \
             SELECT id, 'user' || n, 'User ' || n, 'user', 'public', true, false, now(), now(), 0 \
               FROM bench_users WHERE n <= {}",
            world.users
        ),
        // Each user asks k others; a pair is a friendship both ways.
        // The partner is drawn in a materialized CTE: a volatile `random()` there is one
        // value per row, joined on `n`'s index (in a join condition it would be a filter
        // evaluated against every row).
        format!(
            "CREATE UNLOGGED TABLE bench_pairs AS \
             WITH asks AS MATERIALIZED ( \
                 SELECT a.id AS a, 1 + floor(random() * (SELECT count(*) FROM bench_users))::int AS target \
                   FROM (SELECT id, greatest(1, least(5000, floor({half} * exp(0.9 * sqrt(-2 * ln(1 - random())) \
                                * cos(2 * pi() * random())))))::int AS k FROM bench_users) a \
                   CROSS JOIN LATERAL generate_series(1, a.k) s) \
             SELECT asks.a, b.id AS b FROM asks JOIN bench_users b ON b.n = asks.target WHERE asks.a <> b.id",
            // Asked and asked by: a user's friends are about 2.5 × the median of what they ask.
            half = world.median_friends * 2 / 5
        ),
        format!(
            "INSERT INTO {social}.friendships (user_id, friend_id, since) \
             SELECT a, b, now() - interval '1 day' FROM bench_pairs \
             UNION SELECT b, a, now() - interval '1 day' FROM bench_pairs \
             ON CONFLICT DO NOTHING"
        ),
        format!(
            "INSERT INTO {social}.posts (post_id, author_id, text, visibility, hashtags, mentions, created_at, \
                 likes, comments, shares) \
             SELECT gen_random_uuid(), u.id, 'post ' || s || ' #topic' || (s % 500), \
                    CASE WHEN r < 0.70 THEN 'public' WHEN r < 0.95 THEN 'friends' ELSE 'private' END, \
                    ARRAY['topic' || (s % 500)], '{{}}', now() - random() * interval '30 days', \
                    floor(exp(random() * 6))::int - 1, floor(exp(random() * 3.5))::int - 1, \
                    floor(exp(random() * 2))::int - 1 \
               FROM (SELECT s, random() AS r, 1 + floor(random() * {users})::int AS author \
                       FROM generate_series(1, {posts}) s OFFSET 0) p \
               JOIN bench_users u ON u.n = p.author",
            users = world.users,
            posts = world.posts
        ),
        "DROP TABLE bench_pairs".to_owned(),
        "DROP TABLE bench_users".to_owned(),
        // As autovacuum leaves tables in production: statistics, and the visibility map that
        // lets the feed's index-only scans skip the heap.
        format!("VACUUM ANALYZE {profiles}.user_profiles"),
        format!("VACUUM ANALYZE {social}.friendships"),
        format!("VACUUM ANALYZE {social}.posts"),
    ];
    for statement in &statements {
        let started = std::time::Instant::now();
        let query = sqlx::query(statement);
        let query = if statement.contains("$1") { query.bind(viewers) } else { query };
        query.execute(pool).await.with_context(|| format!("seeding: {statement}"))?;
        let what: String = statement.split_whitespace().take(4).collect::<Vec<_>>().join(" ");
        eprintln!("seed: {what} … {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// The median and 99th percentile of the friend counts, and the friendship rows.
pub async fn degrees(pool: &PgPool) -> Result<(f64, f64, i64)> {
    let social = generation("social");
    let row: (f64, f64, i64) = sqlx::query_as(&format!(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY k), percentile_cont(0.99) WITHIN GROUP (ORDER BY k), \
                sum(k)::bigint \
           FROM (SELECT count(*) AS k FROM {social}.friendships GROUP BY user_id) d"
    ))
    .fetch_one(pool)
    .await?;
    Ok(row)
}
