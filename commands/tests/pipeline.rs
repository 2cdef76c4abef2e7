//! The command pipeline on the reference aggregate, against a real PostgreSQL (a fresh database
//! per test): decisions, optimistic concurrency, idempotency, multi-stream atomicity,
//! upcasting, snapshots, group commit.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::future::join_all;
use loopync_commands::pipeline::Loaded;
use loopync_commands::{
    CommandContext, CommandError, CommandPipeline, EventStore, GroupCommit, PgEventStore, PipelineConfig,
};
use loopync_domain::sample::{SampleWallet, SampleWalletCommand, SampleWalletError, SampleWalletEvent};
use loopync_domain::{Aggregate, StreamName};
use sqlx::PgPool;
use std::sync::Arc;

fn pipeline(pool: &PgPool, group_commit: bool, config: PipelineConfig) -> Arc<CommandPipeline> {
    let store = PgEventStore::new(
        pool.clone(),
        GroupCommit { enabled: group_commit, max_batch: 64, max_in_flight: 2 },
    );
    Arc::new(CommandPipeline::new(Arc::new(store), config))
}

fn top_up(amount: i64) -> SampleWalletCommand {
    SampleWalletCommand::TopUp { amount }
}

async fn event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await.unwrap()
}

async fn versions(pool: &PgPool, stream: &str) -> Vec<i64> {
    sqlx::query_scalar("SELECT stream_version FROM events WHERE stream_name = $1 ORDER BY stream_version")
        .bind(stream)
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn commands_append_events_and_report_the_position_reached(pool: PgPool) {
    for group_commit in [false, true] {
        let pipeline = pipeline(&pool, group_commit, PipelineConfig::default());
        let id = format!("w{group_commit}");
        let ctx = CommandContext::actor("alice");
        let first = pipeline.execute::<SampleWallet>(&id, top_up(5), &ctx).await.unwrap();
        let second = pipeline
            .execute::<SampleWallet>(&id, SampleWalletCommand::Withdraw { amount: 2 }, &ctx)
            .await
            .unwrap();
        assert_eq!(first.appended[0].stream_version, 1);
        assert_eq!(second.appended[0].stream_version, 2);
        assert!(second.position > first.position, "positions grow");
        assert!(matches!(&second.events[..], [SampleWalletEvent::Withdrawn(w)] if w.balance_after == 3));

        let refused =
            pipeline.execute::<SampleWallet>(&id, SampleWalletCommand::Withdraw { amount: 4 }, &ctx).await;
        assert!(matches!(refused, Err(CommandError::Domain(SampleWalletError::InsufficientFunds { .. }))));
        assert_eq!(
            versions(&pool, &format!("sample_wallet-{id}")).await,
            vec![1, 2],
            "a refusal appends nothing"
        );
    }
}

/// Many clients topping up the same wallet at once through separate pipelines (as separate
/// processes would, with separate caches): every top-up lands exactly once, versions stay gapless.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn concurrent_commands_on_one_stream_lose_no_update(pool: PgPool) {
    for group_commit in [false, true] {
        let id = format!("hot{group_commit}");
        let pipelines: Vec<_> =
            (0..4).map(|_| pipeline(&pool, group_commit, PipelineConfig::default())).collect();
        let tasks = (0..40).map(|i| {
            let pipeline = pipelines[i % pipelines.len()].clone();
            let id = id.clone();
            tokio::spawn(async move {
                pipeline
                    .execute::<SampleWallet>(&id, top_up(1), &CommandContext::actor("a"))
                    .await
                    .map(|_| ())
            })
        });
        for result in join_all(tasks).await {
            result.unwrap().unwrap();
        }
        let fresh = pipeline(&pool, false, PipelineConfig { cache_capacity: 0, ..PipelineConfig::default() });
        let wallet: Loaded<SampleWallet> = fresh.load(StreamName::of::<SampleWallet>(&id)).await.unwrap();
        assert_eq!(wallet.state.balance, 40);
        assert_eq!(versions(&pool, &format!("sample_wallet-{id}")).await, (1..=40).collect::<Vec<_>>());
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_stale_expected_version_is_a_conflict_and_writes_nothing(pool: PgPool) {
    use loopync_commands::store::{AppendError, AppendRequest, ExpectedVersion, NewEvent, StreamAppend};
    let store = PgEventStore::new(pool.clone(), GroupCommit { enabled: false, ..GroupCommit::default() });
    let event = |amount| {
        NewEvent::encode(&SampleWalletEvent::ToppedUp(loopync_domain::sample::ToppedUp {
            amount: loopync_domain::sample::Money::loop_credits(amount),
            balance_after: amount,
        }))
        .unwrap()
    };
    let request = |stream: &str, expected| AppendRequest {
        streams: vec![StreamAppend {
            stream: StreamName::parse(stream).unwrap(),
            expected,
            events: vec![event(1)],
        }],
        metadata: Default::default(),
        idempotency: None,
    };
    assert!(store.append(request("s-1", ExpectedVersion::NoStream)).await.is_ok());
    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(0),
        ExpectedVersion::Exact(2),
        ExpectedVersion::Exact(7),
    ] {
        let result = store.append(request("s-1", expected)).await;
        assert!(matches!(result, Err(AppendError::Conflict { .. })), "{expected:?}: {result:?}");
    }
    assert!(store.append(request("s-1", ExpectedVersion::Exact(1))).await.is_ok());
    assert!(store.append(request("s-1", ExpectedVersion::Any)).await.is_ok());
    assert_eq!(versions(&pool, "s-1").await, vec![1, 2, 3]);

    // Multi-stream: one stale stream fails the whole append.
    let mut both = request("s-1", ExpectedVersion::Exact(3));
    both.streams.extend(request("s-2", ExpectedVersion::Exact(5)).streams);
    assert!(matches!(store.append(both).await, Err(AppendError::Conflict { .. })));
    assert_eq!(versions(&pool, "s-1").await, vec![1, 2, 3]);
    assert_eq!(versions(&pool, "s-2").await, Vec::<i64>::new());
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_repeated_idempotency_key_returns_the_original_result(pool: PgPool) {
    for group_commit in [false, true] {
        let pipeline = pipeline(&pool, group_commit, PipelineConfig::default());
        let id = format!("idem{group_commit}");
        let ctx = CommandContext::actor("alice").with_idempotency_key(format!("key-{group_commit}"));
        let before = event_count(&pool).await;
        let original = pipeline.execute::<SampleWallet>(&id, top_up(10), &ctx).await.unwrap();
        let repeat = pipeline.execute::<SampleWallet>(&id, top_up(10), &ctx).await.unwrap();
        assert!(repeat.replayed && !original.replayed);
        assert_eq!(repeat.position, original.position);
        assert_eq!(repeat.events, original.events);
        assert_eq!(event_count(&pool).await, before + 1, "the repeat appended nothing");

        // Same key, other payload: refused, nothing appended.
        let other = pipeline.execute::<SampleWallet>(&id, top_up(11), &ctx).await;
        assert!(matches!(other, Err(CommandError::IdempotencyKeyReused { .. })), "{other:?}");
        assert_eq!(event_count(&pool).await, before + 1);

        // The same key from another actor is another command.
        let bob = CommandContext::actor("bob").with_idempotency_key(format!("key-{group_commit}"));
        let bobs = pipeline.execute::<SampleWallet>(&id, top_up(10), &bob).await.unwrap();
        assert!(!bobs.replayed);
    }
}

/// A repeat of a withdrawal that emptied the wallet would be refused if decided again; it must
/// still get its original result.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_repeat_gets_its_result_even_when_the_command_would_now_be_refused(pool: PgPool) {
    let pipeline = pipeline(&pool, true, PipelineConfig::default());
    let plain = CommandContext::actor("alice");
    pipeline.execute::<SampleWallet>("w", top_up(5), &plain).await.unwrap();
    let keyed = CommandContext::actor("alice").with_idempotency_key("withdraw-all");
    let withdraw = || SampleWalletCommand::Withdraw { amount: 5 };
    let original = pipeline.execute::<SampleWallet>("w", withdraw(), &keyed).await.unwrap();
    let repeat = pipeline.execute::<SampleWallet>("w", withdraw(), &keyed).await.unwrap();
    assert!(repeat.replayed);
    assert_eq!(repeat.appended, original.appended);
}

/// Concurrent duplicates (a client retrying on a timeout while the first attempt is still in
/// flight), through different pipelines: exactly one append, every caller gets that result.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn concurrent_duplicates_append_once(pool: PgPool) {
    for group_commit in [false, true] {
        let pipelines: Vec<_> =
            (0..4).map(|_| pipeline(&pool, group_commit, PipelineConfig::default())).collect();
        let before = event_count(&pool).await;
        let tasks = (0..16).map(|i| {
            let pipeline = pipelines[i % pipelines.len()].clone();
            tokio::spawn(async move {
                // Different wallets too: the key, not the stream, must stop the duplicate.
                let ctx = CommandContext::actor("alice").with_idempotency_key(format!("dup-{group_commit}"));
                pipeline.execute::<SampleWallet>(format!("d{group_commit}"), top_up(3), &ctx).await
            })
        });
        let results: Vec<_> = join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
        let positions: std::collections::HashSet<_> =
            results.iter().map(|r| r.as_ref().map(|o| o.position).unwrap()).collect();
        assert_eq!(positions.len(), 1, "every duplicate got the same result");
        assert_eq!(results.iter().filter(|r| r.as_ref().is_ok_and(|o| !o.replayed)).count(), 1);
        assert_eq!(event_count(&pool).await, before + 1);
    }
}

/// A transfer-like command appends to two streams atomically, or to none.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn multi_stream_commands_are_atomic(pool: PgPool) {
    let pipeline = pipeline(&pool, true, PipelineConfig::default());
    let ctx = CommandContext::actor("alice");
    pipeline.execute::<SampleWallet>("from", top_up(10), &ctx).await.unwrap();
    let transfer = |from: &'static str, to: &'static str, amount: i64| {
        let pipeline = pipeline.clone();
        let ctx = ctx.clone();
        async move {
            pipeline
                .run::<(Loaded<SampleWallet>, Loaded<SampleWallet>), SampleWalletError, _>(
                    (from.to_owned(), to.to_owned()),
                    "transfer",
                    &amount,
                    &ctx,
                    |(from, to)| {
                        let debit = from.state.decide(&SampleWalletCommand::Withdraw { amount })?;
                        let credit = to.state.decide(&SampleWalletCommand::TopUp { amount })?;
                        Ok((debit, credit))
                    },
                )
                .await
        }
    };
    let done = transfer("from", "to", 4).await.unwrap();
    assert_eq!(done.appended.len(), 2);
    assert_eq!(
        done.appended[0].position.transaction_id, done.appended[1].position.transaction_id,
        "one transaction"
    );
    let refused = transfer("from", "to", 7).await;
    assert!(matches!(refused, Err(CommandError::Domain(SampleWalletError::InsufficientFunds { .. }))));
    assert_eq!(versions(&pool, "sample_wallet-from").await, vec![1, 2]);
    assert_eq!(versions(&pool, "sample_wallet-to").await, vec![1]);

    // Racing transfers in both directions neither deadlock nor create or lose money.
    pipeline.execute::<SampleWallet>("to", top_up(100), &ctx).await.unwrap();
    let racing = (0..20).map(|i| {
        let (from, to) = if i % 2 == 0 { ("from", "to") } else { ("to", "from") };
        tokio::spawn(transfer(from, to, 1))
    });
    for result in join_all(racing).await {
        match result.unwrap() {
            Ok(_) | Err(CommandError::Domain(SampleWalletError::InsufficientFunds { .. })) => {}
            Err(other) => panic!("transfer failed: {other}"),
        }
    }
    let fresh =
        self::pipeline(&pool, false, PipelineConfig { cache_capacity: 0, ..PipelineConfig::default() });
    let from: Loaded<SampleWallet> = fresh.load(StreamName::of::<SampleWallet>("from")).await.unwrap();
    let to: Loaded<SampleWallet> = fresh.load(StreamName::of::<SampleWallet>("to")).await.unwrap();
    assert_eq!(from.state.balance + to.state.balance, 110);
    assert!(from.state.balance >= 0 && to.state.balance >= 0);
}

/// An event stored by schema version 1 is read as version 2.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn old_event_versions_are_upcast_when_read(pool: PgPool) {
    sqlx::query(
        "INSERT INTO events (stream_name, stream_version, event_id, event_type, schema_version, payload, metadata) \
         VALUES ('sample_wallet-old', 1, gen_random_uuid(), 'sample_wallet.topped_up', 1, '{\"amount\": 7, \"balanceAfter\": 7}', '{\"commandId\": \"c\", \"correlationId\": \"c\"}')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let pipeline = pipeline(&pool, false, PipelineConfig::default());
    let outcome = pipeline
        .execute::<SampleWallet>(
            "old",
            SampleWalletCommand::Withdraw { amount: 7 },
            &CommandContext::default(),
        )
        .await
        .unwrap();
    assert!(matches!(&outcome.events[..], [SampleWalletEvent::Withdrawn(w)] if w.balance_after == 0));
}

/// Long streams are loaded from a snapshot plus the events after it.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn long_streams_are_snapshotted(pool: PgPool) {
    let config = PipelineConfig { snapshot_every: 10, cache_capacity: 0, ..PipelineConfig::default() };
    let pipeline = pipeline(&pool, false, config.clone());
    for _ in 0..25 {
        pipeline.execute::<SampleWallet>("long", top_up(1), &CommandContext::default()).await.unwrap();
    }
    let mut snapshot_version = 0_i64;
    for _ in 0..50 {
        snapshot_version = sqlx::query_scalar(
            "SELECT stream_version FROM snapshots WHERE stream_name = 'sample_wallet-long'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap()
        .unwrap_or(0);
        if snapshot_version == 20 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(snapshot_version, 20);
    // Prove the snapshot is used: tamper with its operation count (events set the balance
    // absolutely but only add to the count) and see the tampered count come back.
    sqlx::query("UPDATE snapshots SET state = jsonb_set(state, '{operations}', '1000')")
        .execute(&pool)
        .await
        .unwrap();
    let wallet: Loaded<SampleWallet> = pipeline.load(StreamName::of::<SampleWallet>("long")).await.unwrap();
    assert_eq!((wallet.version, wallet.state.balance, wallet.state.operations), (25, 25, 1005));
    // A snapshot of another state layout is ignored.
    sqlx::query("UPDATE snapshots SET snapshot_version = 99").execute(&pool).await.unwrap();
    let wallet: Loaded<SampleWallet> = pipeline.load(StreamName::of::<SampleWallet>("long")).await.unwrap();
    assert_eq!((wallet.version, wallet.state.balance, wallet.state.operations), (25, 25, 25));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn invalid_idempotency_keys_are_refused(pool: PgPool) {
    let pipeline = pipeline(&pool, false, PipelineConfig::default());
    let ctx = CommandContext::actor("a").with_idempotency_key("has spaces");
    let result = pipeline.execute::<SampleWallet>("k", top_up(1), &ctx).await;
    assert!(matches!(result, Err(CommandError::InvalidIdempotencyKey(_))));
    assert_eq!(event_count(&pool).await, 0);
}

/// Another process's append makes this process's cached state stale. A refusal decided on the
/// stale state must not stand: the pipeline catches the state up and decides again.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_refusal_is_never_decided_on_a_stale_cached_state(pool: PgPool) {
    let here = pipeline(&pool, true, PipelineConfig::default());
    let elsewhere = pipeline(&pool, true, PipelineConfig::default());
    let ctx = CommandContext::actor("alice");
    let withdraw = || SampleWalletCommand::Withdraw { amount: 5 };
    // `here` caches the empty wallet while refusing a withdrawal.
    let refused = here.execute::<SampleWallet>("stale", withdraw(), &ctx).await;
    assert!(matches!(refused, Err(CommandError::Domain(SampleWalletError::InsufficientFunds { .. }))));
    // Another process tops it up.
    elsewhere.execute::<SampleWallet>("stale", top_up(10), &ctx).await.unwrap();
    // `here` must see the money, not its cached empty wallet.
    let outcome = here.execute::<SampleWallet>("stale", withdraw(), &ctx).await.unwrap();
    assert!(matches!(&outcome.events[..], [SampleWalletEvent::Withdrawn(w)] if w.balance_after == 5));
}

/// Set uniqueness (guarantee 9): sign-ups racing for one email through different processes.
/// Each creates its own stream and claims the email in one atomic append; exactly one wins,
/// every other is refused `Taken`, and none of the losers' streams exists.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn concurrent_claims_of_one_value_have_exactly_one_winner(pool: PgPool) {
    use loopync_domain::claim::{ClaimCommand, ClaimError, UniqueClaim, claim_id};
    for group_commit in [false, true] {
        let email = claim_id("email", &format!("ada{group_commit}@example.com"));
        let pipelines: Vec<_> =
            (0..4).map(|_| pipeline(&pool, group_commit, PipelineConfig::default())).collect();
        let signups = (0..16).map(|i| {
            let pipeline = pipelines[i % pipelines.len()].clone();
            let email = email.clone();
            tokio::spawn(async move {
                let account = format!("acct{group_commit}{i}");
                pipeline
                    .run::<(Loaded<SampleWallet>, Loaded<UniqueClaim>), ClaimError, _>(
                        (account.clone(), email),
                        "sign_up",
                        &account,
                        &CommandContext::default(),
                        |(wallet, claim)| {
                            let claimed =
                                claim.state.decide(&ClaimCommand::Claim { owner: account.clone() })?;
                            let opened = wallet
                                .state
                                .decide(&SampleWalletCommand::TopUp { amount: 1 })
                                .map_err(|_| ClaimError::NotOwner)?;
                            Ok((opened, claimed))
                        },
                    )
                    .await
            })
        });
        let results: Vec<_> = join_all(signups).await.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "exactly one sign-up wins");
        assert!(
            results.iter().all(|r| r.is_ok() || matches!(r, Err(CommandError::Domain(ClaimError::Taken)))),
            "every other one is refused as taken"
        );
        let accounts: i64 =
            sqlx::query_scalar("SELECT count(DISTINCT stream_name) FROM events WHERE stream_name LIKE $1")
                .bind(format!("sample_wallet-acct{group_commit}%"))
                .fetch_one(&pool)
                .await
                .unwrap_or(-1);
        assert_eq!(accounts, 1, "no loser's stream was written");
        assert_eq!(versions(&pool, &format!("claim-{email}")).await, vec![1]);
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_request_postgresql_refuses_fails_alone_and_its_batch_mates_commit(pool: PgPool) {
    // A NUL in an event's metadata: jsonb refuses it (SQLSTATE 22P05) and fails the whole
    // statement, so group commit must narrow the failure down to that one request.
    let pipeline = pipeline(&pool, true, PipelineConfig::default());
    for round in 0..5 {
        let results = join_all((0..16).map(|n| {
            let pipeline = pipeline.clone();
            async move {
                let actor = if n == 7 { "mallory\u{0}".to_owned() } else { format!("user-{n}") };
                let ctx = CommandContext::actor(actor);
                pipeline.execute::<SampleWallet>(format!("r{round}-w{n}"), top_up(5), &ctx).await
            }
        }))
        .await;
        for (n, result) in results.iter().enumerate() {
            if n == 7 {
                let Err(CommandError::Store(loopync_commands::StoreError::Database(sqlx::Error::Database(
                    db,
                )))) = result
                else {
                    panic!("round {round}: the poisoned request: {result:?}");
                };
                assert_eq!(db.code().as_deref(), Some("22P05"), "the database's own refusal, kept: {db}");
            } else {
                assert!(result.is_ok(), "round {round}, request {n}: {result:?}");
            }
        }
    }
    assert_eq!(event_count(&pool).await, 5 * 15, "everything but the poisoned requests committed");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn the_event_log_refuses_updates_deletes_and_truncation(pool: PgPool) {
    let pipeline = pipeline(&pool, false, PipelineConfig::default());
    pipeline.execute::<SampleWallet>("w", top_up(5), &CommandContext::actor("alice")).await.unwrap();
    let before: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT event_type, payload FROM events").fetch_all(&pool).await.unwrap();
    for statement in [
        "UPDATE events SET payload = '{\"amount\": 9999}'",
        "UPDATE events SET event_type = 'sample_wallet.withdrawn'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let refused = sqlx::query(statement).execute(&pool).await.expect_err(statement);
        let sqlx::Error::Database(db) = &refused else { panic!("{statement}: {refused}") };
        assert_eq!(db.code().as_deref(), Some("42501"), "{statement}: {db}");
        assert!(db.message().contains("append-only"), "{statement}: {db}");
    }
    let after: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT event_type, payload FROM events").fetch_all(&pool).await.unwrap();
    assert_eq!(after, before, "nothing changed");
    // Appending goes on.
    pipeline.execute::<SampleWallet>("w", top_up(1), &CommandContext::actor("alice")).await.unwrap();
    assert_eq!(event_count(&pool).await, 2);
}
