//! The read models against real PostgreSQL: events are decided by the domain and appended
//! through the command pipeline, read back from the log and applied the way the runtime applies
//! them — a batch per transaction, in the generation's schema — and read through the
//! `read_models` views. One test binary, one harness (`generation`).
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod generation;
mod identity;
mod live;
mod looppay;
