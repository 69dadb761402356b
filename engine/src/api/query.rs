//! Query strings of the `/v1` API: percent-decoded (`%2B` for a `+`; a literal `+` stays a
//! plus, so RFC 3339 offsets and opaque cursors survive unencoded), each endpoint naming the
//! parameters it takes (an unknown one is a 400: a typo must not silently widen a query), and
//! typed readers for the shared ones: `cursor`, `limit` (1-500, default 50), `since`/`until`
//! (RFC 3339).

use std::collections::HashMap;

use crate::api::error::ApiError;
use crate::store::{PageRequest, UnixMs};

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 50;

/// Largest page.
pub const MAX_LIMIT: usize = 500;

/// Longest query string read: filters and a cursor fit in far less.
const MAX_QUERY_LEN: usize = 4096;

/// A parsed query string.
#[derive(Debug, Default)]
pub struct Query {
    params: HashMap<String, String>,
}

impl Query {
    /// Parses `query`, refusing parameters not in `allowed` and repeated ones.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Query, ApiError> {
        let mut params = HashMap::new();
        let Some(query) = query.filter(|q| !q.is_empty()) else { return Ok(Query { params }) };
        if query.len() > MAX_QUERY_LEN {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("the query string is over {MAX_QUERY_LEN} bytes"),
            ));
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name)?;
            let value = decode(value)?;
            if !allowed.contains(&name.as_str()) {
                let message = if allowed.is_empty() {
                    "this endpoint takes no query parameters".to_owned()
                } else {
                    format!("unknown parameter; this endpoint takes {}", allowed.join(", "))
                };
                return Err(ApiError::field("unknown_parameter", name, message));
            }
            if params.insert(name.clone(), value).is_some() {
                return Err(ApiError::field("invalid_query", name, "given more than once"));
            }
        }
        Ok(Query { params })
    }

    /// A parameter's value, if given and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// `cursor` and `limit`.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = match self.get("limit") {
            None => DEFAULT_LIMIT,
            Some(text) => text.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                ApiError::field("invalid_limit", "limit", format!("must be a whole number from 1 to {MAX_LIMIT}"))
            })?,
        };
        Ok(PageRequest { after: self.get("cursor").map(str::to_owned), limit })
    }

    /// An RFC 3339 time parameter, as Unix milliseconds.
    pub fn time(&self, name: &'static str) -> Result<Option<UnixMs>, ApiError> {
        self.get(name)
            .map(|text| {
                chrono::DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis()).map_err(|_| {
                    ApiError::field("invalid_time", name, "must be an RFC 3339 time such as 2026-11-23T12:00:00Z")
                })
            })
            .transpose()
    }
}

/// Percent-decodes one name or value (UTF-8 required).
fn decode(text: &str) -> Result<String, ApiError> {
    let bad = || ApiError::bad_request("invalid_query", "the query string is not valid percent-encoded UTF-8");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<Query, ApiError> {
        Query::parse(Some(query), &["cursor", "limit", "since", "status"])
    }

    fn field(result: Result<impl std::fmt::Debug, ApiError>) -> Option<String> {
        result.expect_err("an error").field.map(|f| f.into_owned())
    }

    #[test]
    fn pages_default_and_are_bounded() {
        let page = parse("").expect("empty").page().expect("default");
        assert_eq!((page.after, page.limit), (None, DEFAULT_LIMIT));
        let page = parse("cursor=a%2Bb+c&limit=500").expect("valid").page().expect("valid");
        assert_eq!((page.after.as_deref(), page.limit), (Some("a+b+c"), 500));
        for bad in ["limit=0", "limit=501", "limit=-1", "limit=ten", "limit=1.5"] {
            assert_eq!(field(parse(bad).expect("parses").page()), Some("limit".into()), "{bad}");
        }
    }

    #[test]
    fn times_are_rfc3339() {
        let q = parse("since=2026-11-23T12:00:00Z").expect("valid");
        assert_eq!(q.time("since").expect("valid"), Some(1_795_435_200_000));
        let q = parse("since=2026-11-23T13:00:00%2B01:00").expect("valid");
        assert_eq!(q.time("since").expect("valid"), Some(1_795_435_200_000));
        let q = parse("since=2026-11-23T13:00:00+01:00").expect("valid");
        assert_eq!(q.time("since").expect("a literal plus stays a plus"), Some(1_795_435_200_000));
        assert_eq!(field(parse("since=yesterday").expect("parses").time("since")), Some("since".into()));
        assert_eq!(parse("").expect("empty").time("since").expect("absent"), None);
    }

    #[test]
    fn unknown_repeated_and_badly_encoded_parameters_are_refused() {
        assert_eq!(field(parse("stauts=dead")), Some("stauts".into()));
        assert_eq!(field(parse("limit=1&limit=2")), Some("limit".into()));
        for bad in ["limit=%", "limit=%4", "limit=%zz", "limit=%ff"] {
            assert_eq!(parse(bad).expect_err("bad encoding").code, "invalid_query", "{bad}");
        }
        assert_eq!(field(Query::parse(Some("a=1"), &[])), Some("a".into()));
        assert!(Query::parse(Some(&"a".repeat(MAX_QUERY_LEN + 1)), &["a"]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_query_strings_are_answers_not_panics(query in "\\PC{0,80}", raw in "[%a-z0-9=&+]{0,40}") {
            for text in [query.as_str(), raw.as_str()] {
                if let Ok(q) = Query::parse(Some(text), &["cursor", "limit", "since"]) {
                    let _ = q.page();
                    let _ = q.time("since");
                }
            }
        }
    }
}
