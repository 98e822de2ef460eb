-- Custos node schema, version 4 (PostgreSQL): witnessing of custody ledgers.
-- Applied migrations are checksummed: never edit this file once released;
-- the SQLite twin is ../sqlite/0004_witness.sql.
--
-- Nodes witness each other's ledgers: as a witness, a node keeps the last
-- checkpoint it accepted from each log and the evidence of any fork it saw;
-- as a log, it keeps the cosignatures its witnesses return. The node does
-- all the cryptography; these tables keep text.

-- Witness side: the last checkpoint accepted per log origin. A row moves
-- only by compare-and-set on `size` (the row is locked while compared), so
-- two replicas cannot both advance it from the same view.
CREATE TABLE witnessed (
    origin     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    size       BIGINT      NOT NULL CHECK (size >= 0),
    note       TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Witness side: evidence that a log showed two inconsistent views, kept for
-- good. `json` keeps the document text as given.
CREATE TABLE witness_forks (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    origin      TEXT        NOT NULL,
    detected_at TIMESTAMPTZ NOT NULL,
    evidence    JSON        NOT NULL
);

CREATE INDEX witness_forks_newest_first ON witness_forks (detected_at DESC, id DESC);

-- Log side: the cosignatures received for this node's own checkpoints, one
-- per checkpoint size and witness (the latest line received replaces an
-- earlier, different one).
CREATE TABLE cosignatures (
    size    BIGINT           NOT NULL CHECK (size >= 0),
    witness TEXT COLLATE "C" NOT NULL,
    line    TEXT             NOT NULL,
    at      TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (size, witness)
);

CREATE INDEX cosignatures_by_witness ON cosignatures (witness, size);
