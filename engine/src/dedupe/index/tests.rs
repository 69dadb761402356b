//! The index with explicit instants: atomic claims, windows, eviction, buyers.

use std::sync::{Arc, Barrier};

use super::*;

const DAY: i64 = 24 * 3600 * 1000;

fn k(n: u8) -> Key {
    let mut key = [0; 16];
    key[0] = n;
    key[15] = n;
    key
}

fn new(claimed: Claimed) -> bool {
    matches!(claimed, Claimed::New { .. })
}

#[test]
fn a_key_is_a_duplicate_within_its_window_and_new_again_after_it() {
    let index = Index::new(100);
    let t0 = 1_000_000;
    assert!(new(index.claim(&[k(1)], t0, 30 * DAY)));
    let again = index.claim(&[k(1)], t0 + 30 * DAY - 1, 30 * DAY);
    assert_eq!(again, Claimed::Seen(vec![Seen { key: k(1), first_seen: t0, buyers: Vec::new() }]));
    // A duplicate does not extend the window: it still ends 30 days after the first lead.
    assert!(new(index.claim(&[k(1)], t0 + 30 * DAY, 30 * DAY)), "expired at first_seen + window");
}

#[test]
fn windows_are_per_claim_so_per_vertical() {
    let index = Index::new(100);
    // Keys carry their vertical; each claim passes its vertical's window.
    assert!(new(index.claim(&[k(1)], 0, 30 * DAY)));
    assert!(new(index.claim(&[k(2)], 0, 90 * DAY)));
    assert!(new(index.claim(&[k(1)], 31 * DAY, 30 * DAY)), "the 30-day key expired");
    assert!(!new(index.claim(&[k(2)], 31 * DAY, 90 * DAY)), "the 90-day key did not");
}

#[test]
fn a_match_on_any_key_is_a_duplicate_and_registers_nothing() {
    let index = Index::new(100);
    assert!(new(index.claim(&[k(1), k(2)], 0, DAY)));
    // Same email (k2), new phone (k3): a duplicate, and k3 is not registered by it.
    assert!(!new(index.claim(&[k(3), k(2)], 1, DAY)));
    assert!(new(index.claim(&[k(3)], 2, DAY)), "the duplicate registered nothing");
}

#[test]
fn claims_are_atomic_under_contention() {
    // Many threads claim the same phone (each with its own email) at the same instant:
    // exactly one is new, however the two keys fall in shards.
    for round in 0..50u8 {
        let index = Arc::new(Index::new(1 << 20));
        let threads = 8;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads as u8)
            .map(|t| {
                let (index, barrier) = (Arc::clone(&index), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let mut email = k(t);
                    email[1] = round;
                    email[2] = 0xee;
                    barrier.wait();
                    new(index.claim(&[k(200), email], 0, DAY))
                })
            })
            .collect();
        let winners = handles.into_iter().map(|h| h.join().expect("thread")).filter(|&w| w).count();
        assert_eq!(winners, 1, "round {round}");
    }
}

#[test]
fn a_full_index_forgets_its_oldest_entries_first() {
    let index = Index::new(3);
    for (n, at) in [(1, 10), (2, 20), (3, 30)] {
        assert_eq!(index.claim(&[k(n)], at, DAY), Claimed::New { evicted: 0 });
    }
    assert_eq!(index.claim(&[k(4)], 40, DAY), Claimed::New { evicted: 1 });
    assert_eq!(index.len(), 3);
    assert!(new(index.claim(&[k(1)], 50, DAY)), "the oldest was forgotten");
    assert!(!new(index.claim(&[k(3)], 60, DAY)), "a newer one was kept");
}

#[test]
fn sweep_forgets_expired_entries_only() {
    let index = Index::new(100);
    index.claim(&[k(1)], 0, DAY);
    index.claim(&[k(2)], 0, 2 * DAY);
    assert_eq!(index.sweep(DAY), 1);
    assert_eq!(index.len(), 1);
    assert!(!new(index.claim(&[k(2)], DAY, 2 * DAY)));
}

#[test]
fn release_undoes_a_claim_and_buyers_are_remembered_once() {
    let index = Index::new(100);
    index.claim(&[k(1), k(2)], 5, DAY);
    assert_eq!(index.release(&[k(1), k(2)], 5), 2);
    assert!(index.len() == 0 && new(index.claim(&[k(1)], 6, DAY)));
    let acme: Arc<str> = "acme".into();
    index.add_buyer(&[k(1)], &acme, 7);
    index.add_buyer(&[k(1)], &acme, 8);
    let Claimed::Seen(seen) = index.claim(&[k(1)], 9, DAY) else { panic!("a duplicate") };
    assert_eq!(seen[0].buyers, vec![acme]);
}

#[test]
fn restore_merges_rows_of_one_person_and_skips_expired_ones() {
    let index = Index::new(100);
    let now = 10 * DAY;
    index.restore(k(1), 0, DAY, Some("old".into()), now);
    index.restore(k(2), 9 * DAY, 39 * DAY, Some("acme".into()), now);
    index.restore(k(2), 9 * DAY, 39 * DAY, Some("bolt".into()), now);
    assert_eq!(index.len(), 1, "the expired row was skipped");
    let Claimed::Seen(seen) = index.claim(&[k(2)], now, 30 * DAY) else { panic!("a duplicate") };
    assert_eq!(seen[0].first_seen, 9 * DAY);
    assert_eq!(seen[0].buyers, vec![Arc::<str>::from("acme"), Arc::from("bolt")]);
}
