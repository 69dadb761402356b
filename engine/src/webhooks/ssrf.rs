//! The SSRF guard: webhook URLs are chosen by API callers, so unless the config allows it
//! (`[delivery] allow_private_targets`, which tests set) a delivery never goes to a loopback,
//! private, link-local or otherwise non-public address. URLs are checked when a subscription
//! is created ([`check_url`]: IP literals and `localhost`), and every address a host name
//! resolves to is checked again at connect time ([`is_forbidden`]), so a DNS name pointing
//! inside cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::Uri;

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
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // 2001:db8::/32 documentation.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
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
        ] {
            assert!(is_forbidden(ip(inside)), "{inside} must be refused");
        }
        for public in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111"] {
            assert!(!is_forbidden(ip(public)), "{public} must be allowed");
        }
    }

    #[test]
    fn urls_are_checked_unless_private_targets_are_allowed() {
        let uri = |s: &str| s.parse::<Uri>().expect("a URI");
        for bad in ["http://127.0.0.1:9000/h", "http://[::1]/h", "http://localhost/h", "https://api.localhost/h"] {
            assert!(check_url(&uri(bad), false).is_err(), "{bad}");
            assert!(check_url(&uri(bad), true).is_ok(), "{bad} with private targets allowed");
        }
        assert!(check_url(&uri("https://crm.example.com/hooks"), false).is_ok());
        assert!(check_url(&uri("ftp://crm.example.com/hooks"), true).is_err());
        assert!(check_url(&uri("/relative"), true).is_err());
    }
}
