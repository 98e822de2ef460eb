-- Custos node schema, version 14 (PostgreSQL): confidential cases and the
-- people assigned to a case.
-- Applied migrations are checksummed: never edit this file once released;
-- the SQLite twin is ../sqlite/0014_confidential_cases.sql, which says what
-- the tables are for.
CREATE TABLE case_assignments (
    id            BIGSERIAL PRIMARY KEY,
    case_id       TEXT COLLATE "C" NOT NULL,
    person        TEXT COLLATE "C" NOT NULL,
    assigned_by   TEXT        NOT NULL,
    assigned_at   TIMESTAMPTZ NOT NULL,
    unassigned_by TEXT,
    unassigned_at TIMESTAMPTZ
);

CREATE UNIQUE INDEX case_assignments_in_force ON case_assignments (case_id, person)
    WHERE unassigned_at IS NULL;

CREATE TABLE confidential_cases (
    case_id   TEXT COLLATE "C" NOT NULL,
    source    TEXT COLLATE "C" NOT NULL,
    marked_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (case_id, source)
);
