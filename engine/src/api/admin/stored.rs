//! Admin changes survive restarts: at start, the store's `directory` rows are laid over the
//! config file's entries (a stored document replaces the file's entry with the same id, a
//! stored deletion removes it, a stored id the file lacks is added) and the result is
//! validated as a whole. If the file changed in a way the stored entries no longer fit, the
//! engine does not start, and the error names the entry.

use crate::config::{Config, ConfigError, EntryKind};
use crate::store::{DirectoryEntry, Store, rfc3339};

/// The config in force at start: `file` with the admin API's stored entries laid over it.
pub async fn stored_config(file: &Config, store: &dyn Store) -> Result<Config, String> {
    let entries = store.directory().await.map_err(|e| format!("reading the admin API's stored entries: {e}"))?;
    let mut config = file.clone();
    for entry in &entries {
        let kind = kind_of(entry);
        let in_file = file.index_of(kind, &entry.id).is_some();
        let effect = match (&entry.doc, in_file) {
            (Some(_), true) => "replaces the file's entry",
            (Some(_), false) => "added",
            (None, true) => "removes the file's entry",
            (None, false) => "deleted (not in the file)",
        };
        tracing::info!(kind = entry.kind, id = %entry.id, by = %entry.updated_by, effect, "admin API entry in force");
        config.set_entry(kind, &entry.id, entry.doc.as_ref()).map_err(|e| unfit(&e, &[entry]))?;
    }
    if let Err(error) = config.validate() {
        // The entry at fault, if it is a stored one; otherwise any of them may be the cause.
        let at_fault: Vec<&DirectoryEntry> = entries.iter().filter(|e| names(&error, &config, e)).collect();
        let suspects = if at_fault.is_empty() { entries.iter().collect() } else { at_fault };
        return Err(unfit(&error, &suspects));
    }
    Ok(config)
}

/// Whether `error`'s key is in the entry `entry` stored.
fn names(error: &ConfigError, config: &Config, entry: &DirectoryEntry) -> bool {
    let ConfigError::Key { key, .. } = error else { return false };
    let kind = kind_of(entry);
    config.index_of(kind, &entry.id).is_some_and(|n| {
        let prefix = format!("{}[{n}]", kind.table());
        key == &prefix || key.starts_with(&format!("{prefix}."))
    })
}

/// Why the stored entries do not fit the file, naming them and the way out.
fn unfit(error: &ConfigError, entries: &[&DirectoryEntry]) -> String {
    let named: Vec<String> = entries
        .iter()
        .map(|e| {
            let at = rfc3339(e.updated_at).unwrap_or_default();
            format!("{} `{}` (by {} at {at})", e.kind, e.id, e.updated_by)
        })
        .collect();
    format!(
        "the config file with the admin API's stored entries laid over it is invalid: {error}. Stored entries: {}. \
         Fix engine.toml so they fit, or drop a stored entry: \
         sqlite3 <store> \"DELETE FROM directory WHERE kind = '<kind>' AND id = '<id>'\"",
        named.join(", ")
    )
}

fn kind_of(entry: &DirectoryEntry) -> EntryKind {
    if entry.kind == "buyer" { EntryKind::Buyer } else { EntryKind::Publisher }
}
