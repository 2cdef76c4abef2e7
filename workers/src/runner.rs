//! The projection runtime.
//!
//! A [`ProjectionRunner`] runs in every worker process (and inside `loopync serve`). It keeps a
//! lease connection, tries every second to take ownership of each projection nobody owns, and
//! runs one task per owned projection. A task:
//!
//! 1. makes sure the projection's active generation exists (schema, tables, views, checkpoint);
//! 2. reads the log after its checkpoint in batches, applies each batch and advances the
//!    checkpoint **in the same transaction**, so a batch's effects are applied exactly once
//!    however the process dies;
//! 3. when it reaches the head of the log, waits for new events (local signal, `LISTEN`, or a
//!    short poll) — the same loop serves catch-up and live;
//! 4. stores the batch's live updates in the same transaction (`live_updates`), marked as not
//!    yet published, publishes them to NATS after the commit and clears the marks once NATS
//!    confirms. A worker that dies between the commit and the publish leaves the marks behind:
//!    the next owner publishes those updates when it takes the projection over, before its
//!    first batch (a client would otherwise see the gap only when a later update of theirs
//!    came, maybe never), and an owner whose publish failed (NATS away) retries every
//!    `lease_interval` until NATS confirms;
//! 5. runs a requested rebuild side by side with the live generation (see `rebuild`);
//! 6. when a batch fails with an error that would fail again ([`dead_letters::is_poison`]),
//!    bisects it — half the batch, then half of that — down to the event at fault, parks that
//!    event in `projection_dead_letters` with the error and moves past it in one transaction,
//!    so one poisoned event never stops the read model. Transient errors are retried with
//!    back-off.
//!
//! Projection transactions commit asynchronously (`synchronous_commit = off`): read models
//! are derived data, and a crash can only lose a suffix of committed batches together with
//! their checkpoint, which are then simply applied again.

use crate::dead_letters;
use crate::lease::Lease;
use crate::rebuild::{self, Generation};
use loopync_projections::live::{self, StoredUpdate};
use loopync_projections::projection::{self, Projection, ProjectionError};
use loopync_projections::{CheckpointBoard, EventLog, LogWaker, Subjects};
use loopync_schemas::Position;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Tuning of the runtime.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Shown as the owner in `projections status`; unique per process.
    pub worker_id: String,
    /// Events per live batch.
    pub batch_size: i64,
    /// Events per batch while rebuilding a generation from zero.
    pub rebuild_batch_size: i64,
    /// Longest wait for new events without a wake-up.
    pub idle_poll: Duration,
    /// How often unowned projections are tried, and the lease checked.
    pub lease_interval: Duration,
    /// Longest back-off after a failing batch.
    pub max_backoff: Duration,
    /// Where live updates are published (the deployment's NATS prefix).
    pub subjects: Subjects,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            worker_id: format!("{}-{}", hostname(), std::process::id()),
            batch_size: 1000,
            rebuild_batch_size: 5000,
            idle_poll: Duration::from_millis(500),
            lease_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
            subjects: Subjects::default(),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "worker".to_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// The checkpoint moved under us: another worker owns the projection now.
    #[error("projection {0} generation {1} was advanced by another worker")]
    Fenced(String, i32),
    /// The projection failed to apply a batch (which was rolled back); `first` is its first
    /// event, the one parked when the batch is a single event.
    #[error("applying {events} events failed: {error}")]
    Apply { error: ProjectionError, events: usize, first: Box<loopync_schemas::RecordedEvent> },
}

/// Runs the projections this process owns.
pub struct ProjectionRunner {
    shared: Arc<Shared>,
    projections: Vec<Arc<dyn Projection>>,
}

/// What every projection task of a runner shares.
pub(crate) struct Shared {
    pub(crate) pool: PgPool,
    pub(crate) log: EventLog,
    pub(crate) waker: LogWaker,
    pub(crate) board: Arc<CheckpointBoard>,
    pub(crate) nats: Option<async_nats::Client>,
    pub(crate) config: RunnerConfig,
}

impl ProjectionRunner {
    pub fn new(
        pool: PgPool,
        projections: Vec<Arc<dyn Projection>>,
        waker: LogWaker,
        board: Arc<CheckpointBoard>,
        nats: Option<async_nats::Client>,
        config: RunnerConfig,
    ) -> Self {
        let shared = Arc::new(Shared { log: EventLog::new(pool.clone()), pool, waker, board, nats, config });
        Self { shared, projections }
    }

    /// Runs until `shutdown` is cancelled, then stops every projection task after its current
    /// batch and releases ownership.
    pub async fn run(self, shutdown: CancellationToken) {
        let config = &self.shared.config;
        let options = (*self.shared.pool.connect_options()).clone();
        let mut lease: Option<Lease> = None;
        let mut owned: HashMap<&'static str, (CancellationToken, JoinHandle<()>)> = HashMap::new();
        tracing::info!(worker = %config.worker_id, projections = self.projections.len(), "projection runner started");

        while !shutdown.is_cancelled() {
            let healthy = match lease.as_mut() {
                Some(lease) => lease.ping().await.is_ok(),
                None => false,
            };
            if !healthy {
                // Without the lease we own nothing: stop every task before anyone takes over.
                stop_all(&mut owned).await;
                if let Some(old) = lease.take() {
                    old.close().await;
                }
                match Lease::connect(&options, &config.worker_id).await {
                    Ok(fresh) => lease = Some(fresh),
                    Err(error) => tracing::warn!(%error, "lease connection failed; retrying"),
                }
            }
            if let Some(lease) = lease.as_mut() {
                for projection in &self.projections {
                    let name = projection.name();
                    if owned.get(name).is_some_and(|(_, task)| !task.is_finished()) {
                        continue;
                    }
                    match lease.try_acquire(name).await {
                        Ok(true) => {
                            tracing::info!(projection = name, worker = %config.worker_id, "projection owned");
                            let token = shutdown.child_token();
                            let task = tokio::spawn(run_projection(
                                self.shared.clone(),
                                projection.clone(),
                                token.clone(),
                            ));
                            owned.insert(name, (token, task));
                        }
                        Ok(false) => {}
                        Err(error) => {
                            tracing::warn!(%error, "lease check failed");
                            break;
                        }
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(config.lease_interval) => {}
            }
        }
        stop_all(&mut owned).await;
        if let Some(lease) = lease {
            lease.close().await;
        }
        tracing::info!(worker = %config.worker_id, "projection runner stopped");
    }
}

async fn stop_all(owned: &mut HashMap<&'static str, (CancellationToken, JoinHandle<()>)>) {
    for (token, _) in owned.values() {
        token.cancel();
    }
    for (_, (_, task)) in owned.drain() {
        let _ = task.await;
    }
}

/// One owned projection, restarted with back-off after errors until cancelled.
async fn run_projection(shared: Arc<Shared>, projection: Arc<dyn Projection>, cancel: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match ProjectionTask::start(shared.clone(), projection.clone()).await {
            Ok(mut task) => match task.run(&cancel).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(projection = projection.name(), %error, "projection batch failed; restarting");
                }
            },
            Err(error) => tracing::warn!(projection = projection.name(), %error, "projection cannot start"),
        }
        metrics::counter!("loopync_projection_failures_total", "projection" => projection.name())
            .increment(1);
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(shared.config.max_backoff);
    }
}

/// The state of one owned projection: its active generation and, during a rebuild, the new one.
pub(crate) struct ProjectionTask {
    pub(crate) shared: Arc<Shared>,
    pub(crate) projection: Arc<dyn Projection>,
    pub(crate) active: Generation,
    pub(crate) rebuilding: Option<Generation>,
    /// Live updates of this projection may still be marked unpublished: at takeover (a
    /// previous owner may have died before publishing), and after a publish NATS did not
    /// confirm. While set, the task looks for them every `lease_interval`; while clear, it
    /// does not query for them at all.
    pub(crate) unconfirmed: bool,
}

impl ProjectionTask {
    async fn start(shared: Arc<Shared>, projection: Arc<dyn Projection>) -> Result<Self, RunError> {
        let (active, rebuilding) = rebuild::prepare(&shared.pool, projection.as_ref()).await?;
        shared.board.reset(projection.name(), active.position);
        Ok(Self { shared, projection, active, rebuilding, unconfirmed: true })
    }

    async fn run(&mut self, cancel: &CancellationToken) -> Result<(), RunError> {
        let mut wake = self.shared.waker.subscribe();
        let mut last_request_check = Instant::now();
        // What a previous owner committed but did not publish goes out before anything newer.
        self.republish().await;
        while !cancel.is_cancelled() {
            wake.mark_seen();
            let batch_size = self.shared.config.batch_size;
            let mut applied = self.step(Which::Active, batch_size).await?;
            if self.rebuilding.is_some() {
                applied += self.step(Which::Rebuilding, self.shared.config.rebuild_batch_size).await?;
                self.switch_if_caught_up().await?;
            }
            if last_request_check.elapsed() >= self.shared.config.lease_interval {
                last_request_check = Instant::now();
                self.pick_up_rebuild_request().await?;
                if self.unconfirmed {
                    self.republish().await;
                }
            }
            if applied == 0 {
                tokio::select! {
                    () = cancel.cancelled() => {}
                    () = wake.wait(self.shared.config.idle_poll) => {}
                }
            }
        }
        Ok(())
    }

    /// Applies the next batch of the log to one generation. Returns the number of events read.
    /// A batch that fails with a poisoned event is bisected until that event is parked.
    async fn step(&mut self, which: Which, limit: i64) -> Result<usize, RunError> {
        let mut limit = limit;
        loop {
            match self.apply_batch(which, limit).await {
                Err(RunError::Apply { error, events, first }) if dead_letters::is_poison(&error) => {
                    if events > 1 {
                        tracing::warn!(projection = self.projection.name(), %error, events, "batch failed; bisecting");
                        limit = i64::try_from(events / 2).unwrap_or(1);
                        continue;
                    }
                    self.park(which, &first, &error.to_string()).await?;
                    return Ok(1);
                }
                other => return other,
            }
        }
    }

    /// The generation `which` names (`None`: no rebuild under way).
    fn generation(&self, which: Which) -> Option<&Generation> {
        match which {
            Which::Active => Some(&self.active),
            Which::Rebuilding => self.rebuilding.as_ref(),
        }
    }

    /// Parks `event`, which the projection cannot apply, and moves the generation past it.
    async fn park(
        &mut self,
        which: Which,
        event: &loopync_schemas::RecordedEvent,
        error: &str,
    ) -> Result<(), RunError> {
        let Some(generation) = self.generation(which).copied() else { return Ok(()) };
        let name = self.projection.name();
        let mut tx = self.shared.pool.begin().await?;
        fence(&mut tx, name, &generation).await?;
        dead_letters::park(&mut tx, name, generation.number, event, error).await?;
        advance_checkpoint(&mut tx, name, &generation, event.position, 1, &self.shared.config.worker_id)
            .await?;
        tx.commit().await?;
        tracing::error!(
            projection = name,
            generation = generation.number,
            position = %event.position,
            event_type = %event.event_type,
            error,
            "an event the projection cannot apply was parked (loopync projections failed)"
        );
        metrics::counter!("loopync_projection_dead_letters_total", "projection" => name).increment(1);
        self.moved(which, event.position, 1);
        Ok(())
    }

    /// Records that `which` has applied up to `position` (`events` more).
    fn moved(&mut self, which: Which, position: Position, events: usize) {
        let name = self.projection.name();
        match which {
            Which::Active => {
                self.active.position = position;
                self.shared.board.advance(name, position);
                metrics::counter!("loopync_projection_events_total", "projection" => name)
                    .increment(events as u64);
            }
            Which::Rebuilding => {
                if let Some(rebuilding) = self.rebuilding.as_mut() {
                    rebuilding.position = position;
                }
            }
        }
    }

    /// Applies the next batch of at most `limit` events to one generation, in one transaction
    /// with its checkpoint and live updates, then publishes the updates.
    async fn apply_batch(&mut self, which: Which, limit: i64) -> Result<usize, RunError> {
        let (events, updates) = self.commit_batch(which, limit).await?;
        if !updates.is_empty() && !self.publish(&updates).await {
            self.unconfirmed = true;
        }
        Ok(events)
    }

    /// The transaction of [`apply_batch`](Self::apply_batch): the events read and the live
    /// updates stored (and marked unpublished), not yet published.
    async fn commit_batch(
        &mut self,
        which: Which,
        limit: i64,
    ) -> Result<(usize, Vec<StoredUpdate>), RunError> {
        let generation = match which {
            Which::Active => &self.active,
            Which::Rebuilding => match &self.rebuilding {
                Some(generation) => generation,
                None => return Ok((0, Vec::new())),
            },
        };
        let events = self.shared.log.read_after(generation.position, limit).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok((0, Vec::new()));
        };
        let name = self.projection.name();
        let mut tx = self.shared.pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
        fence(&mut tx, name, generation).await?;
        projection::use_generation(&mut tx, name, generation.number).await?;
        // A failure rolls the batch back (the transaction is dropped) and says which events.
        let updates = match self.projection.apply(&mut tx, &events).await {
            Ok(updates) => updates,
            Err(error) => {
                let first = Box::new(events[0].clone());
                return Err(RunError::Apply { error, events: events.len(), first });
            }
        };
        // Live updates only from the live generation: a rebuild replays history. They are
        // stored with the batch, so a client that missed them can be given them later.
        let updates = match which {
            Which::Active => live::append(&mut tx, updates).await?,
            Which::Rebuilding => Vec::new(),
        };
        // Without NATS nothing is published, by this worker or (it is the deployment's
        // setting) by the next: marks would only pile up.
        if self.shared.nats.is_some() {
            live::mark_unpublished(&mut tx, name, &updates).await?;
        }
        advance_checkpoint(&mut tx, name, generation, last, events.len(), &self.shared.config.worker_id)
            .await?;
        tx.commit().await?;
        self.moved(which, last, events.len());
        Ok((events.len(), updates))
    }

    /// Publishes stored updates and, once NATS confirms them, clears their marks. Returns
    /// whether it did; otherwise the marks stay for [`republish`](Self::republish). A
    /// publish that reached NATS but no client loses nothing either: the gateway notices the
    /// gap in the user's cursors (or the broker reconnect) and reads the stored rows.
    async fn publish(&self, updates: &[StoredUpdate]) -> bool {
        let Some(nats) = &self.shared.nats else { return true };
        let name = self.projection.name();
        // While NATS is away a publish would only queue in the client, and once its queue is
        // full it would wait for the reconnect and hold up the read model. The marks keep the
        // updates for [`republish`](Self::republish) instead.
        if !connected(nats) {
            return false;
        }
        let mut sent = true;
        for update in updates {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(live::CURSOR_HEADER, update.seq.to_string().as_str());
            let subject = self.shared.config.subjects.live_durable(update.user_id);
            if let Err(error) = nats.publish_with_headers(subject, headers, update.frame().into()).await {
                tracing::warn!(%error, projection = name, "live update not published");
                sent = false;
            }
        }
        // A publish is only queued in the client; a flush returns once the server has read
        // everything sent before it.
        if !sent {
            return false;
        }
        match tokio::time::timeout(CONFIRM_TIMEOUT, nats.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, projection = name, "live updates not confirmed by NATS");
                return false;
            }
            Err(_) => {
                tracing::warn!(projection = name, "live updates not confirmed by NATS in time");
                return false;
            }
        }
        if let Err(error) = live::published(&self.shared.pool, updates).await {
            // They went out; at worst they go out twice, which the gateway drops.
            tracing::warn!(%error, projection = name, "published live updates still marked");
            return false;
        }
        true
    }

    /// Publishes, in cursor order, this projection's updates still marked unpublished: those
    /// of a previous owner that died between its commit and its publish, and this task's own
    /// that NATS did not confirm. Clears [`unconfirmed`](Self::unconfirmed) once none is left.
    /// Errors are logged and retried on the next call: the read model goes on meanwhile.
    pub(crate) async fn republish(&mut self) {
        let Some(nats) = &self.shared.nats else {
            self.unconfirmed = false;
            return;
        };
        if !connected(nats) {
            return;
        }
        let name = self.projection.name();
        loop {
            let pending = match live::unpublished(&self.shared.pool, name, REPUBLISH_BATCH).await {
                Ok(pending) => pending,
                Err(error) => {
                    tracing::warn!(%error, projection = name, "unpublished live updates not read");
                    return;
                }
            };
            if pending.is_empty() {
                self.unconfirmed = false;
                return;
            }
            if !self.publish(&pending).await {
                return;
            }
            tracing::info!(projection = name, updates = pending.len(), "unpublished live updates published");
            metrics::counter!("loopync_live_updates_republished_total", "projection" => name)
                .increment(pending.len() as u64);
        }
    }
}

fn connected(nats: &async_nats::Client) -> bool {
    matches!(nats.connection_state(), async_nats::connection::State::Connected)
}

/// How long a publish waits for NATS to confirm it before leaving it marked for later.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(2);

/// Unpublished updates published per query.
const REPUBLISH_BATCH: i64 = 1000;

/// The checkpoint fence: the checkpoint must still be where `generation` left it, locked until
/// the transaction ends. If another worker advanced it, we are no longer the owner and must not
/// apply anything.
async fn fence(tx: &mut sqlx::PgConnection, name: &str, generation: &Generation) -> Result<(), RunError> {
    let stored = sqlx::query!(
        r#"SELECT transaction_id::text::bigint AS "transaction_id!", global_position
             FROM projection_checkpoints WHERE projection = $1 AND generation = $2 FOR UPDATE"#,
        name,
        generation.number,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if stored.map(|c| Position::new(c.transaction_id, c.global_position)) != Some(generation.position) {
        return Err(RunError::Fenced(name.to_owned(), generation.number));
    }
    Ok(())
}

/// Moves `generation`'s checkpoint to `to`, `events` more seen, by `worker`.
async fn advance_checkpoint(
    tx: &mut sqlx::PgConnection,
    name: &str,
    generation: &Generation,
    to: Position,
    events: usize,
    worker: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE projection_checkpoints SET transaction_id = $3::text::xid8, global_position = $4, \
             events_seen = events_seen + $5, last_owner = $6, updated_at = now() \
         WHERE projection = $1 AND generation = $2",
        name,
        generation.number,
        to.transaction_id.to_string(),
        to.global_position,
        i64::try_from(events).unwrap_or(i64::MAX),
        worker,
    )
    .execute(tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Which {
    Active,
    Rebuilding,
}

#[cfg(test)]
mod fence {
    //! The checkpoint fence: a worker that still believes it owns a projection after another
    //! took over (a lease lost to a network partition, say) applies nothing.

    use super::*;
    use loopync_commands::{CommandContext, CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
    use loopync_domain::sample::{SampleWallet, SampleWalletCommand};
    use loopync_projections::sample::SampleWalletBalances;

    fn ok<T, E: std::fmt::Debug>(result: Result<T, E>) -> T {
        result.unwrap_or_else(|e| panic!("{e:?}"))
    }

    async fn top_ups(pool: &PgPool, count: usize) {
        let store =
            PgEventStore::new(pool.clone(), GroupCommit { enabled: false, max_batch: 1, max_in_flight: 1 });
        let pipeline = CommandPipeline::new(Arc::new(store), PipelineConfig::default());
        for n in 0..count {
            let command = SampleWalletCommand::TopUp { amount: 1 };
            ok(pipeline
                .execute::<SampleWallet>(format!("w{n}"), command, &CommandContext::actor("fence"))
                .await);
        }
    }

    /// A task of the sample projection, as one worker runs it.
    async fn task(pool: &PgPool, worker: &str) -> ProjectionTask {
        let config = RunnerConfig { worker_id: worker.to_owned(), ..RunnerConfig::default() };
        let shared = Arc::new(Shared {
            log: EventLog::new(pool.clone()),
            pool: pool.clone(),
            waker: LogWaker::new(pool.clone(), None),
            board: CheckpointBoard::new(pool.clone()),
            nats: None,
            config,
        });
        ok(ProjectionTask::start(shared, Arc::new(SampleWalletBalances)).await)
    }

    /// Waits until the log shows all `count` events. The log's horizon is the whole server's
    /// (`pg_snapshot_xmin`): a transaction another test holds open hides what committed after
    /// it began, so a batch read too early could find nothing. Once visible, events stay so.
    async fn visible(pool: &PgPool, count: usize) {
        let log = EventLog::new(pool.clone());
        let started = Instant::now();
        while ok(log.read_after(Position::ORIGIN, 100).await).len() < count {
            assert!(started.elapsed() < Duration::from_secs(30), "the events never became readable");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wallets(pool: &PgPool) -> i64 {
        ok(sqlx::query_scalar("SELECT count(*) FROM read_models.sample_wallet_balances")
            .fetch_one(pool)
            .await)
    }

    #[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
    async fn a_worker_whose_checkpoint_moved_applies_nothing(pool: PgPool) {
        top_ups(&pool, 3).await;
        visible(&pool, 3).await;
        let mut first = task(&pool, "first").await;
        let mut stale = task(&pool, "stale").await;
        assert_eq!(ok(first.step(Which::Active, 2).await), 2);
        let refused = stale.step(Which::Active, 2).await;
        assert!(matches!(refused, Err(RunError::Fenced(..))), "{refused:?}");
        assert_eq!(wallets(&pool).await, 2, "the fenced worker applied nothing");
        assert_eq!(ok(first.step(Which::Active, 2).await), 1, "the owner goes on where it was");
        assert_eq!(wallets(&pool).await, 3);
    }

    /// The other worker is mid-batch (it holds the checkpoint row) when this one starts its
    /// batch from the same checkpoint. Reading the checkpoint `FOR UPDATE` makes this one wait
    /// for the other's commit and then see the checkpoint moved; a plain read would see the
    /// old checkpoint, apply the batch a second time and commit after the other.
    #[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
    async fn a_batch_started_while_another_worker_commits_one_waits_and_is_fenced(pool: PgPool) {
        top_ups(&pool, 4).await;
        visible(&pool, 4).await;
        let mut late = task(&pool, "late").await;
        let mut other = ok(pool.begin().await);
        ok(sqlx::query("SELECT 1 FROM projection_checkpoints WHERE projection = $1 FOR UPDATE")
            .bind(SampleWalletBalances::NAME)
            .execute(&mut *other)
            .await);
        let other_commits = async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            // The other worker's batch: every event, and the checkpoint after the last.
            ok(sqlx::query(
                "UPDATE projection_checkpoints c SET transaction_id = e.transaction_id, \
                        global_position = e.global_position, events_seen = c.events_seen + 4 \
                 FROM (SELECT transaction_id, global_position FROM events \
                       ORDER BY transaction_id DESC, global_position DESC LIMIT 1) e \
                 WHERE c.projection = $1",
            )
            .bind(SampleWalletBalances::NAME)
            .execute(&mut *other)
            .await);
            ok(other.commit().await);
        };
        let (result, ()) = tokio::join!(late.step(Which::Active, 10), other_commits);
        assert!(matches!(result, Err(RunError::Fenced(..))), "{result:?}");
        let seen: i64 =
            ok(sqlx::query_scalar("SELECT events_seen FROM projection_checkpoints WHERE projection = $1")
                .bind(SampleWalletBalances::NAME)
                .fetch_one(&pool)
                .await);
        assert_eq!(seen, 4, "the batch counted once, by the worker that committed it");
        assert_eq!(wallets(&pool).await, 0, "the late worker applied nothing");
    }
}

#[cfg(test)]
mod unpublished {
    //! Live updates of a worker that died between committing its batch and publishing them:
    //! the next owner publishes them, with no later update needed to reveal the gap.

    use super::*;
    use async_trait::async_trait;
    use futures::StreamExt;
    use loopync_commands::{CommandContext, CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
    use loopync_domain::sample::{SampleWallet, SampleWalletCommand};
    use loopync_projections::projection::LiveUpdate;
    use loopync_projections::sample::SampleWalletBalances;
    use loopync_schemas::RecordedEvent;
    use sqlx::PgConnection;
    use uuid::Uuid;

    fn ok<T, E: std::fmt::Debug>(result: Result<T, E>) -> T {
        result.unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// The sample projection, which also tells one user of every event it applies.
    struct Announced {
        user_id: Uuid,
    }

    #[async_trait]
    impl Projection for Announced {
        fn name(&self) -> &'static str {
            SampleWalletBalances::NAME
        }
        fn schema_sql(&self) -> &'static str {
            SampleWalletBalances.schema_sql()
        }
        fn tables(&self) -> &'static [&'static str] {
            SampleWalletBalances.tables()
        }
        async fn apply(
            &self,
            conn: &mut PgConnection,
            events: &[RecordedEvent],
        ) -> Result<Vec<LiveUpdate>, ProjectionError> {
            SampleWalletBalances.apply(conn, events).await?;
            Ok(events
                .iter()
                .map(|event| LiveUpdate {
                    user_id: self.user_id,
                    kind: "sample_applied",
                    data: serde_json::json!({ "position": event.position.global_position }),
                })
                .collect())
        }
    }

    async fn nats() -> async_nats::Client {
        let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
        ok(async_nats::connect(url).await)
    }

    async fn unpublished(pool: &PgPool) -> i64 {
        ok(sqlx::query_scalar("SELECT count(*) FROM live_updates_unpublished").fetch_one(pool).await)
    }

    #[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
    async fn updates_committed_by_a_worker_that_died_before_publishing_are_published_by_the_next_owner(
        pool: PgPool,
    ) {
        let nats = nats().await;
        let user_id = Uuid::now_v7();
        let projection = Arc::new(Announced { user_id });
        let store =
            PgEventStore::new(pool.clone(), GroupCommit { enabled: false, max_batch: 1, max_in_flight: 1 });
        let pipeline = CommandPipeline::new(Arc::new(store), PipelineConfig::default());
        for wallet in ["a", "b"] {
            let command = SampleWalletCommand::TopUp { amount: 1 };
            ok(pipeline.execute::<SampleWallet>(wallet, command, &CommandContext::actor("t")).await);
        }
        let log = EventLog::new(pool.clone());
        let started = Instant::now();
        while ok(log.read_after(Position::ORIGIN, 10).await).len() < 2 {
            assert!(started.elapsed() < Duration::from_secs(30), "the events never became readable");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // The first owner commits its batch and dies before publishing anything.
        let shared = Arc::new(Shared {
            log: EventLog::new(pool.clone()),
            pool: pool.clone(),
            waker: LogWaker::new(pool.clone(), None),
            board: CheckpointBoard::new(pool.clone()),
            nats: Some(nats.clone()),
            config: RunnerConfig { worker_id: "dies".to_owned(), ..RunnerConfig::default() },
        });
        let mut dying = ok(ProjectionTask::start(shared, projection.clone()).await);
        let (events, updates) = ok(dying.commit_batch(Which::Active, 10).await);
        assert_eq!((events, updates.len()), (2, 2));
        drop(dying);
        assert_eq!(unpublished(&pool).await, 2, "committed, marked, never published");

        let mut frames = ok(nats.subscribe(Subjects::default().live_durable(user_id)).await);
        ok(nats.flush().await);
        let stop = CancellationToken::new();
        let heir = ProjectionRunner::new(
            pool.clone(),
            vec![projection],
            LogWaker::new(pool.clone(), None),
            CheckpointBoard::new(pool.clone()),
            Some(nats.clone()),
            RunnerConfig { worker_id: "heir".to_owned(), ..RunnerConfig::default() },
        );
        let running = tokio::spawn(heir.run(stop.clone()));

        // Nothing else is written: the frames come from the takeover alone, in cursor order.
        for cursor in [1, 2] {
            let frame = tokio::time::timeout(Duration::from_secs(10), frames.next()).await;
            let frame = frame.unwrap_or_else(|_| panic!("update {cursor} was never published")).map(|m| {
                let header =
                    m.headers.as_ref().and_then(|h| h.get(live::CURSOR_HEADER)).map(|v| v.to_string());
                (header, String::from_utf8_lossy(&m.payload).into_owned())
            });
            let (header, payload) = frame.unwrap_or_else(|| panic!("the subscription ended"));
            assert_eq!(header.as_deref(), Some(cursor.to_string().as_str()), "{payload}");
            assert!(payload.contains("sample_applied"), "{payload}");
        }
        let started = Instant::now();
        while unpublished(&pool).await > 0 {
            assert!(started.elapsed() < Duration::from_secs(10), "the marks were never cleared");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.cancel();
        ok(running.await);
    }
}
