//! Keeps the key set and the store in step while the engine runs: keys issued or revoked by
//! `engine keys` (another process on the same store) are picked up within a second, and use
//! counts are written back every ten seconds (and once more at shutdown, by the caller).

use std::sync::Weak;
use std::time::Duration;

use crate::api::auth::Keys;
use crate::store::{Store, StoreError, Write};

/// How often the store's keys are checked for changes.
const POLL: Duration = Duration::from_secs(1);

/// Use counts are stored every this many polls.
const USAGE_EVERY: u32 = 10;

/// Reads every issued key from the store into the key set.
pub async fn reload(store: &dyn Store, keys: &Keys) -> Result<(), StoreError> {
    let _one_at_a_time = keys.reloading.lock().await;
    let stored = store.api_keys().await?;
    keys.set_issued(stored.iter().filter_map(super::issued).collect());
    Ok(())
}

/// Runs until the key set or the store is dropped (it holds neither between ticks, so the
/// engine's shutdown is not held up): reloads on a change of the store's keys, stores use
/// counts that changed.
pub async fn sync(store: Weak<dyn Store>, keys: Weak<Keys>) {
    let mut every = tokio::time::interval(POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stamp = None;
    let mut stored_usage = std::collections::HashSet::new();
    for tick in 1_u32.. {
        every.tick().await;
        let (Some(keys), Some(store)) = (keys.upgrade(), store.upgrade()) else { return };
        match store.api_keys_stamp().await {
            Ok(now) if stamp != Some(now) => {
                if let Err(error) = reload(&*store, &keys).await {
                    tracing::warn!(%error, "API keys: reload failed; retrying");
                    continue;
                }
                stamp = Some(now);
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "API keys: cannot read the store"),
        }
        if tick % USAGE_EVERY == 0 {
            let usage = keys.issued_usage();
            let changed: Vec<_> = usage.iter().filter(|u| !stored_usage.contains(*u)).cloned().collect();
            // Queued, not awaited: a count that misses this write goes with the next one (and
            // counts never go down in the store).
            if !changed.is_empty() && store.write(vec![Write::KeyUsage(changed)]).is_ok() {
                stored_usage = usage.into_iter().collect();
            }
        }
    }
}
