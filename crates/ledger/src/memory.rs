//! In-memory forms of the log: [`MemoryLog`], the stored-hash sequence held
//! in a vector (for tests, tools and small ledgers), and [`RootBuilder`],
//! which computes the root of a stream of entries in `O(log n)` memory so that
//! a whole ledger can be re-verified in one pass at close to the speed of
//! SHA-256 itself.

use crate::hash::{Hash, leaf_hash, node_hash};
use crate::tree::{
    HashReader, MAX_TREE_SIZE, stored_hash_count, stored_hashes_for_leaf_hash, tree_hash,
};
use crate::{EMPTY_ROOT, LedgerError, proof};

/// A log whose stored hashes live in memory, in the positions
/// [`crate::stored_hash_index`] assigns. It is a [`HashReader`], so every
/// proof function works on it exactly as on a database-backed store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryLog {
    hashes: Vec<Hash>,
    size: u64,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a log from entries, in order.
    pub fn from_entries<I, E>(entries: I) -> Result<Self, LedgerError>
    where
        I: IntoIterator<Item = E>,
        E: AsRef<[u8]>,
    {
        let mut log = Self::new();
        for entry in entries {
            log.append(entry.as_ref())?;
        }
        Ok(log)
    }

    /// Appends one entry; returns its index.
    pub fn append(&mut self, entry: &[u8]) -> Result<u64, LedgerError> {
        self.append_leaf_hash(leaf_hash(entry))
    }

    /// Appends a leaf by its hash; returns its index.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> Result<u64, LedgerError> {
        let index = self.size;
        let new = stored_hashes_for_leaf_hash(index, leaf, self)?;
        self.hashes.extend(new);
        self.size += 1;
        Ok(index)
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the log has no entries.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The stored-hash sequence, position by position (what a node persists).
    pub fn stored_hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        // The reader is this log and the size is its own, so every position
        // asked for exists; an error here would mean the layout is broken.
        self.root_at(self.size).unwrap_or(EMPTY_ROOT)
    }

    /// The root of the first `size` entries.
    pub fn root_at(&self, size: u64) -> Result<Hash, LedgerError> {
        self.check_size(size)?;
        tree_hash(size, self)
    }

    /// Inclusion proof of entry `index` in the tree of `tree_size` entries.
    pub fn prove_inclusion(&self, index: u64, tree_size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(tree_size)?;
        proof::prove_inclusion(index, tree_size, self)
    }

    /// Consistency proof between two sizes of this log.
    pub fn prove_consistency(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(new_size)?;
        proof::prove_consistency(old_size, new_size, self)
    }

    fn check_size(&self, size: u64) -> Result<(), LedgerError> {
        if size > self.size {
            return Err(LedgerError::OutOfRange {
                what: format!("tree size {size} is larger than the log ({})", self.size),
            });
        }
        Ok(())
    }
}

impl HashReader for MemoryLog {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, LedgerError> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.hashes.get(i))
                    .copied()
                    .ok_or_else(|| LedgerError::HashRead {
                        reason: format!(
                            "position {i} is not stored (the log holds {} hashes for {} entries)",
                            self.hashes.len(),
                            self.size
                        ),
                    })
            })
            .collect()
    }
}

/// A plain vector of stored hashes is a reader too (position = vector index).
impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, LedgerError> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.get(i))
                    .copied()
                    .ok_or_else(|| LedgerError::HashRead {
                        reason: format!("position {i} is not stored ({} hashes held)", self.len()),
                    })
            })
            .collect()
    }
}

/// Streams entries (or leaf hashes) and yields the root of the tree they
/// form, keeping only one hash per level: the roots of the complete subtrees
/// seen so far, largest first.
#[derive(Clone, Debug, Default)]
pub struct RootBuilder {
    /// `(level, hash)` of each pending complete subtree, levels strictly
    /// decreasing from the bottom of the stack to the top.
    stack: Vec<(u32, Hash)>,
    size: u64,
}

impl RootBuilder {
    /// A builder for the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next entry.
    pub fn push_entry(&mut self, entry: &[u8]) -> Result<(), LedgerError> {
        self.push_leaf_hash(leaf_hash(entry))
    }

    /// Adds the next leaf by its hash.
    pub fn push_leaf_hash(&mut self, leaf: Hash) -> Result<(), LedgerError> {
        self.push_leaf_hash_stored(leaf, |_| {})
    }

    /// Adds the next leaf by its hash and hands `stored` each hash the
    /// stored-hash sequence gains with it, in storage order: the leaf hash,
    /// then the hash of every subtree the leaf completes, bottom-up (the
    /// hashes [`stored_hashes_for_leaf_hash`] computes, without reading any).
    /// Full verification compares these, one by one, with the stored ones.
    pub fn push_leaf_hash_stored(
        &mut self,
        leaf: Hash,
        mut stored: impl FnMut(&Hash),
    ) -> Result<(), LedgerError> {
        if self.size >= MAX_TREE_SIZE {
            return Err(LedgerError::OutOfRange {
                what: format!("tree size would pass the supported maximum ({MAX_TREE_SIZE})"),
            });
        }
        stored(&leaf);
        self.fold(0, leaf, stored);
        self.size += 1;
        Ok(())
    }

    /// Adds the next `2^level` leaves at once by the root of the complete
    /// subtree they form (whose own stored hashes the caller has already
    /// dealt with), and hands `stored` each hash above it that the subtree
    /// completes, bottom-up, as [`RootBuilder::push_leaf_hash_stored`] would
    /// for the subtree's last leaf. The size must be a multiple of
    /// `2^level`: subtrees are aligned.
    ///
    /// This lets the leaves of aligned runs be hashed into their subtrees
    /// elsewhere (each run's stored hashes depend on nothing outside it)
    /// while the tree above them is kept here.
    pub fn push_subtree_stored(
        &mut self,
        level: u32,
        subtree: Hash,
        stored: impl FnMut(&Hash),
    ) -> Result<(), LedgerError> {
        let leaves = 1u64
            .checked_shl(level)
            .filter(|n| self.size.checked_add(*n).is_some_and(|end| end <= MAX_TREE_SIZE))
            .ok_or_else(|| LedgerError::OutOfRange {
                what: format!("a subtree of level {level} would pass the supported maximum tree size ({MAX_TREE_SIZE})"),
            })?;
        if !self.size.is_multiple_of(leaves) {
            return Err(LedgerError::OutOfRange {
                what: format!(
                    "a subtree of {leaves} leaves cannot start at {}: subtrees are aligned",
                    self.size
                ),
            });
        }
        self.fold(level, subtree, stored);
        self.size += leaves;
        Ok(())
    }

    /// Puts the root of a complete subtree of `level` on the stack, merging
    /// it with the subtrees it completes and handing each new hash to
    /// `stored`.
    fn fold(&mut self, mut level: u32, mut hash: Hash, mut stored: impl FnMut(&Hash)) {
        while let Some(&(top_level, top)) = self.stack.last() {
            if top_level != level {
                break;
            }
            self.stack.pop();
            hash = node_hash(&top, &hash);
            stored(&hash);
            level += 1;
        }
        self.stack.push((level, hash));
    }

    /// Number of leaves added.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the leaves added so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return EMPTY_ROOT;
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }

    /// How many stored hashes a [`MemoryLog`] of this size would hold.
    pub fn stored_hash_count(&self) -> u64 {
        stored_hash_count(self.size)
    }
}

/// Recomputes, in one streaming pass, the size and root of the tree formed by
/// `entries`.
pub fn root_of_entries<I, E>(entries: I) -> Result<(u64, Hash), LedgerError>
where
    I: IntoIterator<Item = E>,
    E: AsRef<[u8]>,
{
    let mut builder = RootBuilder::new();
    for entry in entries {
        builder.push_entry(entry.as_ref())?;
    }
    Ok((builder.size(), builder.root()))
}

/// Re-verifies a whole ledger: the entries, streamed in order, must form a
/// tree of exactly `size` leaves with root `root` (typically the size and
/// root of a signed checkpoint). Returns the root on success.
pub fn verify_all<I, E>(entries: I, size: u64, root: &Hash) -> Result<Hash, LedgerError>
where
    I: IntoIterator<Item = E>,
    E: AsRef<[u8]>,
{
    let (found_size, found_root) = root_of_entries(entries)?;
    if found_size != size || found_root != *root {
        return Err(LedgerError::RootMismatch {
            expected_size: size,
            expected_root: *root,
            found_size,
            found_root,
        });
    }
    Ok(found_root)
}
