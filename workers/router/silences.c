/*
 * The router's silences cache (silences.h): a map tenant -> its live
 * silences, each silence's strings owned by the cache.
 */
#include "workers/router/silences.h"

#include "common/db.h"
#include "common/log.h"
#include "common/pgarray.h"
#include "common/strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tenant_sils {
    route_silence *v;
    size_t n, cap;
} tenant_sils;

struct silences {
    strmap *by_tenant; /* tenant -> tenant_sils */
    size_t count;
    int64_t refresh_ms;
    int64_t next_full_ms;
    bool full_pending;
    char **pending; /* tenants notified, deduplicated */
    size_t npending, cap_pending;
};

/* Past this many tenants notified at once, one full load is cheaper. */
#define SIL_MAX_TENANT_RELOAD 256

static const char sql_cols[] =
    "SELECT id, tenant_id, check_type, coalesce(target_id, 0), team_id,"
    " (extract(epoch FROM starts_at) * 1000)::bigint,"
    " coalesce((extract(epoch FROM ends_at) * 1000)::bigint, 0), author, reason"
    "  FROM silences"
    " WHERE expired_at IS NULL AND (ends_at IS NULL OR ends_at > now())";
enum { S_ID, S_TENANT, S_CHECK, S_TARGET, S_TEAM, S_STARTS, S_ENDS, S_AUTHOR, S_REASON };

static char *dup_or_null(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

static void tenant_free(void *p)
{
    tenant_sils *t = p;
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free((char *)t->v[i].check_type);
        free((char *)t->v[i].team_id);
        free((char *)t->v[i].author);
        free((char *)t->v[i].reason);
    }
    free(t->v);
    free(t);
}

static void drop_tenant(silences *s, const char *tenant)
{
    tenant_sils *t = strmap_del(s->by_tenant, tenant);
    if (t) {
        s->count -= t->n;
        tenant_free(t);
    }
}

static void add_rows(silences *s, PGresult *r)
{
    for (int row = 0; row < PQntuples(r); row++) {
        const char *tenant = PQgetvalue(r, row, S_TENANT);
        tenant_sils *t = strmap_get(s->by_tenant, tenant);
        if (!t) {
            t = xcalloc(1, sizeof *t);
            strmap_put(s->by_tenant, tenant, t);
        }
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 4;
            t->v = xrealloc(t->v, t->cap * sizeof *t->v);
        }
        route_silence *v = &t->v[t->n++];
        v->id = strtoll(PQgetvalue(r, row, S_ID), NULL, 10);
        v->check_type = dup_or_null(r, row, S_CHECK);
        v->target_id = strtoll(PQgetvalue(r, row, S_TARGET), NULL, 10);
        v->team_id = dup_or_null(r, row, S_TEAM);
        v->starts_ms = strtoll(PQgetvalue(r, row, S_STARTS), NULL, 10);
        v->ends_ms = strtoll(PQgetvalue(r, row, S_ENDS), NULL, 10);
        v->author = xstrdup(PQgetvalue(r, row, S_AUTHOR));
        v->reason = xstrdup(PQgetvalue(r, row, S_REASON));
        s->count++;
    }
}

static void pending_clear(silences *s)
{
    for (size_t i = 0; i < s->npending; i++)
        free(s->pending[i]);
    s->npending = 0;
}

static int load(silences *s, PGconn *conn, bool full, char *errstr, size_t errstr_size)
{
    char sql[sizeof sql_cols + 64];
    snprintf(sql, sizeof sql, "%s%s", sql_cols, full ? "" : " AND tenant_id = ANY ($1::text[])");
    char *arr = full ? NULL : pgarray_of_text((const char *const *)s->pending, s->npending, false);
    const char *params[1] = {arr};
    PGresult *r = PQexecParams(conn, sql, full ? 0 : 1, NULL, params, NULL, NULL, 0);
    free(arr);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char msg[512];
        db_error(conn, r, msg, sizeof msg);
        snprintf(errstr, errstr_size, "load silences: %s", msg);
        PQclear(r);
        return -1;
    }
    if (full) {
        strmap_destroy(s->by_tenant, tenant_free);
        s->by_tenant = strmap_new();
        s->count = 0;
        s->full_pending = false;
        if (s->refresh_ms > 0)
            s->next_full_ms = util_now_mono_ms() + s->refresh_ms;
    } else {
        for (size_t i = 0; i < s->npending; i++)
            drop_tenant(s, s->pending[i]);
    }
    add_rows(s, r);
    PQclear(r);
    LOG_DEBUG("silences: %s load, %zu live", full ? "full" : "tenant", s->count);
    pending_clear(s);
    return 0;
}

silences *silences_new(int64_t refresh_interval_ms)
{
    silences *s = xcalloc(1, sizeof *s);
    s->by_tenant = strmap_new();
    s->refresh_ms = refresh_interval_ms;
    s->full_pending = true;
    return s;
}

void silences_destroy(silences *s)
{
    if (!s)
        return;
    strmap_destroy(s->by_tenant, tenant_free);
    pending_clear(s);
    free(s->pending);
    free(s);
}

int silences_attach(silences *s, PGconn *conn, char *errstr, size_t errstr_size)
{
    char msg[512];
    /* LISTEN before loading, as the subscriptions cache does. */
    if (db_exec(conn, "LISTEN " SILENCES_CHANNEL, msg, sizeof msg)) {
        snprintf(errstr, errstr_size, "listen %s: %s", SILENCES_CHANNEL, msg);
        return -1;
    }
    pending_clear(s);
    return load(s, conn, true, errstr, errstr_size);
}

void silences_notified(silences *s, const char *channel, const char *payload)
{
    if (strcmp(channel, SILENCES_CHANNEL) != 0 || s->full_pending)
        return;
    if (!strcmp(payload, "*") || s->npending >= SIL_MAX_TENANT_RELOAD) {
        s->full_pending = true;
        pending_clear(s);
        return;
    }
    for (size_t i = 0; i < s->npending; i++) {
        if (!strcmp(s->pending[i], payload))
            return;
    }
    if (s->npending == s->cap_pending) {
        s->cap_pending = s->cap_pending ? s->cap_pending * 2 : 8;
        s->pending = xrealloc(s->pending, s->cap_pending * sizeof *s->pending);
    }
    s->pending[s->npending++] = xstrdup(payload);
}

int silences_sync(silences *s, PGconn *conn, char *errstr, size_t errstr_size)
{
    if (s->refresh_ms > 0 && util_now_mono_ms() >= s->next_full_ms)
        s->full_pending = true;
    if (s->full_pending)
        return load(s, conn, true, errstr, errstr_size);
    if (s->npending == 0)
        return 0;
    return load(s, conn, false, errstr, errstr_size);
}

const route_silence *silences_match(const silences *s, const event *ev, const route_target *t,
                                    int64_t now_ms)
{
    if (s->count == 0 || !ev->tenant_id)
        return NULL;
    const tenant_sils *ts = strmap_get(s->by_tenant, ev->tenant_id);
    if (!ts)
        return NULL;
    for (size_t i = 0; i < ts->n; i++) {
        if (route_silence_matches(&ts->v[i], ev, t, now_ms))
            return &ts->v[i];
    }
    return NULL;
}

size_t silences_count(const silences *s)
{
    return s->count;
}
