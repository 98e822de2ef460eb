-- Custos node schema, version 15 (PostgreSQL): what the web desk needs.
-- Applied migrations are checksummed: never edit this file once released;
-- the SQLite twin is ../sqlite/0015_desk.sql, which says what the columns
-- and indexes are for.
ALTER TABLE users ADD COLUMN language TEXT;

CREATE INDEX case_index_open_state ON case_index (open, state, overdue, id);
