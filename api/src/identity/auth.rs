//! Who is calling: the bearer-token security scheme, and the checks built on it.
//!
//! Every protected endpoint takes a [`BearerAuth`] parameter. poem-openapi documents it as the
//! `BearerAuth` security scheme and runs the checker before the handler: no header, a token
//! that does not verify (wrong key, `alg: none`, tampered claims, another issuer) or an
//! expired one is a 401 problem before any handler code runs. Verifying is pure CPU (an
//! HMAC-SHA-256), no I/O.
//!
//! Owner-only endpoints compare the path's user id with the caller's ([`Caller::require_self`]);
//! admin endpoints call [`Identity::require_admin`], the one admin check.

use super::errors::AuthError;
use super::service::Identity;
use super::tokens::TokenError;
use crate::problem::{Problem, codes};
use crate::state::AppState;
use loopync_domain::identity::Role;
use poem::Request;
use poem::http::StatusCode;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use uuid::Uuid;

/// The authenticated caller, from a verified access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
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

/// `Authorization: Bearer <access token>` (a JWT from `/api/auth/login`, `/signup` or
/// `/refresh`).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Caller);

async fn check_bearer(request: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let Some(state) = request.data::<AppState>() else {
        tracing::error!("the app state is missing; bearer tokens cannot be checked");
        return Err(Problem::internal().into());
    };
    match state.identity.tokens.verify_access(&bearer.token) {
        Ok(claims) => Ok(Caller { user_id: claims.sub, session_id: claims.sid, role: claims.role }),
        Err(TokenError::Expired) => Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            super::errors::auth_codes::TOKEN_EXPIRED,
            "the access token has expired; refresh it",
        )
        .into()),
        Err(_) => {
            Err(Problem::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, "the access token is not valid")
                .into())
        }
    }
}

impl Identity {
    /// The one check behind every admin endpoint: the token says admin *and* the account
    /// still is one (a demotion takes effect at once, not when the token expires). Returns
    /// the caller's current role.
    pub async fn require_admin(&self, caller: &Caller) -> Result<Role, AuthError> {
        if !caller.role.is_admin() {
            return Err(AuthError::Forbidden);
        }
        let role = self.current_role(caller.user_id).await?;
        if !role.is_admin() {
            return Err(AuthError::Forbidden);
        }
        Ok(role)
    }
}
