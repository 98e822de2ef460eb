-- Custos node schema, version 3 (SQLite): the custody ledger.
-- Applied migrations are checksummed: never edit this file once released;
-- the PostgreSQL twin is ../postgres/0003_ledger.sql.
--
-- The store keeps the ledger's bytes and hashes; the node computes every
-- hash and checks them. Nothing here knows how the Merkle tree is built.

-- Entries waiting for the sequencer: written in the same transaction as the
-- action they record, so an action is never committed without its entry.
-- AUTOINCREMENT keeps ids rising and never reuses one, so an id names one
-- queued entry for good; the queue is read oldest (lowest id) first.
CREATE TABLE ledger_pending (
    id        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    entry     BLOB    NOT NULL,
    queued_at INTEGER NOT NULL
) STRICT;

-- The number of entries in the ledger: one row. Appending a batch moves it
-- from the size the sequencer saw to the new size in the same transaction
-- as the batch, so two sequencers cannot both append at one size.
CREATE TABLE ledger_head (
    singleton INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
    size      INTEGER NOT NULL CHECK (size >= 0)
) STRICT;

INSERT INTO ledger_head (singleton, size) VALUES (1, 0);

-- The ledger's entries, at indexes 0, 1, 2, ... without gaps.
CREATE TABLE ledger_entries (
    idx         INTEGER NOT NULL PRIMARY KEY CHECK (idx >= 0),
    entry       BLOB    NOT NULL,
    recorded_at INTEGER NOT NULL
) STRICT;

-- The tree's stored hashes by storage index (the node's numbering of
-- every hash it keeps). Once written, a hash never changes.
CREATE TABLE ledger_hashes (
    idx  INTEGER NOT NULL PRIMARY KEY CHECK (idx >= 0),
    hash BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;

-- Signed checkpoints (signed notes) of the ledger, at most one per size.
CREATE TABLE ledger_checkpoints (
    size       INTEGER NOT NULL PRIMARY KEY CHECK (size >= 0),
    note       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
