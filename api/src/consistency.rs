//! Read-your-writes, and the request context of commands.
//!
//! Commands are written to the event store and read models are built from it asynchronously,
//! so a read right after a write could miss it. The protocol that closes the gap:
//!
//! 1. Every command response carries the position its events reached in the global log, as the
//!    `Loopync-Position: <transaction>-<position>` header ([`Created`], [`Applied`], [`Done`]);
//!    bodies carry no position.
//! 2. The platform remembers, per session, the last position the session's commands reached,
//!    on every node ([`sessions`], shared through NATS by `sharing`). A client may also send
//!    a token back in its read's own `Loopync-Position` header (to see another session's
//!    write, say). The handler calls [`AppState::wait_for_position`] with the caller and the
//!    projections it reads from; it waits until all of them have passed the later of the two
//!    positions, at most [`ApiConfig::read_your_writes_timeout`].
//! 3. The read answers with `Loopync-Consistency: fresh` when they did, and
//!    `Loopync-Consistency: stale` when the wait timed out: the answer comes anyway (a slow
//!    projection must not turn reads into errors), and the client knows it may be behind. A
//!    read with no position to wait for (no header, and no command of its session
//!    remembered) gets no `Loopync-Consistency` header: there was nothing to be fresh about.
//!    A malformed token is a 400 `invalid_position`.
//!
//! The same module turns request headers into a [`CommandContext`]: the `Idempotency-Key`
//! becomes the command's idempotency key and the request id its correlation id.
//!
//! [`ApiConfig::read_your_writes_timeout`]: crate::ApiConfig::read_your_writes_timeout

pub mod sessions;
mod sharing;

pub use sessions::{SessionConsistencyConfig, SessionPositions};

use crate::auth::Caller;
use crate::problem::{FieldProblem, POSITION_HEADER, Problem, codes, field_codes};
use crate::request_id::RequestId;
use crate::state::AppState;
use loopync_commands::CommandContext;
use loopync_projections::Consistency;
use loopync_schemas::Position;
use poem::http::StatusCode;
use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;

/// Whether a read reflects the position its request named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Every projection read had passed the position.
    Fresh,
    /// The bounded wait timed out; the answer may not reflect the position yet.
    Stale,
}

impl Freshness {
    /// The `Loopync-Consistency` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fresh => "fresh",
            Self::Stale => "stale",
        }
    }
}

/// Parses a `Loopync-Position` token; a malformed one is 400 `invalid_position`.
pub fn parse_position(token: &str) -> Result<Position, Problem> {
    token.trim().parse::<Position>().map_err(|error| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_POSITION,
            "the Loopync-Position header is invalid",
        )
        .with_errors([FieldProblem::new(POSITION_HEADER, field_codes::INVALID, error.to_string())])
    })
}

impl AppState {
    /// Before a read: waits, bounded, until every one of `projections` has passed the later of
    /// the position named by the request's `Loopync-Position` header (`token`) and the last one
    /// the `caller`'s session reached with its own commands. `None` when there is neither;
    /// otherwise whether the wait succeeded, for [`ReadResponse`].
    pub async fn wait_for_position(
        &self,
        caller: Option<&Caller>,
        token: Option<&str>,
        projections: &[&str],
    ) -> Result<Option<Freshness>, Problem> {
        let named = token.map(parse_position).transpose()?;
        let remembered = caller.and_then(|caller| self.session_positions.last(caller.session_id));
        let Some(position) = named.max(remembered) else { return Ok(None) };
        let timeout = self.config.read_your_writes_timeout;
        Ok(Some(match self.checkpoints.wait_for(projections, position, timeout).await {
            Consistency::Reached => Freshness::Fresh,
            Consistency::Stale => {
                tracing::debug!(%position, ?projections, "read-your-writes wait timed out");
                Freshness::Stale
            }
        }))
    }
}

/// The context of a command sent in this request: its `Idempotency-Key` and, as correlation
/// id, the request id. The actor is added by authentication.
pub fn command_context(request_id: &RequestId, idempotency_key: Option<String>) -> CommandContext {
    CommandContext {
        idempotency_key,
        correlation_id: Some(request_id.as_str().to_owned()),
        ..CommandContext::default()
    }
}

/// A position as its `Loopync-Position` token.
pub fn position_token(position: Option<Position>) -> Option<String> {
    position.map(|position| position.to_string())
}

/// 201: a command created something (a top-up, a transfer, an account). The position its events
/// reached is in `Loopync-Position`.
#[derive(Debug, ApiResponse)]
pub enum Created<T: ToJSON> {
    /// Created. The session's next reads reflect it; another session sends `Loopync-Position`
    /// on its read to see it.
    #[oai(status = 201)]
    Created(
        Json<T>,
        /// The position the command's events reached in the global log,
        /// `<transaction>-<position>`; absent when the command changed nothing. Send it as
        /// `Loopync-Position` on a read to make that read reflect the command.
        #[oai(header = "Loopync-Position")]
        Option<String>,
    ),
}

impl<T: ToJSON> Created<T> {
    pub fn new(body: T, position: Option<Position>) -> Self {
        Self::Created(Json(body), position_token(position))
    }
}

/// 200: a command changed (or confirmed) something that already existed. The position its
/// events reached is in `Loopync-Position`.
#[derive(Debug, ApiResponse)]
pub enum Applied<T: ToJSON> {
    /// Applied. The session's next reads reflect it; another session sends `Loopync-Position`
    /// on its read to see it.
    #[oai(status = 200)]
    Applied(
        Json<T>,
        /// The position the command's events reached in the global log,
        /// `<transaction>-<position>`; absent when the command changed nothing. Send it as
        /// `Loopync-Position` on a read to make that read reflect the command.
        #[oai(header = "Loopync-Position")]
        Option<String>,
    ),
}

impl<T: ToJSON> Applied<T> {
    pub fn new(body: T, position: Option<Position>) -> Self {
        Self::Applied(Json(body), position_token(position))
    }
}

/// 204: a command with nothing to answer (sign-out, say).
#[derive(Debug, ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent(
        /// The position the command's events reached in the global log,
        /// `<transaction>-<position>`; absent when the command changed nothing.
        #[oai(header = "Loopync-Position")]
        Option<String>,
    ),
}

impl Done {
    pub fn at(position: Option<Position>) -> Self {
        Self::NoContent(position_token(position))
    }
}

/// 200: a read that does not wait for positions (its data is not a read model), or an
/// answer that is not a command's.
#[derive(Debug, ApiResponse)]
pub enum Answer<T: ToJSON> {
    /// The answer.
    #[oai(status = 200)]
    Ok(Json<T>),
}

impl<T: ToJSON> Answer<T> {
    pub fn ok(body: T) -> Self {
        Self::Ok(Json(body))
    }
}

/// The success answer of a command that may create or apply: both statuses. Kept for sample
/// APIs in tests; the product's operations answer with exactly one status ([`Created`],
/// [`Applied`] or [`Done`]).
#[derive(Debug, ApiResponse)]
pub enum CommandResponse<T: ToJSON> {
    /// The command created something. The session's next reads reflect it; another session
    /// sends `Loopync-Position` on its read to see it.
    #[oai(status = 201)]
    Created(Json<T>, #[oai(header = "Loopync-Position")] Option<String>),
    /// The command was applied. The session's next reads reflect it; another session sends
    /// `Loopync-Position` on its read to see it.
    #[oai(status = 200)]
    Applied(Json<T>, #[oai(header = "Loopync-Position")] Option<String>),
}

impl<T: ToJSON> CommandResponse<T> {
    /// 201 with the position reached.
    pub fn created(body: T, position: Option<Position>) -> Self {
        Self::Created(Json(body), position_token(position))
    }

    /// 200 with the position reached.
    pub fn applied(body: T, position: Option<Position>) -> Self {
        Self::Applied(Json(body), position_token(position))
    }
}

/// The success answer of a read, with `Loopync-Consistency` when it waited for a position (named
/// by the request, or reached by the session's own commands).
#[derive(Debug, ApiResponse)]
pub enum ReadResponse<T: ToJSON> {
    /// The resource. `Loopync-Consistency` is `fresh` when it reflects the session's own
    /// commands and the requested `Loopync-Position`, `stale` when waiting for them timed out.
    #[oai(status = 200)]
    Ok(
        Json<T>,
        /// `fresh`: the answer reflects the session's own commands and the requested
        /// `Loopync-Position`; `stale`: waiting for them timed out and it may not yet. Absent
        /// when there was nothing to wait for.
        #[oai(header = "Loopync-Consistency")]
        Option<String>,
    ),
}

impl<T: ToJSON> ReadResponse<T> {
    pub fn ok(body: T, freshness: Option<Freshness>) -> Self {
        Self::Ok(Json(body), freshness.map(|f| f.as_str().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse_from_their_token_and_garbage_is_invalid_position() {
        assert_eq!(parse_position("12-34").ok(), Some(Position::new(12, 34)));
        for garbage in ["", "12", "a-b", "-1-2", "1-2-3", "99999999999999999999-1"] {
            let problem = parse_position(garbage).err();
            assert_eq!(problem.as_ref().map(|p| p.code()), Some(codes::INVALID_POSITION), "{garbage:?}");
        }
        assert_eq!(position_token(Some(Position::new(7, 9))).as_deref(), Some("7-9"));
    }

    #[test]
    fn commands_carry_the_request_id_and_the_idempotency_key() {
        let id = RequestId::generate();
        let context = command_context(&id, Some("key-1".to_owned()));
        assert_eq!(context.correlation_id.as_deref(), Some(id.as_str()));
        assert_eq!(context.idempotency_key.as_deref(), Some("key-1"));
        assert_eq!(context.actor, None);
    }
}
