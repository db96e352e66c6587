/*
 * Delivery history upkeep (stats.h): `heraldctl stats rebuild` (the hourly
 * rollups recomputed from deliveries) and retention (batched deletes of old
 * terminal deliveries, unreferenced events, old rollups, old Slack button
 * presses and silences long over), with its record in maintenance_runs.
 *
 * Why batched deletes and not partitions: deliveries are updated in place for
 * days (retries, late sends) and looked up by (event_id, target_id), whose
 * unique key a partitioned table could only keep by including the partition
 * key; non-terminal rows must survive any age, so a partition could never be
 * dropped whole without moving them first. Short deletes through the indexes
 * that already exist keep each lock and each transaction small instead.
 */
#include "store/stats.h"

#include "common/util.h"
#include "store/store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The session advisory lock only one pruner holds ("hera" "prun"). */
#define PRUNE_LOCK_KEY "7522766424955663726"

/* The states a delivery may still leave: never removed, whatever their age. */
#define LIVE_STATES "('pending', 'sending', 'retrying')"

/* A time in milliseconds as a timestamptz parameter. */
#define TS_PARAM(n) "to_timestamp(" n "::float8 / 1000)"

/* ================================================================ rebuild */

store_status store_stats_rebuild(PGconn *conn, int64_t since_ms, store_rebuild_result *out,
                                 char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    char since[24];
    store_i64_text(since_ms, since);
    const char *p[] = {since_ms > 0 ? since : NULL};
    store_status st = store_begin(conn, "stats rebuild", errstr, errstr_size);
    if (st != STORE_OK)
        return st;
    PGresult *r = NULL;
    /* Writers wait for us, readers do not: the rows cannot change under the
     * count, so the triggers' later deltas apply to what we wrote. */
    st =
        store_exec(conn, "stats rebuild: lock", "LOCK TABLE deliveries IN SHARE ROW EXCLUSIVE MODE",
                   0, NULL, NULL, errstr, errstr_size);
    if (st != STORE_OK)
        goto out;
    /* By default from the oldest delivery; once retention has run, from the
     * oldest terminal one: retention keeps every terminal row after its
     * cutoff, and the hours before it hold the counts of rows it removed,
     * which the deliveries table cannot give back. */
    r = store_run(conn, "stats rebuild: range",
                  "SELECT " MS("h") ", h::text FROM (SELECT date_trunc('hour', coalesce(" TS_PARAM(
                      "$1") ", CASE WHEN EXISTS (SELECT 1 FROM maintenance_runs "
                            "WHERE task = 'retention') "
                            "THEN (SELECT min(created_at) FROM deliveries "
                            "WHERE state NOT IN " LIVE_STATES ") "
                            "ELSE (SELECT min(created_at) FROM deliveries) END)) AS h) x",
                  1, p, NULL, errstr, errstr_size);
    if (!r) {
        st = STORE_DB;
        goto out;
    }
    if (PQgetisnull(r, 0, 0)) { /* no delivery and no --since: nothing to recount */
        PQclear(r);
        r = NULL;
        goto commit;
    }
    out->from_ms = store_get_i64(r, 0, 0);
    char *from = store_get_str(r, 0, 1);
    PQclear(r);
    const char *fp[] = {from};
    /* Grouped exactly as migration 009 fills and its triggers keep them. */
    r = store_run(conn, "stats rebuild: recount",
                  "SELECT replaced, written, counted FROM herald_stats_recount($1::timestamptz)", 1,
                  fp, NULL, errstr, errstr_size);
    if (r) {
        out->removed = store_get_i64(r, 0, 0);
        out->rollup_rows = store_get_i64(r, 0, 1);
        out->deliveries = store_get_i64(r, 0, 2);
        PQclear(r);
        /* As the triggers do: forward only, the newest success and the newest
         * failure (by its update time) of the range. */
        r = store_run(
            conn, "stats rebuild: targets",
            "WITH s AS (UPDATE targets t SET last_success_at = x.at "
            "  FROM (SELECT target_id, max(sent_at) AS at FROM deliveries "
            "         WHERE created_at >= $1::timestamptz AND state = 'sent' "
            "           AND sent_at IS NOT NULL GROUP BY 1) x "
            " WHERE t.id = x.target_id AND (t.last_success_at IS NULL OR t.last_success_at < x.at) "
            " RETURNING t.id), "
            "e AS (UPDATE targets t SET last_error_at = x.at, last_error_code = x.code, "
            "       last_error = x.msg "
            "  FROM (SELECT DISTINCT ON (target_id) target_id, updated_at AS at, "
            "               last_error_code AS code, last_error AS msg FROM deliveries "
            "         WHERE created_at >= $1::timestamptz AND state = 'failed' "
            "         ORDER BY target_id, updated_at DESC) x "
            " WHERE t.id = x.target_id AND (t.last_error_at IS NULL OR t.last_error_at < x.at) "
            " RETURNING t.id) "
            "SELECT count(*) FROM (SELECT id FROM s UNION SELECT id FROM e) u",
            1, fp, NULL, errstr, errstr_size);
    }
    free(from);
    if (!r) {
        st = STORE_DB;
        goto out;
    }
    out->targets = store_get_i64(r, 0, 0);
    PQclear(r);
commit:
    st = store_commit(conn, "stats rebuild: commit", errstr, errstr_size);
out:
    if (st != STORE_OK)
        store_rollback(conn);
    return st;
}

/* ================================================================ prune */

/* One statement returning one row of counts; *row gets the result (the caller
 * PQclears it). */
static store_status one_row(PGconn *conn, const char *what, const char *sql, int n,
                            const char *const *vals, PGresult **row, char *errstr,
                            size_t errstr_size)
{
    *row = store_run(conn, what, sql, n, vals, NULL, errstr, errstr_size);
    if (!*row)
        return STORE_DB;
    if (PQntuples(*row) != 1) {
        PQclear(*row);
        *row = NULL;
        return store_fail(STORE_DB, errstr, errstr_size, "%s: expected one row", what);
    }
    return STORE_OK;
}

/* One retention batch: its own short transaction, with herald.pruning on so
 * the rollup triggers leave the counts alone. *deleted gets how many rows
 * went (first column of the statement's one row); *r (may be NULL) keeps the
 * row for more columns. */
static store_status run_batch(PGconn *conn, const char *what, const char *sql, int n,
                              const char *const *vals, int64_t *deleted, PGresult **keep,
                              store_prune_result *out, char *errstr, size_t errstr_size)
{
    int64_t t0 = util_now_mono_ms();
    store_status st = store_begin(conn, what, errstr, errstr_size);
    if (st == STORE_OK)
        st = store_exec(conn, what, "SET LOCAL herald.pruning = 'on'", 0, NULL, NULL, errstr,
                        errstr_size);
    PGresult *r = NULL;
    if (st == STORE_OK)
        st = one_row(conn, what, sql, n, vals, &r, errstr, errstr_size);
    if (st == STORE_OK)
        st = store_commit(conn, what, errstr, errstr_size);
    if (st != STORE_OK) {
        PQclear(r);
        store_rollback(conn);
        return st;
    }
    *deleted = store_get_i64(r, 0, 0);
    if (keep)
        *keep = r;
    else
        PQclear(r);
    int64_t ms = util_now_mono_ms() - t0;
    if (*deleted > 0) {
        out->batches++;
        if (ms > out->longest_batch_ms)
            out->longest_batch_ms = ms;
    }
    return STORE_OK;
}

static bool stopping(const store_prune_opts *o, store_prune_result *out)
{
    if (o->should_stop && o->should_stop(o->arg))
        out->stopped = true;
    return out->stopped;
}

/* Terminal deliveries created before cutoff, target by target (every target
 * that has one, removed targets included) through deliveries_target_created.
 * The state is checked again on the row locked for deletion: a row made
 * 'pending' again meanwhile stays. */
static store_status prune_deliveries(PGconn *conn, const store_prune_opts *o, const char *cutoff,
                                     const char *batch, store_prune_result *out, char *errstr,
                                     size_t errstr_size)
{
    const char *cp[] = {cutoff};
    PGresult *ids = store_run(conn, "prune: targets",
                              "SELECT t.id FROM targets t WHERE EXISTS (SELECT 1 FROM deliveries d "
                              "WHERE d.target_id = t.id AND d.created_at < $1::timestamptz "
                              "AND d.state NOT IN " LIVE_STATES ") ORDER BY t.id",
                              1, cp, NULL, errstr, errstr_size);
    if (!ids)
        return STORE_DB;
    store_status st = STORE_OK;
    for (int i = 0; i < PQntuples(ids) && st == STORE_OK && !stopping(o, out); i++) {
        const char *p[] = {PQgetvalue(ids, i, 0), cutoff, batch};
        for (;;) {
            int64_t n = 0;
            st = run_batch(conn, "prune: deliveries",
                           "WITH v AS (SELECT id FROM deliveries WHERE target_id = $1::int8 "
                           "  AND created_at < $2::timestamptz AND state NOT IN " LIVE_STATES
                           "  LIMIT $3::int FOR UPDATE SKIP LOCKED), "
                           "g AS (DELETE FROM deliveries d USING v WHERE d.id = v.id "
                           "  AND d.created_at < $2::timestamptz AND d.state NOT IN " LIVE_STATES
                           "  RETURNING 1) "
                           "SELECT count(*) FROM g",
                           3, p, &n, NULL, out, errstr, errstr_size);
            if (st != STORE_OK)
                break;
            out->deliveries += n;
            if (n < atoi(batch) || stopping(o, out))
                break;
        }
    }
    PQclear(ids);
    return st;
}

/* Events received before cutoff that no delivery references, walked in
 * (received_at, event_id) order through events_received so the ones still
 * referenced (by a delivery that stays) are read once per run, not once per
 * batch. */
static store_status prune_events(PGconn *conn, const store_prune_opts *o, const char *cutoff,
                                 const char *batch, store_prune_result *out, char *errstr,
                                 size_t errstr_size)
{
    char *after_t = NULL, *after_id = NULL;
    store_status st = STORE_OK;
    while (!stopping(o, out)) {
        const char *p[] = {cutoff, batch, after_t, after_id};
        int64_t n = 0;
        PGresult *r = NULL;
        st = run_batch(
            conn, "prune: events",
            "WITH w AS (SELECT event_id, received_at FROM events "
            "  WHERE received_at < $1::timestamptz AND ($3::timestamptz IS NULL "
            "     OR (received_at, event_id) > ($3::timestamptz, $4::uuid)) "
            "  ORDER BY received_at, event_id LIMIT $2::int), "
            "g AS (DELETE FROM events e USING w WHERE e.event_id = w.event_id "
            "  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.event_id) "
            "  RETURNING 1), "
            "l AS (SELECT received_at::text AS t, event_id::text AS id, count(*) OVER () AS n "
            "  FROM w ORDER BY received_at DESC, event_id DESC LIMIT 1) "
            "SELECT (SELECT count(*) FROM g), l.t, l.id, coalesce(l.n, 0) "
            "  FROM (SELECT 1) one LEFT JOIN l ON true",
            4, p, &n, &r, out, errstr, errstr_size);
        if (st != STORE_OK)
            break;
        out->events += n;
        int64_t seen = store_get_i64(r, 0, 3);
        free(after_t);
        free(after_id);
        after_t = store_get_str(r, 0, 1);
        after_id = store_get_str(r, 0, 2);
        PQclear(r);
        if (seen < atoi(batch))
            break;
    }
    free(after_t);
    free(after_id);
    return st;
}

/* Runs one batch statement ($1 cutoff, $2 batch size; returns the count it
 * deleted) until a batch deletes fewer than batch rows, adding to *count. */
static store_status prune_loop(PGconn *conn, const store_prune_opts *o, const char *what,
                               const char *sql, const char *cutoff, const char *batch,
                               int64_t *count, store_prune_result *out, char *errstr,
                               size_t errstr_size)
{
    store_status st = STORE_OK;
    while (!stopping(o, out)) {
        const char *p[] = {cutoff, batch};
        int64_t n = 0;
        st = run_batch(conn, what, sql, 2, p, &n, NULL, out, errstr, errstr_size);
        if (st != STORE_OK)
            break;
        *count += n;
        if (n < atoi(batch))
            break;
    }
    return st;
}

/* Rollup rows of hours before cutoff, through delivery_stats_hourly_hour. */
static store_status prune_stats(PGconn *conn, const store_prune_opts *o, const char *cutoff,
                                const char *batch, store_prune_result *out, char *errstr,
                                size_t errstr_size)
{
    store_status st =
        prune_loop(conn, o, "prune: stats",
                   "WITH v AS (SELECT target_id, hour, state, error_code "
                   "  FROM delivery_stats_hourly WHERE hour < $1::timestamptz "
                   "  LIMIT $2::int FOR UPDATE SKIP LOCKED), "
                   "g AS (DELETE FROM delivery_stats_hourly s USING v "
                   "  WHERE (s.target_id, s.hour, s.state, s.error_code) "
                   "      = (v.target_id, v.hour, v.state, v.error_code) RETURNING 1) "
                   "SELECT count(*) FROM g",
                   cutoff, batch, &out->stats_rows, out, errstr, errstr_size);
    /* The rollups over all targets: a few hundred rows a day, in one go. */
    if (st == STORE_OK) {
        const char *p[] = {cutoff};
        st = store_exec(conn, "prune: stats over all targets",
                        "DELETE FROM delivery_stats_hourly_all WHERE hour < $1::timestamptz", 1, p,
                        NULL, errstr, errstr_size);
    }
    return st;
}

/* A silence is over once it ended or was expired; a mute (no end) that is
 * still live never is. */
#define SILENCE_OVER "(ends_at < $1::timestamptz OR expired_at < $1::timestamptz)"

/* Button presses recorded before cutoff (through slack_actions_at) and
 * silences over before it: the audit trail of acting from Slack keeps as
 * long as the deliveries it acted on. */
static store_status prune_slack(PGconn *conn, const store_prune_opts *o, const char *cutoff,
                                const char *batch, store_prune_result *out, char *errstr,
                                size_t errstr_size)
{
    store_status st =
        prune_loop(conn, o, "prune: slack actions",
                   "WITH v AS (SELECT id FROM slack_actions WHERE at < $1::timestamptz "
                   "  LIMIT $2::int FOR UPDATE SKIP LOCKED), "
                   "g AS (DELETE FROM slack_actions a USING v WHERE a.id = v.id "
                   "  RETURNING 1) "
                   "SELECT count(*) FROM g",
                   cutoff, batch, &out->slack_actions, out, errstr, errstr_size);
    if (st == STORE_OK)
        st = prune_loop(conn, o, "prune: silences",
                        "WITH v AS (SELECT id FROM silences WHERE " SILENCE_OVER
                        "  LIMIT $2::int FOR UPDATE SKIP LOCKED), "
                        "g AS (DELETE FROM silences s USING v WHERE s.id = v.id "
                        "  AND " SILENCE_OVER " RETURNING 1) "
                        "SELECT count(*) FROM g",
                        cutoff, batch, &out->silences, out, errstr, errstr_size);
    return st;
}

/* What a real run would delete, counted in one statement (read only). */
static store_status prune_count(PGconn *conn, const char *cutoff, const char *stats_cutoff,
                                store_prune_result *out, char *errstr, size_t errstr_size)
{
    const char *p[] = {cutoff, stats_cutoff};
    PGresult *r = NULL;
    /* An event goes when every delivery of it (if any) goes too. */
    store_status st = one_row(
        conn, "prune: count",
        "SELECT (SELECT count(*) FROM deliveries WHERE created_at < $1::timestamptz "
        "          AND state NOT IN " LIVE_STATES "), "
        "       (SELECT count(*) FROM events e WHERE received_at < $1::timestamptz "
        "          AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.event_id "
        "            AND NOT (d.created_at < $1::timestamptz AND d.state NOT IN " LIVE_STATES
        "))), "
        "       (SELECT count(*) FROM delivery_stats_hourly WHERE hour < $2::timestamptz), "
        "       (SELECT count(*) FROM slack_actions WHERE at < $1::timestamptz), "
        "       (SELECT count(*) FROM silences WHERE " SILENCE_OVER ")",
        2, p, &r, errstr, errstr_size);
    if (st != STORE_OK)
        return st;
    out->deliveries = store_get_i64(r, 0, 0);
    out->events = store_get_i64(r, 0, 1);
    out->stats_rows = store_get_i64(r, 0, 2);
    out->slack_actions = store_get_i64(r, 0, 3);
    out->silences = store_get_i64(r, 0, 4);
    PQclear(r);
    return STORE_OK;
}

/* The run's line in maintenance_runs (a failure to write it is logged by the
 * caller through errstr only when the run itself went well). */
static store_status record_run(PGconn *conn, const store_prune_result *res, bool ok,
                               const char *detail, char *errstr, size_t errstr_size)
{
    char rows[24];
    store_i64_text(
        res->deliveries + res->events + res->stats_rows + res->slack_actions + res->silences, rows);
    const char *p[] = {rows, store_bool_text(ok), detail};
    return store_exec(conn, "prune: record",
                      "INSERT INTO maintenance_runs AS m (task, last_run_at, last_ok_at, rows, "
                      "detail) VALUES ('retention', now(), CASE WHEN $2::bool THEN now() END, "
                      "$1::int8, $3) ON CONFLICT (task) DO UPDATE SET last_run_at = now(), "
                      "last_ok_at = CASE WHEN $2::bool THEN now() ELSE m.last_ok_at END, "
                      "rows = EXCLUDED.rows, detail = EXCLUDED.detail",
                      3, p, NULL, errstr, errstr_size);
}

store_status store_prune(PGconn *conn, const store_prune_opts *o, store_prune_result *out,
                         char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    if (o->retention_ms <= 0)
        return store_fail(STORE_INVALID, errstr, errstr_size, "retention: must be positive");
    if (o->stats_retention_ms < o->retention_ms)
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "stats_retention: must not be shorter than retention (the rollups "
                          "count the deliveries retention keeps)");
    int64_t t0 = util_now_mono_ms();
    PGresult *r = NULL;
    store_status st =
        one_row(conn, "prune: lock", "SELECT pg_try_advisory_lock(" PRUNE_LOCK_KEY ")", 0, NULL, &r,
                errstr, errstr_size);
    if (st != STORE_OK)
        return st;
    bool locked = store_get_bool(r, 0, 0);
    PQclear(r);
    if (!locked)
        return store_fail(STORE_CONFLICT, errstr, errstr_size, "another prune is running");

    char ret[24], sret[24], batch[16];
    store_i64_text(o->retention_ms, ret);
    store_i64_text(o->stats_retention_ms, sret);
    snprintf(batch, sizeof batch, "%d", o->batch > 0 ? o->batch : STORE_PRUNE_DEFAULT_BATCH);
    /* The cutoffs are fixed once, by the database's clock. */
    const char *cp[] = {ret, sret};
    st = one_row(conn, "prune: cutoffs",
                 "SELECT (now() - $1::float8 * interval '1 millisecond')::text, "
                 "(now() - $2::float8 * interval '1 millisecond')::text",
                 2, cp, &r, errstr, errstr_size);
    if (st == STORE_OK) {
        const char *cutoff = PQgetvalue(r, 0, 0), *stats_cutoff = PQgetvalue(r, 0, 1);
        if (o->dry_run) {
            st = prune_count(conn, cutoff, stats_cutoff, out, errstr, errstr_size);
        } else {
            st = prune_deliveries(conn, o, cutoff, batch, out, errstr, errstr_size);
            if (st == STORE_OK)
                st = prune_events(conn, o, cutoff, batch, out, errstr, errstr_size);
            if (st == STORE_OK)
                st = prune_stats(conn, o, stats_cutoff, batch, out, errstr, errstr_size);
            if (st == STORE_OK)
                st = prune_slack(conn, o, cutoff, batch, out, errstr, errstr_size);
        }
        PQclear(r);
    }
    out->elapsed_ms = util_now_mono_ms() - t0;
    if (!o->dry_run && PQstatus(conn) == CONNECTION_OK) {
        char detail[600], rerr[256];
        if (st == STORE_OK)
            snprintf(detail, sizeof detail,
                     "%s%" PRId64 " deliveries, %" PRId64 " events, %" PRId64
                     " stats rows, %" PRId64 " slack actions, %" PRId64 " silences in %" PRId64
                     " ms",
                     out->stopped ? "stopped early: " : "", out->deliveries, out->events,
                     out->stats_rows, out->slack_actions, out->silences, out->elapsed_ms);
        else
            snprintf(detail, sizeof detail, "error: %s", errstr);
        store_status rs =
            record_run(conn, out, st == STORE_OK && !out->stopped, detail, rerr, sizeof rerr);
        if (st == STORE_OK && rs != STORE_OK) {
            st = rs;
            snprintf(errstr, errstr_size, "%s", rerr);
        }
    }
    PGresult *u = PQexec(conn, "SELECT pg_advisory_unlock(" PRUNE_LOCK_KEY ")");
    PQclear(u);
    return st;
}

/* ================================================================ maintenance_runs */

store_status store_maintenance_get(PGconn *conn, const char *task, store_maintenance_run *out,
                                   char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    out->ok_age_ms = -1;
    const char *p[] = {task};
    PGresult *r = store_run(
        conn, "maintenance runs",
        "SELECT " MS("now()") " - " MS(
            "last_run_at") ", "
                           "coalesce(" MS("now()") " - " MS("last_ok_at") ", -1), " MS(
                               "last_run_at") ", " MS("last_ok_at") ", rows "
                                                                    "FROM maintenance_runs WHERE "
                                                                    "task = $1",
        1, p, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    if (PQntuples(r) == 1) {
        out->found = true;
        out->run_age_ms = store_get_i64(r, 0, 0);
        out->ok_age_ms = store_get_i64(r, 0, 1);
        out->last_run_ms = store_get_i64(r, 0, 2);
        out->last_ok_ms = store_get_i64(r, 0, 3);
        out->rows = store_get_i64(r, 0, 4);
    }
    PQclear(r);
    return STORE_OK;
}

/* Vacuum the change log at most this often (per thread that folds). */
#define FOLD_VACUUM_MS 10000

store_status store_stats_fold(PGconn *conn, int64_t *rows, char *errstr, size_t errstr_size)
{
    static _Thread_local int64_t next_vacuum_ms;
    *rows = 0;
    PGresult *r = store_run(conn, "folding the rollups' change log", "SELECT herald_stats_fold()",
                            0, NULL, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    *rows = store_get_i64(r, 0, 0);
    PQclear(r);
    /* Every row of the log is deleted within a second of its insert; left to
     * autovacuum (which looks once a minute) the heap would grow by a
     * minute of rows, and the fold and the health view scan all of it. Its
     * own VACUUM every 10 s keeps it to a few pages. It locks nothing the
     * writers need, skips a table another vacuum holds, and a role that does
     * not own the table only gets a warning (autovacuum still runs). */
    int64_t now = util_now_mono_ms();
    if (*rows > 0 && now >= next_vacuum_ms) {
        next_vacuum_ms = now + FOLD_VACUUM_MS;
        PGresult *v = PQexec(conn, "VACUUM (SKIP_LOCKED) delivery_stats_delta");
        PQclear(v); /* a failure changes nothing the fold did */
    }
    return STORE_OK;
}
