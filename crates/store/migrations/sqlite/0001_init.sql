-- Custos node schema, version 1 (SQLite).
-- Applied migrations are checksummed: never edit this file once released;
-- add the next numbered file here and under ../postgres/ with the same name.
--
-- Timestamps are microseconds since 1970-01-01 UTC; JSON columns hold the
-- document text. Tables are STRICT so a column only ever holds its type.

-- The node's own identity: at most one row.
CREATE TABLE node_info (
    singleton  INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
    state      TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- Requests sent and received. `last_event_seq` is the sequence number of the
-- request's latest event (0 before the first); appending an event increments
-- it in the same transaction, which numbers events without gaps or repeats.
CREATE TABLE requests (
    id             TEXT    NOT NULL PRIMARY KEY,
    kind           TEXT    NOT NULL,
    direction      TEXT    NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
    counterpart    TEXT    NOT NULL,
    body           TEXT    NOT NULL CHECK (json_valid(body)),
    created_at     INTEGER NOT NULL,
    last_event_seq INTEGER NOT NULL DEFAULT 0 CHECK (last_event_seq >= 0)
) STRICT;

CREATE INDEX requests_newest_first ON requests (created_at DESC, id DESC);
CREATE INDEX requests_by_counterpart ON requests (counterpart, created_at DESC);

-- Each request's history, numbered 1, 2, 3, ... per request.
CREATE TABLE request_events (
    request_id TEXT    NOT NULL REFERENCES requests (id),
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    detail     TEXT    NOT NULL CHECK (json_valid(detail)),
    PRIMARY KEY (request_id, seq)
) STRICT, WITHOUT ROWID;
