//! How the store keeps the tree's stored hashes: [`BLOCK`] consecutive
//! hashes by storage index to a row of `ledger_hash_blocks`, row `b`
//! holding indexes `b * BLOCK ..`, every row full but the last.
//!
//! A ledger of a million entries keeps two million hashes; one row each
//! made a full verification spend as long stepping through rows as hashing
//! the entries. Blocks keep the row count a thirty-second of that, and the
//! rows small enough to sit inside a database page on both backends. The
//! stored hashes are a prefix without gaps: an append extends it exactly
//! where it ends, rewriting the last block if it was not full.
//!
//! Both adapters share this file; they only read and write whole rows.

use std::collections::HashMap;

use crate::StoreError;

/// The table and column, for errors.
pub(crate) const TABLE: &str = "ledger_hash_blocks";
pub(crate) const COLUMN: &str = "hashes";

/// Hashes per row. The migration that made the table uses the same number.
pub(crate) const BLOCK: u64 = 32;

const HASH: usize = 32;

/// A block row as read: its number and its bytes (`None` for SQL NULL).
pub(crate) type BlockRow = (i64, Option<Vec<u8>>);

/// The row holding storage index `index`, and the hash's place in it.
pub(crate) fn place(index: u64) -> (u64, usize) {
    (index / BLOCK, (index % BLOCK) as usize)
}

/// The rows to read for these storage indexes, each once, as SQL integers;
/// an index too large for any row is left out (and reported missing).
pub(crate) fn blocks_for(indexes: impl IntoIterator<Item = u64>) -> Vec<i64> {
    let mut blocks: Vec<i64> = indexes
        .into_iter()
        .filter_map(|index| i64::try_from(place(index).0).ok())
        .collect();
    blocks.sort_unstable();
    blocks.dedup();
    blocks
}

/// The hashes in a row's bytes, or what is wrong with them (said about
/// `index`, the hash that was wanted from it).
pub(crate) fn split(block: i64, raw: Option<&[u8]>, index: u64) -> Result<&[u8], StoreError> {
    let corrupt = |what: String| StoreError::Corrupt {
        table: TABLE,
        column: COLUMN,
        detail: format!("index {index}: block {block} {what}"),
    };
    let raw = raw.ok_or_else(|| corrupt("is NULL".into()))?;
    if raw.is_empty() || !raw.len().is_multiple_of(HASH) || raw.len() > BLOCK as usize * HASH {
        return Err(corrupt(format!(
            "holds {} bytes, not 1 to {BLOCK} whole 32-byte hashes",
            raw.len()
        )));
    }
    Ok(raw)
}

/// What a read answers for a storage index no row holds.
pub(crate) fn missing(index: u64) -> StoreError {
    StoreError::Corrupt {
        table: TABLE,
        column: COLUMN,
        detail: format!("no hash is stored at index {index}"),
    }
}

/// The hashes at `indexes`, in the order asked (repeats included), from
/// the rows read for them.
pub(crate) fn hashes_at(indexes: &[u64], rows: &[BlockRow]) -> Result<Vec<[u8; 32]>, StoreError> {
    let rows: HashMap<i64, Option<&[u8]>> = rows
        .iter()
        .map(|(block, raw)| (*block, raw.as_deref()))
        .collect();
    indexes
        .iter()
        .map(|&index| {
            let (block, at) = place(index);
            let block = i64::try_from(block).map_err(|_| missing(index))?;
            let raw = rows.get(&block).ok_or_else(|| missing(index))?;
            let hashes = split(block, *raw, index)?;
            hashes
                .get(at * HASH..(at + 1) * HASH)
                .and_then(|hash| <[u8; 32]>::try_from(hash).ok())
                .ok_or_else(|| missing(index))
        })
        .collect()
}

/// How many hashes are stored, from the last row (the highest block).
pub(crate) fn stored_count(last: Option<&BlockRow>) -> Result<u64, StoreError> {
    let Some((block, raw)) = last else {
        return Ok(0);
    };
    let first = u64::try_from(*block)
        .ok()
        .and_then(|b| b.checked_mul(BLOCK))
        .ok_or_else(|| StoreError::Corrupt {
            table: TABLE,
            column: "block",
            detail: format!("block number {block} is out of range"),
        })?;
    let hashes = split(*block, raw.as_deref(), first)?;
    Ok(first + (hashes.len() / HASH) as u64)
}

/// The rows an append writes, whole, over any row of the same number.
///
/// `offered` are the batch's hashes, each index once, in ascending order;
/// `held` the number already stored; `read` the rows holding every offered
/// index below `held` and the last row, if it is not full. An offered hash
/// already stored must be the same one ([`StoreError::Corrupt`] otherwise:
/// a stored hash never changes); the others must continue the stored ones
/// exactly ([`StoreError::InvalidValue`] otherwise).
pub(crate) fn plan_append(
    offered: &[(i64, [u8; 32])],
    held: u64,
    read: &[BlockRow],
) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
    let mut next = held;
    let mut added = Vec::new();
    for &(idx, hash) in offered {
        let index = u64::try_from(idx).map_err(|_| missing(held))?;
        if index < held {
            if hashes_at(&[index], read)?[0] != hash {
                return Err(rewritten(index));
            }
        } else if index == next {
            added.extend_from_slice(&hash);
            next += 1;
        } else {
            return Err(StoreError::InvalidValue {
                field: "ledger_hash_blocks.hashes",
                problem: format!(
                    "a hash is offered for index {index}, but the next to store is {next}: \
                     stored hashes have no gaps"
                ),
            });
        }
    }
    if added.is_empty() {
        return Ok(Vec::new());
    }
    let (mut block, filled) = place(held);
    // The last row, if not full, is rewritten with the new hashes after
    // the ones it holds.
    let mut bytes = Vec::with_capacity(filled * HASH + added.len());
    if filled > 0 {
        let kept: Vec<u64> = (held - filled as u64..held).collect();
        for hash in hashes_at(&kept, read)? {
            bytes.extend_from_slice(&hash);
        }
    }
    bytes.extend_from_slice(&added);
    let mut rows = Vec::new();
    for chunk in bytes.chunks(BLOCK as usize * HASH) {
        let number = i64::try_from(block).map_err(|_| missing(block * BLOCK))?;
        rows.push((number, chunk.to_vec()));
        block += 1;
    }
    Ok(rows)
}

/// What an append answers when a hash is offered for an index that holds
/// a different one.
pub(crate) fn rewritten(index: u64) -> StoreError {
    StoreError::Corrupt {
        table: TABLE,
        column: COLUMN,
        detail: format!(
            "index {index} already holds a different hash; a stored hash never changes"
        ),
    }
}

/// The rows to read before an append besides the last one, which the
/// caller read to learn `held` and passes to [`plan_append`] with them:
/// those holding an offered index below `held`, to compare. Usually none.
pub(crate) fn blocks_to_read(offered: &[(i64, [u8; 32])], held: u64) -> Vec<i64> {
    let last = held.checked_sub(1).map(|index| place(index).0);
    let below = offered
        .iter()
        .filter_map(|&(idx, _)| u64::try_from(idx).ok())
        .filter(|&index| index < held && Some(place(index).0) != last);
    blocks_for(below)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u64) -> [u8; 32] {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&i.to_be_bytes());
        hash[31] = 0xA5;
        hash
    }

    fn offered(range: std::ops::Range<u64>) -> Vec<(i64, [u8; 32])> {
        range.map(|i| (i as i64, h(i))).collect()
    }

    /// Applies a plan to an in-memory table, as an upsert would.
    fn apply(table: &mut std::collections::BTreeMap<i64, Vec<u8>>, rows: Vec<(i64, Vec<u8>)>) {
        for (block, bytes) in rows {
            table.insert(block, bytes);
        }
    }

    fn rows(table: &std::collections::BTreeMap<i64, Vec<u8>>) -> Vec<BlockRow> {
        table.iter().map(|(b, v)| (*b, Some(v.clone()))).collect()
    }

    #[test]
    fn appends_of_any_length_fill_blocks_in_order() {
        let mut table = std::collections::BTreeMap::new();
        let mut held = 0;
        for step in [1, 30, 1, 33, 64, 0, 7, 100] {
            let last = table
                .iter()
                .next_back()
                .map(|(b, v)| (*b, Some(Vec::clone(v))));
            assert_eq!(stored_count(last.as_ref()).unwrap(), held);
            let want = blocks_to_read(&offered(held..held + step), held);
            let mut read: Vec<BlockRow> = rows(&table)
                .into_iter()
                .filter(|(b, _)| want.contains(b))
                .collect();
            read.extend(last);
            let plan = plan_append(&offered(held..held + step), held, &read).unwrap();
            apply(&mut table, plan);
            held += step;
        }
        let all: Vec<u64> = (0..held).collect();
        let want: Vec<[u8; 32]> = all.iter().map(|&i| h(i)).collect();
        assert_eq!(hashes_at(&all, &rows(&table)).unwrap(), want);
        // Every row but the last is full.
        let sizes: Vec<usize> = table.values().map(Vec::len).collect();
        let (last, full) = sizes.split_last().unwrap();
        assert!(
            full.iter().all(|&n| n == BLOCK as usize * HASH),
            "{sizes:?}"
        );
        assert_eq!(*last, (held % BLOCK) as usize * HASH);
    }

    #[test]
    fn an_append_rechecks_hashes_it_repeats_and_refuses_gaps_and_rewrites() {
        let mut table = std::collections::BTreeMap::new();
        apply(&mut table, plan_append(&offered(0..40), 0, &[]).unwrap());
        let read = rows(&table);
        // Only the last row needs reading for hashes repeated from it.
        assert!(blocks_to_read(&offered(38..42), 40).is_empty());
        assert_eq!(blocks_to_read(&offered(3..42), 40), [0]);
        // The same hashes again, then new ones: only the new are written.
        let mut again = offered(38..42);
        let plan = plan_append(&again, 40, &read).unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].0, 1);
        assert_eq!(plan[0].1.len(), 10 * HASH);
        // A different hash where one is stored.
        again[0].1 = h(999);
        let err = plan_append(&again, 40, &read).unwrap_err();
        assert!(err.to_string().contains("index 38"), "{err}");
        assert!(matches!(err, StoreError::Corrupt { .. }));
        // A gap.
        let err = plan_append(&offered(41..43), 40, &read).unwrap_err();
        assert!(matches!(err, StoreError::InvalidValue { .. }), "{err}");
        assert!(err.to_string().contains("next to store is 40"), "{err}");
        // Nothing offered, nothing written.
        assert!(plan_append(&[], 40, &read).unwrap().is_empty());
    }

    #[test]
    fn damaged_rows_are_named() {
        for raw in [
            None,
            Some(vec![]),
            Some(vec![1; 33]),
            Some(vec![1; 33 * 32]),
        ] {
            let err = hashes_at(&[3], &[(0, raw.clone())]).unwrap_err();
            assert!(
                matches!(err, StoreError::Corrupt { table: TABLE, .. }),
                "{raw:?}: {err}"
            );
            assert!(err.to_string().contains("index 3"), "{err}");
        }
        // A short row holds nothing past its end.
        let err = hashes_at(&[3], &[(0, Some(vec![1; 64]))]).unwrap_err();
        assert!(
            err.to_string().contains("no hash is stored at index 3"),
            "{err}"
        );
        let err = hashes_at(&[u64::MAX], &[]).unwrap_err();
        assert!(err.to_string().contains(&u64::MAX.to_string()), "{err}");
        assert!(stored_count(Some(&(-1, Some(vec![1; 32])))).is_err());
        assert!(stored_count(Some(&(2, Some(vec![1; 31])))).is_err());
        assert_eq!(stored_count(Some(&(2, Some(vec![1; 64])))).unwrap(), 66);
    }
}
