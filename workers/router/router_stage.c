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

/* Whether the database stage of b has anything to write, by the cache as it
 * is (stage_begin syncs it before routing for real). */
static bool batch_needs_db(router *r, const batch *b)
{
    for (size_t i = 0; i < b->nb; i++) {
        const bmsg *bm = &b->b[i];
        if (bm->ev && !bm->dup && (route_event_wanted(bm->ev) || records_pass(r, bm->ev)))
            return true;
    }
    return false;
}

/* Routes every event of the batch through the cache into r->matches, and
 * marks the passing checks to record. */
static void route_batch(router *r, batch *b)
{
    r->nmatches = 0;
    r->npasses = 0;
    for (size_t i = 0; i < b->nb; i++) {
        bmsg *bm = &b->b[i];
        bm->first = r->nmatches;
        bm->nmatch = 0;
        bm->pass = false;
        if (!bm->ev || bm->dup)
            continue;
        if (!route_event_wanted(bm->ev)) {
            bm->pass = records_pass(r, bm->ev);
            r->npasses += bm->pass;
            continue;
        }
        size_t nt = 0;
        const route_target *ts = subs_lookup(r->subs, bm->ev->tenant_id, &nt);
        if (nt == 0)
            continue;
        if (nt > r->cap_route_idx) {
            r->cap_route_idx = nt;
            r->route_idx = xrealloc(r->route_idx, nt * sizeof *r->route_idx);
        }
        size_t n = route_event(bm->ev, ts, nt, r->route_idx);
        if (r->nmatches + n > r->capmatches) {
            size_t cap = r->capmatches ? r->capmatches : 1024;
            while (r->nmatches + n > cap)
                cap *= 2;
            r->matches = xrealloc(r->matches, cap * sizeof *r->matches);
            r->capmatches = cap;
        }
        for (size_t k = 0; k < n; k++)
            r->matches[r->nmatches++] = (match){i, &ts[r->route_idx[k]]};
        bm->nmatch = n;
    }
}

static const route_target *match_target(router *r, const bmsg *bm, int64_t target_id)
{
    for (size_t k = 0; k < bm->nmatch; k++) {
        if (r->matches[bm->first + k].t->id == target_id)
            return r->matches[bm->first + k].t;
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
        bmsg *bm = eid_map_find(r, b, eid);
        const route_target *t = bm ? match_target(r, bm, target_id) : NULL;
        if (!t) {
            /* cannot happen: the statement only returns pairs we sent */
            LOG_ERROR("delivery %lld for unknown pair (%s, %lld)", (long long)delivery_id, eid,
                      (long long)target_id);
            continue;
        }
        outmsg *o = out_add(b);
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
        if (!bm->nmatch && !bm->pass)
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
        bm->pass = false;
    }
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
    }
    route_batch(r, b);
    if (r->nmatches == 0 && r->npasses == 0)
        return STAGE_OK;
    char msg[512];
    if (router_db_send(r, b, msg, sizeof msg)) {
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
