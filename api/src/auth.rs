//! Who is calling: the bearer token, verified once per request, and the security scheme every
//! protected endpoint takes.
//!
//! [`Authenticate`] is a layer around every route. When a request carries
//! `Authorization: Bearer <token>`, it verifies the token (pure CPU: an HMAC-SHA-256, no I/O)
//! and stores the outcome in the request as an [`Authentication`]. Everything after it reads
//! that outcome instead of verifying again:
//!
//! - the rate limiter counts a request against its [`Caller`]'s user, or its IP address when
//!   there is none (`crate::rate_limit`);
//! - read-your-writes remembers the positions a session's commands reached and makes its reads
//!   wait for them (`crate::consistency`);
//! - [`BearerAuth`], the parameter of every protected endpoint, answers 401 before any handler
//!   code runs when there is no header, or when the token does not verify (wrong key,
//!   `alg: none`, tampered claims, another issuer) or has expired.
//!
//! A token that verifies is not enough: its session must still be live. The layer asks
//! identity's session gate (`crate::identity::session_gate`: verdicts in memory, the event store
//! when it has none), so a signed-out or revoked session is 401 `session_ended` on its next
//! request, on every node. When the gate cannot tell, the request fails closed with 503.
//!
//! Owner-only endpoints compare the path's user id with the caller's ([`Caller::require_self`]);
//! admin endpoints call `Identity::require_admin`, the one admin check.

use crate::identity::AuthError;
use crate::identity::errors::auth_codes;
use crate::identity::tokens::TokenError;
use crate::problem::{Problem, codes};
use crate::state::AppState;
use loopync_domain::identity::Role;
use poem::http::StatusCode;
use poem::web::headers::authorization::Bearer as BearerHeader;
use poem::web::headers::{Authorization, HeaderMapExt};
use poem::{Endpoint, Middleware, Request};
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use uuid::Uuid;

/// The authenticated caller, from a verified access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
    /// The session the token belongs to: one signed-in device. Read-your-writes is per session.
    pub session_id: Uuid,
    /// The role when the token was issued; admin checks read the current one.
    pub role: Role,
}

impl Caller {
    /// Refuses with 403 unless the caller is `user_id`.
    pub fn require_self(&self, user_id: Uuid) -> Result<(), AuthError> {
        if self.user_id == user_id { Ok(()) } else { Err(AuthError::Forbidden) }
    }
}

/// What the request's bearer token said, verified once by [`Authenticate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// No `Authorization: Bearer` header.
    Anonymous,
    /// A valid access token.
    Caller(Caller),
    /// A token that did not verify: expired, or not valid at all.
    Refused(TokenError),
    /// A valid token of a session that has ended (sign-out, revocation, password change).
    SessionEnded,
    /// A valid token whose session could not be checked: refused, never taken for live.
    SessionUnchecked,
}

impl Authentication {
    /// The caller, when the token was valid.
    pub fn caller(&self) -> Option<Caller> {
        match self {
            Self::Caller(caller) => Some(*caller),
            Self::Anonymous | Self::Refused(_) | Self::SessionEnded | Self::SessionUnchecked => None,
        }
    }

    /// Verifies `token` with the state's token keys, then that its session is live.
    async fn of_token(state: &AppState, token: &str) -> Self {
        let claims = match state.identity.tokens.verify_access(token) {
            Ok(claims) => claims,
            Err(error) => return Self::Refused(error),
        };
        match state.identity.session_is_current(claims.sub, claims.sid).await {
            Ok(true) => {
                Self::Caller(Caller { user_id: claims.sub, session_id: claims.sid, role: claims.role })
            }
            Ok(false) => Self::SessionEnded,
            Err(error) => {
                tracing::error!(%error, session_id = %claims.sid, "a session could not be checked; the request is refused");
                Self::SessionUnchecked
            }
        }
    }

    /// Verifies the request's bearer token, read the way poem-openapi's [`Bearer`] reads it
    /// (so the security scheme and this layer never disagree about which token was sent).
    async fn of_request(request: &Request) -> Self {
        let Some(header) = request.headers().typed_get::<Authorization<BearerHeader>>() else {
            return Self::Anonymous;
        };
        let Some(state) = request.data::<AppState>() else {
            tracing::error!("the app state is missing; bearer tokens cannot be checked");
            return Self::Refused(TokenError::Invalid);
        };
        Self::of_token(state, header.token()).await
    }
}

/// The caller of `request`, as [`Authenticate`] verified it; `None` when anonymous, refused,
/// or when the layer did not run.
pub fn caller_of(request: &Request) -> Option<Caller> {
    request.data::<Authentication>().and_then(Authentication::caller)
}

/// The layer that verifies the bearer token of each request once (see the module docs). It
/// must run inside `.data(state)`: it reads the token keys from the app state.
pub(crate) struct Authenticate;

impl<E: Endpoint> Middleware<E> for Authenticate {
    type Output = AuthenticateEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        AuthenticateEndpoint { inner }
    }
}

pub(crate) struct AuthenticateEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for AuthenticateEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut request: Request) -> poem::Result<Self::Output> {
        let authentication = Authentication::of_request(&request).await;
        request.set_data(authentication);
        self.inner.call(request).await
    }
}

/// `Authorization: Bearer <access token>` (a JWT from `/api/auth/login`, `/signup` or
/// `/refresh`).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Caller);

/// Reuses the verification of [`Authenticate`]. Verifies here only when that layer did not
/// run (an app assembled without it) or saw no token where poem-openapi found one.
async fn check_bearer(request: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let authentication = match request.data::<Authentication>() {
        Some(
            verified @ (Authentication::Caller(_)
            | Authentication::Refused(_)
            | Authentication::SessionEnded
            | Authentication::SessionUnchecked),
        ) => *verified,
        Some(Authentication::Anonymous) | None => {
            let Some(state) = request.data::<AppState>() else {
                tracing::error!("the app state is missing; bearer tokens cannot be checked");
                return Err(Problem::internal().into());
            };
            Authentication::of_token(state, &bearer.token).await
        }
    };
    match authentication {
        Authentication::Caller(caller) => Ok(caller),
        Authentication::Refused(TokenError::Expired) => Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            auth_codes::TOKEN_EXPIRED,
            "the access token has expired; refresh it",
        )
        .into()),
        Authentication::SessionEnded => Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            auth_codes::SESSION_ENDED,
            "this session has ended (signed out, revoked or a password change); sign in again",
        )
        .into()),
        Authentication::SessionUnchecked => {
            Err(Problem::service_unavailable("the session could not be checked; try again shortly").into())
        }
        Authentication::Refused(_) | Authentication::Anonymous => {
            Err(Problem::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, "the access token is not valid")
                .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller { user_id: Uuid::now_v7(), session_id: Uuid::now_v7(), role: Role::User }
    }

    fn request_with(authentication: Authentication) -> Request {
        let mut request = Request::builder().header("Authorization", "Bearer a.b.c").finish();
        request.set_data(authentication);
        request
    }

    fn status_and_code(error: poem::Error) -> (u16, String) {
        let problem = error.downcast::<Problem>().unwrap_or_else(|e| panic!("not a problem: {e}"));
        (problem.status().as_u16(), problem.code().to_owned())
    }

    // No app state in these requests: verifying again would answer 500, not what the layer said.
    #[tokio::test]
    async fn the_security_scheme_takes_the_layers_verdict_without_verifying_again() {
        let verified = caller();
        let request = request_with(Authentication::Caller(verified));
        let checked = check_bearer(&request, Bearer { token: "a.b.c".to_owned() }).await;
        assert_eq!(checked.ok(), Some(verified));
        assert_eq!(caller_of(&request), Some(verified));

        let expired = request_with(Authentication::Refused(TokenError::Expired));
        let checked = check_bearer(&expired, Bearer { token: "a.b.c".to_owned() }).await;
        let refusal = checked.err().map(status_and_code);
        assert_eq!(refusal, Some((401, auth_codes::TOKEN_EXPIRED.to_owned())));
        assert_eq!(caller_of(&expired), None);

        let invalid = request_with(Authentication::Refused(TokenError::Invalid));
        let checked = check_bearer(&invalid, Bearer { token: "a.b.c".to_owned() }).await;
        assert_eq!(checked.err().map(status_and_code), Some((401, codes::UNAUTHORIZED.to_owned())));
    }
}
