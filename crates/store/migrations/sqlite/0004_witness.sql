-- Custos node schema, version 4 (SQLite): witnessing of custody ledgers.
-- Applied migrations are checksummed: never edit this file once released;
-- the PostgreSQL twin is ../postgres/0004_witness.sql.
--
-- Nodes witness each other's ledgers: as a witness, a node keeps the last
-- checkpoint it accepted from each log and the evidence of any fork it saw;
-- as a log, it keeps the cosignatures its witnesses return. The node does
-- all the cryptography; these tables keep text.

-- Witness side: the last checkpoint accepted per log origin. A row moves
-- only by compare-and-set on `size`, so two node processes sharing the
-- database cannot both advance it from the same view.
CREATE TABLE witnessed (
    origin     TEXT    NOT NULL PRIMARY KEY,
    size       INTEGER NOT NULL CHECK (size >= 0),
    note       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Witness side: evidence that a log showed two inconsistent views, kept for
-- good. AUTOINCREMENT never reuses an id, so an id names one report.
CREATE TABLE witness_forks (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    origin      TEXT    NOT NULL,
    detected_at INTEGER NOT NULL,
    evidence    TEXT    NOT NULL CHECK (json_valid(evidence))
) STRICT;

CREATE INDEX witness_forks_newest_first ON witness_forks (detected_at DESC, id DESC);

-- Log side: the cosignatures received for this node's own checkpoints, one
-- per checkpoint size and witness (the latest line received replaces an
-- earlier, different one).
CREATE TABLE cosignatures (
    size    INTEGER NOT NULL CHECK (size >= 0),
    witness TEXT    NOT NULL,
    line    TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (size, witness)
) STRICT;

CREATE INDEX cosignatures_by_witness ON cosignatures (witness, size);
