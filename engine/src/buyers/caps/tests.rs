use std::sync::atomic::AtomicUsize;

use proptest::prelude::*;

use super::*;
use crate::config::Period;

const HOUR: UnixMs = 3_600_000;
/// 2026-11-24T00:00:00Z.
const T0: UnixMs = 1_795_478_400_000;

fn count(period: Period, max: i64) -> Limit {
    Limit { period, spend: false, max }
}

fn spend(period: Period, max: i64) -> Limit {
    Limit { period, spend: true, max }
}

fn ledger(limits: Vec<Limit>) -> CapLedger {
    CapLedger::new("acme".into(), None, Tz::UTC, 80, limits, Micros(1))
}

#[test]
fn invariant_5_caps_hold_under_concurrency() {
    // 8 threads race for a daily cap of 50; a third of their posts are rejected and give the
    // reservation back. They keep trying until the cap is sold out: exactly 50 sell, never more.
    let ledger = ledger(vec![count(Period::Day, 50)]);
    let sold = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..8 {
            let (ledger, sold) = (&ledger, &sold);
            s.spawn(move || {
                for i in 0.. {
                    if ledger.reserve(Micros(1), T0) {
                        if (t + i) % 3 == 0 {
                            ledger.release(Micros(1));
                        } else {
                            ledger.commit(Micros(1), T0, &mut Vec::new());
                            sold.fetch_add(1, Ordering::Relaxed);
                        }
                    } else if ledger.usage(T0)[0].1 == 50 {
                        break;
                    }
                }
            });
        }
    });
    assert_eq!(sold.load(Ordering::Relaxed), 50);
    assert_eq!(ledger.usage(T0), vec![(count(Period::Day, 50), 50)]);
    assert!(!ledger.has_room(T0));
}

#[test]
fn a_budget_with_less_left_than_the_floor_is_full() {
    let ledger =
        CapLedger::new("acme".into(), None, Tz::UTC, 80, vec![spend(Period::Day, 30_000_000)], Micros(8_000_000));
    for _ in 0..3 {
        assert!(ledger.has_room(T0));
        assert!(ledger.reserve(Micros(9_000_000), T0));
        ledger.commit(Micros(9_000_000), T0, &mut Vec::new());
    }
    // 27.00 of 30.00 spent: 3.00 left, under the 8.00 floor: not worth a ping.
    assert!(!ledger.has_room(T0));
    let tiny = CapLedger::new("acme".into(), None, Tz::UTC, 80, vec![spend(Period::Day, 5_000_000)], Micros(8_000_000));
    assert!(!tiny.has_room(T0), "a budget under the floor never has room");
}

#[test]
fn a_cap_of_zero_is_full_from_the_start() {
    let ledger = ledger(vec![count(Period::Day, 0)]);
    assert!(!ledger.has_room(T0));
    assert!(!ledger.reserve(Micros(1), T0));
}

#[test]
fn a_reservation_counts_until_released() {
    let ledger = ledger(vec![count(Period::Hour, 1)]);
    assert!(ledger.has_room(T0));
    assert!(ledger.reserve(Micros(1), T0));
    assert!(!ledger.has_room(T0), "the only lead is out on a post");
    assert!(!ledger.reserve(Micros(1), T0));
    ledger.release(Micros(1));
    assert!(ledger.has_room(T0));
    assert!(ledger.reserve(Micros(1), T0));
}

#[test]
fn a_full_window_opens_again_when_the_next_one_starts() {
    let ledger = ledger(vec![count(Period::Hour, 2)]);
    for _ in 0..2 {
        assert!(ledger.reserve(Micros(1), T0 + 10));
        ledger.commit(Micros(1), T0 + 10, &mut Vec::new());
    }
    assert!(!ledger.has_room(T0 + HOUR - 1));
    assert!(!ledger.reserve(Micros(1), T0 + HOUR - 1));
    assert!(ledger.has_room(T0 + HOUR));
    assert!(ledger.reserve(Micros(1), T0 + HOUR));
}

#[test]
fn budgets_count_money_and_refuse_a_price_that_does_not_fit() {
    let ledger = ledger(vec![spend(Period::Day, 30_000_000)]);
    assert!(ledger.reserve(Micros(20_000_000), T0));
    ledger.commit(Micros(20_000_000), T0, &mut Vec::new());
    assert!(!ledger.reserve(Micros(12_000_000), T0), "20 + 12 > 30");
    assert!(ledger.has_room(T0), "a cheaper lead still fits");
    assert!(ledger.reserve(Micros(10_000_000), T0));
    ledger.commit(Micros(10_000_000), T0, &mut Vec::new());
    assert!(!ledger.has_room(T0));
}

#[test]
fn threshold_and_full_events_fire_once_per_window() {
    let ledger = ledger(vec![count(Period::Hour, 5)]);
    let mut events = Vec::new();
    let sell = |now, events: &mut Vec<CapEvent>| {
        assert!(ledger.reserve(Micros(1), now));
        ledger.commit(Micros(1), now, events);
    };
    for _ in 0..5 {
        sell(T0, &mut events);
    }
    let kinds: Vec<(bool, i64)> = events.iter().map(|e| (e.reached, e.used)).collect();
    assert_eq!(kinds, [(false, 4), (true, 5)], "80% at 4 of 5, full at 5, each once");
    assert_eq!(events[0].window, (T0, T0 + HOUR));
    events.clear();
    for _ in 0..4 {
        sell(T0 + HOUR, &mut events);
    }
    assert_eq!(events.len(), 1, "the next window warns again");
    assert_eq!(events[0].window, (T0 + HOUR, T0 + 2 * HOUR));
}

#[test]
fn restored_sales_count_in_their_window_and_do_not_warn_again() {
    let ledger = ledger(vec![count(Period::Day, 10), count(Period::Hour, 3)]);
    let now = T0 + 5 * HOUR + 10;
    ledger.restore(Micros(1), T0 + HOUR, now); // today, an earlier hour
    for _ in 0..3 {
        ledger.restore(Micros(1), T0 + 5 * HOUR, now); // this hour
    }
    ledger.restore(Micros(1), T0 - 1, now); // yesterday: not counted
    assert_eq!(ledger.usage(now), vec![(count(Period::Day, 10), 4), (count(Period::Hour, 3), 3)]);
    assert!(!ledger.has_room(now), "this hour's cap is full after the restart");
    let mut events = Vec::new();
    assert!(ledger.reserve(Micros(1), T0 + 6 * HOUR));
    ledger.commit(Micros(1), T0 + 6 * HOUR, &mut events);
    assert!(events.is_empty(), "5 of 10 today: below the threshold; the new hour: 1 of 3");
}

#[test]
fn per_publisher_caps_reserve_both_or_neither() {
    let config: crate::config::Config = crate::config::Config::from_toml(
        r#"
[[publishers]]
id = "pub1"
key_sha256 = "0000000000000000000000000000000000000000000000000000000000000001"
[[buyers]]
id = "acme"
ping_url = "http://127.0.0.1:1/ping"
post_url = "http://127.0.0.1:1/post"
verticals = ["auto_insurance"]
caps = { daily = 3, publishers = { pub1 = { daily = 1 } } }
"#,
    )
    .expect("config");
    let caps = BuyerCaps::from_config(&config.buyers[0], &"acme".into(), Micros(1)).expect("caps");
    let hold = caps.reserve("pub1", Micros(1), T0).expect("room");
    assert!(!caps.has_room("pub1", T0));
    assert!(caps.has_room("pub2", T0), "other publishers still have the buyer's room");
    assert!(caps.reserve("pub1", Micros(1), T0).is_none());
    hold.commit(T0, &mut Vec::new());
    // pub1's cap is full: a failed reserve must not keep the buyer-wide reservation.
    assert!(caps.reserve("pub1", Micros(1), T0).is_none());
    let a = caps.reserve("pub2", Micros(1), T0).expect("room for pub2");
    drop(a); // unsettled: released
    let b = caps.reserve("pub2", Micros(1), T0).expect("room again");
    b.commit(T0, &mut Vec::new());
    assert!(caps.reserve("pub2", Micros(1), T0).is_some(), "3rd of the buyer's 3");

    // Rebuilt from the store, the per-publisher cap is full again for pub1 only.
    let rebuilt = BuyerCaps::from_config(&config.buyers[0], &"acme".into(), Micros(1)).expect("caps");
    rebuilt.restore("pub1", Micros(1), T0, T0 + 1);
    assert!(!rebuilt.has_room("pub1", T0 + 1));
    assert!(rebuilt.has_room("pub2", T0 + 1));
}

proptest! {
    /// Any interleaving of reserve, commit and release over a few windows: used + reserved
    /// never passes a limit, and `has_room` is false whenever a window is full.
    #[test]
    fn no_sequence_exceeds_a_cap(ops in prop::collection::vec((0u8..3, 1i64..5, 0i64..4), 0..200)) {
        let limits = vec![count(Period::Hour, 7), spend(Period::Day, 20)];
        let ledger = ledger(limits.clone());
        let mut out: Vec<Micros> = Vec::new();
        let mut now = T0;
        for (op, price, hours) in ops {
            now += hours * HOUR / 3;
            match op {
                0 => if ledger.reserve(Micros(price), now) { out.push(Micros(price)); },
                1 => if let Some(p) = out.pop() { ledger.commit(p, now, &mut Vec::new()); },
                _ => if let Some(p) = out.pop() { ledger.release(p); },
            }
            let room = ledger.has_room(now);
            let windows = ledger.windows.lock();
            for (limit, w) in limits.iter().zip(windows.iter()) {
                let current = (w.start..w.end).contains(&now);
                if current {
                    prop_assert!(w.used + w.reserved <= limit.max, "{limit:?} used {} reserved {}", w.used, w.reserved);
                    if w.used + w.reserved >= limit.max {
                        prop_assert!(!room, "a full window must stop pings");
                    }
                }
                prop_assert!(w.used <= limit.max);
            }
        }
    }
}
