//! `bench-auth`: the identity benchmark (`just bench-auth`).
//!
//! Serves the real API (identity endpoints, PostgreSQL event store in a scratch database) on a
//! local port and drives it over HTTP with C closed-loop clients, each row next to a baseline
//! measured in the same run:
//!
//! | row                     | baseline                                          |
//! |-------------------------|---------------------------------------------------|
//! | `POST /auth/login`      | raw `bcrypt::verify` at the same cost, C threads  |
//! | `POST /auth/refresh`    | `GET /health` over the same HTTP stack            |
//! | JWT check (in process)  | one HMAC-SHA-256 over the same bytes              |
//! | `GET /auth/me`          | `GET /health` over the same HTTP stack            |
//! | session check (in process) | the CPU of one authenticated read (`GET /auth/me`) |
//!
//! The session check is what every authenticated request pays to stop revoked sessions at
//! once: a lookup of the session's verdict in memory (the event store only when it has none).
//!
//! A login is bound by bcrypt by design (cost 12 is ~¼ s of one core), so its ratio says how
//! much the rest (HTTP, the claim and account reads, the session append) costs on top. A
//! refresh does no hashing: two stream reads and one append.

use anyhow::{Context, Result, bail};
use clap::Parser;
use hmac::{Hmac, Mac};
use loopync_api::identity::{AdminApi, AuthApi, AuthConfig, UsersApi};
use loopync_api::{ApiConfig, AppState, Delivery, RateLimitConfig};
use loopync_bench::closed_loop::{HEADER, closed_loop, line};
use loopync_bench::machine::Machine;
use loopync_bench::scratch::Server;
use loopync_commands::{CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
use loopync_delivery::{RecordingMailer, RecordingSmsSender};
use loopync_projections::CheckpointBoard;
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(name = "bench-auth", version)]
struct Args {
    /// The PostgreSQL server to use (the benchmark creates and drops its own database).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Measured seconds per row.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Warm-up seconds before each row.
    #[arg(long, default_value_t = 1)]
    warmup_secs: u64,
    /// bcrypt cost of the accounts (production default: 12).
    #[arg(long, default_value_t = 12)]
    bcrypt_cost: u32,
    /// Write the results as a markdown section to this file.
    #[arg(long)]
    write_markdown: Option<std::path::PathBuf>,
}

/// Nanoseconds per call of `op`, over `iterations` calls on this thread.
fn nanos_per_op(iterations: u32, mut op: impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..iterations {
        op();
    }
    started.elapsed().as_nanos() as f64 / f64::from(iterations)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let warmup = Duration::from_secs(args.warmup_secs);
    let duration = Duration::from_secs(args.duration_secs);
    let clients = args.clients;

    let server = Server::connect(&args.database_url).await.context("cannot reach PostgreSQL")?;
    let database = server.create(&Server::run_name()).await?;
    let pool = database.pool(32, "bench-auth").await?;
    loopync_schemas::MIGRATOR.run(&pool).await.context("migrations")?;

    let store = Arc::new(PgEventStore::new(pool.clone(), GroupCommit::default()));
    let pipeline = Arc::new(CommandPipeline::new(store, PipelineConfig::default()));
    let config = ApiConfig {
        auth: AuthConfig { bcrypt_cost: args.bcrypt_cost, ..AuthConfig::default() },
        // Measured here: the endpoints, not the limiter's refusals.
        rate_limits: RateLimitConfig::off(),
        ..ApiConfig::default()
    };
    let delivery =
        Delivery { mailer: Arc::new(RecordingMailer::new()), sms: Arc::new(RecordingSmsSender::new()) };
    let state =
        AppState::new(pool.clone(), pipeline, CheckpointBoard::new(pool.clone()), None, config, delivery)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let acceptor = loopync_api::bind("127.0.0.1:0").await?;
    let address = loopync_api::local_addr(&acceptor).context("no local address")?;
    let apis = (AuthApi::new(&state), UsersApi::new(&state), AdminApi::new(&state));
    let app = loopync_api::app(state.clone(), apis);
    let shutdown = CancellationToken::new();
    let stopped = shutdown.clone().cancelled_owned();
    let serving =
        tokio::spawn(async move { loopync_api::serve(acceptor, app, stopped, Duration::from_secs(2)).await });
    let base = format!("http://{address}");
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients * 2).build()?;

    // One account per client, each logging in with its own email (the per-account lockout
    // never triggers: every login succeeds).
    let password = "correct horse battery staple";
    let mut refresh_tokens = Vec::new();
    let mut access_tokens = Vec::new();
    let mut sessions = Vec::new();
    for client in 0..clients {
        let response = http
            .post(format!("{base}/api/auth/signup"))
            .json(&json!({"email": format!("bench{client}@example.com"), "password": password,
                          "name": format!("Bench {client}"), "handle": format!("bench_{client}")}))
            .send()
            .await?;
        if response.status().as_u16() != 201 {
            bail!("signup failed: {} {}", response.status(), response.text().await?);
        }
        let body: Value = response.json().await?;
        refresh_tokens
            .push(tokio::sync::Mutex::new(body["refreshToken"].as_str().unwrap_or_default().to_owned()));
        access_tokens.push(body["token"].as_str().unwrap_or_default().to_owned());
        let id = |value: &Value| Uuid::parse_str(value.as_str().unwrap_or_default()).unwrap_or_default();
        sessions.push((id(&body["user"]["id"]), id(&body["sessionId"])));
    }
    let refresh_tokens = Arc::new(refresh_tokens);
    let access_tokens = Arc::new(access_tokens);

    let machine = Machine::detect();
    println!(
        "bench-auth: {} clients, {} s per row, bcrypt cost {}, {} ({} cores), PostgreSQL in {}",
        clients,
        args.duration_secs,
        args.bcrypt_cost,
        machine.cpu,
        machine.cores,
        database.name()
    );

    // Baseline of logins: bcrypt alone, one verification per client at a time, on the
    // blocking pool like the API does (and without its semaphore: the ceiling of the CPU).
    let hash = Arc::new(bcrypt::hash(password, args.bcrypt_cost)?);
    let bcrypt_row =
        closed_loop(clients, warmup, duration, "bcrypt::verify alone (baseline)", move |_, _| {
            let hash = hash.clone();
            async move {
                let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash)).await??;
                if ok { Ok(()) } else { bail!("bcrypt said no") }
            }
        })
        .await?;
    let login_row = {
        let http = http.clone();
        let base = base.clone();
        closed_loop(clients, warmup, duration, "POST /api/auth/login", move |client, _| {
            let request = http
                .post(format!("{base}/api/auth/login"))
                .json(&json!({"email": format!("bench{client}@example.com"), "password": password}));
            async move {
                let response = request.send().await?;
                if response.status().as_u16() != 200 {
                    bail!("login: {} {}", response.status(), response.text().await?);
                }
                Ok(())
            }
        })
        .await?
    };
    let health_row = {
        let http = http.clone();
        let base = base.clone();
        closed_loop(clients, warmup, duration, "GET /health (baseline)", move |_, _| {
            let request = http.get(format!("{base}/health"));
            async move {
                let response = request.send().await?;
                if !response.status().is_success() {
                    bail!("health: {}", response.status());
                }
                Ok(())
            }
        })
        .await?
    };
    // An authenticated read: token verified, session checked, the account read.
    let me_row = {
        let http = http.clone();
        let base = base.clone();
        let tokens = access_tokens.clone();
        closed_loop(clients, warmup, duration, "GET /api/auth/me", move |client, _| {
            let request = http.get(format!("{base}/api/auth/me")).bearer_auth(&tokens[client]);
            async move {
                let response = request.send().await?;
                if response.status().as_u16() != 200 {
                    bail!("me: {} {}", response.status(), response.text().await?);
                }
                Ok(())
            }
        })
        .await?
    };
    let refresh_row = {
        let http = http.clone();
        let base = base.clone();
        let tokens = refresh_tokens.clone();
        closed_loop(clients, warmup, duration, "POST /api/auth/refresh", move |client, _| {
            let http = http.clone();
            let base = base.clone();
            let tokens = tokens.clone();
            async move {
                // Each client rotates its own session's token, as a device would.
                let mut token = tokens[client].lock().await;
                let response = http
                    .post(format!("{base}/api/auth/refresh"))
                    .json(&json!({"refreshToken": *token}))
                    .send()
                    .await?;
                if response.status().as_u16() != 200 {
                    bail!("refresh: {} {}", response.status(), response.text().await?);
                }
                let body: Value = response.json().await?;
                *token = body["refreshToken"].as_str().unwrap_or_default().to_owned();
                Ok(())
            }
        })
        .await?
    };

    // The JWT check: what every authenticated request pays, against the HMAC at its core.
    let (access, _) = state
        .identity
        .tokens
        .issue_access(
            Uuid::now_v7(),
            Uuid::now_v7(),
            loopync_domain::identity::Role::User,
            chrono::Utc::now(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let iterations = 200_000;
    let verify_nanos = nanos_per_op(iterations, || {
        std::hint::black_box(state.identity.tokens.verify_access(std::hint::black_box(&access)).is_ok());
    });
    let signing_input = access.rsplit_once('.').map(|(input, _)| input.to_owned()).unwrap_or_default();
    let hmac_nanos = nanos_per_op(iterations, || {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"0123456789abcdef0123456789abcdef")
            .unwrap_or_else(|_| unreachable!());
        mac.update(std::hint::black_box(signing_input.as_bytes()));
        std::hint::black_box(mac.finalize());
    });

    // The session check on a session the node has a verdict for (the common case: every
    // request of a session after its first within the check interval).
    let (user, session) = sessions[0];
    let live = state.identity.session_is_current(user, session).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if !live {
        bail!("the benchmark's session is not live");
    }
    let check_nanos = nanos_per_op(iterations, || {
        std::hint::black_box(state.identity.sessions.known(std::hint::black_box(user), session));
    });
    // CPU per authenticated read, counting every core as busy (client and server share them).
    let read_cpu_nanos = machine.cores as f64 * 1e9 / me_row.per_second.max(1.0);

    let table = [
        HEADER.to_owned(),
        line(&bcrypt_row, None),
        line(&login_row, Some(&bcrypt_row)),
        line(&health_row, None),
        line(&me_row, Some(&health_row)),
        line(&refresh_row, Some(&health_row)),
    ]
    .join("\n");
    let jwt = format!(
        "JWT check (HS256 verify + claims, in process): {verify_nanos:.0} ns per request; one HMAC-SHA-256 of the same \
         bytes: {hmac_nanos:.0} ns (ratio {:.2}); that is {:.2}% of a `GET /health` round trip at p50 ({} µs).",
        verify_nanos / hmac_nanos,
        verify_nanos / (health_row.p50_micros.max(1) as f64 * 1000.0) * 100.0,
        health_row.p50_micros
    );
    let session_check = format!(
        "Session check (revocation, a verdict in memory, in process): {check_nanos:.0} ns per request; one \
         authenticated read (`GET /api/auth/me`) costs at most {:.0} µs of CPU ({} cores / {:.0} reads/s): the \
         check is {:.3}% of it (target: under 2%).",
        read_cpu_nanos / 1000.0,
        machine.cores,
        me_row.per_second,
        check_nanos / read_cpu_nanos * 100.0
    );
    let jwt = format!("{jwt}\n\n{session_check}");
    println!("\n{table}\n\n{jwt}");
    if let Some(path) = &args.write_markdown {
        let text = format!(
            "### bench-auth — {} clients, bcrypt cost {}\n\nMachine: {}, {} cores, {:.1} GiB, Linux {}.\n\n{table}\n\n{jwt}\n",
            clients, args.bcrypt_cost, machine.cpu, machine.cores, machine.memory_gib, machine.kernel
        );
        std::fs::write(path, text)?;
    }

    shutdown.cancel();
    let _ = serving.await;
    pool.close().await;
    server.drop_database(database).await?;
    if [&login_row, &refresh_row, &health_row, &bcrypt_row, &me_row].iter().any(|row| row.errors > 0) {
        bail!("some requests failed");
    }
    Ok(())
}
