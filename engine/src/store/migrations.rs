//! Versioned schema migrations of the SQLite store.
//!
//! The schema is a list of SQL scripts in code, [`MIGRATIONS`]; script `n` (1-based) takes a
//! database from version `n - 1` to `n`. The version is SQLite's `PRAGMA user_version` (0 in a
//! new file), so it lives in the database header and needs no table of its own. Opening a
//! store applies the missing scripts in order, each in one transaction with its version bump,
//! so a crash mid-migration leaves the previous version intact. A database written by a newer
//! engine (a version past the end of the list) is refused: this engine does not know its
//! tables and must not write to them.
//!
//! Scripts are append-only: once released, a script never changes; a schema change is a new
//! script at the end.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Schema v1. Times are Unix milliseconds, money is integer micro-units, JSON documents are
/// TEXT (readable with the `sqlite3` shell) except the lead and the answers, which are the
/// bytes the engine was handed (BLOB). Tables are `STRICT`, so a wrong type is an error, not a
/// silent conversion.
const V1: &str = r#"
CREATE TABLE leads (
    id            TEXT PRIMARY KEY,
    publisher_id  TEXT NOT NULL,
    vertical      TEXT NOT NULL,
    test          INTEGER NOT NULL,
    received_at   INTEGER NOT NULL,
    -- The whole validated lead: personal data (PII).
    lead_json     BLOB NOT NULL
) STRICT;

CREATE TABLE auctions (
    lead_id       TEXT PRIMARY KEY REFERENCES leads(id),
    status        TEXT NOT NULL CHECK (status IN ('running', 'sold', 'unsold', 'in_doubt')),
    reason        TEXT,
    buyer_id      TEXT,
    price_micros  INTEGER,
    ping_ms       REAL,
    post_ms       REAL,
    total_ms      REAL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    -- The publisher's answer (JSON), once there is one.
    answer        BLOB
) STRICT;
-- Only recovery looks auctions up by status, and only for running ones: a partial index
-- costs nothing once an auction is closed.
CREATE INDEX auctions_running ON auctions(lead_id) WHERE status = 'running';

-- WITHOUT ROWID (here and below, for small rows keyed by their lead): one b-tree per table,
-- clustered by lead, instead of a table and an index to update on every insert.
CREATE TABLE pings (
    lead_id       TEXT NOT NULL REFERENCES leads(id),
    -- 0, 1, ... in the order the auction listed them.
    position      INTEGER NOT NULL,
    buyer_id      TEXT NOT NULL,
    ping_id       TEXT NOT NULL,
    result        TEXT NOT NULL,
    price_micros  INTEGER,
    bid_id        TEXT,
    reason        TEXT,
    latency_us    INTEGER,
    PRIMARY KEY (lead_id, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE post_attempts (
    lead_id       TEXT NOT NULL REFERENCES leads(id),
    attempt       INTEGER NOT NULL,
    buyer_id      TEXT NOT NULL,
    ping_id       TEXT NOT NULL,
    price_micros  INTEGER NOT NULL,
    result        TEXT NOT NULL
                  CHECK (result IN ('sending', 'accepted', 'rejected', 'timeout', 'failed', 'in_doubt')),
    reason        TEXT,
    buyer_lead_id TEXT,
    latency_us    INTEGER,
    -- NULL when the post was recorded only at the auction's end (no PostStarted).
    started_at    INTEGER,
    PRIMARY KEY (lead_id, attempt)
) STRICT, WITHOUT ROWID;

-- The outbox. `seq` (the rowid) is the order events were written in.
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    lead_id       TEXT,
    -- 1, 2, ... per lead, in the order the events happened; NULL for other events.
    sequence      INTEGER,
    created_at    INTEGER NOT NULL,
    -- The canonical envelope {"id","type","timestamp","data"}, as signed and sent.
    body          TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX events_by_lead ON events(lead_id, sequence) WHERE lead_id IS NOT NULL;
CREATE INDEX events_by_time ON events(created_at);

CREATE TABLE webhook_subscriptions (
    id                    TEXT PRIMARY KEY,
    url                   TEXT NOT NULL,
    -- JSON arrays / objects.
    events                TEXT NOT NULL,
    secrets               TEXT NOT NULL,
    secrets_rotated_until INTEGER,
    headers               TEXT NOT NULL,
    payload               TEXT,
    enabled               INTEGER NOT NULL,
    disabled_reason       TEXT,
    source                TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
) STRICT;

-- AUTOINCREMENT: ids are never reused, so a keyset page (newest first, by id) never sees a
-- new row in place of an old one.
CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id         TEXT NOT NULL REFERENCES events(id),
    subscription_id  TEXT NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,
    dead_reason      TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (event_id, subscription_id)
) STRICT;
-- The dispatcher's query: pending and due, oldest first. Partial: delivered rows, the bulk of
-- the table, are not in it.
CREATE INDEX deliveries_due ON deliveries(next_attempt_at, id) WHERE status = 'pending';
-- The delivery log of one subscription, newest first.
CREATE INDEX deliveries_by_subscription ON deliveries(subscription_id, id);
-- The dead-letter list, newest first.
CREATE INDEX deliveries_dead ON deliveries(id) WHERE status = 'dead';

CREATE TABLE delivery_attempts (
    delivery_id      INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    at               INTEGER NOT NULL,
    status_code      INTEGER,
    latency_ms       INTEGER NOT NULL,
    error            TEXT,
    next_attempt_at  INTEGER
) STRICT;
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts(delivery_id);

CREATE TABLE idempotency_keys (
    publisher_id  TEXT NOT NULL,
    key           TEXT NOT NULL,
    -- SHA-256 of the request body.
    fingerprint   BLOB NOT NULL,
    lead_id       TEXT NOT NULL REFERENCES leads(id),
    -- NULL while the auction runs.
    answer        BLOB,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (publisher_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_by_time ON idempotency_keys(created_at);
CREATE INDEX idempotency_by_lead ON idempotency_keys(lead_id);
"#;

/// Schema v2: buyer caps. Each ping's ranking score next to its raw price (a buyer's
/// `quality_weight` times its bid), and indexes for rebuilding cap counters at start: sales
/// by time, and posts left in doubt by a crash (they may have sold, so they count).
const V2: &str = r#"
ALTER TABLE pings ADD COLUMN score_micros INTEGER;
CREATE INDEX auctions_sold ON auctions(finished_at) WHERE status = 'sold';
CREATE INDEX post_attempts_in_doubt ON post_attempts(lead_id) WHERE result = 'in_doubt';
"#;

/// Schema v3: dedupe keys. One row per key of a lead (hashes of vertical, field and normalized
/// phone or email: never the value itself); `seen_at` is the start of the window the key counts
/// in, which the start-up rebuild reads back (hence the index on it).
const V3: &str = r#"
CREATE TABLE lead_contacts (
    key           BLOB NOT NULL,
    lead_id       TEXT NOT NULL REFERENCES leads(id),
    seen_at       INTEGER NOT NULL,
    PRIMARY KEY (lead_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX lead_contacts_by_time ON lead_contacts(seen_at);
"#;

/// Schema v4: the lead lifecycle. `sales`: one row per lead sold to a buyer (the buyer's pull
/// pages by its `seq`; dispositions and returns live on it, with a history of statuses);
/// `api_keys`: keys made by `engine keys create` or the API (only their SHA-256), with use
/// counts; `directory`: buyers and publishers the admin API created or changed (the JSON
/// config entry; `NULL`: deleted), laid over the config file's; `audit_log`: who changed what,
/// when. Sales already made are copied in.
const V4: &str = r#"
CREATE TABLE sales (
    seq            INTEGER PRIMARY KEY,
    lead_id        TEXT NOT NULL REFERENCES leads(id),
    buyer_id       TEXT NOT NULL,
    publisher_id   TEXT NOT NULL,
    vertical       TEXT NOT NULL,
    test           INTEGER NOT NULL,
    price_micros   INTEGER NOT NULL,
    sold_at        INTEGER NOT NULL,
    -- The latest disposition (NULL before the first) and when it was reported.
    status         TEXT,
    status_at      INTEGER,
    -- Set once, by the return.
    returned_at    INTEGER,
    return_reason  TEXT,
    return_note    TEXT,
    credit_micros  INTEGER,
    UNIQUE (lead_id, buyer_id)
) STRICT;
CREATE INDEX sales_by_buyer ON sales(buyer_id, seq);
CREATE INDEX sales_by_time ON sales(sold_at);
INSERT INTO sales (lead_id, buyer_id, publisher_id, vertical, test, price_micros, sold_at)
    SELECT a.lead_id, a.buyer_id, l.publisher_id, l.vertical, l.test, a.price_micros,
           coalesce(a.finished_at, a.started_at)
    FROM auctions a JOIN leads l ON l.id = a.lead_id
    WHERE a.status = 'sold' AND a.buyer_id IS NOT NULL AND a.price_micros IS NOT NULL
    ORDER BY coalesce(a.finished_at, a.started_at);

CREATE TABLE sale_statuses (
    sale_seq   INTEGER NOT NULL REFERENCES sales(seq),
    at         INTEGER NOT NULL,
    previous   TEXT,
    status     TEXT NOT NULL,
    -- The key that reported it.
    key_id     TEXT NOT NULL
) STRICT;
CREATE INDEX sale_statuses_by_sale ON sale_statuses(sale_seq);

CREATE INDEX leads_by_time ON leads(received_at);
CREATE INDEX leads_by_publisher ON leads(publisher_id, received_at);
-- A publisher's leads in commit (rowid) order: the key its pull pages walk.
CREATE INDEX leads_by_publisher_seq ON leads(publisher_id);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('publisher', 'buyer', 'admin')),
    owner_id      TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    key_sha256    BLOB NOT NULL UNIQUE,
    label         TEXT,
    -- Its own rate limit (NULL: its role's).
    rate_per_second REAL,
    burst         INTEGER,
    created_at    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    revoked_at    INTEGER,
    -- Changes when the key is made or revoked: running engines poll it.
    updated_at    INTEGER NOT NULL,
    uses          INTEGER NOT NULL DEFAULT 0,
    last_used_at  INTEGER
) STRICT;

CREATE TABLE directory (
    kind        TEXT NOT NULL CHECK (kind IN ('buyer', 'publisher')),
    id          TEXT NOT NULL,
    doc         TEXT,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_log (
    seq      INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    -- JSON: what changed (before and after), secrets redacted.
    detail   TEXT NOT NULL
) STRICT;
CREATE INDEX audit_by_time ON audit_log(at);
"#;

/// Schema v5: payouts and margins. Each sale records what its buyer pays (`price_micros`) cut
/// into the publisher's payout and the broker's margin; the schema holds them to
/// `payout + margin = price`, so a write that leaves the payout out (its default, 0) is refused
/// rather than recorded as a sale that pays the publisher nothing. Sales made before this
/// version paid their publisher the whole price: payout = price, margin 0.
const V5: &str = r#"
ALTER TABLE sales ADD COLUMN payout_micros INTEGER NOT NULL DEFAULT 0;
UPDATE sales SET payout_micros = price_micros;
ALTER TABLE sales ADD COLUMN margin_micros INTEGER NOT NULL DEFAULT 0
    CHECK (payout_micros + margin_micros = price_micros);
"#;

/// Every schema version, oldest first: `MIGRATIONS[n - 1]` takes version `n - 1` to `n`.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

/// The schema version this engine writes.
pub fn latest() -> u32 {
    // The list is a handful of entries: the cast cannot truncate.
    MIGRATIONS.len() as u32
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The version found.
    pub from: u32,
    /// The version now (the latest).
    pub to: u32,
}

/// Brings the database to the latest version, one transaction per script; refuses a database
/// from a newer engine.
pub fn migrate(conn: &mut Connection) -> Result<Migrated, StoreError> {
    let from = version(conn)?;
    let to = latest();
    if from > to {
        return Err(StoreError::Backend(format!(
            "the database is at schema version {from}, newer than this engine's {to}: \
             run a newer engine, or restore a backup made by this version"
        )));
    }
    for (index, script) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let target = index + 1;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::Backend(format!("migration to v{target}: begin: {e}")))?;
        // Another process may have migrated while this one waited for the lock.
        if version(&tx)? as usize >= target {
            continue;
        }
        tx.execute_batch(script).map_err(|e| StoreError::Backend(format!("migration to v{target}: {e}")))?;
        tx.pragma_update(None, "user_version", target as i64)
            .map_err(|e| StoreError::Backend(format!("migration to v{target}: user_version: {e}")))?;
        tx.commit().map_err(|e| StoreError::Backend(format!("migration to v{target}: commit: {e}")))?;
    }
    Ok(Migrated { from, to })
}

/// The schema version of the database (`PRAGMA user_version`).
pub fn version(conn: &Connection) -> Result<u32, StoreError> {
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| StoreError::Backend(format!("reading the schema version: {e}")))?;
    u32::try_from(v).map_err(|_| StoreError::Backend(format!("the schema version {v} is not a version")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &tempfile::TempDir) -> Connection {
        Connection::open(dir.path().join("m.db")).expect("open")
    }

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .expect("prepare");
        stmt.query_map([], |row| row.get(0)).expect("query").collect::<Result<_, _>>().expect("rows")
    }

    #[test]
    fn a_new_database_gets_every_table_and_a_second_run_applies_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open(&dir);
        assert_eq!(migrate(&mut conn).expect("first"), Migrated { from: 0, to: latest() });
        assert_eq!(
            tables(&conn),
            [
                "api_keys",
                "auctions",
                "audit_log",
                "deliveries",
                "delivery_attempts",
                "directory",
                "events",
                "idempotency_keys",
                "lead_contacts",
                "leads",
                "pings",
                "post_attempts",
                "sale_statuses",
                "sales",
                "webhook_subscriptions"
            ]
        );
        conn.execute("INSERT INTO leads VALUES ('ld_1', 'p', 'v', 0, 1, x'7b7d')", []).expect("row");
        drop(conn);
        // Reopened: nothing applied (a re-run of v1 would fail on CREATE TABLE), data kept.
        let mut conn = open(&dir);
        assert_eq!(migrate(&mut conn).expect("second"), Migrated { from: latest(), to: latest() });
        let leads: i64 = conn.query_row("SELECT count(*) FROM leads", [], |r| r.get(0)).expect("count");
        assert_eq!(leads, 1);
    }

    /// A store written by the previous version keeps its sales: v4 copies every sold auction
    /// into `sales` (so buyers can pull, disposition and return leads sold before the upgrade),
    /// and nothing else.
    #[test]
    fn upgrading_to_v4_copies_sold_auctions_into_sales() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open(&dir);
        for script in &MIGRATIONS[..3] {
            conn.execute_batch(script).expect("v1-v3");
        }
        conn.pragma_update(None, "user_version", 3).expect("v3");
        conn.execute_batch(
            "INSERT INTO leads VALUES ('ld_sold', 'pub1', 'auto', 0, 10, x'7b7d'), \
                                      ('ld_unsold', 'pub1', 'auto', 0, 11, x'7b7d'), \
                                      ('ld_test', 'pub2', 'home', 1, 12, x'7b7d'); \
             INSERT INTO auctions (lead_id, status, buyer_id, price_micros, started_at, finished_at) VALUES \
                 ('ld_sold', 'sold', 'acme', 5000000, 10, 20), \
                 ('ld_unsold', 'unsold', NULL, NULL, 11, 21), \
                 ('ld_test', 'sold', 'zeta', 3000000, 12, 22);",
        )
        .expect("v3 rows");
        assert_eq!(migrate(&mut conn).expect("to v4"), Migrated { from: 3, to: latest() });
        let mut stmt = conn
            .prepare(
                "SELECT printf('%s %s %s %s test=%d %d at=%d %s', lead_id, buyer_id, publisher_id, vertical, test, \
                 price_micros, sold_at, coalesce(status, '-')) FROM sales ORDER BY seq",
            )
            .expect("prepare");
        let sales: Vec<String> =
            stmt.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows");
        assert_eq!(
            sales,
            ["ld_sold acme pub1 auto test=0 5000000 at=20 -", "ld_test zeta pub2 home test=1 3000000 at=22 -"]
        );
    }

    /// A store written by v4 keeps its sales, each now paying its publisher the whole price
    /// (the only terms there were): payout = price, margin 0, returns and statuses untouched.
    #[test]
    fn upgrading_to_v5_gives_existing_sales_a_payout_of_their_price_and_no_margin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open(&dir);
        for script in &MIGRATIONS[..4] {
            conn.execute_batch(script).expect("v1-v4");
        }
        conn.pragma_update(None, "user_version", 4).expect("v4");
        conn.execute_batch(
            "INSERT INTO leads VALUES ('ld_1', 'pub1', 'auto', 0, 10, x'7b7d'), ('ld_2', 'pub1', 'auto', 0, 11, x'7b7d'); \
             INSERT INTO sales (lead_id, buyer_id, publisher_id, vertical, test, price_micros, sold_at, status, \
                                returned_at, credit_micros) VALUES \
                 ('ld_1', 'acme', 'pub1', 'auto', 0, 5000000, 20, 'contacted', NULL, NULL), \
                 ('ld_2', 'zeta', 'pub1', 'auto', 0, 3000000, 21, NULL, 30, 3000000);",
        )
        .expect("v4 rows");
        assert_eq!(migrate(&mut conn).expect("to v5"), Migrated { from: 4, to: latest() });
        let mut stmt = conn
            .prepare(
                "SELECT printf('%s %s %d = %d + %d %s %d', lead_id, buyer_id, price_micros, payout_micros, \
                 margin_micros, coalesce(status, '-'), coalesce(credit_micros, -1)) FROM sales ORDER BY seq",
            )
            .expect("prepare");
        let sales: Vec<String> =
            stmt.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows");
        assert_eq!(
            sales,
            ["ld_1 acme 5000000 = 5000000 + 0 contacted -1", "ld_2 zeta 3000000 = 3000000 + 0 - 3000000"]
        );
    }

    #[test]
    fn a_database_from_a_newer_engine_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open(&dir);
        conn.pragma_update(None, "user_version", i64::from(latest()) + 1).expect("bump");
        let err = migrate(&mut conn).expect_err("newer schema");
        assert!(err.to_string().contains("newer than this engine"), "{err}");
        assert!(tables(&conn).is_empty(), "nothing was created");
        assert_eq!(version(&conn).expect("version"), latest() + 1);
    }

    #[test]
    fn the_schema_enforces_its_checks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open(&dir);
        migrate(&mut conn).expect("migrate");
        conn.execute("INSERT INTO leads VALUES ('ld_1', 'p', 'v', 0, 1, x'7b7d')", []).expect("lead");
        let bad_status =
            conn.execute("INSERT INTO auctions (lead_id, status, started_at) VALUES ('ld_1', 'won', 1)", []);
        assert!(bad_status.is_err(), "an unknown auction status is refused");
        let bad_type = conn.execute("INSERT INTO leads VALUES ('ld_2', 'p', 'v', 'yes', 1, x'7b7d')", []);
        assert!(bad_type.is_err(), "STRICT tables refuse a wrong type");
        let sale = |payout: i64, margin: i64| {
            conn.execute(
                "INSERT OR REPLACE INTO sales (lead_id, buyer_id, publisher_id, vertical, test, price_micros, \
                 payout_micros, margin_micros, sold_at) VALUES ('ld_1', 'b', 'p', 'v', 0, 5000000, ?1, ?2, 1)",
                [payout, margin],
            )
        };
        assert!(sale(4_000_000, 1_000_000).is_ok(), "price = payout + margin");
        assert!(sale(4_000_000, 0).is_err(), "a payout and margin that do not add up to the price are refused");
        let no_payout = conn.execute(
            "INSERT OR REPLACE INTO sales (lead_id, buyer_id, publisher_id, vertical, test, price_micros, sold_at) \
             VALUES ('ld_1', 'b', 'p', 'v', 0, 5000000, 1)",
            [],
        );
        assert!(no_payout.is_err(), "a sale written without its payout is refused, not recorded as paying nothing");
    }
}
