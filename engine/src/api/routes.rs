//! Every endpoint of the HTTP API: what a path names, which methods it takes, and the table
//! [`ROUTES`] that docs/openapi.yaml is checked against.

use http::Method;

use super::auth::Scope;
use super::webhooks;

/// One endpoint, with the id from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `/v1/leads`: intake (POST) and pull (GET).
    Leads,
    /// `/v1/leads/{id}`.
    Lead(&'a str),
    /// `/v1/ping`: a publisher's ping.
    Ping,
    /// `/v1/post`: a publisher's post on its ping.
    Post,
    /// `/v1/leads/{id}/status`.
    LeadStatus(&'a str),
    /// `/v1/leads/{id}/return`.
    LeadReturn(&'a str),
    /// `/v1/reports/buyers`.
    BuyerReport,
    /// `/v1/reports/publishers`.
    PublisherReport,
    /// `/v1/buyers`, `/v1/publishers`.
    Directory(Kind),
    /// `/v1/buyers/{id}`, `/v1/publishers/{id}`.
    Entry(Kind, &'a str),
    /// `/v1/buyers/{id}/pause|resume`, `/v1/publishers/{id}/pause|resume`.
    Pause(Kind, &'a str, bool),
    /// `/v1/keys`.
    Keys,
    /// `/v1/keys/{id}`.
    Key(&'a str),
    /// `/v1/audit`.
    Audit,
    /// The webhook API's paths (`/v1/webhooks...`, `/v1/deliveries...`, `/v1/dead-letters`).
    Webhooks(webhooks::Route<'a>),
}

/// What the admin API manages besides webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `[[buyers]]`.
    Buyer,
    /// `[[publishers]]`.
    Publisher,
}

impl Kind {
    /// `buyer`, `publisher`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Buyer => "buyer",
            Kind::Publisher => "publisher",
        }
    }
}

/// Every (method, path template) the API serves, `{id}` standing for an id.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/leads"),
    ("GET", "/v1/leads"),
    ("GET", "/v1/leads/{id}"),
    ("POST", "/v1/ping"),
    ("POST", "/v1/post"),
    ("POST", "/v1/leads/{id}/status"),
    ("POST", "/v1/leads/{id}/return"),
    ("GET", "/v1/reports/buyers"),
    ("GET", "/v1/reports/publishers"),
    ("GET", "/v1/buyers"),
    ("POST", "/v1/buyers"),
    ("GET", "/v1/buyers/{id}"),
    ("PUT", "/v1/buyers/{id}"),
    ("PATCH", "/v1/buyers/{id}"),
    ("DELETE", "/v1/buyers/{id}"),
    ("POST", "/v1/buyers/{id}/pause"),
    ("POST", "/v1/buyers/{id}/resume"),
    ("GET", "/v1/publishers"),
    ("POST", "/v1/publishers"),
    ("GET", "/v1/publishers/{id}"),
    ("PUT", "/v1/publishers/{id}"),
    ("PATCH", "/v1/publishers/{id}"),
    ("DELETE", "/v1/publishers/{id}"),
    ("POST", "/v1/publishers/{id}/pause"),
    ("POST", "/v1/publishers/{id}/resume"),
    ("GET", "/v1/keys"),
    ("POST", "/v1/keys"),
    ("GET", "/v1/keys/{id}"),
    ("DELETE", "/v1/keys/{id}"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/webhooks"),
    ("POST", "/v1/webhooks"),
    ("GET", "/v1/webhooks/{id}"),
    ("PATCH", "/v1/webhooks/{id}"),
    ("DELETE", "/v1/webhooks/{id}"),
    ("POST", "/v1/webhooks/{id}/rotate-secret"),
    ("GET", "/v1/webhooks/{id}/preview"),
    ("POST", "/v1/webhooks/{id}/preview"),
    ("GET", "/v1/webhooks/{id}/deliveries"),
    ("POST", "/v1/webhooks/{id}/replay"),
    ("POST", "/v1/deliveries/{id}/replay"),
    ("GET", "/v1/dead-letters"),
    ("GET", "/metrics"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
];

impl<'a> Endpoint<'a> {
    /// The endpoint a `/v1/...` path names, if any.
    pub fn of(path: &'a str) -> Option<Endpoint<'a>> {
        let rest = path.strip_prefix("/v1/")?;
        // Only the webhook API's own prefixes go to its router (which splits the path into a
        // vector): intake's path never does.
        if ["webhooks", "deliveries", "dead-letters"].iter().any(|p| rest.starts_with(p)) {
            return webhooks::Route::of(path).map(Endpoint::Webhooks);
        }
        let mut segments = rest.split('/');
        let parts = [segments.next(), segments.next(), segments.next()];
        if segments.next().is_some() {
            return None;
        }
        let endpoint = match parts {
            [Some("leads"), None, None] => Endpoint::Leads,
            [Some("leads"), Some(id), None] => Endpoint::Lead(id),
            [Some("leads"), Some(id), Some("status")] => Endpoint::LeadStatus(id),
            [Some("leads"), Some(id), Some("return")] => Endpoint::LeadReturn(id),
            [Some("ping"), None, None] => Endpoint::Ping,
            [Some("post"), None, None] => Endpoint::Post,
            [Some("reports"), Some("buyers"), None] => Endpoint::BuyerReport,
            [Some("reports"), Some("publishers"), None] => Endpoint::PublisherReport,
            [Some(kind), rest @ ..] if kind_of(kind).is_some() => {
                let kind = kind_of(kind)?;
                match rest {
                    [None, None] => Endpoint::Directory(kind),
                    [Some(id), None] => Endpoint::Entry(kind, id),
                    [Some(id), Some("pause")] => Endpoint::Pause(kind, id, true),
                    [Some(id), Some("resume")] => Endpoint::Pause(kind, id, false),
                    _ => return None,
                }
            }
            [Some("keys"), None, None] => Endpoint::Keys,
            [Some("keys"), Some(id), None] => Endpoint::Key(id),
            [Some("audit"), None, None] => Endpoint::Audit,
            _ => return None,
        };
        if endpoint.id().is_some_and(|id| id.is_empty()) {
            return None;
        }
        Some(endpoint)
    }

    /// The methods it takes, as an `Allow` header value.
    pub fn allow(self) -> &'static str {
        match self {
            Endpoint::Leads | Endpoint::Directory(_) | Endpoint::Keys => "GET, POST",
            Endpoint::Lead(_) | Endpoint::BuyerReport | Endpoint::PublisherReport | Endpoint::Audit => "GET",
            Endpoint::LeadStatus(_)
            | Endpoint::LeadReturn(_)
            | Endpoint::Pause(..)
            | Endpoint::Ping
            | Endpoint::Post => "POST",
            Endpoint::Entry(..) => "GET, PUT, PATCH, DELETE",
            Endpoint::Key(_) => "GET, DELETE",
            Endpoint::Webhooks(route) => route.allow(),
        }
    }

    /// Whether it takes `method`.
    pub fn takes(self, method: &Method) -> bool {
        self.allow().split(", ").any(|m| m == method.as_str())
    }

    /// The id in the path.
    pub fn id(self) -> Option<&'a str> {
        match self {
            Endpoint::Lead(id)
            | Endpoint::LeadStatus(id)
            | Endpoint::LeadReturn(id)
            | Endpoint::Entry(_, id)
            | Endpoint::Pause(_, id, _)
            | Endpoint::Key(id) => Some(id),
            Endpoint::Webhooks(route) => route.id(),
            _ => None,
        }
    }
}

/// The scope a method needs: reading for GET, writing for the rest.
pub fn scope_of(method: &Method) -> Scope {
    if method == Method::GET || method == Method::HEAD { Scope::Read } else { Scope::Write }
}

fn kind_of(segment: &str) -> Option<Kind> {
    match segment {
        "buyers" => Some(Kind::Buyer),
        "publishers" => Some(Kind::Publisher),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table and the router agree: every route in [`ROUTES`] resolves to an endpoint that
    /// takes its method, and every endpoint's methods are in the table.
    #[test]
    fn every_route_in_the_table_is_served() {
        for (method, template) in ROUTES {
            let path = template.replace("{id}", "x1");
            if ["/metrics", "/healthz", "/readyz"].contains(&path.as_str()) {
                continue;
            }
            let endpoint = Endpoint::of(&path).unwrap_or_else(|| panic!("{template} does not route"));
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            assert!(endpoint.takes(&method), "{method} {template} is not taken");
            for allowed in endpoint.allow().split(", ") {
                assert!(ROUTES.contains(&(allowed, template)), "{allowed} {template} is served but not in ROUTES");
            }
        }
    }

    #[test]
    fn unknown_paths_do_not_route() {
        for path in [
            "/v1/lead",
            "/v1/leads/",
            "/v1/ping/x",
            "/v1/post/",
            "/v1/leads/x/y/z",
            "/v1/buyers/x/stop",
            "/v1/reports",
            "/v2/leads",
        ] {
            assert_eq!(Endpoint::of(path), None, "{path}");
        }
    }
}
