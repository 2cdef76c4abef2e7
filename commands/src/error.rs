//! What a command can end in besides success.

use loopync_schemas::DecodeError;

/// A failure of the event store itself, as opposed to a refused command.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL cannot be reached or is shutting down: retry later (HTTP 503).
    #[error("the event store is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("event store query failed: {0}")]
    Database(#[source] sqlx::Error),
    #[error("a stored event cannot be read: {0}")]
    Decode(#[from] DecodeError),
    #[error("an event or state cannot be serialized: {0}")]
    Encode(#[from] serde_json::Error),
    /// A decision named one stream twice and gave it events: a bug in the decision, which
    /// must refuse (say, a transfer to oneself) before it appends to a stream twice.
    #[error("a decision appended to the stream `{0}` twice")]
    StreamTwice(String),
    /// The group-commit writer stopped (the process is shutting down).
    #[error("the event store writer has stopped")]
    WriterStopped,
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if is_unavailable(&error) { Self::Unavailable(error) } else { Self::Database(error) }
    }
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::WriterStopped)
    }
}

/// Errors that mean "PostgreSQL is not there right now" rather than "this query is wrong".
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
            true
        }
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exceptions; 57P01..57P03: admin shutdown, crash shutdown, cannot
            // connect now (starting up or in recovery).
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Why a command did not succeed. `E` is the domain's refusal for this command.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E> {
    /// The domain refused the command; nothing was appended.
    #[error("{0}")]
    Domain(E),
    /// The streams kept changing under the command: it was retried with fresh state up to the
    /// configured bound and still conflicted. Nothing was appended.
    #[error("the command conflicted with concurrent changes {attempts} times")]
    Conflict { attempts: u32 },
    /// The idempotency key was used before with a different command.
    #[error("idempotency key `{key}` was already used for a different request")]
    IdempotencyKeyReused { key: String },
    /// The idempotency key is empty, too long or not printable ASCII.
    #[error("invalid idempotency key: {0}")]
    InvalidIdempotencyKey(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<E> CommandError<E> {
    /// Maps the domain error, leaving the others as they are.
    pub fn map_domain<F>(self, f: impl FnOnce(E) -> F) -> CommandError<F> {
        match self {
            Self::Domain(e) => CommandError::Domain(f(e)),
            Self::Conflict { attempts } => CommandError::Conflict { attempts },
            Self::IdempotencyKeyReused { key } => CommandError::IdempotencyKeyReused { key },
            Self::InvalidIdempotencyKey(k) => CommandError::InvalidIdempotencyKey(k),
            Self::Store(s) => CommandError::Store(s),
        }
    }
}
