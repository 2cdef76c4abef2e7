//! `loopync audit ledger`, the binary: exit 0 on a clean ledger (human and `--json` reports),
//! 1 once an event has been tampered with, 2 when there is no database to audit; chain heads
//! exported, verified as the ledger grows, and failing for a wallet whose history was
//! rewritten (even consistently re-sealed) or cut short.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use loopync_commands::CommandContext;
use loopync_domain::given::credits;
use loopync_domain::looppay::{
    CaptureHold, LedgerAccount, Pay, PlaceHold, TopUp, TopUpLimits, Transfer, WalletEvent,
};
use loopync_schemas::{RECORDED_EVENT_COLUMNS, RecordedEvent};
use loopync_testkit::{database_url, node_pipeline};
use sqlx::PgPool;
use std::process::{Command, Output};
use uuid::Uuid;

fn audit(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loopync"))
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .args(["audit", "ledger"])
        .args(args)
        .output()
        .expect("cannot run loopync")
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn audit_ledger_exits_0_when_clean_1_after_tampering_and_2_without_a_database(pool: PgPool) {
    let ledger = node_pipeline(&pool, true);
    let cx = CommandContext::actor("e2e");
    let now = Utc::now();
    let limits = TopUpLimits { per_top_up: 100_000, daily: 100_000, pending: 100 };
    let (ada, bob) = (LedgerAccount::User(Uuid::now_v7()), LedgerAccount::User(Uuid::now_v7()));
    let done = |what: &str, result: Result<(), String>| result.unwrap_or_else(|e| panic!("{what}: {e}"));
    let err = |e: loopync_commands::CommandError<_>| format!("{e:?}");
    done(
        "top-up",
        ledger
            .decide(
                &TopUp {
                    account: ada,
                    top_up_id: Uuid::now_v7(),
                    amount: credits(5_000),
                    confirmed: true,
                    limits,
                    now,
                },
                &cx,
            )
            .await
            .map(drop)
            .map_err(err),
    );
    let transfer =
        Transfer { entry_id: Uuid::now_v7(), from: ada, to: bob, amount: credits(1_200), note: None, now };
    done("transfer", ledger.decide(&transfer, &cx).await.map(drop).map_err(err));
    let pay = Pay {
        payment_id: Uuid::now_v7(),
        payer: bob,
        payee: LedgerAccount::Escrow,
        amount: credits(200),
        reference: "order:7".into(),
        note: None,
        now,
    };
    done("pay", ledger.decide(&pay, &cx).await.map(drop).map_err(err));
    let hold = PlaceHold {
        payment_id: Uuid::now_v7(),
        payer: ada,
        payee: LedgerAccount::Escrow,
        amount: credits(300),
        reference: "event:7".into(),
        expires_at: now + Duration::minutes(10),
        now,
    };
    done("hold", ledger.decide(&hold, &cx).await.map(drop).map_err(err));
    let capture = CaptureHold {
        payment_id: hold.payment_id,
        accounts: (ada, LedgerAccount::Escrow),
        amount: None,
        now,
    };
    done("capture", ledger.decide(&capture, &cx).await.map(drop).map_err(err));

    // The wallet read model, as a plain table made from the events (the audit reads it with
    // plain SQL, whoever fills it).
    for sql in [
        "CREATE TABLE read_models.wallet_balances (account text PRIMARY KEY, available bigint NOT NULL, \
         held bigint NOT NULL, sequence bigint NOT NULL, last_hash text NOT NULL, last_position bigint NOT NULL, \
         updated_at timestamptz NOT NULL)",
        "INSERT INTO read_models.wallet_balances \
         SELECT DISTINCT ON (stream_name) substr(stream_name, 8), (payload->>'availableAfter')::bigint, \
                (payload->>'heldAfter')::bigint, stream_version, payload->>'hash', global_position, recorded_at \
         FROM events WHERE stream_name LIKE 'wallet-%' ORDER BY stream_name, stream_version DESC",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }

    let url = database_url(&pool).await;
    let clean = audit(&url, &[]);
    let report = text(&clean);
    assert_eq!(clean.status.code(), Some(0), "{report}");
    assert!(report.contains("wallets checked   3 (8 events)"), "{report}");
    assert!(report.contains("circulation 5000"), "{report}");
    assert!(report.contains("CLEAN"), "{report}");
    println!("{report}");

    let json = audit(&url, &["--json"]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json));
    let parsed: serde_json::Value =
        serde_json::from_slice(&json.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&json)));
    assert_eq!(parsed["clean"], true);
    assert_eq!(parsed["totals"]["escrow"], 500);
    assert_eq!(parsed["readModels"]["walletRows"], 3);

    // Tampering, by someone with the table owner's powers (they alone can switch the
    // append-only guard off): Bob's received transfer says 9000 now.
    let stream = format!("wallet-{bob}");
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_append_only_rows").execute(&pool).await.unwrap();
    sqlx::query("UPDATE events SET payload = jsonb_set(payload, '{amount}', '9000') WHERE stream_name = $1 AND stream_version = 1")
        .bind(&stream)
        .execute(&pool)
        .await
        .unwrap();
    let position: i64 = sqlx::query_scalar(
        "SELECT global_position FROM events WHERE stream_name = $1 AND stream_version = 1",
    )
    .bind(&stream)
    .fetch_one(&pool)
    .await
    .unwrap();
    let tampered = audit(&url, &[]);
    let report = text(&tampered);
    assert_eq!(tampered.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("MISMATCH hash stream={stream} version=1 position={position}")),
        "{report}"
    );
    assert!(report.contains("FAILED"), "{report}");
    println!("{report}");

    let json = audit(&url, &["--json", "--wait-for-projection", "1"]);
    assert_eq!(json.status.code(), Some(1), "{}", text(&json));
    let parsed: serde_json::Value =
        serde_json::from_slice(&json.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&json)));
    assert_eq!(parsed["clean"], false);
    assert_eq!(parsed["mismatches"][0]["kind"], "hash");
    assert_eq!(parsed["mismatches"][0]["stream"], stream.as_str());
    assert_eq!(parsed["mismatches"][0]["version"], 1);
    assert_eq!(parsed["mismatches"][0]["position"], position);

    // No database: an operational error, not a verdict on the ledger.
    let unreachable = audit("postgres://postgres@127.0.0.1:1/loopync", &[]);
    assert_eq!(unreachable.status.code(), Some(2), "{}", text(&unreachable));
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("could not be audited"));
}

/// Rewrites `stream`'s history the way only someone who knows the domain's hash can: the first
/// event gains a note, and it and every later event are re-sealed, so that the chain holds.
async fn rewrite_history_consistently(pool: &PgPool, stream: &str) {
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_append_only_rows").execute(pool).await.unwrap();
    let events: Vec<RecordedEvent> = sqlx::query_as(&format!(
        "SELECT {RECORDED_EVENT_COLUMNS} FROM events WHERE stream_name = $1 ORDER BY stream_version"
    ))
    .bind(stream)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut prev_hash: Option<String> = None;
    for recorded in events {
        let event: WalletEvent = recorded.decode().unwrap();
        let mut entry = event.entry().clone();
        if recorded.stream_version == 1 {
            entry.note = Some("rewritten".to_owned());
        }
        if let Some(prev) = prev_hash.take() {
            entry.prev_hash = prev;
        }
        entry.hash = entry.expected_hash(&recorded.event_type);
        prev_hash = Some(entry.hash.clone());
        sqlx::query("UPDATE events SET payload = $1 WHERE stream_name = $2 AND stream_version = $3")
            .bind(serde_json::to_value(&entry).unwrap())
            .bind(stream)
            .bind(recorded.stream_version)
            .execute(pool)
            .await
            .unwrap();
    }
    sqlx::query("ALTER TABLE events ENABLE TRIGGER events_append_only_rows").execute(pool).await.unwrap();
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn exported_chain_heads_verify_as_the_ledger_grows_and_fail_naming_a_rewritten_wallet(pool: PgPool) {
    let ledger = node_pipeline(&pool, true);
    common::generate_ledger_traffic(&ledger, 4, 40).await;
    let url = database_url(&pool).await;
    let dir = std::env::temp_dir().join(format!("loopync-heads-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let heads_file = dir.join("heads.json");
    let path = heads_file.to_str().unwrap();

    // Exported from a clean audit: one head per wallet, with where the log was.
    let export = audit(&url, &["--skip-read-models", "--export-heads", path]);
    assert_eq!(export.status.code(), Some(0), "{}", text(&export));
    assert!(text(&export).contains("chain heads       4 exported"), "{}", text(&export));
    let exported: serde_json::Value = serde_json::from_slice(&std::fs::read(&heads_file).unwrap()).unwrap();
    assert_eq!(exported["format"], "loopync-ledger-heads-v1");
    assert!(exported["position"].as_str().is_some_and(|p| p.contains('-')), "{exported}");
    let heads = exported["heads"].as_array().unwrap();
    assert_eq!(heads.len(), 4, "{exported}");
    for head in heads {
        let stream = head["stream"].as_str().unwrap();
        let (version, hash): (i64, String) = sqlx::query_as(
            "SELECT stream_version, payload->>'hash' FROM events WHERE stream_name = $1 \
             ORDER BY stream_version DESC LIMIT 1",
        )
        .bind(stream)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            (head["version"].as_i64().unwrap(), head["hash"].as_str().unwrap()),
            (version, hash.as_str())
        );
    }

    // The ledger grows: every chain still extends its exported head.
    common::generate_ledger_traffic(&ledger, 4, 16).await;
    let verify = audit(&url, &["--skip-read-models", "--verify-heads", path]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    assert!(text(&verify).contains("chain heads       4 exported heads checked"), "{}", text(&verify));

    // A wallet's history rewritten and re-sealed: every chain check holds, so only the heads
    // can tell.
    let victim = heads[2]["stream"].as_str().unwrap();
    rewrite_history_consistently(&pool, victim).await;
    let unanchored = audit(&url, &["--skip-read-models"]);
    assert_eq!(unanchored.status.code(), Some(0), "the rewrite is consistent: {}", text(&unanchored));
    let verify = audit(&url, &["--skip-read-models", "--verify-heads", path]);
    let report = text(&verify);
    assert_eq!(verify.status.code(), Some(1), "{report}");
    assert!(report.contains(&format!("MISMATCH head_changed stream={victim} version=")), "{report}");
    assert_eq!(report.matches("MISMATCH").count(), 1, "only the rewritten wallet: {report}");
    let json = audit(&url, &["--skip-read-models", "--json", "--verify-heads", path]);
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(parsed["mismatches"][0]["kind"], "head_changed");
    assert_eq!(parsed["mismatches"][0]["stream"], victim);
    assert_eq!(parsed["headsVerified"], 4);

    // A dirty ledger's heads are not exported: they would anchor the tampering.
    let another = dir.join("after-tampering.json");
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_append_only_rows").execute(&pool).await.unwrap();
    sqlx::query("UPDATE events SET payload = jsonb_set(payload, '{amount}', '7777') WHERE stream_name = $1 AND stream_version = 2")
        .bind(victim)
        .execute(&pool)
        .await
        .unwrap();
    let refused = audit(&url, &["--skip-read-models", "--export-heads", another.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("chain heads not exported"), "{}", text(&refused));
    assert!(!another.exists());

    // A wallet whose head's event is gone: missing, named.
    sqlx::query("DELETE FROM events WHERE stream_name = $1 AND stream_version >= 2")
        .bind(victim)
        .execute(&pool)
        .await
        .unwrap();
    let verify = audit(&url, &["--skip-read-models", "--verify-heads", path]);
    let report = text(&verify);
    assert_eq!(verify.status.code(), Some(1), "{report}");
    assert!(report.contains(&format!("MISMATCH head_missing stream={victim}")), "{report}");
    assert!(report.contains("the chain now ends at version 1"), "{report}");

    // A file that is not a heads file: the audit cannot run.
    std::fs::write(dir.join("not-heads.json"), "{\"format\": \"something else\"}").unwrap();
    let unusable = audit(&url, &["--verify-heads", dir.join("not-heads.json").to_str().unwrap()]);
    assert_eq!(unusable.status.code(), Some(2), "{}", text(&unusable));
    std::fs::remove_dir_all(&dir).ok();
}
