-- Custos node schema, version 14 (SQLite): confidential cases and the
-- people assigned to a case.
-- Applied migrations are checksummed: never edit this file once released;
-- the PostgreSQL twin is ../postgres/0014_confidential_cases.sql.
--
-- `case_assignments` holds who is assigned to a case: who assigned them and
-- when, and, once ended, who unassigned them and when (ended rows stay).
-- At most one assignment of a person to a case is in force at a time. Each
-- row and each ending is written in the same transaction as the custody
-- ledger entry that records it.
CREATE TABLE case_assignments (
    id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    case_id       TEXT    NOT NULL,
    person        TEXT    NOT NULL,
    assigned_by   TEXT    NOT NULL,
    assigned_at   INTEGER NOT NULL,
    unassigned_by TEXT,
    unassigned_at INTEGER
) STRICT;

CREATE UNIQUE INDEX case_assignments_in_force ON case_assignments (case_id, person)
    WHERE unassigned_at IS NULL;

-- `confidential_cases` says which cases are confidential on this node and
-- why: `request` (the requesting State marked its request confidential),
-- `answer:<message id>` (the providing State marked an answer confidential)
-- or `package:<package id>` (it marked an evidence package confidential).
-- The marks are read from signed content when it arrives, before it is
-- stored, and are never removed: a confidential case is shown only to the
-- people assigned to it. No case content is kept here.
CREATE TABLE confidential_cases (
    case_id   TEXT    NOT NULL,
    source    TEXT    NOT NULL,
    marked_at INTEGER NOT NULL,
    PRIMARY KEY (case_id, source)
) STRICT;
