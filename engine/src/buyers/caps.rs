//! Caps: how many leads a buyer takes and how much it spends per window, overall and per
//! publisher, never exceeded under any concurrency.
//!
//! Before the ping, [`BuyerCaps::has_room`] is one atomic load: a buyer whose cap is full is
//! not pinged. Before a post, [`BuyerCaps::reserve`] takes the lead and its price out of every
//! window the buyer (and the buyer for this publisher) counts in, under a short lock per
//! ledger, or fails (the cascade skips the buyer); the post's answer then either commits the
//! reservation (a sale) or releases it. Reserving before the post is what makes the limit hold:
//! two auctions cannot both post the last lead of a cap. A [`CapHold`] that is dropped without
//! being settled releases itself, so a failed task cannot leak a reservation.
//!
//! Each window remembers whether its threshold and full events were emitted, once per window.
//! At start the ledgers are rebuilt from the store's sales ([`BuyerCaps::restore`]).

mod window;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono_tz::Tz;
use parking_lot::Mutex;

pub use window::window;

use crate::config::{BuyerConfig, Limit};
use crate::protocol::money::Micros;
use crate::store::UnixMs;

/// A cap event to emit: `buyer.cap_threshold_reached` or `buyer.cap_reached`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapEvent {
    /// Full (`true`) or past the threshold (`false`).
    pub reached: bool,
    /// The buyer.
    pub buyer_id: Arc<str>,
    /// Set for a per-publisher cap.
    pub publisher_id: Option<Arc<str>>,
    /// Which limit.
    pub limit: Limit,
    /// Used in this window, after the sale.
    pub used: i64,
    /// The window.
    pub window: (UnixMs, UnixMs),
}

/// One set of limits (a buyer's own, or a buyer's for one publisher) and its windows.
#[derive(Debug)]
pub struct CapLedger {
    buyer_id: Arc<str>,
    publisher_id: Option<Arc<str>>,
    tz: Tz,
    threshold_percent: u8,
    limits: Box<[Limit]>,
    /// Until when some window is full (0: none is): the lock-free check before a ping.
    full_until: AtomicI64,
    /// The cheapest lead the buyer can buy (its floor, at least one micro-unit): a budget with
    /// less than this left is full.
    min_spend: i64,
    /// A limit too small for even one lead (a count of 0, a budget under `min_spend`): full in
    /// every window, from the start.
    never_room: bool,
    windows: Mutex<Vec<Window>>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Window {
    start: UnixMs,
    end: UnixMs,
    /// Sold in this window (leads or micro-units).
    used: i64,
    /// Taken by posts in flight (carried over when the window rolls: their posts are still out).
    reserved: i64,
    warned: bool,
    reached: bool,
}

impl CapLedger {
    /// A ledger over `limits` in zone `tz`, for a buyer whose cheapest lead costs `floor`.
    pub fn new(
        buyer_id: Arc<str>,
        publisher_id: Option<Arc<str>>,
        tz: Tz,
        threshold_percent: u8,
        limits: Vec<Limit>,
        floor: Micros,
    ) -> CapLedger {
        let windows = Mutex::new(vec![Window::default(); limits.len()]);
        let min_spend = floor.0.max(1);
        let never_room = limits.iter().any(|l| l.max < smallest(l, min_spend));
        CapLedger {
            buyer_id,
            publisher_id,
            tz,
            threshold_percent,
            limits: limits.into(),
            full_until: AtomicI64::new(0),
            min_spend,
            never_room,
            windows,
        }
    }

    /// False while some window is known to be full.
    pub fn has_room(&self, now: UnixMs) -> bool {
        !self.never_room && now >= self.full_until.load(Ordering::Acquire)
    }

    /// Takes one lead at `price` out of every window, or nothing if any would go over.
    pub fn reserve(&self, price: Micros, now: UnixMs) -> bool {
        let mut windows = self.windows.lock();
        self.roll(&mut windows, now);
        let fits = self
            .limits
            .iter()
            .zip(windows.iter())
            .all(|(limit, w)| w.used.saturating_add(w.reserved).saturating_add(amount(limit, price)) <= limit.max);
        if fits {
            for (limit, w) in self.limits.iter().zip(windows.iter_mut()) {
                w.reserved = w.reserved.saturating_add(amount(limit, price));
            }
        }
        self.update_full(&windows);
        fits
    }

    /// Gives back a reservation whose post did not sell.
    pub fn release(&self, price: Micros) {
        let mut windows = self.windows.lock();
        for (limit, w) in self.limits.iter().zip(windows.iter_mut()) {
            w.reserved = w.reserved.saturating_sub(amount(limit, price)).max(0);
        }
        self.update_full(&windows);
    }

    /// Turns a reservation into a sale at `now`; pushes the threshold and full events this sale
    /// crossed (once per window).
    pub fn commit(&self, price: Micros, now: UnixMs, events: &mut Vec<CapEvent>) {
        let mut windows = self.windows.lock();
        self.roll(&mut windows, now);
        for (limit, w) in self.limits.iter().zip(windows.iter_mut()) {
            let amount = amount(limit, price);
            w.reserved = w.reserved.saturating_sub(amount).max(0);
            w.used = w.used.saturating_add(amount);
            let event = |reached| CapEvent {
                reached,
                buyer_id: Arc::clone(&self.buyer_id),
                publisher_id: self.publisher_id.clone(),
                limit: *limit,
                used: w.used,
                window: (w.start, w.end),
            };
            if !w.warned && self.past_threshold(limit, w.used) {
                w.warned = true;
                events.push(event(false));
            }
            if !w.reached && w.used >= limit.max {
                w.reached = true;
                events.push(event(true));
            }
        }
        self.update_full(&windows);
    }

    /// Counts a sale found in the store at start (`at`: when it was made). Events for windows
    /// already past their threshold are taken as emitted before the restart.
    pub fn restore(&self, price: Micros, at: UnixMs, now: UnixMs) {
        let mut windows = self.windows.lock();
        self.roll(&mut windows, now);
        for (limit, w) in self.limits.iter().zip(windows.iter_mut()) {
            if (w.start..w.end).contains(&at) {
                w.used = w.used.saturating_add(amount(limit, price));
                w.warned |= self.past_threshold(limit, w.used);
                w.reached |= w.used >= limit.max;
            }
        }
        self.update_full(&windows);
    }

    /// Used and limit per cap key, for metrics and the API.
    pub fn usage(&self, now: UnixMs) -> Vec<(Limit, i64)> {
        let mut windows = self.windows.lock();
        self.roll(&mut windows, now);
        self.limits.iter().zip(windows.iter()).map(|(limit, w)| (*limit, w.used)).collect()
    }

    fn past_threshold(&self, limit: &Limit, used: i64) -> bool {
        i128::from(used) * 100 >= i128::from(limit.max) * i128::from(self.threshold_percent)
    }

    /// Moves every window whose time is over to the one holding `now`.
    fn roll(&self, windows: &mut [Window], now: UnixMs) {
        for (limit, w) in self.limits.iter().zip(windows.iter_mut()) {
            if now >= w.end || w.end == 0 {
                let (start, end) = window(limit.period, self.tz, now);
                *w = Window { start, end, reserved: w.reserved, ..Window::default() };
            }
        }
    }

    /// Full: a window without room for even the cheapest lead (no lead left, or less budget
    /// left than the buyer's floor).
    fn update_full(&self, windows: &[Window]) {
        let until = self
            .limits
            .iter()
            .zip(windows)
            .filter(|(limit, w)| {
                w.used.saturating_add(w.reserved).saturating_add(smallest(limit, self.min_spend)) > limit.max
            })
            .map(|(_, w)| w.end)
            .max()
            .unwrap_or(0);
        self.full_until.store(until, Ordering::Release);
    }
}

/// The least one lead can count for against `limit`.
fn smallest(limit: &Limit, min_spend: i64) -> i64 {
    if limit.spend { min_spend } else { 1 }
}

/// What a sale at `price` counts for against `limit`.
fn amount(limit: &Limit, price: Micros) -> i64 {
    if limit.spend { price.0.max(0) } else { 1 }
}

/// A buyer's caps: its own and per publisher.
#[derive(Debug)]
pub struct BuyerCaps {
    own: Option<CapLedger>,
    /// Sorted by publisher id: a binary search costs less than hashing the id for every buyer
    /// of every lead (a buyer caps a handful of publishers separately, not thousands).
    publishers: Vec<(Box<str>, CapLedger)>,
}

impl BuyerCaps {
    /// The caps of a configured buyer; `None` when it has none.
    /// `floor`: the buyer's effective floor (a budget with less left is full).
    pub fn from_config(buyer: &BuyerConfig, id: &Arc<str>, floor: Micros) -> Option<BuyerCaps> {
        let caps = buyer.caps.as_ref()?;
        let zone = caps.timezone.as_deref().or(buyer.schedule.as_ref().map(|s| s.timezone.name()));
        // Validated at load; UTC only if the schedule's zone is bad, which its own check refuses.
        let tz = zone.and_then(|z| z.parse().ok()).unwrap_or(Tz::UTC);
        let ledger = |publisher: Option<&str>, limits: Vec<Limit>| {
            CapLedger::new(Arc::clone(id), publisher.map(Into::into), tz, caps.threshold(), limits, floor)
        };
        let own = caps.limits();
        Some(BuyerCaps {
            own: (!own.is_empty()).then(|| ledger(None, own)),
            // A BTreeMap iterates in key order: the list comes out sorted.
            publishers: caps.publishers.iter().map(|(p, c)| (p.as_str().into(), ledger(Some(p), c.limits()))).collect(),
        })
    }

    /// Whether the buyer may be pinged for `publisher`'s lead: no cap it counts in is full.
    pub fn has_room(&self, publisher: &str, now: UnixMs) -> bool {
        self.own.as_ref().is_none_or(|l| l.has_room(now))
            && self.for_publisher(publisher).is_none_or(|l| l.has_room(now))
    }

    fn for_publisher(&self, publisher: &str) -> Option<&CapLedger> {
        if self.publishers.is_empty() {
            return None;
        }
        let found = self.publishers.binary_search_by(|(p, _)| (**p).cmp(publisher));
        found.ok().map(|i| &self.publishers[i].1)
    }

    /// Reserves a post at `price` in the buyer's caps and its caps for `publisher`, both or
    /// neither; `None`: a cap would go over, skip this buyer.
    pub fn reserve<'a>(&'a self, publisher: &str, price: Micros, now: UnixMs) -> Option<CapHold<'a>> {
        let per_publisher = self.for_publisher(publisher);
        let ledgers = [self.own.as_ref(), per_publisher];
        for (n, ledger) in ledgers.iter().enumerate() {
            if let Some(ledger) = ledger
                && !ledger.reserve(price, now)
            {
                ledgers[..n].iter().flatten().for_each(|l| l.release(price));
                return None;
            }
        }
        Some(CapHold { ledgers, price, settled: false })
    }

    /// Counts a sale found in the store at start.
    pub fn restore(&self, publisher: &str, price: Micros, at: UnixMs, now: UnixMs) {
        self.own.iter().chain(self.for_publisher(publisher)).for_each(|l| l.restore(price, at, now));
    }
}

/// A reservation for one post: commit it on a sale; dropping it unsettled releases it.
#[derive(Debug)]
pub struct CapHold<'a> {
    ledgers: [Option<&'a CapLedger>; 2],
    price: Micros,
    settled: bool,
}

impl CapHold<'_> {
    /// The post sold: the reservation becomes a sale; cap events crossed go to `events`.
    pub fn commit(mut self, now: UnixMs, events: &mut Vec<CapEvent>) {
        self.settled = true;
        self.ledgers.iter().flatten().for_each(|l| l.commit(self.price, now, events));
    }
}

impl Drop for CapHold<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.ledgers.iter().flatten().for_each(|l| l.release(self.price));
        }
    }
}

#[cfg(test)]
mod tests;
