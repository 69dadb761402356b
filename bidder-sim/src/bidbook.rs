//! One buyer's memory of its bids, to check the posts that follow: ping id to (bid id, price,
//! answered late?, posted?). Bounded by count: past its capacity the oldest bid is forgotten,
//! so memory stays flat however long the simulator runs.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

use lead_protocol::money::Micros;

use crate::inspect::Violation;

/// Prefix of the bid ids this simulator gives: `bd_` and the buyer's bid serial.
pub const BID_ID_PREFIX: &str = "bd_";

/// A remembered bid.
#[derive(Debug, Clone, Copy)]
struct Bid {
    /// The bid id's serial.
    serial: u64,
    /// The price bid.
    price: Micros,
    /// Answered after the deadline: the engine must not post it.
    late: bool,
    /// Already posted once.
    posted: bool,
}

/// The bids of one buyer, oldest forgotten first.
#[derive(Debug)]
pub struct BidBook {
    /// Keyed by a hash of the ping id (64 bits, randomly keyed per process: collisions among
    /// a bounded set are negligible, and no ping id string is kept).
    bids: HashMap<u64, Bid>,
    /// `(key, serial)` in insertion order, for eviction.
    order: VecDeque<(u64, u64)>,
    capacity: usize,
    hasher: RandomState,
}

impl BidBook {
    /// A book that remembers at most `capacity` bids (at least one).
    pub fn new(capacity: usize) -> BidBook {
        BidBook { bids: HashMap::new(), order: VecDeque::new(), capacity: capacity.max(1), hasher: RandomState::new() }
    }

    /// Remembers a bid given for `ping_id`.
    pub fn record(&mut self, ping_id: &str, serial: u64, price: Micros, late: bool) {
        let key = self.hasher.hash_one(ping_id);
        self.bids.insert(key, Bid { serial, price, late, posted: false });
        self.order.push_back((key, serial));
        while self.order.len() > self.capacity {
            let Some((old_key, old_serial)) = self.order.pop_front() else { break };
            // The key may have been bid on again since: forget only that old bid.
            if let Entry::Occupied(entry) = self.bids.entry(old_key)
                && entry.get().serial == old_serial
            {
                entry.remove();
            }
        }
    }

    /// Checks a post against the bid for its ping, and marks that bid posted.
    pub fn check_post(&mut self, ping_id: &str, bid_id: Option<&str>, price: Micros) -> Result<(), Violation> {
        let key = self.hasher.hash_one(ping_id);
        let bid = self.bids.get_mut(&key).ok_or(Violation::PostWithoutBid)?;
        if bid.posted {
            return Err(Violation::DuplicatePost);
        }
        bid.posted = true;
        let mut serial = itoa::Buffer::new();
        let expected = serial.format(bid.serial);
        if bid_id.and_then(|id| id.strip_prefix(BID_ID_PREFIX)) != Some(expected) {
            return Err(Violation::WrongBidId);
        }
        if bid.late {
            return Err(Violation::PostForLateBid);
        }
        if price != bid.price {
            return Err(Violation::WrongPrice);
        }
        Ok(())
    }

    /// Bids remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.bids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRICE: Micros = Micros::from_units(12);

    #[test]
    fn a_post_must_match_its_bid_once() {
        let mut book = BidBook::new(10);
        book.record("pg_1", 7, PRICE, false);
        book.record("pg_late", 8, PRICE, true);
        assert_eq!(book.check_post("pg_2", Some("bd_7"), PRICE), Err(Violation::PostWithoutBid));
        assert_eq!(book.check_post("pg_1", Some("bd_7"), Micros::from_units(11)), Err(Violation::WrongPrice));
        assert_eq!(book.check_post("pg_1", Some("bd_7"), PRICE), Err(Violation::DuplicatePost));
        book.record("pg_3", 9, PRICE, false);
        assert_eq!(book.check_post("pg_3", Some("bd_09"), PRICE), Err(Violation::WrongBidId));
        book.record("pg_4", 10, PRICE, false);
        assert_eq!(book.check_post("pg_4", None, PRICE), Err(Violation::WrongBidId));
        book.record("pg_5", 11, PRICE, false);
        assert_eq!(book.check_post("pg_5", Some("bd_11"), PRICE), Ok(()));
        assert_eq!(book.check_post("pg_late", Some("bd_8"), PRICE), Err(Violation::PostForLateBid));
    }

    #[test]
    fn memory_is_bounded_and_forgets_the_oldest() {
        let mut book = BidBook::new(3);
        for serial in 0..1_000 {
            book.record(&format!("pg_{serial}"), serial, PRICE, false);
            assert!(book.len() <= 3 && book.order.len() <= 3);
        }
        assert_eq!(book.check_post("pg_996", Some("bd_996"), PRICE), Err(Violation::PostWithoutBid));
        assert_eq!(book.check_post("pg_997", Some("bd_997"), PRICE), Ok(()));
        assert_eq!(book.check_post("pg_999", Some("bd_999"), PRICE), Ok(()));
    }

    #[test]
    fn a_ping_id_bid_on_again_survives_the_eviction_of_its_first_bid() {
        let mut book = BidBook::new(2);
        book.record("pg_1", 1, PRICE, false);
        book.record("pg_1", 2, PRICE, false);
        book.record("pg_2", 3, PRICE, false);
        assert_eq!(book.check_post("pg_1", Some("bd_2"), PRICE), Ok(()));
    }
}
