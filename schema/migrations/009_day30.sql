-- Herald schema 009 (issue 9, day 30 in production): delivery rollups that
-- dashboards read instead of history, the indexes retention and the pending
-- reconciler use, the instance that holds a claim, and a record of each
-- maintenance run.
--
-- Applied in one transaction. It locks deliveries against writes (SHARE ROW
-- EXCLUSIVE: readers go on) while it fills the rollups from the existing rows,
-- so that no delivery is counted twice or missed: workers running during the
-- upgrade wait for it, they do not fail (README, "Online upgrades").
LOCK TABLE deliveries IN SHARE ROW EXCLUSIVE MODE;

-- Per target and hour (of created_at), how many deliveries are in each state;
-- error_code is the row's last_error_code for 'failed' and 'retrying' rows
-- and '' for the others; folded counts the rows sent folded into a digest.
-- Kept current by the statement triggers below, whoever writes deliveries;
-- `heraldctl stats rebuild [--since WHEN]` recomputes them from deliveries.
-- Kept for HERALD_STATS_RETENTION (default 400 days), longer than the
-- deliveries they count (HERALD_RETENTION, default 90 days): dropping old
-- deliveries by retention does not change them.
CREATE TABLE IF NOT EXISTS delivery_stats_hourly (
    target_id  bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    hour       timestamptz NOT NULL,
    state      text NOT NULL,
    error_code text NOT NULL DEFAULT '',
    n          integer NOT NULL DEFAULT 0,
    folded     integer NOT NULL DEFAULT 0,
    -- n rides in the key's index so that health reads (a target's last 24
    -- hours) are index-only scans: the rows of one target lie scattered over
    -- the heap, one page each, and sum(integer) adds in bigint.
    PRIMARY KEY (target_id, hour, state, error_code) INCLUDE (n)
);
-- Dashboards over all targets for a time range, and the stats retention.
CREATE INDEX IF NOT EXISTS delivery_stats_hourly_hour ON delivery_stats_hourly (hour);
-- Every delivery state change updates a row of the current hour: vacuum
-- after 2% of the rows changed (default 20%), so the hours before it stay
-- all-visible and the health reads index-only.
ALTER TABLE delivery_stats_hourly SET (autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

-- The rollup key of a delivery row.
CREATE OR REPLACE FUNCTION herald_stats_error_code(state text, code text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN state IN ('failed', 'retrying') THEN coalesce(code, '') ELSE '' END
$$;

-- The same counts over all targets, for dashboards that chart every target
-- at once (a week of hours in a few thousand rows instead of a million).
-- Split by shard (target_id % 16) so that concurrent writers of one hour and
-- state do not all queue on a single row's lock; readers sum the shards.
CREATE TABLE IF NOT EXISTS delivery_stats_hourly_all (
    hour       timestamptz NOT NULL,
    state      text NOT NULL,
    error_code text NOT NULL DEFAULT '',
    shard      smallint NOT NULL,
    n          integer NOT NULL DEFAULT 0,
    folded     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, state, error_code, shard)
);
-- Small and updated all the time: vacuumed every thousand changes or so.
ALTER TABLE delivery_stats_hourly_all SET (autovacuum_vacuum_scale_factor = 0.0,
    autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_insert_scale_factor = 0.0,
    autovacuum_vacuum_insert_threshold = 1000);

-- Adds one statement's changes (a row per key; n and folded may be negative)
-- to both rollups, then drops the keys it emptied (parameters by position:
-- a name like n would mean the table's column inside the statements). Upserts go in key order,
-- so two statements never wait on each other's rollup rows in a circle.
CREATE OR REPLACE FUNCTION herald_stats_apply(t bigint[], h timestamptz[], s text[], c text[],
                                              n integer[], f integer[]) RETURNS void
LANGUAGE sql AS $$
    WITH delta AS (
        SELECT * FROM unnest($1, $2, $3, $4, $5, $6) AS d(target_id, hour, state, error_code, n, folded)
         WHERE d.n <> 0 OR d.folded <> 0),
    per_target AS (
        INSERT INTO delivery_stats_hourly AS r (target_id, hour, state, error_code, n, folded)
        SELECT * FROM delta ORDER BY 1, 2, 3, 4
        ON CONFLICT (target_id, hour, state, error_code)
        DO UPDATE SET n = r.n + EXCLUDED.n, folded = r.folded + EXCLUDED.folded)
    INSERT INTO delivery_stats_hourly_all AS a (hour, state, error_code, shard, n, folded)
    SELECT hour, state, error_code, (target_id % 16)::smallint, sum(n), sum(folded)
      FROM delta GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, state, error_code, shard)
    DO UPDATE SET n = a.n + EXCLUDED.n, folded = a.folded + EXCLUDED.folded;
    -- Keys a statement emptied (a delivery that left 'pending') go away.
    DELETE FROM delivery_stats_hourly r
     USING unnest($1, $2, $3, $4, $5) AS d(target_id, hour, state, error_code, n)
     WHERE d.n < 0 AND r.target_id = d.target_id AND r.hour = d.hour AND r.state = d.state
       AND r.error_code = d.error_code AND r.n = 0 AND r.folded = 0;
$$;

-- One statement's rows, counted into the rollups (+1 for each new row, -1
-- for each old one) and onto the targets' last success and last error. A
-- DELETE made by retention (SET LOCAL herald.pruning = 'on') leaves the
-- rollups alone: they outlive the rows they count.
CREATE OR REPLACE FUNCTION herald_deliveries_stats() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM herald_stats_apply(array_agg(target_id), array_agg(hour), array_agg(state),
                                   array_agg(error_code), array_agg(n), array_agg(folded))
          FROM (SELECT target_id, date_trunc('hour', created_at) AS hour, state,
                       herald_stats_error_code(state, last_error_code) AS error_code,
                       count(*)::int AS n, count(digest_size)::int AS folded
                  FROM new_rows GROUP BY 1, 2, 3, 4) d;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM herald_stats_apply(array_agg(target_id), array_agg(hour), array_agg(state),
                                   array_agg(error_code), array_agg(n), array_agg(folded))
          FROM (SELECT target_id, hour, state, error_code,
                       sum(n)::int AS n, sum(folded)::int AS folded
                  FROM (SELECT target_id, date_trunc('hour', created_at) AS hour, state,
                               herald_stats_error_code(state, last_error_code) AS error_code,
                               1 AS n, (digest_size IS NOT NULL)::int AS folded
                          FROM new_rows
                        UNION ALL
                        SELECT target_id, date_trunc('hour', created_at), state,
                               herald_stats_error_code(state, last_error_code),
                               -1, -(digest_size IS NOT NULL)::int
                          FROM old_rows) x
                 GROUP BY 1, 2, 3, 4) d;
    ELSE -- DELETE
        IF current_setting('herald.pruning', true) = 'on' THEN
            RETURN NULL;
        END IF;
        PERFORM herald_stats_apply(array_agg(target_id), array_agg(hour), array_agg(state),
                                   array_agg(error_code), array_agg(n), array_agg(folded))
          FROM (SELECT target_id, date_trunc('hour', created_at) AS hour, state,
                       herald_stats_error_code(state, last_error_code) AS error_code,
                       -count(*)::int AS n, -count(digest_size)::int AS folded
                  FROM old_rows GROUP BY 1, 2, 3, 4) d;
        RETURN NULL;
    END IF;

    -- Last success and last error on the target row, only ever forward (the
    -- sender's own update of the same statement wrote the same time: no
    -- second row version then).
    UPDATE targets t SET last_success_at = x.at
      FROM (SELECT target_id, max(sent_at) AS at FROM new_rows
             WHERE state = 'sent' AND sent_at IS NOT NULL GROUP BY 1) x
     WHERE t.id = x.target_id AND (t.last_success_at IS NULL OR t.last_success_at < x.at);
    UPDATE targets t SET last_error_at = x.at, last_error_code = x.code, last_error = x.msg
      FROM (SELECT DISTINCT ON (target_id) target_id, updated_at AS at,
                   last_error_code AS code, last_error AS msg
              FROM new_rows WHERE state = 'failed'
             ORDER BY target_id, updated_at DESC) x
     WHERE t.id = x.target_id AND (t.last_error_at IS NULL OR t.last_error_at < x.at);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS deliveries_stats_insert ON deliveries;
CREATE TRIGGER deliveries_stats_insert AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_deliveries_stats();
DROP TRIGGER IF EXISTS deliveries_stats_update ON deliveries;
CREATE TRIGGER deliveries_stats_update AFTER UPDATE ON deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_deliveries_stats();
DROP TRIGGER IF EXISTS deliveries_stats_delete ON deliveries;
CREATE TRIGGER deliveries_stats_delete AFTER DELETE ON deliveries
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_deliveries_stats();

-- Recounts both rollups for the hours from `since` on (an hour boundary)
-- from the deliveries: this migration's fill and `heraldctl stats rebuild`.
-- The caller holds writers off deliveries meanwhile. Returns the rollup rows
-- replaced and written and the deliveries counted.
CREATE OR REPLACE FUNCTION herald_stats_recount(since timestamptz, OUT replaced bigint,
                                                OUT written bigint, OUT counted bigint)
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM delivery_stats_hourly WHERE hour >= since;
    GET DIAGNOSTICS replaced = ROW_COUNT;
    INSERT INTO delivery_stats_hourly (target_id, hour, state, error_code, n, folded)
    SELECT target_id, date_trunc('hour', created_at), state,
           herald_stats_error_code(state, last_error_code), count(*), count(digest_size)
      FROM deliveries
     WHERE created_at >= since
     GROUP BY 1, 2, 3, 4;
    GET DIAGNOSTICS written = ROW_COUNT;
    SELECT coalesce(sum(n), 0) INTO counted FROM delivery_stats_hourly WHERE hour >= since;
    DELETE FROM delivery_stats_hourly_all WHERE hour >= since;
    INSERT INTO delivery_stats_hourly_all (hour, state, error_code, shard, n, folded)
    SELECT hour, state, error_code, (target_id % 16)::smallint, sum(n), sum(folded)
      FROM delivery_stats_hourly
     WHERE hour >= since
     GROUP BY 1, 2, 3, 4;
END
$$;

-- The rollups of the rows already there (the lock above holds writers off).
SELECT herald_stats_recount('-infinity');

-- Health for dashboards, from the rollups and the target row: per target,
-- deliveries by state created in the current hour and the 23 before it, and
-- the last success and last error (with its reason). Same columns as before.
CREATE OR REPLACE VIEW target_delivery_health AS
SELECT t.id AS target_id,
       t.tenant_id,
       t.name,
       t.team_id,
       t.destination,
       t.enabled,
       coalesce(s.pending, 0)  AS pending_24h,
       coalesce(s.sending, 0)  AS sending_24h,
       coalesce(s.retrying, 0) AS retrying_24h,
       coalesce(s.sent, 0)     AS sent_24h,
       coalesce(s.failed, 0)   AS failed_24h,
       t.last_success_at,
       t.last_error_at,
       t.last_error_code,
       t.last_error
  FROM targets t
  LEFT JOIN LATERAL (
        SELECT (sum(r.n) FILTER (WHERE r.state = 'pending'))::bigint  AS pending,
               (sum(r.n) FILTER (WHERE r.state = 'sending'))::bigint  AS sending,
               (sum(r.n) FILTER (WHERE r.state = 'retrying'))::bigint AS retrying,
               (sum(r.n) FILTER (WHERE r.state = 'sent'))::bigint     AS sent,
               (sum(r.n) FILTER (WHERE r.state = 'failed'))::bigint   AS failed
          FROM delivery_stats_hourly r
         WHERE r.target_id = t.id
           AND r.hour >= date_trunc('hour', now()) - interval '23 hours') s ON true
 WHERE t.deleted_at IS NULL;

-- Retention deletes old events in batches by age; deliveries it reaches
-- through deliveries_target_created (001), one target at a time.
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);

-- The sender's reconciler: pending deliveries older than --reconcile-after.
CREATE INDEX IF NOT EXISTS deliveries_pending_created ON deliveries (created_at)
    WHERE state = 'pending';

-- Which sender instance (--instance-id) holds a 'sending' row's lease: a
-- restarted instance settles its previous incarnation's claims at once.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS claimed_by text;

-- The partitions of herald.deliveries.v1 each sender instance held, and
-- when it was last alive (refreshed every few seconds). A sender restarted
-- with the same --instance-id resumes those partitions' workspaces from
-- PostgreSQL at once, while Kafka's group hands them back (the broker does
-- that only once it gives up on the dead incarnation).
CREATE TABLE IF NOT EXISTS sender_instances (
    group_id        text NOT NULL, -- the consumer group (--group): ids are per group
    instance_id     text NOT NULL,
    partitions      integer[] NOT NULL,
    partition_count integer NOT NULL,
    seen_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, instance_id)
);

-- One row per maintenance task (retention...), for `heraldctl` and alerts:
-- when it last ran, when it last succeeded, and what it did.
CREATE TABLE IF NOT EXISTS maintenance_runs (
    task        text PRIMARY KEY,
    last_run_at timestamptz NOT NULL,
    last_ok_at  timestamptz,
    rows        bigint NOT NULL DEFAULT 0,
    detail      text NOT NULL DEFAULT ''
);
