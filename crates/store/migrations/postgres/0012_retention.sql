-- Custos node schema, version 12 (PostgreSQL): retention, legal holds and
-- the record of content deleted.
-- Applied migrations are checksummed: never edit this file once released;
-- the SQLite twin is ../sqlite/0012_retention.sql, which says what the
-- tables are for.
CREATE TABLE case_retention (
    case_id    TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES requests (id),
    ended_at   TIMESTAMPTZ,
    days       BIGINT CHECK (days IS NULL OR days >= 0),
    until      TIMESTAMPTZ,
    held       BOOLEAN     NOT NULL DEFAULT FALSE,
    delete_at  TIMESTAMPTZ,
    changed_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX case_retention_due ON case_retention (delete_at)
    WHERE delete_at IS NOT NULL AND NOT held;

CREATE TABLE retention_changes (
    seq          BIGSERIAL PRIMARY KEY,
    case_id      TEXT COLLATE "C" NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    person       TEXT        NOT NULL,
    change       TEXT        NOT NULL CHECK (change IN ('retention', 'hold-placed', 'hold-lifted')),
    days         BIGINT,
    until        TIMESTAMPTZ,
    reason       TEXT        NOT NULL,
    entry_sha256 TEXT        NOT NULL
);

CREATE INDEX retention_changes_by_case ON retention_changes (case_id, seq);

CREATE TABLE content_deletions (
    case_id        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    at             TIMESTAMPTZ NOT NULL,
    actor          TEXT        NOT NULL,
    reason         TEXT        NOT NULL,
    messages       BIGINT      NOT NULL CHECK (messages >= 0),
    drafts         BIGINT      NOT NULL CHECK (drafts >= 0),
    evidence_files BIGINT      NOT NULL CHECK (evidence_files >= 0),
    evidence_bytes BIGINT      NOT NULL CHECK (evidence_bytes >= 0),
    detail         JSONB       NOT NULL,
    entry_sha256   TEXT        NOT NULL
);

-- The purge empties the ciphertexts of a case's sent items: found by thread,
-- not by scanning the whole outbox.
CREATE INDEX outbox_by_thread ON outbox (thread);
