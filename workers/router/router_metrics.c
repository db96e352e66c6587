/*
 * Housekeeping between batches: the idle subscriptions sync, consumer lag,
 * the periodic summary line, the Prometheus metrics (exported from the
 * statistics' deltas) and /healthz.
 */
#include "common/db.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/util.h"
#include "store/stats.h"
#include "workers/router/router_int.h"

#include <stdio.h>
#include <string.h>

/* Messages between our position and the high watermark, over the assigned
 * partitions (watermarks as of the last fetch: no broker round trip). Also
 * fills r->lag_by_topic. */
static int64_t consumer_lag(router *r)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    r->lag_by_topic[0] = r->lag_by_topic[1] = 0;
    if (rd_kafka_assignment(r->consumer, &a) != RD_KAFKA_RESP_ERR_NO_ERROR || !a)
        return -1;
    int64_t lag = 0;
    if (a->cnt > 0 && rd_kafka_position(r->consumer, a) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < a->cnt; i++) {
            int64_t lo = 0, hi = 0;
            if (rd_kafka_get_watermark_offsets(r->consumer, a->elems[i].topic,
                                               a->elems[i].partition, &lo, &hi) ||
                hi < 0)
                continue;
            int64_t pos = a->elems[i].offset;
            if (pos < 0)
                continue; /* nothing consumed yet here: unknown */
            if (hi > pos) {
                lag += hi - pos;
                r->lag_by_topic[!strcmp(a->elems[i].topic, TOPIC_COLLECTIONS)] += hi - pos;
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(a);
    return lag;
}

void router_log_summary(router *r, bool force)
{
    router_stats s;
    router_get_stats(r, &s);
    const router_stats *p = &r->last_summary;
    if (!force && s.consumed == p->consumed && s.db_errors == p->db_errors &&
        s.abandoned == p->abandoned)
        return;
    LOG_INFO("consumed %llu (+%llu: checks %llu, collections %llu), routed +%llu, deliveries "
             "+%llu new +%llu again, not notifiable +%llu, no target +%llu, dead-lettered "
             "+%llu, db errors +%llu, lag %lld, cache %zu targets/%zu tenants",
             (unsigned long long)s.consumed, (unsigned long long)(s.consumed - p->consumed),
             (unsigned long long)(s.consumed_checks - p->consumed_checks),
             (unsigned long long)(s.consumed_collections - p->consumed_collections),
             (unsigned long long)(s.routed - p->routed),
             (unsigned long long)(s.deliveries_created - p->deliveries_created),
             (unsigned long long)(s.deliveries_republished - p->deliveries_republished),
             (unsigned long long)(s.not_notifiable - p->not_notifiable),
             (unsigned long long)(s.no_target - p->no_target),
             (unsigned long long)(s.dead_lettered - p->dead_lettered),
             (unsigned long long)(s.db_errors - p->db_errors), (long long)s.lag, s.cache_targets,
             s.cache_tenants);
    r->last_summary = s;
}

static void set_db_state(router_stats *s, const void *arg)
{
    const router *r = arg;
    s->db_connected = db_link_up(r->db);
    subs_stats ss;
    subs_get_stats(r->subs, &ss);
    s->cache_tenants = ss.tenants;
    s->cache_targets = ss.targets;
}

void router_note_db_state(router *r)
{
    router_stats_add(r, set_db_state, r);
}

static void set_lag(router_stats *s, const void *arg)
{
    s->lag = *(const int64_t *)arg;
}

void router_metrics_init(router_metrics *m)
{
    m->consumed = metrics_counter_new("herald_router_events_consumed_total",
                                      "Messages consumed from the event topics.", "topic");
    m->routed = metrics_counter_new("herald_router_events_routed_total",
                                    "Events that matched at least one target.", NULL);
    m->created = metrics_counter_new("herald_router_deliveries_created_total",
                                     "Delivery rows inserted.", NULL);
    m->republished = metrics_counter_new(
        "herald_router_deliveries_republished_total",
        "Existing deliveries still pending published again after a redelivery.", NULL);
    m->published = metrics_counter_new("herald_router_deliveries_published_total",
                                       "Routed deliveries acknowledged by Kafka.", NULL);
    m->no_target = metrics_counter_new(
        "herald_router_events_no_target_total",
        "Valid events routed nowhere: not_notifiable (a passing check, a scheduled success) or "
        "no_matching_target.",
        "reason");
    m->dead_lettered = metrics_counter_new("herald_router_events_deadlettered_total",
                                           "Malformed events sent to the dead-letter topic.", NULL);
    m->duplicates = metrics_counter_new("herald_router_events_duplicate_total",
                                        "The same event id again within one batch.", NULL);
    m->passes = metrics_counter_new(
        "herald_router_check_passes_recorded_total",
        "Passing check results recorded for targets that thread repeats (not notified).", NULL);
    m->suppressed = metrics_counter_new(
        "herald_router_suppressed_total",
        "Deliveries recorded as suppressed (not published), by reason: below_min_severity, "
        "silenced, repeat_on_change, repeat_interval.",
        "reason");
    m->resolves = metrics_counter_new(
        "herald_router_resolves_total",
        "Resolve deliveries made: a pass of an alert whose notification was posted.", NULL);
    m->db_errors = metrics_counter_new("herald_router_db_errors_total",
                                       "Failed database statements and connection attempts.", NULL);
    m->abandoned = metrics_counter_new(
        "herald_router_messages_handed_back_total",
        "Consumed messages left unprocessed on a revoke or at shutdown (consumed again).", NULL);
    m->cache_loads =
        metrics_counter_new("herald_router_cache_loads_total",
                            "Subscriptions cache reloads, full or of one tenant.", "kind");
    static const double sizes[] = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
    m->batch_size = metrics_histogram_new("herald_router_batch_size", "Messages per batch.", NULL,
                                          sizes, ARRAY_LEN(sizes));
    static const double secs[] = {.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
    m->batch_seconds =
        metrics_histogram_new("herald_router_batch_seconds",
                              "Time from a batch's first message to its offsets being stored.",
                              NULL, secs, ARRAY_LEN(secs));
    m->lag = metrics_gauge_new("herald_router_consumer_lag",
                               "Messages behind the high watermark on the assigned partitions.",
                               "topic");
    m->db_up = metrics_gauge_new("herald_router_db_up", "1 while the database is connected.", NULL);
    m->cache_targets = metrics_gauge_new("herald_router_cache_targets",
                                         "Live targets in the subscriptions cache.", NULL);
    m->cache_tenants = metrics_gauge_new("herald_router_cache_tenants",
                                         "Tenants with live targets in the cache.", NULL);
    m->partitions = metrics_gauge_new("herald_router_partitions_assigned",
                                      "Event topic partitions assigned to this instance.", NULL);
}

void router_metrics_export(router *r)
{
    router_metrics *m = &r->m;
    if (!m->consumed)
        return;
    router_stats s;
    router_get_stats(r, &s);
    router_stats *p = &r->last_export;
#define DELTA(f) ((double)(s.f - p->f))
    metrics_counter_add(m->consumed, TOPIC_CHECKS, DELTA(consumed_checks));
    metrics_counter_add(m->consumed, TOPIC_COLLECTIONS, DELTA(consumed_collections));
    metrics_counter_add(m->routed, NULL, DELTA(routed));
    metrics_counter_add(m->created, NULL, DELTA(deliveries_created));
    metrics_counter_add(m->republished, NULL, DELTA(deliveries_republished));
    metrics_counter_add(m->published, NULL, DELTA(deliveries_published));
    metrics_counter_add(m->no_target, "not_notifiable", DELTA(not_notifiable));
    metrics_counter_add(m->no_target, "no_matching_target", DELTA(no_target));
    metrics_counter_add(m->dead_lettered, NULL, DELTA(dead_lettered));
    metrics_counter_add(m->duplicates, NULL, DELTA(duplicates));
    metrics_counter_add(m->passes, NULL, DELTA(passes_recorded));
    for (int k = ROUTE_SUPPRESS_FLOOR; k < ROUTE_SUPPRESS_COUNT; k++)
        metrics_counter_add(m->suppressed, route_suppress_code((route_suppress)k),
                            DELTA(suppressed[k]));
    metrics_counter_add(m->resolves, NULL, DELTA(resolves));
    metrics_counter_add(m->db_errors, NULL, DELTA(db_errors));
    metrics_counter_add(m->abandoned, NULL, DELTA(abandoned));
#undef DELTA
    *p = s;
    subs_stats ss;
    subs_get_stats(r->subs, &ss);
    metrics_counter_add(m->cache_loads, "full",
                        (double)(ss.full_loads - r->last_subs_export.full_loads));
    metrics_counter_add(m->cache_loads, "tenant",
                        (double)(ss.tenant_reloads - r->last_subs_export.tenant_reloads));
    r->last_subs_export = ss;
    metrics_gauge_set(m->db_up, NULL, s.db_connected ? 1 : 0);
    metrics_gauge_set(m->cache_targets, NULL, (double)ss.targets);
    metrics_gauge_set(m->cache_tenants, NULL, (double)ss.tenants);
    metrics_gauge_set(m->partitions, NULL, r->partitions);
    if (s.lag >= 0) {
        metrics_gauge_set(m->lag, TOPIC_CHECKS, (double)r->lag_by_topic[0]);
        metrics_gauge_set(m->lag, TOPIC_COLLECTIONS, (double)r->lag_by_topic[1]);
    }
}

/* /healthz: runs on the HTTP server's thread, so it reads only the
 * mutex-protected stats. */
bool router_health(void *arg, char *reason, size_t reason_size)
{
    router *r = arg;
    router_stats s;
    router_get_stats(r, &s);
    if (!s.db_connected) {
        snprintf(reason, reason_size, "database unavailable: consumption paused");
        return false;
    }
    return true;
}

void router_housekeeping(router *r)
{
    int64_t now = util_now_mono_ms();
    /* Idle: keep the notification queue drained and notice a lost database
     * before the next event needs it. */
    if (!r->stmt && r->cur->nb == 0 && now - r->last_idle_sync_ms >= 1000) {
        r->last_idle_sync_ms = now;
        PGconn *conn = db_link_get(r->db);
        if (conn) {
            char err[512];
            if (subs_sync(r->subs, conn, err, sizeof err))
                db_link_lost(r->db, "subscriptions", err);
            else if (silences_sync(r->sils, conn, err, sizeof err))
                db_link_lost(r->db, "silences", err);
        }
    }
    /* The rollups' change log (migration 012) into the rollups, about once a
     * second while the router is idle, as the subscriptions sync above (the
     * senders fold every second whatever their load; whoever takes the lock
     * first folds). */
    if (!r->stmt && r->cur->nb == 0 && now >= r->next_fold_ms) {
        r->next_fold_ms = now + 1000;
        PGconn *conn = db_link_get(r->db);
        if (conn) {
            int64_t rows = 0;
            char err[512];
            if (store_stats_fold(conn, &rows, err, sizeof err) != STORE_OK) {
                if (db_connection_lost(conn))
                    db_link_lost(r->db, "folding the delivery rollups' change log", err);
                else
                    LOG_ERROR("database: folding the delivery rollups' change log: %s", err);
                r->next_fold_ms = now + 60000; /* an older schema, say: not every second */
            } else if (rows > 0) {
                LOG_DEBUG("folded %lld rollup change(s)", (long long)rows);
            }
        }
    }
    if (now >= r->next_lag_ms) {
        int64_t lag = consumer_lag(r);
        router_stats_add(r, set_lag, &lag);
        r->next_lag_ms = now + 5000;
    }
    router_note_db_state(r);
    router_metrics_export(r);
    if (r->cfg.summary_seconds > 0 && now >= r->next_summary_ms) {
        router_log_summary(r, false);
        r->next_summary_ms = now + r->cfg.summary_seconds * 1000;
    }
}
