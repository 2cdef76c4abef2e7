//! The identity read models: who users are and where they are signed in.
//!
//! - [`profiles`]: [`UserProfiles`], one row per account (public profile, private settings,
//!   role), with the profile query and the fuzzy user search.
//! - [`sessions`]: [`UserSessions`], one row per signed-in device, with the devices list.
//! - [`frames`]: the live frames they emit, `profile_updated` and `session_revoked`.
//!
//! Both follow the same shape: decode the batch, load the rows it touches in one query, fold
//! the events over them in log order (a pure function), and write the rows back in one bulk
//! upsert — a handful of round trips per batch whatever its size.

pub mod frames;
pub mod profiles;
pub mod sessions;

pub use frames::{ProfileUpdated, SessionEndReason, SessionRevoked};
pub use profiles::{ProfileRow, SearchCursor, UserProfiles};
pub use sessions::{SessionRow, UserSessions};

use loopync_schemas::RecordedEvent;
use sqlx::types::Uuid;

/// The id of an aggregate whose stream is `<category>-<uuid>`, when `recorded` belongs to that
/// category. Streams of the category with an id that is not a UUID are skipped with a warning:
/// a read model must not stall the log on an event it cannot represent.
fn stream_uuid(recorded: &RecordedEvent, category: &str) -> Option<Uuid> {
    let id = recorded.stream_name.strip_prefix(category)?.strip_prefix('-')?;
    match Uuid::parse_str(id) {
        Ok(id) => Some(id),
        Err(_) => {
            tracing::warn!(stream = %recorded.stream_name, "identity stream id is not a uuid; event skipped");
            None
        }
    }
}
