//! Secrets in entries: a buyer's signing `secret` and the values of its `headers` (they carry
//! the buyer's API keys) are shown as `"<redacted>"` in every answer and audit row. The same
//! placeholder sent back in a `PUT` or `PATCH` keeps the current value, so an entry read,
//! edited and sent back keeps its secrets; a value left out of a `PUT` is removed, as a key
//! left out of the file would be.

use serde_json::Value;

use crate::api::error::ApiError;
use crate::config::EntryKind;

/// What a secret shows as, and what keeps the current one when sent back.
pub const REDACTED: &str = "<redacted>";

/// `doc` with its secrets replaced by [`REDACTED`] (publishers have none: their
/// `key_sha256` is a digest, not a key).
pub fn redact(kind: EntryKind, doc: &Value) -> Value {
    let mut doc = doc.clone();
    if kind == EntryKind::Buyer
        && let Value::Object(entry) = &mut doc
    {
        if let Some(secret) = entry.get_mut("secret").filter(|s| !s.is_null()) {
            *secret = REDACTED.into();
        }
        if let Some(Value::Object(headers)) = entry.get_mut("headers") {
            headers.values_mut().for_each(|value| *value = REDACTED.into());
        }
    }
    doc
}

/// Replaces every [`REDACTED`] placeholder of `doc` with the value it stands for in
/// `current`; 400 when there is none (a new entry, a header the buyer does not have).
pub fn restore(kind: EntryKind, doc: &mut Value, current: Option<&Value>) -> Result<(), ApiError> {
    let Value::Object(entry) = doc else { return Ok(()) };
    if kind != EntryKind::Buyer {
        return Ok(());
    }
    let missing = |field: String| {
        ApiError::field(
            "invalid_config",
            field,
            format!("\"{REDACTED}\" keeps the current value, and there is none: send the value itself"),
        )
    };
    if let Some(secret) = entry.get_mut("secret").filter(|s| s.as_str() == Some(REDACTED)) {
        *secret = current.and_then(|c| c.get("secret")).cloned().ok_or_else(|| missing("secret".into()))?;
    }
    if let Some(Value::Object(headers)) = entry.get_mut("headers") {
        let kept = current.and_then(|c| c.get("headers")).and_then(Value::as_object);
        for (name, value) in headers.iter_mut().filter(|(_, v)| v.as_str() == Some(REDACTED)) {
            // Header names are case-insensitive: `X-Api-Key` sent back matches `x-api-key`.
            let old = kept.and_then(|k| k.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))).map(|(_, v)| v);
            *value = old.cloned().ok_or_else(|| missing(format!("headers.{name}")))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_buyers_secret_and_header_values_are_redacted_and_nothing_else() {
        let doc =
            json!({"id": "acme", "secret": "whsec_x", "headers": {"x-api-key": "k1", "x-b": "2"}, "floor": "1.00"});
        let shown = redact(EntryKind::Buyer, &doc);
        assert_eq!(
            shown,
            json!({"id": "acme", "secret": REDACTED, "headers": {"x-api-key": REDACTED, "x-b": REDACTED}, "floor": "1.00"})
        );
        let publisher = json!({"id": "p", "key_sha256": "ab"});
        assert_eq!(redact(EntryKind::Publisher, &publisher), publisher);
    }

    #[test]
    fn placeholders_sent_back_keep_the_current_values() {
        let current = json!({"id": "acme", "secret": "whsec_x", "headers": {"x-api-key": "k1"}});
        let mut sent = json!({"id": "acme", "secret": REDACTED, "headers": {"X-Api-Key": REDACTED, "x-new": "n"}});
        restore(EntryKind::Buyer, &mut sent, Some(&current)).expect("kept");
        assert_eq!(sent, json!({"id": "acme", "secret": "whsec_x", "headers": {"X-Api-Key": "k1", "x-new": "n"}}));
    }

    #[test]
    fn a_placeholder_with_nothing_to_keep_names_its_field() {
        let mut sent = json!({"id": "acme", "headers": {"x-other": REDACTED}});
        let current = json!({"id": "acme", "headers": {"x-api-key": "k1"}});
        let error = restore(EntryKind::Buyer, &mut sent, Some(&current)).expect_err("nothing to keep");
        assert_eq!(error.field.as_deref(), Some("headers.x-other"));
        let mut new = json!({"id": "acme", "secret": REDACTED});
        let error = restore(EntryKind::Buyer, &mut new, None).expect_err("a new entry has no secret yet");
        assert_eq!(error.field.as_deref(), Some("secret"));
    }
}
