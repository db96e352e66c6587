-- Herald schema 011 (issue 12, end-to-end efficiency): the rollup function
-- that every statement on deliveries runs (through its statement triggers)
-- becomes PL/pgSQL.
--
-- As a LANGUAGE sql function (009) with three statements it cannot be
-- inlined, and PostgreSQL 15 parses, analyses and plans its body again at
-- every call: about 0.5 ms of each claim and each outcome statement of
-- herald-slack (bench/e2e_bench.sh --profile: base_yyparse among the top
-- frames, herald_stats_apply first in pg_stat_statements by total time).
-- PL/pgSQL keeps each statement's plan for the life of the connection.
-- Same parameters, same statements, same order of upserts: only the language
-- changes. No table is touched; applying it takes no lock on deliveries
-- beyond the catalog's.
CREATE OR REPLACE FUNCTION herald_stats_apply(t bigint[], h timestamptz[], s text[], c text[],
                                              n integer[], f integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    WITH delta AS (
        SELECT * FROM unnest($1, $2, $3, $4, $5, $6) AS d(target_id, hour, state, error_code, n, folded)
         WHERE d.n <> 0 OR d.folded <> 0),
    per_target AS (
        INSERT INTO delivery_stats_hourly AS r (target_id, hour, state, error_code, n, folded)
        SELECT * FROM delta ORDER BY 1, 2, 3, 4
        ON CONFLICT (target_id, hour, state, error_code)
        DO UPDATE SET n = r.n + EXCLUDED.n, folded = r.folded + EXCLUDED.folded)
    INSERT INTO delivery_stats_hourly_all AS a (hour, state, error_code, shard, n, folded)
    SELECT d.hour, d.state, d.error_code, (d.target_id % 16)::smallint, sum(d.n), sum(d.folded)
      FROM delta d GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, state, error_code, shard)
    DO UPDATE SET n = a.n + EXCLUDED.n, folded = a.folded + EXCLUDED.folded;
    -- Keys a statement emptied (a delivery that left 'pending') go away.
    DELETE FROM delivery_stats_hourly r
     USING unnest($1, $2, $3, $4, $5) AS d(target_id, hour, state, error_code, n)
     WHERE d.n < 0 AND r.target_id = d.target_id AND r.hour = d.hour AND r.state = d.state
       AND r.error_code = d.error_code AND r.n = 0 AND r.folded = 0;
END
$$;
