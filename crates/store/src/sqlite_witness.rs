//! The SQLite adapter's reads of the custody ledger's checkpoints and of
//! witnessing (`ledger.rs`, `witness.rs`): the node's own checkpoints, the
//! peers' checkpoints it witnessed, the forks it detected and the
//! cosignatures it holds. Their writes are in `sqlite_write.rs`.

use crate::StoreError;
use crate::decode;
use crate::encode;
use crate::ledger::StoredCheckpoint;
use crate::rows::{self, columns};
use crate::sqlite::{SqliteStore, sql_count};
use crate::sqlite_db::{all, first, value};
use crate::witness::{CosignatureRecord, ForkRecord, WitnessedState};

impl SqliteStore {
    pub(crate) async fn sqlite_latest_checkpoint(
        &self,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.read(|conn| {
            first(
                conn,
                concat!(
                    "SELECT ",
                    columns!(ledger_checkpoints),
                    " FROM ledger_checkpoints \
                 ORDER BY size DESC LIMIT 1"
                ),
                [],
                "read the latest checkpoint",
                |row| rows::checkpoint(row),
            )
        })
    }

    pub(crate) async fn sqlite_checkpoint(
        &self,
        size: u64,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(None);
        };
        self.read(|conn| {
            first(
                conn,
                concat!(
                    "SELECT ",
                    columns!(ledger_checkpoints),
                    " FROM ledger_checkpoints WHERE size = ?1"
                ),
                [size],
                "read a checkpoint",
                |row| rows::checkpoint(row),
            )
        })
    }

    pub(crate) async fn sqlite_witnessed(
        &self,
        origin: &str,
    ) -> Result<Option<WitnessedState>, StoreError> {
        if !encode::storable(origin) {
            return Ok(None);
        }
        self.read(|conn| {
            first(
                conn,
                concat!(
                    "SELECT ",
                    columns!(witnessed),
                    " FROM witnessed WHERE origin = ?1"
                ),
                [origin],
                "read a witnessed checkpoint",
                |row| rows::witnessed(row),
            )
        })
    }

    pub(crate) async fn sqlite_list_witnessed(&self) -> Result<Vec<WitnessedState>, StoreError> {
        self.read_long(|conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    columns!(witnessed),
                    " FROM witnessed ORDER BY origin"
                ),
                [],
                "list witnessed checkpoints",
                |row| rows::witnessed(row),
            )
        })
        .await
    }

    pub(crate) async fn sqlite_forks(&self, limit: u32) -> Result<Vec<ForkRecord>, StoreError> {
        self.read_long(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    columns!(witness_forks),
                    " FROM witness_forks \
                 ORDER BY detected_at DESC, id DESC LIMIT ?1"
                ),
                [sql_count(limit)],
                "list forks",
                |row| rows::fork(row),
            )
        })
        .await
    }

    pub(crate) async fn sqlite_cosignatures(
        &self,
        size: u64,
    ) -> Result<Vec<CosignatureRecord>, StoreError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(Vec::new());
        };
        self.read_long(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    columns!(cosignatures),
                    " FROM cosignatures WHERE size = ?1 \
                 ORDER BY witness"
                ),
                [size],
                "read cosignatures",
                |row| rows::cosignature(row),
            )
        })
        .await
    }

    pub(crate) async fn sqlite_latest_cosigned_size(
        &self,
        witness: &str,
    ) -> Result<Option<u64>, StoreError> {
        if !encode::storable(witness) {
            return Ok(None);
        }
        let largest: Option<Option<i64>> = self.read(|conn| {
            value(
                conn,
                "SELECT MAX(size) FROM cosignatures WHERE witness = ?1",
                [witness],
                "read the latest cosignature",
            )
        })?;
        decode::latest_cosigned(witness, largest.flatten())
    }
}
