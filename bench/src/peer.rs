//! The peer: the same wallet on `cqrs-es` + `postgres-es` (0.5, on sqlx 0.8 like ours).
//!
//! The aggregate wraps our domain's [`SampleWallet`], so both sides run the very same `decide`
//! and `apply` and store the same event payload; only the framework differs. It is run as
//! `postgres-es` documents it: [`postgres_es::postgres_cqrs`] (the event store is the source of
//! truth: every command reads the aggregate's events, then inserts the new one in its own
//! transaction), in a database of its own with the tables of postgres-es's `db/init.sql`.
//! cqrs-es does not retry conflicts itself; [`PeerTarget`] retries an `AggregateConflict`
//! right away, up to the same bound as our pipeline, and counts the retries.

use crate::driver::Target;
use crate::recorder::PipelineTotals;
use cqrs_es::AggregateError;
use cqrs_es::event_sink::EventSink;
use loopync_domain::Aggregate as _;
use loopync_domain::DomainEvent as _;
use loopync_domain::sample::{SampleWallet, SampleWalletCommand, SampleWalletError, SampleWalletEvent};
use postgres_es::PostgresCqrs;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::atomic::{AtomicU64, Ordering};

/// The tables `postgres-es` expects, from its `db/init.sql` (without the example view, the
/// example row and the test user).
pub const PEER_SCHEMA: [&str; 2] = [
    "CREATE TABLE events (
        aggregate_type text NOT NULL,
        aggregate_id text NOT NULL,
        sequence bigint CHECK (sequence >= 0) NOT NULL,
        event_type text NOT NULL,
        event_version text NOT NULL,
        payload json NOT NULL,
        metadata json NOT NULL,
        PRIMARY KEY (aggregate_type, aggregate_id, sequence)
    )",
    "CREATE TABLE snapshots (
        aggregate_type text NOT NULL,
        aggregate_id text NOT NULL,
        last_sequence bigint CHECK (last_sequence >= 0) NOT NULL,
        current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
        payload json NOT NULL,
        PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
    )",
];

/// Creates the peer's tables in an empty database.
pub async fn create_schema(pool: &PgPool) -> Result<(), sqlx::Error> {
    for statement in PEER_SCHEMA {
        sqlx::query(statement).execute(pool).await?;
    }
    Ok(())
}

/// Our wallet as a cqrs-es aggregate.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerWallet(SampleWallet);

/// Our wallet's events as cqrs-es events (same JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerEvent(SampleWalletEvent);

impl cqrs_es::DomainEvent for PeerEvent {
    fn event_type(&self) -> String {
        self.0.event_type().to_owned()
    }

    fn event_version(&self) -> String {
        self.0.schema_version().to_string()
    }
}

impl cqrs_es::Aggregate for PeerWallet {
    const TYPE: &'static str = "sample_wallet";
    type Command = SampleWalletCommand;
    type Event = PeerEvent;
    type Error = SampleWalletError;
    type Services = ();

    async fn handle(
        &mut self,
        command: SampleWalletCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), SampleWalletError> {
        for event in self.0.decide(&command)? {
            sink.write(PeerEvent(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: PeerEvent) {
        self.0.apply(&event.0);
    }
}

/// Top-ups through cqrs-es.
pub struct PeerTarget {
    cqrs: PostgresCqrs<PeerWallet>,
    ids: Vec<String>,
    max_retries: u32,
    retries: AtomicU64,
}

impl PeerTarget {
    /// The framework on `pool` (no queries), with `aggregates` wallets unique to `clients`.
    pub fn new(pool: PgPool, clients: usize, aggregates: usize, max_retries: u32) -> Self {
        let cqrs = postgres_es::postgres_cqrs(pool, Vec::new(), ());
        let ids = (0..aggregates.max(1)).map(|i| format!("peer-c{clients}-{i}")).collect();
        Self { cqrs, ids, max_retries, retries: AtomicU64::new(0) }
    }
}

impl Target for PeerTarget {
    type Error = AggregateError<SampleWalletError>;

    async fn top_up(&self, aggregate: usize, amount: i64) -> Result<(), Self::Error> {
        let id = &self.ids[aggregate % self.ids.len()];
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.cqrs.execute(id, SampleWalletCommand::TopUp { amount }).await {
                Err(AggregateError::AggregateConflict) if attempt <= self.max_retries => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                }
                result => return result,
            }
        }
    }

    fn totals(&self) -> PipelineTotals {
        PipelineTotals { conflicts: self.retries.load(Ordering::Relaxed), ..PipelineTotals::default() }
    }
}
