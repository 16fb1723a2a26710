//! Who the client is behind a reverse proxy. `X-Forwarded-For` and `X-Forwarded-Proto` are believed only
//! from a TCP peer inside `server.trusted_proxies`: anyone else could forge them to pick a fresh login
//! throttle bucket or a fresh rate-limit budget with every request.

use std::net::IpAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _};
use ipnet::IpNet;
pub use kaika_admin::ClientOrigin;

/// The networks whose forwarding headers are believed (`server.trusted_proxies`); empty trusts nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses CIDRs (`10.0.0.0/8`) or single addresses (`127.0.0.1`), separated by commas or spaces.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{part:?} is not a CIDR like 10.0.0.0/8"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The client's address and scheme. From an untrusted peer: the peer itself, and http. From a trusted
/// proxy: the right-most `X-Forwarded-For` address that is not itself a trusted proxy (the left part of
/// the list is written by the client and proves nothing), and `X-Forwarded-Proto`'s last value.
/// A header that does not parse leaves the peer as the client.
pub fn client_origin(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> ClientOrigin {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return ClientOrigin {
            ip: peer,
            https: false,
        };
    }
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return ClientOrigin {
                ip: peer,
                https: false,
            };
        };
        for part in text.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(canonical(ip)),
                Err(_) => {
                    return ClientOrigin {
                        ip: peer,
                        https: false,
                    }
                }
            }
        }
    }
    let ip = hops
        .iter()
        .rev()
        .copied()
        .find(|ip| !trusted.contains(*ip))
        .or_else(|| hops.first().copied())
        .unwrap_or(peer);
    let https = headers
        .get_all("x-forwarded-proto")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .last()
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    ClientOrigin { ip, https }
}

/// The client address of a request: the middleware's [`ClientOrigin`], or the socket's peer.
pub fn of(req: &actix_web::HttpRequest) -> IpAddr {
    req.extensions()
        .get::<ClientOrigin>()
        .map(|origin| origin.ip)
        .or_else(|| req.peer_addr().map(|a| canonical(a.ip())))
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// Middleware: works out the request's [`ClientOrigin`] once and puts it into its extensions, where the
/// admin's login throttle, its cookies and links, and the API's rate limits read it.
pub async fn remember_origin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(peer) = req.peer_addr() {
        let origin = match req.app_data::<web::Data<TrustedProxies>>() {
            Some(trusted) => client_origin(peer.ip(), req.headers(), trusted),
            None => client_origin(peer.ip(), req.headers(), &TrustedProxies::default()),
        };
        req.extensions_mut().insert(origin);
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_spoofed_header_from_an_untrusted_peer_is_ignored() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
        ]);
        let origin = client_origin(ip("203.0.113.9"), &h, &trusted);
        assert_eq!(origin.ip, ip("203.0.113.9"));
        assert!(!origin.https);
        let nobody = client_origin(ip("10.1.1.1"), &h, &TrustedProxies::default());
        assert_eq!(nobody.ip, ip("10.1.1.1"), "empty trusts nobody");
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop_of_a_proxy_chain() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1/32").unwrap();
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 198.51.100.7"),
            ("x-forwarded-for", "10.2.3.4"),
            ("x-forwarded-proto", "https"),
        ]);
        let origin = client_origin(ip("127.0.0.1"), &h, &trusted);
        assert_eq!(
            origin.ip,
            ip("198.51.100.7"),
            "6.6.6.6 was written by the client"
        );
        assert!(origin.https);
        let only_proxies = headers(&[("x-forwarded-for", "10.0.0.5, 10.0.0.6")]);
        assert_eq!(
            client_origin(ip("10.0.0.1"), &only_proxies, &trusted).ip,
            ip("10.0.0.5")
        );
        assert_eq!(
            client_origin(ip("10.0.0.1"), &HeaderMap::new(), &trusted).ip,
            ip("10.0.0.1")
        );
    }

    #[test]
    fn ipv6_peers_and_hops_are_understood() {
        let trusted = TrustedProxies::parse("fd00::/8,127.0.0.1").unwrap();
        let h = headers(&[("x-forwarded-for", "2001:db8::1, fd00::2")]);
        let origin = client_origin(ip("fd00::1"), &h, &trusted);
        assert_eq!(origin.ip, ip("2001:db8::1"));
        let mapped = headers(&[("x-forwarded-for", "192.0.2.1")]);
        assert_eq!(
            client_origin(ip("::ffff:127.0.0.1"), &mapped, &trusted).ip,
            ip("192.0.2.1"),
            "an IPv4-mapped peer is its IPv4 address"
        );
    }

    #[test]
    fn a_garbage_header_leaves_the_peer_as_the_client() {
        let trusted = TrustedProxies::parse("127.0.0.1/32").unwrap();
        for garbage in ["not an ip", "1.2.3.4, <script>", "", "1.2.3.4:80"] {
            let h = headers(&[("x-forwarded-for", garbage)]);
            assert_eq!(
                client_origin(ip("127.0.0.1"), &h, &trusted).ip,
                ip("127.0.0.1"),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn trusted_proxies_refuse_what_is_not_a_cidr() {
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("example.com").is_err());
        assert_eq!(
            TrustedProxies::parse(" ").unwrap(),
            TrustedProxies::default()
        );
    }
}
