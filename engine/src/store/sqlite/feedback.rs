//! Buyer feedback in SQLite: reading a sale, and the two conditional writes on it (a
//! disposition with its history row, a return with its credit), each with its event.
//!
//! A write that finds the sale no longer in the state it was decided from changes nothing and
//! reports 0 rows (not an error: the job's savepoint has nothing to undo, and the handler reads
//! the sale again and decides anew).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::super::StoreError;
use super::super::feedback::{Sale, SaleReturned, SaleStatusChanged};
use super::{Context, events};
use crate::protocol::feedback::Disposition;

/// The sale of `lead_id` to `buyer_id`.
pub(super) fn sale(conn: &Connection, lead_id: &str, buyer_id: &str) -> Result<Option<Sale>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT seq, lead_id, buyer_id, publisher_id, vertical, test, price_micros, sold_at, status, status_at, \
             returned_at FROM sales WHERE lead_id = ?1 AND buyer_id = ?2",
        )
        .context("sale")?
        .query_row(params![lead_id, buyer_id], sale_row)
        .optional()
        .context("sale")?;
    row.map(|(sale, status)| Ok(Sale { status: status.as_deref().map(disposition).transpose()?, ..sale })).transpose()
}

/// A row with its status still as text (checked by [`disposition`] outside rusqlite's closure).
fn sale_row(row: &Row<'_>) -> rusqlite::Result<(Sale, Option<String>)> {
    let sale = Sale {
        seq: row.get(0)?,
        lead_id: row.get(1)?,
        buyer_id: row.get(2)?,
        publisher_id: row.get(3)?,
        vertical: row.get(4)?,
        test: row.get(5)?,
        price: row.get(6)?,
        sold_at: row.get(7)?,
        status: None,
        status_at: row.get(9)?,
        returned_at: row.get(10)?,
    };
    Ok((sale, row.get(8)?))
}

/// A status the engine writes; anything else (a newer engine's, a hand edit) is an error.
fn disposition(name: &str) -> Result<Disposition, StoreError> {
    Disposition::parse(name).ok_or_else(|| StoreError::Backend(format!("unknown sale status {name:?} in the store")))
}

/// The status, its history row and its event, if the sale still has `previous` and is not
/// returned.
pub(super) fn status_changed(conn: &Connection, change: SaleStatusChanged, wake: &mut bool) -> Result<u64, StoreError> {
    let previous = change.previous.map(Disposition::as_str);
    let updated = conn
        .prepare_cached(
            "UPDATE sales SET status = ?2, status_at = ?3 \
             WHERE seq = ?1 AND status IS ?4 AND returned_at IS NULL",
        )
        .context("update sale status")?
        .execute(params![change.sale_seq, change.status.as_str(), change.at, previous])
        .context("update sale status")?;
    if updated == 0 {
        return Ok(0);
    }
    let history = conn
        .prepare_cached(
            "INSERT INTO sale_statuses (sale_seq, at, previous, status, key_id) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .context("insert sale status")?
        .execute(params![change.sale_seq, change.at, previous, change.status.as_str(), change.key_id])
        .context("insert sale status")?;
    Ok((updated + history) as u64 + events::insert(conn, change.event, wake)?)
}

/// The return (credited the sale's price) and its event, if the sale is not returned and
/// still has the status the return was decided from.
pub(super) fn returned(conn: &Connection, sale_return: SaleReturned, wake: &mut bool) -> Result<u64, StoreError> {
    let status = sale_return.status.map(Disposition::as_str);
    let updated = conn
        .prepare_cached(
            "UPDATE sales SET returned_at = ?2, return_reason = ?3, return_note = ?4, credit_micros = price_micros \
             WHERE seq = ?1 AND returned_at IS NULL AND status IS ?5",
        )
        .context("return sale")?
        .execute(params![sale_return.sale_seq, sale_return.at, sale_return.reason_code, sale_return.note, status])
        .context("return sale")?;
    if updated == 0 {
        return Ok(0);
    }
    Ok(updated as u64 + events::insert(conn, sale_return.event, wake)?)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::Map;

    use super::*;
    use crate::protocol::event::EventType;
    use crate::store::UnixMs;
    use crate::store::sqlite::{SqliteOptions, SqliteStore};
    use crate::store::{AuctionFinished, LeadReceived, NewEvent, Store, Write};

    /// 2026-11-23T12:00:00Z.
    const T0: UnixMs = 1_795_435_200_000;

    fn event(kind: EventType) -> NewEvent {
        NewEvent { id: crate::protocol::ids::event_id(), kind, lead_id: Some("ld_1".into()), at: T0, data: Map::new() }
    }

    /// A store holding lead `ld_1`, sold to `acme` for 12.50.
    async fn sold(dir: &tempfile::TempDir) -> (SqliteStore, Sale) {
        let acme = crate::store::NewSale { buyer_id: "acme".into(), price: 12_500_000, payout: 12_500_000, margin: 0 };
        let store = sold_to(dir, vec![acme]).await;
        let sale = store.sale("ld_1", "acme").await.expect("read").expect("sold to acme");
        (store, sale)
    }

    /// A store holding lead `ld_1`, sold to every buyer of `sales` (a shared lead when several).
    async fn sold_to(dir: &tempfile::TempDir, sales: Vec<crate::store::NewSale>) -> SqliteStore {
        let store = SqliteStore::open(&dir.path().join("engine.db"), SqliteOptions::default()).expect("open");
        let received = Write::LeadReceived(Box::new(LeadReceived {
            lead_id: "ld_1".into(),
            publisher_id: "pub1".into(),
            vertical: "auto_insurance".into(),
            test: false,
            received_at: T0,
            lead_json: Bytes::from_static(b"{}"),
            idempotency: None,
            contacts: Vec::new(),
            event: event(EventType::LeadReceived),
        }));
        let finished = Write::AuctionFinished(Box::new(AuctionFinished {
            lead_id: "ld_1".into(),
            outcome: "sold",
            buyer_id: sales.first().map(|s| s.buyer_id.clone()),
            price: Some(sales.iter().map(|s| s.price).sum()),
            sales,
            finished_at: T0,
            ping_ms: 1.0,
            post_ms: 1.0,
            total_ms: 2.0,
            pings: Vec::new(),
            posts: Vec::new(),
            events: vec![event(EventType::LeadSold)],
            answer: Bytes::from_static(b"{}"),
        }));
        store.write(vec![received, finished]).expect("queued").await.expect("committed");
        store
    }

    fn change(sale: &Sale, previous: Option<Disposition>, status: Disposition) -> Write {
        Write::SaleStatusChanged(Box::new(SaleStatusChanged {
            sale_seq: sale.seq,
            previous,
            status,
            at: T0 + 1,
            key_id: "config.buyer.acme".into(),
            event: event(EventType::LeadStatusChanged),
        }))
    }

    fn sale_return(sale: &Sale, status: Option<Disposition>) -> Write {
        Write::SaleReturned(Box::new(SaleReturned {
            sale_seq: sale.seq,
            status,
            at: T0 + 2,
            reason_code: "fraud".into(),
            note: None,
            event: event(EventType::LeadReturned),
        }))
    }

    async fn commit(store: &SqliteStore, write: Write) -> u64 {
        store.write(vec![write]).expect("queued").await.expect("committed")
    }

    /// (history rows, events) of `ld_1`.
    async fn recorded(store: &SqliteStore) -> (i64, usize) {
        let conn = Connection::open(store.path()).expect("open");
        let history = conn.query_row("SELECT count(*) FROM sale_statuses", [], |row| row.get(0)).expect("count");
        let events = store.lead("ld_1").await.expect("read").expect("lead").events.len();
        (history, events)
    }

    #[tokio::test]
    async fn only_a_sale_s_buyer_reads_it() {
        let dir = tempfile::tempdir().expect("dir");
        let (store, sale) = sold(&dir).await;
        assert_eq!((sale.price, sale.sold_at, sale.status, sale.returned_at), (12_500_000, T0, None, None));
        assert_eq!(store.sale("ld_1", "other").await.expect("read"), None);
        assert_eq!(store.sale("ld_2", "acme").await.expect("read"), None);
    }

    #[tokio::test]
    async fn a_status_decided_from_a_stale_status_changes_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let (store, sale) = sold(&dir).await;
        assert!(commit(&store, change(&sale, None, Disposition::Contacted)).await > 0);
        assert_eq!(recorded(&store).await, (1, 3), "one history row, one more event");
        // A second request decided from "no status" lost the race: nothing of it is written.
        assert_eq!(commit(&store, change(&sale, None, Disposition::Qualified)).await, 0);
        assert_eq!(recorded(&store).await, (1, 3));
        let now = store.sale("ld_1", "acme").await.expect("read").expect("sale");
        assert_eq!((now.status, now.status_at), (Some(Disposition::Contacted), Some(T0 + 1)));
    }

    #[tokio::test]
    async fn a_sale_is_returned_once_and_then_takes_no_status() {
        let dir = tempfile::tempdir().expect("dir");
        let (store, sale) = sold(&dir).await;
        // Decided from a status the sale does not have: nothing.
        assert_eq!(commit(&store, sale_return(&sale, Some(Disposition::Contacted))).await, 0);
        assert!(commit(&store, sale_return(&sale, None)).await > 0);
        assert_eq!(commit(&store, sale_return(&sale, None)).await, 0, "a second return changes nothing");
        assert_eq!(commit(&store, change(&sale, None, Disposition::Contacted)).await, 0, "returned: no status");
        assert_eq!(recorded(&store).await, (0, 3), "the return's event only");
        let conn = Connection::open(store.path()).expect("open");
        let credit: i64 = conn.query_row("SELECT credit_micros FROM sales", [], |row| row.get(0)).expect("credit");
        assert_eq!(credit, 12_500_000, "credited the price paid");
        let now = store.sale("ld_1", "acme").await.expect("read").expect("sale");
        assert_eq!(now.returned_at, Some(T0 + 2));
    }

    /// Returns work per sale: one buyer of a shared lead returning it is credited its own
    /// price, and the other buyer's sale (its status, its price, its chance to return) is
    /// left as it was.
    #[tokio::test]
    async fn returning_one_sale_of_a_shared_lead_leaves_the_other_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let sales = vec![
            crate::store::NewSale { buyer_id: "acme".into(), price: 12_500_000, payout: 10_000_000, margin: 2_500_000 },
            crate::store::NewSale { buyer_id: "zeta".into(), price: 7_000_000, payout: 5_600_000, margin: 1_400_000 },
        ];
        let store = sold_to(&dir, sales).await;
        let acme = store.sale("ld_1", "acme").await.expect("read").expect("acme's sale");
        let zeta = store.sale("ld_1", "zeta").await.expect("read").expect("zeta's sale");
        assert!(commit(&store, change(&zeta, None, Disposition::Contacted)).await > 0);
        assert!(commit(&store, sale_return(&acme, None)).await > 0);

        let lead = store.lead("ld_1").await.expect("read").expect("lead");
        let credits: Vec<_> = lead.sales.iter().map(|s| (s.buyer_id.as_str(), s.returned_at, s.credit)).collect();
        assert_eq!(credits, [("acme", Some(T0 + 2), Some(12_500_000)), ("zeta", None, None)], "its own price");
        let zeta_now = store.sale("ld_1", "zeta").await.expect("read").expect("zeta's sale");
        assert_eq!((zeta_now.status, zeta_now.returned_at), (Some(Disposition::Contacted), None));
        // Zeta may still return its own sale, once.
        assert!(commit(&store, sale_return(&zeta_now, Some(Disposition::Contacted))).await > 0);
        assert_eq!(commit(&store, sale_return(&acme, None)).await, 0, "acme's return is not made twice");
    }
}
