//! Test doubles for the webhook unit tests: a scripted HTTP receiver on 127.0.0.1:0 and an
//! in-memory [`Store`] that keeps subscriptions and deliveries (the SQLite store's integration
//! tests cover the real thing). The memory store follows the SQLite store's rules wherever the
//! dispatcher could tell them apart: only pending deliveries to enabled subscriptions are due,
//! a disabled subscription's pending deliveries go to the dead letters, a result lands only on
//! a pending delivery, a deleted subscription takes its deliveries with it.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot, watch};

use crate::protocol::event::EventType;
use crate::store::{
    Commit, DeliveryQuery, DeliveryView, DueDelivery, NextStep, Page, PageRequest, Recovery, Store, StoreError,
    StoreFuture, StoredContact, StoredIdempotency, StoredLead, Subscription, UnixMs, Write,
};

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    retry_after: Option<&'static str>,
    body: Vec<u8>,
    hang: bool,
}

impl Reply {
    /// An empty answer with this status.
    pub fn status(status: u16) -> Reply {
        Reply { status, retry_after: None, body: Vec::new(), hang: false }
    }
    /// Never answers.
    pub fn hang() -> Reply {
        Reply { hang: true, ..Reply::status(200) }
    }
    /// With `Retry-After`.
    pub fn retry_after(mut self, value: &'static str) -> Reply {
        self.retry_after = Some(value);
        self
    }
    /// With a body.
    pub fn body(mut self, body: Vec<u8>) -> Reply {
        self.body = body;
        self
    }
}

/// A request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A local endpoint answering from a script (the last reply repeats).
pub struct Receiver {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    count: watch::Receiver<usize>,
}

impl Receiver {
    pub async fn start(script: Vec<Reply>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let (count_tx, count) = watch::channel(0);
        let state = Arc::new((Mutex::new(script), Arc::clone(&received), count_tx));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                        let state = Arc::clone(&state);
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let reply = {
                                let mut script = state.0.lock();
                                if script.len() > 1 { script.remove(0) } else { script[0].clone() }
                            };
                            let n = {
                                let mut got = state.1.lock();
                                got.push(Received { headers: parts.headers, body });
                                got.len()
                            };
                            state.2.send_replace(n);
                            if reply.hang {
                                std::future::pending::<()>().await;
                            }
                            let mut response = Response::new(Full::new(Bytes::from(reply.body)));
                            *response.status_mut() = http::StatusCode::from_u16(reply.status).unwrap();
                            if let Some(value) = reply.retry_after {
                                response.headers_mut().insert("retry-after", value.parse().unwrap());
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver { addr, received, count }
    }

    pub fn url(&self) -> Uri {
        format!("http://{}/hook", self.addr).parse().unwrap()
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().clone()
    }

    /// Waits until `n` requests arrived (a failure guard of 10 s).
    pub async fn wait_for(&self, n: usize) {
        let mut count = self.count.clone();
        let waited = tokio::time::timeout(std::time::Duration::from_secs(10), count.wait_for(|c| *c >= n)).await;
        assert!(waited.is_ok(), "expected {n} requests, got {}", self.received.lock().len());
    }
}

/// One delivery as the memory store keeps it.
#[derive(Debug, Clone)]
pub struct MemDelivery {
    pub view: DeliveryView,
    pub attempts_made: u32,
    pub due: Option<UnixMs>,
    pub envelope: Bytes,
}

#[derive(Debug, Default)]
struct Inner {
    subscriptions: BTreeMap<String, Subscription>,
    deliveries: BTreeMap<i64, MemDelivery>,
    next_id: i64,
}

impl Inner {
    /// Sends the subscription's pending deliveries to the dead letters, as the SQLite store
    /// does when it is disabled; how many.
    fn kill_pending(&mut self, subscription_id: &str, reason: &str) -> u64 {
        let mut killed = 0;
        for d in self.deliveries.values_mut() {
            if d.view.subscription_id == subscription_id && d.view.status == "pending" {
                d.view.status = "dead".into();
                d.view.dead_reason = Some(reason.to_owned());
                d.view.next_attempt_at = None;
                d.due = None;
                killed += 1;
            }
        }
        killed
    }

    /// Whether `d` is pending to an enabled subscription: the only deliveries the SQLite
    /// store's due query and next due time see.
    fn sendable(&self, d: &MemDelivery) -> bool {
        d.view.status == "pending" && self.subscriptions.get(&d.view.subscription_id).is_some_and(|s| s.enabled)
    }
}

/// An in-memory store of subscriptions and deliveries (the rest of [`Store`] is empty).
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    changed: Notify,
    /// While set, reads and writes fail (to test the dispatcher's backoff).
    pub failing: std::sync::atomic::AtomicBool,
}

impl MemoryStore {
    /// Adds a pending delivery due now and wakes the dispatcher; returns its id.
    pub fn add_delivery(&self, subscription_id: &str, event_id: &str, kind: EventType) -> i64 {
        let id = {
            let mut inner = self.inner.lock();
            inner.next_id += 1;
            let id = inner.next_id;
            let envelope = format!(
                r#"{{"id":"{event_id}","type":"{}","timestamp":"2026-11-23T12:00:00Z","data":{{"lead_id":"ld_1","price":"12.50"}}}}"#,
                kind.as_str()
            );
            let view = DeliveryView {
                id,
                subscription_id: subscription_id.to_owned(),
                event_id: event_id.to_owned(),
                event_type: kind.as_str().to_owned(),
                status: "pending".into(),
                dead_reason: None,
                next_attempt_at: Some(0),
                created_at: id,
                attempts: Vec::new(),
            };
            inner
                .deliveries
                .insert(id, MemDelivery { view, attempts_made: 0, due: Some(0), envelope: envelope.into() });
            id
        };
        self.changed.notify_waiters();
        id
    }

    pub fn delivery(&self, id: i64) -> Option<MemDelivery> {
        self.inner.lock().deliveries.get(&id).cloned()
    }

    pub fn stored_subscription(&self, id: &str) -> Option<Subscription> {
        self.inner.lock().subscriptions.get(id).cloned()
    }

    fn fail<T>(&self) -> Option<Result<T, StoreError>> {
        self.failing.load(std::sync::atomic::Ordering::Relaxed).then(|| Err(StoreError::Backend("injected".into())))
    }

    fn apply(&self, write: Write) -> u64 {
        let mut inner = self.inner.lock();
        match write {
            Write::PutSubscription(subscription) => {
                let killed = if subscription.enabled {
                    0
                } else {
                    inner.kill_pending(&subscription.id, "subscription disabled")
                };
                inner.subscriptions.insert(subscription.id.clone(), *subscription);
                1 + killed
            }
            Write::DeleteSubscription { id } => {
                inner.deliveries.retain(|_, d| d.view.subscription_id != id);
                u64::from(inner.subscriptions.remove(&id).is_some())
            }
            Write::ReplayDelivery { delivery_id, now } => match inner.deliveries.get_mut(&delivery_id) {
                Some(d) => {
                    d.view.status = "pending".into();
                    d.view.dead_reason = None;
                    d.due = Some(now);
                    d.view.next_attempt_at = Some(now);
                    1
                }
                None => 0,
            },
            Write::DeliveryAttempted(mut done) => {
                let Some(d) = inner.deliveries.get_mut(&done.delivery_id) else { return 0 };
                if d.view.status != "pending" {
                    // Made dead while in flight: it stays dead, the attempt is history only.
                    done.attempt.next_attempt_at = None;
                    d.view.attempts.push(done.attempt);
                    return 1;
                }
                let subscription_id = d.view.subscription_id.clone();
                if let Some(reason) = &done.disable_subscription
                    && let Some(sub) = inner.subscriptions.get_mut(&subscription_id)
                {
                    sub.enabled = false;
                    sub.disabled_reason = Some(reason.clone());
                }
                let Some(d) = inner.deliveries.get_mut(&done.delivery_id) else { return 0 };
                d.attempts_made += 1;
                d.view.attempts.push(done.attempt);
                match done.next {
                    NextStep::Delivered => {
                        d.view.status = "delivered".into();
                        d.due = None;
                    }
                    NextStep::Retry { at } => d.due = Some(at),
                    NextStep::Dead { reason } => {
                        d.view.status = "dead".into();
                        d.view.dead_reason = Some(reason);
                        d.due = None;
                    }
                }
                d.view.next_attempt_at = d.due;
                if let Some(reason) = &done.disable_subscription {
                    inner.kill_pending(&subscription_id, reason);
                }
                1
            }
            _ => 0,
        }
    }

    fn page(items: Vec<DeliveryView>, page: &PageRequest) -> Page<DeliveryView> {
        let after = page.after.as_deref().and_then(|c| c.parse::<i64>().ok()).unwrap_or(i64::MAX);
        let limit = page.limit.max(1);
        let mut data: Vec<DeliveryView> = items.into_iter().filter(|d| d.id < after).collect();
        data.sort_by_key(|d| std::cmp::Reverse(d.id));
        let more = data.len() > limit;
        data.truncate(limit);
        let next_cursor = if more { data.last().map(|d| d.id.to_string()) } else { None };
        Page { data, next_cursor }
    }
}

impl Store for MemoryStore {
    fn write(&self, writes: Vec<Write>) -> Result<Commit, StoreError> {
        if let Some(Err(e)) = self.fail::<()>() {
            return Err(e);
        }
        let rows = writes.into_iter().map(|w| self.apply(w)).sum();
        self.changed.notify_waiters();
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Ok(rows));
        Ok(Commit::new(rx))
    }

    fn deliveries_changed(&self) -> &Notify {
        &self.changed
    }

    fn recover(&self, _now: UnixMs) -> StoreFuture<'_, Recovery> {
        Box::pin(async { Ok(Recovery::default()) })
    }

    fn idempotency_keys(&self, _since: UnixMs) -> StoreFuture<'_, Vec<StoredIdempotency>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn sales_since(&self, _since: UnixMs) -> StoreFuture<'_, Vec<crate::store::SaleRow>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn contacts(&self, _since: UnixMs, _limit: usize) -> StoreFuture<'_, Vec<StoredContact>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn lead(&self, _lead_id: &str) -> StoreFuture<'_, Option<StoredLead>> {
        Box::pin(async { Ok(None) })
    }

    fn due_deliveries(&self, now: UnixMs, limit: usize, skip: Vec<i64>) -> StoreFuture<'_, Vec<DueDelivery>> {
        let result = self.fail().unwrap_or_else(|| {
            let inner = self.inner.lock();
            let mut due: Vec<&MemDelivery> = inner
                .deliveries
                .values()
                .filter(|d| inner.sendable(d) && d.due.is_some_and(|t| t <= now) && !skip.contains(&d.view.id))
                .collect();
            due.sort_by_key(|d| (d.due, d.view.id));
            Ok(due
                .into_iter()
                .filter_map(|d| {
                    Some(DueDelivery {
                        delivery_id: d.view.id,
                        attempts: d.attempts_made,
                        subscription: inner.subscriptions.get(&d.view.subscription_id)?.clone(),
                        event_id: d.view.event_id.clone(),
                        event_type: EventType::parse(&d.view.event_type)?,
                        envelope: d.envelope.clone(),
                    })
                })
                .take(limit)
                .collect())
        });
        Box::pin(async move { result })
    }

    fn next_due(&self) -> StoreFuture<'_, Option<UnixMs>> {
        let result = self.fail().unwrap_or_else(|| {
            let inner = self.inner.lock();
            Ok(inner.deliveries.values().filter(|d| inner.sendable(d)).filter_map(|d| d.due).min())
        });
        Box::pin(async move { result })
    }

    fn subscriptions(&self, page: PageRequest) -> StoreFuture<'_, Page<Subscription>> {
        let inner = self.inner.lock();
        let after = page.after.unwrap_or_default();
        let mut data: Vec<Subscription> = inner.subscriptions.values().filter(|s| s.id > after).cloned().collect();
        let more = data.len() > page.limit.max(1);
        data.truncate(page.limit.max(1));
        let next_cursor = if more { data.last().map(|s| s.id.clone()) } else { None };
        Box::pin(async move { Ok(Page { data, next_cursor }) })
    }

    fn subscription(&self, id: &str) -> StoreFuture<'_, Option<Subscription>> {
        let found = self.inner.lock().subscriptions.get(id).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn deliveries(&self, query: DeliveryQuery) -> StoreFuture<'_, Page<DeliveryView>> {
        let items = self
            .inner
            .lock()
            .deliveries
            .values()
            .map(|d| d.view.clone())
            .filter(|d| d.subscription_id == query.subscription_id)
            .filter(|d| query.status.as_ref().is_none_or(|s| &d.status == s))
            .filter(|d| query.event_type.as_ref().is_none_or(|t| &d.event_type == t))
            .filter(|d| query.since.is_none_or(|t| d.created_at >= t) && query.until.is_none_or(|t| d.created_at < t))
            .collect();
        let page = MemoryStore::page(items, &query.page);
        Box::pin(async move { Ok(page) })
    }

    fn dead_letters(&self, page: PageRequest) -> StoreFuture<'_, Page<DeliveryView>> {
        let items =
            self.inner.lock().deliveries.values().map(|d| d.view.clone()).filter(|d| d.status == "dead").collect();
        let page = MemoryStore::page(items, &page);
        Box::pin(async move { Ok(page) })
    }

    // -- Feedback: dispositions and returns. --

    fn sale(&self, _lead_id: &str, _buyer_id: &str) -> StoreFuture<'_, Option<crate::store::feedback::Sale>> {
        Box::pin(async { Err(StoreError::Backend("not kept by the in-memory test store".into())) })
    }

    // -- Pull and reports. --

    fn leads(&self, _query: crate::store::pull::LeadQuery) -> StoreFuture<'_, Page<crate::store::pull::LeadRow>> {
        Box::pin(async { Err(StoreError::Backend("not kept by the in-memory test store".into())) })
    }

    fn buyer_report(
        &self,
        _query: crate::store::reports::ReportQuery,
    ) -> StoreFuture<'_, Vec<crate::store::reports::BuyerFigures>> {
        Box::pin(async { Err(StoreError::Backend("not kept by the in-memory test store".into())) })
    }

    fn publisher_report(
        &self,
        _query: crate::store::reports::ReportQuery,
    ) -> StoreFuture<'_, Vec<crate::store::reports::PublisherFigures>> {
        Box::pin(async { Err(StoreError::Backend("not kept by the in-memory test store".into())) })
    }

    // -- Directory (admin API) and audit log. --

    fn directory(&self) -> StoreFuture<'_, Vec<crate::store::DirectoryEntry>> {
        Box::pin(async { Err(StoreError::Backend("not kept by the in-memory test store".into())) })
    }

    fn audit(&self, _query: crate::store::AuditQuery) -> StoreFuture<'_, Page<crate::store::AuditRow>> {
        Box::pin(async { Err(StoreError::Backend("not kept by the in-memory test store".into())) })
    }

    // -- API keys. --

    fn api_keys(&self) -> StoreFuture<'_, Vec<crate::store::StoredKey>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn api_keys_stamp(&self) -> StoreFuture<'_, (i64, i64)> {
        Box::pin(async { Ok((0, 0)) })
    }
}
