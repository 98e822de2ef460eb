//! What other States provided, indexed for the use limits (issue 18;
//! `0013_received_files.sql`): each received evidence package with the
//! State that provided it and the request it answers, and the SHA-256 of
//! each of its files. Hashes and ids only, no names or content.

use crate::StoreError;
use crate::rows::RowAccess;

/// A received package: who provided it, for which request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedOrigin {
    pub package_id: String,
    /// The providing State's code.
    pub provider: String,
    /// The request (thread id) the package answers.
    pub request: String,
}

/// A file of a received package, found by its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedFile {
    /// SHA-256 of the file, 64 lower-case hex digits.
    pub sha256: String,
    pub origin: ReceivedOrigin,
}

pub(crate) fn origin(row: &impl RowAccess) -> Result<ReceivedOrigin, StoreError> {
    let t = "received_packages";
    Ok(ReceivedOrigin {
        package_id: row.get(t, "package_id")?,
        provider: row.get(t, "provider")?,
        request: row.get(t, "request")?,
    })
}

pub(crate) fn file(row: &impl RowAccess) -> Result<ReceivedFile, StoreError> {
    Ok(ReceivedFile {
        sha256: row.get("received_files", "sha256")?,
        origin: origin(row)?,
    })
}

/// Checks an origin's texts before a write.
pub(crate) fn check(origin: &ReceivedOrigin, hashes: &[String]) -> Result<(), StoreError> {
    crate::encode::text("received_packages.package_id", &origin.package_id)?;
    crate::encode::text("received_packages.provider", &origin.provider)?;
    crate::encode::text("received_packages.request", &origin.request)?;
    for h in hashes {
        crate::encode::text("received_files.sha256", h)?;
    }
    Ok(())
}
