-- Custos node schema, version 5 (PostgreSQL): the tree's stored hashes in
-- blocks. Applied migrations are checksummed: never edit this file once
-- released; the SQLite twin is ../sqlite/0005_hash_blocks.sql.
--
-- One row per stored hash made reading every hash (full verification) as
-- slow as hashing every entry. Row `block` holds the hashes at storage
-- indexes block * 32 .. block * 32 + 31, concatenated in index order; every
-- row is full but the last, and the hashes are a prefix without gaps. The
-- store's hash_blocks.rs uses the same 32. Once written, a hash never
-- changes: an append only rewrites the last row to extend it. A row of at
-- most 1 KiB stays in the table's own pages (below the TOAST threshold).
CREATE TABLE ledger_hash_blocks (
    block  BIGINT NOT NULL PRIMARY KEY CHECK (block >= 0),
    hashes BYTEA  NOT NULL
        CHECK (octet_length(hashes) BETWEEN 32 AND 1024 AND octet_length(hashes) % 32 = 0)
);

INSERT INTO ledger_hash_blocks (block, hashes)
SELECT idx / 32, string_agg(hash, ''::bytea ORDER BY idx)
FROM ledger_hashes
GROUP BY idx / 32;

DROP TABLE ledger_hashes;
