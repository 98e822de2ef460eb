-- Custos node schema, version 10 (SQLite): the on-call rota and the alerts
-- that reach the person on duty.
-- Applied migrations are checksummed: never edit this file once released;
-- the PostgreSQL twin is ../postgres/0010_rota_alerts.sql.
--
-- `rota_shifts`: who holds a role from `starts_at` to `ends_at` (UTC
-- microseconds; `zone` is the IANA time zone the times were given in, for
-- showing them), with a deputy. A removed shift keeps its row, marked.
CREATE TABLE rota_shifts (
    id           TEXT    NOT NULL PRIMARY KEY,
    role         TEXT    NOT NULL,
    person       TEXT    NOT NULL,
    email        TEXT    NOT NULL,
    deputy       TEXT    NOT NULL,
    deputy_email TEXT    NOT NULL,
    starts_at    INTEGER NOT NULL,
    ends_at      INTEGER NOT NULL,
    zone         TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    removed_at   INTEGER
) STRICT;
CREATE INDEX rota_shifts_by_role ON rota_shifts (role, starts_at) WHERE removed_at IS NULL;

-- `alerts`: one row per cause (`cause` is unique: a message id, or a
-- case's clock event), holding no case content: the kind, the counterpart
-- State, the urgency, the deadline and the case it points to. `level` is
-- how far it was escalated (0: the person on duty; 1: the deputy; 2 and
-- on: the next people on the rota); `escalate_at` is when it goes one
-- level further unless acknowledged first.
CREATE TABLE alerts (
    id              TEXT    NOT NULL PRIMARY KEY,
    cause           TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    case_id         TEXT    NOT NULL,
    counterpart     TEXT    NOT NULL,
    urgency         TEXT    NOT NULL,
    deadline        INTEGER,
    raised_at       INTEGER NOT NULL,
    level           INTEGER NOT NULL DEFAULT 0,
    escalate_at     INTEGER,
    acknowledged_at INTEGER,
    acknowledged_by TEXT
) STRICT;
CREATE INDEX alerts_escalation ON alerts (escalate_at)
    WHERE acknowledged_at IS NULL AND escalate_at IS NOT NULL;
CREATE INDEX alerts_by_time ON alerts (raised_at DESC, id);

-- `alert_deliveries`: each mail or webhook call an alert makes, queued in
-- the transaction that raises or escalates the alert, and delivered with
-- retries by the node's delivery worker. `leased_until` keeps two workers
-- (two processes sharing the database) off the same delivery.
CREATE TABLE alert_deliveries (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    alert_id        TEXT    NOT NULL REFERENCES alerts (id),
    level           INTEGER NOT NULL,
    channel         TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    leased_until    INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER,
    UNIQUE (alert_id, level, channel, target)
) STRICT;
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE state = 'pending';
