//! The held pings' rules with a paused clock: a ping is claimed once, replayed to the same
//! body, refused to another publisher, expired after its hold, forgotten later, and the map
//! never grows past its capacity.

use super::*;
use crate::auction::{Auctioneer, Offer, Settings};
use crate::buyers::Registry;
use crate::config::Config;
use crate::transport::{Exchange, MemoryTransport, Reply};

const HOLD: Duration = Duration::from_secs(60);

fn ping() -> Arc<Ping> {
    let body = br#"{"vertical": "auto_insurance", "attributes": {"zip": "98004", "state": "WA"}}"#;
    Arc::new(crate::api::validate::ping(body).unwrap_or_else(|e| panic!("valid ping: {e:?}")))
}

/// A ping phase's bids (none: no buyer is configured; the map does not look inside).
async fn bids() -> Box<Held> {
    let config = Config::from_toml("").expect("an empty config is valid");
    let transport = MemoryTransport::new(|_: &Exchange| Reply { status: 204, body: Bytes::new() });
    let auctioneer = Auctioneer::new(transport, Settings::from_config(&config.auction));
    let registry = Arc::new(Registry::from_config(&config));
    Box::new(auctioneer.ping(registry, ping().profile(), Offer::default(), Instant::now()).await)
}

fn map(capacity: usize) -> Arc<HeldPings> {
    Arc::new(HeldPings::new(capacity, metrics::gauge!("test_pings_held")))
}

/// Holds a ping of publisher 1 until `HOLD` from now.
async fn held(map: &Arc<HeldPings>) -> PingId {
    let reservation = map.reserve(Instant::now()).expect("room");
    let id = PingId::new();
    let pinged = Pinged { ping: ping(), held: bids().await, shield: None };
    map.hold(reservation, id, 1, Instant::now() + HOLD, pinged);
    id
}

fn code(result: Result<Claimed, ApiError>) -> &'static str {
    match result {
        Ok(Claimed::Fresh(..)) => "fresh",
        Ok(Claimed::Replay(_)) => "replay",
        Err(error) => error.code,
    }
}

#[test]
fn ping_ids_round_trip_and_nothing_else_parses() {
    let id = PingId::new();
    let text = id.to_string();
    assert!(text.starts_with("pp_") && text.len() == 35, "{text}");
    assert_eq!(PingId::parse(&text), Some(id));
    for bad in [
        "",
        "pp_",
        "ld_0193f6a3c2b07d51a4e1f0c9d2b8e7a6",
        "pp_0193F6A3C2B07D51A4E1F0C9D2B8E7A6",
        "pp_+193f6a3c2b07d51a4e1f0c9d2b8e7a6",
    ] {
        assert_eq!(PingId::parse(bad), None, "{bad}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_ping_is_claimed_once_and_its_answer_replayed_to_the_same_body_only() {
    let map = map(10);
    let id = held(&map).await.to_string();
    let now = Instant::now();
    assert_eq!(code(map.claim(2, &id, [1; 32], now)), "unknown_ping", "another publisher's ping");
    let Ok(Claimed::Fresh(_bids, claim)) = map.claim(1, &id, [1; 32], now) else { panic!("first claim") };
    assert_eq!(code(map.claim(1, &id, [1; 32], now)), "post_in_progress");
    claim.complete(Bytes::from_static(b"sold"));
    assert!(matches!(map.claim(1, &id, [1; 32], now), Ok(Claimed::Replay(answer)) if answer == "sold"));
    assert_eq!(code(map.claim(1, &id, [2; 32], now)), "ping_already_posted");
    assert_eq!(code(map.claim(1, &PingId::new().to_string(), [1; 32], now)), "unknown_ping");
    assert_eq!(code(map.claim(1, "not an id", [1; 32], now)), "unknown_ping");
}

#[tokio::test(start_paused = true)]
async fn a_released_claim_can_be_posted_again_and_a_dropped_one_never() {
    let map = map(10);
    let id = held(&map).await.to_string();
    let now = Instant::now();
    let Ok(Claimed::Fresh(bids, claim)) = map.claim(1, &id, [1; 32], now) else { panic!("claim") };
    claim.release(bids);
    let Ok(Claimed::Fresh(_bids, claim)) = map.claim(1, &id, [2; 32], now) else { panic!("claimed again") };
    drop(claim);
    assert_eq!(code(map.claim(1, &id, [2; 32], now)), "unknown_ping", "a failed post never leaves bids to sell twice");
    assert_eq!(map.used.load(Ordering::Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn a_ping_expires_after_its_hold_then_is_forgotten() {
    let map = map(10);
    let (expired, swept) = (held(&map).await.to_string(), held(&map).await.to_string());
    tokio::time::advance(HOLD).await;
    assert_eq!(code(map.claim(1, &expired, [1; 32], Instant::now())), "ping_expired");
    map.sweep(Instant::now());
    assert_eq!(code(map.claim(1, &swept, [1; 32], Instant::now())), "ping_expired");
    assert!(map.entries.iter().all(|e| matches!(e.state, State::Expired)), "expired pings drop their bids");
    tokio::time::advance(REMEMBERED).await;
    map.sweep(Instant::now());
    assert_eq!(code(map.claim(1, &expired, [1; 32], Instant::now())), "unknown_ping");
    assert!(map.entries.is_empty());
    assert_eq!(map.used.load(Ordering::Relaxed), 0);
    assert_eq!(Arc::strong_count(&map), 1, "held entries keep no reference to the map");
}

#[tokio::test(start_paused = true)]
async fn the_map_never_holds_more_than_its_capacity() {
    let map = map(2);
    held(&map).await;
    let no_bid = map.reserve(Instant::now()).expect("room for a second");
    assert!(map.reserve(Instant::now()).is_none(), "full while a ping runs");
    drop(no_bid);
    held(&map).await;
    assert!(map.reserve(Instant::now()).is_none(), "full");
    // A claimed ping keeps its room, even past its hold, until its post is done.
    let now = Instant::now();
    let Ok(Claimed::Fresh(_bids, claim)) = map.claim(1, &held_id(&map), [1; 32], now) else { panic!("claim") };
    tokio::time::advance(HOLD + Duration::from_millis(1)).await;
    let room = map.reserve(Instant::now()).expect("an expired ping makes room");
    tokio::time::advance(EVICT_EVERY).await;
    assert!(map.reserve(Instant::now()).is_none(), "the claimed one does not");
    assert_eq!(map.entries.len() + 1, map.used.load(Ordering::Relaxed));
    drop((room, claim));
    assert_eq!(map.used.load(Ordering::Relaxed), 0);
}

/// The id of a ping still held.
fn held_id(map: &HeldPings) -> String {
    map.entries.iter().find(|e| matches!(e.state, State::Held(_))).map(|e| e.key().to_string()).expect("one is held")
}
