#include "workers/router/subscriptions.h"

#include "common/db.h"
#include "common/log.h"
#include "common/pgarray.h"
#include "common/strmap.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Layout: a chained hash table of tenants. Each tenant owns its targets array
 * and one string arena holding every string the targets point at, so a
 * tenant is replaced or dropped with two frees and lookups never chase more
 * than one pointer per collision.
 */

typedef struct tenant_entry {
    struct tenant_entry *next;
    uint64_t hash;
    char *name; /* points into arena */
    route_target *targets;
    size_t ntargets;
    char *arena; /* strings and filter arrays of every target */
} tenant_entry;

typedef struct table {
    tenant_entry **buckets;
    size_t nbuckets; /* power of two */
    size_t ntenants;
    size_t ntargets;
} table;

struct subs {
    table t;
    int64_t refresh_ms;
    int64_t next_full_ms; /* util_now_mono_ms deadline of the backstop reload */
    bool full_pending;
    /* tenants named by notifications not yet applied (deduplicated) */
    char **pending;
    size_t npending, cap_pending;
    subs_stats stats;
    subs_notify_fn other; /* notifications of other channels */
    void *other_arg;
};

/* Past this many distinct tenants in one sync, one full load is cheaper. */
#define SUBS_MAX_TENANT_RELOAD 256

static void tenant_destroy(tenant_entry *t)
{
    if (!t)
        return;
    free(t->targets);
    free(t->arena);
    free(t);
}

static void table_dispose(table *tb)
{
    for (size_t i = 0; i < tb->nbuckets; i++) {
        tenant_entry *t = tb->buckets[i];
        while (t) {
            tenant_entry *next = t->next;
            tenant_destroy(t);
            t = next;
        }
    }
    free(tb->buckets);
    memset(tb, 0, sizeof *tb);
}

static void table_init(table *tb, size_t expect)
{
    size_t n = 64;
    while (n < expect * 2)
        n *= 2;
    tb->buckets = xcalloc(n, sizeof *tb->buckets);
    tb->nbuckets = n;
    tb->ntenants = 0;
    tb->ntargets = 0;
}

static tenant_entry **table_slot(const table *tb, const char *name, uint64_t h)
{
    tenant_entry **p = &tb->buckets[h & (tb->nbuckets - 1)];
    while (*p && ((*p)->hash != h || strcmp((*p)->name, name) != 0))
        p = &(*p)->next;
    return p;
}

static void table_grow(table *tb)
{
    size_t n = tb->nbuckets * 2;
    tenant_entry **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < tb->nbuckets; i++) {
        tenant_entry *t = tb->buckets[i];
        while (t) {
            tenant_entry *next = t->next;
            t->next = b[t->hash & (n - 1)];
            b[t->hash & (n - 1)] = t;
            t = next;
        }
    }
    free(tb->buckets);
    tb->buckets = b;
    tb->nbuckets = n;
}

/* Inserts t, replacing (and freeing) a tenant of the same name. */
static void table_put(table *tb, tenant_entry *t)
{
    tenant_entry **slot = table_slot(tb, t->name, t->hash);
    if (*slot) {
        tenant_entry *old = *slot;
        t->next = old->next;
        tb->ntargets -= old->ntargets;
        tb->ntenants--;
        tenant_destroy(old);
    } else {
        t->next = NULL;
    }
    *slot = t;
    tb->ntenants++;
    tb->ntargets += t->ntargets;
    if (tb->ntenants > tb->nbuckets)
        table_grow(tb);
}

static void table_remove(table *tb, const char *name)
{
    tenant_entry **slot = table_slot(tb, name, strmap_hash(name));
    if (!*slot)
        return;
    tenant_entry *old = *slot;
    *slot = old->next;
    tb->ntenants--;
    tb->ntargets -= old->ntargets;
    tenant_destroy(old);
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */
/* ------------------------------------------------------------------------ */

/* Columns of both load queries, in this order. */
#define TARGET_COLUMNS                                                                             \
    "t.id, t.tenant_id, t.team_id, coalesce(t.destination_resolved, t.destination),"               \
    " (t.destination_kind = 'email' AND t.destination_resolved IS NULL),"                          \
    " t.use_failed_check, t.use_data_collection,"                                                  \
    " (SELECT json_agg(c.check_type ORDER BY c.check_type COLLATE \"C\")::text"                    \
    "    FROM target_checks c WHERE c.target_id = t.id), t.thread_repeats,"                        \
    " t.min_severity, t.repeat_policy, coalesce(t.repeat_interval_s, 0), t.notify_resolved"
enum {
    C_ID,
    C_TENANT,
    C_TEAM,
    C_DEST,
    C_EMAIL,
    C_FC,
    C_DC,
    C_CHECKS,
    C_THREADS,
    C_MIN_SEV,
    C_REPEAT,
    C_INTERVAL,
    C_RESOLVED
};

static event_severity severity_parse(const char *s)
{
    for (int i = SEV_LOW; i <= SEV_CRITICAL; i++) {
        if (!strcmp(s, event_severity_name((event_severity)i)))
            return (event_severity)i;
    }
    return SEV_LOW;
}

static const char sql_all[] = "SELECT " TARGET_COLUMNS " FROM targets t"
                              " WHERE t.enabled AND t.deleted_at IS NULL"
                              " ORDER BY t.tenant_id, t.id";
static const char sql_some[] = "SELECT " TARGET_COLUMNS " FROM targets t"
                               " WHERE t.tenant_id = ANY ($1::text[])"
                               "   AND t.enabled AND t.deleted_at IS NULL"
                               " ORDER BY t.tenant_id, t.id";

/* Appends bytes to a growing arena; returns the offset (pointers are fixed up
 * once the arena stops moving). */
typedef struct arena {
    char *buf;
    size_t len, cap;
} arena;

static size_t arena_add(arena *a, const void *p, size_t n, size_t align)
{
    size_t off = (a->len + align - 1) & ~(align - 1);
    if (off + n > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (off + n > cap)
            cap *= 2;
        a->buf = xrealloc(a->buf, cap);
        a->cap = cap;
    }
    if (p)
        memcpy(a->buf + off, p, n);
    a->len = off + n;
    return off;
}

static size_t arena_str(arena *a, const char *s)
{
    return arena_add(a, s, strlen(s) + 1, 1);
}

/* A target whose pointers are arena offsets until the tenant is sealed. */
typedef struct staged {
    route_target t;
    size_t tenant_off, team_off, dest_off, checks_off;
} staged;

/*
 * Builds one tenant from rows [from, to) of r (all the same tenant). The
 * check filter arrives as a JSON array of strings sorted in byte order (the
 * order route.c's binary search expects). Returns NULL on a malformed row.
 */
static tenant_entry *tenant_build(PGresult *r, int from, int to, char *errstr, size_t errstr_size)
{
    size_t n = (size_t)(to - from);
    staged *st = xcalloc(n, sizeof *st);
    arena a = {0};
    size_t name_off = arena_str(&a, PQgetvalue(r, from, C_TENANT));
    for (int row = from; row < to; row++) {
        staged *s = &st[row - from];
        s->t.id = strtoll(PQgetvalue(r, row, C_ID), NULL, 10);
        s->tenant_off = name_off;
        s->team_off = arena_str(&a, PQgetvalue(r, row, C_TEAM));
        s->dest_off = arena_str(&a, PQgetvalue(r, row, C_DEST));
        s->t.destination_is_email = PQgetvalue(r, row, C_EMAIL)[0] == 't';
        s->t.use_failed_check = PQgetvalue(r, row, C_FC)[0] == 't';
        s->t.use_data_collection = PQgetvalue(r, row, C_DC)[0] == 't';
        s->t.thread_repeats = PQgetvalue(r, row, C_THREADS)[0] == 't';
        s->t.min_severity = severity_parse(PQgetvalue(r, row, C_MIN_SEV));
        s->t.repeat_policy = route_repeat_policy_parse(PQgetvalue(r, row, C_REPEAT));
        s->t.repeat_interval_ms = strtoll(PQgetvalue(r, row, C_INTERVAL), NULL, 10) * 1000;
        s->t.notify_resolved = PQgetvalue(r, row, C_RESOLVED)[0] == 't';
        s->t.enabled = true;
        s->t.deleted = false;
        if (PQgetisnull(r, row, C_CHECKS))
            continue;
        cJSON *arr = cJSON_Parse(PQgetvalue(r, row, C_CHECKS));
        if (!cJSON_IsArray(arr)) {
            cJSON_Delete(arr);
            snprintf(errstr, errstr_size, "target %lld: unreadable check filter",
                     (long long)s->t.id);
            free(st);
            free(a.buf);
            return NULL;
        }
        size_t k = (size_t)cJSON_GetArraySize(arr);
        size_t offs_len = k * sizeof(size_t);
        size_t *offs = xmalloc(offs_len ? offs_len : 1);
        size_t m = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, arr)
        {
            if (cJSON_IsString(it))
                offs[m++] = arena_str(&a, it->valuestring);
        }
        cJSON_Delete(arr);
        /* The pointer array holds offsets for now, fixed up below. */
        s->checks_off = arena_add(&a, offs, m * sizeof(size_t), sizeof(void *));
        s->t.ncheck_types = m;
        free(offs);
    }
    tenant_entry *t = xcalloc(1, sizeof *t);
    t->arena = a.buf;
    t->name = a.buf + name_off;
    t->hash = strmap_hash(t->name);
    t->ntargets = n;
    t->targets = xcalloc(n, sizeof *t->targets);
    for (size_t i = 0; i < n; i++) {
        route_target *rt = &t->targets[i];
        *rt = st[i].t;
        rt->tenant_id = a.buf + st[i].tenant_off;
        rt->team_id = a.buf + st[i].team_off;
        rt->destination = a.buf + st[i].dest_off;
        if (rt->ncheck_types) {
            /* size_t and char * have the same size and alignment on every
             * platform Herald builds for; the array is rewritten in place. */
            _Static_assert(sizeof(size_t) == sizeof(char *), "offset/pointer size");
            size_t *offs = (size_t *)(void *)(a.buf + st[i].checks_off);
            const char **ptrs = (const char **)(void *)offs;
            for (size_t j = 0; j < rt->ncheck_types; j++)
                ptrs[j] = a.buf + offs[j];
            rt->check_types = ptrs;
        }
    }
    free(st);
    return t;
}

/* Adds the tenants of r (sorted by tenant) to tb. */
static int load_rows(table *tb, PGresult *r, char *errstr, size_t errstr_size)
{
    int rows = PQntuples(r);
    int from = 0;
    while (from < rows) {
        int to = from + 1;
        const char *name = PQgetvalue(r, from, C_TENANT);
        while (to < rows && strcmp(PQgetvalue(r, to, C_TENANT), name) == 0)
            to++;
        tenant_entry *t = tenant_build(r, from, to, errstr, errstr_size);
        if (!t)
            return -1;
        table_put(tb, t);
        from = to;
    }
    return 0;
}

/* Runs one of the load queries; NULL with errstr ("<what>: <why>") on failure. */
static PGresult *query(PGconn *conn, const char *sql, const char *param, const char *what,
                       char *errstr, size_t errstr_size)
{
    const char *params[1] = {param};
    PGresult *r = PQexecParams(conn, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        return r;
    char msg[512];
    db_error(conn, r, msg, sizeof msg);
    snprintf(errstr, errstr_size, "%s: %s", what, msg);
    PQclear(r);
    return NULL;
}

static int load_all(subs *s, PGconn *conn, char *errstr, size_t errstr_size)
{
    PGresult *r = query(conn, sql_all, NULL, "load subscriptions", errstr, errstr_size);
    if (!r)
        return -1;
    table fresh;
    table_init(&fresh, (size_t)PQntuples(r) / 2 + 1);
    if (load_rows(&fresh, r, errstr, errstr_size)) {
        PQclear(r);
        table_dispose(&fresh);
        return -1;
    }
    PQclear(r);
    table_dispose(&s->t);
    s->t = fresh;
    s->full_pending = false;
    s->stats.full_loads++;
    s->stats.last_full_load_ms = util_now_wall_ms();
    if (s->refresh_ms > 0)
        s->next_full_ms = util_now_mono_ms() + s->refresh_ms;
    LOG_DEBUG("subscriptions loaded: %zu targets of %zu tenants", s->t.ntargets, s->t.ntenants);
    return 0;
}

static int load_pending(subs *s, PGconn *conn, char *errstr, size_t errstr_size)
{
    /* Tenant ids are identifiers (event.h), but notification payloads are
     * whatever a trigger sent: every element is quoted. */
    char *arr = pgarray_of_text((const char *const *)s->pending, s->npending, false);
    PGresult *r = query(conn, sql_some, arr, "reload subscriptions", errstr, errstr_size);
    free(arr);
    if (!r)
        return -1;
    /* Every named tenant is replaced by what the database holds now, which
     * may be nothing (its last target was disabled or removed). */
    for (size_t i = 0; i < s->npending; i++)
        table_remove(&s->t, s->pending[i]);
    int rc = load_rows(&s->t, r, errstr, errstr_size);
    PQclear(r);
    if (rc)
        return -1;
    s->stats.tenant_reloads += s->npending;
    LOG_DEBUG("subscriptions: reloaded %zu tenant(s)", s->npending);
    return 0;
}

static void pending_clear(subs *s)
{
    for (size_t i = 0; i < s->npending; i++)
        free(s->pending[i]);
    s->npending = 0;
}

static void pending_add(subs *s, const char *tenant)
{
    if (s->full_pending)
        return;
    if (!strcmp(tenant, "*") || s->npending >= SUBS_MAX_TENANT_RELOAD) {
        s->full_pending = true;
        pending_clear(s);
        return;
    }
    for (size_t i = 0; i < s->npending; i++) {
        if (!strcmp(s->pending[i], tenant))
            return;
    }
    if (s->npending == s->cap_pending) {
        s->cap_pending = s->cap_pending ? s->cap_pending * 2 : 16;
        s->pending = xrealloc(s->pending, s->cap_pending * sizeof *s->pending);
    }
    s->pending[s->npending++] = xstrdup(tenant);
}

/* ------------------------------------------------------------------------ */
/* Public                                                                    */
/* ------------------------------------------------------------------------ */

subs *subs_new(int64_t refresh_interval_ms)
{
    subs *s = xcalloc(1, sizeof *s);
    table_init(&s->t, 0);
    s->refresh_ms = refresh_interval_ms;
    s->full_pending = true;
    return s;
}

void subs_destroy(subs *s)
{
    if (!s)
        return;
    table_dispose(&s->t);
    pending_clear(s);
    free(s->pending);
    free(s);
}

int subs_attach(subs *s, PGconn *conn, char *errstr, size_t errstr_size)
{
    char msg[512];
    /* LISTEN first: a change committed during the load below is then either
     * part of the load or notified after it, never lost in between. */
    if (db_exec(conn, "LISTEN " SUBS_CHANNEL, msg, sizeof msg)) {
        snprintf(errstr, errstr_size, "listen %s: %s", SUBS_CHANNEL, msg);
        return -1;
    }
    /* Whatever was pending is covered by the full load. */
    pending_clear(s);
    s->full_pending = true;
    return load_all(s, conn, errstr, errstr_size);
}

int subs_sync(subs *s, PGconn *conn, char *errstr, size_t errstr_size)
{
    if (!PQconsumeInput(conn)) {
        char msg[512];
        db_error(conn, NULL, msg, sizeof msg);
        snprintf(errstr, errstr_size, "read notifications: %s", msg);
        return -1;
    }
    PGnotify *n;
    while ((n = PQnotifies(conn)) != NULL) {
        s->stats.notifications++;
        if (!strcmp(n->relname, SUBS_CHANNEL))
            pending_add(s, n->extra ? n->extra : "*");
        else if (s->other)
            s->other(s->other_arg, n->relname, n->extra ? n->extra : "*");
        PQfreemem(n);
    }
    if (s->refresh_ms > 0 && util_now_mono_ms() >= s->next_full_ms)
        s->full_pending = true;
    if (s->full_pending)
        return load_all(s, conn, errstr, errstr_size);
    if (s->npending == 0)
        return 0;
    if (load_pending(s, conn, errstr, errstr_size))
        return -1; /* pending kept: retried on the next call */
    pending_clear(s);
    return 0;
}

const route_target *subs_lookup(const subs *s, const char *tenant, size_t *n)
{
    *n = 0;
    if (!tenant || !s->t.nbuckets)
        return NULL;
    tenant_entry *const *slot = table_slot(&s->t, tenant, strmap_hash(tenant));
    if (!*slot)
        return NULL;
    *n = (*slot)->ntargets;
    return (*slot)->targets;
}

void subs_get_stats(const subs *s, subs_stats *out)
{
    *out = s->stats;
    out->tenants = s->t.ntenants;
    out->targets = s->t.ntargets;
}

void subs_set_notify_hook(subs *s, subs_notify_fn fn, void *arg)
{
    s->other = fn;
    s->other_arg = arg;
}
