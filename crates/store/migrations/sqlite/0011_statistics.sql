-- Custos node schema, version 11 (SQLite): what oversight statistics count
-- about each case, in the case index.
-- Applied migrations are checksummed: never edit this file once released;
-- the PostgreSQL twin is ../postgres/0011_statistics.sql.
--
-- The node derives these columns from each thread with the rest of the row
-- (`custos_case::figures`); the derivation's format changed with them, so a
-- node opening an older store derives every row again. No case content:
-- `outcome` is a stable name (`executed`, `refused`, `open`, ...),
-- `grounds` the refusal's ground codes joined by commas (`R2,R6`),
-- `postponed` whether execution was ever postponed, and the two response
-- times are whole seconds from submission to acknowledgement and to the
-- first decision (an execution, a refusal, a confirmed preservation).
ALTER TABLE case_index ADD COLUMN outcome TEXT NOT NULL DEFAULT 'open';
ALTER TABLE case_index ADD COLUMN grounds TEXT NOT NULL DEFAULT '';
ALTER TABLE case_index ADD COLUMN postponed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE case_index ADD COLUMN ack_seconds INTEGER;
ALTER TABLE case_index ADD COLUMN decision_seconds INTEGER;

-- The report reads the cases opened in a period: one range of this index,
-- which holds every column the report groups by or measures.
CREATE INDEX case_index_statistics ON case_index (
    created_at, direction, kind, counterpart, outcome, postponed, grounds,
    ack_seconds, decision_seconds
);
