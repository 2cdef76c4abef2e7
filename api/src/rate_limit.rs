//! Request rate limits, answered with 429 `rate_limited` and `Retry-After`.
//!
//! Two layers of GCRA limiters (governor), both per node and in memory:
//!
//! - **general**: every `/api` request counts against its caller — the user of a valid bearer
//!   token, as `crate::auth` verified it for the request (1000 a minute by default) or, without
//!   one, the client's IP address (100 a minute);
//! - **classes**: features declare budgets of their own on some paths, counted per client IP
//!   on top of the general one ([`RateLimitClass`], from `Feature::rate_limit_classes`). Identity's
//!   `sign_in` class covers the endpoints that check a secret or send a message (login, signup,
//!   refresh, send-code, verify-phone, verify-email, forgot/reset-password) at a much lower rate
//!   (10 a minute), so guessing is slow from anywhere.
//!
//! Per-account lockouts after failed logins are not here: they must hold across nodes, so they
//! are counted in PostgreSQL (`identity::throttle`). A limit per node is what the brief's
//! defaults describe and needs no coordination; behind N nodes an IP gets up to N times the
//! rate, which is why the lockouts that protect accounts are the shared ones.
//!
//! The client IP is the TCP peer: behind a proxy that is the proxy, so deployments behind one
//! should rate-limit at the proxy or set the limits accordingly.

use crate::auth::caller_of;
use crate::identity::errors::auth_codes;
use crate::problem::Problem;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use poem::http::StatusCode;
use poem::{Endpoint, Middleware, Request};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

/// Requests a minute; `0` turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Per client IP, for requests without a valid bearer token (default 100).
    pub anonymous_per_minute: u32,
    /// Per user, for requests with a valid bearer token (default 1000).
    pub authenticated_per_minute: u32,
    /// Per client IP, on identity's sign-in endpoints (its `sign_in` class), on top of the
    /// general limit (default 10).
    pub sign_in_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { anonymous_per_minute: 100, authenticated_per_minute: 1000, sign_in_per_minute: 10 }
    }
}

/// A feature's budget on some of its paths, per client IP, on top of the general limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitClass {
    /// The class's name, as in the `loopync_rate_limited_total{class}` metric.
    pub name: &'static str,
    /// The paths whose requests count against it, exactly.
    pub paths: &'static [&'static str],
    /// Requests a minute per client IP; `0` turns the class off.
    pub per_minute: u32,
}

/// How often (in requests) idle keys are dropped from the limiters' maps.
const RETAIN_EVERY: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Caller {
    User(Uuid),
    Address(IpAddr),
}

struct Limiters {
    anonymous: Option<DefaultKeyedRateLimiter<IpAddr>>,
    authenticated: Option<DefaultKeyedRateLimiter<Uuid>>,
    /// The classes that are on, with their limiters.
    classes: Vec<(RateLimitClass, DefaultKeyedRateLimiter<IpAddr>)>,
    requests: AtomicU64,
}

fn keyed<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(per_minute).map(|rate| RateLimiter::keyed(Quota::per_minute(rate)))
}

impl Limiters {
    fn new(config: RateLimitConfig, classes: Vec<RateLimitClass>) -> Self {
        Self {
            anonymous: keyed(config.anonymous_per_minute),
            authenticated: keyed(config.authenticated_per_minute),
            classes: classes
                .into_iter()
                .filter_map(|class| keyed(class.per_minute).map(|limiter| (class, limiter)))
                .collect(),
            requests: AtomicU64::new(0),
        }
    }

    /// The class `path` belongs to, if any.
    fn class_of(&self, path: &str) -> Option<&(RateLimitClass, DefaultKeyedRateLimiter<IpAddr>)> {
        self.classes.iter().find(|(class, _)| class.paths.contains(&path))
    }

    /// `Err(seconds to wait)` when a limit is exhausted: the caller's general one, or the
    /// budget of `path`'s class for the client's address.
    fn check(&self, caller: Caller, address: Option<IpAddr>, path: &str) -> Result<(), u32> {
        if self.requests.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            self.retain_recent();
        }
        let now = DefaultClock::default().now();
        let wait = |not_until: governor::NotUntil<_>| not_until.wait_time_from(now).as_secs().max(1) as u32;
        match caller {
            Caller::User(user) => {
                if let Some(limiter) = &self.authenticated {
                    limiter.check_key(&user).map_err(wait)?;
                }
            }
            Caller::Address(ip) => {
                if let Some(limiter) = &self.anonymous {
                    limiter.check_key(&ip).map_err(wait)?;
                }
            }
        }
        if let (Some((_, limiter)), Some(ip)) = (self.class_of(path), address) {
            limiter.check_key(&ip).map_err(wait)?;
        }
        Ok(())
    }

    fn retain_recent(&self) {
        if let Some(limiter) = &self.anonymous {
            limiter.retain_recent();
        }
        if let Some(limiter) = &self.authenticated {
            limiter.retain_recent();
        }
        for (_, limiter) in &self.classes {
            limiter.retain_recent();
        }
    }
}

/// The rate-limit layer around the feature APIs.
pub(crate) struct RateLimit {
    limiters: Arc<Limiters>,
}

impl RateLimit {
    pub(crate) fn new(config: RateLimitConfig, classes: Vec<RateLimitClass>) -> Self {
        Self { limiters: Arc::new(Limiters::new(config, classes)) }
    }
}

impl<E: Endpoint> Middleware<E> for RateLimit {
    type Output = RateLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RateLimitEndpoint { inner, limiters: self.limiters.clone() }
    }
}

pub(crate) struct RateLimitEndpoint<E> {
    inner: E,
    limiters: Arc<Limiters>,
}

/// The user of a valid bearer token, as `crate::auth::Authenticate` verified it (this layer runs
/// inside that one and does not verify again). An invalid token counts as anonymous (and the
/// endpoint answers 401 anyway).
fn bearer_user(request: &Request) -> Option<Uuid> {
    caller_of(request).map(|caller| caller.user_id)
}

impl<E: Endpoint> Endpoint for RateLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, request: Request) -> poem::Result<Self::Output> {
        let path = request.uri().path();
        if path.starts_with("/api/") && path != "/api/openapi.json" {
            let address = request.remote_addr().as_socket_addr().map(|address| address.ip());
            let caller = match (bearer_user(&request), address) {
                (Some(user), _) => Some(Caller::User(user)),
                (None, Some(ip)) => Some(Caller::Address(ip)),
                (None, None) => None,
            };
            if let Some(caller) = caller
                && let Err(retry_after) = self.limiters.check(caller, address, path)
            {
                let class = self.limiters.class_of(path).map_or("general", |(class, _)| class.name);
                metrics::counter!("loopync_rate_limited_total", "class" => class).increment(1);
                return Err(Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    auth_codes::RATE_LIMITED,
                    format!("too many requests; retry in {retry_after} s"),
                )
                .with_retry_after(retry_after)
                .into());
            }
        }
        self.inner.call(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGN_IN: RateLimitClass =
        RateLimitClass { name: "sign_in", paths: &["/api/auth/login"], per_minute: 1 };
    const OTHER: &str = "/api/looppay/balance";

    #[test]
    fn each_caller_has_its_own_budget_and_sign_in_has_a_tighter_one() {
        let limiters = Limiters::new(
            RateLimitConfig { anonymous_per_minute: 2, authenticated_per_minute: 3, sign_in_per_minute: 1 },
            vec![SIGN_IN],
        );
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        assert!(limiters.check(Caller::Address(ip), Some(ip), OTHER).is_ok());
        assert!(limiters.check(Caller::Address(ip), Some(ip), OTHER).is_ok());
        let wait = limiters.check(Caller::Address(ip), Some(ip), OTHER);
        assert!(matches!(wait, Err(seconds) if seconds >= 1), "{wait:?}");
        assert!(limiters.check(Caller::Address(other), Some(other), "/api/auth/login").is_ok());
        assert!(
            limiters.check(Caller::Address(other), Some(other), "/api/auth/login").is_err(),
            "sign-in limit"
        );

        let user = Uuid::now_v7();
        for _ in 0..3 {
            assert!(
                limiters.check(Caller::User(user), Some(ip), OTHER).is_ok(),
                "a user is not limited by its IP"
            );
        }
        assert!(limiters.check(Caller::User(user), Some(ip), OTHER).is_err());
        assert!(limiters.check(Caller::User(Uuid::now_v7()), Some(ip), OTHER).is_ok());
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let limiters = Limiters::new(
            RateLimitConfig { anonymous_per_minute: 0, authenticated_per_minute: 0, sign_in_per_minute: 0 },
            vec![RateLimitClass { per_minute: 0, ..SIGN_IN }],
        );
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..1000 {
            assert!(limiters.check(Caller::Address(ip), Some(ip), "/api/auth/login").is_ok());
        }
    }
}
