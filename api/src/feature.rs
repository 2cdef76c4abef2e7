//! What a feature declares to the platform.
//!
//! A feature (identity, LoopPay, and the social graph, media, messaging… to come) is a slice
//! through every crate: its decisions in `domain/src/<feature>/`, its event types in
//! `schemas/src/registry/<feature>.rs`, its read models in `projections/src/<feature>/`, its
//! scheduled jobs in `workers/src/<feature>/`, its HTTP API in `api/src/<feature>/`. The
//! platform learns about all but the HTTP API from one value, the feature's [`Feature`]
//! descriptor, listed once in [`crate::features::all`]: the projection runner runs the
//! projections it names, the binary runs its jobs, the rate limiter enforces its classes, the
//! AsyncAPI document describes its live frames, and a test holds its event types to the
//! registry. (The HTTP API joins the static poem-openapi tuple in [`crate::app`], because
//! poem-openapi builds the OpenAPI document from types.)

use crate::rate_limit::RateLimitClass;
use crate::realtime::asyncapi::FrameDoc;
use crate::state::ApiConfig;
use futures::future::BoxFuture;
use loopync_commands::CommandPipeline;
use loopync_projections::Projection;
use loopync_schemas::EventTypeInfo;
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A feature's descriptor: everything about it the platform runs or documents, besides its
/// HTTP API. Every method but [`name`](Feature::name) and
/// [`event_types`](Feature::event_types) has a default of "nothing".
pub trait Feature: Send + Sync + 'static {
    /// The feature's name: the folder its slices live in.
    fn name(&self) -> &'static str;

    /// The event types its decisions append: its group of the event registry
    /// (`loopync_schemas::registry::<feature>::EVENTS`).
    fn event_types(&self) -> &'static [EventTypeInfo];

    /// Its read models, run by the projection workers of every process that runs workers.
    fn projections(&self) -> Vec<Arc<dyn Projection>> {
        Vec::new()
    }

    /// The durable frames its projections send to users' devices, with examples, as the
    /// AsyncAPI document of `/api/ws` describes them.
    fn live_frames(&self) -> Vec<FrameDoc> {
        Vec::new()
    }

    /// Budgets of requests, per client IP, on some of its paths, on top of the general
    /// per-caller limit (e.g. identity's sign-in endpoints).
    fn rate_limit_classes(&self, _config: &ApiConfig) -> Vec<RateLimitClass> {
        Vec::new()
    }

    /// Its scheduled jobs, started with the projection workers and stopped by
    /// `context.shutdown`.
    fn jobs(&self, _context: &JobContext) -> Vec<Job> {
        Vec::new()
    }
}

/// What a feature's jobs run on.
#[derive(Clone)]
pub struct JobContext {
    pub pool: PgPool,
    /// The pipeline jobs append through (a process's own; see `loopync worker`).
    pub pipeline: Arc<CommandPipeline>,
    /// The features' configuration (e.g. how often LoopPay sweeps expired holds).
    pub config: ApiConfig,
    /// Where push notifications go (the development outbox, or a provider).
    pub push: Arc<dyn loopync_delivery::PushSender>,
    /// Cancelled when the process shuts down: a job finishes its step and returns.
    pub shutdown: CancellationToken,
}

/// A scheduled job: a named task that runs until shutdown.
pub struct Job {
    /// `<feature>.<job>`, as logged.
    pub name: &'static str,
    pub task: BoxFuture<'static, ()>,
}

impl Job {
    pub fn new(name: &'static str, task: impl Future<Output = ()> + Send + 'static) -> Self {
        Self { name, task: Box::pin(task) }
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("name", &self.name).finish_non_exhaustive()
    }
}
