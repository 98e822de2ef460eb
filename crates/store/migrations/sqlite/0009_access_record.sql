-- Custos node schema, version 9 (SQLite): the record of who saw what, and
-- the cases granted to people whose role sees a case only when granted it.
-- Applied migrations are checksummed: never edit this file once released;
-- the PostgreSQL twin is ../postgres/0009_access_record.sql.
--
-- `access_record` holds one row per decision of the node's access check:
-- who (`person`, the user name or `anonymous`; `actor`, the label the
-- ledger names), which operation, on which case if any, the outcome
-- (`allowed` or `refused`, with the refusal's reason) and when. Each row is
-- written in the same transaction as the custody-ledger entry that records
-- the same decision; `entry_sha256` is that entry's content id, by which it
-- can be found in the ledger. No case content is kept here.
CREATE TABLE access_record (
    id           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    person       TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    operation    TEXT    NOT NULL,
    case_id      TEXT,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('allowed', 'refused')),
    reason       TEXT,
    entry_sha256 TEXT    NOT NULL
) STRICT;

CREATE INDEX access_record_by_time ON access_record (at, id);
CREATE INDEX access_record_by_person ON access_record (person, at);
CREATE INDEX access_record_by_case ON access_record (case_id, at) WHERE case_id IS NOT NULL;

-- A case's content granted to a person (an auditor) until a time, with the
-- reason given; revoked grants stay, with who revoked them and when.
CREATE TABLE case_grants (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    case_id     TEXT    NOT NULL,
    person      TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    granted_by  TEXT    NOT NULL,
    granted_at  INTEGER NOT NULL,
    until       INTEGER NOT NULL,
    revoked_by  TEXT,
    revoked_at  INTEGER
) STRICT;

CREATE INDEX case_grants_by_case ON case_grants (case_id, person);
