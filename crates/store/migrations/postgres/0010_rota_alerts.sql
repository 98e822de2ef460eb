-- Custos node schema, version 10 (PostgreSQL): the on-call rota and the
-- alerts that reach the person on duty.
-- Applied migrations are checksummed: never edit this file once released;
-- the SQLite twin is ../sqlite/0010_rota_alerts.sql, which says what each
-- table holds.
CREATE TABLE rota_shifts (
    id           TEXT        NOT NULL PRIMARY KEY,
    role         TEXT        NOT NULL,
    person       TEXT        NOT NULL,
    email        TEXT        NOT NULL,
    deputy       TEXT        NOT NULL,
    deputy_email TEXT        NOT NULL,
    starts_at    TIMESTAMPTZ NOT NULL,
    ends_at      TIMESTAMPTZ NOT NULL,
    zone         TEXT        NOT NULL,
    created_by   TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    removed_at   TIMESTAMPTZ
);
CREATE INDEX rota_shifts_by_role ON rota_shifts (role, starts_at) WHERE removed_at IS NULL;

CREATE TABLE alerts (
    id              TEXT        NOT NULL PRIMARY KEY,
    cause           TEXT        NOT NULL UNIQUE,
    kind            TEXT        NOT NULL,
    role            TEXT        NOT NULL,
    case_id         TEXT        NOT NULL,
    counterpart     TEXT        NOT NULL,
    urgency         TEXT        NOT NULL,
    deadline        TIMESTAMPTZ,
    raised_at       TIMESTAMPTZ NOT NULL,
    level           BIGINT      NOT NULL DEFAULT 0,
    escalate_at     TIMESTAMPTZ,
    acknowledged_at TIMESTAMPTZ,
    acknowledged_by TEXT
);
CREATE INDEX alerts_escalation ON alerts (escalate_at)
    WHERE acknowledged_at IS NULL AND escalate_at IS NOT NULL;
CREATE INDEX alerts_by_time ON alerts (raised_at DESC, id);

CREATE TABLE alert_deliveries (
    id              BIGSERIAL   NOT NULL PRIMARY KEY,
    alert_id        TEXT        NOT NULL REFERENCES alerts (id),
    level           BIGINT      NOT NULL,
    channel         TEXT        NOT NULL,
    target          TEXT        NOT NULL,
    recipient       TEXT        NOT NULL,
    state           TEXT        NOT NULL DEFAULT 'pending',
    attempts        BIGINT      NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    leased_until    TIMESTAMPTZ,
    last_error      TEXT,
    delivered_at    TIMESTAMPTZ,
    UNIQUE (alert_id, level, channel, target)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE state = 'pending';
