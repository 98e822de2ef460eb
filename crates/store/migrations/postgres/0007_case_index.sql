-- Custos node schema, version 7 (PostgreSQL): the case index and the clock
-- events fired.
-- Applied migrations are checksummed: never edit this file once released;
-- the SQLite twin is ../sqlite/0007_case_index.sql, which says what the
-- tables are for.
CREATE TABLE case_index (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    kind         TEXT        NOT NULL,
    direction    TEXT        NOT NULL,
    counterpart  TEXT        NOT NULL,
    side         TEXT        NOT NULL DEFAULT '',
    state        TEXT        NOT NULL DEFAULT 'new',
    urgency      BIGINT      NOT NULL DEFAULT 2,
    open         BOOLEAN     NOT NULL DEFAULT TRUE,
    overdue      BOOLEAN     NOT NULL DEFAULT FALSE,
    next_due     TIMESTAMPTZ,
    due_rank     BIGINT      NOT NULL DEFAULT 9223372036854775807,
    last_step_at TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL,
    allowed      TEXT        NOT NULL DEFAULT '',
    revision     BIGINT      NOT NULL DEFAULT 1,
    stale        BOOLEAN     NOT NULL DEFAULT TRUE
);

CREATE INDEX case_index_by_urgency
    ON case_index (open DESC, urgency, due_rank, created_at DESC, id DESC);
CREATE INDEX case_index_due ON case_index (next_due) WHERE next_due IS NOT NULL;
CREATE INDEX case_index_stale ON case_index (id) WHERE stale;

CREATE TABLE case_index_format (
    singleton SMALLINT NOT NULL PRIMARY KEY CHECK (singleton = 1),
    format    BIGINT   NOT NULL
);
INSERT INTO case_index_format (singleton, format) VALUES (1, 0);

CREATE TABLE clock_events (
    case_id  TEXT COLLATE "C" NOT NULL,
    clock    TEXT        NOT NULL,
    event    TEXT        NOT NULL,
    due      TIMESTAMPTZ NOT NULL,
    fired_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (case_id, clock, event, due)
);

INSERT INTO case_index (id, kind, direction, counterpart, created_at)
SELECT id, kind, direction, counterpart, created_at FROM requests;

CREATE FUNCTION case_index_request_recorded() RETURNS trigger AS $$
BEGIN
    INSERT INTO case_index (id, kind, direction, counterpart, created_at)
    VALUES (NEW.id, NEW.kind, NEW.direction, NEW.counterpart, NEW.created_at)
    ON CONFLICT (id) DO UPDATE SET revision = case_index.revision + 1, stale = TRUE;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER case_index_request_recorded AFTER INSERT ON requests
    FOR EACH ROW EXECUTE FUNCTION case_index_request_recorded();

CREATE FUNCTION case_index_message_recorded() RETURNS trigger AS $$
BEGIN
    UPDATE case_index SET revision = revision + 1, stale = TRUE WHERE id = NEW.thread;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION case_index_clock_fired() RETURNS trigger AS $$
BEGIN
    UPDATE case_index SET revision = revision + 1, stale = TRUE WHERE id = NEW.case_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER case_index_message_recorded AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION case_index_message_recorded();
CREATE TRIGGER case_index_clock_fired AFTER INSERT ON clock_events
    FOR EACH ROW EXECUTE FUNCTION case_index_clock_fired();
