//! Password hashing with bcrypt, kept off the async runtime.
//!
//! A bcrypt hash at cost 12 takes a few hundred milliseconds of one core. Run on a runtime
//! worker thread it would stall every request scheduled there, so hashing and verifying run on
//! the blocking pool, and a semaphore lets only as many run at once as there are cores: a
//! burst of sign-ins queues instead of starving the rest of the API.
//!
//! The queue is bounded: past `max_waiting` hashes waiting for a core, a request is refused at
//! once ([`PasswordError::Busy`], 503 with `Retry-After`) instead of waiting behind seconds of
//! work that its client will have given up on by then. A flood of sign-ins then costs the
//! server a bounded amount of CPU and memory, and every other endpoint keeps its cores.
//!
//! bcrypt reads only the first 72 bytes of its input, and a password may be 128 characters
//! (up to 512 bytes): two passwords sharing their first 72 bytes would be one. So bcrypt is
//! given the base64 of the password's SHA-256 (44 bytes, no NUL) instead of the password.
//!
//! A login for an unknown email verifies the password against a dummy hash of the same cost,
//! so it takes as long as a wrong password for a real account and reveals nothing by timing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("bcrypt failed: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("the hashing task failed")]
    Task,
    #[error("too many passwords are waiting to be checked")]
    Busy,
}

pub struct Passwords {
    cost: u32,
    permits: Arc<Semaphore>,
    /// Hashes waiting for a permit now, and how many may.
    waiting: AtomicUsize,
    max_waiting: usize,
    /// A hash of a random password at `cost`, verified against when there is no account.
    dummy_hash: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").field("cost", &self.cost).finish_non_exhaustive()
    }
}

impl Passwords {
    /// `cost` is bcrypt's work factor (4 to 31; 12 in production); at most `max_waiting`
    /// hashes wait for a core.
    pub fn new(cost: u32, max_waiting: usize) -> Result<Self, PasswordError> {
        let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
        let dummy_hash = bcrypt::hash(super::tokens::mint_opaque(uuid::Uuid::nil()).token, cost)?;
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(parallelism)),
            waiting: AtomicUsize::new(0),
            max_waiting,
            dummy_hash,
        })
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
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let queued = Queued::join(&self.waiting, self.max_waiting).ok_or(PasswordError::Busy)?;
                let permit = self.permits.clone().acquire_owned().await.map_err(|_| PasswordError::Task)?;
                drop(queued);
                permit
            }
        };
        // The permit moves into the task: a request dropped meanwhile (its client left) cannot
        // free the core while bcrypt still runs on it.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|_| PasswordError::Task)?
    }
}

/// A place in the queue for a core, left when dropped (also when the waiting request is).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn join(waiting: &'a AtomicUsize, max_waiting: usize) -> Option<Self> {
        waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max_waiting).then_some(n + 1))
            .ok()?;
        Some(Self(waiting))
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
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
        let passwords = Passwords::new(4, 64)?;
        let hash = passwords.hash("correct horse".into()).await?;
        assert!(!hash.contains("correct horse"));
        assert!(passwords.verify("correct horse".into(), Some(hash.clone())).await?);
        assert!(!passwords.verify("wrong horse".into(), Some(hash)).await?);
        assert!(!passwords.verify("correct horse".into(), None).await?);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_queue_a_hash_is_refused_at_once_and_the_queue_frees_up() -> Result<(), PasswordError> {
        let passwords = Arc::new(Passwords::new(11, 1)?);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // Fill every core and the one place in the queue, then one more.
        let busy: Vec<_> = (0..=cores)
            .map(|_| {
                let passwords = passwords.clone();
                tokio::spawn(async move { passwords.hash("a password".into()).await })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let started = std::time::Instant::now();
        let refused = passwords.hash("one too many".into()).await;
        assert!(matches!(refused, Err(PasswordError::Busy)), "{refused:?}");
        assert!(started.elapsed() < std::time::Duration::from_millis(50), "refused without waiting");
        for task in busy {
            task.await.map_err(|_| PasswordError::Task)??;
        }
        assert!(passwords.hash("later".into()).await.is_ok(), "the queue emptied");
        Ok(())
    }

    #[tokio::test]
    async fn every_byte_of_a_long_password_counts() -> Result<(), PasswordError> {
        let passwords = Passwords::new(4, 64)?;
        let long = "x".repeat(100);
        let hash = passwords.hash(format!("{long}a")).await?;
        assert!(passwords.verify(format!("{long}a"), Some(hash.clone())).await?);
        assert!(!passwords.verify(format!("{long}b"), Some(hash)).await?, "past bcrypt's 72 bytes");
        Ok(())
    }
}
