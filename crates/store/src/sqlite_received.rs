//! The SQLite adapter's index of received packages and files
//! (`received.rs`).

use rusqlite::params;

use crate::StoreError;
use crate::received::{ReceivedFile, ReceivedOrigin, check, file, origin};
use crate::sqlite::SqliteStore;
use crate::sqlite_db::{all, execute};

impl SqliteStore {
    pub(crate) async fn sqlite_index_received(
        &self,
        o: &ReceivedOrigin,
        hashes: &[String],
    ) -> Result<(), StoreError> {
        check(o, hashes)?;
        let (o, hashes) = (o.clone(), hashes.to_vec());
        self.writer
            .write(move |conn| {
                execute(
                    conn,
                    "INSERT INTO received_packages (package_id, provider, request) \
                     VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![o.package_id, o.provider, o.request],
                    "index a received package",
                )?;
                for h in &hashes {
                    execute(
                        conn,
                        "INSERT INTO received_files (sha256, package_id) VALUES (?1, ?2) \
                         ON CONFLICT DO NOTHING",
                        params![h, o.package_id],
                        "index a received file",
                    )?;
                }
                Ok(())
            })
            .await
    }

    pub(crate) async fn sqlite_received_origins(&self) -> Result<Vec<ReceivedOrigin>, StoreError> {
        self.read_long(move |conn| {
            all(
                conn,
                "SELECT package_id, provider, request FROM received_packages ORDER BY package_id",
                [],
                "list received packages",
                |row| origin(row),
            )
        })
        .await
    }

    pub(crate) async fn sqlite_received_files(
        &self,
        hashes: &[String],
    ) -> Result<Vec<ReceivedFile>, StoreError> {
        let hashes = hashes.to_vec();
        self.read_long(move |conn| {
            let mut out = Vec::new();
            for h in &hashes {
                out.extend(all(
                    conn,
                    "SELECT f.sha256, p.package_id, p.provider, p.request \
                     FROM received_files f JOIN received_packages p USING (package_id) \
                     WHERE f.sha256 = ?1 ORDER BY p.package_id",
                    params![h],
                    "find received files",
                    |row| file(row),
                )?);
            }
            Ok(out)
        })
        .await
    }
}
