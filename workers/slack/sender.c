/*
 * herald-slack's lifecycle: sender_new (PostgreSQL, Kafka, curl multi,
 * /metrics), sender_run (the loop and the drain on shutdown), sender_stop,
 * sender_destroy. Overview and delivery semantics in sender.h; the engine's
 * floors in sender_internal.h.
 */
#include "workers/slack/sender_internal.h"

#include "common/log.h"
#include "common/util.h"
#include "store/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void sender_wake(sender *s)
{
    char c = 's';
    ssize_t n = write(s->wake[1], &c, 1);
    (void)n; /* a full pipe already wakes the loop */
}

void sender_stop(sender *s)
{
    atomic_store(&s->stop, 1);
    sender_wake(s);
}

void sender_get_stats(const sender *s, sender_stats *out)
{
    *out = s->stats;
}

static bool health(void *arg, char *reason, size_t reason_size)
{
    sender *s = arg;
    if (s->db_down) {
        snprintf(reason, reason_size, "database unreachable");
        return false;
    }
    return true;
}

typedef int32_t (*partitioner_fn)(const rd_kafka_topic_t *, const void *, size_t, int32_t, void *,
                                  void *);

/* The partitioner the router's producer uses (librdkafka's default unless
 * HERALD_KAFKA_PARTITIONER says otherwise). */
static partitioner_fn pick_partitioner(void)
{
    const char *p = getenv("HERALD_KAFKA_PARTITIONER");
    if (!p || !*p || !strcmp(p, "consistent_random"))
        return rd_kafka_msg_partitioner_consistent_random;
    if (!strcmp(p, "consistent"))
        return rd_kafka_msg_partitioner_consistent;
    if (!strcmp(p, "murmur2"))
        return rd_kafka_msg_partitioner_murmur2;
    if (!strcmp(p, "murmur2_random"))
        return rd_kafka_msg_partitioner_murmur2_random;
    if (!strcmp(p, "fnv1a"))
        return rd_kafka_msg_partitioner_fnv1a;
    if (!strcmp(p, "fnv1a_random"))
        return rd_kafka_msg_partitioner_fnv1a_random;
    return NULL; /* unknown: due retries are shared only after the takeover grace */
}

sender *sender_new(const sender_config *cfg, char *errstr, size_t errstr_size)
{
    sender *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    s->wake[0] = s->wake[1] = -1;
    s->pending_tail = &s->pending;
    backoff_policy_default(&s->backoff);
    s->backoff.base_ms = cfg->retry_base_ms;
    s->backoff.cap_ms = cfg->retry_cap_ms;
    s->backoff.max_age_ms = cfg->retry_max_age_ms;
    s->ropts.herald_url = cfg->console_url && *cfg->console_url ? cfg->console_url : NULL;
    if (cfg->client_id && *cfg->client_id && cfg->client_secret && *cfg->client_secret) {
        s->client_id = xstrdup(cfg->client_id);
        s->client_secret = xstrdup(cfg->client_secret);
    }
    s->cfg.client_secret = NULL; /* the copy above is the one kept */
    kafka_instance_id(cfg->instance_id, s->instance_id, sizeof s->instance_id);
    s->cfg.instance_id = s->instance_id;
    sender_metrics_init(&s->m);

    if (crypto_keyring_load(s->key, &cfg->common, errstr, errstr_size))
        goto fail;
    if (pipe(s->wake)) {
        snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
        goto fail;
    }
    for (int i = 0; i < 2; i++)
        fcntl(s->wake[i], F_SETFL, fcntl(s->wake[i], F_GETFL) | O_NONBLOCK);

    if (sender_link_open(s, cfg->common.database_url, errstr, errstr_size))
        goto fail;

    dispatch_config dc = {.channel_rate = cfg->channel_rate,
                          .channel_burst = cfg->channel_burst,
                          .workspace_rate_per_min = cfg->workspace_rate,
                          .workspace_burst = cfg->workspace_burst,
                          .guard_ms = cfg->pace_guard_ms};
    s->disp = dispatch_new(&dc);
    s->offs = offsets_new();
    s->inmem = strmap_new();
    sender_caches_init(s);

    s->multi = curl_multi_init();
    if (!s->multi) {
        snprintf(errstr, errstr_size, "curl_multi_init failed");
        goto fail;
    }
    /* Keep-alive connections for every channel that can be in flight at once. */
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)cfg->max_in_flight + 4);

    /* The rebalance hook hands queued deliveries of revoked partitions back. */
    static const char *const topics[] = {TOPIC_DELIVERIES, NULL};
    s->rk = kafka_consumer_new(cfg->common.kafka_brokers, cfg->group, s->instance_id, topics, NULL,
                               sender_on_rebalance, s, errstr, errstr_size);
    if (!s->rk)
        goto fail;
    s->rkt = rd_kafka_topic_new(s->rk, TOPIC_DELIVERIES, NULL);
    s->partitioner = pick_partitioner();
    /* Served from the loop's polls only, so nothing arrives before this: the
     * wake-up pipe misses no message. */
    s->cq = rd_kafka_queue_get_consumer(s->rk);
    rd_kafka_queue_io_event_enable(s->cq, s->wake[1], "k", 1);
    s->dlq = kafka_producer_new(cfg->common.kafka_brokers, NULL, NULL, errstr, errstr_size);
    if (!s->dlq)
        goto fail;

    if (cfg->metrics_addr && *cfg->metrics_addr) {
        s->ops = httpd_start_ops(cfg->metrics_addr, metrics_default_registry(), health, s, errstr,
                                 errstr_size);
        if (!s->ops)
            goto fail;
        LOG_INFO("serving /metrics and /healthz on %s", cfg->metrics_addr);
    }
    return s;
fail:
    sender_destroy(s);
    return NULL;
}

static bool destroy_job_cb(const char *key, void *value, void *arg)
{
    (void)key, (void)arg;
    sender_job_destroy(value);
    return true;
}

static void keep_queued_job(void *j)
{
    (void)j; /* queued jobs are owned through inmem */
}

void sender_destroy(sender *s)
{
    if (!s)
        return;
    httpd_destroy(s->ops);
    /* Kafka first: closing a consumer that sender_run did not close runs the
     * rebalance callback, which still needs the queues and offsets. */
    if (s->cq)
        rd_kafka_queue_destroy(s->cq);
    if (s->rkt)
        rd_kafka_topic_destroy(s->rkt);
    if (s->rk)
        rd_kafka_destroy(s->rk);
    if (s->dlq) {
        rd_kafka_flush(s->dlq, 5000);
        rd_kafka_destroy(s->dlq);
    }
    s->rk = NULL;
    while (s->flights) {
        flight *f = s->flights;
        curl_multi_remove_handle(s->multi, slack_request_easy(f->req));
        sender_flight_unlink(s, f);
        sender_flight_destroy(f); /* its jobs are in inmem */
    }
    while (s->pending) {
        outcome *o = s->pending;
        s->pending = o->next;
        sender_outcome_destroy(o); /* its jobs are in inmem */
    }
    if (s->disp)
        dispatch_destroy(s->disp, keep_queued_job);
    if (s->inmem) {
        strmap_sweep(s->inmem, destroy_job_cb, NULL);
        strmap_destroy(s->inmem, NULL);
    }
    sender_caches_dispose(s);
    while (s->refreshes) {
        refresh_req *r = s->refreshes;
        s->refreshes = r->next;
        free(r);
    }
    for (size_t i = 0; i < s->nwoken; i++)
        free(s->woken[i]);
    free(s->woken);
    offsets_destroy(s->offs);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    db_link_destroy(s->db);
    for (size_t i = 0; i < s->nowned; i++)
        free(s->owned[i]);
    free(s->owned);
    free(s->assigned);
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0)
            close(s->wake[i]);
    crypto_wipe(s->key, sizeof s->key);
    free(s->client_id);
    crypto_free_secret(s->client_secret);
    free(s);
}

/* Hourly: forget the recorded passes no thread can be replied in across any
 * more (the oldest thread a reply may go into, plus the longest a delivery
 * may wait for its retries, plus a day). */
static void prune_check_passes(sender *s, int64_t now)
{
    PGconn *conn;
    if (now < s->next_prune_ms || s->db_down || !(conn = sender_conn(s)))
        return;
    s->next_prune_ms = now + 3600 * 1000;
    int64_t keep = s->cfg.thread_max_age_ms + s->cfg.retry_max_age_ms + 86400 * 1000LL;
    char err[512];
    long n = sender_db_prune_check_passes(conn, keep, err, sizeof err);
    if (n < 0)
        sender_link_failed(s, "pruning recorded check passes", err);
    else if (n > 0)
        LOG_DEBUG("pruned %ld recorded check pass(es)", n);
}

/* The rollups' change log (migration 012) into the rollups, once a second;
 * the routers do it too, whoever takes the lock first. */
static void fold_stats(sender *s, int64_t now)
{
    PGconn *conn;
    if (now < s->next_fold_ms || s->db_down || !(conn = sender_conn(s)))
        return;
    s->next_fold_ms = now + 1000;
    int64_t rows = 0;
    char err[512];
    if (store_stats_fold(conn, &rows, err, sizeof err) != STORE_OK) {
        sender_link_failed(s, "folding the delivery rollups' change log", err);
        s->next_fold_ms = now + 60000; /* an older schema, say: not every second */
    } else if (rows > 0)
        LOG_DEBUG("folded %lld rollup change(s)", (long long)rows);
}

static void housekeeping(sender *s, int64_t now)
{
    if (now < s->next_housekeeping_ms)
        return;
    s->next_housekeeping_ms = now + 1000;
    dispatch_evict(s->disp, now);
    sender_update_gauges(s);
    rd_kafka_poll(s->dlq, 0);
    prune_check_passes(s, now);
    fold_stats(s, now);
}

typedef struct release_ctx {
    sender *s;
    int64_t *ids;
    const char **leases;
    size_t n, cap;
} release_ctx;

static bool all_jobs(void *v, void *arg)
{
    (void)v, (void)arg;
    return true;
}

static void collect_release(void *v, void *arg)
{
    job *j = v;
    release_ctx *rc = arg;
    if (j->lease[0]) {
        if (rc->n == rc->cap) {
            rc->cap = rc->cap ? rc->cap * 2 : 64;
            rc->ids = xrealloc(rc->ids, rc->cap * sizeof *rc->ids);
            rc->leases = xrealloc(rc->leases, rc->cap * sizeof *rc->leases);
        }
        rc->ids[rc->n] = j->id;
        rc->leases[rc->n++] = xstrdup(j->lease);
    }
    char k[24];
    id_key(j->id, k);
    strmap_del(rc->s->inmem, k);
    sender_job_destroy(j); /* Kafka's: offset not done, read again after a restart */
}

/* Shutdown, step 1: nothing queued is started any more. Leased retries are
 * handed back (due now, for any sender); Kafka deliveries stay unstored. */
static void drop_all_queued(sender *s)
{
    release_ctx rc = {s, NULL, NULL, 0, 0};
    size_t n = dispatch_remove_if(s->disp, all_jobs, collect_release, &rc);
    PGconn *conn = rc.n ? sender_conn(s) : NULL;
    if (conn) {
        char err[512];
        if (sender_db_release(conn, rc.ids, rc.leases, rc.n, err, sizeof err) < 0)
            sender_link_failed(s, "handing back leased retries", err);
    }
    for (size_t i = 0; i < rc.n; i++)
        free((char *)rc.leases[i]);
    free(rc.ids);
    free(rc.leases);
    if (n)
        LOG_INFO("shutdown: %zu queued deliveries left for the next run (%zu leased retries "
                 "handed back)",
                 n, rc.n);
}

/* Shutdown, step 3: requests still running after the timeout are cut; Slack
 * may have accepted them (the documented window), so they are retried. */
static void abort_flights(sender *s)
{
    while (s->flights) {
        flight *f = s->flights;
        curl_multi_remove_handle(s->multi, slack_request_easy(f->req));
        if (f->stage == STAGE_REFRESH) { /* a refresh only: no delivery waits on it */
            sender_flight_unlink(s, f);
            sender_flight_destroy(f);
            continue;
        }
        LOG_WARN("shutdown: cutting the request for delivery %lld (%zu deliveries): it may have "
                 "been posted; it will be retried",
                 (long long)f->jobs[0]->id, f->njobs);
        sender_retry_jobs(
            s, f->jobs, f->njobs, "shutdown",
            "the sender stopped before Slack answered (the message may have been posted)",
            "transient", 0);
        dispatch_release(s->disp, f->chan, true, util_now_mono_ms());
        sender_flight_unlink(s, f);
        sender_flight_destroy(f);
    }
}

/* This instance's previous run (same --instance-id) died: once, at start,
 *   - its claims are made due now rather than after their lease;
 *   - if it was alive less than RESUME_MAX_AGE_MS ago, its partitions are
 *     taken as ours until Kafka's first assignment, and their workspaces'
 *     pending deliveries are sent from PostgreSQL meanwhile: the group keeps
 *     those partitions on the dead member until its session times out (a
 *     broker honouring static membership hands them back at once; librdkafka's
 *     mock cluster does not), and nobody consumes them until then. Claims
 *     keep it exactly once when Kafka delivers the same rows afterwards.
 * A database that is down is settled by the leases running out instead. */
#define RESUME_MAX_AGE_MS 30000
static void resume_previous_run(sender *s)
{
    PGconn *conn = sender_conn(s);
    if (!conn)
        return;
    char err[512];
    long n = sender_db_settle_own(conn, s->instance_id, err, sizeof err);
    if (n < 0) {
        sender_link_failed(s, "settling this instance's previous claims", err);
        return;
    }
    s->stats.settled = n;
    LOG_INFO("instance %s: %ld delivery(ies) claimed by its previous run made due now%s",
             s->instance_id, n, n ? " (sent again: a repeat only if one was in flight)" : "");
    int32_t *parts = NULL, count = 0;
    size_t nparts = 0;
    int found = sender_db_instance_load(conn, s->cfg.group, s->instance_id, RESUME_MAX_AGE_MS,
                                        &parts, &nparts, &count, err, sizeof err);
    if (found < 0) {
        sender_link_failed(s, "reading this instance's previous partitions", err);
        return;
    }
    if (found && !s->nassigned && !s->resumed) {
        free(s->assigned);
        s->assigned = parts;
        s->nassigned = nparts;
        s->npartitions = count;
        s->resumed = true;
        s->owned_at_ms = 0;
        s->next_poll_ms = 0;
        LOG_INFO("instance %s: resuming the %zu partition(s) its previous run held until Kafka "
                 "assigns them again",
                 s->instance_id, nparts);
        return;
    }
    free(parts);
}

int sender_run(sender *s)
{
    LOG_INFO("herald-slack consuming %s as group %s; Slack API %s; pace %.3g/s burst %.3g per "
             "channel, %.3g/min per workspace",
             TOPIC_DELIVERIES, s->cfg.group, s->cfg.common.slack_api_url, s->cfg.channel_rate,
             s->cfg.channel_burst, s->cfg.workspace_rate);
    resume_previous_run(s);
    int64_t deadline = 0;
    bool drained = false, fenced = false;
    for (;;) {
        int64_t now = util_now_mono_ms();
        if (!fenced && kafka_consumer_fatal(s->rk, s->instance_id)) {
            fenced = true; /* another replica has our --instance-id */
            sender_stop(s);
        }
        if (sender_stopping(s) && !drained) {
            drained = true;
            deadline = now + s->cfg.shutdown_timeout_ms;
            LOG_INFO("stopping: intake closed, %zu request(s) in flight get up to %.1fs",
                     s->in_flight, s->cfg.shutdown_timeout_ms / 1000.0);
            drop_all_queued(s);
        }
        if (drained && (s->in_flight == 0 || now >= deadline))
            break;

        if (s->db_down)
            (void)sender_conn(s); /* reconnects when the backoff allows, never waits for it */
        if (!drained) {
            sender_consume(s, now);
            sender_poll_retries(s, now);
            sender_read_wakes(s, now);
        }
        sender_drain_multi(s);
        sender_flush_pending(s);
        if (!drained)
            sender_refresh_ready(s, now);
        int64_t wait = drained ? -1 : sender_dispatch_ready(s, now);
        sender_store_offsets(s);
        housekeeping(s, now);

        /* Sleep until a socket, a Kafka message, a stop, the pacer or a timer. */
        int64_t timeout = 1000;
        if (wait >= 0 && wait < timeout)
            timeout = wait;
        if (!drained) {
            int64_t to_poll = s->next_poll_ms - now;
            if (to_poll < timeout)
                timeout = to_poll < 0 ? 0 : to_poll;
        }
        if (s->kafka_more)
            timeout = 0;
        if (s->pending || s->db_down)
            timeout = timeout < 200 ? timeout : 200;
        if (s->refreshes && !s->pending)
            timeout = timeout < 200 ? timeout : 200; /* a refresh waiting for its turn */
        /* The database's socket too: a herald_wake notification wakes the loop. */
        PGconn *pg = s->db_down ? NULL : db_link_conn(s->db);
        int pgfd = pg ? PQsocket(pg) : -1;
        struct curl_waitfd extra[2] = {{.fd = s->wake[0], .events = CURL_WAIT_POLLIN},
                                       {.fd = pgfd, .events = CURL_WAIT_POLLIN}};
        int numfds = 0;
        curl_multi_poll(s->multi, extra, pgfd >= 0 ? 2 : 1, (int)timeout, &numfds);
    }

    abort_flights(s);
    for (int i = 0; i < 50 && s->pending; i++) {
        /* Once a second, whatever the link's backoff (which may be at its
         * 5 s cap after a long outage): the drain has only 5 s. */
        if (s->db_down && i % 10 == 0)
            db_link_hurry(s->db);
        sender_flush_pending(s);
        if (s->pending)
            usleep(100 * 1000);
    }
    if (s->pending)
        LOG_ERROR("shutdown: some outcomes could not be recorded (database unreachable): those "
                  "deliveries will be attempted again and may appear twice");
    sender_store_offsets(s);
    /* No synchronous rd_kafka_commit here: with the brokers gone it waits
     * forever. Closing the consumer commits the stored offsets (auto commit)
     * and gives up within its own timeouts. */
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(s->rk);
    if (err)
        LOG_WARN("consumer close: %s", rd_kafka_err2str(err));
    sender_update_gauges(s);
    LOG_INFO("stopped: %lld consumed, %lld sent, %lld failed, %lld retries scheduled, %lld "
             "digests (%lld folded), %lld dead-lettered",
             (long long)s->stats.consumed, (long long)s->stats.sent, (long long)s->stats.failed,
             (long long)s->stats.retries_scheduled, (long long)s->stats.digests,
             (long long)s->stats.folded, (long long)s->stats.deadlettered);
    return fenced ? 1 : 0;
}
