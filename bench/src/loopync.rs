//! The Loopync variants: [`CommandPipeline`] on [`PgEventStore`], with group commit off (each
//! command is one statement and one commit) or on (concurrent appends share a commit).
//!
//! Configured as the product runs it: the default [`PipelineConfig`] (aggregate cache, a
//! snapshot every 100 events, up to 16 conflict retries), no idempotency key.

use crate::driver::Target;
use crate::recorder::{PipelineMetrics, PipelineTotals};
use loopync_commands::{
    CommandContext, CommandError, CommandPipeline, GroupCommit, PgEventStore, PipelineConfig,
};
use loopync_domain::sample::{SampleWallet, SampleWalletCommand, SampleWalletError};
use sqlx::PgPool;
use std::sync::Arc;

/// One of our two configurations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// `GroupCommit { enabled: false, .. }`.
    Off,
    /// `GroupCommit { enabled: true, max_batch }`, on `writers` stores that each own a share of
    /// the aggregates (1 is the product's configuration; more is a diagnostic).
    On { max_batch: usize, writers: usize },
}

impl Grouping {
    fn group_commit(self) -> GroupCommit {
        match self {
            Self::Off => GroupCommit { enabled: false, ..GroupCommit::default() },
            Self::On { max_batch, .. } => GroupCommit { enabled: true, max_batch, ..GroupCommit::default() },
        }
    }

    /// A short tag for aggregate ids.
    fn tag(self) -> &'static str {
        match self {
            Self::Off => "single",
            Self::On { writers: 1, .. } => "grouped",
            Self::On { .. } => "sharded",
        }
    }
}

/// Top-ups through the command pipeline.
pub struct LoopyncTarget {
    /// One pipeline per writer; aggregate `i` always goes to pipeline `i % writers`.
    pipelines: Vec<CommandPipeline>,
    ids: Vec<String>,
    context: CommandContext,
    metrics: PipelineMetrics,
}

impl LoopyncTarget {
    /// A fresh store and pipeline (empty cache) on `pool`, with `aggregates` wallets whose ids
    /// are unique to this `grouping` and `clients` count, so points of one run never share
    /// streams. Must be called inside the tokio runtime (the store spawns its tasks).
    pub fn new(
        pool: PgPool,
        grouping: Grouping,
        clients: usize,
        aggregates: usize,
        metrics: PipelineMetrics,
    ) -> Self {
        let writers = match grouping {
            Grouping::On { writers, .. } => writers.max(1),
            Grouping::Off => 1,
        };
        let pipelines = (0..writers)
            .map(|_| {
                let store = PgEventStore::new(pool.clone(), grouping.group_commit());
                CommandPipeline::new(Arc::new(store), PipelineConfig::default())
            })
            .collect();
        let ids = (0..aggregates.max(1)).map(|i| format!("{}-c{clients}-{i}", grouping.tag())).collect();
        Self { pipelines, ids, context: CommandContext::actor("loopync-bench"), metrics }
    }
}

impl Target for LoopyncTarget {
    type Error = CommandError<SampleWalletError>;

    async fn top_up(&self, aggregate: usize, amount: i64) -> Result<(), Self::Error> {
        let index = aggregate % self.ids.len();
        let id = &self.ids[index];
        self.pipelines[index % self.pipelines.len()]
            .execute::<SampleWallet>(id, SampleWalletCommand::TopUp { amount }, &self.context)
            .await
            .map(|_| ())
    }

    fn totals(&self) -> PipelineTotals {
        self.metrics.totals()
    }
}
