//! The Merkle log against published RFC 6962 vectors and two independent
//! implementations: `ct-merkle` (RFC 6962 proofs built from an in-memory
//! tree) and `tlog_tiles` (the port of Go's `sumdb/tlog`, which defines the
//! stored-hash layout). Property tests check that every generated proof
//! verifies, equals both implementations' proofs, and that flipping any one
//! bit of the proof, the root or the leaf makes it fail.

// Test code: a panic is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod common;

use common::{entries, flip_hash, hash_hex, hashes, n, unhex, vectors};
use custos_ledger::{
    EMPTY_ROOT, Hash, HashReader, LedgerError, MemoryLog, RootBuilder, leaf_hash, node_hash,
    prove_consistency, prove_inclusion, root_of_entries, split_stored_hash_index,
    stored_hash_count, stored_hash_index, stored_hashes_for_record, tree_hash, verify_all,
    verify_consistency, verify_inclusion,
};
use proptest::prelude::*;
use sha2::Sha256;

fn reference_leaves() -> Vec<Vec<u8>> {
    vectors("rfc6962.json")["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| unhex(l.as_str().unwrap()))
        .collect()
}

fn reference_roots() -> Vec<Hash> {
    hashes(&vectors("rfc6962.json")["roots_by_size"])
}

#[test]
fn empty_tree_root_is_sha256_of_nothing() {
    let v = vectors("rfc6962.json");
    assert_eq!(EMPTY_ROOT, hash_hex(v["empty_root"].as_str().unwrap()));
    assert_eq!(MemoryLog::new().root(), EMPTY_ROOT);
    assert_eq!(RootBuilder::new().root(), EMPTY_ROOT);
    assert_eq!(tree_hash(0, &MemoryLog::new()).unwrap(), EMPTY_ROOT);
}

#[test]
fn reference_roots_for_every_size() {
    let leaves = reference_leaves();
    let roots = reference_roots();
    let log = MemoryLog::from_entries(&leaves).unwrap();
    for (size, expected) in roots.iter().enumerate() {
        let size = size as u64;
        assert_eq!(log.root_at(size).unwrap(), *expected, "root at size {size}");
        let (count, streamed) = root_of_entries(&leaves[..size as usize]).unwrap();
        assert_eq!(
            (count, streamed),
            (size, *expected),
            "streamed root at {size}"
        );
    }
    // The one-leaf root is the leaf hash; two leaves are one node.
    assert_eq!(roots[1], leaf_hash(&leaves[0]));
    assert_eq!(
        roots[2],
        node_hash(&leaf_hash(&leaves[0]), &leaf_hash(&leaves[1]))
    );
}

#[test]
fn reference_inclusion_proofs() {
    let v = vectors("rfc6962.json");
    let leaves = reference_leaves();
    let roots = reference_roots();
    let log = MemoryLog::from_entries(&leaves).unwrap();
    for case in v["inclusion"].as_array().unwrap() {
        let (index, size) = (n(case, "index"), n(case, "tree_size"));
        let expected = hashes(&case["proof"]);
        let proof = log.prove_inclusion(index, size).unwrap();
        assert_eq!(proof, expected, "proof of {index} in {size}");
        let leaf = leaf_hash(&leaves[index as usize]);
        let root = roots[size as usize];
        verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
        for (what, probe) in corrupt_inclusion(index, size, &proof, &root, &leaf) {
            assert!(
                verify_inclusion(
                    &probe.leaf,
                    probe.index,
                    probe.size,
                    &probe.proof,
                    &probe.root
                )
                .is_err(),
                "{what} verified for leaf {index} in {size}"
            );
        }
    }
}

#[test]
fn reference_consistency_proofs() {
    let v = vectors("rfc6962.json");
    let roots = reference_roots();
    let log = MemoryLog::from_entries(reference_leaves()).unwrap();
    for case in v["consistency"].as_array().unwrap() {
        let (old, new) = (n(case, "old_size"), n(case, "new_size"));
        let expected = hashes(&case["proof"]);
        let proof = log.prove_consistency(old, new).unwrap();
        assert_eq!(proof, expected, "proof {old} -> {new}");
        let (old_root, new_root) = (roots[old as usize], roots[new as usize]);
        verify_consistency(old, new, &old_root, &new_root, &proof).unwrap();
        if proof.is_empty() {
            continue;
        }
        for (what, probe) in corrupt_consistency(old, new, &old_root, &new_root, &proof) {
            assert!(
                verify_consistency(
                    probe.old,
                    probe.new,
                    &probe.old_root,
                    &probe.new_root,
                    &probe.proof
                )
                .is_err(),
                "{what} verified for {old} -> {new}"
            );
        }
    }
}

struct InclusionProbe {
    index: u64,
    size: u64,
    leaf: Hash,
    root: Hash,
    proof: Vec<Hash>,
}

/// Wrong indexes, sizes, leaves and roots, added, removed and altered proof
/// elements: none may verify.
fn corrupt_inclusion(
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
    leaf: &Hash,
) -> Vec<(String, InclusionProbe)> {
    let some = hash_hex("abacaba000000000000000000000000000000000000000000060061e00123456");
    let probe = |index, size, leaf, root, proof: Vec<Hash>| InclusionProbe {
        index,
        size,
        leaf,
        root,
        proof,
    };
    let mut out = vec![
        (
            "index + 1".into(),
            probe(index + 1, size, *leaf, *root, proof.to_vec()),
        ),
        (
            "index ^ 2".into(),
            probe(index ^ 2, size, *leaf, *root, proof.to_vec()),
        ),
        (
            "size * 2".into(),
            probe(index, size * 2, *leaf, *root, proof.to_vec()),
        ),
        (
            "size / 2".into(),
            probe(index, size / 2, *leaf, *root, proof.to_vec()),
        ),
        (
            "wrong leaf".into(),
            probe(index, size, some, *root, proof.to_vec()),
        ),
        (
            "empty root".into(),
            probe(index, size, *leaf, EMPTY_ROOT, proof.to_vec()),
        ),
        (
            "random root".into(),
            probe(index, size, *leaf, some, proof.to_vec()),
        ),
        (
            "trailing root".into(),
            probe(index, size, *leaf, *root, [proof, &[*root]].concat()),
        ),
        (
            "preceding root".into(),
            probe(index, size, *leaf, *root, [&[*root], proof].concat()),
        ),
    ];
    if index > 0 {
        out.push((
            "index - 1".into(),
            probe(index - 1, size, *leaf, *root, proof.to_vec()),
        ));
    }
    for i in 0..proof.len() {
        let mut bad = proof.to_vec();
        bad[i] = flip_hash(&bad[i], 3);
        out.push((
            format!("proof[{i}] bit 3"),
            probe(index, size, *leaf, *root, bad),
        ));
    }
    if let Some((_, shorter)) = proof.split_last() {
        out.push((
            "removed element".into(),
            probe(index, size, *leaf, *root, shorter.to_vec()),
        ));
    }
    if proof.len() > 1 {
        let mut inserted = proof.to_vec();
        inserted.insert(1, some);
        out.push((
            "inserted element".into(),
            probe(index, size, *leaf, *root, inserted),
        ));
    }
    out
}

struct ConsistencyProbe {
    old: u64,
    new: u64,
    old_root: Hash,
    new_root: Hash,
    proof: Vec<Hash>,
}

fn corrupt_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Vec<(String, ConsistencyProbe)> {
    let other = hash_hex("abacaba000000000000000000000000000000000000000000060061e00123456");
    let probe = |old, new, old_root: &Hash, new_root: &Hash, proof: Vec<Hash>| ConsistencyProbe {
        old,
        new,
        old_root: *old_root,
        new_root: *new_root,
        proof,
    };
    let mut out = vec![
        (
            "old - 1".into(),
            probe(old - 1, new, old_root, new_root, proof.to_vec()),
        ),
        (
            "old + 1".into(),
            probe(old + 1, new, old_root, new_root, proof.to_vec()),
        ),
        (
            "old ^ 2".into(),
            probe(old ^ 2, new, old_root, new_root, proof.to_vec()),
        ),
        (
            "new * 2".into(),
            probe(old, new * 2, old_root, new_root, proof.to_vec()),
        ),
        (
            "new / 2".into(),
            probe(old, new / 2, old_root, new_root, proof.to_vec()),
        ),
        (
            "wrong old root".into(),
            probe(old, new, &other, new_root, proof.to_vec()),
        ),
        (
            "wrong new root".into(),
            probe(old, new, old_root, &other, proof.to_vec()),
        ),
        (
            "swapped roots".into(),
            probe(old, new, new_root, old_root, proof.to_vec()),
        ),
        (
            "empty proof".into(),
            probe(old, new, old_root, new_root, Vec::new()),
        ),
        (
            "trailing old root".into(),
            probe(old, new, old_root, new_root, [proof, &[*old_root]].concat()),
        ),
        (
            "trailing new root".into(),
            probe(old, new, old_root, new_root, [proof, &[*new_root]].concat()),
        ),
        (
            "preceding old root".into(),
            probe(old, new, old_root, new_root, [&[*old_root], proof].concat()),
        ),
        (
            "preceding proof[0]".into(),
            probe(old, new, old_root, new_root, [&proof[..1], proof].concat()),
        ),
        (
            "truncated".into(),
            probe(
                old,
                new,
                old_root,
                new_root,
                proof[..proof.len() - 1].to_vec(),
            ),
        ),
    ];
    for i in 0..proof.len() {
        let mut bad = proof.to_vec();
        bad[i] = flip_hash(&bad[i], 4);
        out.push((
            format!("proof[{i}] bit 4"),
            probe(old, new, old_root, new_root, bad),
        ));
    }
    out
}

#[test]
fn trivial_consistency_cases() {
    let a = leaf_hash(b"a");
    let b = leaf_hash(b"b");
    // Equal sizes: empty proof, equal roots.
    verify_consistency(3, 3, &a, &a, &[]).unwrap();
    assert!(verify_consistency(3, 3, &a, &b, &[]).is_err());
    assert!(verify_consistency(3, 3, &a, &a, &[a]).is_err());
    // From the empty tree: empty proof, and the old root must be the empty root.
    verify_consistency(0, 5, &EMPTY_ROOT, &b, &[]).unwrap();
    assert!(verify_consistency(0, 5, &a, &b, &[]).is_err());
    assert!(verify_consistency(0, 5, &EMPTY_ROOT, &b, &[a]).is_err());
    verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]).unwrap();
    // Going back in time is refused.
    assert!(matches!(
        verify_consistency(2, 1, &a, &b, &[]),
        Err(LedgerError::OutOfRange { .. })
    ));
    // A non-trivial pair needs a proof.
    assert!(verify_consistency(1, 2, &a, &b, &[]).is_err());
}

#[test]
fn inclusion_edge_cases() {
    let leaf = leaf_hash(b"data");
    // A one-leaf tree: the leaf is the root and the proof is empty.
    verify_inclusion(&leaf, 0, 1, &[], &leaf).unwrap();
    assert!(verify_inclusion(&leaf, 0, 1, &[], &EMPTY_ROOT).is_err());
    assert!(verify_inclusion(&leaf, 0, 1, &[leaf], &leaf).is_err());
    // Index outside the tree, including the empty tree.
    for (index, size) in [(0, 0), (1, 0), (1, 1), (2, 1), (u64::MAX, 3)] {
        assert!(matches!(
            verify_inclusion(&leaf, index, size, &[], &leaf),
            Err(LedgerError::OutOfRange { .. })
        ));
    }
    // Huge sizes from a peer do not panic.
    assert!(verify_inclusion(&leaf, u64::MAX - 1, u64::MAX, &[leaf; 64], &leaf).is_err());
    assert!(verify_consistency(u64::MAX - 1, u64::MAX, &leaf, &leaf, &[leaf; 70]).is_err());
}

#[test]
fn proving_outside_the_log_is_an_error() {
    let log = MemoryLog::from_entries(entries(10)).unwrap();
    assert!(matches!(
        log.prove_inclusion(10, 10),
        Err(LedgerError::OutOfRange { .. })
    ));
    assert!(matches!(
        log.prove_inclusion(3, 11),
        Err(LedgerError::OutOfRange { .. })
    ));
    assert!(matches!(
        log.prove_consistency(5, 11),
        Err(LedgerError::OutOfRange { .. })
    ));
    assert!(matches!(
        log.prove_consistency(6, 5),
        Err(LedgerError::OutOfRange { .. })
    ));
    // Through the bare reader, a size beyond what is stored is a read error,
    // not a panic.
    assert!(matches!(
        prove_inclusion(3, 12, &log),
        Err(LedgerError::HashRead { .. })
    ));
    assert!(matches!(
        prove_inclusion(3, u64::MAX, &log),
        Err(LedgerError::OutOfRange { .. })
    ));
    assert!(matches!(
        tree_hash(1 << 63, &log),
        Err(LedgerError::OutOfRange { .. })
    ));
}

/// A reader that returns one hash too few: the contract breach is reported,
/// not trusted and not a panic.
struct ShortReader(MemoryLog);

impl HashReader for ShortReader {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, LedgerError> {
        let mut out = self.0.read_hashes(indexes)?;
        out.pop();
        Ok(out)
    }
}

#[test]
fn a_reader_breaking_its_contract_is_an_error() {
    let reader = ShortReader(MemoryLog::from_entries(entries(13)).unwrap());
    let contract =
        |r: Result<_, LedgerError>| matches!(r, Err(LedgerError::HashReaderContract { .. }));
    assert!(contract(tree_hash(13, &reader).map(|_| ())));
    assert!(contract(prove_inclusion(4, 13, &reader).map(|_| ())));
    assert!(contract(prove_consistency(5, 13, &reader).map(|_| ())));
    assert!(contract(
        stored_hashes_for_record(13, b"x", &reader).map(|_| ())
    ));
}

#[test]
fn stored_hashes_are_laid_out_as_in_go_tlog() {
    // Build the same log with tlog_tiles (the port of Go's sumdb/tlog) and
    // compare the stored sequences position by position.
    let data = entries(300);
    let ours = MemoryLog::from_entries(&data).unwrap();
    let theirs = TlogStore::from_entries(&data);
    assert_eq!(ours.stored_hashes().len(), theirs.0.len());
    for (position, (a, b)) in ours.stored_hashes().iter().zip(&theirs.0).enumerate() {
        assert_eq!(a.0, b.0, "stored hash at position {position}");
    }
    assert_eq!(stored_hash_count(300), ours.stored_hashes().len() as u64);
    for level in 0..8u8 {
        for index in 0..40u64 {
            assert_eq!(
                stored_hash_index(level, index),
                tlog_tiles::stored_hash_index(level, index),
                "({level}, {index})"
            );
        }
    }
    for position in 0..2000u64 {
        assert_eq!(
            split_stored_hash_index(position),
            tlog_tiles::split_stored_hash_index(position)
        );
    }
    // A plain slice of stored hashes is a reader too.
    assert_eq!(tree_hash(300, ours.stored_hashes()).unwrap(), ours.root());
}

#[test]
fn verify_all_recomputes_the_whole_ledger() {
    let data = entries(1000);
    let log = MemoryLog::from_entries(&data).unwrap();
    assert_eq!(verify_all(&data, 1000, &log.root()).unwrap(), log.root());
    // A changed, missing or extra entry is found.
    let mut changed = data.clone();
    changed[517].push(0);
    assert!(matches!(
        verify_all(&changed, 1000, &log.root()),
        Err(LedgerError::RootMismatch { .. })
    ));
    assert!(verify_all(&data[..999], 1000, &log.root()).is_err());
    let mut extra = data.clone();
    extra.push(Vec::new());
    assert!(verify_all(&extra, 1000, &log.root()).is_err());
    // The builder also counts the stored hashes a log of that size holds.
    let mut builder = RootBuilder::new();
    for entry in &data {
        builder.push_entry(entry).unwrap();
    }
    assert_eq!(
        builder.stored_hash_count(),
        log.stored_hashes().len() as u64
    );
}

/// The hashes the streaming builder reports as it goes are the stored-hash
/// sequence of the log, position by position, for every prefix.
#[test]
fn root_builder_reports_the_stored_hash_sequence() {
    let data = entries(300);
    let log = MemoryLog::from_entries(&data).unwrap();
    let mut builder = RootBuilder::new();
    let mut reported = Vec::new();
    for (i, entry) in data.iter().enumerate() {
        builder
            .push_leaf_hash_stored(leaf_hash(entry), |h| reported.push(*h))
            .unwrap();
        let prefix = MemoryLog::from_entries(&data[..=i]).unwrap();
        assert_eq!(
            reported.as_slice(),
            prefix.stored_hashes(),
            "after entry {i}"
        );
        assert_eq!(builder.root(), prefix.root());
    }
    assert_eq!(reported.as_slice(), log.stored_hashes());
}

/// The stored hashes of a log built with `tlog_tiles`.
struct TlogStore(Vec<tlog_tiles::Hash>);

impl TlogStore {
    fn from_entries(data: &[Vec<u8>]) -> Self {
        let mut store = Self(Vec::new());
        for (i, entry) in data.iter().enumerate() {
            let new = tlog_tiles::stored_hashes(i as u64, entry, &store).unwrap();
            store.0.extend(new);
        }
        store
    }
}

impl tlog_tiles::HashReader for TlogStore {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                self.0
                    .get(i as usize)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

fn ct_tree(data: &[Vec<u8>]) -> ct_merkle::mem_backed_tree::MemoryBackedTree<Sha256, Vec<u8>> {
    let mut tree = ct_merkle::mem_backed_tree::MemoryBackedTree::new();
    for entry in data {
        tree.push(entry.clone());
    }
    tree
}

fn concat(proof: &[Hash]) -> Vec<u8> {
    proof.iter().flat_map(|h| h.0).collect()
}

fn from_tlog(proof: &[tlog_tiles::Hash]) -> Vec<Hash> {
    proof.iter().map(|h| Hash(h.0)).collect()
}

/// A tree size, an index in it and an older size, with random entries.
fn log_case() -> impl Strategy<Value = (Vec<Vec<u8>>, u64, u64)> {
    (1usize..200).prop_flat_map(|size| {
        (
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), size),
            0..size as u64,
            1..=size as u64,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn every_inclusion_proof_verifies_and_matches_other_implementations(
        (data, index, _old) in log_case(),
        bit in 0usize..256,
    ) {
        let size = data.len() as u64;
        let log = MemoryLog::from_entries(&data).unwrap();
        let root = log.root();
        let ct = ct_tree(&data);
        let ct_root = ct.root();
        prop_assert_eq!(root.0.as_slice(), ct_root.as_bytes().as_slice());
        let tlog = TlogStore::from_entries(&data);
        prop_assert_eq!(root.0, tlog_tiles::tree_hash(size, &tlog).unwrap().0);

        let proof = log.prove_inclusion(index, size).unwrap();
        let leaf = leaf_hash(&data[index as usize]);
        verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
        prop_assert_eq!(concat(&proof), ct.prove_inclusion(index as usize).as_bytes().to_vec());
        prop_assert_eq!(&proof, &from_tlog(&tlog_tiles::prove_record(size, index, &tlog).unwrap()));

        // One flipped bit anywhere breaks it.
        prop_assert!(verify_inclusion(&flip_hash(&leaf, bit), index, size, &proof, &root).is_err());
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &flip_hash(&root, bit)).is_err());
        if !proof.is_empty() {
            let which = bit % proof.len();
            let mut bad = proof.clone();
            bad[which] = flip_hash(&bad[which], bit);
            prop_assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_matches_other_implementations(
        (data, _index, old) in log_case(),
        bit in 0usize..256,
    ) {
        let new = data.len() as u64;
        let log = MemoryLog::from_entries(&data).unwrap();
        let (old_root, new_root) = (log.root_at(old).unwrap(), log.root());
        let proof = log.prove_consistency(old, new).unwrap();
        verify_consistency(old, new, &old_root, &new_root, &proof).unwrap();

        let ct = ct_tree(&data);
        prop_assert_eq!(
            concat(&proof),
            ct.prove_consistency((new - old) as usize).as_bytes().to_vec()
        );
        let tlog = TlogStore::from_entries(&data);
        prop_assert_eq!(&proof, &from_tlog(&tlog_tiles::prove_tree(new, old, &tlog).unwrap()));

        if old < new {
            prop_assert!(verify_consistency(old, new, &flip_hash(&old_root, bit), &new_root, &proof).is_err());
            prop_assert!(verify_consistency(old, new, &old_root, &flip_hash(&new_root, bit), &proof).is_err());
            if !proof.is_empty() {
                let which = bit % proof.len();
                let mut bad = proof.clone();
                bad[which] = flip_hash(&bad[which], bit);
                prop_assert!(verify_consistency(old, new, &old_root, &new_root, &bad).is_err());
            }
        }
    }

    #[test]
    fn stored_hash_positions_round_trip(level in 0u8..40, index in 0u64..(1 << 20)) {
        let position = stored_hash_index(level, index);
        prop_assert_eq!(split_stored_hash_index(position), (level, index));
        prop_assert_eq!(position, tlog_tiles::stored_hash_index(level, index));
    }

    #[test]
    fn streamed_root_equals_stored_root(data in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..20), 0..300)
    ) {
        let log = MemoryLog::from_entries(&data).unwrap();
        let (size, root) = root_of_entries(&data).unwrap();
        prop_assert_eq!(size, log.size());
        prop_assert_eq!(root, log.root());
    }
}

/// Hashing aligned runs of leaves into their own subtrees and pushing only
/// each run's root gives the same stored-hash sequence and roots as pushing
/// every leaf: a run's stored hashes depend on nothing outside it. A
/// misaligned subtree is refused.
#[test]
fn root_builder_takes_aligned_subtrees() {
    let data = entries(300);
    let leaves: Vec<Hash> = data.iter().map(|e| leaf_hash(e)).collect();
    let log = MemoryLog::from_entries(&data).unwrap();
    for level in 0..6u32 {
        let run = 1usize << level;
        let mut builder = RootBuilder::new();
        let mut reported = Vec::new();
        let mut chunks = leaves.chunks_exact(run);
        for chunk in &mut chunks {
            let mut sub = RootBuilder::new();
            for leaf in chunk {
                sub.push_leaf_hash_stored(*leaf, |h| reported.push(*h))
                    .unwrap();
            }
            builder
                .push_subtree_stored(level, sub.root(), |h| reported.push(*h))
                .unwrap();
            let prefix = MemoryLog::from_entries(&data[..builder.size() as usize]).unwrap();
            assert_eq!(reported.as_slice(), prefix.stored_hashes(), "run {run}");
            assert_eq!(builder.root(), prefix.root(), "run {run}");
        }
        for leaf in chunks.remainder() {
            builder
                .push_leaf_hash_stored(*leaf, |h| reported.push(*h))
                .unwrap();
        }
        assert_eq!(reported.as_slice(), log.stored_hashes(), "run {run}");
        assert_eq!(builder.root(), log.root(), "run {run}");
    }
    let mut builder = RootBuilder::new();
    builder.push_leaf_hash(leaves[0]).unwrap();
    assert!(matches!(
        builder.push_subtree_stored(1, leaves[1], |_| {}),
        Err(LedgerError::OutOfRange { .. })
    ));
    assert_eq!(builder.size(), 1, "a refused subtree adds nothing");
    assert!(matches!(
        RootBuilder::new().push_subtree_stored(64, leaves[1], |_| {}),
        Err(LedgerError::OutOfRange { .. })
    ));
}
