-- Custos node schema, version 15 (SQLite): what the web desk needs.
-- Applied migrations are checksummed: never edit this file once released;
-- the PostgreSQL twin is ../postgres/0015_desk.sql.
--
-- `users.language` is the language a person chose at the desk (a BCP 47
-- tag such as `ar` or `fr`), NULL until they choose one.
ALTER TABLE users ADD COLUMN language TEXT;

-- The inbox counts the open cases by state: one range of this index, which
-- holds every column the count reads (the id for the confidential cases a
-- person may not see), so no table row is visited.
CREATE INDEX case_index_open_state ON case_index (open, state, overdue, id);
