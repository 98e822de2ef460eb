-- Custos node schema, version 12 (SQLite): retention, legal holds and the
-- record of content deleted.
-- Applied migrations are checksummed: never edit this file once released;
-- the PostgreSQL twin is ../postgres/0012_retention.sql.
--
-- `case_retention` holds, per case, what its retention stands on: when the
-- case ended (its last step once it reached a final state; NULL while it is
-- open), a period or a date set for this case in place of the node's
-- default for its kind, whether a legal hold is in force, and the instant
-- its content falls due for deletion (`delete_at`, computed by the node
-- from those; NULL while the case is open or once deleted). The scheduler
-- reads the due cases by `delete_at` on one index, holds excluded.
CREATE TABLE case_retention (
    case_id    TEXT    NOT NULL PRIMARY KEY REFERENCES requests (id),
    ended_at   INTEGER,
    days       INTEGER CHECK (days IS NULL OR days >= 0),
    until      INTEGER,
    held       INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1)),
    delete_at  INTEGER,
    changed_at INTEGER NOT NULL
) STRICT;

CREATE INDEX case_retention_due ON case_retention (delete_at)
    WHERE delete_at IS NOT NULL AND held = 0;

-- Every change of a case's retention by a person: a period or date set,
-- a legal hold placed or lifted, each with its reason and the content id
-- of the ledger entry written with it.
CREATE TABLE retention_changes (
    seq          INTEGER NOT NULL PRIMARY KEY,
    case_id      TEXT    NOT NULL,
    at           INTEGER NOT NULL,
    person       TEXT    NOT NULL,
    change       TEXT    NOT NULL CHECK (change IN ('retention', 'hold-placed', 'hold-lifted')),
    days         INTEGER,
    until        INTEGER,
    reason       TEXT    NOT NULL,
    entry_sha256 TEXT    NOT NULL
) STRICT;

CREATE INDEX retention_changes_by_case ON retention_changes (case_id, seq);

-- The deletion of a case's content: when, by whom, why, what (counts, and
-- in `detail` the ids and hashes of what was deleted, never the content)
-- and the content id of its `content-deleted` ledger entry. One per case.
CREATE TABLE content_deletions (
    case_id        TEXT    NOT NULL PRIMARY KEY,
    at             INTEGER NOT NULL,
    actor          TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    messages       INTEGER NOT NULL CHECK (messages >= 0),
    drafts         INTEGER NOT NULL CHECK (drafts >= 0),
    evidence_files INTEGER NOT NULL CHECK (evidence_files >= 0),
    evidence_bytes INTEGER NOT NULL CHECK (evidence_bytes >= 0),
    detail         TEXT    NOT NULL CHECK (json_valid(detail)),
    entry_sha256   TEXT    NOT NULL
) STRICT;

-- The purge empties the ciphertexts of a case's sent items: found by thread,
-- not by scanning the whole outbox.
CREATE INDEX outbox_by_thread ON outbox (thread);
