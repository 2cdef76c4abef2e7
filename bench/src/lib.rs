//! Benchmarks of the Loopync core.
//!
//! `bench-core` (see `src/bin/bench-core.rs` and BENCHMARKS.md at the repository root) runs the
//! "topup" workload — C concurrent clients topping up random wallet-like aggregates, each
//! command loading state, validating, and appending one event with an expected version, durably
//! committed — against:
//!
//! - [`ceiling`]: raw one-row durable inserts driven by `pgbench`, the ceiling of what the
//!   PostgreSQL server can commit at that concurrency;
//! - [`loopync`]: our [`loopync_commands::CommandPipeline`] on [`loopync_commands::PgEventStore`],
//!   with and without group commit;
//! - [`peer`]: the same aggregate on `cqrs-es` + `postgres-es`;
//! - with `--breakdown`, the layers in between ([`breakdown`]): a plain insert through sqlx,
//!   and the event store's append without the pipeline.
//!
//! [`driver`] runs the clients and measures latency; [`scratch`] gives every run fresh
//! databases; [`recorder`] counts the pipeline's conflict retries and group commits from its
//! metrics; [`cpu`] tells where the CPU went; [`machine`] describes where the numbers come
//! from; [`report`] prints them.
//!
//! [`realtime`] holds the parts of `bench-realtime` (the WebSocket gateway: idle connections,
//! command-to-frame latency, fan-out), which runs the server as a separate process.

pub mod breakdown;
pub mod ceiling;
pub mod closed_loop;
pub mod cpu;
pub mod driver;
pub mod loopync;
pub mod machine;
pub mod peer;
pub mod realtime;
pub mod recorder;
pub mod report;
pub mod scratch;
