/*
 * herald-router's retention thread (router_retention.h): sleeps until the
 * next run is due, runs store_prune on a connection of its own and exports
 * what it did. It shares nothing with the routing thread but the metrics
 * registry (thread-safe) and the process's stop flag.
 */
#include "workers/router/router_retention.h"

#include "common/db.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* After a failed run (database away...), the next try comes sooner than a
 * whole interval. */
#define RETRY_MS (5 * 60 * 1000)

struct router_retention {
    router_retention_config cfg;
    char *database_url;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    atomic_bool stop;
};

static metrics_counter *m_runs, *m_deleted;
static metrics_gauge *m_last_success;

/* Declaring again returns the same metrics; the series exist from the start
 * so a dashboard sees zeros, not gaps. */
static void metrics_init(void)
{
    m_runs = metrics_counter_new("herald_retention_runs_total",
                                 "Retention runs by outcome: ok, error, or skipped because "
                                 "another prune held the lock.",
                                 "outcome");
    m_deleted = metrics_counter_new("herald_retention_deleted_total",
                                    "Rows deleted by retention, by table.", "table");
    m_last_success =
        metrics_gauge_new("herald_retention_last_success_timestamp_seconds",
                          "Unix time of the last successful retention run by any router "
                          "(maintenance_runs), as this process last read or made it.",
                          NULL);
    static const char *const outcomes[] = {"ok", "error", "skipped"};
    static const char *const tables[] = {"deliveries", "events", "stats", "slack_actions",
                                         "silences"};
    for (size_t i = 0; i < ARRAY_LEN(outcomes); i++)
        metrics_counter_add(m_runs, outcomes[i], 0);
    for (size_t i = 0; i < ARRAY_LEN(tables); i++)
        metrics_counter_add(m_deleted, tables[i], 0);
}

static void ensure_metrics(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, metrics_init);
}

router_retention_outcome router_retention_run(PGconn *conn, const router_retention_config *cfg,
                                              bool (*should_stop)(void *arg), void *arg,
                                              store_prune_result *out)
{
    ensure_metrics();
    store_prune_opts o = {.retention_ms = cfg->retention_ms,
                          .stats_retention_ms = cfg->stats_retention_ms,
                          .batch = cfg->batch,
                          .should_stop = should_stop,
                          .arg = arg};
    store_prune_result res;
    char err[512];
    store_status st = store_prune(conn, &o, &res, err, sizeof err);
    if (out)
        *out = res;
    metrics_counter_add(m_deleted, "deliveries", (double)res.deliveries);
    metrics_counter_add(m_deleted, "events", (double)res.events);
    metrics_counter_add(m_deleted, "stats", (double)res.stats_rows);
    metrics_counter_add(m_deleted, "slack_actions", (double)res.slack_actions);
    metrics_counter_add(m_deleted, "silences", (double)res.silences);
    if (st == STORE_CONFLICT) {
        LOG_INFO("retention: skipped, %s", err);
        metrics_counter_inc(m_runs, "skipped");
        return RETENTION_SKIPPED;
    }
    if (st != STORE_OK) {
        LOG_WARN("retention failed after %" PRId64 " ms (%" PRId64 " deliveries, %" PRId64
                 " events, %" PRId64 " stats rows deleted): %s",
                 res.elapsed_ms, res.deliveries, res.events, res.stats_rows, err);
        metrics_counter_inc(m_runs, "error");
        return RETENTION_ERROR;
    }
    LOG_INFO("retention%s: deleted %" PRId64 " deliveries, %" PRId64 " events, %" PRId64
             " stats rows in %.1f s (%" PRId64 " batches, longest %" PRId64 " ms)",
             res.stopped ? " (stopped early)" : "", res.deliveries, res.events, res.stats_rows,
             res.elapsed_ms / 1000.0, res.batches, res.longest_batch_ms);
    metrics_counter_inc(m_runs, "ok");
    if (!res.stopped)
        metrics_gauge_set(m_last_success, NULL, (double)util_now_wall_ms() / 1000.0);
    return RETENTION_OK;
}

static bool stopping(void *arg)
{
    router_retention *rt = arg;
    return atomic_load(&rt->stop) || util_should_stop();
}

/* Sleeps ms, waking at once on router_retention_stop and within a second of
 * a signal (util_should_stop is a flag, not a wakeup). */
static void sleep_ms(router_retention *rt, int64_t ms)
{
    int64_t end = util_now_mono_ms() + ms;
    pthread_mutex_lock(&rt->mu);
    while (!stopping(rt)) {
        int64_t now = util_now_mono_ms();
        if (now >= end)
            break;
        int64_t slice = end - now < 1000 ? end - now : 1000;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(slice / 1000);
        ts.tv_nsec += (long)(slice % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&rt->cv, &rt->mu, &ts);
    }
    pthread_mutex_unlock(&rt->mu);
}

/* One turn: connects, runs if the last successful run (by any router) is an
 * interval old; returns how long to sleep before the next turn. */
static int64_t turn(router_retention *rt)
{
    const int64_t interval = rt->cfg.interval_ms;
    const int64_t retry = interval < RETRY_MS ? interval : RETRY_MS;
    char err[512];
    PGconn *conn = db_connect(rt->database_url, err, sizeof err);
    if (!conn) {
        LOG_WARN("retention failed: %s", err);
        metrics_counter_inc(m_runs, "error");
        return retry;
    }
    store_maintenance_run last;
    int64_t wait = retry;
    if (store_maintenance_get(conn, "retention", &last, err, sizeof err) != STORE_OK) {
        LOG_WARN("retention failed: %s", err);
        metrics_counter_inc(m_runs, "error");
    } else if (last.ok_age_ms >= 0 && last.ok_age_ms < interval) {
        /* Done recently, here or by another router: every router reports it,
         * so the alert on the newest success holds across restarts. */
        metrics_gauge_set(m_last_success, NULL, (double)last.last_ok_ms / 1000.0);
        wait = interval - last.ok_age_ms;
    } else {
        router_retention_outcome oc = router_retention_run(conn, &rt->cfg, stopping, rt, NULL);
        wait = oc == RETENTION_OK ? interval : retry;
    }
    PQfinish(conn);
    return wait;
}

static void *thread_main(void *arg)
{
    router_retention *rt = arg;
    while (!stopping(rt))
        sleep_ms(rt, turn(rt));
    return NULL;
}

router_retention *router_retention_start(const router_retention_config *cfg)
{
    if (cfg->interval_ms <= 0)
        return NULL;
    ensure_metrics();
    router_retention *rt = xcalloc(1, sizeof *rt);
    rt->cfg = *cfg;
    rt->database_url = xstrdup(cfg->database_url ? cfg->database_url : "");
    rt->cfg.database_url = rt->database_url;
    pthread_mutex_init(&rt->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rt->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&rt->stop, false);
    int e = pthread_create(&rt->th, NULL, thread_main, rt);
    if (e) {
        LOG_WARN("retention: cannot start its thread (%s): not running", strerror(e));
        pthread_cond_destroy(&rt->cv);
        pthread_mutex_destroy(&rt->mu);
        free(rt->database_url);
        free(rt);
        return NULL;
    }
    LOG_INFO("retention: every %g s, deliveries and events older than %g days, rollups older "
             "than %g days",
             cfg->interval_ms / 1000.0, cfg->retention_ms / 86400000.0,
             cfg->stats_retention_ms / 86400000.0);
    return rt;
}

void router_retention_stop(router_retention *rt)
{
    if (!rt)
        return;
    pthread_mutex_lock(&rt->mu);
    atomic_store(&rt->stop, true);
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
    pthread_join(rt->th, NULL);
    pthread_cond_destroy(&rt->cv);
    pthread_mutex_destroy(&rt->mu);
    free(rt->database_url);
    free(rt);
}
