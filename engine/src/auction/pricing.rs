//! What the winner of a post pays. First price: its bid. Second price: just enough to have
//! outranked the next bid down the ranking (that bid's score over the winner's weight) plus
//! the step, never below the winner's floor and never above its own bid; with no bid below
//! it, the floor if there is one, else its bid (no competition and no reserve: no discount).
//! A plain function of its inputs; in a cascade each buyer posted to is priced against the
//! bids ranked below it. A fixed-price buyer pays its fixed price, under either pricing.

use super::rank::Candidate;
use super::{Settings, fanout};
use crate::buyers::Buyer;
use crate::config::Pricing;
use crate::protocol::money::Micros;

/// The price the bid at `rank` of `ranked` pays if it buys: a fixed-price buyer its fixed
/// price, any other the [`clearing_price`] over its effective floor (its own, or the lead's
/// vertical floor `vertical_floor` if higher).
pub fn price_at(
    settings: &Settings,
    ranked: &[Candidate],
    rank: usize,
    buyer: &Buyer,
    vertical_floor: Micros,
) -> Micros {
    if buyer.fixed_price.is_some() {
        return ranked[rank].price;
    }
    let floor = fanout::limits(buyer, vertical_floor).floor;
    clearing_price(settings.pricing, settings.price_step, ranked, rank, floor)
}

/// The price the candidate at `rank` of `ranked` pays, with `floor` its effective floor.
pub fn clearing_price(pricing: Pricing, step: Micros, ranked: &[Candidate], rank: usize, floor: Micros) -> Micros {
    let winner = ranked[rank];
    if pricing == Pricing::First {
        return winner.price;
    }
    let Some(next) = ranked.get(rank + 1) else {
        return if floor.is_positive() { floor.min(winner.price) } else { winner.price };
    };
    // Price needed to reach the next score: next.score * price / score, rounded up.
    let needed = if winner.score.0 <= 0 {
        winner.price.0
    } else {
        let (num, den) = (i128::from(next.score.0) * i128::from(winner.price.0), i128::from(winner.score.0));
        i64::try_from((num + den - 1) / den).unwrap_or(winner.price.0)
    };
    Micros(needed.saturating_add(step.0).max(floor.0).min(winner.price.0))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::auction::rank::{rank, score};

    const CENT: Micros = Micros(10_000);

    fn bid(units_cents: i64, weight: f64, ping: usize) -> Candidate {
        let price = Micros(units_cents * 10_000);
        Candidate { price, score: score(price, weight), answered_at: Duration::ZERO, ping, turn: 0 }
    }

    #[test]
    fn first_price_pays_the_bid() {
        let ranked = [bid(1500, 1.0, 0), bid(1000, 1.0, 1)];
        assert_eq!(clearing_price(Pricing::First, CENT, &ranked, 0, Micros(0)), Micros(15_000_000));
    }

    #[test]
    fn second_price_pays_the_next_bid_plus_the_step() {
        let ranked = [bid(1500, 1.0, 0), bid(1000, 1.0, 1), bid(500, 1.0, 2)];
        assert_eq!(clearing_price(Pricing::Second, CENT, &ranked, 0, Micros(0)), Micros(10_010_000));
        // Down the cascade, each is priced against the bid below it.
        assert_eq!(clearing_price(Pricing::Second, CENT, &ranked, 1, Micros(0)), Micros(5_010_000));
        // The last: its floor, or its bid without one.
        assert_eq!(clearing_price(Pricing::Second, CENT, &ranked, 2, Micros(2_000_000)), Micros(2_000_000));
        assert_eq!(clearing_price(Pricing::Second, CENT, &ranked, 2, Micros(0)), Micros(5_000_000));
    }

    #[test]
    fn second_price_respects_the_floor_and_the_bid() {
        let ranked = [bid(1500, 1.0, 0), bid(1000, 1.0, 1)];
        assert_eq!(clearing_price(Pricing::Second, CENT, &ranked, 0, Micros(12_000_000)), Micros(12_000_000));
        let tie = [bid(1000, 1.0, 0), bid(1000, 1.0, 1)];
        assert_eq!(
            clearing_price(Pricing::Second, CENT, &tie, 0, Micros(0)),
            Micros(10_000_000),
            "never above the bid"
        );
    }

    #[test]
    fn weighted_second_price_pays_what_it_takes_to_outrank() {
        // 9.00 at weight 1.2 (score 10.80) beats 10.00 at weight 1 (score 10.00): it needed
        // 10.00 / 1.2 = 8.3334, plus a cent.
        let mut ranked = [bid(900, 1.2, 0), bid(1000, 1.0, 1)];
        rank(&mut ranked);
        assert_eq!(ranked[0].ping, 0);
        assert_eq!(clearing_price(Pricing::Second, CENT, &ranked, 0, Micros(0)), Micros(8_343_334));
    }

    proptest! {
        #[test]
        fn second_price_is_between_the_floor_and_the_bid(
            raw in prop::collection::vec((1i64..100_000, 50u32..200), 1..8),
            floor in 0i64..1_000,
        ) {
            let mut ranked: Vec<Candidate> =
                raw.iter().enumerate().map(|(i, (c, w))| bid(*c, f64::from(*w) / 100.0, i)).collect();
            rank(&mut ranked);
            for r in 0..ranked.len() {
                let floor = Micros(floor * 10_000).min(ranked[r].price);
                let price = clearing_price(Pricing::Second, CENT, &ranked, r, floor);
                prop_assert!(price <= ranked[r].price);
                prop_assert!(price >= floor);
            }
        }
    }
}
