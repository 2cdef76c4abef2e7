//! `audit_ledger` against a real PostgreSQL: a ledger built through the command pipeline audits
//! clean with the right totals; then every kind of tampering done directly in SQL is found,
//! with the right reason and location.
//!
//! The read models are plain tables made here from the events (the audit reads them with
//! plain SQL, whoever fills them).
//!
//! - `world`: the ledger of the tests, built through the command pipeline.
//! - `store`: reading and tampering with the store in SQL; plain read-model tables.
//! - `clean`: a clean ledger, and the streaming chain verifier.
//! - `tampering`: edited, deleted and forged events, found by the ledger's own checks.
//! - `read_models`: read-model rows that differ, are missing or extra, or lag.
//! - `options`: waiting for the projection, capping mismatches, skipping the read models.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clean;
mod options;
mod read_models;
mod store;
mod tampering;
mod world;

use loopync_domain::looppay::LedgerAccount;
use loopync_workers::looppay::audit::{AuditOptions, AuditReport, Mismatch, MismatchKind, audit_ledger};
use sqlx::PgPool;
use std::collections::BTreeSet;

#[track_caller]
pub fn ok<T, E: std::fmt::Debug>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| panic!("{e:?}"))
}

/// Switches off the event log's append-only guard, as only the table's owner can: the tampering
/// tests play an attacker with those powers, whom the ledger audit must still catch.
pub async fn disarm_append_only(pool: &PgPool) {
    ok(sqlx::query("ALTER TABLE events DISABLE TRIGGER events_append_only_rows").execute(pool).await);
}

pub async fn audit(pool: &PgPool) -> AuditReport {
    ok(audit_ledger(pool, &AuditOptions::default()).await)
}

/// The ledger's own checks only (no read models).
pub async fn audit_events(pool: &PgPool) -> AuditReport {
    ok(audit_ledger(pool, &AuditOptions { compare_read_models: false, ..AuditOptions::default() }).await)
}

pub async fn audit_with(pool: &PgPool, options: AuditOptions) -> AuditReport {
    ok(audit_ledger(pool, &options).await)
}

pub fn kinds(report: &AuditReport) -> BTreeSet<&'static str> {
    report.mismatches.iter().map(|m| m.kind.as_str()).collect()
}

pub fn set(kinds: &[MismatchKind]) -> BTreeSet<&'static str> {
    kinds.iter().map(|k| k.as_str()).collect()
}

/// The only mismatch of `kind`.
#[track_caller]
pub fn only(report: &AuditReport, kind: MismatchKind) -> Mismatch {
    let found: Vec<&Mismatch> = report.of_kind(kind).collect();
    match found.as_slice() {
        [one] => (*one).clone(),
        _ => panic!("expected one {kind} mismatch, found {found:#?}\n{report}"),
    }
}

pub fn stream(account: LedgerAccount) -> Option<String> {
    Some(format!("wallet-{account}"))
}
