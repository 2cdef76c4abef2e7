//! Idempotency keys: validation and the fingerprint of a command.
//!
//! A key is scoped to its caller (the actor), stored with a SHA-256 of the command in the same
//! statement that appends the command's events, and kept for the configured retention (at
//! least 24 hours; `loopync worker` sweeps older ones).

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Longest accepted key; clients typically send a UUID (36 characters).
pub const MAX_KEY_LEN: usize = 255;

/// The minimum time a key is remembered, as promised to clients.
pub const MIN_RETENTION_HOURS: u64 = 24;

/// Checks a client-supplied key: 1..=255 printable ASCII characters.
pub fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(format!("must be 1 to {MAX_KEY_LEN} characters"));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".to_owned());
    }
    Ok(())
}

/// The fingerprint of a command: its kind and its canonical JSON.
pub fn fingerprint(kind: &str, command: &impl Serialize) -> Result<Vec<u8>, serde_json::Error> {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    hasher.update([0]);
    hasher.update(serde_json::to_vec(command)?);
    Ok(hasher.finalize().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_printable_ascii() {
        assert!(validate_key("0190f3c2-6d1e-7c1a-9b8e-2f1d3c4b5a69").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key(&"k".repeat(256)).is_err());
        assert!(validate_key("has space").is_err());
        assert!(validate_key("naïve").is_err());
    }

    #[test]
    fn the_same_command_has_the_same_fingerprint() {
        let a = fingerprint("top_up", &serde_json::json!({ "amount": 5 })).unwrap_or_default();
        let b = fingerprint("top_up", &serde_json::json!({ "amount": 5 })).unwrap_or_default();
        let c = fingerprint("top_up", &serde_json::json!({ "amount": 6 })).unwrap_or_default();
        let d = fingerprint("withdraw", &serde_json::json!({ "amount": 5 })).unwrap_or_default();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}
