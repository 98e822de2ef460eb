-- Custos node schema, version 16 (SQLite): the oversight statistics kept
-- up to date as cases change, instead of counted from every case row of
-- the period for each report.
-- Applied migrations are checksummed: never edit this file once released;
-- the PostgreSQL twin is ../postgres/0016_statistics_rollup.sql.
--
-- Two rollups, keyed by a span of `created_at` in UTC: a calendar year
-- (`2025`) and a calendar month (`2025-03`); each case counts in its year
-- and in its month. A report reads the whole years and months of its period
-- here and only the case rows of its ragged ends (`stats.rs`).
--
-- `case_stats_counts`: how many cases of a span and direction have each
-- kind, counterpart, outcome, postponement (`postponed` or
-- `not-postponed`) and refusal grounds list (the stored list, `R2,R6`;
-- none for an empty list); `draft` is 1 for the cases whose outcome is
-- `not-submitted`, which the report leaves out.
--
-- `case_stats_times`: a histogram of each response time per span,
-- direction and kind: how many cases have a time in each bucket. A bucket
-- is named by its lowest value and keeps seven significant bits (below 128
-- seconds one bucket per second, then 64 buckets per doubling, widths 2,
-- 4, ... up to 2^24 seconds; every negative time is bucket -1, every time
-- from 2^31 seconds bucket 2^31), so buckets sort as their times do. A
-- percentile is found here to its bucket, then read exactly from the
-- case rows of that bucket through the indexes below.
--
-- The rollups are written by the triggers below in the transaction that
-- writes the case row, whatever the statement (the node's derivation,
-- seeding, the request trigger of 0007, a shell): a row's old contribution
-- is taken away and its new one added. Counts that fall to zero stay, as
-- zero; readers skip them.
ALTER TABLE case_index ADD COLUMN ack_bucket INTEGER GENERATED ALWAYS AS (
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
) VIRTUAL;
ALTER TABLE case_index ADD COLUMN decision_bucket INTEGER GENERATED ALWAYS AS (
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
) VIRTUAL;

CREATE TABLE case_stats_counts (
    span      TEXT    NOT NULL,
    direction TEXT    NOT NULL,
    draft     INTEGER NOT NULL,
    dimension TEXT    NOT NULL,
    key       TEXT    NOT NULL,
    cases     INTEGER NOT NULL,
    PRIMARY KEY (span, direction, draft, dimension, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE case_stats_times (
    span      TEXT    NOT NULL,
    direction TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    measure   TEXT    NOT NULL,
    bucket    INTEGER NOT NULL,
    cases     INTEGER NOT NULL,
    PRIMARY KEY (span, direction, kind, measure, bucket)
) STRICT, WITHOUT ROWID;

-- The exact times of one bucket of one direction and kind over a range of
-- created instants, read from the index alone.
CREATE INDEX case_index_ack_times
    ON case_index (direction, kind, ack_bucket, created_at, ack_seconds);
CREATE INDEX case_index_decision_times
    ON case_index (direction, kind, decision_bucket, created_at, decision_seconds);

-- The cases already indexed.
INSERT INTO case_stats_counts (span, direction, draft, dimension, key, cases)
SELECT span, direction, draft, dimension, key, COUNT(*)
FROM (
    SELECT strftime(CASE g.grain WHEN 'y' THEN '%Y' ELSE '%Y-%m' END, (c.created_at - (((c.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch') AS span,
        c.direction AS direction, c.outcome = 'not-submitted' AS draft, d.dimension AS dimension,
        CASE d.dimension
            WHEN 'kind' THEN c.kind
            WHEN 'counterpart' THEN c.counterpart
            WHEN 'outcome' THEN c.outcome
            WHEN 'postponed' THEN
                CASE WHEN c.postponed THEN 'postponed' ELSE 'not-postponed' END
            ELSE NULLIF(c.grounds, '')
        END AS key
    FROM case_index AS c,
        (SELECT 'y' AS grain UNION ALL SELECT 'm') AS g,
        (SELECT 'kind' AS dimension UNION ALL SELECT 'counterpart' UNION ALL SELECT 'outcome'
         UNION ALL SELECT 'postponed' UNION ALL SELECT 'grounds') AS d
)
WHERE key IS NOT NULL
GROUP BY span, direction, draft, dimension, key;

INSERT INTO case_stats_times (span, direction, kind, measure, bucket, cases)
SELECT span, direction, kind, measure, bucket, COUNT(*)
FROM (
    SELECT strftime(CASE g.grain WHEN 'y' THEN '%Y' ELSE '%Y-%m' END, (c.created_at - (((c.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch') AS span,
        c.direction AS direction, c.kind AS kind, m.measure AS measure,
        CASE m.measure WHEN 'acknowledgement' THEN c.ack_bucket ELSE c.decision_bucket END
            AS bucket
    FROM case_index AS c,
        (SELECT 'y' AS grain UNION ALL SELECT 'm') AS g,
        (SELECT 'acknowledgement' AS measure UNION ALL SELECT 'decision') AS m
)
WHERE bucket IS NOT NULL
GROUP BY span, direction, kind, measure, bucket;

CREATE TRIGGER case_stats_inserted AFTER INSERT ON case_index
BEGIN
    INSERT INTO case_stats_counts (span, direction, draft, dimension, key, cases)
    SELECT s.span, NEW.direction, NEW.outcome = 'not-submitted', d.dimension, d.key, 1
    FROM (SELECT strftime('%Y', (NEW.created_at - (((NEW.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch') AS span
          UNION ALL SELECT strftime('%Y-%m', (NEW.created_at - (((NEW.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch')) AS s,
        (SELECT 'kind' AS dimension, NEW.kind AS key
         UNION ALL SELECT 'counterpart', NEW.counterpart
         UNION ALL SELECT 'outcome', NEW.outcome
         UNION ALL SELECT 'postponed',
             CASE WHEN NEW.postponed THEN 'postponed' ELSE 'not-postponed' END
         UNION ALL SELECT 'grounds', NULLIF(NEW.grounds, '')) AS d
    WHERE d.key IS NOT NULL
    ON CONFLICT (span, direction, draft, dimension, key)
    DO UPDATE SET cases = cases + excluded.cases;

    INSERT INTO case_stats_times (span, direction, kind, measure, bucket, cases)
    SELECT s.span, NEW.direction, NEW.kind, m.measure, m.bucket, 1
    FROM (SELECT strftime('%Y', (NEW.created_at - (((NEW.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch') AS span
          UNION ALL SELECT strftime('%Y-%m', (NEW.created_at - (((NEW.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch')) AS s,
        (SELECT 'acknowledgement' AS measure, NEW.ack_bucket AS bucket
         UNION ALL SELECT 'decision', NEW.decision_bucket) AS m
    WHERE m.bucket IS NOT NULL
    ON CONFLICT (span, direction, kind, measure, bucket)
    DO UPDATE SET cases = cases + excluded.cases;
END;

CREATE TRIGGER case_stats_deleted AFTER DELETE ON case_index
BEGIN
    INSERT INTO case_stats_counts (span, direction, draft, dimension, key, cases)
    SELECT s.span, OLD.direction, OLD.outcome = 'not-submitted', d.dimension, d.key, -1
    FROM (SELECT strftime('%Y', (OLD.created_at - (((OLD.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch') AS span
          UNION ALL SELECT strftime('%Y-%m', (OLD.created_at - (((OLD.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch')) AS s,
        (SELECT 'kind' AS dimension, OLD.kind AS key
         UNION ALL SELECT 'counterpart', OLD.counterpart
         UNION ALL SELECT 'outcome', OLD.outcome
         UNION ALL SELECT 'postponed',
             CASE WHEN OLD.postponed THEN 'postponed' ELSE 'not-postponed' END
         UNION ALL SELECT 'grounds', NULLIF(OLD.grounds, '')) AS d
    WHERE d.key IS NOT NULL
    ON CONFLICT (span, direction, draft, dimension, key)
    DO UPDATE SET cases = cases + excluded.cases;

    INSERT INTO case_stats_times (span, direction, kind, measure, bucket, cases)
    SELECT s.span, OLD.direction, OLD.kind, m.measure, m.bucket, -1
    FROM (SELECT strftime('%Y', (OLD.created_at - (((OLD.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch') AS span
          UNION ALL SELECT strftime('%Y-%m', (OLD.created_at - (((OLD.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch')) AS s,
        (SELECT 'acknowledgement' AS measure, OLD.ack_bucket AS bucket
         UNION ALL SELECT 'decision', OLD.decision_bucket) AS m
    WHERE m.bucket IS NOT NULL
    ON CONFLICT (span, direction, kind, measure, bucket)
    DO UPDATE SET cases = cases + excluded.cases;
END;

CREATE TRIGGER case_stats_updated AFTER UPDATE OF
    direction, kind, counterpart, created_at, outcome, grounds, postponed, ack_seconds, decision_seconds
    ON case_index
WHEN OLD.direction IS NOT NEW.direction
    OR OLD.kind IS NOT NEW.kind
    OR OLD.counterpart IS NOT NEW.counterpart
    OR OLD.created_at IS NOT NEW.created_at
    OR OLD.outcome IS NOT NEW.outcome
    OR OLD.grounds IS NOT NEW.grounds
    OR OLD.postponed IS NOT NEW.postponed
    OR OLD.ack_seconds IS NOT NEW.ack_seconds
    OR OLD.decision_seconds IS NOT NEW.decision_seconds
BEGIN
    INSERT INTO case_stats_counts (span, direction, draft, dimension, key, cases)
    SELECT s.span, OLD.direction, OLD.outcome = 'not-submitted', d.dimension, d.key, -1
    FROM (SELECT strftime('%Y', (OLD.created_at - (((OLD.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch') AS span
          UNION ALL SELECT strftime('%Y-%m', (OLD.created_at - (((OLD.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch')) AS s,
        (SELECT 'kind' AS dimension, OLD.kind AS key
         UNION ALL SELECT 'counterpart', OLD.counterpart
         UNION ALL SELECT 'outcome', OLD.outcome
         UNION ALL SELECT 'postponed',
             CASE WHEN OLD.postponed THEN 'postponed' ELSE 'not-postponed' END
         UNION ALL SELECT 'grounds', NULLIF(OLD.grounds, '')) AS d
    WHERE d.key IS NOT NULL
    ON CONFLICT (span, direction, draft, dimension, key)
    DO UPDATE SET cases = cases + excluded.cases;

    INSERT INTO case_stats_times (span, direction, kind, measure, bucket, cases)
    SELECT s.span, OLD.direction, OLD.kind, m.measure, m.bucket, -1
    FROM (SELECT strftime('%Y', (OLD.created_at - (((OLD.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch') AS span
          UNION ALL SELECT strftime('%Y-%m', (OLD.created_at - (((OLD.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch')) AS s,
        (SELECT 'acknowledgement' AS measure, OLD.ack_bucket AS bucket
         UNION ALL SELECT 'decision', OLD.decision_bucket) AS m
    WHERE m.bucket IS NOT NULL
    ON CONFLICT (span, direction, kind, measure, bucket)
    DO UPDATE SET cases = cases + excluded.cases;

    INSERT INTO case_stats_counts (span, direction, draft, dimension, key, cases)
    SELECT s.span, NEW.direction, NEW.outcome = 'not-submitted', d.dimension, d.key, 1
    FROM (SELECT strftime('%Y', (NEW.created_at - (((NEW.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch') AS span
          UNION ALL SELECT strftime('%Y-%m', (NEW.created_at - (((NEW.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch')) AS s,
        (SELECT 'kind' AS dimension, NEW.kind AS key
         UNION ALL SELECT 'counterpart', NEW.counterpart
         UNION ALL SELECT 'outcome', NEW.outcome
         UNION ALL SELECT 'postponed',
             CASE WHEN NEW.postponed THEN 'postponed' ELSE 'not-postponed' END
         UNION ALL SELECT 'grounds', NULLIF(NEW.grounds, '')) AS d
    WHERE d.key IS NOT NULL
    ON CONFLICT (span, direction, draft, dimension, key)
    DO UPDATE SET cases = cases + excluded.cases;

    INSERT INTO case_stats_times (span, direction, kind, measure, bucket, cases)
    SELECT s.span, NEW.direction, NEW.kind, m.measure, m.bucket, 1
    FROM (SELECT strftime('%Y', (NEW.created_at - (((NEW.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch') AS span
          UNION ALL SELECT strftime('%Y-%m', (NEW.created_at - (((NEW.created_at % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch')) AS s,
        (SELECT 'acknowledgement' AS measure, NEW.ack_bucket AS bucket
         UNION ALL SELECT 'decision', NEW.decision_bucket) AS m
    WHERE m.bucket IS NOT NULL
    ON CONFLICT (span, direction, kind, measure, bucket)
    DO UPDATE SET cases = cases + excluded.cases;
END;
