-- Custos node schema, version 3 (PostgreSQL): the custody ledger.
-- Applied migrations are checksummed: never edit this file once released;
-- the SQLite twin is ../sqlite/0003_ledger.sql.
--
-- The store keeps the ledger's bytes and hashes; the node computes every
-- hash and checks them. Nothing here knows how the Merkle tree is built.

-- Entries waiting for the sequencer: written in the same transaction as the
-- action they record, so an action is never committed without its entry.
-- Ids rise in the order entries are queued; with several replicas an entry
-- may commit after one queued later, and is then sequenced after it.
CREATE TABLE ledger_pending (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry     BYTEA       NOT NULL,
    queued_at TIMESTAMPTZ NOT NULL
);

-- The number of entries in the ledger: one row. Appending a batch moves it
-- from the size the sequencer saw to the new size in the same transaction
-- as the batch; the update locks the row, so a second sequencer waits, then
-- finds the size changed and appends nothing.
CREATE TABLE ledger_head (
    singleton SMALLINT NOT NULL PRIMARY KEY CHECK (singleton = 1),
    size      BIGINT   NOT NULL CHECK (size >= 0)
);

INSERT INTO ledger_head (singleton, size) VALUES (1, 0);

-- The ledger's entries, at indexes 0, 1, 2, ... without gaps.
CREATE TABLE ledger_entries (
    idx         BIGINT      NOT NULL PRIMARY KEY CHECK (idx >= 0),
    entry       BYTEA       NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL
);

-- The tree's stored hashes by storage index (the node's numbering of
-- every hash it keeps). Once written, a hash never changes.
CREATE TABLE ledger_hashes (
    idx  BIGINT NOT NULL PRIMARY KEY CHECK (idx >= 0),
    hash BYTEA  NOT NULL CHECK (octet_length(hash) = 32)
);

-- Signed checkpoints (signed notes) of the ledger, at most one per size.
CREATE TABLE ledger_checkpoints (
    size       BIGINT      NOT NULL PRIMARY KEY CHECK (size >= 0),
    note       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
