//! Recovery after a crash: an interrupted auction is closed once, never re-auctioned, and a
//! publisher retry gets the recovered answer.

use super::*;
use crate::protocol::answer::{LeadAnswer, Outcome};
use crate::store::{DeliveryQuery, PageRequest, Recovery};

fn parsed(answer: Option<&Bytes>) -> LeadAnswer {
    serde_json::from_slice(answer.expect("an answer")).expect("a LeadAnswer")
}

#[tokio::test]
async fn a_post_in_flight_is_recovered_in_doubt_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(&dir);
        commit(&store, vec![put(subscription("all", &["*"], true))]).await;
        commit(&store, vec![lead_received("ld_1", Some("order-1"), T0)]).await;
        commit(&store, vec![post_started("ld_1", 1, "b0", T0 + 10)]).await;
        commit(&store, vec![post_started("ld_1", 2, "b0", T0 + 20)]).await;
        // The process dies here: the posts were sent, their outcomes never written.
    }
    let store = open(&dir);
    let recovery = store.recover(T0 + 60_000).await.expect("recover");
    assert_eq!(recovery, Recovery { interrupted: vec![], in_doubt: vec!["ld_1".to_owned()] });

    let lead = store.lead("ld_1").await.expect("read").expect("lead");
    assert_eq!(lead.status, "in_doubt");
    assert_eq!(lead.reason.as_deref(), Some("crash during post"));
    assert_eq!(lead.posts.iter().map(|p| p.result.as_str()).collect::<Vec<_>>(), ["in_doubt", "in_doubt"]);
    let events: Vec<_> = lead.events.iter().map(|(_, kind, seq)| (kind.as_str(), *seq)).collect();
    assert_eq!(events, [("lead.received", 1), ("lead.in_doubt", 2)]);
    let answer = parsed(lead.answer.as_ref());
    assert_eq!((answer.outcome, answer.buyer_id.as_deref(), answer.price), (Outcome::InDoubt, Some("b0"), None));
    let keys = store.idempotency_keys(0).await.expect("keys");
    assert_eq!(keys[0].answer, lead.answer, "a publisher retry gets the recovered answer");

    // The event goes out like any other, with what a person needs to settle it.
    let due = store.due_deliveries(T0 + 60_000, 10, vec![]).await.expect("due");
    let in_doubt = due.iter().find(|d| d.event_type == EventType::LeadInDoubt).expect("in_doubt delivered");
    let body = envelope(&in_doubt.envelope);
    assert_eq!(body["data"]["buyer_id"], "b0");
    assert_eq!(body["data"]["price"], "12.50");
    assert_eq!(body["data"]["sequence"], 2);
    let attempts: Vec<i64> =
        body["data"]["attempts"].as_array().expect("attempts").iter().filter_map(|a| a["attempt"].as_i64()).collect();
    assert_eq!(attempts, [1, 2], "every post that may have reached a buyer is named");
    assert_eq!(body["timestamp"], "2026-11-23T12:01:00.000Z");

    assert_eq!(store.recover(T0 + 120_000).await.expect("again"), Recovery::default());
    let again = store.lead("ld_1").await.expect("read").expect("lead");
    assert_eq!(again.events.len(), 2, "a second recovery adds no event");
    let log = store
        .deliveries(DeliveryQuery {
            subscription_id: "all".into(),
            page: PageRequest { after: None, limit: 100 },
            ..DeliveryQuery::default()
        })
        .await
        .expect("log");
    assert_eq!(log.data.len(), 2, "and no delivery");
}

#[tokio::test]
async fn an_auction_cut_off_before_any_post_is_unsold_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(&dir);
        commit(&store, vec![lead_received("ld_1", Some("order-1"), T0)]).await;
        commit(&store, vec![lead_received("ld_done", None, T0)]).await;
        commit(&store, vec![sold("ld_done", 3, false, T0 + 5)]).await;
    }
    let store = open(&dir);
    let recovery = store.recover(T0 + 60_000).await.expect("recover");
    assert_eq!(recovery, Recovery { interrupted: vec!["ld_1".to_owned()], in_doubt: vec![] });
    let lead = store.lead("ld_1").await.expect("read").expect("lead");
    assert_eq!((lead.status.as_str(), lead.reason.as_deref()), ("unsold", Some("interrupted")));
    let events: Vec<_> = lead.events.iter().map(|(_, kind, seq)| (kind.as_str(), *seq)).collect();
    assert_eq!(events, [("lead.received", 1), ("lead.unsold", 2)]);
    let answer = parsed(lead.answer.as_ref());
    assert_eq!((answer.outcome, answer.buyer_id, answer.price), (Outcome::Unsold, None, None));
    let keys = store.idempotency_keys(0).await.expect("keys");
    assert_eq!(keys[0].answer, lead.answer);
    let done = store.lead("ld_done").await.expect("read").expect("lead");
    assert_eq!((done.status.as_str(), done.events.len()), ("sold", 2), "a finished auction is left alone");

    assert_eq!(store.recover(T0 + 120_000).await.expect("again"), Recovery::default());
    // A late finish of a recovered auction is refused: the recovered answer stands.
    let late = store.write(vec![sold("ld_1", 1, false, T0 + 130_000)]).expect("queued").await;
    assert!(late.is_err());
    assert_eq!(store.lead("ld_1").await.expect("read").expect("lead").status, "unsold");
}
