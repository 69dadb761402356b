//! Applying one change to a buyer or publisher, all or nothing:
//!
//! 1. take the admin lock (changes run one at a time, each over the config the previous one
//!    put in force; the hot path never takes it);
//! 2. compute the entry's new document from the current one (under the lock: no lost update);
//! 3. build the candidate config (the config in force with this entry set or removed) and run
//!    the config's full validation over it, so rules across entries hold;
//! 4. build the next registry (buyers, and publishers' terms), carrying state over, and fill
//!    the cap ledgers it had to make anew from the store's sales;
//! 5. write the `directory` row and the audit row in one transaction and wait for the commit;
//! 6. only then put the candidate in force: the buyer registry (the next auction takes it),
//!    the config, the keys (a disabled or deleted publisher's key fails at once). Steps 5 and 6
//!    run in a task of their own once the write is queued, still under the lock: a caller
//!    hanging up cannot leave a change stored but not in force.
//!
//! If anything before step 6 fails, nothing changes. A change that leaves the entry as it was
//! writes nothing.
//!
//! A cap ledger made anew counts the sales the store holds when it is filled (step 4). A sale
//! made by an auction that started on the previous registry and committed after that read is
//! counted by the previous ledger only: the new one misses it until the next restart rebuilds
//! the counters. The window is one auction's budget (`total_timeout_ms`) around a change of
//! that buyer's caps; it never opens for a change that leaves the caps, floor and zone alone.

use std::sync::Arc;

use http::StatusCode;
use serde_json::{Value, json};

use super::{AdminApi, audit, entry_kind, redact};
use crate::api::auth::Caller;
use crate::api::error::{ApiError, store_error};
use crate::api::routes::Kind;
use crate::buyers::SALES_LOOKBACK_MS;
use crate::config::{Config, ConfigError, EntryKind};
use crate::store::{DirectoryEntry, StoreError, Write, now_ms};

/// One change: to which entry, under which audit action.
#[derive(Debug, Clone, Copy)]
pub(super) struct Change<'a> {
    /// Buyer or publisher.
    pub kind: Kind,
    /// The entry's id.
    pub id: &'a str,
    /// The audit action's verb: `create`, `replace`, `update`, `pause`, `resume`, `delete`.
    pub verb: &'static str,
}

impl AdminApi {
    /// Applies `change`: `edit` turns the current document (`None`: no such entry) into the
    /// new one (`None`: deleted), or refuses. Returns the document now in force.
    pub(super) async fn apply(
        &self,
        caller: &Caller,
        change: Change<'_>,
        edit: impl FnOnce(Option<&Value>) -> Result<Option<Value>, ApiError>,
    ) -> Result<Option<Value>, ApiError> {
        let Change { kind, id, verb } = change;
        let table = entry_kind(kind);
        let one_at_a_time = Arc::clone(&self.lock).lock_owned().await;
        let current = self.config.current();
        let before = current.doc(table, id).cloned();
        let after = edit(before.as_ref())?;
        if after == before {
            return Ok(after);
        }
        let mut candidate = (*current).clone();
        let at = current.index_of(table, id).unwrap_or(current.docs(table).len());
        candidate
            .set_entry(table, id, after.as_ref())
            .map_err(|e| refused(e, table, at, &candidate, after.is_none()))?;
        let at = candidate.index_of(table, id).unwrap_or(usize::MAX);
        candidate.validate().map_err(|e| refused(e, table, at, &candidate, after.is_none()))?;
        let now = now_ms();
        // Publishers' terms (payout, sharing) live in the registry too: every change builds one.
        let next = self.registry.current().next(&candidate);
        if !next.fresh_caps.is_empty() {
            let sales = self.store.sales_since(now - SALES_LOOKBACK_MS).await.map_err(store_error)?;
            next.registry.restore_sales(&sales, Some(&next.fresh_caps), now);
        }
        let registry = next.registry;
        let actor = caller.actor();
        let detail = json!({
            "before": before.as_ref().map(|d| redact::redact(table, d)),
            "after": after.as_ref().map(|d| redact::redact(table, d)),
        });
        let mut writes = vec![
            Write::PutDirectory(Box::new(DirectoryEntry {
                kind: kind.as_str(),
                id: id.to_owned(),
                doc: after.clone(),
                updated_at: now,
                updated_by: actor.clone(),
            })),
            audit::record(&actor, &format!("{}.{verb}", kind.as_str()), id, detail, now),
        ];
        if after.is_none() {
            // A deleted holder's issued keys die with it: one created later under the same id
            // must not inherit them.
            writes.push(Write::RevokeKeysOf { role: kind.as_str(), owner_id: id.to_owned(), at: now });
        }
        let commit = self.store.write(writes).map_err(store_error)?;
        // The change is on its way to disk: a task of its own waits for the commit and puts it
        // in force, so a caller hanging up now cannot leave it stored but not in force.
        let (live_registry, keys, config) =
            (Arc::clone(&self.registry), Arc::clone(&self.keys), Arc::clone(&self.config));
        let (store, deleted) = (Arc::clone(&self.store), after.is_none());
        let in_force = tokio::spawn(async move {
            let _one_at_a_time = one_at_a_time;
            commit.await?;
            live_registry.replace(registry);
            keys.set_config(&candidate);
            if deleted {
                // The holder's issued keys were revoked in the same commit.
                crate::api::keys::reload(&*store, &keys).await?;
            }
            config.replace(candidate);
            Ok::<(), StoreError>(())
        });
        in_force
            .await
            .map_err(|_| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the change could not be applied")
            })?
            .map_err(store_error)?;
        tracing::info!(actor = %actor, kind = kind.as_str(), id, verb, "admin change applied");
        Ok(after)
    }
}

/// The answer to a candidate config that does not load or validate. An error in the changed
/// entry (`buyers[at].caps.daily`) is a 400 `invalid_config` naming the key inside the entry
/// (`caps.daily`); an error the change causes in another entry (a buyer's caps naming the
/// publisher being deleted, a publisher key now used twice) is a 409 naming that entry:
/// `in_use` for a delete, `conflict` otherwise.
fn refused(error: ConfigError, table: EntryKind, at: usize, candidate: &Config, delete: bool) -> ApiError {
    let ConfigError::Key { key, message } = error else {
        return ApiError::bad_request("invalid_config", error.to_string());
    };
    let own = format!("{}[{at}]", table.table());
    if key == own {
        // Serde's "missing field `x`" is about the entry as a whole: name the field.
        let field = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()).map(str::to_owned);
        return match field {
            Some(field) => ApiError::field("invalid_config", field, message),
            None => ApiError::bad_request("invalid_config", message),
        };
    }
    if let Some(field) = key.strip_prefix(&own).and_then(|rest| rest.strip_prefix('.')) {
        return ApiError::field("invalid_config", field.to_owned(), message);
    }
    let code = if delete { "in_use" } else { "conflict" };
    let (entry, field) = other_entry(&key, candidate);
    ApiError::new(
        http::StatusCode::CONFLICT,
        code,
        format!("this change would make {entry} invalid ({field}: {message}): change that first"),
    )
}

/// (`buyer `acme``, `caps`) for the key `buyers[3].caps`; the key itself otherwise.
fn other_entry(key: &str, config: &Config) -> (String, String) {
    for table in [EntryKind::Buyer, EntryKind::Publisher] {
        let Some(rest) = key.strip_prefix(table.table()).and_then(|r| r.strip_prefix('[')) else { continue };
        let Some((index, field)) = rest.split_once(']') else { continue };
        let id = index.parse::<usize>().ok().and_then(|n| config.ids(table).get(n).copied());
        if let Some(id) = id {
            return (format!("{} `{id}`", table.noun()), field.trim_start_matches('.').to_owned());
        }
    }
    ("the config".to_owned(), key.to_owned())
}
