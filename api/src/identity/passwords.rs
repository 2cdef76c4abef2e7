//! Password hashing with bcrypt, kept off the async runtime.
//!
//! A bcrypt hash at cost 12 takes a few hundred milliseconds of one core. Run on a runtime
//! worker thread it would stall every request scheduled there, so hashing and verifying run on
//! the blocking pool, and a semaphore lets only as many run at once as there are cores: a
//! burst of sign-ins queues instead of starving the rest of the API.
//!
//! bcrypt reads only the first 72 bytes of its input, and a password may be 128 characters
//! (up to 512 bytes): two passwords sharing their first 72 bytes would be one. So bcrypt is
//! given the base64 of the password's SHA-256 (44 bytes, no NUL) instead of the password.
//!
//! A login for an unknown email verifies the password against a dummy hash of the same cost,
//! so it takes as long as a wrong password for a real account and reveals nothing by timing.

use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("bcrypt failed: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("the hashing task failed")]
    Task,
}

pub struct Passwords {
    cost: u32,
    permits: Arc<Semaphore>,
    /// A hash of a random password at `cost`, verified against when there is no account.
    dummy_hash: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").field("cost", &self.cost).finish_non_exhaustive()
    }
}

impl Passwords {
    /// `cost` is bcrypt's work factor (4 to 31; 12 in production).
    pub fn new(cost: u32) -> Result<Self, PasswordError> {
        let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
        let dummy_hash = bcrypt::hash(super::tokens::mint_opaque(uuid::Uuid::nil()).token, cost)?;
        Ok(Self { cost, permits: Arc::new(Semaphore::new(parallelism)), dummy_hash })
    }

    pub fn cost(&self) -> u32 {
        self.cost
    }

    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let cost = self.cost;
        self.off_runtime(move || bcrypt::hash(prepared(&password), cost).map_err(PasswordError::from)).await
    }

    /// Whether `password` matches `hash`; with no hash (no such account, or an account without
    /// a password) it spends the same time and answers false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, PasswordError> {
        let (hash, real) = match hash {
            Some(hash) => (hash, true),
            None => (self.dummy_hash.clone(), false),
        };
        let matches = self
            .off_runtime(move || bcrypt::verify(prepared(&password), &hash).map_err(PasswordError::from))
            .await?;
        Ok(matches && real)
    }

    async fn off_runtime<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = self.permits.acquire().await.map_err(|_| PasswordError::Task)?;
        tokio::task::spawn_blocking(work).await.map_err(|_| PasswordError::Task)?
    }
}

/// What bcrypt hashes: the whole password, condensed to fit its 72 bytes.
fn prepared(password: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(password.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_against_its_hash_only() -> Result<(), PasswordError> {
        let passwords = Passwords::new(4)?;
        let hash = passwords.hash("correct horse".into()).await?;
        assert!(!hash.contains("correct horse"));
        assert!(passwords.verify("correct horse".into(), Some(hash.clone())).await?);
        assert!(!passwords.verify("wrong horse".into(), Some(hash)).await?);
        assert!(!passwords.verify("correct horse".into(), None).await?);
        Ok(())
    }

    #[tokio::test]
    async fn every_byte_of_a_long_password_counts() -> Result<(), PasswordError> {
        let passwords = Passwords::new(4)?;
        let long = "x".repeat(100);
        let hash = passwords.hash(format!("{long}a")).await?;
        assert!(passwords.verify(format!("{long}a"), Some(hash.clone())).await?);
        assert!(!passwords.verify(format!("{long}b"), Some(hash)).await?, "past bcrypt's 72 bytes");
        Ok(())
    }
}
