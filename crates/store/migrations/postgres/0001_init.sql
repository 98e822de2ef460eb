-- Custos node schema, version 1 (PostgreSQL).
-- Applied migrations are checksummed: never edit this file once released;
-- add the next numbered file here and under ../sqlite/ with the same name.
--
-- JSON columns are `json`, not `jsonb`: the document text is kept verbatim
-- (key order, `\u0000` escapes). Ids use the "C" collation so ordering by id
-- is bytewise, as in SQLite, whatever the database's locale.

-- The node's own identity: at most one row.
CREATE TABLE node_info (
    singleton  SMALLINT    NOT NULL PRIMARY KEY CHECK (singleton = 1),
    state      TEXT        NOT NULL,
    name       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- Requests sent and received. `last_event_seq` is the sequence number of the
-- request's latest event (0 before the first); appending an event increments
-- it in the same transaction, which locks the row and so numbers events
-- without gaps or repeats even across replicas.
CREATE TABLE requests (
    id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    kind           TEXT        NOT NULL,
    direction      TEXT        NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
    counterpart    TEXT        NOT NULL,
    body           JSON        NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    last_event_seq BIGINT      NOT NULL DEFAULT 0 CHECK (last_event_seq >= 0)
);

CREATE INDEX requests_newest_first ON requests (created_at DESC, id DESC);
CREATE INDEX requests_by_counterpart ON requests (counterpart, created_at DESC);

-- Each request's history, numbered 1, 2, 3, ... per request.
CREATE TABLE request_events (
    request_id TEXT COLLATE "C" NOT NULL REFERENCES requests (id),
    seq        BIGINT      NOT NULL CHECK (seq >= 1),
    at         TIMESTAMPTZ NOT NULL,
    actor      TEXT        NOT NULL,
    kind       TEXT        NOT NULL,
    detail     JSON        NOT NULL,
    PRIMARY KEY (request_id, seq)
);
