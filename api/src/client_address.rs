//! Who is on the other end: the client's IP address, as rate limits, lockouts and a session's
//! device record see it.
//!
//! The TCP peer is the client unless it is one of the deployment's own proxies
//! (`LOOPYNC_TRUSTED_PROXIES`). Then the client is the last address in `X-Forwarded-For` that
//! a trusted proxy did not add: the header is read from the right, skipping trusted hops, and
//! the first untrusted address is the client. Everything left of it was written by the client
//! itself and is never believed, so a client cannot pick the address it is limited under by
//! sending the header; without trusted proxies the header is ignored altogether.
//!
//! [`ClientAddress`] resolves the address once per request and leaves it in the request's
//! extensions, where [`client_ip`] finds it.

pub use ipnet::IpNet;
use poem::{Endpoint, Middleware, Request};
use std::net::IpAddr;

/// The header a reverse proxy appends the address it saw to.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// The deployment's own reverse proxies, whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&unmapped(address)))
    }

    /// The client behind `peer`, given the `X-Forwarded-For` values in the order received.
    pub fn client_of<'a>(&self, peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a str>) -> IpAddr {
        if !self.trusts(peer) {
            return unmapped(peer);
        }
        let hops: Vec<&str> = forwarded_for.into_iter().flat_map(|value| value.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            // An entry that is not an address says nothing we can check: the hop that wrote it
            // is the last one known.
            let Ok(address) = hop.trim().parse::<IpAddr>() else { break };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        unmapped(client)
    }
}

/// A trusted proxy as configured: a network (`10.0.0.0/8`) or one address (`10.0.0.5`).
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is neither an IP address nor a network such as 10.0.0.0/8"))
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`, as dual-stack sockets report them) is
/// the IPv4 address: one client, one budget.
fn unmapped(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address, as [`ClientAddress`] resolved it for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClientIp(IpAddr);

/// The address of the client that sent `request`: resolved by [`ClientAddress`], or the TCP
/// peer for a request that did not pass through it.
pub fn client_ip(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ClientIp>()
        .map(|client| client.0)
        .or_else(|| request.remote_addr().as_socket_addr().map(|address| unmapped(address.ip())))
}

/// The layer that resolves each request's client address.
pub(crate) struct ClientAddress {
    trusted: TrustedProxies,
}

impl ClientAddress {
    pub(crate) fn new(trusted: TrustedProxies) -> Self {
        Self { trusted }
    }
}

impl<E: Endpoint> Middleware<E> for ClientAddress {
    type Output = ClientAddressEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ClientAddressEndpoint { inner, trusted: self.trusted.clone() }
    }
}

pub(crate) struct ClientAddressEndpoint<E> {
    inner: E,
    trusted: TrustedProxies,
}

impl<E: Endpoint> Endpoint for ClientAddressEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut request: Request) -> poem::Result<Self::Output> {
        if let Some(peer) = request.remote_addr().as_socket_addr().map(|address| address.ip()) {
            let forwarded =
                request.headers().get_all(FORWARDED_FOR).iter().filter_map(|value| value.to_str().ok());
            let client = self.trusted.client_of(peer, forwarded.collect::<Vec<_>>());
            request.extensions_mut().insert(ClientIp(client));
        }
        self.inner.call(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn proxies(networks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            networks.iter().map(|n| n.parse().unwrap_or_else(|e| panic!("{n}: {e}"))).collect(),
        )
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(none.client_of(ip("203.0.113.7"), ["198.51.100.1"]), ip("203.0.113.7"));
    }

    #[test]
    fn behind_trusted_proxies_the_last_untrusted_hop_is_the_client() {
        let ours = proxies(&["10.0.0.0/8", "2001:db8::1/128"]);
        // The client claims to be 1.1.1.1; our proxies saw 203.0.113.7 connect.
        let header = ["1.1.1.1, 203.0.113.7", "10.0.0.5"];
        assert_eq!(ours.client_of(ip("10.0.0.9"), header), ip("203.0.113.7"));
        assert_eq!(ours.client_of(ip("2001:db8::1"), ["203.0.113.7"]), ip("203.0.113.7"));
        // A peer we do not trust: its header is the client's own word.
        assert_eq!(ours.client_of(ip("203.0.113.9"), ["10.0.0.1"]), ip("203.0.113.9"));
        // Only proxies in the chain, or no header: the farthest proxy known.
        assert_eq!(ours.client_of(ip("10.0.0.9"), ["10.0.0.5"]), ip("10.0.0.5"));
        assert_eq!(ours.client_of(ip("10.0.0.9"), []), ip("10.0.0.9"));
        // Garbage stops the walk at the last hop a trusted proxy vouched for.
        assert_eq!(ours.client_of(ip("10.0.0.9"), ["unknown, 10.0.0.5"]), ip("10.0.0.5"));
    }

    #[test]
    fn a_proxy_is_a_network_or_one_address() {
        assert_eq!(parse_network("10.0.0.0/8").map(|n| n.to_string()), Ok("10.0.0.0/8".to_owned()));
        assert_eq!(parse_network(" 10.0.0.5 ").map(|n| n.to_string()), Ok("10.0.0.5/32".to_owned()));
        assert_eq!(parse_network("::1").map(|n| n.to_string()), Ok("::1/128".to_owned()));
        assert!(parse_network("proxy.internal").is_err());
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        let none = TrustedProxies::default();
        assert_eq!(none.client_of(ip("::ffff:203.0.113.7"), []), ip("203.0.113.7"));
        let ours = proxies(&["10.0.0.0/8"]);
        assert_eq!(ours.client_of(ip("::ffff:10.0.0.9"), ["203.0.113.7"]), ip("203.0.113.7"));
    }
}
