-- Herald schema 012 (issue 12, end-to-end efficiency): the delivery rollups
-- (009) are kept from a log of changes folded in about once a second,
-- instead of being upserted by every statement on deliveries.
--
-- Why: a delivery's life is three statements (the router's insert, the
-- sender's claim, its outcome) and each moved the rollups at once: pending
-- +1, then pending -1 and sending +1, then sending -1 and sent +1, five
-- upserts into indexed rollup rows (and deletes of the keys emptied) per
-- message. That was about 60% of PostgreSQL's work per message (65-85 us
-- of each claim or outcome row against 25-30 us without; bench/e2e_bench.sh
-- --profile, and a psql replay of the three statements). Now a statement
-- appends its net change per key to delivery_stats_delta, a heap without an
-- index; herald_stats_fold() moves the log into the rollups in one
-- aggregated upsert, where a message that went pending -> sending -> sent
-- within the second is a single +1 sent.
--
-- Who folds: herald-router and herald-slack, every second (whichever gets
-- the advisory lock first; the other skips). Readers stay exact: the health
-- view and the API's activity add the log's rows not folded yet (a few
-- seconds of changes at most while a worker runs). Grafana's panels read the
-- rollups over all targets directly: they lag by up to the fold interval.
-- `heraldctl stats rebuild` drops the log's rows of the hours it recounts.
--
-- Applied in one transaction: a new empty table, functions and the view
-- replaced (same columns); no table is rewritten. Workers of the previous
-- version keep running meanwhile: their statements fire the new trigger
-- function, and the new workers fold what they log.
CREATE TABLE IF NOT EXISTS delivery_stats_delta (
    target_id  bigint NOT NULL,
    hour       timestamptz NOT NULL,
    state      text NOT NULL,
    error_code text NOT NULL,
    n          integer NOT NULL,
    folded     integer NOT NULL
);
-- Emptied every second: vacuumed often, so it stays a few pages.
ALTER TABLE delivery_stats_delta SET (autovacuum_vacuum_scale_factor = 0.0,
    autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_insert_scale_factor = 0.0,
    autovacuum_vacuum_insert_threshold = 5000);

-- One statement's rows, logged as net changes per rollup key (+1 for each
-- new row, -1 for each old one), and onto the targets' last success and last
-- error (010's rules, unchanged). A DELETE made by retention (SET LOCAL
-- herald.pruning = 'on') leaves the rollups alone: they outlive the rows.
CREATE OR REPLACE FUNCTION herald_deliveries_stats() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO delivery_stats_delta (target_id, hour, state, error_code, n, folded)
        SELECT target_id, date_trunc('hour', created_at), state,
               herald_stats_error_code(state, last_error_code), count(*), count(digest_size)
          FROM new_rows GROUP BY 1, 2, 3, 4;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO delivery_stats_delta (target_id, hour, state, error_code, n, folded)
        SELECT target_id, hour, state, error_code, sum(n), sum(folded)
          FROM (SELECT target_id, date_trunc('hour', created_at) AS hour, state,
                       herald_stats_error_code(state, last_error_code) AS error_code,
                       1 AS n, (digest_size IS NOT NULL)::int AS folded
                  FROM new_rows
                UNION ALL
                SELECT target_id, date_trunc('hour', created_at), state,
                       herald_stats_error_code(state, last_error_code),
                       -1, -(digest_size IS NOT NULL)::int
                  FROM old_rows) x
         GROUP BY 1, 2, 3, 4
        HAVING sum(n) <> 0 OR sum(folded) <> 0;
    ELSE -- DELETE
        IF current_setting('herald.pruning', true) = 'on' THEN
            RETURN NULL;
        END IF;
        INSERT INTO delivery_stats_delta (target_id, hour, state, error_code, n, folded)
        SELECT target_id, date_trunc('hour', created_at), state,
               herald_stats_error_code(state, last_error_code), -count(*), -count(digest_size)
          FROM old_rows GROUP BY 1, 2, 3, 4;
        RETURN NULL;
    END IF;

    UPDATE targets t SET last_success_at = x.at
      FROM (SELECT target_id, max(sent_at) AS at FROM new_rows
             WHERE state = 'sent' AND sent_at IS NOT NULL AND kind <> 'nudge' GROUP BY 1) x
     WHERE t.id = x.target_id AND (t.last_success_at IS NULL OR t.last_success_at < x.at);
    UPDATE targets t SET last_error_at = x.at, last_error_code = x.code, last_error = x.msg
      FROM (SELECT DISTINCT ON (target_id) target_id, updated_at AS at,
                   last_error_code AS code, last_error AS msg
              FROM new_rows WHERE state = 'failed' AND kind <> 'nudge'
             ORDER BY target_id, updated_at DESC) x
     WHERE t.id = x.target_id AND (t.last_error_at IS NULL OR t.last_error_at < x.at);
    RETURN NULL;
END
$$;

-- Moves the log into the rollups; returns the log rows folded (0 when
-- another session is folding: it takes them). The advisory lock (key
-- 4812120001) also keeps a fold out of `stats rebuild`. Keys of a target
-- removed meanwhile are dropped (the rollups' rows go with their target).
CREATE OR REPLACE FUNCTION herald_stats_fold() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    t bigint[]; h timestamptz[]; s text[]; c text[]; n integer[]; f integer[];
    total bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(4812120001) THEN
        RETURN 0;
    END IF;
    WITH d AS (DELETE FROM delivery_stats_delta RETURNING *),
    k AS (SELECT d.target_id, d.hour, d.state, d.error_code, sum(d.n)::int AS n,
                 sum(d.folded)::int AS folded, count(*) AS rows
            FROM d GROUP BY 1, 2, 3, 4)
    SELECT array_agg(k.target_id) FILTER (WHERE tt.id IS NOT NULL),
           array_agg(k.hour) FILTER (WHERE tt.id IS NOT NULL),
           array_agg(k.state) FILTER (WHERE tt.id IS NOT NULL),
           array_agg(k.error_code) FILTER (WHERE tt.id IS NOT NULL),
           array_agg(k.n) FILTER (WHERE tt.id IS NOT NULL),
           array_agg(k.folded) FILTER (WHERE tt.id IS NOT NULL),
           coalesce(sum(k.rows), 0)
      INTO t, h, s, c, n, f, total
      FROM k LEFT JOIN targets tt ON tt.id = k.target_id;
    IF t IS NOT NULL THEN
        PERFORM herald_stats_apply(t, h, s, c, n, f);
    END IF;
    RETURN total;
END
$$;

-- 009's recount, now also for the log: it waits for a fold in progress,
-- drops the log's rows of the hours it recounts (the recount has them) and
-- folds the older ones. The caller still holds writers off deliveries.
CREATE OR REPLACE FUNCTION herald_stats_recount(since timestamptz, OUT replaced bigint,
                                                OUT written bigint, OUT counted bigint)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(4812120001);
    DELETE FROM delivery_stats_delta WHERE hour >= since;
    PERFORM herald_stats_apply(array_agg(target_id), array_agg(hour), array_agg(state),
                               array_agg(error_code), array_agg(n), array_agg(folded))
      FROM (SELECT d.target_id, d.hour, d.state, d.error_code, sum(d.n)::int AS n,
                   sum(d.folded)::int AS folded
              FROM delivery_stats_delta d JOIN targets tt ON tt.id = d.target_id
             GROUP BY 1, 2, 3, 4) x;
    DELETE FROM delivery_stats_delta;
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

-- Health: 010's view (same columns), plus the log's rows not folded yet,
-- summed once for all targets (the log is a few seconds of changes).
CREATE OR REPLACE VIEW target_delivery_health AS
WITH unfolded AS (
    SELECT d.target_id,
           (sum(d.n) FILTER (WHERE d.state = 'pending'))::bigint    AS pending,
           (sum(d.n) FILTER (WHERE d.state = 'sending'))::bigint    AS sending,
           (sum(d.n) FILTER (WHERE d.state = 'retrying'))::bigint   AS retrying,
           (sum(d.n) FILTER (WHERE d.state = 'sent'))::bigint       AS sent,
           (sum(d.n) FILTER (WHERE d.state = 'failed'))::bigint     AS failed,
           (sum(d.n) FILTER (WHERE d.state = 'suppressed'))::bigint AS suppressed
      FROM delivery_stats_delta d
     WHERE d.hour >= date_trunc('hour', now()) - interval '23 hours'
     GROUP BY d.target_id)
SELECT t.id AS target_id,
       t.tenant_id,
       t.name,
       t.team_id,
       t.destination,
       t.enabled,
       coalesce(s.pending, 0) + coalesce(u.pending, 0)   AS pending_24h,
       coalesce(s.sending, 0) + coalesce(u.sending, 0)   AS sending_24h,
       coalesce(s.retrying, 0) + coalesce(u.retrying, 0) AS retrying_24h,
       coalesce(s.sent, 0) + coalesce(u.sent, 0)         AS sent_24h,
       coalesce(s.failed, 0) + coalesce(u.failed, 0)     AS failed_24h,
       t.last_success_at,
       t.last_error_at,
       t.last_error_code,
       t.last_error,
       coalesce(s.suppressed, 0) + coalesce(u.suppressed, 0) AS suppressed_24h
  FROM targets t
  LEFT JOIN LATERAL (
        SELECT (sum(r.n) FILTER (WHERE r.state = 'pending'))::bigint    AS pending,
               (sum(r.n) FILTER (WHERE r.state = 'sending'))::bigint    AS sending,
               (sum(r.n) FILTER (WHERE r.state = 'retrying'))::bigint   AS retrying,
               (sum(r.n) FILTER (WHERE r.state = 'sent'))::bigint       AS sent,
               (sum(r.n) FILTER (WHERE r.state = 'failed'))::bigint     AS failed,
               (sum(r.n) FILTER (WHERE r.state = 'suppressed'))::bigint AS suppressed
          FROM delivery_stats_hourly r
         WHERE r.target_id = t.id
           AND r.hour >= date_trunc('hour', now()) - interval '23 hours') s ON true
  LEFT JOIN unfolded u ON u.target_id = t.id
 WHERE t.deleted_at IS NULL;
