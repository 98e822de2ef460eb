-- Custos node schema, version 11 (PostgreSQL): what oversight statistics
-- count about each case, in the case index.
-- Applied migrations are checksummed: never edit this file once released;
-- the SQLite twin is ../sqlite/0011_statistics.sql, which says what the
-- columns hold.
ALTER TABLE case_index ADD COLUMN outcome TEXT NOT NULL DEFAULT 'open';
ALTER TABLE case_index ADD COLUMN grounds TEXT NOT NULL DEFAULT '';
ALTER TABLE case_index ADD COLUMN postponed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE case_index ADD COLUMN ack_seconds BIGINT;
ALTER TABLE case_index ADD COLUMN decision_seconds BIGINT;

CREATE INDEX case_index_statistics ON case_index (
    created_at, direction, kind, counterpart, outcome, postponed, grounds,
    ack_seconds, decision_seconds
);
