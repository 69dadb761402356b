//! The outbox and the delivery log: fan-out, per-lead sequences, the dispatcher's due query,
//! attempts and their consequences, pagination, replays, subscriptions.

use super::*;
use crate::store::{AttemptView, DeliveryAttempted, DeliveryQuery, DeliveryView, NextStep, PageRequest, StoreError};

fn page(after: Option<String>, limit: usize) -> PageRequest {
    PageRequest { after, limit }
}

fn log_query(subscription: &str) -> DeliveryQuery {
    DeliveryQuery { subscription_id: subscription.into(), page: page(None, 500), ..DeliveryQuery::default() }
}

async fn log(store: &SqliteStore, subscription: &str) -> Vec<DeliveryView> {
    store.deliveries(log_query(subscription)).await.expect("delivery log").data
}

fn attempted(delivery_id: i64, at: UnixMs, status_code: Option<u16>, next: NextStep) -> Write {
    let next_attempt_at = match &next {
        NextStep::Retry { at } => Some(*at),
        _ => None,
    };
    Write::DeliveryAttempted(DeliveryAttempted {
        delivery_id,
        attempt: AttemptView { at, status_code, latency_ms: 12, error: None, next_attempt_at },
        next,
        disable_subscription: None,
    })
}

#[tokio::test]
async fn events_fan_out_to_enabled_subscribers_of_their_type_in_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    commit(
        &store,
        vec![
            put(subscription("sold_only", &["lead.sold"], true)),
            put(subscription("all", &["*"], true)),
            put(subscription("off", &["lead.sold", "*"], false)),
            put(subscription("received", &["lead.received", "lead.returned"], true)),
        ],
    )
    .await;
    commit(&store, vec![lead_received("ld_1", None, T0)]).await;
    commit(&store, vec![sold("ld_1", 2, true, T0 + 1)]).await;

    let types = |log: Vec<DeliveryView>| log.into_iter().rev().map(|d| d.event_type).collect::<Vec<_>>();
    assert_eq!(types(log(&store, "sold_only").await), ["lead.sold"]);
    assert_eq!(types(log(&store, "all").await), ["lead.received", "lead.post_rejected", "lead.sold"]);
    assert!(log(&store, "off").await.is_empty(), "a disabled subscription gets nothing");
    assert_eq!(types(log(&store, "received").await), ["lead.received"]);

    let due = store.due_deliveries(T0 + 1, 100, vec![]).await.expect("due");
    let mut sequences = Vec::new();
    for d in due.iter().filter(|d| d.subscription.id == "all") {
        let body = envelope(&d.envelope);
        let keys: Vec<_> = body.as_object().expect("object").keys().cloned().collect();
        assert_eq!(keys.len(), 4, "{body}");
        assert_eq!(body["id"], d.event_id.as_str());
        assert_eq!(body["type"], d.event_type.as_str());
        assert_eq!(body["data"]["lead_id"], "ld_1");
        assert!(
            body["timestamp"].as_str().is_some_and(|t| t.starts_with("2026-11-23T12:00:00.00") && t.ends_with('Z'))
        );
        sequences.push(body["data"]["sequence"].as_i64().expect("sequence"));
    }
    assert_eq!(sequences, [1, 2, 3], "per-lead sequence in the order the events happened");
}

#[tokio::test]
async fn due_deliveries_honour_their_time_the_skip_list_and_disabled_subscriptions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    commit(&store, vec![put(subscription("a", &["*"], true)), put(subscription("b", &["*"], true))]).await;
    assert_eq!(store.next_due().await.expect("next"), None);
    commit(&store, vec![lead_received("ld_1", None, T0), lead_received("ld_2", None, T0 + 10)]).await;
    assert!(store.due_deliveries(T0 - 1, 10, vec![]).await.expect("due").is_empty(), "not due yet");
    let due = store.due_deliveries(T0 + 10, 10, vec![]).await.expect("due");
    let ids: Vec<i64> = due.iter().map(|d| d.delivery_id).collect();
    assert_eq!(ids.len(), 4);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first");
    assert_eq!(store.due_deliveries(T0 + 10, 1, vec![]).await.expect("due").len(), 1, "limit");
    let skipped = store.due_deliveries(T0 + 10, 10, vec![ids[0], ids[2]]).await.expect("due");
    assert_eq!(skipped.iter().map(|d| d.delivery_id).collect::<Vec<_>>(), [ids[1], ids[3]]);

    // A retry moves the delivery later; the dispatcher sees it only then.
    commit(&store, vec![attempted(ids[0], T0 + 20, Some(503), NextStep::Retry { at: T0 + 5_000 })]).await;
    let due = store.due_deliveries(T0 + 20, 10, vec![]).await.expect("due");
    assert!(due.iter().all(|d| d.delivery_id != ids[0]));
    let later = store.due_deliveries(T0 + 5_000, 10, vec![]).await.expect("due");
    assert_eq!(later.last().map(|d| (d.delivery_id, d.attempts)), Some((ids[0], 1)));

    // Disabling `a` hides its pending deliveries from the dispatcher and from next_due.
    let a_ids: Vec<i64> = due.iter().filter(|d| d.subscription.id == "a").map(|d| d.delivery_id).collect();
    commit(&store, vec![put(subscription("a", &["*"], false))]).await;
    let due = store.due_deliveries(T0 + 10_000, 10, vec![]).await.expect("due");
    assert!(due.iter().all(|d| d.subscription.id == "b" && !a_ids.contains(&d.delivery_id)));
    let b_ids: Vec<i64> = due.iter().map(|d| d.delivery_id).collect();
    commit(&store, b_ids.iter().map(|&id| attempted(id, T0 + 30, Some(200), NextStep::Delivered)).collect()).await;
    assert_eq!(store.next_due().await.expect("next"), None, "only a disabled subscription has pending deliveries");
}

#[tokio::test]
async fn attempts_deliver_retry_kill_and_disable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    commit(&store, vec![put(subscription("crm", &["*"], true))]).await;
    for i in 0..4 {
        commit(&store, vec![lead_received(&format!("ld_{i}"), None, T0 + i)]).await;
    }
    let ids: Vec<i64> = log(&store, "crm").await.iter().rev().map(|d| d.id).collect();
    commit(&store, vec![attempted(ids[0], T0 + 10, Some(500), NextStep::Retry { at: T0 + 5_000 })]).await;
    commit(&store, vec![attempted(ids[0], T0 + 5_000, Some(200), NextStep::Delivered)]).await;
    let dead = NextStep::Dead { reason: "status 400".into() };
    commit(&store, vec![attempted(ids[1], T0 + 10, Some(400), dead)]).await;

    let by_id = |log: &[DeliveryView], id: i64| log.iter().find(|d| d.id == id).cloned().expect("delivery");
    let now = log(&store, "crm").await;
    let first = by_id(&now, ids[0]);
    assert_eq!((first.status.as_str(), first.next_attempt_at), ("delivered", None));
    let codes: Vec<_> = first.attempts.iter().map(|a| (a.status_code, a.next_attempt_at)).collect();
    assert_eq!(codes, [(Some(500), Some(T0 + 5_000)), (Some(200), None)], "every attempt, oldest first");
    let second = by_id(&now, ids[1]);
    assert_eq!((second.status.as_str(), second.dead_reason.as_deref()), ("dead", Some("status 400")));

    // 410 Gone: the subscription is disabled and its other pending deliveries die with it.
    let gone = Write::DeliveryAttempted(DeliveryAttempted {
        delivery_id: ids[2],
        attempt: AttemptView { at: T0 + 20, status_code: Some(410), latency_ms: 3, error: None, next_attempt_at: None },
        next: NextStep::Dead { reason: "gone (410)".into() },
        disable_subscription: Some("410 Gone from the endpoint".into()),
    });
    commit(&store, vec![gone]).await;
    let sub = store.subscription("crm").await.expect("read").expect("subscription");
    assert!(!sub.enabled);
    assert_eq!(sub.disabled_reason.as_deref(), Some("410 Gone from the endpoint"));
    let now = log(&store, "crm").await;
    let fourth = by_id(&now, ids[3]);
    assert_eq!((fourth.status.as_str(), fourth.dead_reason.as_deref()), ("dead", Some("410 Gone from the endpoint")));
    let dead: Vec<i64> = store.dead_letters(page(None, 10)).await.expect("dead").data.iter().map(|d| d.id).collect();
    assert_eq!(dead, [ids[3], ids[2], ids[1]], "newest first");
    commit(&store, vec![lead_received("ld_new", None, T0 + 30)]).await;
    assert_eq!(log(&store, "crm").await.len(), 4, "a disabled subscription gets no new deliveries");
    // An attempt on a delivery deleted meanwhile changes nothing and is not an error.
    assert_eq!(commit(&store, vec![attempted(999_999, T0, Some(200), NextStep::Delivered)]).await, 0);
}

#[tokio::test]
async fn keyset_pages_return_every_delivery_once_while_new_ones_arrive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    commit(&store, vec![put(subscription("crm", &["*"], true))]).await;
    for i in 0..25 {
        commit(&store, vec![lead_received(&format!("ld_{i}"), None, T0 + i)]).await;
    }
    let before: Vec<i64> = log(&store, "crm").await.iter().map(|d| d.id).collect();
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut next_lead = 100;
    loop {
        let query = DeliveryQuery { page: page(cursor, 10), ..log_query("crm") };
        let got = store.deliveries(query).await.expect("page");
        seen.extend(got.data.iter().map(|d| d.id));
        // New deliveries between pages.
        for _ in 0..3 {
            commit(&store, vec![lead_received(&format!("ld_{next_lead}"), None, T0 + 100)]).await;
            next_lead += 1;
        }
        match got.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, before, "each delivery exactly once, newest first, none of the new ones");
    assert_eq!(log(&store, "crm").await.len(), 25 + 9);

    let bad = store.deliveries(DeliveryQuery { page: page(Some("zz".into()), 10), ..log_query("crm") }).await;
    assert!(matches!(bad, Err(StoreError::BadCursor)));
    let bad = store.subscriptions(page(Some("%%%".into()), 10)).await;
    assert!(matches!(bad, Err(StoreError::BadCursor)));

    // Filters: created time range and event type.
    let ranged = DeliveryQuery { since: Some(T0 + 10), until: Some(T0 + 20), ..log_query("crm") };
    assert_eq!(store.deliveries(ranged).await.expect("range").data.len(), 10);
    let typed = DeliveryQuery { event_type: Some("lead.sold".into()), ..log_query("crm") };
    assert!(store.deliveries(typed).await.expect("typed").data.is_empty());
    let pending = DeliveryQuery { status: Some("pending".into()), ..log_query("crm") };
    assert_eq!(store.deliveries(pending).await.expect("pending").data.len(), 34);
}

#[tokio::test]
async fn replays_requeue_one_delivery_or_a_range_and_fill_the_gaps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    commit(&store, vec![put(subscription("crm", &["lead.received"], true))]).await;
    commit(&store, vec![lead_received("ld_1", None, T0)]).await;
    let id = log(&store, "crm").await[0].id;
    commit(&store, vec![attempted(id, T0 + 1, Some(400), NextStep::Dead { reason: "status 400".into() })]).await;

    let replay = |delivery_id, now| Write::ReplayDelivery { delivery_id, now };
    assert_eq!(commit(&store, vec![replay(id, T0 + 100)]).await, 1);
    assert_eq!(commit(&store, vec![replay(424_242, T0 + 100)]).await, 0, "unknown delivery");
    let d = &log(&store, "crm").await[0];
    assert_eq!((d.status.as_str(), d.next_attempt_at, d.dead_reason.as_deref()), ("pending", Some(T0 + 100), None));
    assert_eq!(d.attempts.len(), 1, "the attempt history is kept");
    let due = store.due_deliveries(T0 + 100, 10, vec![]).await.expect("due");
    assert_eq!(due.iter().map(|d| d.delivery_id).collect::<Vec<_>>(), [id]);
    commit(&store, vec![attempted(id, T0 + 101, Some(200), NextStep::Delivered)]).await;

    // Events the subscription never had: before it existed, and of a type it did not take.
    commit(&store, vec![lead_received("ld_2", None, T0 + 200), sold("ld_2", 1, false, T0 + 200)]).await;
    commit(&store, vec![lead_received("ld_3", None, T0 + 300)]).await;
    commit(&store, vec![put(subscription("late", &["lead.sold"], true))]).await;
    let range = |subscription_id: &str, since, until| Write::ReplayRange {
        subscription_id: subscription_id.into(),
        since,
        until,
        now: T0 + 1_000,
    };
    assert_eq!(commit(&store, vec![range("late", T0, T0 + 300)]).await, 1, "ld_2's lead.sold created");
    let late = log(&store, "late").await;
    assert_eq!((late.len(), late[0].event_type.as_str(), late[0].next_attempt_at), (1, "lead.sold", Some(T0 + 1_000)));
    assert_eq!(commit(&store, vec![range("late", T0, T0 + 300)]).await, 1, "re-queued, not duplicated");

    // `crm`: ld_1's delivered one is re-queued, ld_2's exists already, ld_3 is out of range.
    let rows = commit(&store, vec![range("crm", T0, T0 + 300)]).await;
    assert_eq!(rows, 2);
    let crm = log(&store, "crm").await;
    assert_eq!(crm.len(), 3);
    assert!(
        crm.iter()
            .filter(|d| d.created_at < T0 + 300)
            .all(|d| d.status == "pending" && d.next_attempt_at == Some(T0 + 1_000))
    );
    assert_eq!(commit(&store, vec![range("nobody", T0, T0 + 300)]).await, 0);
}

#[tokio::test]
async fn subscriptions_round_trip_page_upsert_and_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let mut full = subscription("crm", &["lead.sold", "lead.status_changed"], true);
    full.secrets.push("whsec_b2xkIHNlY3JldCBvbGQgc2VjcmV0IG9sZA==".into());
    full.secrets_rotated_until = Some(T0 + 86_400_000);
    full.payload = Some(serde_json::json!({"fields": ["lead_id", "price"]}));
    full.source = "config";
    commit(&store, vec![put(full.clone())]).await;
    assert_eq!(store.subscription("crm").await.expect("read"), Some(full.clone()));
    assert_eq!(store.subscription("nope").await.expect("read"), None);

    // Replaced: new fields, same created_at.
    let mut changed = full.clone();
    changed.url = "https://crm.example.com/v2".into();
    changed.created_at = T0 + 99;
    commit(&store, vec![put(changed)]).await;
    let got = store.subscription("crm").await.expect("read").expect("crm");
    assert_eq!((got.url.as_str(), got.created_at), ("https://crm.example.com/v2", T0));

    for id in ["a", "b", "c", "d", "e"] {
        commit(&store, vec![put(subscription(id, &["*"], true))]).await;
    }
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let got = store.subscriptions(page(cursor, 2)).await.expect("page");
        ids.extend(got.data.into_iter().map(|s| s.id));
        match got.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(ids, ["a", "b", "c", "crm", "d", "e"]);

    commit(&store, vec![lead_received("ld_1", None, T0)]).await;
    assert_eq!(log(&store, "a").await.len(), 1);
    assert_eq!(commit(&store, vec![Write::DeleteSubscription { id: "a".into() }]).await, 1);
    assert_eq!(commit(&store, vec![Write::DeleteSubscription { id: "a".into() }]).await, 0);
    assert!(log(&store, "a").await.is_empty(), "its deliveries went with it");
    assert_eq!(store.due_deliveries(T0, 100, vec![]).await.expect("due").len(), 4);
}
