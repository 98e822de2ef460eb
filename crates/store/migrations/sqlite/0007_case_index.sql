-- Custos node schema, version 7 (SQLite): the case index and the clock
-- events fired.
-- Applied migrations are checksummed: never edit this file once released;
-- the PostgreSQL twin is ../postgres/0007_case_index.sql.
--
-- `case_index` holds one row per request: what listing cases and the
-- scheduler need, derived by the node from the request's thread (state,
-- side, urgency rank, open and overdue flags, the next instant at which
-- something falls due, the actions our side may take). It is derived data:
-- the database itself marks a row stale, in the same transaction, whenever
-- the thread changes (a request recorded, a message stored, a clock event
-- fired; the triggers below), and the node derives the stale rows again
-- and writes them back only if `revision` did not move meanwhile. No case
-- content is kept here: kinds, states, dates and the counterpart are
-- metadata. `due_rank` is `next_due` in microseconds, or the largest
-- integer when nothing falls due, so that listing sorts on one index.
CREATE TABLE case_index (
    id           TEXT    NOT NULL PRIMARY KEY,
    kind         TEXT    NOT NULL,
    direction    TEXT    NOT NULL,
    counterpart  TEXT    NOT NULL,
    side         TEXT    NOT NULL DEFAULT '',
    state        TEXT    NOT NULL DEFAULT 'new',
    urgency      INTEGER NOT NULL DEFAULT 2,
    open         INTEGER NOT NULL DEFAULT 1,
    overdue      INTEGER NOT NULL DEFAULT 0,
    next_due     INTEGER,
    due_rank     INTEGER NOT NULL DEFAULT 9223372036854775807,
    last_step_at INTEGER,
    created_at   INTEGER NOT NULL,
    allowed      TEXT    NOT NULL DEFAULT '',
    revision     INTEGER NOT NULL DEFAULT 1,
    stale        INTEGER NOT NULL DEFAULT 1
) STRICT;

CREATE INDEX case_index_by_urgency
    ON case_index (open DESC, urgency, due_rank, created_at DESC, id DESC);
CREATE INDEX case_index_due ON case_index (next_due) WHERE next_due IS NOT NULL;
CREATE INDEX case_index_stale ON case_index (id) WHERE stale = 1;

-- The derivation's format the rows were written with; the node derives
-- every row again when it opens a store written with another.
CREATE TABLE case_index_format (
    singleton INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
    format    INTEGER NOT NULL
) STRICT;
INSERT INTO case_index_format (singleton, format) VALUES (1, 0);

-- Each clock event the scheduler fired, once per case, clock, event and due
-- instant: the key is inserted in the same transaction as the history
-- event, ledger entry or message that records the event.
CREATE TABLE clock_events (
    case_id  TEXT    NOT NULL,
    clock    TEXT    NOT NULL,
    event    TEXT    NOT NULL,
    due      INTEGER NOT NULL,
    fired_at INTEGER NOT NULL,
    PRIMARY KEY (case_id, clock, event, due)
) STRICT, WITHOUT ROWID;

INSERT INTO case_index (id, kind, direction, counterpart, created_at)
SELECT id, kind, direction, counterpart, created_at FROM requests;

CREATE TRIGGER case_index_request_recorded AFTER INSERT ON requests
BEGIN
    INSERT OR IGNORE INTO case_index (id, kind, direction, counterpart, created_at)
    VALUES (NEW.id, NEW.kind, NEW.direction, NEW.counterpart, NEW.created_at);
    UPDATE case_index SET revision = revision + 1, stale = 1 WHERE id = NEW.id;
END;

CREATE TRIGGER case_index_message_recorded AFTER INSERT ON messages
BEGIN
    UPDATE case_index SET revision = revision + 1, stale = 1 WHERE id = NEW.thread;
END;

CREATE TRIGGER case_index_clock_fired AFTER INSERT ON clock_events
BEGIN
    UPDATE case_index SET revision = revision + 1, stale = 1 WHERE id = NEW.case_id;
END;
