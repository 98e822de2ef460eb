-- Custos node schema, version 2 (SQLite): federation.
-- Applied migrations are checksummed: never edit this file once released;
-- the PostgreSQL twin is ../postgres/0002_federation.sql.
--
-- Timestamps are microseconds since 1970-01-01 UTC; signed documents,
-- envelopes and ciphertexts are kept as the exact bytes received or sent.

-- The verified, registry-signed directory the node trusts: at most one row,
-- replaced only by a higher version.
CREATE TABLE directory (
    singleton   INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
    version     INTEGER NOT NULL CHECK (version >= 0),
    signed      BLOB    NOT NULL,
    imported_at INTEGER NOT NULL
) STRICT;

-- Signed messages of request threads, sent and received. `seq` (the rowid)
-- gives the recording order; a message's thread is the request it belongs
-- to. `receipt` is the signed receipt: ours for an incoming message, the
-- peer's for an outgoing one once delivered.
CREATE TABLE messages (
    seq         INTEGER NOT NULL PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    thread      TEXT    NOT NULL REFERENCES requests (id),
    direction   TEXT    NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
    counterpart TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    prev        TEXT,
    created_at  INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    envelope    BLOB    NOT NULL,
    receipt     BLOB
) STRICT;

CREATE INDEX messages_by_thread ON messages (thread, seq);

-- The durable delivery queue of outgoing messages. `seq` (the rowid) is the
-- order of enqueueing; `thread` repeats the message's thread so that a
-- message is not handed out while an older one of its thread is pending.
-- A claimed item carries `lease_until`; once that passes, another worker
-- may claim it again.
CREATE TABLE outbox (
    seq             INTEGER NOT NULL PRIMARY KEY,
    message_id      TEXT    NOT NULL UNIQUE REFERENCES messages (id),
    thread          TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    url             TEXT    NOT NULL,
    ciphertext      BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    last_error      TEXT,
    delivered_at    INTEGER,
    failed_at       INTEGER,
    lease_until     INTEGER
) STRICT;

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_pending_by_thread ON outbox (thread, recipient, seq) WHERE state = 'pending';
CREATE INDEX outbox_newest_first ON outbox (created_at DESC, seq DESC);

-- Incoming messages refused, kept for the operator and for oversight; the
-- refused bytes themselves are not kept, only their hash and length.
CREATE TABLE refusals (
    seq            INTEGER NOT NULL PRIMARY KEY,
    at             INTEGER NOT NULL,
    peer           TEXT    NOT NULL,
    claimed_sender TEXT,
    code           TEXT    NOT NULL,
    detail         TEXT    NOT NULL,
    body_sha256    TEXT    NOT NULL,
    body_len       INTEGER NOT NULL CHECK (body_len >= 0)
) STRICT;

CREATE INDEX refusals_newest_first ON refusals (at DESC, seq DESC);

-- Client API tokens: only a hash of each secret is kept.
CREATE TABLE tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    secret_hash TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
