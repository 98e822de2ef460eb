//! The stored-hash layout of the log and the computations that only need
//! stored hashes: the hashes to store when a record is appended, and the root
//! of any tree size.
//!
//! The layout is the one of Go's `golang.org/x/mod/sumdb/tlog` (and of the
//! `tlog_tiles` port): every complete, aligned subtree of `2^level` leaves
//! starting at leaf `k·2^level` has one hash, stored at the position
//! [`stored_hash_index`]`(level, k)` of a single append-only sequence.
//! Appending record `n` appends its leaf hash followed by the hashes of every
//! subtree that record `n` completes, so the sequence only ever grows at the
//! end and position numbers never change. A node keeps this sequence in a
//! table keyed by position; every root and proof is then computed from
//! `O(log n)` positions read through a [`HashReader`], never by rebuilding
//! the tree.

use crate::hash::{Hash, leaf_hash, node_hash};
use crate::{EMPTY_ROOT, LedgerError};

/// The largest tree this crate will build proofs for or append to. Above it
/// the position arithmetic of the stored-hash layout would leave `u64`; a log
/// of 2^62 records is far beyond any custody ledger.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// Reads stored hashes by position (see [`stored_hash_index`]).
///
/// Implementations backed by a database convert their own errors to
/// [`LedgerError::HashRead`]. They must return exactly one hash per requested
/// position, in the order requested; callers check this and report
/// [`LedgerError::HashReaderContract`] otherwise.
pub trait HashReader {
    /// Returns the hashes stored at `indexes`, in the same order.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, LedgerError>;
}

impl<R: HashReader + ?Sized> HashReader for &R {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, LedgerError> {
        (**self).read_hashes(indexes)
    }
}

/// Position in the stored-hash sequence of the hash of the complete subtree
/// at `level` whose leaves are `n·2^level .. (n+1)·2^level`.
///
/// Level 0 is the leaf hash of record `n`. Defined for subtrees that end at
/// or below [`MAX_TREE_SIZE`] leaves; positions of larger subtrees are not
/// meaningful.
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    // The subtree is stored right after the leaf hash of its last record,
    // `last`, once `level` parents have been completed on top of it.
    let last = n
        .wrapping_add(1)
        .wrapping_shl(u32::from(level))
        .wrapping_sub(1);
    hashes_before_record(last).wrapping_add(u64::from(level))
}

/// Splits a position of the stored-hash sequence into `(level, n)`, the
/// inverse of [`stored_hash_index`].
pub fn split_stored_hash_index(index: u64) -> (u8, u64) {
    // Each record adds at least one hash, and fewer than two per record on
    // average, so the record that stored `index` is at or after `index / 2`.
    let mut record = index / 2;
    let mut first = hashes_before_record(record);
    loop {
        let next = first + 1 + u64::from((record + 1).trailing_zeros());
        if next > index {
            break;
        }
        record += 1;
        first = next;
    }
    // Narrowing cannot lose anything: a record stores at most 64 hashes.
    let level = u8::try_from(index - first).unwrap_or(u8::MAX);
    (level, record >> level)
}

/// Number of hashes stored for a tree of `n` records.
pub fn stored_hash_count(n: u64) -> u64 {
    // Every level `l` contributes one hash per complete run of 2^l records.
    2u64.wrapping_mul(n).wrapping_sub(u64::from(n.count_ones()))
}

/// Number of hashes stored for records `0..record` (the position of the leaf
/// hash of `record`).
fn hashes_before_record(record: u64) -> u64 {
    stored_hash_count(record)
}

/// The hashes to append to the stored sequence when record `n` (the
/// `n`-th entry, counting from 0) with the given bytes is added: its leaf hash
/// followed by the hash of every subtree it completes, bottom-up.
///
/// The reader must hold the hashes of records `0..n`; only the left siblings
/// on the way up are read (at most `log2(n)` positions).
pub fn stored_hashes_for_record<R: HashReader + ?Sized>(
    n: u64,
    entry: &[u8],
    reader: &R,
) -> Result<Vec<Hash>, LedgerError> {
    stored_hashes_for_leaf_hash(n, leaf_hash(entry), reader)
}

/// As [`stored_hashes_for_record`], for a caller that already has the leaf
/// hash.
pub fn stored_hashes_for_leaf_hash<R: HashReader + ?Sized>(
    n: u64,
    leaf: Hash,
    reader: &R,
) -> Result<Vec<Hash>, LedgerError> {
    if n >= MAX_TREE_SIZE {
        return Err(LedgerError::OutOfRange {
            what: format!("record {n} is beyond the largest supported tree ({MAX_TREE_SIZE})"),
        });
    }
    // Record n completes one subtree per trailing one bit of n: at level
    // `l + 1` it joins the subtree of level `l` to its left, whose index at
    // that level is `(n >> l) - 1` (n >> l is odd there).
    let completed = n.trailing_ones();
    let positions: Vec<u64> = (0..completed)
        .map(|level| {
            // `level` < 64, so the narrowing is exact.
            let level8 = u8::try_from(level).unwrap_or(u8::MAX);
            stored_hash_index(level8, (n >> level) - 1)
        })
        .collect();
    let siblings = read_exact(reader, &positions)?;
    let mut out = Vec::with_capacity(siblings.len() + 1);
    let mut current = leaf;
    out.push(current);
    for sibling in &siblings {
        current = node_hash(sibling, &current);
        out.push(current);
    }
    Ok(out)
}

/// The root of the tree made of the first `n` records, read from stored
/// hashes (at most `log2(n) + 1` positions, in one call).
pub fn tree_hash<R: HashReader + ?Sized>(n: u64, reader: &R) -> Result<Hash, LedgerError> {
    if n == 0 {
        return Ok(EMPTY_ROOT);
    }
    check_tree_size(n)?;
    let mut parts = Vec::new();
    complete_subtrees(0, n, &mut parts);
    let positions: Vec<u64> = parts.iter().map(|s| s.position()).collect();
    let hashes = read_exact(reader, &positions)?;
    Ok(fold_subtrees(&hashes).unwrap_or(EMPTY_ROOT))
}

/// Refuses tree sizes whose stored positions would overflow.
pub(crate) fn check_tree_size(n: u64) -> Result<(), LedgerError> {
    if n > MAX_TREE_SIZE {
        return Err(LedgerError::OutOfRange {
            what: format!("tree size {n} is beyond the largest supported tree ({MAX_TREE_SIZE})"),
        });
    }
    Ok(())
}

/// Reads hashes and checks that the reader kept its contract.
pub(crate) fn read_exact<R: HashReader + ?Sized>(
    reader: &R,
    positions: &[u64],
) -> Result<Vec<Hash>, LedgerError> {
    if positions.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(positions)?;
    if hashes.len() != positions.len() {
        return Err(LedgerError::HashReaderContract {
            requested: positions.len(),
            returned: hashes.len(),
        });
    }
    Ok(hashes)
}

/// A complete, aligned subtree: `2^level` leaves starting at
/// `index·2^level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Subtree {
    pub(crate) level: u8,
    pub(crate) index: u64,
}

impl Subtree {
    pub(crate) fn position(self) -> u64 {
        stored_hash_index(self.level, self.index)
    }
}

/// Appends to `out` the complete subtrees that make up leaves `lo..hi`, left
/// to right, each as large as alignment and the range allow. For the ranges
/// RFC 6962 builds trees over this is exactly the decomposition its `MTH`
/// recursion uses: the root of `lo..hi` is the right fold of these subtrees'
/// roots (see [`fold_subtrees`]).
pub(crate) fn complete_subtrees(lo: u64, hi: u64, out: &mut Vec<Subtree>) {
    let mut start = lo;
    while start < hi {
        let remaining = hi - start;
        let mut level = 63 - remaining.leading_zeros();
        if start != 0 {
            level = level.min(start.trailing_zeros());
        }
        // `level` < 64, so the narrowing is exact.
        let level8 = u8::try_from(level).unwrap_or(u8::MAX);
        out.push(Subtree {
            level: level8,
            index: start >> level,
        });
        start += 1u64 << level;
    }
}

/// Combines the roots of consecutive complete subtrees (largest first) into
/// the root of their union, as RFC 6962's `MTH` does: the rightmost two are
/// joined first. `None` for an empty list.
pub(crate) fn fold_subtrees(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    let mut acc = *last;
    for left in rest.iter().rev() {
        acc = node_hash(left, &acc);
    }
    Some(acc)
}

/// The largest power of two strictly below `n` (for `n >= 2`): the size of
/// the left subtree when RFC 6962 splits `n` leaves.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_the_go_layout() {
        // Records 0..8 store: 0:L0, 1:L1, 2:N(1,0), 3:L2, 4:L3, 5:N(1,1),
        // 6:N(2,0), 7:L4, 8:L5, 9:N(1,2), 10:L6, 11:L7, 12:N(1,3),
        // 13:N(2,1), 14:N(3,0).
        let expected = [
            (0, 0, 0),
            (0, 1, 1),
            (1, 0, 2),
            (0, 2, 3),
            (0, 3, 4),
            (1, 1, 5),
            (2, 0, 6),
            (0, 4, 7),
            (0, 5, 8),
            (1, 2, 9),
            (0, 6, 10),
            (0, 7, 11),
            (1, 3, 12),
            (2, 1, 13),
            (3, 0, 14),
        ];
        for (level, n, position) in expected {
            assert_eq!(stored_hash_index(level, n), position, "({level}, {n})");
            assert_eq!(split_stored_hash_index(position), (level, n));
        }
        assert_eq!(stored_hash_count(8), 15);
        assert_eq!(stored_hash_count(7), 11);
    }

    #[test]
    fn split_points() {
        for (n, k) in [
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 4),
            (8, 4),
            (9, 8),
            (1 << 40, 1 << 39),
        ] {
            assert_eq!(split_point(n), k, "{n}");
        }
    }
}
