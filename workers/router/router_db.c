/*
 * The router's SQL (router_db.h): the batch statement and its two prepared
 * forms, the binary array parameters built from a batch, and the reading of
 * its result.
 */
#include "workers/router/router_db.h"

#include "common/db.h"
#include "common/pgarray.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "workers/router/router_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The batch statement. One round trip writes every events row and every
 * delivery row of the batch, records its passing checks, and returns the
 * deliveries to publish:
 *   $1 uuid[]  event ids          $5 text[]  the events' bytes (binary format)
 *   $2 text[]  tenant ids         $6 uuid[]  event id of each (event, target)
 *   $3 text[]  kinds              $7 bigint[] target id of each (event, target)
 *   $4 text[]  check types (NULL for collections)
 *   $8 text[], $9 text[], $10 bigint[]: tenant, check type and evaluated_at
 *      (ms) of each passing check to record in check_passes (migration 007;
 *      empty unless a tenant of the batch threads repeats)
 * Deliveries: a new pair is inserted ('pending') and returned with created =
 * true; an existing pair is returned (created = false) only while it is still
 * 'pending', because then its routed message may never have reached Kafka (a
 * crash between COMMIT and the produce acknowledgement); the no-op update
 * exists to make ON CONFLICT return it. A pair already claimed by the sender
 * (sending, retrying, sent, failed) is not returned: it is never published
 * twice by the router. The join with targets makes the database the last word
 * on a target disabled or removed a moment ago. Rows are inserted, and so
 * numbered and returned, in the batch's order (ORDER BY the pairs'
 * ordinality): a hash join, which the planner picks once the targets table
 * has a few rows, hands back each target's rows newest first, and a target's
 * deliveries must keep the order of its events (threads of repeats, digests).
 */
#define SQL_ROUTE_EVENTS                                                                           \
    "WITH ev AS ("                                                                                 \
    " INSERT INTO events (event_id, tenant_id, kind, check_type, payload)"                         \
    " SELECT i.event_id, i.tenant_id, i.kind, i.check_type, i.payload::jsonb"                      \
    "   FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])"                   \
    "        AS i(event_id, tenant_id, kind, check_type, payload)"                                 \
    " ON CONFLICT (event_id) DO NOTHING)"
#define SQL_ROUTE_PASSES                                                                           \
    ", pass AS ("                                                                                  \
    " INSERT INTO check_passes (tenant_id, check_type, evaluated_at)"                              \
    " SELECT p.tenant_id, p.check_type, to_timestamp(p.ms / 1000.0)"                               \
    "   FROM unnest($8::text[], $9::text[], $10::bigint[]) AS p(tenant_id, check_type, ms)"        \
    " ON CONFLICT DO NOTHING)"
#define SQL_ROUTE_DELIVERIES                                                                       \
    " INSERT INTO deliveries AS d (event_id, target_id, tenant_id)"                                \
    " SELECT m.event_id, m.target_id, t.tenant_id"                                                 \
    "   FROM unnest($6::uuid[], $7::bigint[]) WITH ORDINALITY AS m(event_id, target_id, ord)"      \
    "   JOIN targets t ON t.id = m.target_id AND t.enabled AND t.deleted_at IS NULL"               \
    "  ORDER BY m.ord"                                                                             \
    " ON CONFLICT (event_id, target_id) DO UPDATE SET state = d.state"                             \
    "   WHERE d.state = 'pending'"                                                                 \
    " RETURNING d.id, d.event_id, d.target_id, (d.xmax = 0) AS created, d.state = 'pending',"      \
    "           d.kind = 'resolve', d.ref_event_id"
/*
 * Issue 10: the pairs' decisions, when a pair of the batch is not a plain
 * routed notification: $11 state ('pending' or 'suppressed'), $12 reason
 * code, $13 readable reason, $14 kind ('notify', 'resolve'), $15 ref_event_id.
 * A suppressed row is returned too (with pending = false: it is counted, not
 * published). Every form returns the row's kind and ref_event_id: a pair
 * found pending again is published as it was recorded.
 */
#define SQL_ROUTE_DELIVERIES_DECIDED                                                               \
    " INSERT INTO deliveries AS d (event_id, target_id, tenant_id, state, last_error_code,"        \
    "                              last_error, kind, ref_event_id)"                                \
    " SELECT m.event_id, m.target_id, t.tenant_id, m.state, m.code, m.reason, m.kind, m.ref"       \
    "   FROM unnest($6::uuid[], $7::bigint[], $11::text[], $12::text[], $13::text[], $14::text[]," \
    "               $15::uuid[])"                                                                  \
    "        WITH ORDINALITY AS m(event_id, target_id, state, code, reason, kind, ref, ord)"       \
    "   JOIN targets t ON t.id = m.target_id AND t.enabled AND t.deleted_at IS NULL"               \
    "  ORDER BY m.ord"                                                                             \
    " ON CONFLICT (event_id, target_id) DO UPDATE SET state = d.state"                             \
    "   WHERE d.state = 'pending'"                                                                 \
    " RETURNING d.id, d.event_id, d.target_id, (d.xmax = 0) AS created, d.state = 'pending',"      \
    "           d.kind = 'resolve', d.ref_event_id"
/*
 * Issue 10: the alert states the router computed for the batch, one row per
 * (target, alert key) (its last state in the batch), times in ms:
 *   $16 target  $17 alert_key  $18 firing  $19 since  $20 last_result_at
 *   $21 last_event_id  $22 last_notified_at  $23 users_hash  $24 failing_count
 *   $25 resolved_event_id  $26 resolved_at
 * The router owning the tenant's partition is the only writer: the row is
 * replaced by what it holds. The join skips a target removed meanwhile.
 */
#define SQL_ROUTE_ALERTS                                                                           \
    ", al AS ("                                                                                    \
    " INSERT INTO alert_states AS s (target_id, alert_key, tenant_id, firing, since,"              \
    "        last_result_at, last_event_id, last_notified_at, users_hash, failing_count,"          \
    "        resolved_event_id, resolved_at, updated_at)"                                          \
    " SELECT a.target_id, a.alert_key, t.tenant_id, a.firing, to_timestamp(a.since / 1000.0),"     \
    "        to_timestamp(a.res / 1000.0), a.ev, to_timestamp(a.notified / 1000.0), a.h, a.fc,"    \
    "        a.rev, to_timestamp(a.rat / 1000.0), now()"                                           \
    "   FROM unnest($16::bigint[], $17::text[], $18::bool[], $19::bigint[], $20::bigint[],"        \
    "               $21::uuid[], $22::bigint[], $23::bigint[], $24::bigint[], $25::uuid[],"        \
    "               $26::bigint[])"                                                                \
    "        AS a(target_id, alert_key, firing, since, res, ev, notified, h, fc, rev, rat)"        \
    "   JOIN targets t ON t.id = a.target_id"                                                      \
    " ON CONFLICT (target_id, alert_key) DO UPDATE SET firing = excluded.firing,"                  \
    "   since = excluded.since, last_result_at = excluded.last_result_at,"                         \
    "   last_event_id = excluded.last_event_id, last_notified_at = excluded.last_notified_at,"     \
    "   users_hash = excluded.users_hash, failing_count = excluded.failing_count,"                 \
    "   resolved_event_id = excluded.resolved_event_id, resolved_at = excluded.resolved_at,"       \
    "   updated_at = now())"

/* The prepared forms: a batch pays only for the parts it needs (bit 1:
 * passes to record, 2: alert states to write, 4: pairs that are not plain
 * routed notifications), so a batch of plain notifications costs what it did
 * before, plus the alert states it writes. Every form declares the types of
 * all parameters, so a part left out leaves a gap PostgreSQL accepts. */
enum { FORM_PASSES = 1, FORM_ALERTS = 2, FORM_DECIDED = 4, NFORMS = 8 };

static const Oid param_types[ROUTE_NPARAMS] = {
    2951, 1009, 1009, 1009, 1009,                                    /* uuid[], text[] x4 */
    2951, 1016,                                                      /* uuid[], int8[] */
    1009, 1009, 1016,                                                /* passes */
    1009, 1009, 1009, 1009, 2951,                                    /* decisions */
    1016, 1009, 1000, 1016, 1016, 2951, 1016, 1016, 1016, 2951, 1016 /* alert states */
};

static void form_name(int form, char *out, size_t n)
{
    snprintf(out, n, "herald_route_%d", form);
}

static char *form_sql(int form)
{
    strbuf sql = {0};
    (void)strbuf_adds(&sql, SQL_ROUTE_EVENTS);
    if (form & FORM_PASSES)
        (void)strbuf_adds(&sql, SQL_ROUTE_PASSES);
    if (form & FORM_ALERTS)
        (void)strbuf_adds(&sql, SQL_ROUTE_ALERTS);
    (void)strbuf_adds(&sql,
                      form & FORM_DECIDED ? SQL_ROUTE_DELIVERIES_DECIDED : SQL_ROUTE_DELIVERIES);
    return strbuf_take(&sql);
}

/* A database error on one line, without libpq's "ERROR:  " prefix: it goes
 * into log lines and dead-letter reasons. */
static void db_message(PGconn *conn, const PGresult *res, char *out, size_t out_size)
{
    char raw[1024];
    db_error(conn, res, raw, sizeof raw);
    const char *p = raw;
    static const char *const prefixes[] = {"ERROR:  ", "FATAL:  "};
    for (size_t i = 0; i < ARRAY_LEN(prefixes); i++) {
        if (!strncmp(p, prefixes[i], strlen(prefixes[i])))
            p += strlen(prefixes[i]);
    }
    size_t n = 0;
    bool space = false;
    for (; *p && n + 1 < out_size; p++) {
        bool ws = *p == '\n' || *p == '\t' || *p == '\r' || *p == ' ';
        if (ws) {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < out_size)
            out[n++] = ' ';
        space = false;
        out[n++] = *p;
    }
    out[n] = '\0';
}

/* SQLSTATE classes that are the data's fault: a retry cannot succeed, so the
 * event is dead-lettered. Everything else (connection, shutdown, resources,
 * serialization, a missing table before migrations) is waited out. */
static bool sqlstate_is_data_error(const char *st)
{
    if (!st)
        return false;
    if (!strncmp(st, "22", 2)) /* data exception: bad JSON, bad UTF-8, NUL... */
        return true;
    if (!strcmp(st, "23502") || !strcmp(st, "23514")) /* not null, check */
        return true;
    if (!strcmp(st, "54000")) /* program limit exceeded (a value too large) */
        return true;
    return false;
}

static void put_be32(strbuf *s, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    (void)strbuf_add(s, b, 4); /* unbounded: cannot fail */
}

static void set_be32(strbuf *s, size_t at, uint32_t v)
{
    unsigned char *p = (unsigned char *)s->p + at;
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

#define TEXTOID 25 /* pg_type.oid of text */

/* One execution of the batch statement: which prepared form, and its
 * parameters (pointing into r->params). */
typedef struct stmt_args {
    char name[32];
    int n;
    const char *vals[ROUTE_NPARAMS];
    int lengths[ROUTE_NPARAMS], formats[ROUTE_NPARAMS];
} stmt_args;

/*
 * Builds the statement's parameters from batch entries [from, to) that have
 * matches or a pass to record, into r->params, and picks the statement's
 * form. The payloads go in binary array format: the events' bytes exactly as
 * consumed, with no escaping on our side nor unescaping on PostgreSQL's, each
 * parsed once into jsonb (PostgreSQL still checks they are valid UTF-8 and
 * JSON).
 */
static void add_write(strbuf *p, const alert_write *w)
{
    const route_alert *st = &w->st;
    pgarray_i64(&p[15], w->target_id);
    pgarray_text(&p[16], w->key);
    pgarray_raw(&p[17], st->firing ? "t" : "f");
    pgarray_i64(&p[18], st->since_ms);
    pgarray_i64(&p[19], st->last_result_ms);
    pgarray_raw(&p[20], st->last_event_id[0] ? st->last_event_id : "NULL");
    if (st->last_notified_ms)
        pgarray_i64(&p[21], st->last_notified_ms);
    else
        pgarray_raw(&p[21], "NULL");
    pgarray_i64(&p[22], (int64_t)st->users_hash);
    pgarray_i64(&p[23], st->failing_count);
    pgarray_raw(&p[24], st->resolved_event_id[0] ? st->resolved_event_id : "NULL");
    if (st->resolved_ms)
        pgarray_i64(&p[25], st->resolved_ms);
    else
        pgarray_raw(&p[25], "NULL");
}

static void build_params(router *r, batch *b, size_t from, size_t to, stmt_args *a)
{
    strbuf *p = r->params;
    int form = 0;
    for (int k = 0; k < ROUTE_NPARAMS; k++) {
        if (k != 4)
            pgarray_begin(&p[k]);
        else
            strbuf_reset(&p[k]);
    }
    /* one-dimensional text[] header: ndim, has-nulls, element type, length
     * (set below), lower bound */
    put_be32(&p[4], 1);
    put_be32(&p[4], 0);
    put_be32(&p[4], TEXTOID);
    put_be32(&p[4], 0);
    put_be32(&p[4], 1);
    uint32_t nevents = 0;
    /* The whole batch upserts each alert row once (its last state); an event
     * run alone writes its own. */
    bool whole = from == 0 && to == b->nb;
    for (size_t i = from; i < to; i++) {
        bmsg *bm = &b->b[i];
        if (bm->pass) {
            form |= FORM_PASSES;
            pgarray_text(&p[7], bm->ev->tenant_id);
            pgarray_text(&p[8], bm->ev->check_type);
            pgarray_i64(&p[9], bm->ev->evaluated_at_ms);
        }
        for (size_t k = 0; k < bm->nwrite; k++) {
            const alert_write *w = &r->writes[bm->first_write + k];
            if (whole && w->superseded)
                continue;
            form |= FORM_ALERTS;
            add_write(p, w);
        }
        if (!bm->nmatch)
            continue;
        const event *ev = bm->ev;
        pgarray_text(&p[0], bm->eid);
        pgarray_text(&p[1], ev->tenant_id);
        pgarray_text(&p[2], event_kind_name(ev->kind));
        pgarray_text(&p[3], ev->kind == EVENT_CHECK_RESULT ? ev->check_type : NULL);
        put_be32(&p[4], (uint32_t)bm->m->len);
        (void)strbuf_add(&p[4], bm->m->payload, bm->m->len);
        nevents++;
        for (size_t k = 0; k < bm->nmatch; k++) {
            const match *m = &r->matches[bm->first + k];
            pgarray_raw(&p[5], bm->eid);
            pgarray_i64(&p[6], m->t->id);
            bool quiet = m->why != ROUTE_SUPPRESS_NONE;
            pgarray_raw(&p[10], quiet ? "suppressed" : "pending");
            pgarray_text(&p[11], quiet ? route_suppress_code(m->why) : NULL);
            pgarray_text(&p[12], quiet ? r->why.p + m->why_off : NULL);
            pgarray_raw(&p[13], m->resolve ? "resolve" : "notify");
            pgarray_raw(&p[14], m->resolve ? m->ref : "NULL");
            if (quiet || m->resolve)
                form |= FORM_DECIDED;
        }
    }
    set_be32(&p[4], 12, nevents);
    form_name(form, a->name, sizeof a->name);
    a->n = ROUTE_NPARAMS;
    for (int k = 0; k < ROUTE_NPARAMS; k++) {
        if (k != 4)
            pgarray_end(&p[k]);
        a->vals[k] = p[k].p;
        a->lengths[k] = (int)p[k].len;
        a->formats[k] = k == 4 ? 1 : 0;
    }
}

/* Fills out from the statement's result res (taking it). */
static int take_result(PGconn *conn, PGresult *res, db_result *out)
{
    out->res = NULL;
    out->data_error = false;
    out->msg[0] = '\0';
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        out->res = res;
        return 0;
    }
    db_message(conn, res, out->msg, sizeof out->msg);
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    out->data_error = PQstatus(conn) == CONNECTION_OK && sqlstate_is_data_error(st);
    PQclear(res);
    return -1;
}

int router_db_run(router *r, batch *b, size_t from, size_t to, db_result *out)
{
    PGconn *conn = db_link_conn(r->db);
    stmt_args a;
    build_params(r, b, from, to, &a);
    PGresult *res = PQexecPrepared(conn, a.name, a.n, a.vals, a.lengths, a.formats, 0);
    return take_result(conn, res, out);
}

int router_db_send(router *r, batch *b, char *errstr, size_t errstr_size)
{
    PGconn *conn = db_link_conn(r->db);
    stmt_args a;
    build_params(r, b, 0, b->nb, &a);
    if (!PQsendQueryPrepared(conn, a.name, a.n, a.vals, a.lengths, a.formats, 0)) {
        db_message(conn, NULL, errstr, errstr_size);
        return -1;
    }
    return 0;
}

int router_db_finish(router *r, db_result *out)
{
    PGconn *conn = db_link_conn(r->db);
    PGresult *res = PQgetResult(conn);
    PGresult *extra;
    while ((extra = PQgetResult(conn)) != NULL)
        PQclear(extra);
    return take_result(conn, res, out);
}

int router_db_prepare(PGconn *conn, char *errstr, size_t errstr_size)
{
    /* The batch statement's plan does not depend on its array parameters:
     * plan it once instead of for every batch. */
    PGresult *set = PQexec(conn, "SET plan_cache_mode = force_generic_plan");
    PQclear(set);
    for (int form = 0; form < NFORMS; form++) {
        char name[32];
        form_name(form, name, sizeof name);
        char *sql = form_sql(form);
        PGresult *res = PQprepare(conn, name, sql, ROUTE_NPARAMS, param_types);
        free(sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            db_message(conn, res, errstr, errstr_size);
            PQclear(res);
            return -1;
        }
        PQclear(res);
    }
    return 0;
}
