//! The durable store: leads (with their PII), auctions, pings, post attempts, the event outbox,
//! webhook subscriptions, deliveries and their attempts, idempotency keys.
//!
//! [`Store`] is what the rest of the engine sees, so a PostgreSQL backend can follow without
//! touching the auction. Writes are [`Write`] values handed to [`Store::write`], which queues
//! them for the next group commit and returns a [`Commit`] that resolves once they are durable;
//! a full queue is an immediate [`StoreError::Busy`] (intake answers 503), never a wait. Reads
//! are boxed futures: they are off the hot path.
//!
//! The embedded default is [`sqlite::SqliteStore`] (WAL mode; one writer thread owns the write
//! connection and commits in groups).

pub mod feedback;
pub mod migrations;
pub mod pull;
pub mod reports;
pub mod sqlite;
mod writer;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{Notify, oneshot};

use crate::protocol::event::EventType;

/// A boxed future of a store read.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Milliseconds since the Unix epoch: how every time is stored.
pub type UnixMs = i64;

/// Now, in [`UnixMs`] (0 if the clock is before 1970).
pub fn now_ms() -> UnixMs {
    chrono::Utc::now().timestamp_millis().max(0)
}

/// `2026-11-23T12:00:00.000Z`: RFC 3339 in UTC with milliseconds, as events and the API show
/// times; `None` for a time chrono cannot represent.
pub fn rfc3339(at: UnixMs) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(at).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// What can go wrong in the store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The write queue is full: the disk is slower than intake. Retry shortly.
    #[error("the store is busy ({0} writes queued); retry shortly")]
    Busy(usize),
    /// The store was shut down (or its writer thread died).
    #[error("the store is closed")]
    Closed,
    /// The backend failed (I/O, corruption, a constraint).
    #[error("store failure: {0}")]
    Backend(String),
    /// A page cursor this store did not issue: the client's fault (a 400).
    #[error("invalid cursor")]
    BadCursor,
}

/// The durable store.
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Queues `writes` for the next group commit, all in one transaction. The [`Commit`]
    /// resolves when they are durable (its value: rows changed, see [`Commit`]); dropping it
    /// does not cancel the writes.
    fn write(&self, writes: Vec<Write>) -> Result<Commit, StoreError>;

    /// Notified after every commit that created deliveries (or made some due sooner, as a
    /// replay does): the webhook dispatcher's wake-up.
    fn deliveries_changed(&self) -> &Notify;

    /// Run once at start, before serving: closes every auction a crash interrupted (see
    /// [`Recovery`]) and returns what it did.
    fn recover(&self, now: UnixMs) -> StoreFuture<'_, Recovery>;

    /// Answered idempotency keys created at or after `since`, newest first (restored into the
    /// cache at start; when the cache fills, the newest, likeliest to be retried, are kept).
    fn idempotency_keys(&self, since: UnixMs) -> StoreFuture<'_, Vec<StoredIdempotency>>;

    /// Dedupe keys stored with a window start at or after `since`, the newest `limit` of them
    /// (the index's bound), handed back oldest first, with each lead's vertical and buyer (the
    /// dedupe index is rebuilt from them at start).
    fn contacts(&self, since: UnixMs, limit: usize) -> StoreFuture<'_, Vec<StoredContact>>;

    /// One lead with its auction, for tests and (later) the lead API.
    fn lead(&self, lead_id: &str) -> StoreFuture<'_, Option<StoredLead>>;

    /// Pending deliveries due at or before `now`, oldest first, at most `limit`, skipping the
    /// ids in `skip` (those the dispatcher has in flight).
    fn due_deliveries(&self, now: UnixMs, limit: usize, skip: Vec<i64>) -> StoreFuture<'_, Vec<DueDelivery>>;

    /// When the next pending delivery falls due, if any.
    fn next_due(&self) -> StoreFuture<'_, Option<UnixMs>>;

    /// All subscriptions, by id, keyset-paginated.
    fn subscriptions(&self, page: PageRequest) -> StoreFuture<'_, Page<Subscription>>;

    /// One subscription.
    fn subscription(&self, id: &str) -> StoreFuture<'_, Option<Subscription>>;

    /// A subscription's deliveries (newest first) with every attempt, filtered.
    fn deliveries(&self, query: DeliveryQuery) -> StoreFuture<'_, Page<DeliveryView>>;

    /// Dead deliveries (the last retry failed, or a 4xx/410 ended them), newest first.
    fn dead_letters(&self, page: PageRequest) -> StoreFuture<'_, Page<DeliveryView>>;

    /// Sales of non-test leads (one row per buyer of a shared lead) and every post a crash left
    /// in doubt (it may have sold), made at or after `since`: what buyer caps are rebuilt from.
    fn sales_since(&self, since: UnixMs) -> StoreFuture<'_, Vec<SaleRow>>;

    // -- Feedback: dispositions and returns. --

    /// The sale of `lead_id` to `buyer_id`, if that buyer bought it.
    fn sale(&self, lead_id: &str, buyer_id: &str) -> StoreFuture<'_, Option<feedback::Sale>>;

    // -- Pull and reports. --

    /// A page of leads as `query.scope` sees them, in the order of its walk's key (see
    /// [`pull::LeadQuery`]); a cursor this store did not issue is [`StoreError::BadCursor`].
    fn leads(&self, query: pull::LeadQuery) -> StoreFuture<'_, Page<pull::LeadRow>>;

    /// Per-buyer figures over the non-test leads received in the range, one entry per buyer
    /// pinged, posted to or sold to, by buyer id.
    fn buyer_report(&self, query: reports::ReportQuery) -> StoreFuture<'_, Vec<reports::BuyerFigures>>;

    /// Per-publisher figures over the non-test leads received in the range, one entry per
    /// publisher that sent any, by publisher id.
    fn publisher_report(&self, query: reports::ReportQuery) -> StoreFuture<'_, Vec<reports::PublisherFigures>>;

    // -- Directory (admin API) and audit log. --

    /// Every buyer and publisher entry the admin API wrote (deleted ones with `doc: None`), by
    /// kind and id: laid over the config file's entries at start.
    fn directory(&self) -> StoreFuture<'_, Vec<DirectoryEntry>>;

    /// Audit log rows matching `query`, newest first.
    fn audit(&self, query: AuditQuery) -> StoreFuture<'_, Page<AuditRow>>;

    // -- API keys. --

    /// Every issued API key, revoked ones included, oldest first.
    fn api_keys(&self) -> StoreFuture<'_, Vec<StoredKey>>;

    /// Changes whenever a key is issued or revoked (by this engine or by `engine keys` on the
    /// same store): running engines poll it.
    fn api_keys_stamp(&self) -> StoreFuture<'_, (i64, i64)>;
}

/// A sale, as caps count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRow {
    /// The buyer.
    pub buyer_id: String,
    /// The lead's publisher.
    pub publisher_id: String,
    /// The price paid, micro-units.
    pub price: i64,
    /// When it sold.
    pub at: UnixMs,
}

/// An issued API key as stored: its SHA-256, never the key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    /// `key_...`.
    pub id: String,
    /// `publisher`, `buyer` or `admin`.
    pub role: String,
    /// The publisher, buyer or admin it acts for.
    pub owner_id: String,
    /// `read`, `write` or `read,write`.
    pub scopes: String,
    /// SHA-256 of the key.
    pub digest: [u8; 32],
    /// A note for people.
    pub label: Option<String>,
    /// Its own rate limit: requests per second and burst (`None`: its role's).
    pub rate_limit: Option<(f64, u32)>,
    /// When it was made.
    pub created_at: UnixMs,
    /// Who made it (`admin:ops`, `cli`).
    pub created_by: String,
    /// When it was revoked.
    pub revoked_at: Option<UnixMs>,
    /// Requests made with it (as last stored: engines store counts every few seconds).
    pub uses: u64,
    /// When it was last used.
    pub last_used_at: Option<UnixMs>,
}

/// One write. Every write of one [`Store::write`] call commits in the same transaction.
#[derive(Debug, Clone)]
pub enum Write {
    /// A validated lead, before any buyer is pinged: the lead row (PII included), its auction
    /// row in state `running`, its `lead.received` event and, when the publisher sent one, its
    /// idempotency key (with no answer yet).
    LeadReceived(Box<LeadReceived>),
    /// A post is about to be sent: written before the PII leaves, so a crash after it is
    /// recovered as `in_doubt`, never as unsold.
    PostStarted(PostStarted),
    /// The auction's outcome with every ping and post attempt, its events, and the answer
    /// (stored on the idempotency key, if any).
    AuctionFinished(Box<AuctionFinished>),
    /// A lead found to be a duplicate (dedupe, `reject` mode), closed without an auction:
    /// written with its [`Write::LeadReceived`], in the same call.
    DuplicateClosed(Box<DuplicateClosed>),
    /// Buyer events outside any lead's outcome (the circuit transitions of a publisher's ping
    /// phase, stored at once since its post may never come), with the outbox's deliveries.
    BuyerEvents(Vec<NewEvent>),
    /// One delivery attempt and what follows from it.
    DeliveryAttempted(DeliveryAttempted),
    /// Creates or replaces a subscription (deliveries already made are kept).
    PutSubscription(Box<Subscription>),
    /// Deletes a subscription; its pending deliveries are dropped (rows changed: 1 if it existed).
    DeleteSubscription {
        /// Subscription id.
        id: String,
    },
    /// Makes a delivery pending again, due at `now` (rows changed: 1 if it exists).
    ReplayDelivery {
        /// Delivery id.
        delivery_id: i64,
        /// Due time.
        now: UnixMs,
    },
    // -- Feedback: dispositions and returns. --
    /// A disposition, conditional on the status it was decided from (see
    /// [`feedback::SaleStatusChanged`]; rows changed: 0 when that status is no longer the sale's).
    SaleStatusChanged(Box<feedback::SaleStatusChanged>),
    /// A return and its credit, conditional on the sale's state (see [`feedback::SaleReturned`];
    /// rows changed: 0 when it is returned already or its status moved).
    SaleReturned(Box<feedback::SaleReturned>),

    // -- Directory (admin API) and audit log. --
    /// Creates or replaces a buyer's or publisher's stored entry (`doc: None`: deleted); rows
    /// changed: 1.
    PutDirectory(Box<DirectoryEntry>),
    /// Appends one audit log row. It counts as no row changed, so the count of a change written
    /// with its audit row still says what the change did.
    Audit(Box<AuditRecord>),

    // -- API keys. --
    /// A new API key.
    PutApiKey(Box<StoredKey>),
    /// Revokes a key (changes no row when it is unknown or already revoked), and writes
    /// `audit` only if it did.
    RevokeApiKey {
        /// `key_...`.
        id: String,
        /// When.
        at: UnixMs,
        /// The audit row of the revocation.
        audit: Option<Box<AuditRecord>>,
    },
    /// Revokes every live issued key of a holder (its entry is being deleted): a holder created
    /// later with the same id does not inherit them.
    RevokeKeysOf {
        /// `publisher` or `buyer`.
        role: &'static str,
        /// The holder.
        owner_id: String,
        /// When.
        at: UnixMs,
    },
    /// Issued keys' use counts: (key id, uses, last used at).
    KeyUsage(Vec<(String, u64, UnixMs)>),

    /// Makes every delivery of a subscription whose event happened in `[since, until)` pending
    /// again, due at `now`, and creates deliveries for events of its types it never had (rows
    /// changed: deliveries re-queued or created).
    ReplayRange {
        /// Subscription id.
        subscription_id: String,
        /// From (inclusive).
        since: UnixMs,
        /// To (exclusive).
        until: UnixMs,
        /// Due time.
        now: UnixMs,
    },
}

/// [`Write::LeadReceived`]. Its `Debug` leaves the lead (PII) out.
#[derive(Clone)]
pub struct LeadReceived {
    /// `ld_...`.
    pub lead_id: String,
    /// Who sent it.
    pub publisher_id: String,
    /// Its vertical.
    pub vertical: String,
    /// A test lead.
    pub test: bool,
    /// When intake accepted it.
    pub received_at: UnixMs,
    /// The whole validated lead as JSON (attributes, contact, consent, source): PII.
    pub lead_json: Bytes,
    /// The publisher's `Idempotency-Key`, if it sent one.
    pub idempotency: Option<IdempotencyKey>,
    /// Its dedupe keys (hashes of its phone and email), for the rebuild at start.
    pub contacts: Vec<ContactKey>,
    /// Its `lead.received` event.
    pub event: NewEvent,
}

/// A dedupe key stored with its lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactKey {
    /// The hash of vertical, field and normalized value (never the value itself).
    pub key: [u8; 16],
    /// The start of the window it counts in: the time of the person's first lead.
    pub seen_at: UnixMs,
}

/// A dedupe key as read back at start, with what the rebuild needs of its lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredContact {
    /// The key.
    pub key: [u8; 16],
    /// The start of its window.
    pub seen_at: UnixMs,
    /// The lead's vertical (its window).
    pub vertical: String,
    /// The buyer the lead was sold to (or may have reached, when in doubt).
    pub buyer_id: Option<String>,
}

/// [`Write::DuplicateClosed`].
#[derive(Debug, Clone)]
pub struct DuplicateClosed {
    /// The lead.
    pub lead_id: String,
    /// When it was found a duplicate.
    pub at: UnixMs,
    /// The publisher's answer (JSON), stored on the auction and the idempotency key.
    pub answer: Bytes,
    /// Its `lead.unsold` event (`"reason": "duplicate"`).
    pub event: NewEvent,
}

/// An idempotency key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The publisher's id (keys are per publisher).
    pub publisher_id: String,
    /// The key.
    pub key: String,
    /// SHA-256 of the request body: a retry with another body is a 409.
    pub fingerprint: [u8; 32],
}

/// [`Write::PostStarted`].
#[derive(Debug, Clone)]
pub struct PostStarted {
    /// The lead.
    pub lead_id: String,
    /// 1, 2, ... in cascade order.
    pub attempt: u32,
    /// The buyer posted to.
    pub buyer_id: String,
    /// The ping the bid answered.
    pub ping_id: String,
    /// The bid's price, micro-units.
    pub price: i64,
    /// When.
    pub at: UnixMs,
}

/// [`Write::AuctionFinished`].
#[derive(Debug, Clone)]
pub struct AuctionFinished {
    /// The lead.
    pub lead_id: String,
    /// `sold` or `unsold`.
    pub outcome: &'static str,
    /// The buyer that bought it (a shared lead: the first sale's).
    pub buyer_id: Option<String>,
    /// The price it sold at, micro-units (a shared lead: the sum of its sales).
    pub price: Option<i64>,
    /// Every sale, in the order made (one for an exclusive lead, up to N for a shared one).
    pub sales: Vec<NewSale>,
    /// When the auction ended.
    pub finished_at: UnixMs,
    /// Phase times, milliseconds.
    pub ping_ms: f64,
    /// All posts, milliseconds.
    pub post_ms: f64,
    /// Intake to outcome, milliseconds.
    pub total_ms: f64,
    /// Every buyer pinged.
    pub pings: Vec<PingRow>,
    /// Every post attempt, in cascade order (attempt numbers match [`PostStarted::attempt`]).
    pub posts: Vec<PostRow>,
    /// `lead.post_rejected` for each rejected post, then `lead.sold` or `lead.unsold`.
    pub events: Vec<NewEvent>,
    /// The publisher's answer (JSON), stored on the idempotency key and the auction.
    pub answer: Bytes,
}

/// One sale of a lead to a buyer: what the buyer pays, cut into the publisher's payout and the
/// broker's margin (`price == payout + margin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSale {
    /// The buyer.
    pub buyer_id: String,
    /// What the buyer pays, micro-units.
    pub price: i64,
    /// What the publisher is paid of it, micro-units.
    pub payout: i64,
    /// What the broker keeps, micro-units.
    pub margin: i64,
}

/// One ping of an auction.
#[derive(Debug, Clone)]
pub struct PingRow {
    /// Buyer.
    pub buyer_id: String,
    /// `pg_...`.
    pub ping_id: String,
    /// `bid`, `no_bid`, `invalid`, `timeout`, `failed`; `fixed` for a fixed-price buyer's offer
    /// (not pinged: no latency, no bid id).
    pub result: &'static str,
    /// The bid's price, micro-units.
    pub price: Option<i64>,
    /// What the bid ranked by (the price times the buyer's quality weight), micro-units.
    pub score: Option<i64>,
    /// The buyer's bid id.
    pub bid_id: Option<String>,
    /// Why it was invalid or failed.
    pub reason: Option<String>,
    /// Round trip of an in-time answer, microseconds.
    pub latency_us: Option<i64>,
}

/// One post attempt of an auction.
#[derive(Debug, Clone)]
pub struct PostRow {
    /// 1, 2, ... in cascade order.
    pub attempt: u32,
    /// Buyer.
    pub buyer_id: String,
    /// The ping the bid answered.
    pub ping_id: String,
    /// The bid's price, micro-units.
    pub price: i64,
    /// `accepted`, `rejected`, `timeout`, `failed`.
    pub result: &'static str,
    /// The buyer's reason, or the failure.
    pub reason: Option<String>,
    /// The buyer's id for the lead.
    pub buyer_lead_id: Option<String>,
    /// How long it took, microseconds.
    pub latency_us: i64,
}

/// An event to put in the outbox. The writer gives lead events their per-lead `sequence`
/// (written into `data`) and creates a delivery for every enabled subscription to its type.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// `evt_...`.
    pub id: String,
    /// Its type.
    pub kind: EventType,
    /// The lead it is about, for lead events.
    pub lead_id: Option<String>,
    /// When it happened.
    pub at: UnixMs,
    /// Its data (no PII).
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// [`Write::DeliveryAttempted`].
#[derive(Debug, Clone)]
pub struct DeliveryAttempted {
    /// The delivery.
    pub delivery_id: i64,
    /// The attempt.
    pub attempt: AttemptView,
    /// What happens next.
    pub next: NextStep,
    /// Set when the endpoint answered 410 Gone: the subscription is disabled with this reason.
    pub disable_subscription: Option<String>,
}

/// After an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Delivered (a 2xx).
    Delivered,
    /// Try again at this time.
    Retry {
        /// When.
        at: UnixMs,
    },
    /// No more attempts: to the dead-letter list.
    Dead {
        /// Why (`retries exhausted`, `status 400`, `gone (410)`).
        reason: String,
    },
}

/// One attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptView {
    /// When it was sent.
    pub at: UnixMs,
    /// The endpoint's status, if it answered.
    pub status_code: Option<u16>,
    /// How long it took, milliseconds.
    pub latency_ms: i64,
    /// What went wrong (timeout, connection refused, status 500, ...).
    pub error: Option<String>,
    /// When the next attempt is due, if one is.
    pub next_attempt_at: Option<UnixMs>,
}

/// A pending delivery that is due, with what the dispatcher needs to send it.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// Delivery id.
    pub delivery_id: i64,
    /// Attempts made so far.
    pub attempts: u32,
    /// The subscription.
    pub subscription: Subscription,
    /// The event id (`webhook-id`).
    pub event_id: String,
    /// Its type.
    pub event_type: EventType,
    /// The canonical envelope `{"id","type","timestamp","data"}` as stored.
    pub envelope: Bytes,
}

/// A webhook subscription. Its `Debug` leaves the secrets and header values out.
#[derive(Clone, PartialEq, Serialize)]
pub struct Subscription {
    /// Id.
    pub id: String,
    /// Target URL.
    pub url: String,
    /// Event types delivered (`*` for all).
    pub events: Vec<String>,
    /// Signing secrets `whsec_...`, the current one first; during a rotation the previous one
    /// follows until `secrets_rotated_until`, and every delivery carries both signatures.
    #[serde(skip_serializing)]
    pub secrets: Vec<String>,
    /// Until when the previous secret still signs.
    pub secrets_rotated_until: Option<UnixMs>,
    /// Extra headers sent with each delivery.
    pub headers: Vec<(String, String)>,
    /// Payload settings (see `webhooks::payload`), as JSON; `None` sends the envelope as is.
    pub payload: Option<serde_json::Value>,
    /// Disabled subscriptions get no new deliveries.
    pub enabled: bool,
    /// Why it was disabled (`410 Gone from the endpoint`).
    pub disabled_reason: Option<String>,
    /// `config` (from engine.toml, re-applied at every start) or `api`.
    pub source: &'static str,
    /// When it was created.
    pub created_at: UnixMs,
}

/// A delivery as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryView {
    /// Delivery id.
    pub id: i64,
    /// The subscription.
    pub subscription_id: String,
    /// The event id.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// `pending`, `delivered`, `dead`.
    pub status: String,
    /// Why it is dead.
    pub dead_reason: Option<String>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<UnixMs>,
    /// When the delivery was created.
    pub created_at: UnixMs,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptView>,
}

/// Filters of a delivery log read.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    /// The subscription.
    pub subscription_id: String,
    /// `pending`, `delivered` or `dead`.
    pub status: Option<String>,
    /// Event type.
    pub event_type: Option<String>,
    /// Created at or after.
    pub since: Option<UnixMs>,
    /// Created before.
    pub until: Option<UnixMs>,
    /// The page.
    pub page: PageRequest,
}

/// A keyset page request: `after` is the cursor of the previous page (opaque to clients).
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Cursor from the previous page's `next_cursor`.
    pub after: Option<String>,
    /// Page size (the API clamps it to 1-500).
    pub limit: usize,
}

/// A page of results.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// An idempotency key as restored at start.
#[derive(Debug, Clone)]
pub struct StoredIdempotency {
    /// The key.
    pub key: IdempotencyKey,
    /// The answer given (or recovered); `None` only while its auction runs.
    pub answer: Option<Bytes>,
    /// When it was created.
    pub created_at: UnixMs,
}

/// What recovery did at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Auctions cut off before any post: closed `unsold` (`reason: interrupted`) with a
    /// `lead.unsold` event; the lead is not re-auctioned.
    pub interrupted: Vec<String>,
    /// Auctions cut off with a post in flight: the post and the auction marked `in_doubt`,
    /// with a `lead.in_doubt` event; never re-sold automatically.
    pub in_doubt: Vec<String>,
}

/// A stored lead with its auction. Its `Debug` leaves the lead (PII) out.
#[derive(Clone)]
pub struct StoredLead {
    /// `ld_...`.
    pub lead_id: String,
    /// Publisher.
    pub publisher_id: String,
    /// Its vertical.
    pub vertical: String,
    /// A test lead.
    pub test: bool,
    /// When intake accepted it.
    pub received_at: UnixMs,
    /// The validated lead, JSON (PII).
    pub lead_json: Bytes,
    /// `running`, `sold`, `unsold`, `in_doubt`.
    pub status: String,
    /// Why an auction ended unsold without an outcome of its own: `interrupted` (recovery) or
    /// `duplicate` (dedupe).
    pub reason: Option<String>,
    /// The buyer, when sold.
    pub buyer_id: Option<String>,
    /// The price, micro-units, when sold.
    pub price: Option<i64>,
    /// When the auction ended.
    pub finished_at: Option<UnixMs>,
    /// Phase times in milliseconds: pings, posts, intake to outcome (once finished).
    pub timings_ms: Option<(f64, f64, f64)>,
    /// The answer given to the publisher.
    pub answer: Option<Bytes>,
    /// Pings recorded.
    pub pings: Vec<PingRow>,
    /// Post attempts, with `in_doubt` ones.
    pub posts: Vec<StoredPost>,
    /// Its sales (one for an exclusive lead, up to N for a shared one), with dispositions and returns.
    pub sales: Vec<pull::StoredSale>,
    /// Its events in sequence order: (event id, type, sequence).
    pub events: Vec<(String, String, i64)>,
}

/// A stored post attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPost {
    /// Attempt number.
    pub attempt: u32,
    /// Buyer.
    pub buyer_id: String,
    /// The ping the bid answered.
    pub ping_id: String,
    /// The bid's price, micro-units.
    pub price: i64,
    /// `sending` (only between start and finish), `accepted`, `rejected`, `timeout`,
    /// `failed`, `in_doubt`.
    pub result: String,
    /// The buyer's reason, or the failure.
    pub reason: Option<String>,
    /// The buyer's id for the lead.
    pub buyer_lead_id: Option<String>,
    /// How long it took, microseconds (none while sending or in doubt).
    pub latency_us: Option<i64>,
}

impl std::fmt::Debug for LeadReceived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeadReceived")
            .field("lead_id", &self.lead_id)
            .field("publisher_id", &self.publisher_id)
            .field("vertical", &self.vertical)
            .field("lead_json", &format_args!("<{} bytes of PII>", self.lead_json.len()))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for StoredLead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredLead")
            .field("lead_id", &self.lead_id)
            .field("status", &self.status)
            .field("buyer_id", &self.buyer_id)
            .field("lead_json", &format_args!("<{} bytes of PII>", self.lead_json.len()))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secrets", &format_args!("<{} redacted>", self.secrets.len()))
            .field("headers", &self.headers.iter().map(|(name, _)| name).collect::<Vec<_>>())
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// A queued write's completion: resolves to the number of rows the writes changed once the
/// transaction is committed, or to the error that rolled it back.
#[derive(Debug)]
pub struct Commit(oneshot::Receiver<Result<u64, StoreError>>);

impl Commit {
    /// Wraps the writer's reply channel.
    pub(crate) fn new(reply: oneshot::Receiver<Result<u64, StoreError>>) -> Commit {
        Commit(reply)
    }
}

impl Future for Commit {
    type Output = Result<u64, StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|reply| reply.unwrap_or(Err(StoreError::Closed)))
    }
}

// -- Directory (admin API) and audit log: types. --

/// A buyer's or publisher's entry as the admin API stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryEntry {
    /// `buyer` or `publisher`.
    pub kind: &'static str,
    /// Its id.
    pub id: String,
    /// The entry (a `[[buyers]]` or `[[publishers]]` table as JSON, secrets included);
    /// `None`: deleted.
    pub doc: Option<serde_json::Value>,
    /// When it was written.
    pub updated_at: UnixMs,
    /// Who wrote it (`admin:ops`).
    pub updated_by: String,
}

/// One audit log row to write: who did what to what, when.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// When.
    pub at: UnixMs,
    /// Who (`admin:ops`, from the caller's role and id).
    pub actor: String,
    /// What (`buyer.update`, `publisher.delete`, `webhook.rotate_secret`, ...).
    pub action: String,
    /// The id of what changed.
    pub target: String,
    /// What changed, as JSON (`{"before": ..., "after": ...}`), secrets redacted.
    pub detail: serde_json::Value,
}

/// An audit log row as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    /// Its number: rows are numbered in the order they were written.
    pub seq: i64,
    /// The row.
    pub record: AuditRecord,
}

/// Filters of an audit log read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// At or after.
    pub since: Option<UnixMs>,
    /// Before.
    pub until: Option<UnixMs>,
    /// An action (`buyer.pause`), or a kind of them (`buyer`: every `buyer.` action).
    pub action: Option<String>,
    /// The id changed.
    pub target: Option<String>,
    /// The page (the cursor is a row's `seq`).
    pub page: PageRequest,
}
