//! `bench-social`: the social benchmark (`just bench-social`).
//!
//! Seeds a scratch database with 100,000 users, a power-law friend graph (median 150 friends)
//! and 1,000,000 posts (see `seed.rs`), serves the real API on a local port with the
//! projection runner, and measures with C closed-loop clients, each viewer drawn at random from
//! signed-up accounts with friends from the same distribution:
//!
//! | row                                  | baseline (same run)                                   |
//! |--------------------------------------|-------------------------------------------------------|
//! | `GET /api/posts` (latest), page 1, 3 | the same SQL (`posts::feed_latest`) in process          |
//! | `GET /api/posts?mode=ranked`, page 1 | the same SQL: ranking (`feed_ranking`) + page rows      |
//! | `GET /api/posts?mode=ranked`, page 3 | the same SQL: the snapshot's ids + page rows            |
//! | `PUT`/`DELETE .../like`, one hot post, C = 32 | pgbench: one durable one-row insert per commit |
//! | the like in process, its append alone (with and without the read models running), its visibility check alone | the like over HTTP (breakdown) |
//!
//! The SQL baselines run the product's own queries through the same pool without HTTP, JSON,
//! authentication or read-your-writes: their ratio is what serving the query costs on top of
//! the query. Targets: feed p99 under 10 ms for the first page; at least 60 % of the SQL
//! baseline's throughput; hot-post likes at least 50 % of the one-insert ceiling.

mod seed;

use anyhow::{Context, Result, bail};
use clap::Parser;
use loopync_api::identity::AuthConfig;
use loopync_api::{ApiConfig, AppState, Delivery, RateLimitConfig};
use loopync_bench::ceiling::{self, Pgbench};
use loopync_bench::closed_loop::{HEADER, Row, closed_loop, line};
use loopync_bench::machine::Machine;
use loopync_bench::scratch::Server;
use loopync_commands::CommandContext;
use loopync_commands::{CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
use loopync_delivery::{RecordingMailer, RecordingSmsSender};
use loopync_domain::social::{Like, Mark, MarkCommand, Visibility, reaction_id};
use loopync_projections::social::{graph, posts};
use loopync_projections::{CheckpointBoard, LogWaker, Projection};
use loopync_workers::{ProjectionRunner, RunnerConfig};
use rand::Rng;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(name = "bench-social", version)]
struct Args {
    /// The PostgreSQL server to use (the benchmark creates and drops its own database).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Synthetic users.
    #[arg(long, default_value_t = 100_000)]
    users: i64,
    /// Posts.
    #[arg(long, default_value_t = 1_000_000)]
    posts: i64,
    /// Median friends per user.
    #[arg(long, default_value_t = 150)]
    median_friends: i64,
    /// Signed-up accounts the readers read as.
    #[arg(long, default_value_t = 200)]
    viewers: usize,
    /// Concurrent readers.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Concurrent readers of the low-concurrency latency row.
    #[arg(long, default_value_t = 2)]
    latency_clients: usize,
    /// Concurrent likers of the hot post (and pgbench's connections for its ceiling).
    #[arg(long, default_value_t = 32)]
    like_clients: usize,
    /// Measured seconds per row.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Warm-up seconds before each row.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// The pgbench program (the likes' ceiling).
    #[arg(long, default_value = "pgbench")]
    pgbench: PathBuf,
    /// Write the results as a markdown section to this file.
    #[arg(long)]
    write_markdown: Option<PathBuf>,
    /// Keep the scratch database afterwards (to look at plans).
    #[arg(long)]
    keep_database: bool,
}

/// A signed-up reader.
#[derive(Clone)]
struct Viewer {
    id: Uuid,
    token: String,
}

/// GETs `url` as `token`; the body, or why not.
async fn get(http: &reqwest::Client, url: &str, token: &str) -> Result<Value> {
    let response = http.get(url).bearer_auth(token).send().await?;
    if response.status().as_u16() != 200 {
        bail!("GET {url}: {} {}", response.status(), response.text().await?);
    }
    Ok(response.json().await?)
}

/// The cursor of page 3 of `path` for `viewer`.
async fn third_page(http: &reqwest::Client, base: &str, path: &str, viewer: &Viewer) -> Result<String> {
    let mut cursor = String::new();
    for _ in 0..2 {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = if cursor.is_empty() {
            format!("{base}{path}")
        } else {
            format!("{base}{path}{separator}cursor={cursor}")
        };
        let page = get(http, &url, &viewer.token).await?;
        cursor =
            page["pagination"]["nextCursor"].as_str().context("a feed shorter than three pages")?.to_owned();
    }
    Ok(cursor)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let warmup = Duration::from_secs(args.warmup_secs);
    let duration = Duration::from_secs(args.duration_secs);
    let machine = Machine::detect();

    let server = Server::connect(&args.database_url).await.context("cannot reach PostgreSQL")?;
    let database = server.create(&Server::run_name()).await?;
    let pool = database.pool(48, "bench-social").await?;
    loopync_schemas::MIGRATOR.run(&pool).await.context("migrations")?;

    // The API as `serve` runs it, with the projection runner on a pool of its own.
    let store = Arc::new(PgEventStore::new(pool.clone(), GroupCommit::default()));
    let pipeline = Arc::new(CommandPipeline::new(store.clone(), PipelineConfig::default()));
    let config = ApiConfig {
        auth: AuthConfig { bcrypt_cost: 4, ..AuthConfig::default() },
        rate_limits: RateLimitConfig::off(),
        ..ApiConfig::default()
    };
    let delivery =
        Delivery { mailer: Arc::new(RecordingMailer::new()), sms: Arc::new(RecordingSmsSender::new()) };
    let state =
        AppState::new(pool.clone(), pipeline, CheckpointBoard::new(pool.clone()), None, config, delivery)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let shutdown = CancellationToken::new();
    let projections: Vec<Arc<dyn Projection>> = loopync_api::features::projections();
    let views: Vec<String> = projections
        .iter()
        .flat_map(|p| loopync_projections::views(p.as_ref()).collect::<Vec<_>>())
        .map(|(schema, table)| format!("{schema}.{table}"))
        .collect();
    let runner_pool = database.pool(8, "bench-social-runner").await?;
    let runner = ProjectionRunner::new(
        runner_pool.clone(),
        projections,
        LogWaker::new(runner_pool, Some(store.commits())),
        state.checkpoints.clone(),
        None,
        RunnerConfig::default(),
    );
    // Its own token: the last row stops it, to measure the append without the read models.
    let runner_stop = shutdown.child_token();
    let runner_task = tokio::spawn(runner.run(runner_stop.clone()));
    for _ in 0..600 {
        let missing: i64 =
            sqlx::query_scalar("SELECT count(*) FROM unnest($1::text[]) v WHERE to_regclass(v) IS NULL")
                .bind(&views)
                .fetch_one(&pool)
                .await?;
        if missing == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let acceptor = loopync_api::bind("127.0.0.1:0").await?;
    let address = loopync_api::local_addr(&acceptor).context("no local address")?;
    let app = loopync_api::app(state.clone(), loopync_api::feature_apis(&state));
    let stopped = shutdown.clone().cancelled_owned();
    let serving =
        tokio::spawn(async move { loopync_api::serve(acceptor, app, stopped, Duration::from_secs(2)).await });
    let base = format!("http://{address}");
    let http =
        reqwest::Client::builder().pool_max_idle_per_host(args.clients.max(args.like_clients) * 2).build()?;

    // The readers: real accounts, whose sessions the API checks like any other.
    let mut viewers = Vec::new();
    for i in 0..args.viewers.max(args.like_clients) {
        let response = http
            .post(format!("{base}/api/auth/signup"))
            .json(
                &json!({"email": format!("reader{i}@example.com"), "password": "correct horse battery staple",
                          "name": format!("Reader {i}"), "handle": format!("reader_{i}")}),
            )
            .send()
            .await?;
        if response.status().as_u16() != 201 {
            bail!("signup: {} {}", response.status(), response.text().await?);
        }
        let body: Value = response.json().await?;
        let id = Uuid::parse_str(body["user"]["id"].as_str().unwrap_or_default())?;
        viewers.push(Viewer { id, token: body["token"].as_str().unwrap_or_default().to_owned() });
    }
    let world = seed::World { users: args.users, posts: args.posts, median_friends: args.median_friends };
    let seeding = Instant::now();
    let ids: Vec<Uuid> = viewers.iter().map(|v| v.id).collect();
    seed::seed(&pool, world, &ids).await?;
    let seeded_in = seeding.elapsed();
    let (median, p99_degree, friendship_rows) = seed::degrees(&pool).await?;
    println!(
        "bench-social: {} users, {} posts, {} friendship rows (median {median:.0} friends, p99 {p99_degree:.0}), seeded in \
         {:.0} s; {} readers, {} likers, {} s per row; {} ({} cores)",
        args.users,
        args.posts,
        friendship_rows,
        seeded_in.as_secs_f64(),
        args.clients,
        args.like_clients,
        args.duration_secs,
        machine.cpu,
        machine.cores
    );

    let viewers = Arc::new(viewers);
    let pick = |viewers: &[Viewer]| viewers[rand::rng().random_range(0..viewers.len())].clone();
    let mut rows: Vec<(Row, Option<usize>)> = Vec::new();

    // Latest, page 1: the SQL, then over HTTP.
    let sql_latest = {
        let (pool, viewers) = (pool.clone(), viewers.clone());
        closed_loop(
            args.clients,
            warmup,
            duration,
            "feed latest p1: the SQL in process (baseline)",
            move |_, _| {
                let (pool, viewer) = (pool.clone(), pick(&viewers));
                async move {
                    posts::feed_latest(&pool, viewer.id, None, 20).await?;
                    Ok(())
                }
            },
        )
        .await?
    };
    rows.push((sql_latest, None));
    let http_latest = {
        let (http, base, viewers) = (http.clone(), base.clone(), viewers.clone());
        closed_loop(args.clients, warmup, duration, "GET /api/posts (latest) p1", move |_, _| {
            let (http, url, viewer) = (http.clone(), format!("{base}/api/posts"), pick(&viewers));
            async move {
                get(&http, &url, &viewer.token).await?;
                Ok(())
            }
        })
        .await?
    };
    rows.push((http_latest, Some(rows.len() - 1)));
    // The same page at low concurrency: its latency without the queueing of C readers on
    // two cores.
    let http_latest_low = {
        let (http, base, viewers) = (http.clone(), base.clone(), viewers.clone());
        let name = format!("GET /api/posts (latest) p1, C = {}", args.latency_clients);
        closed_loop(args.latency_clients, warmup, duration, &name, move |_, _| {
            let (http, url, viewer) = (http.clone(), format!("{base}/api/posts"), pick(&viewers));
            async move {
                get(&http, &url, &viewer.token).await?;
                Ok(())
            }
        })
        .await?
    };
    rows.push((http_latest_low, None));

    // Latest, page 3: cursors taken over HTTP first.
    let mut latest_cursors = Vec::new();
    for viewer in viewers.iter() {
        latest_cursors.push(third_page(&http, &base, "/api/posts", viewer).await?);
    }
    let latest_cursors = Arc::new(latest_cursors);
    let sql_latest_3 = {
        let (pool, viewers, cursors) = (pool.clone(), viewers.clone(), latest_cursors.clone());
        closed_loop(
            args.clients,
            warmup,
            duration,
            "feed latest p3: the SQL in process (baseline)",
            move |_, _| {
                let i = rand::rng().random_range(0..viewers.len());
                let (pool, viewer) = (pool.clone(), viewers[i].clone());
                let after = decode_dated(&cursors[i]);
                async move {
                    posts::feed_latest(&pool, viewer.id, after, 20).await?;
                    Ok(())
                }
            },
        )
        .await?
    };
    rows.push((sql_latest_3, None));
    let http_latest_3 = {
        let (http, base, viewers, cursors) =
            (http.clone(), base.clone(), viewers.clone(), latest_cursors.clone());
        closed_loop(args.clients, warmup, duration, "GET /api/posts (latest) p3", move |_, _| {
            let i = rand::rng().random_range(0..viewers.len());
            let (http, viewer) = (http.clone(), viewers[i].clone());
            let url = format!("{base}/api/posts?cursor={}", cursors[i]);
            async move {
                get(&http, &url, &viewer.token).await?;
                Ok(())
            }
        })
        .await?
    };
    rows.push((http_latest_3, Some(rows.len() - 1)));

    // Ranked, page 1: the ranking and the page's rows; over HTTP, plus the snapshot's insert.
    let sql_ranked = {
        let (pool, viewers) = (pool.clone(), viewers.clone());
        closed_loop(
            args.clients,
            warmup,
            duration,
            "feed ranked p1: the SQL in process (baseline)",
            move |_, _| {
                let (pool, viewer) = (pool.clone(), pick(&viewers));
                async move {
                    let ranked = posts::feed_ranking(&pool, viewer.id, chrono::Utc::now(), 500).await?;
                    posts::posts_in_order(&pool, viewer.id, &ranked[..ranked.len().min(20)]).await?;
                    Ok(())
                }
            },
        )
        .await?
    };
    rows.push((sql_ranked, None));
    let http_ranked = {
        let (http, base, viewers) = (http.clone(), base.clone(), viewers.clone());
        closed_loop(args.clients, warmup, duration, "GET /api/posts?mode=ranked p1", move |_, _| {
            let (http, url, viewer) = (http.clone(), format!("{base}/api/posts?mode=ranked"), pick(&viewers));
            async move {
                get(&http, &url, &viewer.token).await?;
                Ok(())
            }
        })
        .await?
    };
    rows.push((http_ranked, Some(rows.len() - 1)));

    // Ranked, page 3: through each viewer's snapshot.
    let mut ranked_cursors = Vec::new();
    for viewer in viewers.iter() {
        ranked_cursors.push(third_page(&http, &base, "/api/posts?mode=ranked", viewer).await?);
    }
    let ranked_cursors = Arc::new(ranked_cursors);
    let sql_ranked_3 = {
        let (pool, viewers, cursors) = (pool.clone(), viewers.clone(), ranked_cursors.clone());
        closed_loop(
            args.clients,
            warmup,
            duration,
            "feed ranked p3: the SQL in process (baseline)",
            move |_, _| {
                let i = rand::rng().random_range(0..viewers.len());
                let (pool, viewer) = (pool.clone(), viewers[i].clone());
                let snapshot = cursors[i].split_once('_').and_then(|(id, _)| Uuid::try_parse(id).ok());
                async move {
                    let ids: Vec<Uuid> = sqlx::query_scalar(
                        "SELECT post_ids FROM feed_snapshots WHERE snapshot_id = $1 AND viewer = $2",
                    )
                    .bind(snapshot)
                    .bind(viewer.id)
                    .fetch_one(&pool)
                    .await?;
                    posts::posts_in_order(&pool, viewer.id, &ids[ids.len().min(40)..ids.len().min(60)])
                        .await?;
                    Ok(())
                }
            },
        )
        .await?
    };
    rows.push((sql_ranked_3, None));
    let http_ranked_3 = {
        let (http, base, viewers, cursors) =
            (http.clone(), base.clone(), viewers.clone(), ranked_cursors.clone());
        closed_loop(args.clients, warmup, duration, "GET /api/posts?mode=ranked p3", move |_, _| {
            let i = rand::rng().random_range(0..viewers.len());
            let (http, viewer) = (http.clone(), viewers[i].clone());
            let url = format!("{base}/api/posts?mode=ranked&cursor={}", cursors[i]);
            async move {
                get(&http, &url, &viewer.token).await?;
                Ok(())
            }
        })
        .await?
    };
    rows.push((http_ranked_3, Some(rows.len() - 1)));

    // The hot post: every liker likes and unlikes it in turn, so each request appends.
    let hot = {
        let response = http
            .post(format!("{base}/api/posts"))
            .bearer_auth(&viewers[0].token)
            .json(&json!({"text": "the hot post", "visibility": "public"}))
            .send()
            .await?;
        let body: Value = response.json().await?;
        Uuid::parse_str(body["id"].as_str().context("the hot post")?)?
    };
    let ceiling_row = if args.pgbench.as_os_str().is_empty() {
        None
    } else {
        ceiling::create_table(&pool).await?;
        let pgbench = Pgbench::prepare(&args.pgbench, database.url(), 1, &[]).await?;
        let run = pgbench.run(args.like_clients, duration, true).await?;
        let row = Row {
            name: "pgbench: one-row insert per commit (ceiling)".to_owned(),
            per_second: run.tps,
            p50_micros: run.latency.value_at_quantile(0.5),
            p99_micros: run.latency.value_at_quantile(0.99),
            errors: run.failed,
        };
        eprintln!("{}", line(&row, None));
        Some(row)
    };
    let likes = {
        let (http, base, viewers) = (http.clone(), base.clone(), viewers.clone());
        closed_loop(
            args.like_clients,
            warmup,
            duration,
            "PUT|DELETE /api/posts/{hot}/like, one post",
            move |client, i| {
                let method = if i % 2 == 1 { reqwest::Method::PUT } else { reqwest::Method::DELETE };
                let request = http
                    .request(method, format!("{base}/api/posts/{hot}/like"))
                    .bearer_auth(&viewers[client].token);
                async move {
                    let response = request.send().await?;
                    if response.status().as_u16() != 200 {
                        bail!("like: {} {}", response.status(), response.text().await?);
                    }
                    Ok(())
                }
            },
        )
        .await?
    };
    let conflicts = state.pipeline.conflicts();
    match ceiling_row {
        Some(ceiling) => {
            rows.push((ceiling, None));
            rows.push((likes, Some(rows.len() - 1)));
        }
        None => rows.push((likes, None)),
    }
    let like_row = rows.len() - 1;

    // Where a like's time goes: the same like in process (the service, no HTTP), its stream's
    // append alone (no visibility check), and the visibility check alone.
    let hot_author = viewers[0].id;
    let in_process = {
        let (social, viewers) = (state.social.clone(), viewers.clone());
        closed_loop(
            args.like_clients,
            warmup,
            duration,
            "  in process: Social::mark (no HTTP)",
            move |client, i| {
                let social = social.clone();
                let caller = loopync_api::auth::Caller {
                    user_id: viewers[client].id,
                    session_id: Uuid::nil(),
                    role: loopync_domain::identity::Role::User,
                };
                let mark = if i % 2 == 1 { Mark::Set } else { Mark::Clear };
                async move {
                    social
                        .mark::<Like>(&caller, hot, mark, CommandContext::default())
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    Ok(())
                }
            },
        )
        .await?
    };
    rows.push((in_process, Some(like_row)));
    let append_only = {
        let (pipeline, viewers) = (state.pipeline.clone(), viewers.clone());
        closed_loop(
            args.like_clients,
            warmup,
            duration,
            "  the like's append alone (pipeline)",
            move |client, i| {
                let pipeline = pipeline.clone();
                let user = viewers[client].id;
                let mark = if i % 2 == 1 { Mark::Set } else { Mark::Clear };
                let command =
                    MarkCommand { post: hot, user, mark, post_author: hot_author, at: chrono::Utc::now() };
                async move {
                    pipeline
                        .execute::<Like>(reaction_id(hot, user), command, &CommandContext::default())
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    Ok(())
                }
            },
        )
        .await?
    };
    rows.push((append_only, Some(like_row)));
    let probe = {
        let (pool, viewers) = (pool.clone(), viewers.clone());
        closed_loop(
            args.like_clients,
            warmup,
            duration,
            "  the visibility check alone (SQL)",
            move |client, _| {
                // Never the author (viewer 0), whose check asks nothing.
                let (pool, user) = (pool.clone(), viewers[1 + client % (viewers.len() - 1)].id);
                async move {
                    graph::may_see(&pool, user, hot_author, Visibility::Public).await?;
                    Ok(())
                }
            },
        )
        .await?
    };
    rows.push((probe, Some(like_row)));
    // The same appends with no projection runner: what the read models (and the live updates
    // they write) cost the likes on these two cores.
    runner_stop.cancel();
    let _ = runner_task.await;
    let bare_append = {
        let (pipeline, viewers) = (state.pipeline.clone(), viewers.clone());
        closed_loop(
            args.like_clients,
            warmup,
            duration,
            "  the like's append alone, no read models running",
            move |client, i| {
                let pipeline = pipeline.clone();
                let user = viewers[client].id;
                let mark = if i % 2 == 1 { Mark::Set } else { Mark::Clear };
                let command =
                    MarkCommand { post: hot, user, mark, post_author: hot_author, at: chrono::Utc::now() };
                async move {
                    pipeline
                        .execute::<Like>(reaction_id(hot, user), command, &CommandContext::default())
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    Ok(())
                }
            },
        )
        .await?
    };
    rows.push((bare_append, Some(like_row)));

    let mut table = vec![HEADER.to_owned()];
    for (row, baseline) in &rows {
        table.push(line(row, baseline.map(|i| &rows[i].0)));
    }
    let table = table.join("\n");
    let summary = format!(
        "{} users, {} posts, {friendship_rows} friendship rows (median {median:.0} friends per user, p99 {p99_degree:.0}); \
         {} readers at random among {} viewers, {} likers; append conflicts during the likes: {conflicts}.",
        args.users,
        args.posts,
        args.clients,
        viewers.len(),
        args.like_clients
    );
    println!("\n{table}\n\n{summary}");
    if let Some(path) = &args.write_markdown {
        let text = format!(
            "### bench-social\n\nMachine: {}, {} cores, {:.1} GiB, Linux {}.\n\n{summary}\n\n{table}\n",
            machine.cpu, machine.cores, machine.memory_gib, machine.kernel
        );
        std::fs::write(path, text)?;
    }

    shutdown.cancel();
    let _ = serving.await;
    pool.close().await;
    if !args.keep_database {
        server.drop_database(database).await?;
    }
    Ok(())
}

/// A `(date, id)` cursor of the latest feed (`<microseconds>_<uuid>`).
fn decode_dated(text: &str) -> Option<(chrono::DateTime<chrono::Utc>, Uuid)> {
    let (micros, id) = text.split_once('_')?;
    Some((chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?, Uuid::try_parse(id).ok()?))
}
