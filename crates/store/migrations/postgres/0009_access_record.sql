-- Custos node schema, version 9 (PostgreSQL): the record of who saw what,
-- and the cases granted to people whose role sees a case only when granted.
-- Applied migrations are checksummed: never edit this file once released;
-- the SQLite twin is ../sqlite/0009_access_record.sql, which says what the
-- tables are for.
CREATE TABLE access_record (
    id           BIGSERIAL PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
    person       TEXT COLLATE "C" NOT NULL,
    actor        TEXT        NOT NULL,
    operation    TEXT        NOT NULL,
    case_id      TEXT COLLATE "C",
    outcome      TEXT        NOT NULL CHECK (outcome IN ('allowed', 'refused')),
    reason       TEXT,
    entry_sha256 TEXT        NOT NULL
);

CREATE INDEX access_record_by_time ON access_record (at, id);
CREATE INDEX access_record_by_person ON access_record (person, at);
CREATE INDEX access_record_by_case ON access_record (case_id, at) WHERE case_id IS NOT NULL;

CREATE TABLE case_grants (
    id          BIGSERIAL PRIMARY KEY,
    case_id     TEXT COLLATE "C" NOT NULL,
    person      TEXT COLLATE "C" NOT NULL,
    reason      TEXT        NOT NULL,
    granted_by  TEXT        NOT NULL,
    granted_at  TIMESTAMPTZ NOT NULL,
    until       TIMESTAMPTZ NOT NULL,
    revoked_by  TEXT,
    revoked_at  TIMESTAMPTZ
);

CREATE INDEX case_grants_by_case ON case_grants (case_id, person);
