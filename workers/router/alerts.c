/*
 * The router's alert-state cache (alerts.h): a strmap "<target id>|<alert
 * key>" -> entry, and a strmap of the tenants loaded whole.
 */
#include "workers/router/alerts.h"

#include "common/db.h"
#include "common/log.h"
#include "common/pgarray.h"
#include "common/strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    route_alert st; /* first: an entry is found from its state */
    uint64_t mark;
    bool exists; /* alert_states has (or will have, once written) the row */
} entry;

struct alerts {
    strmap *entries; /* "<target id>|<key>" -> entry */
    strmap *tenants; /* tenant -> non-NULL marker */
};

static void *const LOADED = (void *)&LOADED;

alerts *alerts_new(void)
{
    alerts *a = xcalloc(1, sizeof *a);
    a->entries = strmap_new();
    a->tenants = strmap_new();
    return a;
}

void alerts_destroy(alerts *a)
{
    if (!a)
        return;
    strmap_destroy(a->entries, free);
    strmap_destroy(a->tenants, NULL);
    free(a);
}

void alerts_clear(alerts *a)
{
    if (strmap_count(a->tenants) == 0 && strmap_count(a->entries) == 0)
        return;
    strmap_destroy(a->entries, free);
    strmap_destroy(a->tenants, NULL);
    a->entries = strmap_new();
    a->tenants = strmap_new();
    LOG_DEBUG("alert states: cache dropped");
}

bool alerts_tenant_loaded(const alerts *a, const char *tenant)
{
    return tenant && strmap_get(a->tenants, tenant) != NULL;
}

static void entry_key(char *out, size_t n, int64_t target_id, const char *key)
{
    snprintf(out, n, "%lld|%s", (long long)target_id, key);
}

static int64_t col_i64(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void col_uuid(PGresult *r, int row, int col, char out[37])
{
    snprintf(out, 37, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

#define MS(c) "(extract(epoch FROM " c ") * 1000)::bigint"

int alerts_load(alerts *a, PGconn *conn, const char *const *tenants, size_t ntenants,
                const int64_t *target_ids, size_t ntargets, char *errstr, size_t errstr_size)
{
    static const char sql[] = "SELECT target_id, alert_key, firing, " MS("since") ", " MS(
        "last_result_at") ", last_event_id, " MS("last_notified_at") ", users_hash,"
                                                                     " failing_count, "
                                                                     "resolved_event_id, " MS(
                                                                         "resolved_at") "  FROM "
                                                                                        "alert_"
                                                                                        "states "
                                                                                        "WHERE "
                                                                                        "target_id "
                                                                                        "= ANY "
                                                                                        "($1::"
                                                                                        "bigint[])";
    char *arr = pgarray_of_i64(target_ids, ntargets);
    const char *params[1] = {arr};
    PGresult *r = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    free(arr);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char msg[512];
        db_error(conn, r, msg, sizeof msg);
        snprintf(errstr, errstr_size, "load alert states: %s", msg);
        PQclear(r);
        return -1;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        bool exists;
        route_alert *st = alerts_get(a, col_i64(r, row, 0), PQgetvalue(r, row, 1), true, &exists);
        st->firing = PQgetvalue(r, row, 2)[0] == 't';
        st->since_ms = col_i64(r, row, 3);
        st->last_result_ms = col_i64(r, row, 4);
        col_uuid(r, row, 5, st->last_event_id);
        st->last_notified_ms = col_i64(r, row, 6);
        st->users_hash = (uint64_t)col_i64(r, row, 7);
        st->failing_count = col_i64(r, row, 8);
        col_uuid(r, row, 9, st->resolved_event_id);
        st->resolved_ms = col_i64(r, row, 10);
        alerts_mark_written(a, col_i64(r, row, 0), PQgetvalue(r, row, 1));
    }
    LOG_DEBUG("alert states: loaded %d row(s) of %zu tenant(s)", PQntuples(r), ntenants);
    PQclear(r);
    for (size_t i = 0; i < ntenants; i++)
        strmap_put(a->tenants, tenants[i], LOADED);
    return 0;
}

route_alert *alerts_get(alerts *a, int64_t target_id, const char *key, bool create, bool *exists)
{
    char k[32 + ROUTE_ALERT_KEY_MAX];
    entry_key(k, sizeof k, target_id, key);
    entry *e = strmap_get(a->entries, k);
    if (!e && create) {
        e = xcalloc(1, sizeof *e);
        strmap_put(a->entries, k, e);
    }
    *exists = e && e->exists;
    return e ? &e->st : NULL;
}

void alerts_mark_written(alerts *a, int64_t target_id, const char *key)
{
    char k[32 + ROUTE_ALERT_KEY_MAX];
    entry_key(k, sizeof k, target_id, key);
    entry *e = strmap_get(a->entries, k);
    if (e)
        e->exists = true;
}

uint64_t *alerts_mark(route_alert *st)
{
    return &((entry *)(void *)st)->mark;
}

size_t alerts_entries(const alerts *a)
{
    return strmap_count(a->entries);
}

size_t alerts_tenants(const alerts *a)
{
    return strmap_count(a->tenants);
}
