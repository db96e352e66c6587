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
    " RETURNING d.id, d.event_id, d.target_id, (d.xmax = 0) AS created"

/* Two prepared forms: a batch without passes to record (every batch of a
 * tenant that does not thread repeats) runs the statement without the
 * check_passes part, so it costs exactly what it did before. */
static const struct {
    const char *name, *sql;
    int nparams;
} route_stmts[2] = {
    {"herald_route", SQL_ROUTE_EVENTS SQL_ROUTE_DELIVERIES, 7},
    {"herald_route_passes", SQL_ROUTE_EVENTS SQL_ROUTE_PASSES SQL_ROUTE_DELIVERIES, ROUTE_NPARAMS},
};

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
    const char *name;
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
static void build_params(router *r, batch *b, size_t from, size_t to, stmt_args *a)
{
    strbuf *p = r->params;
    bool passes = false;
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
    for (size_t i = from; i < to; i++) {
        bmsg *bm = &b->b[i];
        if (bm->pass) {
            passes = true;
            pgarray_text(&p[7], bm->ev->tenant_id);
            pgarray_text(&p[8], bm->ev->check_type);
            pgarray_i64(&p[9], bm->ev->evaluated_at_ms);
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
            pgarray_raw(&p[5], bm->eid);
            pgarray_i64(&p[6], r->matches[bm->first + k].t->id);
        }
    }
    set_be32(&p[4], 12, nevents);
    a->name = route_stmts[passes].name;
    a->n = route_stmts[passes].nparams;
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
    for (size_t i = 0; i < ARRAY_LEN(route_stmts); i++) {
        PGresult *res =
            PQprepare(conn, route_stmts[i].name, route_stmts[i].sql, route_stmts[i].nparams, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            db_message(conn, res, errstr, errstr_size);
            PQclear(res);
            return -1;
        }
        PQclear(res);
    }
    return 0;
}
