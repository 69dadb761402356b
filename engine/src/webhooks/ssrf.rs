//! The SSRF guard: webhook URLs are chosen by API callers, so unless the config allows it
//! (`[delivery] allow_private_targets`, which tests set) a delivery never goes to a loopback,
//! private, link-local or otherwise non-public address. URLs are checked when a subscription
//! is created ([`check_url`]: IP literals and `localhost`), and every address a host name
//! resolves to is checked again at connect time ([`is_forbidden`]), so a DNS name pointing
//! inside cannot slip through: [`GuardedResolver`] drops every refused address before the
//! connector sees it (and the sender re-checks IP-literal URLs, which skip the resolver).
//!
//! IPv6 is checked by allowing rather than refusing: only global unicast (`2000::/3`) may be a
//! target, less its documentation, Teredo and benchmarking blocks, so every other form (IPv4-
//! compatible `::a.b.c.d`, SIIT `::ffff:0:a.b.c.d`, site-local `fec0::/10`, the local-use
//! NAT64 prefix `64:ff9b:1::/48`, unique and link local, ...) is refused. The forms that carry
//! a routable IPv4 address are judged by it: IPv4-mapped `::ffff:a.b.c.d`, NAT64
//! `64:ff9b::a.b.c.d` and 6to4 `2002:aabb:ccdd::/48`.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use tower_service::Service;

/// Whether a delivery to `ip` is refused when private targets are not allowed.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // 100.64.0.0/10: carrier-grade NAT, inside someone's network.
        || (a == 100 && (64..128).contains(&b))
        // 240.0.0.0/4: reserved.
        || a >= 240
        // 192.0.0.0/24: IETF protocol assignments (DS-Lite, NAT64 discovery, ...).
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        // 198.18.0.0/15: benchmarking, often used inside networks.
        || (a == 198 && (b & 0xfe) == 18)
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let [.., a, b, c, d] = ip.octets();
    // 64:ff9b::/96, NAT64's well-known prefix: the IPv4 address in the last 32 bits decides.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(Ipv4Addr::new(a, b, c, d));
    }
    // 2002::/16, 6to4: the IPv4 address in bits 16 to 48 decides.
    if s[0] == 0x2002 {
        let [hi, lo] = [s[1].to_be_bytes(), s[2].to_be_bytes()];
        return forbidden_v4(Ipv4Addr::new(hi[0], hi[1], lo[0], lo[1]));
    }
    // Only global unicast 2000::/3 may be a target.
    (s[0] & 0xe000) != 0x2000
        // 2001:db8::/32 and 3fff::/20: documentation.
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x3fff && s[1] < 0x1000)
        // 2001::/32: Teredo (a tunnel whose addresses embed IPv4 ones).
        || (s[0] == 0x2001 && s[1] == 0)
        // 2001:2::/48: benchmarking.
        || (s[0] == 0x2001 && s[1] == 2 && s[2] == 0)
}

/// Checks a webhook URL before it is stored: http or https, a host, and, unless
/// `allow_private` is set, not an IP literal or `localhost` name that [`is_forbidden`] refuses.
/// Host names are checked again when they resolve.
pub fn check_url(url: &Uri, allow_private: bool) -> Result<(), String> {
    if !matches!(url.scheme_str(), Some("http" | "https")) {
        return Err("must be an http:// or https:// URL".into());
    }
    let Some(host) = url.host().filter(|h| !h.is_empty()) else {
        return Err("must name a host".into());
    };
    if allow_private {
        return Ok(());
    }
    let refused = || {
        Err(format!(
            "`{host}` is a private, loopback or link-local address; set [delivery] allow_private_targets = true to allow it"
        ))
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return if is_forbidden(ip) { refused() } else { Ok(()) };
    }
    let name = bare.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return refused();
    }
    Ok(())
}

/// The error text when a host name has only refused addresses.
pub const ONLY_PRIVATE: &str = "resolves only to private addresses";

/// Keeps the addresses a delivery may connect to: all of them when private targets are
/// allowed, else those [`is_forbidden`] accepts; an error if none is left.
pub fn filter_addrs(addrs: impl Iterator<Item = SocketAddr>, allow_private: bool) -> io::Result<Vec<SocketAddr>> {
    let kept: Vec<SocketAddr> = addrs.filter(|a| allow_private || !is_forbidden(a.ip())).collect();
    if kept.is_empty() {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, ONLY_PRIVATE));
    }
    Ok(kept)
}

/// The system resolver (`getaddrinfo` on the blocking pool) with [`filter_addrs`] applied:
/// the DNS resolver of the webhook sender's connector.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    inner: GaiResolver,
    allow_private: bool,
}

impl GuardedResolver {
    /// A resolver that refuses private addresses unless `allow_private`.
    pub fn new(allow_private: bool) -> GuardedResolver {
        GuardedResolver { inner: GaiResolver::new(), allow_private }
    }
}

impl Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        let lookup = self.inner.call(name);
        Box::pin(async move { Ok(filter_addrs(lookup.await?, allow_private)?.into_iter()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn inside_addresses_are_refused_public_ones_allowed() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            // IPv4: benchmarking, IETF protocol assignments.
            "198.18.0.1",
            "198.19.255.254",
            "192.0.0.1",
            "192.0.0.170",
            // IPv4 inside IPv6: NAT64, 6to4, IPv4-compatible, SIIT.
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::8.8.8.8",
            "2002:7f00:1::1",
            "2002:a00:1::",
            "2002:c0a8:101::1",
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:0:127.0.0.1",
            "::ffff:0:8.8.8.8",
            // IPv6 outside global unicast, and its documentation, Teredo, benchmarking blocks.
            "fec0::1",
            "feff::1",
            "ff02::1",
            "100::1",
            "4000::1",
            "2001:db8::1",
            "3fff::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
        ] {
            assert!(is_forbidden(ip(inside)), "{inside} must be refused");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "192.0.1.1",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
            "::ffff:8.8.8.8",
            "3fff:1000::1",
        ] {
            assert!(!is_forbidden(ip(public)), "{public} must be allowed");
        }
    }

    #[test]
    fn urls_are_checked_unless_private_targets_are_allowed() {
        let uri = |s: &str| s.parse::<Uri>().expect("a URI");
        for bad in [
            "http://127.0.0.1:9000/h",
            "http://[::1]/h",
            "http://localhost/h",
            "https://api.localhost/h",
            "http://[64:ff9b::a9fe:a9fe]/h",
            "http://[::ffff:0:7f00:1]/h",
            "http://[fec0::1]/h",
        ] {
            assert!(check_url(&uri(bad), false).is_err(), "{bad}");
            assert!(check_url(&uri(bad), true).is_ok(), "{bad} with private targets allowed");
        }
        assert!(check_url(&uri("https://crm.example.com/hooks"), false).is_ok());
        assert!(check_url(&uri("ftp://crm.example.com/hooks"), true).is_err());
        assert!(check_url(&uri("/relative"), true).is_err());
    }

    #[test]
    fn resolved_addresses_inside_are_dropped_unless_allowed() {
        let addr = |s: &str| s.parse::<SocketAddr>().expect("an address");
        let mixed = [addr("10.0.0.1:443"), addr("93.184.216.34:443"), addr("[::1]:443")];
        let kept = filter_addrs(mixed.into_iter(), false).expect("one public address");
        assert_eq!(kept, vec![addr("93.184.216.34:443")]);
        assert_eq!(filter_addrs(mixed.into_iter(), true).expect("all allowed"), mixed.to_vec());
        let inside = [addr("127.0.0.1:80"), addr("169.254.169.254:80")];
        let error = filter_addrs(inside.into_iter(), false).expect_err("nothing left");
        assert_eq!(error.to_string(), ONLY_PRIVATE);
        assert!(filter_addrs(std::iter::empty(), true).is_err());
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_points_inside() {
        let name: Name = "localhost".parse().expect("a name");
        let error = GuardedResolver::new(false).call(name.clone()).await.expect_err("localhost is loopback");
        assert_eq!(error.to_string(), ONLY_PRIVATE);
        let allowed: Vec<SocketAddr> = GuardedResolver::new(true).call(name).await.expect("allowed").collect();
        assert!(allowed.iter().all(|a| a.ip().is_loopback()) && !allowed.is_empty());
    }
}
