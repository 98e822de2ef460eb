//! The SQLite adapter's record of who saw what and its case grants
//! (`access.rs`): each write with its ledger entry in one transaction.

use rusqlite::{Connection, params};
use time::OffsetDateTime;

use crate::StoreError;
use crate::access::{self, AccessFilter, AccessRecord, CaseGrant};
use crate::encode;
use crate::sqlite::SqliteStore;
use crate::sqlite_db::{all, execute};
use crate::sqlite_write::SqliteTx;
use crate::txn::{Tx, run_now};

fn queue(conn: &Connection, entry: &[u8], at: OffsetDateTime) -> Result<(), StoreError> {
    run_now(SqliteTx(conn).queue_entries(&[entry], at))
}

/// Inserts an access record (checked, its time `at` from
/// [`access::check_record`]) in the transaction of `conn`; its number.
pub(crate) fn insert_record(
    conn: &Connection,
    r: &AccessRecord,
    at: OffsetDateTime,
) -> Result<i64, StoreError> {
    execute(
        conn,
        "INSERT INTO access_record (at, person, actor, operation, case_id, outcome, \
         reason, entry_sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            encode::unix_micros(at),
            r.person,
            r.actor,
            r.operation,
            r.case_id,
            r.outcome,
            r.reason,
            r.entry_sha256
        ],
        "record an access",
    )?;
    Ok(conn.last_insert_rowid())
}

impl SqliteStore {
    pub(crate) async fn sqlite_record_accesses(
        &self,
        records: &[(AccessRecord, Vec<u8>)],
    ) -> Result<Vec<i64>, StoreError> {
        let rows = records
            .iter()
            .map(|(r, entry)| Ok((access::check_record(r)?, r.clone(), entry.clone())))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.writer
            .write(move |conn| {
                rows.iter()
                    .map(|(at, r, entry)| {
                        queue(conn, entry, *at)?;
                        insert_record(conn, r, *at)
                    })
                    .collect()
            })
            .await
    }

    pub(crate) async fn sqlite_access_records(
        &self,
        filter: &AccessFilter,
    ) -> Result<Vec<AccessRecord>, StoreError> {
        let since = filter
            .since
            .map(|t| encode::timestamp("since", t).map(encode::unix_micros))
            .transpose()?;
        let until = filter
            .until
            .map(|t| encode::timestamp("until", t).map(encode::unix_micros))
            .transpose()?;
        let person = filter.person.clone();
        let case = filter.case_id.clone();
        let limit = i64::from(filter.limit);
        let offset = encode::count("offset", filter.offset)?;
        self.read_long(move |conn| {
            all(
                conn,
                "SELECT id, at, person, actor, operation, case_id, outcome, reason, entry_sha256 \
             FROM access_record \
                     WHERE (?1 IS NULL OR person = ?1) AND (?2 IS NULL OR case_id = ?2) \
                       AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at < ?4) \
                     ORDER BY at DESC, id DESC LIMIT ?5 OFFSET ?6",
                params![person, case, since, until, limit, offset],
                "list the access record",
                |row| access::access_row(row),
            )
        })
        .await
    }

    pub(crate) async fn sqlite_grant_case(
        &self,
        grant: &CaseGrant,
        entry: &[u8],
    ) -> Result<i64, StoreError> {
        let (granted_at, until) = access::check_grant(grant)?;
        let g = grant.clone();
        let entry = entry.to_vec();
        self.writer
            .write(move |conn| {
                queue(conn, &entry, granted_at)?;
                execute(
                    conn,
                    "INSERT INTO case_grants (case_id, person, reason, granted_by, granted_at, \
                     until) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        g.case_id,
                        g.person,
                        g.reason,
                        g.granted_by,
                        encode::unix_micros(granted_at),
                        encode::unix_micros(until)
                    ],
                    "grant a case",
                )?;
                Ok(conn.last_insert_rowid())
            })
            .await
    }

    pub(crate) async fn sqlite_revoke_case_grants(
        &self,
        case_id: &str,
        person: &str,
        by: &str,
        at: OffsetDateTime,
        entry: &[u8],
    ) -> Result<u64, StoreError> {
        let at = encode::timestamp("case_grants.revoked_at", at)?;
        encode::text("case_grants.revoked_by", by)?;
        let (case_id, person, by) = (case_id.to_owned(), person.to_owned(), by.to_owned());
        let entry = entry.to_vec();
        self.writer
            .write(move |conn| {
                let n = execute(
                    conn,
                    "UPDATE case_grants SET revoked_by = ?3, revoked_at = ?4 \
                     WHERE case_id = ?1 AND person = ?2 AND revoked_at IS NULL",
                    params![case_id, person, by, encode::unix_micros(at)],
                    "revoke a case grant",
                )?;
                if n > 0 {
                    queue(conn, &entry, at)?;
                }
                Ok(n as u64)
            })
            .await
    }

    pub(crate) async fn sqlite_case_grants(
        &self,
        case_id: &str,
    ) -> Result<Vec<CaseGrant>, StoreError> {
        let case_id = case_id.to_owned();
        self.read(|conn| {
            all(
                conn,
                "SELECT id, case_id, person, reason, granted_by, granted_at, until, revoked_by, \
             revoked_at FROM case_grants WHERE case_id = ?1 ORDER BY id",
                [case_id],
                "list a case's grants",
                |row| access::grant_row(row),
            )
        })
    }
}
