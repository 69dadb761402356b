//! The typed values of `bidder-sim check`'s flags and their parsers. Each refuses what the
//! engine's config would refuse, so a bad flag is a usage error (exit code 2, reported by clap)
//! before anything is sent, and a flag that works here works in the operator's config.

use http::Uri;
use http::header::{HeaderName, HeaderValue};
use lead_protocol::lead::is_valid_vertical;
use lead_protocol::money::Micros;

/// Headers the checker sets itself. The engine refuses the same names in a buyer's `headers`,
/// and `webhook-*` too (see [`parse_header`]).
const RESERVED_HEADERS: [&str; 5] = ["host", "content-length", "content-type", "transfer-encoding", "connection"];

/// The HTTP version to speak, as in a buyer's `transport` config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// HTTP/1.1 over keep-alive connections (the engine's default).
    Http1,
    /// HTTP/2: h2c with prior knowledge over `http://`, ALPN `h2` over `https://`.
    Http2,
}

/// An extra request header sent with every ping and the post, e.g. an API key.
#[derive(Debug, Clone)]
pub struct Header {
    /// Lowercase header name.
    pub name: HeaderName,
    /// Its value.
    pub value: HeaderValue,
}

/// Parses an absolute `http://` or `https://` URL with a host.
pub fn parse_url(text: &str) -> Result<Uri, String> {
    let uri: Uri = text.trim().parse().map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(uri),
        _ => Err(format!("`{text}` must be an absolute http:// or https:// URL")),
    }
}

/// Parses `Name: value`.
pub fn parse_header(text: &str) -> Result<Header, String> {
    let (name, value) = text.split_once(':').ok_or_else(|| format!("`{text}` is not `Name: value`"))?;
    let name = HeaderName::try_from(name.trim()).map_err(|_| format!("`{}` is not a header name", name.trim()))?;
    if RESERVED_HEADERS.contains(&name.as_str()) || name.as_str().starts_with("webhook-") {
        return Err(format!("`{name}` is set by the checker itself, as the engine sets it"));
    }
    let value =
        HeaderValue::try_from(value.trim()).map_err(|_| format!("the value of `{name}` is not a header value"))?;
    Ok(Header { name, value })
}

/// Parses a price limit, a decimal string like the engine's `floor` and `max_bid`.
pub fn parse_money(text: &str) -> Result<Micros, String> {
    match Micros::parse(text) {
        Ok(money) if money.0 >= 0 => Ok(money),
        Ok(_) => Err(format!("`{text}` is negative")),
        Err(e) => Err(format!("`{text}` {e} (expected a decimal like \"12.50\")")),
    }
}

/// Parses a vertical name: 1 to 64 of `a-z`, `0-9`, `_`.
pub fn parse_vertical(text: &str) -> Result<String, String> {
    if is_valid_vertical(text) {
        Ok(text.to_owned())
    } else {
        Err(format!("`{text}` is not a vertical: 1 to 64 of a-z, 0-9 and _"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_good_flags_and_refuses_bad_ones() {
        assert!(parse_url("https://buyer.example.com/ping?k=1").is_ok());
        for bad in ["buyer.example.com/ping", "ftp://x/", "/ping", "http://"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        let header = parse_header("X-Api-Key:  secret ").expect("valid header");
        assert_eq!((header.name.as_str(), header.value.as_bytes()), ("x-api-key", &b"secret"[..]));
        for bad in ["no colon", "bad name: v", "Content-Type: text/plain", "webhook-id: x", "Host: a"] {
            assert!(parse_header(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_money("1000.00"), Ok(Micros::from_units(1000)));
        assert!(parse_money("-1").is_err() && parse_money("lots").is_err());
        assert!(parse_vertical("auto_insurance").is_ok() && parse_vertical("Auto").is_err());
    }
}
