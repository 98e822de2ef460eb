-- Custos node schema, version 2 (PostgreSQL): federation.
-- Applied migrations are checksummed: never edit this file once released;
-- the SQLite twin is ../sqlite/0002_federation.sql.
--
-- Signed documents, envelopes and ciphertexts are kept as the exact bytes
-- received or sent. Ids use the "C" collation, as in version 1.

-- The verified, registry-signed directory the node trusts: at most one row,
-- replaced only by a higher version.
CREATE TABLE directory (
    singleton   SMALLINT    NOT NULL PRIMARY KEY CHECK (singleton = 1),
    version     BIGINT      NOT NULL CHECK (version >= 0),
    signed      BYTEA       NOT NULL,
    imported_at TIMESTAMPTZ NOT NULL
);

-- Signed messages of request threads, sent and received. `seq` gives the
-- recording order: messages of one thread are inserted while the thread's
-- request row is locked (the event counter), so within a thread `seq`
-- follows commit order. `receipt` is the signed receipt: ours for an
-- incoming message, the peer's for an outgoing one once delivered.
CREATE TABLE messages (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT COLLATE "C" NOT NULL UNIQUE,
    thread      TEXT COLLATE "C" NOT NULL REFERENCES requests (id),
    direction   TEXT        NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
    counterpart TEXT        NOT NULL,
    kind        TEXT        NOT NULL,
    prev        TEXT COLLATE "C",
    created_at  TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    envelope    BYTEA       NOT NULL,
    receipt     BYTEA
);

CREATE INDEX messages_by_thread ON messages (thread, seq);

-- The durable delivery queue of outgoing messages, shared by every replica.
-- `seq` is the order of enqueueing; `thread` repeats the message's thread
-- so that a message is not handed out while an older one of its thread is
-- pending. A claimed item carries `lease_until`; once that passes, another
-- worker may claim it again.
CREATE TABLE outbox (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id      TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES messages (id),
    thread          TEXT COLLATE "C" NOT NULL,
    recipient       TEXT        NOT NULL,
    url             TEXT        NOT NULL,
    ciphertext      BYTEA       NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    attempts        BIGINT      NOT NULL CHECK (attempts >= 0),
    state           TEXT        NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    last_error      TEXT,
    delivered_at    TIMESTAMPTZ,
    failed_at       TIMESTAMPTZ,
    lease_until     TIMESTAMPTZ
);

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_pending_by_thread ON outbox (thread, recipient, seq) WHERE state = 'pending';
CREATE INDEX outbox_newest_first ON outbox (created_at DESC, seq DESC);

-- Incoming messages refused, kept for the operator and for oversight; the
-- refused bytes themselves are not kept, only their hash and length.
CREATE TABLE refusals (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             TIMESTAMPTZ NOT NULL,
    peer           TEXT        NOT NULL,
    claimed_sender TEXT,
    code           TEXT        NOT NULL,
    detail         TEXT        NOT NULL,
    body_sha256    TEXT        NOT NULL,
    body_len       BIGINT      NOT NULL CHECK (body_len >= 0)
);

CREATE INDEX refusals_newest_first ON refusals (at DESC, seq DESC);

-- Client API tokens: only a hash of each secret is kept.
CREATE TABLE tokens (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name        TEXT        NOT NULL,
    secret_hash TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
