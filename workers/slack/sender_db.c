#include "workers/slack/sender_db.h"

#include "common/db.h"
#include "common/pgarray.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== helpers ============================================================================= */

/* r when it is a success (tuples or a command), else NULL with errstr (r freed). */
static PGresult *checked(PGconn *c, PGresult *r, char *errstr, size_t errstr_size)
{
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        db_error(c, r, errstr, errstr_size);
        PQclear(r);
        return NULL;
    }
    return r;
}

/* Runs a parameterised statement; NULL with errstr on failure. */
static PGresult *run(PGconn *c, const char *sql, int n, const char *const *params, char *errstr,
                     size_t errstr_size)
{
    return checked(c, PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0), errstr, errstr_size);
}

/*
 * The statements run for every batch of deliveries (claims, outcomes) are
 * prepared once per connection: parsing and planning them again at each call
 * cost 1.08 against 0.95 ms per statement at the same batch size
 * (bench/e2e_bench.sh --profile). Which are prepared on which connection is
 * remembered per thread (tests run several senders in one process); a
 * connection that is new at a reused address is caught by PostgreSQL's
 * "prepared statement does not exist" (26000), after which the statement is
 * prepared and run again. Statements run outside any transaction block, so
 * that first failure aborts nothing.
 */
enum { PREP_CLAIM, PREP_SENT_ROWS, PREP_RETRYING, PREP_FAILED };
static _Thread_local const PGconn *prep_conn;
static _Thread_local unsigned prep_done;

static bool prepare(PGconn *c, int which, const char *name, const char *sql, int n, char *errstr,
                    size_t errstr_size)
{
    PGresult *r = checked(c, PQprepare(c, name, sql, n, NULL), errstr, errstr_size);
    if (!r)
        return false;
    PQclear(r);
    prep_done |= 1u << which;
    return true;
}

/* run() for the prepared statement `which` (its text sql). */
static PGresult *run_prepared(PGconn *c, int which, const char *sql, int n,
                              const char *const *params, char *errstr, size_t errstr_size)
{
    char name[32];
    snprintf(name, sizeof name, "herald_slack_%d", which);
    if (prep_conn != c) {
        prep_conn = c;
        prep_done = 0;
    }
    if (!(prep_done & (1u << which)) && !prepare(c, which, name, sql, n, errstr, errstr_size))
        return NULL;
    PGresult *r = PQexecPrepared(c, name, n, params, NULL, NULL, 0);
    const char *code =
        PQresultStatus(r) == PGRES_FATAL_ERROR ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (code && !strcmp(code, "26000")) { /* a new connection at the old one's address */
        PQclear(r);
        prep_done = 0;
        if (!prepare(c, which, name, sql, n, errstr, errstr_size))
            return NULL;
        r = PQexecPrepared(c, name, n, params, NULL, NULL, 0);
    }
    return checked(c, r, errstr, errstr_size);
}

static void i64s(int64_t v, char buf[24])
{
    snprintf(buf, 24, "%lld", (long long)v);
}

static int64_t get_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static char *get_dup(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

static bool get_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

static void copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static int affected(PGresult *r)
{
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    return n;
}

/* ==== claims and outcomes ================================================================= */

int sender_db_claim(PGconn *c, const sender_db_claim_req *reqs, size_t n, int64_t lease_ms,
                    bool count_attempt, const char *claimed_by, sender_db_claim_res *res,
                    char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < n; i++)
        memset(&res[i], 0, sizeof res[i]);
    if (n == 0)
        return 0;
    int64_t *ids = xmalloc(n * sizeof *ids), *tids = xmalloc(n * sizeof *tids);
    const char **evs = xmalloc(n * sizeof *evs), **leases = xmalloc(n * sizeof *leases);
    for (size_t i = 0; i < n; i++) {
        ids[i] = reqs[i].id;
        tids[i] = reqs[i].target_id;
        evs[i] = reqs[i].event_id;
        leases[i] = reqs[i].lease;
    }
    char *a_ids = pgarray_of_i64(ids, n), *a_tids = pgarray_of_i64(tids, n);
    char *a_evs = pgarray_of_text(evs, n, false), *a_leases = pgarray_of_text(leases, n, true);
    char lease[24];
    i64s(lease_ms, lease);
    const char *params[7] = {a_ids,     a_evs, a_tids, a_leases, lease, count_attempt ? "1" : "0",
                             claimed_by};
    /* One statement for the whole batch; the CASE keeps the two claim rules apart. */
    PGresult *r = run_prepared(
        c, PREP_CLAIM,
        "WITH req AS (SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], "
        "$4::timestamptz[]) AS r(id, event_id, target_id, lease)) "
        "UPDATE deliveries d SET state = 'sending', attempts = d.attempts + $6::int, "
        "next_attempt_at = now() + $5::bigint * interval '1 millisecond', updated_at = now(), "
        "claimed_by = $7 FROM req WHERE d.id = req.id AND d.event_id = req.event_id "
        "AND d.target_id = req.target_id AND CASE WHEN req.lease IS NULL THEN "
        "d.state = 'pending' OR (d.state = 'sending' AND d.next_attempt_at <= now()) "
        "ELSE d.state IN ('retrying', 'sending') AND d.next_attempt_at = req.lease END "
        "RETURNING d.id, d.attempts, "
        "(extract(epoch FROM d.created_at) * 1000)::bigint, d.next_attempt_at::text",
        7, params, errstr, errstr_size);
    free(a_ids);
    free(a_tids);
    free(a_evs);
    free(a_leases);
    free(ids);
    free(tids);
    free(evs);
    free(leases);
    if (!r)
        return -1;
    int claimed = 0;
    for (int row = 0; row < PQntuples(r); row++) {
        int64_t id = get_i64(r, row, 0);
        for (size_t i = 0; i < n; i++) {
            if (reqs[i].id != id || res[i].claimed)
                continue;
            res[i].claimed = true;
            res[i].attempts = (int)get_i64(r, row, 1);
            res[i].created_ms = get_i64(r, row, 2);
            copy(res[i].lease, sizeof res[i].lease, PQgetvalue(r, row, 3));
            claimed++;
            break;
        }
    }
    PQclear(r);
    return claimed;
}

int sender_db_row_state_of(PGconn *c, int64_t id, const char *event_id, int64_t target_id,
                           sender_db_row_state *out, char *errstr, size_t errstr_size)
{
    char a[24], b[24];
    i64s(id, a);
    i64s(target_id, b);
    const char *params[3] = {a, event_id, b};
    PGresult *r = run(c,
                      "SELECT state FROM deliveries WHERE id = $1 AND event_id = $2::uuid "
                      "AND target_id = $3",
                      3, params, errstr, errstr_size);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        *out = SENDER_DB_ROW_MISSING;
    } else {
        const char *st = PQgetvalue(r, 0, 0);
        *out =
            !strcmp(st, "sent") || !strcmp(st, "failed") ? SENDER_DB_ROW_DONE : SENDER_DB_ROW_OWNED;
    }
    PQclear(r);
    return 0;
}

int sender_db_mark_sent(PGconn *c, const int64_t *ids, size_t n, const char *channel,
                        const char *ts, const char *thread_ts, int digest_size,
                        const char *resolved, char *errstr, size_t errstr_size)
{
    char *a_ids = pgarray_of_i64(ids, n);
    char ds[24];
    i64s(digest_size, ds);
    const char *params[6] = {a_ids,
                             channel,
                             ts,
                             thread_ts && *thread_ts ? thread_ts : NULL,
                             digest_size > 1 ? ds : NULL,
                             resolved && *resolved ? resolved : NULL};
    /* 'sent' is the truth once Slack accepted, whatever a takeover wrote meanwhile;
     * only a row already sent (by the sender that took over) is left alone. */
    PGresult *r = run(c,
                      "WITH d AS (UPDATE deliveries SET state = 'sent', slack_channel = $2, "
                      "slack_ts = $3, slack_thread_ts = $4, digest_size = $5::int, "
                      "sent_at = now(), next_attempt_at = NULL, updated_at = now() "
                      "WHERE id = ANY($1::bigint[]) AND state <> 'sent' "
                      "RETURNING target_id, kind) "
                      "UPDATE targets SET last_success_at = now(), "
                      "destination_resolved = COALESCE($6, destination_resolved) "
                      "WHERE id IN (SELECT target_id FROM d WHERE kind <> 'nudge')",
                      6, params, errstr, errstr_size);
    free(a_ids);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int sender_db_mark_sent_rows(PGconn *c, const sender_db_sent_row *rows, size_t n, char *errstr,
                             size_t errstr_size)
{
    if (n == 0)
        return 0;
    int64_t *ids = xmalloc(n * sizeof *ids), *ds = xmalloc(n * sizeof *ds);
    const char **ch = xmalloc(n * sizeof *ch), **ts = xmalloc(n * sizeof *ts);
    const char **th = xmalloc(n * sizeof *th), **rs = xmalloc(n * sizeof *rs);
    for (size_t i = 0; i < n; i++) {
        ids[i] = rows[i].id;
        ds[i] = rows[i].digest_size > 1 ? rows[i].digest_size : 0;
        ch[i] = rows[i].channel;
        ts[i] = rows[i].ts;
        th[i] = rows[i].thread_ts;
        rs[i] = rows[i].resolved;
    }
    char *a_ids = pgarray_of_i64(ids, n), *a_ds = pgarray_of_i64(ds, n);
    char *a_ch = pgarray_of_text(ch, n, true), *a_ts = pgarray_of_text(ts, n, true);
    char *a_th = pgarray_of_text(th, n, true), *a_rs = pgarray_of_text(rs, n, true);
    const char *params[6] = {a_ids, a_ch, a_ts, a_th, a_ds, a_rs};
    PGresult *r = run_prepared(
        c, PREP_SENT_ROWS,
        "WITH r AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], "
        "$5::int[], $6::text[]) AS r(id, channel, ts, thread_ts, digest_size, resolved)), "
        "d AS (UPDATE deliveries d SET state = 'sent', slack_channel = r.channel, "
        "slack_ts = r.ts, slack_thread_ts = r.thread_ts, digest_size = NULLIF(r.digest_size, 0), "
        "sent_at = now(), next_attempt_at = NULL, updated_at = now() "
        "FROM r WHERE d.id = r.id AND d.state <> 'sent' "
        "RETURNING d.target_id, CASE WHEN d.kind = 'notify' THEN r.resolved END AS resolved, "
        "d.kind) "
        "UPDATE targets t SET last_success_at = now(), "
        "destination_resolved = COALESCE(x.resolved, t.destination_resolved) "
        "FROM (SELECT target_id, max(resolved) AS resolved FROM d WHERE kind <> 'nudge' "
        "GROUP BY target_id) x "
        "WHERE t.id = x.target_id",
        6, params, errstr, errstr_size);
    free(a_ids);
    free(a_ds);
    free(a_ch);
    free(a_ts);
    free(a_th);
    free(a_rs);
    free(ids);
    free(ds);
    free(ch);
    free(ts);
    free(th);
    free(rs);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int sender_db_mark_retrying(PGconn *c, const int64_t *ids, const char *const *leases,
                            const int64_t *due_ms, size_t n, const char *code, const char *reason,
                            char *errstr, size_t errstr_size)
{
    char *a_ids = pgarray_of_i64(ids, n), *a_due = pgarray_of_i64(due_ms, n);
    char *a_leases = pgarray_of_text(leases, n, true);
    const char *params[5] = {a_ids, a_leases, a_due, code, reason};
    PGresult *r = run_prepared(
        c, PREP_RETRYING,
        "UPDATE deliveries d SET state = 'retrying', "
        "next_attempt_at = to_timestamp(r.due / 1000.0), last_error_code = $4, "
        "last_error = $5, updated_at = now() "
        "FROM unnest($1::bigint[], $2::timestamptz[], $3::bigint[]) AS r(id, lease, due) "
        "WHERE d.id = r.id AND d.state = 'sending' AND d.next_attempt_at = r.lease",
        5, params, errstr, errstr_size);
    free(a_ids);
    free(a_due);
    free(a_leases);
    return r ? affected(r) : -1;
}

int sender_db_mark_failed(PGconn *c, const int64_t *ids, const char *const *leases, size_t n,
                          const char *code, const char *reason, char *errstr, size_t errstr_size)
{
    char *a_ids = pgarray_of_i64(ids, n), *a_leases = pgarray_of_text(leases, n, true);
    const char *params[4] = {a_ids, a_leases, code, reason};
    PGresult *r = run_prepared(
        c, PREP_FAILED,
        "WITH d AS (UPDATE deliveries d SET state = 'failed', next_attempt_at = NULL, "
        "last_error_code = $3, last_error = $4, updated_at = now() "
        "FROM unnest($1::bigint[], $2::timestamptz[]) AS r(id, lease) "
        "WHERE d.id = r.id AND d.state = 'sending' AND d.next_attempt_at = r.lease "
        "RETURNING d.target_id, d.kind), "
        "t AS (UPDATE targets SET last_error_code = $3, last_error = $4, last_error_at = now() "
        "WHERE id IN (SELECT target_id FROM d WHERE kind <> 'nudge')) "
        "SELECT count(*) FROM d",
        4, params, errstr, errstr_size);
    free(a_ids);
    free(a_leases);
    if (!r)
        return -1;
    int n_done = (int)get_i64(r, 0, 0);
    PQclear(r);
    return n_done;
}

int sender_db_release(PGconn *c, const int64_t *ids, const char *const *leases, size_t n,
                      char *errstr, size_t errstr_size)
{
    if (n == 0)
        return 0;
    char *a_ids = pgarray_of_i64(ids, n), *a_leases = pgarray_of_text(leases, n, true);
    const char *params[2] = {a_ids, a_leases};
    PGresult *r = run(c,
                      "UPDATE deliveries d SET next_attempt_at = CASE WHEN d.state = 'sending' "
                      "AND d.attempts = 0 THEN NULL ELSE now() END, "
                      "state = CASE WHEN d.state = 'sending' AND d.attempts = 0 THEN 'pending' "
                      "ELSE d.state END, updated_at = now() "
                      "FROM unnest($1::bigint[], $2::timestamptz[]) AS r(id, lease) "
                      "WHERE d.id = r.id AND d.state IN ('retrying', 'sending') "
                      "AND d.next_attempt_at = r.lease",
                      2, params, errstr, errstr_size);
    free(a_ids);
    free(a_leases);
    return r ? affected(r) : -1;
}

/* ==== the retry / takeover poller ========================================================= */

void sender_db_due_dispose(sender_db_due *d)
{
    if (!d)
        return;
    free(d->tenant_id);
    free(d->team_id);
    free(d->destination);
    free(d->event_kind);
    free(d->payload);
    free(d->delivery_kind);
    memset(d, 0, sizeof *d);
}

int sender_db_lease_due(PGconn *c, const sender_db_poll *p, sender_db_due **out, char *errstr,
                        size_t errstr_size)
{
    *out = NULL;
    char a_max[24], a_lease[24], a_grace[24], a_rec[24];
    i64s((int64_t)p->max, a_max);
    i64s(p->lease_ms, a_lease);
    i64s(p->grace_ms, a_grace);
    i64s(p->reconcile_after_ms, a_rec);
    char *a_teams = pgarray_of_text(p->teams, p->nteams, false);
    const char *params[7] = {
        a_max, a_lease, a_teams, a_grace, a_rec, p->instance_id, p->pending_now ? "true" : "false"};
    /* Two row sets, each read through its partial index (deliveries_lease,
     * deliveries_pending_created) and locked SKIP LOCKED: a row another
     * sender is leasing right now is simply not ours this time. A reconciled
     * row becomes 'sending' under the lease; the others keep their state
     * until claimed. */
    PGresult *r =
        run(c,
            "WITH due AS (SELECT d.id FROM deliveries d JOIN targets t ON t.id = d.target_id "
            " WHERE d.state IN ('retrying', 'sending') AND d.next_attempt_at <= now() "
            "   AND (t.team_id = ANY($3::text[]) "
            "        OR (d.state = 'sending' AND d.claimed_by = $6) "
            "        OR d.next_attempt_at <= now() - $4::bigint * interval '1 millisecond') "
            " ORDER BY d.next_attempt_at LIMIT $1::int FOR UPDATE OF d SKIP LOCKED), "
            "stale AS (SELECT d.id FROM deliveries d JOIN targets t ON t.id = d.target_id "
            " WHERE d.state = 'pending' AND (($5::bigint > 0 "
            "   AND d.created_at <= now() - $5::bigint * interval '1 millisecond' "
            "   AND (t.team_id = ANY($3::text[]) "
            "        OR d.created_at <= now() - ($5::bigint + $4::bigint) * interval "
            "'1 millisecond')) OR ($7::bool AND t.team_id = ANY($3::text[]))) "
            " ORDER BY d.created_at LIMIT $1::int FOR UPDATE OF d SKIP LOCKED), "
            "ids AS (SELECT id, false AS rec FROM due UNION ALL SELECT id, true FROM stale), "
            "upd AS (UPDATE deliveries d SET next_attempt_at = now() + $2::bigint * interval "
            "'1 millisecond', claimed_by = $6, "
            " state = CASE WHEN ids.rec THEN 'sending' ELSE d.state END, "
            " updated_at = CASE WHEN ids.rec THEN now() ELSE d.updated_at END "
            " FROM ids WHERE d.id = ids.id "
            " RETURNING d.id, d.event_id, d.target_id, d.next_attempt_at, ids.rec, d.created_at, "
            "           d.kind, d.ref_event_id) "
            "SELECT upd.id, upd.event_id, upd.target_id, t.tenant_id, t.team_id, "
            "       CASE WHEN upd.kind = 'nudge' THEN e.payload->'user'->>'email' "
            "            ELSE COALESCE(t.destination_resolved, t.destination) END, "
            "       upd.kind = 'nudge' OR t.destination_kind = 'email', "
            "       e.kind, e.payload::text, "
            "       (extract(epoch FROM e.received_at) * 1000)::bigint, upd.next_attempt_at::text, "
            "       upd.rec, (extract(epoch FROM upd.created_at) * 1000)::bigint, "
            "       upd.kind, upd.ref_event_id "
            "  FROM upd JOIN targets t ON t.id = upd.target_id "
            "  LEFT JOIN events e ON e.event_id = upd.event_id "
            " ORDER BY upd.next_attempt_at, upd.id",
            7, params, errstr, errstr_size);
    free(a_teams);
    if (!r)
        return -1;
    int n = PQntuples(r);
    sender_db_due *v = n ? xcalloc((size_t)n, sizeof *v) : NULL;
    for (int i = 0; i < n; i++) {
        v[i].id = get_i64(r, i, 0);
        copy(v[i].event_id, sizeof v[i].event_id, PQgetvalue(r, i, 1));
        v[i].target_id = get_i64(r, i, 2);
        v[i].tenant_id = get_dup(r, i, 3);
        v[i].team_id = get_dup(r, i, 4);
        v[i].destination = get_dup(r, i, 5);
        v[i].destination_is_email = get_bool(r, i, 6);
        v[i].event_kind = get_dup(r, i, 7);
        v[i].payload = get_dup(r, i, 8);
        v[i].routed_ms = get_i64(r, i, 9);
        copy(v[i].lease, sizeof v[i].lease, PQgetvalue(r, i, 10));
        v[i].reconciled = get_bool(r, i, 11);
        v[i].created_ms = get_i64(r, i, 12);
        v[i].delivery_kind = get_dup(r, i, 13);
        copy(v[i].ref_event_id, sizeof v[i].ref_event_id, PQgetvalue(r, i, 14));
    }
    PQclear(r);
    *out = v;
    return n;
}

long sender_db_settle_own(PGconn *c, const char *instance_id, char *errstr, size_t errstr_size)
{
    const char *params[1] = {instance_id};
    /* Through deliveries_lease: only rows leased into the future are read. */
    PGresult *r = run(c,
                      "UPDATE deliveries SET next_attempt_at = now() "
                      "WHERE state = 'sending' AND claimed_by = $1 AND next_attempt_at > now()",
                      1, params, errstr, errstr_size);
    return r ? affected(r) : -1;
}

int64_t sender_db_oldest_pending_ms(PGconn *c, char *errstr, size_t errstr_size)
{
    PGresult *r =
        run(c,
            "SELECT coalesce((extract(epoch FROM now() - min(created_at)) * 1000)::bigint, "
            "0) FROM deliveries WHERE state = 'pending'",
            0, NULL, errstr, errstr_size);
    if (!r)
        return -1;
    int64_t ms = get_i64(r, 0, 0);
    PQclear(r);
    return ms;
}

int sender_db_instance_save(PGconn *c, const char *group, const char *instance_id,
                            const int32_t *parts, size_t n, int32_t partition_count, char *errstr,
                            size_t errstr_size)
{
    int64_t *v = xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = parts[i];
    char *a_parts = pgarray_of_i64(v, n), cnt[24];
    free(v);
    i64s(partition_count, cnt);
    const char *params[4] = {instance_id, a_parts, cnt, group};
    PGresult *r = run(c,
                      "INSERT INTO sender_instances "
                      "(group_id, instance_id, partitions, partition_count) "
                      "VALUES ($4, $1, $2::int[], $3::int) "
                      "ON CONFLICT (group_id, instance_id) DO UPDATE "
                      "SET partitions = EXCLUDED.partitions, "
                      "partition_count = EXCLUDED.partition_count, seen_at = now()",
                      4, params, errstr, errstr_size);
    free(a_parts);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int sender_db_instance_load(PGconn *c, const char *group, const char *instance_id,
                            int64_t max_age_ms, int32_t **parts, size_t *n,
                            int32_t *partition_count, char *errstr, size_t errstr_size)
{
    *parts = NULL;
    *n = 0;
    *partition_count = 0;
    char age[24];
    i64s(max_age_ms, age);
    const char *params[3] = {instance_id, age, group};
    PGresult *r = run(c,
                      "SELECT p, partition_count FROM sender_instances, unnest(partitions) p "
                      "WHERE group_id = $3 AND instance_id = $1 "
                      "AND seen_at > now() - $2::bigint * interval '1 millisecond'",
                      3, params, errstr, errstr_size);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    if (rows > 0) {
        *parts = xcalloc((size_t)rows, sizeof **parts);
        for (int i = 0; i < rows; i++)
            (*parts)[i] = (int32_t)get_i64(r, i, 0);
        *n = (size_t)rows;
        *partition_count = (int32_t)get_i64(r, 0, 1);
    }
    PQclear(r);
    return rows > 0;
}

/* ==== workspaces ========================================================================== */

void sender_db_workspace_dispose(sender_db_workspace *w)
{
    if (!w)
        return;
    free(w->token_enc);
    memset(w, 0, sizeof *w);
}

int sender_db_workspace_get(PGconn *c, const char *team_id, sender_db_workspace *out, char *errstr,
                            size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    const char *params[1] = {team_id};
    /* token_enc in binary (result format 1 for that column is not per-column in libpq,
     * so ask for hex text and decode with PQunescapeBytea). */
    PGresult *r = run(c,
                      "SELECT token_enc, revoked_at IS NOT NULL, COALESCE(revoked_reason, ''), "
                      " refresh_token_enc IS NOT NULL, "
                      " COALESCE(floor(extract(epoch FROM token_expires_at) * 1000)::int8, 0) "
                      "FROM workspaces WHERE team_id = $1",
                      1, params, errstr, errstr_size);
    if (!r)
        return -1;
    if (PQntuples(r) == 1) {
        out->found = true;
        size_t len = 0;
        unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 0), &len);
        if (raw && len) {
            out->token_enc = xmalloc(len);
            memcpy(out->token_enc, raw, len);
            out->token_enc_len = len;
        }
        PQfreemem(raw);
        out->revoked = get_bool(r, 0, 1);
        copy(out->revoked_reason, sizeof out->revoked_reason, PQgetvalue(r, 0, 2));
        out->rotating = get_bool(r, 0, 3);
        out->expires_at_ms = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    }
    PQclear(r);
    return 0;
}

int sender_db_workspace_revoke(PGconn *c, const char *team_id, const unsigned char *token_enc,
                               size_t token_enc_len, const char *code, char *errstr,
                               size_t errstr_size)
{
    size_t hexlen = 0;
    unsigned char *hex = PQescapeByteaConn(c, token_enc, token_enc_len, &hexlen);
    if (!hex) {
        db_error(c, NULL, errstr, errstr_size);
        return -1;
    }
    const char *params[3] = {team_id, (const char *)hex, code};
    PGresult *r = run(c,
                      "UPDATE workspaces SET revoked_at = now(), revoked_reason = $3, "
                      "updated_at = now() WHERE team_id = $1 AND revoked_at IS NULL "
                      "AND token_enc = $2::bytea",
                      3, params, errstr, errstr_size);
    PQfreemem(hex);
    return r ? (affected(r) > 0 ? 1 : 0) : -1;
}

int sender_db_team_ids(PGconn *c, char ***out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    PGresult *r =
        run(c, "SELECT team_id FROM workspaces ORDER BY team_id", 0, NULL, errstr, errstr_size);
    if (!r)
        return -1;
    int n = PQntuples(r);
    char **v = xcalloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < n; i++)
        v[i] = xstrdup(PQgetvalue(r, i, 0));
    PQclear(r);
    *out = v;
    return n;
}

/* ==== targets ============================================================================= */

int sender_db_target_get(PGconn *c, int64_t target_id, sender_db_target *out, char *errstr,
                         size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    char id[24];
    i64s(target_id, id);
    const char *params[1] = {id};
    PGresult *r = run(c,
                      "SELECT enabled, deleted_at IS NOT NULL, digest_enabled, thread_repeats, "
                      "name, team_id, nudge_enabled FROM targets WHERE id = $1",
                      1, params, errstr, errstr_size);
    if (!r)
        return -1;
    if (PQntuples(r) == 1) {
        out->found = true;
        out->enabled = get_bool(r, 0, 0);
        out->deleted = get_bool(r, 0, 1);
        out->digest_enabled = get_bool(r, 0, 2);
        out->thread_repeats = get_bool(r, 0, 3);
        copy(out->name, sizeof out->name, PQgetvalue(r, 0, 4));
        copy(out->team_id, sizeof out->team_id, PQgetvalue(r, 0, 5));
        out->nudge_enabled = get_bool(r, 0, 6);
    }
    PQclear(r);
    return 0;
}

/* ==== users.lookupByEmail cache =========================================================== */

int sender_db_user_get(PGconn *c, const char *team_id, const char *email, int64_t ttl_ms,
                       int64_t neg_ttl_ms, char *user_id, size_t user_id_size, char *errstr,
                       size_t errstr_size)
{
    char a[24], b[24];
    i64s(ttl_ms, a);
    i64s(neg_ttl_ms, b);
    const char *params[4] = {team_id, email, a, b};
    PGresult *r = run(c,
                      "SELECT COALESCE(user_id, '') FROM slack_user_cache "
                      "WHERE team_id = $1 AND email = lower($2) AND resolved_at > now() - "
                      "CASE WHEN user_id IS NULL THEN $4::bigint ELSE $3::bigint END "
                      "* interval '1 millisecond'",
                      4, params, errstr, errstr_size);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found)
        copy(user_id, user_id_size, PQgetvalue(r, 0, 0));
    PQclear(r);
    return found;
}

int sender_db_user_put(PGconn *c, const char *team_id, const char *email, const char *user_id,
                       char *errstr, size_t errstr_size)
{
    const char *params[3] = {team_id, email, user_id && *user_id ? user_id : NULL};
    PGresult *r = run(c,
                      "INSERT INTO slack_user_cache (team_id, email, user_id, resolved_at) "
                      "VALUES ($1, lower($2), $3, now()) ON CONFLICT (team_id, email) DO UPDATE "
                      "SET user_id = EXCLUDED.user_id, resolved_at = EXCLUDED.resolved_at",
                      3, params, errstr, errstr_size);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

/* ==== threads for repeats ================================================================= */

int sender_db_thread_get(PGconn *c, int64_t target_id, const char *check_type,
                         sender_db_thread *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    char id[24];
    i64s(target_id, id);
    const char *params[2] = {id, check_type};
    PGresult *r = run(c,
                      "SELECT channel, thread_ts, last_failing_count, destination, "
                      "(extract(epoch FROM last_run_at) * 1000)::bigint, last_event_id "
                      "FROM slack_threads WHERE target_id = $1 AND check_type = $2",
                      2, params, errstr, errstr_size);
    if (!r)
        return -1;
    if (PQntuples(r) == 1) {
        out->found = true;
        copy(out->channel, sizeof out->channel, PQgetvalue(r, 0, 0));
        copy(out->thread_ts, sizeof out->thread_ts, PQgetvalue(r, 0, 1));
        out->last_failing_count = get_i64(r, 0, 2);
        copy(out->destination, sizeof out->destination, PQgetvalue(r, 0, 3));
        out->last_run_ms = get_i64(r, 0, 4);
        copy(out->last_event_id, sizeof out->last_event_id, PQgetvalue(r, 0, 5));
    }
    PQclear(r);
    return 0;
}

int sender_db_thread_put(PGconn *c, int64_t target_id, const char *check_type,
                         const char *destination, const char *channel, const char *thread_ts,
                         int64_t failing_count, const char *event_id, int64_t run_ms, char *errstr,
                         size_t errstr_size)
{
    char id[24], fc[24], rm[24];
    i64s(target_id, id);
    i64s(failing_count, fc);
    i64s(run_ms, rm);
    const char *params[8] = {id, check_type, channel, thread_ts, fc, event_id, rm, destination};
    PGresult *r =
        run(c,
            "INSERT INTO slack_threads (target_id, check_type, destination, channel, thread_ts, "
            "last_failing_count, last_event_id, last_run_at, updated_at) "
            "VALUES ($1, $2, $8, $3, $4, $5, $6::uuid, to_timestamp($7::bigint / 1000.0), now()) "
            "ON CONFLICT (target_id, check_type) DO UPDATE SET destination = EXCLUDED.destination, "
            "channel = EXCLUDED.channel, thread_ts = EXCLUDED.thread_ts, "
            "last_failing_count = EXCLUDED.last_failing_count, "
            "last_event_id = EXCLUDED.last_event_id, last_run_at = EXCLUDED.last_run_at, "
            "updated_at = now()",
            8, params, errstr, errstr_size);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int sender_db_check_passed_between(PGconn *c, const char *tenant_id, const char *check_type,
                                   int64_t after_ms, int64_t before_ms, char *errstr,
                                   size_t errstr_size)
{
    char a[24], b[24];
    i64s(after_ms, a);
    i64s(before_ms, b);
    const char *params[4] = {tenant_id, check_type, a, b};
    /* The same conversion as the router's insert and sender_db_thread_put, so
     * equal instants compare equal. One range scan of the primary key. */
    PGresult *r = run(c,
                      "SELECT EXISTS (SELECT 1 FROM check_passes "
                      " WHERE tenant_id = $1 AND check_type = $2 "
                      "   AND evaluated_at > to_timestamp($3::bigint / 1000.0) "
                      "   AND evaluated_at < to_timestamp($4::bigint / 1000.0))",
                      4, params, errstr, errstr_size);
    if (!r)
        return -1;
    int v = get_bool(r, 0, 0) ? 1 : 0;
    PQclear(r);
    return v;
}

long sender_db_prune_check_passes(PGconn *c, int64_t keep_ms, char *errstr, size_t errstr_size)
{
    char k[24];
    i64s(keep_ms, k);
    const char *params[1] = {k};
    PGresult *r = run(c,
                      "DELETE FROM check_passes "
                      "WHERE evaluated_at < now() - $1::bigint * interval '1 millisecond'",
                      1, params, errstr, errstr_size);
    return r ? affected(r) : -1;
}

/* ==== pacing across restarts ============================================================== */

int sender_db_recent_sends(PGconn *c, const char *team_id, const char *destination,
                           int64_t window_ms, int64_t *ago_ms, size_t max, char *errstr,
                           size_t errstr_size)
{
    char w[24], m[24];
    i64s(window_ms, w);
    i64s((int64_t)max, m);
    const char *params[4] = {team_id, destination, w, m};
    PGresult *r = run(c,
                      "SELECT ago FROM (SELECT DISTINCT ON (d.slack_channel, d.slack_ts) "
                      "  (extract(epoch FROM now() - d.sent_at) * 1000)::bigint AS ago "
                      "  FROM deliveries d JOIN targets t ON t.id = d.target_id "
                      " WHERE t.team_id = $1 AND (lower(t.destination) = lower($2) "
                      "       OR t.destination_resolved = $2) "
                      "   AND d.state = 'sent' AND d.created_at > now() - interval '2 days' "
                      "   AND d.sent_at > now() - $3::bigint * interval '1 millisecond') s "
                      "ORDER BY ago DESC LIMIT $4::int",
                      4, params, errstr, errstr_size);
    if (!r)
        return -1;
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        ago_ms[i] = get_i64(r, i, 0);
    PQclear(r);
    return n;
}

/* ==== resolves and nudges ================================================================== */

int sender_db_mark_suppressed(PGconn *c, const int64_t *ids, const char *const *leases, size_t n,
                              const char *code, const char *reason, char *errstr,
                              size_t errstr_size)
{
    char *a_ids = pgarray_of_i64(ids, n), *a_leases = pgarray_of_text(leases, n, true);
    const char *params[4] = {a_ids, a_leases, code, reason};
    /* Nothing went wrong with the target: it is not flagged. */
    PGresult *r = run(c,
                      "UPDATE deliveries d SET state = 'suppressed', next_attempt_at = NULL, "
                      "last_error_code = $3, last_error = $4, updated_at = now() "
                      "FROM unnest($1::bigint[], $2::timestamptz[]) AS r(id, lease) "
                      "WHERE d.id = r.id AND d.state = 'sending' AND d.next_attempt_at = r.lease",
                      4, params, errstr, errstr_size);
    free(a_ids);
    free(a_leases);
    return r ? affected(r) : -1;
}

int sender_db_notification_get(PGconn *c, const char *event_id, int64_t target_id,
                               sender_db_notification *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    char tid[24];
    i64s(target_id, tid);
    const char *params[2] = {event_id, tid};
    PGresult *r = run(c,
                      "SELECT state, slack_channel, slack_ts, slack_thread_ts, "
                      "coalesce(digest_size, 0) FROM deliveries "
                      "WHERE event_id = $1::uuid AND target_id = $2 AND kind = 'notify'",
                      2, params, errstr, errstr_size);
    if (!r)
        return -1;
    if (PQntuples(r) == 1) {
        out->found = true;
        copy(out->state, sizeof out->state, PQgetvalue(r, 0, 0));
        copy(out->channel, sizeof out->channel, PQgetvalue(r, 0, 1));
        copy(out->ts, sizeof out->ts, PQgetvalue(r, 0, 2));
        copy(out->thread_ts, sizeof out->thread_ts, PQgetvalue(r, 0, 3));
        out->digest_size = (int)get_i64(r, 0, 4);
    }
    PQclear(r);
    return 0;
}

int sender_db_nudges_open(PGconn *c, const char *ref_event_id, int64_t target_id, char *errstr,
                          size_t errstr_size)
{
    char tid[24];
    i64s(target_id, tid);
    const char *params[2] = {ref_event_id, tid};
    /* Through deliveries_ref: a notification's nudges are few. */
    PGresult *r = run(c,
                      "SELECT count(*) FROM deliveries WHERE ref_event_id = $1::uuid "
                      "AND target_id = $2 AND kind = 'nudge' "
                      "AND state IN ('pending', 'sending', 'retrying')",
                      2, params, errstr, errstr_size);
    if (!r)
        return -1;
    int n = (int)get_i64(r, 0, 0);
    PQclear(r);
    return n;
}
