//! `loopync audit ledger`, the binary: exit 0 on a clean ledger (human and `--json` reports),
//! 1 once an event has been tampered with, 2 when there is no database to audit.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use loopync_commands::CommandContext;
use loopync_domain::given::credits;
use loopync_domain::looppay::{CaptureHold, LedgerAccount, Pay, PlaceHold, TopUp, TopUpLimits, Transfer};
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
