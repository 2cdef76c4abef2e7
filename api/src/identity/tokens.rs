//! Credentials the server mints: access JWTs, opaque single-use tokens, and keyed code hashes.
//!
//! - **Access tokens** are HS256 JWTs with `sub` (user id), `sid` (session id), `role`, `iat`,
//!   `exp`, `jti` and `iss`. They are checked without any I/O, which is what makes an
//!   authenticated request cheap; the price is that a revoked session's access token lives
//!   until it expires (15 minutes by default).
//! - **Opaque tokens** (refresh tokens, email verification and password reset tokens) are
//!   `<uuid>.<secret>`: the uuid says which stream to load (a session, an account), the secret
//!   is 256 random bits. Only the SHA-256 of a token is ever stored: 256 bits need no slow hash.
//! - **Code hashes** are HMAC-SHA-256 of a phone number and a six-digit code under a key
//!   derived from the server secret: a million codes are too few for an unkeyed hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use loopync_domain::identity::Role;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use uuid::Uuid;

/// The `iss` of every access token; tokens of other issuers are refused.
pub const ISSUER: &str = "loopync";

/// Fewest bytes accepted for the signing secret (HS256's key should be at least its hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// What an access token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    pub iss: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid")]
    Invalid,
    #[error("the signing secret is shorter than {MIN_SECRET_BYTES} bytes")]
    WeakSecret,
}

/// Signs and checks access tokens; hashes codes. Built once per process from the secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    code_key: Vec<u8>,
    access_ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").field("access_ttl", &self.access_ttl).finish_non_exhaustive()
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8], access_ttl: Duration) -> Result<Self, TokenError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(TokenError::WeakSecret);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        validation.leeway = 5;
        // A separate key for code hashes, so the JWT key is never used for anything else.
        let code_key = hmac_sha256(secret, b"loopync phone codes").to_vec();
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            code_key,
            access_ttl,
        })
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// A fresh access token for a user's session, and when it expires.
    pub fn issue_access(
        &self,
        user: Uuid,
        session: Uuid,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), TokenError> {
        let expires_at = now + self.access_ttl;
        let claims = AccessClaims {
            sub: user,
            sid: session,
            role,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: Uuid::now_v7(),
            iss: ISSUER.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Invalid)?;
        Ok((token, expires_at))
    }

    /// Checks signature (HS256 only: `alg: none` and other algorithms are refused), issuer
    /// and expiry.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }

    /// The keyed hash of a code sent to a phone number.
    pub fn code_hash(&self, phone: &str, code: &str) -> String {
        let mut message = Vec::with_capacity(phone.len() + code.len() + 1);
        message.extend_from_slice(phone.as_bytes());
        message.push(b':');
        message.extend_from_slice(code.as_bytes());
        hex::encode(hmac_sha256(&self.code_key, &message))
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// SHA-256 of a token, hex: what streams store in place of the token.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A newly minted opaque token: give `token` to the client, store `hash`.
#[derive(Clone)]
pub struct MintedToken {
    pub token: String,
    pub hash: String,
}

/// Mints `<id>.<secret>` for the stream `id`.
pub fn mint_opaque(id: Uuid) -> MintedToken {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    MintedToken { token: format!("{id}.{secret}"), hash: token_hash(&secret) }
}

/// Splits `<id>.<secret>` into the stream id and the hash of the secret; `None` when the
/// token is not of that shape.
pub fn parse_opaque(token: &str) -> Option<(Uuid, String)> {
    let (id, secret) = token.trim().split_once('.')?;
    let id = Uuid::parse_str(id).ok()?;
    let valid_secret =
        secret.len() == 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid_secret.then(|| (id, token_hash(secret)))
}

/// A six-digit one-time code, uniformly drawn.
pub fn six_digit_code() -> String {
    let n = rand::random_range(0..1_000_000u32);
    format!("{n:06}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&[7u8; 32], Duration::from_secs(900)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_access_token_round_trips_and_expires() {
        let keys = keys();
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        let (token, _) = keys.issue_access(user, session, Role::Admin, Utc::now()).unwrap_or_default();
        let claims = keys.verify_access(&token);
        assert_eq!(claims.as_ref().map(|c| (c.sub, c.sid, c.role)), Ok((user, session, Role::Admin)));
        let old = Utc::now() - chrono::Duration::hours(1);
        let (stale, _) = keys.issue_access(user, session, Role::User, old).unwrap_or_default();
        assert_eq!(keys.verify_access(&stale), Err(TokenError::Expired));
    }

    #[test]
    fn forged_tokens_are_invalid() {
        let keys = keys();
        let (token, _) =
            keys.issue_access(Uuid::now_v7(), Uuid::now_v7(), Role::User, Utc::now()).unwrap_or_default();
        let other = TokenKeys::new(&[8u8; 32], Duration::from_secs(900)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(other.verify_access(&token), Err(TokenError::Invalid), "wrong key");

        let parts: Vec<&str> = token.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            keys.verify_access(&format!("{none_header}.{}.", parts[1])),
            Err(TokenError::Invalid),
            "alg none"
        );

        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap_or_default()).unwrap_or_default();
        claims["role"] = "founder".into();
        let tampered = URL_SAFE_NO_PAD.encode(claims.to_string());
        assert_eq!(
            keys.verify_access(&format!("{}.{tampered}.{}", parts[0], parts[2])),
            Err(TokenError::Invalid)
        );
        assert_eq!(keys.verify_access("garbage"), Err(TokenError::Invalid));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(TokenKeys::new(b"short", Duration::from_secs(1)), Err(TokenError::WeakSecret)));
    }

    #[test]
    fn opaque_tokens_name_their_stream_and_store_only_a_hash() {
        let id = Uuid::now_v7();
        let minted = mint_opaque(id);
        assert!(!minted.token.contains(&minted.hash));
        assert_eq!(parse_opaque(&minted.token), Some((id, minted.hash.clone())));
        assert_eq!(parse_opaque("nope"), None);
        assert_eq!(parse_opaque(&format!("{id}.short")), None);
        assert_eq!(parse_opaque(&format!("{id}.{}", "!".repeat(43))), None);
    }

    #[test]
    fn code_hashes_depend_on_the_number_the_code_and_the_key() {
        let keys = keys();
        let hash = keys.code_hash("+442079460958", "123456");
        assert_eq!(hash, keys.code_hash("+442079460958", "123456"));
        assert_ne!(hash, keys.code_hash("+442079460959", "123456"));
        assert_ne!(hash, keys.code_hash("+442079460958", "123457"));
        let other = TokenKeys::new(&[9u8; 32], Duration::from_secs(1)).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(hash, other.code_hash("+442079460958", "123456"));
        assert_eq!(six_digit_code().len(), 6);
    }
}
