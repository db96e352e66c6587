/*
 * The database stage of a batch: routing its events through the
 * subscriptions cache, sending the batch statement (router_db.c), turning the
 * returned rows into routed deliveries, and isolating the events the
 * database refuses so they are dead-lettered instead of blocking the
 * partition.
 */
#include "common/log.h"
#include "common/strmap.h"
#include "common/util.h"
#include "workers/router/router_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void eid_map_build(router *r, batch *b)
{
    size_t need = 16;
    while (need < b->nb * 2)
        need *= 2;
    if (need > r->neid_slots) {
        free(r->eid_slots);
        r->eid_slots = xmalloc(need * sizeof *r->eid_slots);
        r->neid_slots = need;
    }
    memset(r->eid_slots, 0, r->neid_slots * sizeof *r->eid_slots);
    size_t mask = r->neid_slots - 1;
    for (size_t i = 0; i < b->nb; i++) {
        bmsg *bm = &b->b[i];
        bm->dup = false;
        if (!bm->ev)
            continue;
        size_t s = (size_t)strmap_hash(bm->eid) & mask;
        while (r->eid_slots[s]) {
            if (!strcmp(b->b[r->eid_slots[s] - 1].eid, bm->eid)) {
                bm->dup = true; /* the first one routes; this one only moves the offset */
                break;
            }
            s = (s + 1) & mask;
        }
        if (!bm->dup)
            r->eid_slots[s] = (uint32_t)(i + 1);
    }
}

static bmsg *eid_map_find(router *r, batch *b, const char *eid)
{
    size_t mask = r->neid_slots - 1;
    size_t s = (size_t)strmap_hash(eid) & mask;
    while (r->eid_slots[s]) {
        bmsg *bm = &b->b[r->eid_slots[s] - 1];
        if (!strcmp(bm->eid, eid))
            return bm;
        s = (s + 1) & mask;
    }
    return NULL;
}

/* Whether ev is a passing check the statement records (a cache lookup: a
 * tenant without targets threading repeats costs nothing more). */
static bool records_pass(router *r, const event *ev)
{
    if (ev->kind != EVENT_CHECK_RESULT || ev->failing_count != 0)
        return false;
    size_t nt = 0;
    const route_target *ts = subs_lookup(r->subs, ev->tenant_id, &nt);
    return route_records_pass(ev, ts, nt);
}

/* Whether ev can change an alert state or make a resolve: a pass of a
 * tenant with targets (whether an alert is firing is known once the tenant's
 * alert states are loaded: see load_alerts). */
static bool pass_concerns(router *r, const event *ev)
{
    if (!route_event_passes(ev))
        return false;
    size_t nt = 0;
    (void)subs_lookup(r->subs, ev->tenant_id, &nt);
    return nt > 0;
}

/* Whether the database stage of b has anything to write, by the cache as it
 * is (stage_begin syncs it before routing for real). */
static bool batch_needs_db(router *r, const batch *b)
{
    for (size_t i = 0; i < b->nb; i++) {
        const bmsg *bm = &b->b[i];
        if (bm->ev && !bm->dup &&
            (route_event_wanted(bm->ev) || records_pass(r, bm->ev) || pass_concerns(r, bm->ev)))
            return true;
    }
    return false;
}

/* Loads, in one query, the alert states of the tenants of b that have
 * targets and are not in the alert cache yet. Nothing to do (no query) in
 * the steady state. */
static int load_alerts(router *r, batch *b, char *err, size_t err_size)
{
    for (size_t i = 0; i < r->nload_tenants; i++)
        free(r->load_tenants[i]);
    r->nload_tenants = 0;
    r->nload_targets = 0;
    for (size_t i = 0; i < b->nb; i++) {
        const bmsg *bm = &b->b[i];
        if (!bm->ev || bm->dup || alerts_tenant_loaded(r->alerts, bm->ev->tenant_id))
            continue;
        size_t nt = 0;
        const route_target *ts = subs_lookup(r->subs, bm->ev->tenant_id, &nt);
        if (nt == 0)
            continue;
        bool seen = false;
        for (size_t k = 0; k < r->nload_tenants && !seen; k++)
            seen = !strcmp(r->load_tenants[k], bm->ev->tenant_id);
        if (seen)
            continue;
        if (r->nload_tenants == r->cap_load_tenants) {
            r->cap_load_tenants = r->cap_load_tenants ? r->cap_load_tenants * 2 : 16;
            r->load_tenants =
                xrealloc(r->load_tenants, r->cap_load_tenants * sizeof *r->load_tenants);
        }
        r->load_tenants[r->nload_tenants++] = xstrdup(bm->ev->tenant_id);
        if (r->nload_targets + nt > r->cap_load_targets) {
            while (r->nload_targets + nt > r->cap_load_targets)
                r->cap_load_targets = r->cap_load_targets ? r->cap_load_targets * 2 : 64;
            r->load_targets =
                xrealloc(r->load_targets, r->cap_load_targets * sizeof *r->load_targets);
        }
        for (size_t k = 0; k < nt; k++)
            r->load_targets[r->nload_targets++] = ts[k].id;
    }
    if (r->nload_tenants == 0)
        return 0;
    PGconn *conn = db_link_get(r->db);
    if (!conn) {
        snprintf(err, err_size, "no connection");
        return -1;
    }
    return alerts_load(r->alerts, conn, (const char *const *)r->load_tenants, r->nload_tenants,
                       r->load_targets, r->nload_targets, err, err_size);
}

static match *match_add(router *r)
{
    if (r->nmatches == r->capmatches) {
        r->capmatches = r->capmatches ? r->capmatches * 2 : 1024;
        r->matches = xrealloc(r->matches, r->capmatches * sizeof *r->matches);
    }
    match *m = &r->matches[r->nmatches++];
    memset(m, 0, sizeof *m);
    return m;
}

/* Queues the write of st (the cache entry of (target_id, key)) after event bi. */
static void write_add(router *r, size_t bi, int64_t target_id, const char *key, route_alert *st)
{
    /* The previous write of this entry in this routing, if any, is
     * superseded: the entry remembers it, tagged with the routing's serial. */
    uint64_t *mark = alerts_mark(st);
    if ((*mark >> 32) == (r->route_serial & 0xffffffffu) && (*mark & 0xffffffffu) != 0)
        r->writes[(*mark & 0xffffffffu) - 1].superseded = true;
    *mark = ((r->route_serial & 0xffffffffu) << 32) | (uint64_t)(r->nwrites + 1);
    if (r->nwrites == r->capwrites) {
        r->capwrites = r->capwrites ? r->capwrites * 2 : 256;
        r->writes = xrealloc(r->writes, r->capwrites * sizeof *r->writes);
    }
    alert_write *w = &r->writes[r->nwrites++];
    w->bi = bi;
    w->target_id = target_id;
    snprintf(w->key, sizeof w->key, "%s", key);
    w->st = *st;
    w->superseded = false;
    alerts_mark_written(r->alerts, target_id, key);
}

/* The decision for failing ev to t (floor -> silence -> repeat), the alert
 * update and the pair. */
static void decide_failure(router *r, size_t bi, const bmsg *bm, const route_target *t,
                           const char *key, int64_t now_wall, uint64_t h)
{
    const event *ev = bm->ev;
    int64_t ev_ms = route_event_time_ms(ev);
    bool exists = false;
    route_alert *st = key[0] ? alerts_get(r->alerts, t->id, key, true, &exists) : NULL;
    route_alert before = st ? *st : (route_alert){0};
    const route_silence *sil = NULL;
    route_suppress why = ROUTE_SUPPRESS_NONE;
    if (route_below_floor(ev, t))
        why = ROUTE_SUPPRESS_FLOOR;
    else if ((sil = silences_match(r->sils, ev, t, now_wall)) != NULL)
        why = ROUTE_SUPPRESS_SILENCED;
    else if (!exists || strcmp(st->last_event_id, bm->eid) != 0) /* not a replay */
        why = route_repeat_decide(t, exists ? st : NULL, ev, ev_ms, h);
    match *m = match_add(r);
    m->bi = bi;
    m->t = t;
    m->why = why;
    if (why != ROUTE_SUPPRESS_NONE) {
        char text[512];
        route_suppress_text(why, ev, t, &before, sil, text, sizeof text);
        m->why_off = r->why.len;
        (void)strbuf_add(&r->why, text, strlen(text) + 1);
        LOG_DEBUG("event %s -> target %lld suppressed (%s): %s", bm->eid, (long long)t->id,
                  route_suppress_code(why), text);
    }
    int64_t fc = ev->kind == EVENT_CHECK_RESULT ? ev->failing_count : 0;
    bool routed = why == ROUTE_SUPPRESS_NONE;
    if (!st || !route_alert_fail(st, exists, bm->eid, ev_ms, h, fc, routed))
        return;
    /*
     * Written when a reload (a restart, a rebalance) must find it: a new
     * streak, its first notification, and each notification of a target whose
     * policy decides by it (on_change, interval). A later notification of an
     * 'every' target changes only the cache: the write of every routed pair
     * cost the router a third of its throughput (bench/router_bench.sh), and
     * all a reload loses is which message of the streak a resolve edits (the
     * last one written: at worst the streak's first).
     */
    if (!exists || !before.firing ||
        (routed && (!before.last_event_id[0] || t->repeat_policy != ROUTE_REPEAT_EVERY)))
        write_add(r, bi, t->id, key, st);
}

/* A pass of ev for t: resolves a firing alert (a resolve pair when the target
 * wants it and a notification of the streak was routed). as_notify: the
 * event is also a notification of its own (a manual collection that
 * succeeded): its pair becomes the resolve, or stays a notify. */
static void decide_pass(router *r, size_t bi, const bmsg *bm, const route_target *t,
                        const char *key, bool as_notify)
{
    const event *ev = bm->ev;
    bool exists = false;
    route_alert *st = key[0] ? alerts_get(r->alerts, t->id, key, false, &exists) : NULL;
    const char *ref = "";
    bool resolved = st && route_alert_pass(st, exists, bm->eid, route_event_time_ms(ev), &ref);
    if (resolved)
        write_add(r, bi, t->id, key, st);
    bool resolve = resolved && t->notify_resolved && ref[0];
    if (!resolve && !as_notify)
        return;
    match *m = match_add(r);
    m->bi = bi;
    m->t = t;
    m->resolve = resolve;
    if (resolve) {
        snprintf(m->ref, sizeof m->ref, "%s", ref);
        LOG_DEBUG("event %s -> target %lld resolves %s", bm->eid, (long long)t->id, ref);
    }
}

/* Routes every event of the batch through the caches into r->matches (each
 * pair with its decision) and r->writes, and marks the passing checks to
 * record. */
static void route_batch(router *r, batch *b)
{
    r->nmatches = 0;
    r->npasses = 0;
    r->nwrites = 0;
    strbuf_reset(&r->why);
    r->route_serial++;
    int64_t now_wall = util_now_wall_ms();
    for (size_t i = 0; i < b->nb; i++) {
        bmsg *bm = &b->b[i];
        bm->first = r->nmatches;
        bm->nmatch = 0;
        bm->first_write = r->nwrites;
        bm->nwrite = 0;
        bm->pass = false;
        if (!bm->ev || bm->dup)
            continue;
        const event *ev = bm->ev;
        bool wanted = route_event_wanted(ev);
        if (!wanted)
            bm->pass = records_pass(r, ev);
        r->npasses += bm->pass;
        bool passes = route_event_passes(ev);
        if (!wanted && !passes)
            continue;
        size_t nt = 0;
        const route_target *ts = subs_lookup(r->subs, ev->tenant_id, &nt);
        if (nt == 0)
            continue;
        char key[ROUTE_ALERT_KEY_MAX];
        if (!route_alert_key(ev, key, sizeof key))
            key[0] = '\0';
        bool hashed = false;
        uint64_t h = 0;
        for (size_t k = 0; k < nt; k++) {
            const route_target *t = &ts[k];
            if (!route_concerns(ev, t))
                continue;
            if (passes) {
                decide_pass(r, i, bm, t, key, wanted);
            } else {
                if (!hashed) {
                    h = route_users_hash(ev);
                    hashed = true;
                }
                decide_failure(r, i, bm, t, key, now_wall, h);
            }
        }
        bm->nmatch = r->nmatches - bm->first;
        bm->nwrite = r->nwrites - bm->first_write;
    }
}

static const match *match_find(router *r, const bmsg *bm, int64_t target_id)
{
    for (size_t k = 0; k < bm->nmatch; k++) {
        if (r->matches[bm->first + k].t->id == target_id)
            return &r->matches[bm->first + k];
    }
    return NULL;
}

/* Makes room for n more outs. b->outs never moves once producing starts:
 * every out of a stage is added before the first is produced. */
static void outs_reserve(batch *b, size_t n)
{
    if (b->nouts + n <= b->capouts)
        return;
    size_t cap = b->capouts ? b->capouts : 256;
    while (cap < b->nouts + n)
        cap *= 2;
    b->outs = xrealloc(b->outs, cap * sizeof *b->outs);
    b->capouts = cap;
}

static outmsg *out_add(batch *b)
{
    outs_reserve(b, 1);
    outmsg *o = &b->outs[b->nouts++];
    memset(o, 0, sizeof *o);
    o->owner = b;
    return o;
}

/* Turns the returned rows into routed deliveries to produce (appended to
 * b->outs), copying what they need from the cache. */
static void collect_outs(router *r, batch *b, PGresult *res)
{
    int rows = PQntuples(res);
    if (rows == 0)
        return;
    outs_reserve(b, (size_t)rows);
    for (int row = 0; row < rows; row++) {
        int64_t delivery_id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
        const char *eid = PQgetvalue(res, row, 1);
        int64_t target_id = strtoll(PQgetvalue(res, row, 2), NULL, 10);
        bool created = PQgetvalue(res, row, 3)[0] == 't';
        bool pending = PQgetvalue(res, row, 4)[0] == 't';
        bmsg *bm = eid_map_find(r, b, eid);
        const match *mt = bm ? match_find(r, bm, target_id) : NULL;
        const route_target *t = mt ? mt->t : NULL;
        if (!t) {
            /* cannot happen: the statement only returns pairs we sent */
            LOG_ERROR("delivery %lld for unknown pair (%s, %lld)", (long long)delivery_id, eid,
                      (long long)target_id);
            continue;
        }
        if (!pending) {
            if (created && mt->why != ROUTE_SUPPRESS_NONE)
                b->bc.suppressed[mt->why]++;
            continue; /* recorded, never published */
        }
        /* A pair found pending again goes out as recorded, whatever this
         * routing decided (it was routed before a crash). */
        outmsg *o = out_add(b);
        o->resolve = PQgetvalue(res, row, 5)[0] == 't';
        snprintf(o->ref_event_id, sizeof o->ref_event_id, "%s", PQgetvalue(res, row, 6));
        b->bc.resolves += created && o->resolve;
        o->kind = OUT_ROUTED;
        o->bi = (size_t)(bm - b->b);
        o->key = xstrdup(t->team_id);
        o->destination = xstrdup(t->destination);
        o->destination_is_email = t->destination_is_email;
        o->delivery_id = delivery_id;
        o->target_id = target_id;
        if (created)
            b->bc.created++;
        else
            b->bc.republished++;
        LOG_DEBUG("event %s -> target %lld (delivery %lld, %s)", bm->eid, (long long)target_id,
                  (long long)delivery_id, created ? "new" : "pending again");
    }
}

/* Marks the events the database refuses for dead-lettering, running the
 * statement event by event. Returns STAGE_OK, or STAGE_RETRY when the
 * database failed for another reason. */
static int isolate_bad_events(router *r, batch *b)
{
    for (size_t i = 0; i < b->nb; i++) {
        bmsg *bm = &b->b[i];
        if (!bm->nmatch && !bm->pass && !bm->nwrite)
            continue;
        db_result one;
        if (router_db_run(r, b, i, i + 1, &one) == 0) {
            collect_outs(r, b, one.res);
            PQclear(one.res);
            continue;
        }
        if (!one.data_error) {
            db_link_lost(r->db, "route", one.msg);
            return STAGE_RETRY;
        }
        LOG_WARN("event %s: rejected by the database: %s", bm->eid, one.msg);
        char reason[600];
        snprintf(reason, sizeof reason, "database: %s", one.msg);
        event_destroy(bm->ev);
        bm->ev = NULL;
        bm->reason = xstrdup(reason);
        bm->nmatch = 0;
        bm->nwrite = 0;
        bm->pass = false;
    }
    /* states computed after a refused event may rest on it: reload them */
    alerts_clear(r->alerts);
    return STAGE_OK;
}

static void add_statement(router_stats *s, const void *arg)
{
    (void)arg;
    s->statements++;
}

/*
 * First half of the database stage of b: route it through the cache and send
 * its statement without waiting (the result is read by stage_finish). Does
 * nothing durable. STAGE_RETRY: the database is away.
 */
int router_stage_begin(router *r, batch *b)
{
    router_outs_clear(b);
    memset(&b->bc, 0, sizeof b->bc);
    b->sent = false;
    eid_map_build(r, b);
    if (batch_needs_db(r, b)) {
        PGconn *conn = db_link_get(r->db);
        if (!conn)
            return STAGE_RETRY;
        char err[512];
        if (subs_sync(r->subs, conn, err, sizeof err)) {
            db_link_lost(r->db, "subscriptions", err);
            return STAGE_RETRY;
        }
        if (silences_sync(r->sils, conn, err, sizeof err)) {
            db_link_lost(r->db, "silences", err);
            return STAGE_RETRY;
        }
        if (load_alerts(r, b, err, sizeof err)) {
            db_link_lost(r->db, "alert states", err);
            return STAGE_RETRY;
        }
    }
    route_batch(r, b);
    if (r->nmatches == 0 && r->npasses == 0 && r->nwrites == 0)
        return STAGE_OK;
    char msg[512];
    if (router_db_send(r, b, msg, sizeof msg)) {
        alerts_clear(r->alerts); /* what route_batch computed is not written */
        db_link_lost(r->db, "route", msg);
        return STAGE_RETRY;
    }
    b->sent = true;
    router_stats_add(r, add_statement, NULL);
    return STAGE_OK;
}

/* True when router_stage_finish(b) would not wait for PostgreSQL. */
bool router_stage_ready(router *r, const batch *b)
{
    PGconn *conn = db_link_conn(r->db);
    if (!b->sent || !conn)
        return true;
    if (!PQconsumeInput(conn))
        return true; /* the connection failed: stage_finish says so */
    return !PQisBusy(conn);
}

/*
 * Second half: reads the statement's result (waiting for it), turns the rows
 * into routed deliveries and adds the dead letters. The routing of b must be
 * the last one done (r->matches). STAGE_RETRY: the database failed; nothing
 * was produced and b is to be retried whole.
 */
int router_stage_finish(router *r, batch *b)
{
    if (b->sent) {
        b->sent = false;
        db_result all = {0};
        if (router_db_finish(r, &all) == 0) {
            collect_outs(r, b, all.res);
            PQclear(all.res);
        } else {
            /* The cache holds what the statement did not write. */
            alerts_clear(r->alerts);
            if (!all.data_error) {
                db_link_lost(r->db, "route", all.msg);
                router_outs_clear(b);
                return STAGE_RETRY;
            }
            /* One bad event must not block the partition: find it by running
             * the events one by one (the good ones' rows are committed; a
             * retry finds them and publishes them, idempotently). */
            LOG_WARN("batch rejected by the database (%s): retrying event by event", all.msg);
            router_outs_clear(b);
            memset(&b->bc, 0, sizeof b->bc);
            if (isolate_bad_events(r, b) != STAGE_OK) {
                router_outs_clear(b);
                return STAGE_RETRY;
            }
        }
    }
    /* counts of this batch, added to the statistics when it completes */
    for (size_t i = 0; i < b->nb; i++) {
        const bmsg *bm = &b->b[i];
        if (bm->reason) {
            b->bc.dead_lettered++;
            outmsg *o = out_add(b);
            o->kind = OUT_DEADLETTER;
            o->bi = i;
        } else if (bm->dup) {
            b->bc.duplicates++;
        } else if (!route_event_wanted(bm->ev)) {
            b->bc.not_notifiable++;
            b->bc.passes += bm->pass;
        } else if (!bm->nmatch) {
            b->bc.no_target++;
        } else {
            b->bc.routed++;
        }
    }
    return STAGE_OK;
}

/* The whole database stage at once (recovery and shutdown paths). */
int router_stage_sync(router *r, batch *b)
{
    if (router_stage_begin(r, b) != STAGE_OK || router_stage_finish(r, b) != STAGE_OK)
        return STAGE_RETRY;
    return STAGE_OK;
}
