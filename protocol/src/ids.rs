//! Identifiers the engine mints: time-ordered (UUID v7) so that they sort by creation, which
//! keyset pagination and log reading both rely on, with a short prefix naming the kind.

use uuid::Uuid;

/// A new lead id, e.g. `ld_0193...`.
pub fn lead_id() -> String {
    with_prefix("ld_")
}

/// A new ping id, unique per buyer per auction; the buyer echoes it in the post.
pub fn ping_id() -> String {
    with_prefix("pg_")
}

/// A new message id for a signed post (`webhook-id` header).
pub fn post_message_id() -> String {
    with_prefix("pt_")
}

/// A new event id, `evt_...`: the `webhook-id` of every delivery of that event.
pub fn event_id() -> String {
    with_prefix("evt_")
}

fn with_prefix(prefix: &str) -> String {
    let mut buf = Uuid::encode_buffer();
    let id = Uuid::now_v7().simple().encode_lower(&mut buf);
    let mut out = String::with_capacity(prefix.len() + id.len());
    out.push_str(prefix);
    out.push_str(id);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_prefixed_unique_and_ordered() {
        let a = super::lead_id();
        let b = super::lead_id();
        assert!(a.starts_with("ld_") && a.len() == 35, "{a}");
        assert_ne!(a, b);
        assert!(a < b, "v7 ids sort by creation: {a} {b}");
    }
}
