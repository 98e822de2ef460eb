//! Inclusion and consistency proofs, produced from stored hashes and checked
//! against roots, in the form RFC 9162 §2.1.3 and §2.1.4 define: a list of
//! hashes ordered from the bottom of the tree to the top (the audit path
//! from the leaf to the root; for consistency, the RFC's `PROOF(m, D[n])`).
//!
//! Producing a proof reads only the `O(log n)` stored subtree hashes it is
//! made of, in a single [`HashReader::read_hashes`] call. Verifying follows
//! the RFC 9162 algorithms step by step and never panics, whatever the sizes,
//! index or proof length a peer sends.

use crate::hash::{Hash, node_hash};
use crate::tree::{
    HashReader, Subtree, check_tree_size, complete_subtrees, fold_subtrees, read_exact, split_point,
};
use crate::{EMPTY_ROOT, LedgerError};

/// A range of leaves `lo..hi` whose root is one element of a proof.
#[derive(Clone, Copy, Debug)]
struct Span {
    lo: u64,
    hi: u64,
}

/// The audit path proving that leaf `index` is in the tree of `tree_size`
/// leaves, ordered from the leaf's sibling up to the child of the root.
pub fn prove_inclusion<R: HashReader + ?Sized>(
    index: u64,
    tree_size: u64,
    reader: &R,
) -> Result<Vec<Hash>, LedgerError> {
    if index >= tree_size {
        return Err(LedgerError::OutOfRange {
            what: format!("leaf index {index} is not below tree size {tree_size}"),
        });
    }
    check_tree_size(tree_size)?;
    // Walk from the root down to the leaf, noting the subtree not taken at
    // each split (RFC 9162 PATH); the proof lists them bottom-up.
    let mut siblings = Vec::new();
    let (mut lo, mut hi) = (0, tree_size);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            siblings.push(Span { lo: lo + k, hi });
            hi = lo + k;
        } else {
            siblings.push(Span { lo, hi: lo + k });
            lo += k;
        }
    }
    siblings.reverse();
    span_hashes(&siblings, reader)
}

/// The proof that the tree of `old_size` leaves is a prefix of the tree of
/// `new_size` leaves (RFC 9162 `PROOF(m, D[n])`). Empty when the sizes are
/// equal or the old tree is empty.
pub fn prove_consistency<R: HashReader + ?Sized>(
    old_size: u64,
    new_size: u64,
    reader: &R,
) -> Result<Vec<Hash>, LedgerError> {
    if old_size > new_size {
        return Err(LedgerError::OutOfRange {
            what: format!("old tree size {old_size} is larger than new tree size {new_size}"),
        });
    }
    check_tree_size(new_size)?;
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    // RFC 9162 SUBPROOF(m, D[lo..hi], b), unrolled. `whole_old_tree` is the
    // RFC's `b`: true while the walk has only gone left, so that the node
    // where it stops is the old root itself, which the verifier already has.
    let mut path = Vec::new();
    let (mut lo, mut hi) = (0, new_size);
    let mut whole_old_tree = true;
    let common = loop {
        let size = hi - lo;
        let m = old_size - lo;
        if m == size {
            break (!whole_old_tree).then_some(Span { lo, hi });
        }
        let k = split_point(size);
        if m <= k {
            path.push(Span { lo: lo + k, hi });
            hi = lo + k;
        } else {
            path.push(Span { lo, hi: lo + k });
            lo += k;
            whole_old_tree = false;
        }
    };
    let spans: Vec<Span> = common.into_iter().chain(path.into_iter().rev()).collect();
    span_hashes(&spans, reader)
}

/// Reads, in one call, the stored hashes that make up each span and folds
/// them into the span roots.
fn span_hashes<R: HashReader + ?Sized>(
    spans: &[Span],
    reader: &R,
) -> Result<Vec<Hash>, LedgerError> {
    let mut subtrees: Vec<Subtree> = Vec::new();
    let mut bounds = Vec::with_capacity(spans.len());
    for span in spans {
        let start = subtrees.len();
        complete_subtrees(span.lo, span.hi, &mut subtrees);
        bounds.push(start..subtrees.len());
    }
    let positions: Vec<u64> = subtrees.iter().map(|s| s.position()).collect();
    let hashes = read_exact(reader, &positions)?;
    bounds
        .into_iter()
        .map(|range| {
            hashes
                .get(range)
                .and_then(fold_subtrees)
                .ok_or_else(|| LedgerError::OutOfRange {
                    what: "a proof span covered no leaves".into(),
                })
        })
        .collect()
}

/// The root that an inclusion proof leads to from `leaf` at `index` in a tree
/// of `tree_size` leaves (RFC 9162 §2.1.3.2 steps 1–5). Fails if the proof has
/// too few or too many hashes for that position.
pub fn root_from_inclusion_proof(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
) -> Result<Hash, LedgerError> {
    let invalid = || LedgerError::InclusionProofInvalid { index, tree_size };
    if index >= tree_size {
        return Err(LedgerError::OutOfRange {
            what: format!("leaf index {index} is not below tree size {tree_size}"),
        });
    }
    let mut f_n = index;
    let mut s_n = tree_size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(invalid());
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(invalid());
    }
    Ok(r)
}

/// Checks that `proof` shows `leaf` (a leaf hash) at `index` in the tree of
/// `tree_size` leaves whose root is `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), LedgerError> {
    let computed = root_from_inclusion_proof(leaf, index, tree_size, proof)?;
    if computed != *root {
        return Err(LedgerError::InclusionProofInvalid { index, tree_size });
    }
    Ok(())
}

/// Checks that `proof` shows the tree of `old_size` leaves with root
/// `old_root` to be a prefix of the tree of `new_size` leaves with root
/// `new_root` (RFC 9162 §2.1.4.2).
///
/// Edge cases: equal sizes need an empty proof and equal roots. An old size
/// of 0 needs an empty proof and `old_root` equal to the empty-tree root
/// (stricter than some verifiers, which ignore the old root there: the empty
/// tree has exactly one root).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), LedgerError> {
    let invalid = || LedgerError::ConsistencyProofInvalid { old_size, new_size };
    if old_size > new_size {
        return Err(LedgerError::OutOfRange {
            what: format!("old tree size {old_size} is larger than new tree size {new_size}"),
        });
    }
    if old_size == new_size {
        if proof.is_empty() && old_root == new_root {
            return Ok(());
        }
        return Err(invalid());
    }
    if old_size == 0 {
        if proof.is_empty() && *old_root == EMPTY_ROOT {
            return Ok(());
        }
        return Err(invalid());
    }
    // Step 2: when the old tree is a complete subtree, its root starts the
    // path the verifier walks.
    let (first, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        proof.split_first().ok_or_else(invalid)?
    };
    // Steps 3–4.
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5.
    let mut f_r = *first;
    let mut s_r = *first;
    // Step 6.
    for c in rest {
        if s_n == 0 {
            return Err(invalid());
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 7.
    if s_n == 0 && f_r == *old_root && s_r == *new_root {
        Ok(())
    } else {
        Err(invalid())
    }
}
