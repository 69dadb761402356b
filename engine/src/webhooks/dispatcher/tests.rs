//! The dispatcher over the in-memory store and scripted local receivers: signing, retries
//! with the same event id, dead letters, 410s and disabled subscriptions, a hanging endpoint
//! beside a healthy one, the circuit breaker and its probe, a failing store. The breaker's
//! state machine itself is tested on a simulated clock in `breaker.rs`.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;
use crate::protocol::event::EventType;
use crate::store::Subscription;
use crate::webhooks::testing::{MemDelivery, MemoryStore, Receiver, Reply};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn settings() -> DeliveryConfig {
    DeliveryConfig {
        retry_schedule_ms: vec![0, 20, 20, 20],
        allow_private_targets: true,
        timeout_ms: 1_000,
        concurrency_per_endpoint: 2,
        breaker_failures: 100,
        breaker_cooloff_ms: 60_000,
    }
}

async fn subscribe(store: &MemoryStore, id: &str, receiver: &Receiver) {
    let subscription = Subscription {
        id: id.into(),
        url: receiver.url().to_string(),
        events: vec!["*".into()],
        secrets: vec![SECRET.into()],
        secrets_rotated_until: None,
        headers: Vec::new(),
        payload: None,
        enabled: true,
        disabled_reason: None,
        source: "api",
        created_at: 0,
    };
    store.write(vec![Write::PutSubscription(Box::new(subscription))]).unwrap().await.unwrap();
}

struct Running {
    store: Arc<MemoryStore>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn run(settings: DeliveryConfig) -> Running {
    let store = Arc::new(MemoryStore::default());
    let stop = CancellationToken::new();
    let task = spawn(Arc::clone(&store) as Arc<dyn Store>, settings, stop.clone());
    Running { store, stop, task }
}

impl Running {
    /// Waits (guarded by a 10 s timeout) until the delivery reaches `status`.
    async fn settled(&self, delivery_id: i64, status: &str) -> MemDelivery {
        self.until(delivery_id, |d| d.view.status == status).await
    }

    /// Waits (guarded by a 10 s timeout) until the stored delivery satisfies `done`; every
    /// store write wakes the check.
    async fn until(&self, delivery_id: i64, done: impl Fn(&MemDelivery) -> bool) -> MemDelivery {
        let wait = async {
            loop {
                let changed = self.store.deliveries_changed().notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if let Some(d) = self.store.delivery(delivery_id).filter(|d| done(d)) {
                    return d;
                }
                changed.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait).await.expect("the delivery gets there in time")
    }

    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task).await.expect("stops").expect("no panic");
    }
}

fn header(received: &crate::webhooks::testing::Received, name: &str) -> String {
    received.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_delivery_is_sent_signed_and_recorded_delivered() {
    let receiver = Receiver::start(vec![Reply::status(204)]).await;
    let running = run(settings());
    subscribe(&running.store, "crm", &receiver).await;
    let id = running.store.add_delivery("crm", "evt_1", EventType::LeadSold);
    let delivered = running.settled(id, "delivered").await;
    assert_eq!(delivered.view.attempts.len(), 1);
    assert_eq!(delivered.view.attempts[0].status_code, Some(204));
    let got = receiver.received();
    assert_eq!(header(&got[0], "webhook-id"), "evt_1");
    let timestamp: u64 = header(&got[0], "webhook-timestamp").parse().unwrap();
    let secret = crate::config::SigningSecret::parse(SECRET).unwrap();
    let expected = crate::transport::sign::Signer::new(&secret.0).sign("evt_1", timestamp, &got[0].body);
    assert_eq!(header(&got[0], "webhook-signature"), expected);
    running.stop().await;
}

#[tokio::test]
async fn a_failure_is_retried_with_the_same_event_id() {
    let receiver = Receiver::start(vec![Reply::status(500), Reply::status(200)]).await;
    let running = run(settings());
    subscribe(&running.store, "crm", &receiver).await;
    let id = running.store.add_delivery("crm", "evt_2", EventType::LeadSold);
    let delivered = running.settled(id, "delivered").await;
    let codes: Vec<_> = delivered.view.attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, vec![Some(500), Some(200)]);
    assert_eq!(delivered.view.attempts[0].error.as_deref(), Some("status 500"));
    assert!(delivered.view.attempts[0].next_attempt_at.is_some());
    let ids: Vec<_> = receiver.received().iter().map(|r| header(r, "webhook-id")).collect();
    assert_eq!(ids, vec!["evt_2", "evt_2"]);
    running.stop().await;
}

#[tokio::test]
async fn a_4xx_is_dead_at_once_and_a_410_disables_the_subscription() {
    let bad = Receiver::start(vec![Reply::status(400)]).await;
    let gone = Receiver::start(vec![Reply::status(410)]).await;
    let running = run(settings());
    subscribe(&running.store, "bad", &bad).await;
    subscribe(&running.store, "gone", &gone).await;
    let first = running.store.add_delivery("bad", "evt_3", EventType::LeadSold);
    let second = running.store.add_delivery("gone", "evt_4", EventType::LeadSold);
    let dead = running.settled(first, "dead").await;
    assert_eq!((dead.view.attempts.len(), dead.view.dead_reason.as_deref()), (1, Some("status 400")));
    let dead = running.settled(second, "dead").await;
    assert_eq!(dead.view.dead_reason.as_deref(), Some("410 Gone"));
    let subscription = running.store.stored_subscription("gone").unwrap();
    assert!(!subscription.enabled);
    // A delivery to the disabled subscription (a replay, say) is not due: not sent, not
    // attempted, until the subscription is enabled again. Its absence can only be seen over
    // several turns of the dispatcher.
    let third = running.store.add_delivery("gone", "evt_5", EventType::LeadSold);
    tokio::time::sleep(MASKED_POLL * 3).await;
    let waiting = running.store.delivery(third).unwrap();
    assert_eq!((waiting.view.status.as_str(), waiting.view.attempts.len()), ("pending", 0));
    assert_eq!(gone.received().len(), 1);
    running.stop().await;
}

#[tokio::test]
async fn retries_run_out_into_the_dead_letters() {
    let receiver = Receiver::start(vec![Reply::status(503)]).await;
    let running = run(settings());
    subscribe(&running.store, "crm", &receiver).await;
    let id = running.store.add_delivery("crm", "evt_6", EventType::LeadSold);
    let dead = running.settled(id, "dead").await;
    assert_eq!(dead.view.attempts.len(), 4);
    assert_eq!(dead.view.dead_reason.as_deref(), Some("retries exhausted after 4 attempts"));
    running.stop().await;
}

#[tokio::test]
async fn a_hanging_endpoint_does_not_delay_a_healthy_one() {
    let hanging = Receiver::start(vec![Reply::hang()]).await;
    let healthy = Receiver::start(vec![Reply::status(200)]).await;
    let running = run(DeliveryConfig { timeout_ms: 60_000, concurrency_per_endpoint: 1, ..settings() });
    subscribe(&running.store, "hanging", &hanging).await;
    subscribe(&running.store, "healthy", &healthy).await;
    // The hanging endpoint's deliveries come first and fill its window.
    let stuck: Vec<i64> =
        (0..5).map(|n| running.store.add_delivery("hanging", &format!("evt_h{n}"), EventType::LeadSold)).collect();
    hanging.wait_for(1).await;
    let ok = running.store.add_delivery("healthy", "evt_ok", EventType::LeadSold);
    running.settled(ok, "delivered").await;
    assert_eq!(hanging.received().len(), 1, "one attempt in its window of one");
    assert!(stuck.iter().all(|id| running.store.delivery(*id).unwrap().view.status == "pending"));
    running.stop.cancel();
    // Its attempt is abandoned at shutdown after the drain; the test does not wait for that.
    running.task.abort();
}

#[tokio::test]
async fn the_breaker_opens_after_n_failures_and_holds_deliveries() {
    let receiver = Receiver::start(vec![Reply::status(500)]).await;
    let running = run(DeliveryConfig {
        retry_schedule_ms: vec![0, 10_000],
        concurrency_per_endpoint: 1,
        breaker_failures: 2,
        ..settings()
    });
    subscribe(&running.store, "crm", &receiver).await;
    let a = running.store.add_delivery("crm", "evt_a", EventType::LeadSold);
    running.until(a, |d| d.view.attempts.len() == 1).await;
    let b = running.store.add_delivery("crm", "evt_b", EventType::LeadSold);
    running.until(b, |d| d.view.attempts.len() == 1).await;
    // Two consecutive failures: open. The next delivery is held, not attempted: the absence of
    // an attempt can only be seen over time, here several turns of the dispatcher (it polls
    // every MASKED_POLL while deliveries are held).
    let c = running.store.add_delivery("crm", "evt_c", EventType::LeadSold);
    tokio::time::sleep(MASKED_POLL * 3).await;
    assert_eq!(receiver.received().len(), 2);
    let held = running.store.delivery(c).unwrap();
    assert!(held.view.attempts.is_empty(), "held deliveries are not attempts");
    assert_eq!(held.view.status, "pending");
    running.stop().await;
}

#[tokio::test]
async fn a_failing_store_is_retried_not_fatal() {
    let receiver = Receiver::start(vec![Reply::status(200)]).await;
    let running = run(settings());
    subscribe(&running.store, "crm", &receiver).await;
    running.store.failing.store(true, Ordering::Relaxed);
    let id = running.store.add_delivery("crm", "evt_7", EventType::LeadSold);
    tokio::time::sleep(STORE_BACKOFF.0 * 3).await;
    assert!(receiver.received().is_empty());
    running.store.failing.store(false, Ordering::Relaxed);
    running.settled(id, "delivered").await;
    running.stop().await;
}

#[tokio::test]
async fn after_the_cooloff_a_probe_goes_and_its_success_releases_the_held() {
    let receiver = Receiver::start(vec![Reply::status(500), Reply::status(500), Reply::status(200)]).await;
    let running = run(DeliveryConfig {
        retry_schedule_ms: vec![0, 60_000],
        concurrency_per_endpoint: 1,
        breaker_failures: 2,
        breaker_cooloff_ms: 300,
        ..settings()
    });
    subscribe(&running.store, "crm", &receiver).await;
    let a = running.store.add_delivery("crm", "evt_a", EventType::LeadSold);
    running.until(a, |d| d.view.attempts.len() == 1).await;
    let b = running.store.add_delivery("crm", "evt_b", EventType::LeadSold);
    running.until(b, |d| d.view.attempts.len() == 1).await;
    let held: Vec<i64> =
        (0..3).map(|n| running.store.add_delivery("crm", &format!("evt_c{n}"), EventType::LeadSold)).collect();
    for id in &held {
        let delivered = running.settled(*id, "delivered").await;
        assert_eq!(delivered.view.attempts.len(), 1, "held, then sent once");
    }
    let first_probe = &receiver.received()[2];
    assert_eq!(header(first_probe, "webhook-id"), "evt_c0", "the oldest held delivery is the probe");
    running.stop().await;
}

#[tokio::test]
async fn disabling_a_subscription_sends_its_pending_deliveries_to_the_dead_letters() {
    let receiver = Receiver::start(vec![Reply::status(200)]).await;
    let store = MemoryStore::default();
    subscribe(&store, "crm", &receiver).await;
    let pending = store.add_delivery("crm", "evt_d", EventType::LeadSold);
    let mut subscription = store.stored_subscription("crm").unwrap();
    (subscription.enabled, subscription.disabled_reason) = (false, Some("disabled through the API".into()));
    store.write(vec![Write::PutSubscription(Box::new(subscription))]).unwrap().await.unwrap();
    let dead = store.delivery(pending).unwrap();
    assert_eq!((dead.view.status.as_str(), dead.view.dead_reason.as_deref()), ("dead", Some("subscription disabled")));
    assert!(store.due_deliveries(i64::MAX, 10, Vec::new()).await.unwrap().is_empty());
    assert_eq!(store.next_due().await.unwrap(), None);
    // A late result of an attempt that was in flight does not bring it back.
    let late = Write::DeliveryAttempted(DeliveryAttempted {
        delivery_id: pending,
        attempt: AttemptView { at: 5, status_code: Some(500), latency_ms: 1, error: None, next_attempt_at: Some(9) },
        next: NextStep::Retry { at: 9 },
        disable_subscription: None,
    });
    store.write(vec![late]).unwrap().await.unwrap();
    let still = store.delivery(pending).unwrap();
    assert_eq!(still.view.status, "dead");
    assert_eq!(still.view.attempts.len(), 1, "the attempt is history");
    assert_eq!(still.view.attempts[0].next_attempt_at, None);
}
