-- Custos node schema, version 5 (SQLite): the tree's stored hashes in
-- blocks. Applied migrations are checksummed: never edit this file once
-- released; the PostgreSQL twin is ../postgres/0005_hash_blocks.sql.
--
-- One row per stored hash made reading every hash (full verification) as
-- slow as hashing every entry. Row `block` holds the hashes at storage
-- indexes block * 32 .. block * 32 + 31, concatenated in index order; every
-- row is full but the last, and the hashes are a prefix without gaps. The
-- store's hash_blocks.rs uses the same 32. Once written, a hash never
-- changes: an append only rewrites the last row to extend it.
CREATE TABLE ledger_hash_blocks (
    block  INTEGER NOT NULL PRIMARY KEY CHECK (block >= 0),
    hashes BLOB    NOT NULL CHECK (length(hashes) BETWEEN 32 AND 1024 AND length(hashes) % 32 = 0)
) STRICT;

-- The hashes already stored move into blocks. group_concat joins the
-- 32-byte values in index order (it hands back text, cast back to bytes).
INSERT INTO ledger_hash_blocks (block, hashes)
SELECT idx / 32, CAST(group_concat(hash, '' ORDER BY idx) AS BLOB)
FROM ledger_hashes
GROUP BY idx / 32;

DROP TABLE ledger_hashes;
