//! The one admin check. The caller and the bearer-token security scheme live in the platform's
//! [`crate::auth`] (every feature authenticates the same way); they are re-exported here.

pub use crate::auth::{BearerAuth, Caller};

use super::errors::AuthError;
use super::service::Identity;
use loopync_domain::identity::Role;

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
