/*
 * herald-router's engine (router.h): its lifetime and the pipeline's run
 * loop, which moves batches from intake (router_intake.c) through the
 * database stage (router_stage.c) to output (router_output.c). The pipeline
 * itself is described in router_int.h.
 */
#include "workers/router/router.h"

#include "common/dblink.h"
#include "common/httpd.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "workers/router/router_int.h"
#include "workers/router/router_retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_db_error(router_stats *s, const void *arg)
{
    (void)arg;
    s->db_errors++;
}

/* Every failed connect, setup or statement of the link counts as an error. */
static void on_db_error(void *arg, const char *what, const char *why)
{
    (void)what;
    (void)why;
    router_stats_add(arg, add_db_error, NULL);
}

/* Session setup of every new connection (common/dblink.h's on_connect): the
 * batch statement's prepared forms, then the subscriptions cache. */
static int on_db_connect(void *arg, PGconn *conn, const char **what, char *detail,
                         size_t detail_size)
{
    router *r = arg;
    if (router_db_prepare(conn, detail, detail_size)) {
        *what = "prepare";
        return -1;
    }
    /* Reconnected: notifications sent while we were away are lost, so the
     * cache is reloaded whole. */
    if (subs_attach(r->subs, conn, detail, detail_size)) {
        *what = "subscriptions";
        return -1;
    }
    if (silences_attach(r->sils, conn, detail, detail_size)) {
        *what = "silences";
        return -1;
    }
    /* What was written while we were away is read again when needed. */
    alerts_clear(r->alerts);
    subs_stats ss;
    subs_get_stats(r->subs, &ss);
    snprintf(detail, detail_size, "subscriptions: %zu target(s) of %zu tenant(s), %zu silence(s)",
             ss.targets, ss.tenants, silences_count(r->sils));
    r->last_idle_sync_ms = util_now_mono_ms();
    return 0;
}

void router_config_defaults(router_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->brokers = "localhost:9092";
    cfg->database_url = "";
    cfg->group = "herald-router";
    cfg->batch_size = 500;
    cfg->batch_wait_ms = 50;
    cfg->cache_refresh_seconds = 60;
    cfg->silence_refresh_ms = 30000;
    cfg->summary_seconds = 30;
    cfg->shutdown_timeout_ms = 10000;
    cfg->retention_ms = 90LL * 86400000;
    cfg->stats_retention_ms = 400LL * 86400000;
}

static void on_revoke(router *r, const rd_kafka_topic_partition_list_t *parts);

/* The connection's notifications for the silences (subs_sync reads them). */
static void on_notify(void *arg, const char *channel, const char *payload)
{
    silences_notified(arg, channel, payload);
}

router *router_new(const router_config *cfg, char *errstr, size_t errstr_size)
{
    if (cfg->batch_size < 1 || cfg->batch_wait_ms < 0 || !cfg->group || !*cfg->group) {
        snprintf(errstr, errstr_size, "router: invalid configuration");
        return NULL;
    }
    router *r = xcalloc(1, sizeof *r);
    r->cfg = *cfg;
    r->brokers = xstrdup(cfg->brokers ? cfg->brokers : "localhost:9092");
    r->database_url = xstrdup(cfg->database_url ? cfg->database_url : "");
    r->group = xstrdup(cfg->group);
    r->metrics_addr = xstrdup(cfg->metrics_addr ? cfg->metrics_addr : "");
    r->cfg.brokers = r->brokers;
    r->cfg.database_url = r->database_url;
    r->cfg.group = r->group;
    r->cfg.metrics_addr = r->metrics_addr;
    r->cfg.consumer_props = NULL; /* only needed by router_new */
    r->cur = &r->slots[0];
    r->stmt = r->fly = NULL;
    pthread_mutex_init(&r->stats_mu, NULL);
    r->stats.lag = -1;
    r->subs = subs_new((int64_t)cfg->cache_refresh_seconds * 1000);
    r->sils = silences_new(cfg->silence_refresh_ms);
    r->alerts = alerts_new();
    subs_set_notify_hook(r->subs, on_notify, r->sils);
    /* A bad URL fails here; a database that is down is waited for by
     * router_run. */
    const db_link_config lc = {.conninfo = r->database_url,
                               .on_loss = "pausing consumption, retrying",
                               .on_connect = on_db_connect,
                               .on_error = on_db_error,
                               .arg = r};
    r->db = db_link_new(&lc, errstr, errstr_size);
    if (!r->db)
        goto fail;

    r->producer = router_producer_new(r, errstr, errstr_size);
    if (!r->producer)
        goto fail;
    r->consumer = router_consumer_new(r, cfg->consumer_props, on_revoke, errstr, errstr_size);
    if (!r->consumer)
        goto fail;
    router_metrics_init(&r->m);
    if (*r->metrics_addr) {
        r->http = httpd_start_ops(r->metrics_addr, metrics_default_registry(), router_health, r,
                                  errstr, errstr_size);
        if (!r->http)
            goto fail;
        LOG_INFO("serving /metrics and /healthz on %s (port %u)", r->metrics_addr,
                 (unsigned)httpd_port(r->http));
    }
    return r;
fail:
    router_destroy(r);
    return NULL;
}

/* A slot no stage holds. */
static batch *free_slot(router *r)
{
    for (int i = 0; i < 3; i++) {
        batch *b = &r->slots[i];
        if (b != r->cur && b != r->stmt && b != r->fly)
            return b;
    }
    abort(); /* three slots, at most two other stages: cannot happen */
}

/* Completes the batch in flight, if any. -1: stopping timed out. */
static int complete_fly(router *r)
{
    batch *f = r->fly;
    if (!f)
        return 0;
    r->fly = NULL;
    return router_batch_complete(r, f);
}

/*
 * Brings every batch past the database to completion, in order: the
 * statement running (if its result is good) and the batch in flight. A
 * statement that failed leaves its batch retained in r->stmt.
 */
static void pipeline_drain(router *r)
{
    batch *s = r->stmt;
    if (s && !s->retained) {
        if (router_stage_finish(r, s) == STAGE_OK) {
            router_batch_produce(r, s);
            complete_fly(r);
            r->stmt = NULL;
            r->fly = s;
        } else {
            s->retained = true;
            router_set_paused(r, true);
        }
    }
    complete_fly(r);
}

/*
 * The consumer's rebalance callback (router_kafka.c) calls this when
 * partitions are revoked (parts), or all of them when a rebalance failed
 * (parts NULL). Batches past the database have their rows committed: finish
 * them (statement result, produce, acknowledgements, offsets) while the
 * partitions are still ours. A batch being collected, or retained while the
 * database is away, has done nothing durable: hand back what came from the
 * revoked partitions; the new owner reads it again. Nothing is left
 * half-committed either way.
 */
static void on_revoke(router *r, const rd_kafka_topic_partition_list_t *parts)
{
    pipeline_drain(r);
    /* The next owner of a revoked tenant writes its alert states from now on. */
    alerts_clear(r->alerts);
    if (r->stmt) {
        router_batch_drop_partitions(r, r->stmt, parts);
        if (r->stmt->nb == 0) /* always so when parts is NULL */
            r->stmt = NULL;
    }
    router_batch_drop_partitions(r, r->cur, parts);
}

/* The batch retained while the database was away gets another try. */
static void retry_retained(router *r)
{
    batch *s = r->stmt;
    if (router_stage_sync(r, s) != STAGE_OK)
        return;
    s->retained = false;
    router_batch_produce(r, s);
    complete_fly(r);
    r->stmt = NULL;
    r->fly = s;
    router_set_paused(r, false);
}

int router_run(router *r)
{
    LOG_INFO("routing %s and %s in group %s (batches of %ld within %ld ms)", TOPIC_CHECKS,
             TOPIC_COLLECTIONS, r->group, r->cfg.batch_size, r->cfg.batch_wait_ms);
    r->next_summary_ms = util_now_mono_ms() + r->cfg.summary_seconds * 1000;
    /* Connect now so a bad URL or a missing schema shows at startup; a
     * database that is down is waited for. */
    (void)db_link_get(r->db);
    /* Warm the producer up (connection, producer id, the deliveries topic's
     * partitions) while the group is being joined, not on the first batch. */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->producer, TOPIC_DELIVERIES, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rkt && rd_kafka_metadata(r->producer, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    const router_retention_config rc = {.database_url = r->database_url,
                                        .retention_ms = r->cfg.retention_ms,
                                        .stats_retention_ms = r->cfg.stats_retention_ms,
                                        .interval_ms = r->cfg.prune_interval_ms};
    r->retention = router_retention_start(&rc);
    bool abandoned = false, fenced = false;
    while (!router_stopping(r) && !abandoned) {
        if ((fenced = kafka_consumer_fatal(r->consumer, r->cfg.instance_id)))
            break; /* another replica has our --instance-id: stop, exit non-zero */
        router_housekeeping(r);
        if (r->stmt && r->stmt->retained) {
            /* Degraded: consumption is paused; serve rebalances (a revoke
             * hands the retained messages back) until the next try is due. */
            rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, 100);
            if (m && !m->err)
                router_batch_add(r, r->cur, m); /* fetched before the pause took effect */
            else if (m)
                rd_kafka_message_destroy(m);
            if (complete_fly(r))
                abandoned = true;
            if (r->stmt && r->stmt->retained &&
                util_now_mono_ms() >= db_link_next_attempt_ms(r->db))
                retry_retained(r);
            else if (!r->stmt)
                router_set_paused(r, false); /* handed back on a revoke */
            continue;
        }
        router_batch_collect(r);
        batch *s = r->stmt, *c = r->cur;
        if (s && s->retained)
            continue; /* a revoke found the database gone: degraded from here */
        if (s) {
            /* s's statement ran while c was collected: take its result,
             * start c's statement, and produce s's messages meanwhile. */
            if (router_stage_finish(r, s) != STAGE_OK) {
                s->retained = true;
                router_set_paused(r, true);
                continue;
            }
            bool c_staged = false;
            if (c->nb > 0) {
                if (router_stage_begin(r, c) == STAGE_OK)
                    c_staged = true;
                else
                    c->retained = true;
            }
            router_batch_produce(r, s);
            if (complete_fly(r))
                abandoned = true;
            r->fly = s;
            r->stmt = NULL;
            if (c_staged || c->retained) {
                r->stmt = c;
                r->cur = free_slot(r);
                if (c->retained)
                    router_set_paused(r, true);
            }
            continue;
        }
        if (c->nb > 0) {
            if (router_stage_begin(r, c) != STAGE_OK) {
                c->retained = true;
                router_set_paused(r, true);
            }
            r->stmt = c;
            r->cur = free_slot(r);
            continue;
        }
        /* idle: nothing new came, complete what flies */
        if (complete_fly(r))
            abandoned = true;
    }

    /* Shutdown: intake has stopped. Finish what is past the database; a
     * batch still held gets one last try, else it is handed back (its
     * offsets are not stored, so it is consumed again). */
    if (!abandoned) {
        pipeline_drain(r);
        if (r->stmt && r->stmt->retained)
            retry_retained(r);
        complete_fly(r);
        batch *c = r->cur;
        if (!r->stmt && c->nb > 0 && router_stage_sync(r, c) == STAGE_OK) {
            router_batch_produce(r, c);
            router_batch_complete(r, c);
        }
    }
    batch *left[2] = {r->stmt, r->cur};
    for (int i = 0; i < 2; i++) {
        if (left[i] && left[i]->nb > 0) {
            LOG_WARN("stopping with %zu unfinished message(s): handed back to the group",
                     left[i]->nb);
            router_batch_drop_partitions(r, left[i], NULL);
        }
    }
    if (r->fly)
        router_batch_drop_partitions(r, r->fly, NULL);
    r->stmt = r->fly = NULL;
    PGconn *conn = db_link_conn(r->db);
    if (conn && PQtransactionStatus(conn) == PQTRANS_ACTIVE)
        db_link_close(r->db); /* a statement abandoned mid-way: its result is not wanted */
    LOG_INFO("closing consumer (committing stored offsets)");
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(r->consumer);
    if (err)
        LOG_WARN("consumer close: %s", rd_kafka_err2str(err));
    rd_kafka_flush(r->producer, (int)r->cfg.shutdown_timeout_ms);
    router_note_db_state(r);
    router_metrics_export(r);
    router_log_summary(r, true);
    router_retention_stop(r->retention);
    r->retention = NULL;
    LOG_INFO("router stopped");
    return fenced ? -1 : 0;
}

void router_stop(router *r)
{
    atomic_store(&r->stop, 1);
}

int router_metrics_port(router *r)
{
    return r->http ? (int)httpd_port(r->http) : 0;
}

void router_destroy(router *r)
{
    if (!r)
        return;
    /* The HTTP server first: its health callback reads r. */
    httpd_destroy(r->http);
    r->http = NULL;
    router_retention_stop(r->retention);
    if (r->producer) {
        /* no delivery report may arrive after the batches are freed */
        rd_kafka_flush(r->producer, 1000);
        rd_kafka_purge(r->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(r->producer, 1000);
    }
    for (int i = 0; i < 3; i++)
        router_batch_destroy(&r->slots[i]);
    if (r->consumer)
        rd_kafka_destroy(r->consumer);
    if (r->producer)
        rd_kafka_destroy(r->producer);
    db_link_destroy(r->db);
    subs_destroy(r->subs);
    silences_destroy(r->sils);
    alerts_destroy(r->alerts);
    free(r->matches);
    free(r->writes);
    strbuf_dispose(&r->why);
    for (size_t i = 0; i < r->nload_tenants; i++)
        free(r->load_tenants[i]);
    free(r->load_tenants);
    free(r->load_targets);
    free(r->route_idx);
    free(r->eid_slots);
    for (int k = 0; k < ROUTE_NPARAMS; k++)
        strbuf_dispose(&r->params[k]);
    free(r->brokers);
    free(r->database_url);
    free(r->group);
    free(r->metrics_addr);
    pthread_mutex_destroy(&r->stats_mu);
    free(r);
}
