//! The webhook API over a real socket, backed by the in-memory test store.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use sha2::Digest;

use super::*;
use crate::protocol::event::EventType;
use crate::webhooks::testing::MemoryStore;

const ADMIN_KEY: &str = "admin-key";

struct Fixture {
    addr: SocketAddr,
    store: Arc<MemoryStore>,
    client: Client<HttpConnector, Full<Bytes>>,
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    json: Value,
}

async fn start() -> Fixture {
    let digest = hex::encode(sha2::Sha256::digest(ADMIN_KEY));
    let config = Config::from_toml(&format!("[[admins]]\nid = \"ops\"\nkey_sha256 = \"{digest}\"\n")).unwrap();
    let store = Arc::new(MemoryStore::default());
    let api = Arc::new(WebhookApi::new(Arc::clone(&store) as Arc<dyn Store>, &config));
    let keys = Arc::new(crate::api::auth::Keys::new(&config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let api = Arc::clone(&api);
            let keys = Arc::clone(&keys);
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let api = Arc::clone(&api);
                    let keys = Arc::clone(&keys);
                    async move { Ok::<_, Infallible>(route(&api, &keys, request).await) }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Fixture { addr, store, client: Client::builder(TokioExecutor::new()).build_http() }
}

/// What the app's router does for these paths: the route, its method, the caller, the id.
async fn route(
    api: &WebhookApi,
    keys: &crate::api::auth::Keys,
    request: http::Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let answer = async {
        let route = Route::of(parts.uri.path()).ok_or_else(crate::api::no_such_endpoint)?;
        if !route.allow().split(", ").any(|m| m == parts.method.as_str()) {
            return Ok(crate::api::method_not_allowed(route.allow()));
        }
        let caller = keys.authenticate(&parts.headers, 0)?.caller;
        if route.id().is_some_and(|id| crate::config::check_id(id).is_err()) {
            return Err(crate::api::no_such_endpoint());
        }
        api.handle(&caller, route, &parts, body).await
    };
    answer.await.unwrap_or_else(ApiError::into_response)
}

impl Fixture {
    async fn send(&self, method: &str, path: &str, key: Option<&str>, content_type: &str, body: &str) -> Answer {
        let mut request = http::Request::builder().method(method).uri(format!("http://{}{path}", self.addr));
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        let response =
            self.client.request(request.body(Full::new(Bytes::from(body.to_owned()))).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        Answer { status, headers, json }
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Answer {
        let body = if body.is_null() { String::new() } else { body.to_string() };
        self.send(method, path, Some(ADMIN_KEY), "application/json", &body).await
    }

    async fn create(&self, body: Value) -> Answer {
        self.call("POST", "/v1/webhooks", body).await
    }
}

fn error_field(answer: &Answer) -> (StatusCode, &str) {
    (answer.status, answer.json["error"]["field"].as_str().unwrap_or_default())
}

fn hook(id: &str) -> Value {
    json!({"id": id, "url": "https://crm.example.com/hooks", "events": ["lead.sold"]})
}

#[tokio::test]
async fn only_admins_get_in() {
    let f = start().await;
    assert_eq!(f.send("GET", "/v1/webhooks", None, "", "").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(f.send("GET", "/v1/webhooks", Some("wrong"), "", "").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(f.send("GET", "/v1/webhooks", Some(ADMIN_KEY), "", "").await.status, StatusCode::OK);
}

#[tokio::test]
async fn create_shows_the_secret_once_and_reads_never_do() {
    let f = start().await;
    let created = f
        .create(json!({"url": "https://crm.example.com/hooks", "events": ["lead.sold", "*"], "headers": {"x-api-key": "k1"}}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.json["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("wh_"), "{id}");
    let secret = created.json["secret"].as_str().unwrap();
    assert_eq!(crate::config::SigningSecret::parse(secret).unwrap().0.len(), 32);
    assert_eq!(created.json["headers"], json!({"x-api-key": "[redacted]"}));
    let read = f.call("GET", &format!("/v1/webhooks/{id}"), Value::Null).await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(read.json.get("secret").is_none() && read.json.get("secrets").is_none());
    assert_eq!(read.json["events"], json!(["lead.sold", "*"]));
    assert_eq!(read.json["source"], "api");
    let stored = f.store.stored_subscription(&id).unwrap();
    assert_eq!(stored.secrets, vec![secret.to_owned()]);
    assert_eq!(stored.headers, vec![("x-api-key".to_owned(), "k1".to_owned())]);
    let given = f.create(json!({"id": "crm", "url": "https://a.example.com/h", "events": ["*"], "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})).await;
    assert_eq!(
        (given.status, given.json["secret"].as_str()),
        (StatusCode::CREATED, Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
    );
    assert_eq!(f.create(hook("crm")).await.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn bad_subscriptions_are_refused_with_the_field_at_fault() {
    let f = start().await;
    let cases = [
        (json!({"events": ["*"]}), "url"),
        (json!({"url": "https://a.example.com/h"}), "events"),
        (json!({"url": "http://127.0.0.1:9000/h", "events": ["*"]}), "url"),
        (json!({"url": "http://169.254.169.254/latest", "events": ["*"]}), "url"),
        (json!({"url": "ftp://a.example.com/h", "events": ["*"]}), "url"),
        (json!({"url": 5, "events": ["*"]}), "url"),
        (json!({"url": "https://a.example.com/h", "events": []}), "events"),
        (json!({"url": "https://a.example.com/h", "events": ["lead.sold", "lead.bought"]}), "events[1]"),
        (json!({"url": "https://a.example.com/h", "events": ["*"], "secret": "shh"}), "secret"),
        (json!({"url": "https://a.example.com/h", "events": ["*"], "headers": {"webhook-id": "x"}}), "headers"),
        (json!({"url": "https://a.example.com/h", "events": ["*"], "headers": {"bad name": "x"}}), "headers"),
        (json!({"url": "https://a.example.com/h", "events": ["*"], "payload": {"layout": "wide"}}), "payload.layout"),
        (
            json!({"url": "https://a.example.com/h", "events": ["*"], "payload": {"fields": ["a..b"]}}),
            "payload.fields[0]",
        ),
        (json!({"url": "https://a.example.com/h", "events": ["*"], "id": "no spaces"}), "id"),
        (json!({"url": "https://a.example.com/h", "events": ["*"], "colour": "red"}), "colour"),
    ];
    for (body, field) in cases {
        let answer = f.create(body.clone()).await;
        assert_eq!(error_field(&answer), (StatusCode::BAD_REQUEST, field), "{body}");
    }
    let answer = f.send("POST", "/v1/webhooks", Some(ADMIN_KEY), "application/json", "{\"url\":").await;
    assert_eq!((answer.status, answer.json["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")));
    let answer = f.send("POST", "/v1/webhooks", Some(ADMIN_KEY), "text/plain", "{}").await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("{{\"url\": \"{}\"}}", "a".repeat(MAX_BODY_BYTES));
    assert_eq!(
        f.send("POST", "/v1/webhooks", Some(ADMIN_KEY), "application/json", &huge).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn wrong_methods_get_405_with_allow_and_unknown_paths_404_json() {
    let f = start().await;
    let answer = f.call("PUT", "/v1/webhooks", Value::Null).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers.get("allow").unwrap(), "GET, POST");
    let answer = f.call("GET", "/v1/deliveries/1/replay", Value::Null).await;
    assert_eq!(
        (answer.status, answer.headers.get("allow").unwrap().to_str().unwrap()),
        (StatusCode::METHOD_NOT_ALLOWED, "POST")
    );
    for path in ["/v1/webhooks/crm/nothing", "/v1/deliveries", "/v1/dead-letters/1", "/v1/webhooks/nobody"] {
        let answer = f.call("GET", path, Value::Null).await;
        assert_eq!(
            (answer.status, answer.json["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{path}"
        );
    }
}

#[tokio::test]
async fn listing_is_keyset_paginated() {
    let f = start().await;
    for id in ["a1", "a2", "a3"] {
        assert_eq!(f.create(hook(id)).await.status, StatusCode::CREATED);
    }
    let first = f.call("GET", "/v1/webhooks?limit=2", Value::Null).await;
    let ids = |a: &Answer| {
        a.json["data"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ["a1", "a2"]);
    let cursor = first.json["next_cursor"].as_str().unwrap();
    let second = f.call("GET", &format!("/v1/webhooks?limit=2&cursor={cursor}"), Value::Null).await;
    assert_eq!(ids(&second), ["a3"]);
    assert!(second.json["next_cursor"].is_null());
    assert_eq!(
        error_field(&f.call("GET", "/v1/webhooks?limit=501", Value::Null).await),
        (StatusCode::BAD_REQUEST, "limit")
    );
    assert_eq!(
        error_field(&f.call("GET", "/v1/webhooks?page=2", Value::Null).await),
        (StatusCode::BAD_REQUEST, "page")
    );
}

#[tokio::test]
async fn change_delete_and_config_subscriptions() {
    let f = start().await;
    f.create(hook("crm")).await;
    let pending = f.store.add_delivery("crm", "evt_p", EventType::LeadSold);
    let changed = f.call("PATCH", "/v1/webhooks/crm", json!({"events": ["*"], "enabled": false})).await;
    assert_eq!((changed.status, changed.json["enabled"].as_bool()), (StatusCode::OK, Some(false)));
    assert_eq!(changed.json["disabled_reason"], "disabled through the API");
    let dead = f.store.delivery(pending).unwrap().view;
    assert_eq!(
        (dead.status.as_str(), dead.dead_reason.as_deref()),
        ("dead", Some("subscription disabled")),
        "disabling sends its pending deliveries to the dead letters"
    );
    let changed = f.call("PATCH", "/v1/webhooks/crm", json!({"enabled": true, "payload": {"layout": "flat"}})).await;
    assert_eq!((changed.json["enabled"].as_bool(), &changed.json["payload"]), (Some(true), &json!({"layout": "flat"})));
    assert_eq!(
        error_field(&f.call("PATCH", "/v1/webhooks/crm", json!({"secret": "x"})).await),
        (StatusCode::BAD_REQUEST, "secret")
    );
    assert_eq!(f.call("DELETE", "/v1/webhooks/crm", Value::Null).await.status, StatusCode::NO_CONTENT);
    assert_eq!(f.call("DELETE", "/v1/webhooks/crm", Value::Null).await.status, StatusCode::NOT_FOUND);

    let mut from_config = f.store.stored_subscription("crm").unwrap_or_else(|| crate::store::Subscription {
        id: "cfg".into(),
        url: "https://crm.example.com/h".into(),
        events: vec!["*".into()],
        secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
        secrets_rotated_until: None,
        headers: Vec::new(),
        payload: None,
        enabled: true,
        disabled_reason: None,
        source: crate::webhooks::CONFIG_SOURCE,
        created_at: 0,
    });
    from_config.id = "cfg".into();
    f.store.write(vec![Write::PutSubscription(Box::new(from_config))]).unwrap().await.unwrap();
    for (method, path) in
        [("DELETE", "/v1/webhooks/cfg"), ("POST", "/v1/webhooks/cfg/rotate-secret"), ("PATCH", "/v1/webhooks/cfg")]
    {
        let answer = f.call(method, path, json!({})).await;
        assert_eq!(
            (answer.status, answer.json["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("config_subscription"))
        );
    }
}

#[tokio::test]
async fn the_preview_is_signed_with_the_example_secret_never_the_real_ones() {
    let f = start().await;
    let created = f.create(hook("crm")).await;
    let old = created.json["secret"].as_str().unwrap().to_owned();
    let rotated = f.call("POST", "/v1/webhooks/crm/rotate-secret", Value::Null).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let new = rotated.json["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated.json["previous_secret_expires_at"].is_string());
    assert_eq!(f.store.stored_subscription("crm").unwrap().secrets, vec![new.clone(), old.clone()]);

    let preview = f.call("GET", "/v1/webhooks/crm/preview?type=lead.sold", Value::Null).await;
    assert_eq!(preview.status, StatusCode::OK);
    let header = |name: &str| {
        preview.json["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0] == name)
            .and_then(|h| h[1].as_str())
            .unwrap()
            .to_owned()
    };
    let body = preview.json["body"].as_str().unwrap();
    let (id, ts) = (header("webhook-id"), header("webhook-timestamp"));
    let sign = |secret: &str| {
        let secret = crate::config::SigningSecret::parse(secret).unwrap();
        crate::transport::sign::Signer::new(&secret.0).sign(&id, ts.parse().unwrap(), body.as_bytes())
    };
    assert_eq!(header("webhook-signature"), sign(super::preview::EXAMPLE_SECRET), "one signature, the example's");
    assert_ne!(sign(&new), sign(super::preview::EXAMPLE_SECRET));
    assert_ne!(sign(&old), sign(super::preview::EXAMPLE_SECRET));
    assert!(preview.json["signed_with"].as_str().unwrap().contains(super::preview::EXAMPLE_SECRET));
    let envelope: Value = serde_json::from_str(body).unwrap();
    assert_eq!((envelope["id"].as_str(), envelope["type"].as_str()), (Some(id.as_str()), Some("lead.sold")));
    assert_eq!(preview.json["subscribed"], true);
}

#[tokio::test]
async fn the_preview_applies_saved_or_trial_payload_settings() {
    let f = start().await;
    let mut body = hook("crm");
    body["payload"] = json!({"fields": ["id", "data.price"], "rename": {"data.price": "amount"}});
    f.create(body).await;
    let preview = f.call("GET", "/v1/webhooks/crm/preview", Value::Null).await;
    let shaped: Value = serde_json::from_str(preview.json["body"].as_str().unwrap()).unwrap();
    assert_eq!(shaped.as_object().unwrap().keys().collect::<Vec<_>>(), ["amount", "id"]);
    assert_eq!(shaped["amount"], "12.50");
    let trial =
        f.call("POST", "/v1/webhooks/crm/preview?type=lead.unsold", json!({"payload": {"layout": "flat"}})).await;
    let shaped: Value = serde_json::from_str(trial.json["body"].as_str().unwrap()).unwrap();
    assert_eq!(shaped["data_reason"], "no_bids");
    assert_eq!(trial.json["subscribed"], false);
    assert_eq!(
        error_field(&f.call("GET", "/v1/webhooks/crm/preview?type=x", Value::Null).await),
        (StatusCode::BAD_REQUEST, "type")
    );
}

#[tokio::test]
async fn deliveries_replays_and_dead_letters() {
    let f = start().await;
    f.create(hook("crm")).await;
    let ids: Vec<i64> = (0..3).map(|n| f.store.add_delivery("crm", &format!("evt_{n}"), EventType::LeadSold)).collect();
    let page = f.call("GET", "/v1/webhooks/crm/deliveries?limit=2&status=pending", Value::Null).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.json["data"].as_array().unwrap().len(), 2);
    let cursor = page.json["next_cursor"].as_str().unwrap();
    let rest = f.call("GET", &format!("/v1/webhooks/crm/deliveries?limit=2&cursor={cursor}"), Value::Null).await;
    assert_eq!(rest.json["data"].as_array().unwrap().len(), 1);
    assert!(rest.json["data"][0]["created_at"].is_string());
    for (query, field) in
        [("status=lost", "status"), ("event_type=lead.x", "event_type"), ("since=today", "since"), ("until=1", "until")]
    {
        let answer = f.call("GET", &format!("/v1/webhooks/crm/deliveries?{query}"), Value::Null).await;
        assert_eq!(error_field(&answer), (StatusCode::BAD_REQUEST, field), "{query}");
    }
    assert_eq!(f.call("GET", "/v1/webhooks/nobody/deliveries", Value::Null).await.status, StatusCode::NOT_FOUND);

    let replayed = f.call("POST", &format!("/v1/deliveries/{}/replay", ids[0]), Value::Null).await;
    assert_eq!((replayed.status, replayed.json["replayed"].as_u64()), (StatusCode::ACCEPTED, Some(1)));
    assert_eq!(f.call("POST", "/v1/deliveries/999/replay", Value::Null).await.status, StatusCode::NOT_FOUND);
    assert_eq!(f.call("POST", "/v1/deliveries/abc/replay", Value::Null).await.status, StatusCode::NOT_FOUND);
    let range = f.call("POST", "/v1/webhooks/crm/replay", Value::Null).await;
    assert_eq!(error_field(&range), (StatusCode::BAD_REQUEST, "since"));
    let range = f
        .call("POST", "/v1/webhooks/crm/replay?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", Value::Null)
        .await;
    assert_eq!(error_field(&range), (StatusCode::BAD_REQUEST, "until"));
    let range = f.call("POST", "/v1/webhooks/crm/replay?since=2026-01-01T00:00:00Z", Value::Null).await;
    assert_eq!(range.status, StatusCode::ACCEPTED);
    assert!(range.json["replayed"].is_u64());

    let dead = f.call("GET", "/v1/dead-letters?limit=10", Value::Null).await;
    assert_eq!((dead.status, dead.json["data"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
}

#[test]
fn paths_map_to_routes_and_methods() {
    assert_eq!(Route::of("/v1/webhooks"), Some(Route::Subscriptions));
    assert_eq!(Route::of("/v1/webhooks/crm"), Some(Route::Subscription("crm")));
    assert_eq!(Route::of("/v1/webhooks/crm/rotate-secret"), Some(Route::Rotate("crm")));
    assert_eq!(Route::of("/v1/deliveries/42/replay"), Some(Route::ReplayDelivery("42")));
    assert_eq!(Route::of("/v1/dead-letters"), Some(Route::DeadLetters));
    for unknown in ["/v1/webhooks/crm/other", "/v1/deliveries/42", "/v1/dead-letters/x", "/v1/webhooks/a/b/c/d"] {
        assert_eq!(Route::of(unknown), None, "{unknown}");
    }
    assert_eq!(Route::of("/v1/webhooks/"), Some(Route::Subscription("")), "then refused as an invalid id");
    assert!(Route::of("/v1/webhooksx").is_none() && Route::of("/v1/leads").is_none());
    assert_eq!(Route::Subscription("x").allow(), "GET, PATCH, DELETE");
}

#[tokio::test]
async fn a_url_s_query_string_is_redacted_in_answers_and_kept_in_the_store() {
    let f = start().await;
    let url = "https://crm.example.com/hooks?token=s3cret";
    let created = f.create(json!({"id": "crm", "url": url, "events": ["lead.sold"]})).await;
    assert_eq!(created.json["url"], "https://crm.example.com/hooks?<redacted>");
    assert_eq!(f.store.stored_subscription("crm").unwrap().url, url);
    let read = f.call("GET", "/v1/webhooks/crm", Value::Null).await;
    assert_eq!(read.json["url"], "https://crm.example.com/hooks?<redacted>");
    let listed = f.call("GET", "/v1/webhooks", Value::Null).await;
    assert_eq!(listed.json["data"][0]["url"], "https://crm.example.com/hooks?<redacted>");
    let preview = f.call("GET", "/v1/webhooks/crm/preview", Value::Null).await;
    assert_eq!(preview.json["url"], "https://crm.example.com/hooks?<redacted>");
    assert!(!preview.json.to_string().contains("s3cret"));
}
