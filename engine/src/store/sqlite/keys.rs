//! Issued API keys: stored as SHA-256 only, revoked in place (kept for the audit), use counts
//! written back every few seconds. The same statements serve the engine's writer and the
//! `engine keys` command, which opens the store file next to a running engine (WAL lets both
//! write; the engine picks the change up by polling [`stamp`]). Every issue or revocation moves
//! `updated_at` past the latest one, so the stamp changes even within one millisecond or when
//! the clock steps back.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::super::{AuditRecord, StoreError, StoredKey, UnixMs};
use super::{Context, directory};

const COLUMNS: &str = "id, role, owner_id, scopes, key_sha256, label, rate_per_second, burst, created_at, created_by, \
                       revoked_at, uses, last_used_at";

/// Opens the store at `path` for `engine keys` (creating it, with its schema, if missing). It
/// may be in use by a running engine: writes wait for its transactions.
pub fn open_offline(path: &Path) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).context(&format!("creating {}", parent.display()))?;
    }
    let mut conn = Connection::open(path).context(&format!("opening {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10)).context("busy_timeout")?;
    let _: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).context("WAL")?;
    super::super::migrations::migrate(&mut conn)?;
    Ok(conn)
}

/// Inserts a new key.
pub fn put(conn: &Connection, key: &StoredKey) -> Result<u64, StoreError> {
    let (rate, burst) = key.rate_limit.unzip();
    let rows = conn
        .prepare_cached(
            "INSERT INTO api_keys (id, role, owner_id, scopes, key_sha256, label, rate_per_second, burst, \
             created_at, created_by, revoked_at, updated_at, uses) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
             max(?9, (SELECT coalesce(max(updated_at), 0) + 1 FROM api_keys)), 0)",
        )
        .context("insert key")?
        .execute(params![
            key.id,
            key.role,
            key.owner_id,
            key.scopes,
            &key.digest[..],
            key.label,
            rate,
            burst,
            key.created_at,
            key.created_by,
            key.revoked_at
        ])
        .context("insert key")?;
    Ok(rows as u64)
}

/// Revokes a key: 1 row if it was live, 0 if unknown or already revoked.
pub fn revoke(conn: &Connection, id: &str, at: UnixMs) -> Result<u64, StoreError> {
    let rows = conn
        .prepare_cached(
            "UPDATE api_keys SET revoked_at = ?2, \
             updated_at = max(?2, (SELECT coalesce(max(updated_at), 0) + 1 FROM api_keys)) \
             WHERE id = ?1 AND revoked_at IS NULL",
        )
        .context("revoke key")?
        .execute(params![id, at])
        .context("revoke key")?;
    Ok(rows as u64)
}

/// Revokes every live key of one holder; the keys revoked.
pub fn revoke_owner(conn: &Connection, role: &str, owner_id: &str, at: UnixMs) -> Result<u64, StoreError> {
    let rows = conn
        .prepare_cached(
            "UPDATE api_keys SET revoked_at = ?3, \
             updated_at = max(?3, (SELECT coalesce(max(updated_at), 0) + 1 FROM api_keys)) \
             WHERE role = ?1 AND owner_id = ?2 AND revoked_at IS NULL",
        )
        .context("revoke keys of a holder")?
        .execute(params![role, owner_id, at])
        .context("revoke keys of a holder")?;
    Ok(rows as u64)
}

/// Stores use counts (never lowers one: a count read before a restart may arrive late).
pub fn record_usage(conn: &Connection, usage: &[(String, u64, UnixMs)]) -> Result<u64, StoreError> {
    let mut update = conn
        .prepare_cached(
            "UPDATE api_keys SET uses = max(uses, ?2), \
             last_used_at = CASE WHEN ?3 > 0 THEN max(coalesce(last_used_at, 0), ?3) ELSE last_used_at END \
             WHERE id = ?1",
        )
        .context("key usage")?;
    let mut rows = 0;
    for (id, uses, last_used) in usage {
        rows +=
            update.execute(params![id, i64::try_from(*uses).unwrap_or(i64::MAX), last_used]).context("key usage")?;
    }
    Ok(rows as u64)
}

/// Runs `change` and, if it changed a row, writes `record` to the audit log, in one
/// transaction (for `engine keys`, which has no writer thread); the rows `change` changed.
pub fn audited(
    conn: &mut Connection,
    record: &AuditRecord,
    change: impl FnOnce(&Connection) -> Result<u64, StoreError>,
) -> Result<u64, StoreError> {
    let tx = conn.transaction().context("begin")?;
    let rows = change(&tx)?;
    if rows > 0 {
        directory::audit(&tx, record)?;
    }
    tx.commit().context("commit")?;
    Ok(rows)
}

/// Every key, oldest first.
pub fn all(conn: &Connection) -> Result<Vec<StoredKey>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id")).context("keys")?;
    let rows = stmt.query_map([], key_row).context("keys")?;
    rows.collect::<Result<_, _>>().context("keys")
}

/// (count, latest change): changes whenever a key is issued or revoked.
pub fn stamp(conn: &Connection) -> Result<(i64, i64), StoreError> {
    conn.prepare_cached("SELECT count(*), coalesce(max(updated_at), 0) FROM api_keys")
        .context("keys stamp")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .context("keys stamp")
}

/// Whether the admin API stored an entry `id` of `kind` (`buyer`, `publisher`) that it did not
/// delete: `Some(true)` live, `Some(false)` deleted, `None` never stored (the file decides).
pub fn directory_entry(conn: &Connection, kind: &str, id: &str) -> Result<Option<bool>, StoreError> {
    conn.prepare_cached("SELECT doc IS NOT NULL FROM directory WHERE kind = ?1 AND id = ?2")
        .context("directory entry")?
        .query_row(params![kind, id], |row| row.get(0))
        .optional()
        .context("directory entry")
}

fn key_row(row: &Row<'_>) -> rusqlite::Result<StoredKey> {
    let digest: Vec<u8> = row.get(4)?;
    let rate: Option<f64> = row.get(6)?;
    let burst: Option<u32> = row.get(7)?;
    let uses: i64 = row.get(11)?;
    Ok(StoredKey {
        id: row.get(0)?,
        role: row.get(1)?,
        owner_id: row.get(2)?,
        scopes: row.get(3)?,
        digest: digest.try_into().unwrap_or([0; 32]),
        label: row.get(5)?,
        rate_limit: rate.zip(burst),
        created_at: row.get(8)?,
        created_by: row.get(9)?,
        revoked_at: row.get(10)?,
        uses: u64::try_from(uses).unwrap_or(0),
        last_used_at: row.get(12)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, digest: u8) -> StoredKey {
        StoredKey {
            id: id.into(),
            role: "buyer".into(),
            owner_id: "acme".into(),
            scopes: "read".into(),
            digest: [digest; 32],
            label: Some("crm sync".into()),
            rate_limit: Some((5.0, 10)),
            created_at: 1_000,
            created_by: "cli".into(),
            revoked_at: None,
            uses: 0,
            last_used_at: None,
        }
    }

    #[test]
    fn keys_are_stored_revoked_once_and_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = open_offline(&dir.path().join("engine.db")).expect("open");
        assert_eq!(stamp(&conn).expect("stamp"), (0, 0));
        assert_eq!(put(&conn, &key("key_a", 1)).expect("put"), 1);
        assert!(put(&conn, &key("key_b", 1)).is_err(), "a digest is unique");
        assert_eq!(stamp(&conn).expect("stamp"), (1, 1_000));
        assert_eq!(all(&conn).expect("all"), [key("key_a", 1)]);
        assert_eq!(revoke(&conn, "key_a", 2_000).expect("revoke"), 1);
        assert_eq!(revoke(&conn, "key_a", 3_000).expect("again"), 0, "revoked once");
        assert_eq!(revoke(&conn, "key_x", 3_000).expect("unknown"), 0);
        assert_eq!(stamp(&conn).expect("stamp"), (1, 2_000), "a revocation changes the stamp");
        // Same millisecond, or a clock that stepped back: the stamp still moves.
        put(&conn, &StoredKey { created_at: 1_500, ..key("key_c", 3) }).expect("put");
        assert_eq!(stamp(&conn).expect("stamp"), (2, 2_001));
        assert_eq!(revoke_owner(&conn, "buyer", "acme", 2_001).expect("owner"), 1, "key_c; key_a was revoked");
        assert_eq!(stamp(&conn).expect("stamp"), (2, 2_002));
        record_usage(&conn, &[("key_a".into(), 7, 2_500)]).expect("usage");
        record_usage(&conn, &[("key_a".into(), 5, 0)]).expect("late usage");
        let stored = all(&conn).expect("all");
        assert_eq!((stored[0].uses, stored[0].last_used_at, stored[0].revoked_at), (7, Some(2_500), Some(2_000)));
        assert_eq!(stamp(&conn).expect("stamp"), (2, 2_002), "use counts do not change the stamp");
    }

    #[test]
    fn a_key_change_from_the_command_line_is_audited_only_when_it_changes_something() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open_offline(&dir.path().join("engine.db")).expect("open");
        let record = |action: &str| AuditRecord {
            at: 5,
            actor: "cli".into(),
            action: action.into(),
            target: "key_a".into(),
            detail: serde_json::json!({}),
        };
        audited(&mut conn, &record("key.create"), |c| put(c, &key("key_a", 1))).expect("create");
        audited(&mut conn, &record("key.revoke"), |c| revoke(c, "key_a", 6)).expect("revoke");
        assert_eq!(audited(&mut conn, &record("key.revoke"), |c| revoke(c, "key_a", 7)).expect("again"), 0);
        let actions: Vec<String> = conn
            .prepare("SELECT action FROM audit_log ORDER BY seq")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("audit");
        assert_eq!(actions, ["key.create", "key.revoke"]);
    }
}
