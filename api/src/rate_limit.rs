//! Request rate limits, answered with 429 `rate_limited` and `Retry-After`.
//!
//! GCRA limiters (governor), per node and in memory:
//!
//! - **general**: every `/api` request counts against its caller — the user of a valid bearer
//!   token, as `crate::auth` verified it for the request (1000 a minute by default) or, without
//!   one, the client's address (100 a minute);
//! - **classes**: budgets on some paths ([`RateLimitClass`]), declared by the features
//!   (`Feature::rate_limit_classes`) and by the platform for `/ready` and `/metrics`. A class is
//!   counted per client address on top of the general limit, per client address instead of it
//!   (a payment provider's notices must not share the budget of anonymous readers), or once
//!   for the whole node ([`Budget`]). Identity's `sign_in` class covers the endpoints that check
//!   a secret or send a message (10 a minute per address), and `sign_in_node` bounds them all
//!   together, so one password tried against many accounts from many addresses is slow too.
//!
//! **Addresses.** The client's address is resolved by `crate::client_address` (the TCP peer, or
//! what the deployment's trusted proxies forwarded). An IPv6 client is counted by its /64: one
//! subscriber is routinely given a whole /64, and counting single addresses would let it
//! rotate through 2^64 budgets.
//!
//! Per-account lockouts and per-recipient caps are not here: they must hold across nodes, so
//! they are counted in PostgreSQL (`identity::throttle`). A limit per node is what the brief's
//! defaults describe and needs no coordination; behind N nodes an address gets up to N times
//! the rate, which is why the limits that protect accounts are the shared ones.

use crate::auth::caller_of;
use crate::client_address::client_ip;
use crate::identity::errors::auth_codes;
use crate::problem::Problem;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use poem::http::StatusCode;
use poem::{Endpoint, Middleware, Request};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

/// Requests a minute; `0` turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Per client address, for requests without a valid bearer token (default 100).
    pub anonymous_per_minute: u32,
    /// Per user, for requests with a valid bearer token (default 1000).
    pub authenticated_per_minute: u32,
    /// Per client address, on identity's sign-in endpoints (its `sign_in` class), on top of
    /// the general limit (default 10).
    pub sign_in_per_minute: u32,
    /// For the whole node, on identity's sign-in endpoints (`sign_in_node`; default 600).
    pub sign_in_node_per_minute: u32,
    /// Per client address, on the payment providers' webhooks, instead of the general limit
    /// (`webhook`; default 600).
    pub webhook_per_minute: u32,
    /// Per client address, on `/ready` and `/metrics` (`operations`; default 120).
    pub operations_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            anonymous_per_minute: 100,
            authenticated_per_minute: 1000,
            sign_in_per_minute: 10,
            sign_in_node_per_minute: 600,
            webhook_per_minute: 600,
            operations_per_minute: 120,
        }
    }
}

impl RateLimitConfig {
    /// No limits at all: for tests and benchmarks that are not about them.
    pub fn off() -> Self {
        Self {
            anonymous_per_minute: 0,
            authenticated_per_minute: 0,
            sign_in_per_minute: 0,
            sign_in_node_per_minute: 0,
            webhook_per_minute: 0,
            operations_per_minute: 0,
        }
    }
}

/// Whose budget a class's requests count against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// The client address's, on top of the general limit.
    PerAddress,
    /// The client address's, instead of the general limit: for callers whose rate the general
    /// limit does not fit (a payment provider's notices).
    PerAddressInstead,
    /// One for the whole node, on top of the general limit: for what many addresses together
    /// must not exceed.
    Node,
}

/// A budget of requests on some paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitClass {
    /// The class's name, as in the `loopync_rate_limited_total{class}` metric.
    pub name: &'static str,
    /// The paths whose requests count against it: exactly, or every path under a prefix
    /// ending in `/`.
    pub paths: &'static [&'static str],
    /// Requests a minute; `0` turns the class off.
    pub per_minute: u32,
    pub budget: Budget,
}

impl RateLimitClass {
    fn covers(&self, path: &str) -> bool {
        self.paths.iter().any(|pattern| match pattern.strip_suffix('/') {
            Some(prefix) => path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/')),
            None => path == *pattern,
        })
    }
}

/// How often (in requests) idle keys are dropped from the limiters' maps.
const RETAIN_EVERY: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Caller {
    User(Uuid),
    Address(IpAddr),
}

/// The key an address is counted under: an IPv4 address, or an IPv6 address's /64.
pub(crate) fn budget_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
        v4 => v4,
    }
}

enum ClassLimiter {
    PerAddress(DefaultKeyedRateLimiter<IpAddr>),
    Node(DefaultDirectRateLimiter),
}

struct Limiters {
    anonymous: Option<DefaultKeyedRateLimiter<IpAddr>>,
    authenticated: Option<DefaultKeyedRateLimiter<Uuid>>,
    /// The classes that are on, with their limiters.
    classes: Vec<(RateLimitClass, ClassLimiter)>,
    requests: AtomicU64,
}

fn quota(per_minute: u32) -> Option<Quota> {
    NonZeroU32::new(per_minute).map(Quota::per_minute)
}

fn keyed<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    quota(per_minute).map(RateLimiter::keyed)
}

/// A refusal: the class that refused and the seconds to wait.
type Refusal = (&'static str, u32);

impl Limiters {
    fn new(config: RateLimitConfig, classes: Vec<RateLimitClass>) -> Self {
        Self {
            anonymous: keyed(config.anonymous_per_minute),
            authenticated: keyed(config.authenticated_per_minute),
            classes: classes
                .into_iter()
                .filter_map(|class| {
                    let quota = quota(class.per_minute)?;
                    let limiter = match class.budget {
                        Budget::Node => ClassLimiter::Node(RateLimiter::direct(quota)),
                        Budget::PerAddress | Budget::PerAddressInstead => {
                            ClassLimiter::PerAddress(RateLimiter::keyed(quota))
                        }
                    };
                    Some((class, limiter))
                })
                .collect(),
            requests: AtomicU64::new(0),
        }
    }

    /// Whether `path` is under the general limit: an `/api` path that no class takes out of it.
    fn general_applies(&self, path: &str) -> bool {
        path.starts_with("/api/")
            && path != "/api/openapi.json"
            && !self
                .classes
                .iter()
                .any(|(class, _)| class.budget == Budget::PerAddressInstead && class.covers(path))
    }

    /// `Err((class, seconds to wait))` when a limit `path` counts against is exhausted: the
    /// caller's general one, or a budget of a class covering `path`.
    fn check(&self, caller: Option<Caller>, address: Option<IpAddr>, path: &str) -> Result<(), Refusal> {
        if self.requests.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            self.retain_recent();
        }
        let now = DefaultClock::default().now();
        let wait = |class: &'static str| {
            move |not_until: governor::NotUntil<_>| {
                (class, not_until.wait_time_from(now).as_secs().max(1) as u32)
            }
        };
        let address = address.map(budget_key);
        if self.general_applies(path) {
            match caller {
                Some(Caller::User(user)) => {
                    if let Some(limiter) = &self.authenticated {
                        limiter.check_key(&user).map_err(wait("general"))?;
                    }
                }
                Some(Caller::Address(ip)) => {
                    if let Some(limiter) = &self.anonymous {
                        limiter.check_key(&budget_key(ip)).map_err(wait("general"))?;
                    }
                }
                None => {}
            }
        }
        for (class, limiter) in self.classes.iter().filter(|(class, _)| class.covers(path)) {
            match (limiter, address) {
                (ClassLimiter::Node(limiter), _) => limiter.check().map_err(wait(class.name))?,
                (ClassLimiter::PerAddress(limiter), Some(ip)) => {
                    limiter.check_key(&ip).map_err(wait(class.name))?
                }
                (ClassLimiter::PerAddress(_), None) => {}
            }
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
            if let ClassLimiter::PerAddress(limiter) = limiter {
                limiter.retain_recent();
            }
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
        let address = client_ip(&request);
        let caller = match (bearer_user(&request), address) {
            (Some(user), _) => Some(Caller::User(user)),
            (None, Some(ip)) => Some(Caller::Address(ip)),
            (None, None) => None,
        };
        if let Err((class, retry_after)) = self.limiters.check(caller, address, path) {
            metrics::counter!("loopync_rate_limited_total", "class" => class).increment(1);
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                auth_codes::RATE_LIMITED,
                format!("too many requests; retry in {retry_after} s"),
            )
            .with_retry_after(retry_after)
            .into());
        }
        self.inner.call(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGN_IN: RateLimitClass = RateLimitClass {
        name: "sign_in",
        paths: &["/api/auth/login"],
        per_minute: 1,
        budget: Budget::PerAddress,
    };
    const OTHER: &str = "/api/looppay/balance";

    fn config(anonymous: u32, authenticated: u32) -> RateLimitConfig {
        RateLimitConfig {
            anonymous_per_minute: anonymous,
            authenticated_per_minute: authenticated,
            ..Default::default()
        }
    }

    fn anonymous(ip: IpAddr) -> (Option<Caller>, Option<IpAddr>) {
        (Some(Caller::Address(ip)), Some(ip))
    }

    #[test]
    fn each_caller_has_its_own_budget_and_sign_in_has_a_tighter_one() {
        let limiters = Limiters::new(config(2, 3), vec![SIGN_IN]);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        let check =
            |(caller, address): (Option<Caller>, Option<IpAddr>), path| limiters.check(caller, address, path);
        assert!(check(anonymous(ip), OTHER).is_ok());
        assert!(check(anonymous(ip), OTHER).is_ok());
        let wait = check(anonymous(ip), OTHER);
        assert!(matches!(wait, Err(("general", seconds)) if seconds >= 1), "{wait:?}");
        assert!(check(anonymous(other), "/api/auth/login").is_ok());
        assert_eq!(check(anonymous(other), "/api/auth/login").map_err(|e| e.0), Err("sign_in"));

        let user = Uuid::now_v7();
        for _ in 0..3 {
            assert!(
                check((Some(Caller::User(user)), Some(ip)), OTHER).is_ok(),
                "a user is not limited by its IP"
            );
        }
        assert!(check((Some(Caller::User(user)), Some(ip)), OTHER).is_err());
        assert!(check((Some(Caller::User(Uuid::now_v7())), Some(ip)), OTHER).is_ok());
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let limiters = Limiters::new(config(2, 0), vec![]);
        let first: IpAddr = "2001:db8:1:2::1".parse().unwrap_or_else(|e| panic!("{e}"));
        let rotated: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:fffe".parse().unwrap_or_else(|e| panic!("{e}"));
        let neighbour: IpAddr = "2001:db8:1:3::1".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(limiters.check(Some(Caller::Address(first)), Some(first), OTHER).is_ok());
        assert!(limiters.check(Some(Caller::Address(rotated)), Some(rotated), OTHER).is_ok());
        assert!(
            limiters.check(Some(Caller::Address(rotated)), Some(rotated), OTHER).is_err(),
            "another address of the same /64 shares its budget"
        );
        assert!(limiters.check(Some(Caller::Address(neighbour)), Some(neighbour), OTHER).is_ok());
        assert_eq!(
            budget_key("::ffff:10.0.0.1".parse().unwrap_or_else(|e| panic!("{e}"))),
            IpAddr::from([10, 0, 0, 1])
        );
    }

    #[test]
    fn a_node_budget_is_shared_by_every_address() {
        let sign_in_node =
            RateLimitClass { name: "sign_in_node", per_minute: 3, budget: Budget::Node, ..SIGN_IN };
        let limiters = Limiters::new(config(0, 0), vec![sign_in_node]);
        for last in 1..=3u8 {
            let ip: IpAddr = [10, 0, 0, last].into();
            assert!(limiters.check(Some(Caller::Address(ip)), Some(ip), "/api/auth/login").is_ok());
        }
        let fresh: IpAddr = [10, 9, 9, 9].into();
        assert_eq!(
            limiters.check(Some(Caller::Address(fresh)), Some(fresh), "/api/auth/login").map_err(|e| e.0),
            Err("sign_in_node"),
            "a new address does not bring a new budget"
        );
        assert!(
            limiters.check(Some(Caller::Address(fresh)), Some(fresh), OTHER).is_ok(),
            "other paths are not in it"
        );
    }

    #[test]
    fn a_class_instead_of_the_general_limit_has_its_own_budget() {
        let webhook = RateLimitClass {
            name: "webhook",
            paths: &["/api/looppay/webhooks/"],
            per_minute: 5,
            budget: Budget::PerAddressInstead,
        };
        let limiters = Limiters::new(config(1, 0), vec![webhook]);
        let provider: IpAddr = [198, 51, 100, 1].into();
        for _ in 0..5 {
            assert!(
                limiters
                    .check(Some(Caller::Address(provider)), Some(provider), "/api/looppay/webhooks/dev")
                    .is_ok()
            );
        }
        assert_eq!(
            limiters
                .check(Some(Caller::Address(provider)), Some(provider), "/api/looppay/webhooks/dev")
                .map_err(|e| e.0),
            Err("webhook")
        );
        assert!(
            limiters.check(Some(Caller::Address(provider)), Some(provider), OTHER).is_ok(),
            "general untouched"
        );
        assert!(!limiters.general_applies("/api/looppay/webhooks/dev"));
        assert!(limiters.general_applies("/api/looppay/webhooks"), "a prefix covers what is under it only");
    }

    #[test]
    fn operations_endpoints_are_limited_outside_api() {
        let operations = RateLimitClass {
            name: "operations",
            paths: &["/ready", "/metrics"],
            per_minute: 1,
            budget: Budget::PerAddress,
        };
        let limiters = Limiters::new(config(1, 0), vec![operations]);
        let ip: IpAddr = [10, 0, 0, 1].into();
        assert!(limiters.check(Some(Caller::Address(ip)), Some(ip), "/ready").is_ok());
        assert_eq!(
            limiters.check(Some(Caller::Address(ip)), Some(ip), "/metrics").map_err(|e| e.0),
            Err("operations")
        );
        assert!(
            limiters.check(Some(Caller::Address(ip)), Some(ip), "/health").is_ok(),
            "liveness is never limited"
        );
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let limiters =
            Limiters::new(RateLimitConfig::off(), vec![RateLimitClass { per_minute: 0, ..SIGN_IN }]);
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..1000 {
            assert!(limiters.check(Some(Caller::Address(ip)), Some(ip), "/api/auth/login").is_ok());
        }
    }
}
