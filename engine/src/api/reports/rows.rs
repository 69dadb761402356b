//! Report rows as answered: the store's counts and sums with their rates (numbers rounded to
//! 4 decimals, 0 when the denominator is 0), averages and net amounts (decimal strings). An
//! admin's rows split the revenue into the publishers' payout and the broker's margin; a
//! buyer's own row leaves that split out, a publisher's own row shows its payout only.

use serde::Serialize;

use crate::protocol::money::Micros;
use crate::store::reports::{BuyerFigures, PublisherFigures};

/// One buyer's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct BuyerRow {
    buyer_id: String,
    /// Pings sent (a fixed-price buyer is offered leads without a ping: see `fixed_offers`).
    pings: u64,
    /// Pings answered with a valid bid.
    bids: u64,
    /// bids / pings.
    bid_rate: f64,
    timeouts: u64,
    /// Auctions it was offered in at its fixed price.
    fixed_offers: u64,
    /// Leads bought.
    wins: u64,
    /// wins / (bids + fixed_offers): of its offers, the share that bought a lead.
    win_rate: f64,
    average_price: Micros,
    total_price: Micros,
    /// Posts to it that did not sell: rejected, timed out or failed.
    post_rejections: u64,
    returns: u64,
    returned_amount: Micros,
    /// total_price - returned_amount.
    revenue: Micros,
    /// What the publishers are paid of it (admins only: the split is the broker's business).
    #[serde(skip_serializing_if = "Option::is_none")]
    payout: Option<Micros>,
    /// revenue - payout: what the broker keeps (admins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    margin: Option<Micros>,
}

impl From<&BuyerFigures> for BuyerRow {
    fn from(f: &BuyerFigures) -> BuyerRow {
        let revenue = f.total_price.saturating_sub(f.returned_amount);
        BuyerRow {
            buyer_id: f.buyer_id.clone(),
            pings: f.pings,
            bids: f.bids,
            bid_rate: rate(f.bids, f.pings),
            timeouts: f.timeouts,
            fixed_offers: f.fixed_offers,
            wins: f.wins,
            win_rate: rate(f.wins, f.bids.saturating_add(f.fixed_offers)),
            average_price: average(f.total_price, f.wins),
            total_price: Micros(f.total_price),
            post_rejections: f.post_rejections,
            returns: f.returns,
            returned_amount: Micros(f.returned_amount),
            revenue: Micros(revenue),
            payout: Some(Micros(f.payout)),
            margin: Some(Micros(revenue.saturating_sub(f.payout))),
        }
    }
}

impl BuyerRow {
    /// The row as its buyer sees it: without what the publishers are paid of its prices.
    pub(super) fn for_buyer(mut self) -> BuyerRow {
        self.payout = None;
        self.margin = None;
        self
    }
}

/// One publisher's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct PublisherRow {
    publisher_id: String,
    /// Leads received.
    leads: u64,
    sold: u64,
    /// Unsold, other than duplicates.
    unsold: u64,
    duplicates: u64,
    /// sold / leads.
    sell_rate: f64,
    /// Sales of its leads: more than `sold` when leads are shared between buyers.
    sales: u64,
    /// What buyers paid per sale (admins only: buyers' prices are not the publisher's to see).
    #[serde(skip_serializing_if = "Option::is_none")]
    average_price: Option<Micros>,
    /// What buyers paid, less what returns credited back (admins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    revenue: Option<Micros>,
    /// revenue - payout: what the broker keeps (admins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    margin: Option<Micros>,
    returns: u64,
    /// What the publisher is paid: the payouts of its sales, a returned sale paying nothing.
    payout: Micros,
}

impl From<&PublisherFigures> for PublisherRow {
    fn from(f: &PublisherFigures) -> PublisherRow {
        let revenue = f.total_price.saturating_sub(f.returned_amount);
        PublisherRow {
            publisher_id: f.publisher_id.clone(),
            leads: f.leads,
            sold: f.sold,
            unsold: f.unsold,
            duplicates: f.duplicates,
            sell_rate: rate(f.sold, f.leads),
            sales: f.sales,
            average_price: Some(average(f.total_price, f.sales)),
            revenue: Some(Micros(revenue)),
            margin: Some(Micros(revenue.saturating_sub(f.payout))),
            returns: f.returns,
            payout: Micros(f.payout),
        }
    }
}

impl PublisherRow {
    /// The row as its publisher sees it: its payout, without what buyers paid or the margin.
    pub(super) fn for_publisher(mut self) -> PublisherRow {
        self.average_price = None;
        self.revenue = None;
        self.margin = None;
        self
    }
}

/// `part / whole` rounded to 4 decimals; 0 when `whole` is 0.
fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0 }
}

/// `total / count` micro-units, rounded half away from zero to the micro-unit; 0 for no sales.
fn average(total: i64, count: u64) -> Micros {
    let Ok(count) = i64::try_from(count) else { return Micros::ZERO };
    if count == 0 {
        return Micros::ZERO;
    }
    let half = if total < 0 { -(count / 2) } else { count / 2 };
    Micros(total.saturating_add(half) / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_have_4_decimals_and_are_0_over_nothing() {
        assert_eq!(rate(1, 3), 0.3333);
        assert_eq!(rate(2, 3), 0.6667);
        assert_eq!(rate(5, 5), 1.0);
        assert_eq!(rate(0, 0), 0.0);
        assert_eq!(rate(7, 0), 0.0);
    }

    #[test]
    fn averages_round_to_the_micro_unit() {
        assert_eq!(average(10_000_000, 3), Micros(3_333_333));
        assert_eq!(average(20_000_000, 3), Micros(6_666_667));
        assert_eq!(average(8_000_000, 0), Micros::ZERO);
    }

    #[test]
    fn revenue_is_total_less_returns_and_the_margin_is_revenue_less_payout() {
        // Two sales of 5.00 and 3.00 at 80%: payouts 4.00 and 2.40; the 3.00 one returned
        // (credited 3.00): it pays its publisher nothing.
        let figures = PublisherFigures {
            publisher_id: "p".into(),
            leads: 4,
            sold: 2,
            sales: 2,
            total_price: 8_000_000,
            payout: 4_000_000,
            returns: 1,
            returned_amount: 3_000_000,
            ..PublisherFigures::default()
        };
        let row = PublisherRow::from(&figures);
        assert_eq!(
            (row.sell_rate, row.average_price, row.revenue, row.payout, row.margin),
            (0.5, Some(Micros(4_000_000)), Some(Micros(5_000_000)), Micros(4_000_000), Some(Micros(1_000_000)))
        );
        let own = row.for_publisher();
        assert_eq!((own.average_price, own.revenue, own.margin, own.payout), (None, None, None, Micros(4_000_000)));
        let buyer = BuyerRow::from(&BuyerFigures {
            buyer_id: "b".into(),
            pings: 4,
            bids: 3,
            wins: 1,
            total_price: 5_000_000,
            payout: 0,
            returns: 1,
            returned_amount: 5_000_000,
            ..BuyerFigures::default()
        });
        assert_eq!((buyer.bid_rate, buyer.win_rate, buyer.revenue), (0.75, 0.3333, Micros::ZERO));
        assert_eq!((buyer.payout, buyer.margin), (Some(Micros::ZERO), Some(Micros::ZERO)));
        let own = buyer.for_buyer();
        assert_eq!((own.payout, own.margin), (None, None), "a buyer does not see the publisher's share");
    }

    #[test]
    fn a_fixed_price_buyer_s_offers_count_toward_its_win_rate_but_not_as_pings() {
        let row = BuyerRow::from(&BuyerFigures {
            buyer_id: "fixed".into(),
            fixed_offers: 4,
            wins: 3,
            total_price: 45_000_000,
            payout: 36_000_000,
            ..BuyerFigures::default()
        });
        assert_eq!((row.pings, row.bid_rate, row.fixed_offers, row.win_rate), (0, 0.0, 4, 0.75));
        assert_eq!(
            (row.average_price, row.revenue, row.payout, row.margin),
            (Micros(15_000_000), Micros(45_000_000), Some(Micros(36_000_000)), Some(Micros(9_000_000)))
        );
    }
}
