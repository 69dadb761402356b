//! The admin API's tables: `directory` (buyers and publishers the API wrote, laid over the
//! config file's at start) and `audit_log` (who changed what, newest first by `seq`).
//!
//! An audit page's cursor is the last row's `seq` in decimal; rows are never renumbered, so a
//! page after a cursor holds only older rows whatever was written since.

use rusqlite::{Connection, params};

use super::super::{AuditQuery, AuditRecord, AuditRow, DirectoryEntry, Page, StoreError};
use super::Context;
use super::reads::known;
use super::webhook_reads::{decode_id_cursor, more};

/// The kinds the `directory` table holds, as the static strings [`DirectoryEntry::kind`] holds.
const KINDS: [&str; 2] = ["buyer", "publisher"];

/// Largest audit page: bounds one read whatever the caller asks (the API clamps to 500).
const MAX_PAGE: usize = 1_000;

/// Creates or replaces an entry; `NULL` doc for a deleted one.
pub(super) fn put(conn: &Connection, entry: &DirectoryEntry) -> Result<u64, StoreError> {
    let doc = entry.doc.as_ref().map(serde_json::Value::to_string);
    let rows = conn
        .prepare_cached(
            "INSERT INTO directory (kind, id, doc, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at, \
             updated_by = excluded.updated_by",
        )
        .context("put directory entry")?
        .execute(params![entry.kind, entry.id, doc, entry.updated_at, entry.updated_by])
        .context("put directory entry")?;
    Ok(rows as u64)
}

/// Appends an audit row; counts as no row changed (see [`super::super::Write::Audit`]).
pub(crate) fn audit(conn: &Connection, record: &AuditRecord) -> Result<u64, StoreError> {
    conn.prepare_cached("INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)")
        .context("insert audit row")?
        .execute(params![record.at, record.actor, record.action, record.target, record.detail.to_string()])
        .context("insert audit row")?;
    Ok(0)
}

/// Every stored entry, by kind and id.
pub(super) fn entries(conn: &Connection) -> Result<Vec<DirectoryEntry>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT kind, id, doc, updated_at, updated_by FROM directory ORDER BY kind, id")
        .context("directory")?;
    let mut rows = stmt.query([]).context("directory")?;
    let mut entries = Vec::new();
    while let Some(row) = rows.next().context("directory")? {
        let kind: String = row.get(0).context("directory kind")?;
        let id: String = row.get(1).context("directory id")?;
        let doc = row
            .get::<_, Option<String>>(2)
            .context("directory doc")?
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .context(&format!("directory entry {kind} {id}: stored JSON"))?;
        entries.push(DirectoryEntry {
            kind: known(&kind, &KINDS, "directory kind")?,
            id,
            doc,
            updated_at: row.get(3).context("directory updated_at")?,
            updated_by: row.get(4).context("directory updated_by")?,
        });
    }
    Ok(entries)
}

/// Audit rows matching `query`, newest first.
pub(super) fn audit_page(conn: &Connection, query: &AuditQuery) -> Result<Page<AuditRow>, StoreError> {
    let before = query.page.after.as_deref().map(decode_id_cursor).transpose()?.unwrap_or(i64::MAX);
    let limit = query.page.limit.clamp(1, MAX_PAGE);
    // An action with no dot names a kind of actions: `buyer` is every `buyer.` one.
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, at, actor, action, target, detail FROM audit_log \
             WHERE seq < ?1 AND (?2 IS NULL OR at >= ?2) AND (?3 IS NULL OR at < ?3) \
             AND (?4 IS NULL OR action = ?4 \
                  OR (instr(?4, '.') = 0 AND substr(action, 1, length(?4) + 1) = ?4 || '.')) \
             AND (?5 IS NULL OR target = ?5) \
             ORDER BY seq DESC LIMIT ?6",
        )
        .context("audit log")?;
    let params = params![before, query.since, query.until, query.action, query.target, limit as i64 + 1];
    let rows = stmt
        .query_map(params, |row| {
            let detail: String = row.get(5)?;
            Ok(AuditRow {
                seq: row.get(0)?,
                record: AuditRecord {
                    at: row.get(1)?,
                    actor: row.get(2)?,
                    action: row.get(3)?,
                    target: row.get(4)?,
                    // Written from a JSON value; text that is not JSON is shown as text.
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
                },
            })
        })
        .context("audit log")?;
    let mut data: Vec<AuditRow> = rows.collect::<Result<_, _>>().context("audit log")?;
    let next_cursor = more(&mut data, limit).map(|last| last.seq.to_string());
    Ok(Page { data, next_cursor })
}
