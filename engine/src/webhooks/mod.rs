//! Webhook delivery: events leave through the store's outbox, never from the auction's path.
//!
//! - [`dispatcher`]: the task that reads due deliveries and sends them, bounded per endpoint
//!   and overall; [`start`] syncs the config's subscriptions and spawns it.
//! - [`sender`]: the HTTP client (HTTP/1.1, rustls), with the SSRF guard at connect time.
//! - [`request`]: the exact body and headers of an attempt (payload shaping, Standard Webhooks
//!   signatures, both secrets during a rotation), shared with the API's preview.
//! - [`retry`]: what follows an attempt (delivered, retry when, dead why) as a pure function.
//! - The per-endpoint circuit breaker is [`crate::breaker`] (consecutive failures only).
//! - [`payload`]: per-subscription payload settings (`fields`, `rename`, `layout`).
//! - [`ssrf`]: which addresses a delivery may go to.
//!
//! The guarantee is at least once with the same event id (`webhook-id`) on every retry and
//! replay: receivers dedupe on it (see `docs/webhooks.md`).

pub mod dispatcher;
pub mod payload;
pub mod request;
pub mod retry;
pub mod sender;
pub mod ssrf;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{DeliveryConfig, WebhookConfig};
use crate::store::{PageRequest, Store, StoreError, Subscription, UnixMs, Write};

/// `source` of subscriptions written from `engine.toml`.
pub const CONFIG_SOURCE: &str = "config";

/// `source` of subscriptions made through the API.
pub const API_SOURCE: &str = "api";

/// Page size when listing every subscription at start.
const SYNC_PAGE: usize = 500;

/// The running dispatcher.
#[derive(Debug)]
pub struct Running {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops taking deliveries, lets attempts in flight finish (bounded by the attempt
    /// timeout) and waits for the dispatcher to end.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "webhook dispatcher ended abnormally");
        }
    }
}

/// Writes the config's `[[webhooks]]` into the store ([`sync_config`]) and spawns the
/// dispatcher. Call once at start, after the store is open.
pub async fn start(
    store: Arc<dyn Store>,
    delivery: &DeliveryConfig,
    webhooks: &[WebhookConfig],
) -> Result<Running, StoreError> {
    sync_config(&*store, webhooks, crate::store::now_ms()).await?;
    let stop = CancellationToken::new();
    let task = dispatcher::spawn(store, delivery.clone(), stop.clone());
    Ok(Running { stop, task })
}

/// Makes the store's config subscriptions match `config`: each `[[webhooks]]` entry is
/// written as a subscription with `source: "config"` (enabled, its creation time kept if it
/// existed), and config subscriptions no longer in the file are deleted. One transaction;
/// resolves once committed, to the rows changed.
pub async fn sync_config(store: &dyn Store, config: &[WebhookConfig], now: UnixMs) -> Result<u64, StoreError> {
    let mut existing: HashMap<String, Subscription> = HashMap::new();
    let mut page = PageRequest { after: None, limit: SYNC_PAGE };
    loop {
        let listed = store.subscriptions(page.clone()).await?;
        existing.extend(listed.data.into_iter().map(|s| (s.id.clone(), s)));
        match listed.next_cursor {
            Some(cursor) => page.after = Some(cursor),
            None => break,
        }
    }
    let mut writes = Vec::with_capacity(config.len());
    for entry in config {
        let before = existing.get(&entry.id);
        match before {
            Some(s) if s.source != CONFIG_SOURCE => {
                tracing::warn!(subscription = %entry.id, "engine.toml's [[webhooks]] replaces the API subscription with the same id");
            }
            Some(s) if !s.enabled => {
                tracing::info!(subscription = %entry.id, "re-enabling a config subscription (it was disabled)");
            }
            _ => {}
        }
        writes.push(Write::PutSubscription(Box::new(from_config(entry, before.map_or(now, |s| s.created_at)))));
    }
    for (id, subscription) in &existing {
        if subscription.source == CONFIG_SOURCE && !config.iter().any(|c| &c.id == id) {
            writes.push(Write::DeleteSubscription { id: id.clone() });
        }
    }
    if writes.is_empty() {
        return Ok(0);
    }
    store.write(writes)?.await
}

/// A `[[webhooks]]` entry as a subscription.
fn from_config(entry: &WebhookConfig, created_at: UnixMs) -> Subscription {
    Subscription {
        id: entry.id.clone(),
        url: entry.url.to_string(),
        events: entry.events.clone(),
        secrets: vec![encode_secret(&entry.secret.0)],
        secrets_rotated_until: None,
        headers: entry
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect(),
        payload: entry.payload.clone(),
        enabled: true,
        disabled_reason: None,
        source: CONFIG_SOURCE,
        created_at,
    }
}

/// `whsec_<standard base64>` of raw secret bytes.
pub fn encode_secret(bytes: &[u8]) -> String {
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::testing::MemoryStore;
    use super::*;
    use crate::config::Config;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn config(entries: &str) -> Config {
        Config::from_toml(&format!("[delivery]\nallow_private_targets = true\n{entries}")).expect("a valid config")
    }

    #[tokio::test]
    async fn config_subscriptions_are_written_kept_and_removed() {
        let store = MemoryStore::default();
        let first = config(&format!(
            "[[webhooks]]\nid = \"crm\"\nurl = \"https://crm.example.com/h\"\nevents = [\"lead.sold\"]\nsecret = \"{SECRET}\"\nheaders = {{ x-api-key = \"k\" }}\npayload = {{ fields = [\"id\"] }}\n\
             [[webhooks]]\nid = \"old\"\nurl = \"https://old.example.com/h\"\nevents = [\"*\"]\nsecret = \"{SECRET}\"\n"
        ));
        sync_config(&store, &first.webhooks, 1_000).await.expect("synced");
        let crm = store.stored_subscription("crm").expect("written");
        assert_eq!(crm.secrets, vec![SECRET.to_owned()], "the secret is rendered back to its whsec_ form");
        assert_eq!(crm.source, CONFIG_SOURCE);
        assert_eq!(crm.url, "https://crm.example.com/h");
        assert_eq!(crm.headers, vec![("x-api-key".to_owned(), "k".to_owned())]);
        assert_eq!(crm.payload, Some(serde_json::json!({"fields": ["id"]})));
        assert_eq!(crm.created_at, 1_000);

        // An API subscription survives; a config one that left the file does not.
        store
            .write(vec![Write::PutSubscription(Box::new(Subscription {
                id: "api1".into(),
                source: API_SOURCE,
                ..crm.clone()
            }))])
            .expect("queued")
            .await
            .expect("written");
        let second = config(&format!(
            "[[webhooks]]\nid = \"crm\"\nurl = \"https://crm.example.com/h2\"\nevents = [\"lead.sold\"]\nsecret = \"{SECRET}\"\n"
        ));
        sync_config(&store, &second.webhooks, 2_000).await.expect("synced");
        let crm = store.stored_subscription("crm").expect("kept");
        assert_eq!((crm.url.as_str(), crm.created_at), ("https://crm.example.com/h2", 1_000));
        assert!(store.stored_subscription("old").is_none());
        assert!(store.stored_subscription("api1").is_some());
    }

    #[test]
    fn the_config_checks_payload_settings_and_names_the_key() {
        let entry = |payload: &str| {
            format!(
                "[delivery]\nallow_private_targets = true\n[[webhooks]]\nid = \"crm\"\nurl = \"https://crm.example.com/h\"\nevents = [\"*\"]\nsecret = \"{SECRET}\"\npayload = {payload}\n"
            )
        };
        let key = |payload: &str| match Config::from_toml(&entry(payload)) {
            Err(crate::config::ConfigError::Key { key, .. }) => key,
            other => panic!("expected a key error, got {other:?}"),
        };
        assert_eq!(key("{ layout = \"wide\" }"), "webhooks[0].payload.layout");
        assert_eq!(key("{ fields = [\"id\", \"a..b\"] }"), "webhooks[0].payload.fields[1]");
        assert_eq!(key("{ colour = 1 }"), "webhooks[0].payload.colour");
        assert_eq!(key("\"flat\""), "webhooks[0].payload");
        assert!(Config::from_toml(&entry("{ fields = [\"id\", \"data.price\"], layout = \"flat\" }")).is_ok());
    }
}
