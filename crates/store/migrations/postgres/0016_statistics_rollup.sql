-- Custos node schema, version 16 (PostgreSQL): the oversight statistics
-- kept up to date as cases change.
-- Applied migrations are checksummed: never edit this file once released;
-- the SQLite twin is ../sqlite/0016_statistics_rollup.sql, which says what
-- the tables, columns and buckets hold.
--
-- Here the rollups are written by statement-level triggers that read the
-- statement's transition tables, so a statement writing many case rows
-- (seeding, marking every row stale) adds its changes up once; an update
-- counts only the rows whose figures changed, each key locked in order.
ALTER TABLE case_index ADD COLUMN ack_bucket BIGINT GENERATED ALWAYS AS (
    CASE WHEN ack_seconds IS NULL THEN NULL
        WHEN ack_seconds < 0 THEN -1
        WHEN ack_seconds < 128 THEN ack_seconds
        WHEN ack_seconds < 256 THEN ack_seconds / 2 * 2
        WHEN ack_seconds < 512 THEN ack_seconds / 4 * 4
        WHEN ack_seconds < 1024 THEN ack_seconds / 8 * 8
        WHEN ack_seconds < 2048 THEN ack_seconds / 16 * 16
        WHEN ack_seconds < 4096 THEN ack_seconds / 32 * 32
        WHEN ack_seconds < 8192 THEN ack_seconds / 64 * 64
        WHEN ack_seconds < 16384 THEN ack_seconds / 128 * 128
        WHEN ack_seconds < 32768 THEN ack_seconds / 256 * 256
        WHEN ack_seconds < 65536 THEN ack_seconds / 512 * 512
        WHEN ack_seconds < 131072 THEN ack_seconds / 1024 * 1024
        WHEN ack_seconds < 262144 THEN ack_seconds / 2048 * 2048
        WHEN ack_seconds < 524288 THEN ack_seconds / 4096 * 4096
        WHEN ack_seconds < 1048576 THEN ack_seconds / 8192 * 8192
        WHEN ack_seconds < 2097152 THEN ack_seconds / 16384 * 16384
        WHEN ack_seconds < 4194304 THEN ack_seconds / 32768 * 32768
        WHEN ack_seconds < 8388608 THEN ack_seconds / 65536 * 65536
        WHEN ack_seconds < 16777216 THEN ack_seconds / 131072 * 131072
        WHEN ack_seconds < 33554432 THEN ack_seconds / 262144 * 262144
        WHEN ack_seconds < 67108864 THEN ack_seconds / 524288 * 524288
        WHEN ack_seconds < 134217728 THEN ack_seconds / 1048576 * 1048576
        WHEN ack_seconds < 268435456 THEN ack_seconds / 2097152 * 2097152
        WHEN ack_seconds < 536870912 THEN ack_seconds / 4194304 * 4194304
        WHEN ack_seconds < 1073741824 THEN ack_seconds / 8388608 * 8388608
        WHEN ack_seconds < 2147483648 THEN ack_seconds / 16777216 * 16777216
        ELSE 2147483648 END
) STORED;
ALTER TABLE case_index ADD COLUMN decision_bucket BIGINT GENERATED ALWAYS AS (
    CASE WHEN decision_seconds IS NULL THEN NULL
        WHEN decision_seconds < 0 THEN -1
        WHEN decision_seconds < 128 THEN decision_seconds
        WHEN decision_seconds < 256 THEN decision_seconds / 2 * 2
        WHEN decision_seconds < 512 THEN decision_seconds / 4 * 4
        WHEN decision_seconds < 1024 THEN decision_seconds / 8 * 8
        WHEN decision_seconds < 2048 THEN decision_seconds / 16 * 16
        WHEN decision_seconds < 4096 THEN decision_seconds / 32 * 32
        WHEN decision_seconds < 8192 THEN decision_seconds / 64 * 64
        WHEN decision_seconds < 16384 THEN decision_seconds / 128 * 128
        WHEN decision_seconds < 32768 THEN decision_seconds / 256 * 256
        WHEN decision_seconds < 65536 THEN decision_seconds / 512 * 512
        WHEN decision_seconds < 131072 THEN decision_seconds / 1024 * 1024
        WHEN decision_seconds < 262144 THEN decision_seconds / 2048 * 2048
        WHEN decision_seconds < 524288 THEN decision_seconds / 4096 * 4096
        WHEN decision_seconds < 1048576 THEN decision_seconds / 8192 * 8192
        WHEN decision_seconds < 2097152 THEN decision_seconds / 16384 * 16384
        WHEN decision_seconds < 4194304 THEN decision_seconds / 32768 * 32768
        WHEN decision_seconds < 8388608 THEN decision_seconds / 65536 * 65536
        WHEN decision_seconds < 16777216 THEN decision_seconds / 131072 * 131072
        WHEN decision_seconds < 33554432 THEN decision_seconds / 262144 * 262144
        WHEN decision_seconds < 67108864 THEN decision_seconds / 524288 * 524288
        WHEN decision_seconds < 134217728 THEN decision_seconds / 1048576 * 1048576
        WHEN decision_seconds < 268435456 THEN decision_seconds / 2097152 * 2097152
        WHEN decision_seconds < 536870912 THEN decision_seconds / 4194304 * 4194304
        WHEN decision_seconds < 1073741824 THEN decision_seconds / 8388608 * 8388608
        WHEN decision_seconds < 2147483648 THEN decision_seconds / 16777216 * 16777216
        ELSE 2147483648 END
) STORED;

CREATE TABLE case_stats_counts (
    span      TEXT    NOT NULL,
    direction TEXT    NOT NULL,
    draft     BOOLEAN NOT NULL,
    dimension TEXT    NOT NULL,
    key       TEXT    NOT NULL,
    cases     BIGINT  NOT NULL,
    PRIMARY KEY (span, direction, draft, dimension, key)
);

CREATE TABLE case_stats_times (
    span      TEXT    NOT NULL,
    direction TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    measure   TEXT    NOT NULL,
    bucket    BIGINT  NOT NULL,
    cases     BIGINT  NOT NULL,
    PRIMARY KEY (span, direction, kind, measure, bucket)
);

CREATE INDEX case_index_ack_times
    ON case_index (direction, kind, ack_bucket, created_at, ack_seconds);
CREATE INDEX case_index_decision_times
    ON case_index (direction, kind, decision_bucket, created_at, decision_seconds);

INSERT INTO case_stats_counts (span, direction, draft, dimension, key, cases)
SELECT s.span, c.direction, c.outcome = 'not-submitted', d.dimension, d.key, COUNT(*)
FROM (SELECT direction, kind, counterpart, created_at, outcome, grounds, postponed, ack_bucket, decision_bucket FROM case_index) AS c
CROSS JOIN LATERAL (VALUES (to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY')), (to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM'))) AS s (span)
CROSS JOIN LATERAL (VALUES ('kind', c.kind), ('counterpart', c.counterpart),
    ('outcome', c.outcome),
    ('postponed', CASE WHEN c.postponed THEN 'postponed' ELSE 'not-postponed' END),
    ('grounds', NULLIF(c.grounds, ''))) AS d (dimension, key)
WHERE d.key IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;

INSERT INTO case_stats_times (span, direction, kind, measure, bucket, cases)
SELECT s.span, c.direction, c.kind, m.measure, m.bucket, COUNT(*)
FROM (SELECT direction, kind, counterpart, created_at, outcome, grounds, postponed, ack_bucket, decision_bucket FROM case_index) AS c
CROSS JOIN LATERAL (VALUES (to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY')), (to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM'))) AS s (span)
CROSS JOIN LATERAL (VALUES ('acknowledgement', c.ack_bucket),
    ('decision', c.decision_bucket)) AS m (measure, bucket)
WHERE m.bucket IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;

CREATE FUNCTION case_stats_apply() RETURNS trigger AS $$
DECLARE
    src TEXT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        src := 'SELECT 1 AS sign, direction, kind, counterpart, created_at, outcome, grounds, postponed, ack_bucket, decision_bucket FROM new_rows';
    ELSIF TG_OP = 'DELETE' THEN
        src := 'SELECT -1 AS sign, direction, kind, counterpart, created_at, outcome, grounds, postponed, ack_bucket, decision_bucket FROM old_rows';
    ELSE
        src := 'SELECT v.* FROM old_rows AS o FULL JOIN new_rows AS n ON o.id = n.id CROSS JOIN LATERAL (VALUES (-1, o.direction, o.kind, o.counterpart, o.created_at, o.outcome, o.grounds, o.postponed, o.ack_bucket, o.decision_bucket), (1, n.direction, n.kind, n.counterpart, n.created_at, n.outcome, n.grounds, n.postponed, n.ack_bucket, n.decision_bucket)) AS v (sign, direction, kind, counterpart, created_at, outcome, grounds, postponed, ack_bucket, decision_bucket) WHERE v.created_at IS NOT NULL AND (o.id IS NULL OR n.id IS NULL OR (o.direction, o.kind, o.counterpart, o.created_at, o.outcome, o.grounds, o.postponed, o.ack_bucket, o.decision_bucket) IS DISTINCT FROM (n.direction, n.kind, n.counterpart, n.created_at, n.outcome, n.grounds, n.postponed, n.ack_bucket, n.decision_bucket))';
    END IF;
    EXECUTE 'INSERT INTO case_stats_counts (span, direction, draft, dimension, key, cases)
SELECT s.span, c.direction, c.outcome = ''not-submitted'', d.dimension, d.key, SUM(c.sign)
FROM (' || src || ') AS c
CROSS JOIN LATERAL (VALUES (to_char(c.created_at AT TIME ZONE ''UTC'', ''YYYY'')), (to_char(c.created_at AT TIME ZONE ''UTC'', ''YYYY-MM''))) AS s (span)
CROSS JOIN LATERAL (VALUES (''kind'', c.kind), (''counterpart'', c.counterpart),
    (''outcome'', c.outcome),
    (''postponed'', CASE WHEN c.postponed THEN ''postponed'' ELSE ''not-postponed'' END),
    (''grounds'', NULLIF(c.grounds, ''''))) AS d (dimension, key)
WHERE d.key IS NOT NULL
GROUP BY 1, 2, 3, 4, 5
HAVING SUM(c.sign) <> 0
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (span, direction, draft, dimension, key)
DO UPDATE SET cases = case_stats_counts.cases + EXCLUDED.cases';
    EXECUTE 'INSERT INTO case_stats_times (span, direction, kind, measure, bucket, cases)
SELECT s.span, c.direction, c.kind, m.measure, m.bucket, SUM(c.sign)
FROM (' || src || ') AS c
CROSS JOIN LATERAL (VALUES (to_char(c.created_at AT TIME ZONE ''UTC'', ''YYYY'')), (to_char(c.created_at AT TIME ZONE ''UTC'', ''YYYY-MM''))) AS s (span)
CROSS JOIN LATERAL (VALUES (''acknowledgement'', c.ack_bucket),
    (''decision'', c.decision_bucket)) AS m (measure, bucket)
WHERE m.bucket IS NOT NULL
GROUP BY 1, 2, 3, 4, 5
HAVING SUM(c.sign) <> 0
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (span, direction, kind, measure, bucket)
DO UPDATE SET cases = case_stats_times.cases + EXCLUDED.cases';
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER case_stats_inserted AFTER INSERT ON case_index
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION case_stats_apply();
CREATE TRIGGER case_stats_updated AFTER UPDATE ON case_index
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION case_stats_apply();
CREATE TRIGGER case_stats_deleted AFTER DELETE ON case_index
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION case_stats_apply();

CREATE FUNCTION case_stats_truncated() RETURNS trigger AS $$
BEGIN
    DELETE FROM case_stats_counts;
    DELETE FROM case_stats_times;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER case_stats_truncated AFTER TRUNCATE ON case_index
    FOR EACH STATEMENT EXECUTE FUNCTION case_stats_truncated();
