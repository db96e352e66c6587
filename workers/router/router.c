#include "workers/router/router.h"

#include "common/backoff.h"
#include "common/db.h"
#include "common/event.h"
#include "common/httpd.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pgarray.h"
#include "workers/router/route.h"
#include "common/strmap.h"
#include "workers/router/subscriptions.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Pipeline. Up to three batches are alive, each in its own stage:
 *   r->cur   is being collected from the consumer;
 *   r->stmt  has its statement running in PostgreSQL (sent asynchronously);
 *   r->fly   has its messages produced and awaits Kafka's acknowledgements.
 * While PostgreSQL writes batch n, batch n+1 is read and parsed; while batch
 * n's messages are encoded, produced and acknowledged, batch n+1's statement
 * runs. Batches complete (their offsets are stored) strictly in consumption
 * order, each only after everything before it is durable.
 *
 * When the database fails, the pipeline collapses: the batch that needed it
 * is retained in r->stmt (retained = true), consumption is paused, and that
 * batch is retried synchronously until the database is back.
 */

/* ======================================================================== */
/* Types                                                                     */
/* ======================================================================== */

/* Bytes of event payload one batch may hold: bounds the memory a batch and
 * its statement take, whatever batch_size says. */
#define BATCH_MAX_BYTES (32u * 1024 * 1024)

/* One consumed message of a batch. */
typedef struct bmsg {
    rd_kafka_message_t *m;
    event *ev;            /* parsed event, NULL when it is to be dead-lettered */
    char *reason;         /* dead-letter reason (malloc'd) when ev is NULL */
    char *json;           /* NUL-terminated copy of the payload, made when routed */
    char eid[37];         /* event_id in lower case (as PostgreSQL prints uuids) */
    bool dup;             /* same event_id earlier in this batch: nothing to do */
    bool pass;            /* a passing check to record (route_records_pass) */
    size_t first, nmatch; /* this attempt's matches: r->matches[first..first+nmatch) */
} bmsg;

typedef struct match {
    size_t bi;             /* index in the batch */
    const route_target *t; /* borrowed from the cache for one attempt */
} match;

struct batch;

/* One message the batch produces: a routed delivery, or a dead letter. The
 * routed payload belongs to us until its delivery report (produced without
 * COPY or FREE), so a failed one can be produced again as is. */
typedef struct outmsg {
    struct batch *owner;
    int kind;      /* OUT_ROUTED, OUT_DEADLETTER */
    int state;     /* OUT_UNSENT ... */
    size_t bi;     /* the batch message it carries */
    char *payload; /* routed: the encoded delivery, made by batch_produce */
    size_t len;
    /* routed: what the row and the target said, copied so the cache may be
     * reloaded before the delivery is encoded */
    char *key; /* the team id */
    char *destination;
    bool destination_is_email;
    int64_t delivery_id, target_id;
} outmsg;
enum { OUT_ROUTED = 0, OUT_DEADLETTER };
enum { OUT_UNSENT = 0, OUT_INFLIGHT, OUT_ACKED, OUT_FAILED };

typedef struct batch_counts {
    uint64_t routed, created, republished, published, not_notifiable, no_target, dead_lettered,
        duplicates, passes;
} batch_counts;

typedef struct batch {
    bmsg *b;
    size_t nb, capb;
    size_t bytes;
    bool retained; /* the database stage failed: kept, consumption paused */
    bool sent;     /* its statement was sent: a result is owed */
    int64_t started_ms;
    outmsg *outs;
    size_t nouts, capouts;
    size_t outstanding; /* produced, no delivery report yet */
    size_t failed;      /* reports with an error since the last (re)produce */
    batch_counts bc;
} batch;

/* Parameters of the batch statement (route_stmts), at most. */
#define ROUTE_NPARAMS 10

/* Result of one database stage. */
enum { STAGE_OK = 0, STAGE_RETRY };

/* Prometheus metrics (common/metrics.h, default registry). Counters are
 * exported from router_stats deltas in housekeeping, so the hot path takes no
 * extra lock; the histograms are observed once per batch. */
typedef struct router_metrics {
    metrics_counter *consumed; /* {topic} */
    metrics_counter *routed;
    metrics_counter *created;
    metrics_counter *republished;
    metrics_counter *published;
    metrics_counter *no_target; /* {reason} */
    metrics_counter *dead_lettered;
    metrics_counter *duplicates;
    metrics_counter *passes;
    metrics_counter *db_errors;
    metrics_counter *abandoned;
    metrics_counter *cache_loads; /* {kind} */
    metrics_histogram *batch_size;
    metrics_histogram *batch_seconds;
    metrics_gauge *lag; /* {topic} */
    metrics_gauge *db_up;
    metrics_gauge *cache_targets;
    metrics_gauge *cache_tenants;
    metrics_gauge *partitions;
} router_metrics;

struct router {
    router_config cfg;
    char *brokers, *database_url, *group, *metrics_addr;

    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    atomic_int stop;

    /* database */
    PGconn *db;
    int64_t db_next_attempt_ms; /* util_now_mono_ms() of the next connect attempt */
    int64_t db_backoff_ms;
    bool db_outage_logged;
    int64_t last_idle_sync_ms;

    subs *subs;

    /* the pipeline */
    batch slots[3];
    batch *cur;  /* being collected */
    batch *stmt; /* statement running, or retained while the database is away; or NULL */
    batch *fly;  /* awaiting acknowledgements, or NULL */
    bool paused;

    /* scratch of one database stage */
    match *matches;
    size_t nmatches, capmatches;
    size_t npasses; /* passing checks to record */
    size_t *route_idx;
    size_t cap_route_idx;
    uint32_t *eid_slots; /* open-addressing map event_id -> batch index + 1 */
    size_t neid_slots;
    strbuf params[ROUTE_NPARAMS];

    /* statistics */
    pthread_mutex_t stats_mu;
    router_stats stats;
    router_stats last_summary;
    router_stats last_export;
    subs_stats last_subs_export;
    router_metrics m;
    httpd *http;
    int64_t lag_by_topic[2]; /* checks, collections */
    int partitions;
    int64_t next_summary_ms;
    int64_t next_lag_ms;
    int64_t dl_log_window_end; /* dead-letter log lines: at most 20 per 10 s */
    int dl_log_count;
    uint64_t dl_log_suppressed;
};

/* ======================================================================== */
/* Small helpers                                                             */
/* ======================================================================== */

static bool stopping(router *r)
{
    return atomic_load(&r->stop) != 0 || util_should_stop();
}

static void stats_add(router *r, void (*fn)(router_stats *, const void *), const void *arg)
{
    pthread_mutex_lock(&r->stats_mu);
    fn(&r->stats, arg);
    pthread_mutex_unlock(&r->stats_mu);
}

static void add_db_error(router_stats *s, const void *arg)
{
    (void)arg;
    s->db_errors++;
}

static void add_statement(router_stats *s, const void *arg)
{
    (void)arg;
    s->statements++;
}

static void add_abandoned(router_stats *s, const void *arg)
{
    s->abandoned += *(const size_t *)arg;
}

/* ======================================================================== */
/* Configuration                                                             */
/* ======================================================================== */

void router_config_defaults(router_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->brokers = "localhost:9092";
    cfg->database_url = "";
    cfg->group = "herald-router";
    cfg->batch_size = 500;
    cfg->batch_wait_ms = 50;
    cfg->cache_refresh_seconds = 60;
    cfg->summary_seconds = 30;
    cfg->shutdown_timeout_ms = 10000;
}

/* ======================================================================== */
/* Kafka                                                                     */
/* ======================================================================== */

/* Delivery reports: served by rd_kafka_poll(producer) on the router thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    outmsg *o = m->_private;
    if (!o)
        return;
    batch *b = o->owner;
    if (b->outstanding > 0)
        b->outstanding--;
    if (m->err) {
        o->state = OUT_FAILED;
        b->failed++;
        LOG_WARN("%s message not acknowledged: %s",
                 o->kind == OUT_ROUTED ? TOPIC_DELIVERIES : TOPIC_DEADLETTER,
                 rd_kafka_err2str(m->err));
    } else {
        o->state = OUT_ACKED;
    }
}

/*
 * Dead letters carry the outmsg as their opaque so the acknowledgement is
 * tracked with the batch it belongs to.
 */
static rd_kafka_resp_err_t produce_deadletter(router *r, outmsg *o, const bmsg *bm)
{
    const rd_kafka_message_t *msg = bm->m;
    rd_kafka_resp_err_t err = kafka_deadletter_produce(r->producer, msg, bm->reason, o);
    if (err)
        return err;
    /* One line per dead letter, but not a flood: a producer gone wrong can
     * send thousands; the summary line counts them all. */
    int64_t now = util_now_mono_ms();
    if (now >= r->dl_log_window_end) {
        if (r->dl_log_suppressed)
            LOG_WARN("... %llu more dead letter(s) not logged one by one",
                     (unsigned long long)r->dl_log_suppressed);
        r->dl_log_window_end = now + 10000;
        r->dl_log_count = 0;
        r->dl_log_suppressed = 0;
    }
    if (r->dl_log_count++ < 20)
        LOG_WARN("dead-lettered %s [%d] @%lld: %s", rd_kafka_topic_name(msg->rkt),
                 (int)msg->partition, (long long)msg->offset, bm->reason);
    else
        r->dl_log_suppressed++;
    return err;
}

static void batch_drop_partitions(router *r, batch *b,
                                  const rd_kafka_topic_partition_list_t *parts);
static void pipeline_drain(router *r);
static void set_paused(router *r, bool pause);

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    router *r = opaque;
    bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        LOG_INFO("partitions assigned: %d (%s)", parts->cnt, coop ? "incremental" : "eager");
        for (int i = 0; i < parts->cnt; i++)
            LOG_DEBUG("assigned %s [%d]", parts->elems[i].topic, (int)parts->elems[i].partition);
        /* While the database is away new partitions stay paused too; otherwise
         * every assigned partition is read (kafka_rebalance_apply sets the
         * pause flag explicitly: librdkafka keeps it across a revoke). */
        kafka_rebalance_apply(rk, parts, true, r->paused);
        r->partitions = coop ? r->partitions + parts->cnt : parts->cnt;
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: {
        bool lost = rd_kafka_assignment_lost(rk);
        LOG_INFO("partitions revoked: %d%s", parts->cnt, lost ? " (lost)" : "");
        /* Batches past the database have their rows committed: finish them
         * (statement result, produce, acknowledgements, offsets) while the
         * partitions are still ours. A batch being collected, or retained
         * while the database is away, has done nothing durable: hand back
         * what came from the revoked partitions; the new owner reads it
         * again. Nothing is left half-committed either way. */
        pipeline_drain(r);
        if (r->stmt) {
            batch_drop_partitions(r, r->stmt, parts);
            if (r->stmt->nb == 0)
                r->stmt = NULL;
        }
        batch_drop_partitions(r, r->cur, parts);
        if (!lost) {
            /* Commit what is stored now, so the next owner starts right after
             * the last batch we completed instead of at the last auto-commit.
             * Asynchronously: with the brokers gone a synchronous commit waits
             * a whole group session timeout (45 s), which stalled shutdown;
             * a commit that does not land only means a re-read, and routing
             * is idempotent. */
            rd_kafka_resp_err_t ce = rd_kafka_commit(rk, NULL, 1);
            if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
                LOG_WARN("commit on revoke: %s", rd_kafka_err2str(ce));
        }
        kafka_rebalance_apply(rk, parts, false, false);
        r->partitions = coop ? r->partitions - parts->cnt : 0;
        break;
    }
    default:
        LOG_ERROR("rebalance failed: %s", rd_kafka_err2str(err));
        pipeline_drain(r);
        if (r->stmt) {
            batch_drop_partitions(r, r->stmt, NULL);
            r->stmt = NULL;
        }
        batch_drop_partitions(r, r->cur, NULL);
        r->partitions = 0;
        kafka_rebalance_apply(rk, parts, false, false);
        break;
    }
}

/*
 * The consumer: offsets are stored by hand once a batch is durable and
 * committed in the background from what is stored (and synchronously on
 * revoke/close). Each default yields to the operator's HERALD_KAFKA_*; the
 * caller's consumer_props come last.
 */
static rd_kafka_t *consumer_new(router *r, const char *const *extra, char *errstr,
                                size_t errstr_size)
{
    static const char *const defaults[] = {"auto.commit.interval.ms", "1000",
                                           /* Cooperative rebalancing: adding a router moves only
                                            * the partitions it takes; the others keep flowing. */
                                           "partition.assignment.strategy", "cooperative-sticky"};
    static const char *const topics[] = {TOPIC_CHECKS, TOPIC_COLLECTIONS, NULL};
    size_t nextra = 0;
    while (extra && extra[nextra] && extra[nextra + 1])
        nextra += 2;
    size_t n = ARRAY_LEN(defaults);
    const char **props = xmalloc((n + nextra + 1) * sizeof *props);
    memcpy(props, defaults, sizeof defaults);
    for (size_t i = 0; i < nextra; i++)
        props[n + i] = extra[i];
    props[n + nextra] = NULL;
    rd_kafka_t *rk = kafka_consumer_new(r->brokers, r->group, topics, props, on_rebalance, r,
                                        errstr, errstr_size);
    free(props);
    return rk;
}

/*
 * The idempotent producer of kafka.h's contract (acks=all, no duplicates or
 * reordering from internal retries), tuned for the batch: a batch's messages
 * are all produced at once and then waited for, so lingering only adds
 * latency to every batch.
 */
static rd_kafka_t *producer_new(router *r, char *errstr, size_t errstr_size)
{
    static const char *const props[] = {"linger.ms", "0", NULL};
    return kafka_producer_new_props(r->brokers, props, on_delivery, r, errstr, errstr_size);
}

static void set_paused(router *r, bool pause)
{
    if (r->paused == pause)
        return;
    kafka_pause_assigned(r->consumer, pause);
    r->paused = pause;
    LOG_INFO("consumption %s", pause ? "paused" : "resumed");
}

/* ======================================================================== */
/* Batches                                                                   */
/* ======================================================================== */

static void bmsg_dispose(bmsg *bm)
{
    if (bm->m)
        rd_kafka_message_destroy(bm->m);
    event_destroy(bm->ev);
    free(bm->reason);
    free(bm->json);
    memset(bm, 0, sizeof *bm);
}

static void outs_clear(batch *b)
{
    for (size_t i = 0; i < b->nouts; i++) {
        free(b->outs[i].payload);
        free(b->outs[i].key);
        free(b->outs[i].destination);
    }
    b->nouts = 0;
    b->outstanding = 0;
    b->failed = 0;
}

/* Empties b, keeping its buffers. Only for a batch with nothing in flight. */
static void batch_reset(batch *b)
{
    for (size_t i = 0; i < b->nb; i++)
        bmsg_dispose(&b->b[i]);
    outs_clear(b);
    b->nb = 0;
    b->bytes = 0;
    b->retained = false;
    b->sent = false;
    memset(&b->bc, 0, sizeof b->bc);
}

static void batch_free(batch *b)
{
    batch_reset(b);
    free(b->b);
    free(b->outs);
    memset(b, 0, sizeof *b);
}

/* Hands back (drops, unstored) the messages of the given partitions, or all
 * of them when parts is NULL. For the batch being collected or retained,
 * which has produced nothing yet; a batch in flight is dropped whole (when
 * its partitions are lost, its acknowledgements no longer matter: its
 * offsets cannot be stored, and the new owner redoes it idempotently). */
static void batch_drop_partitions(router *r, batch *b, const rd_kafka_topic_partition_list_t *parts)
{
    size_t kept = 0, dropped = 0;
    if (!parts && b->outstanding > 0) {
        /* wait for the reports so no callback points at freed memory */
        rd_kafka_flush(r->producer, (int)r->cfg.shutdown_timeout_ms);
        if (b->outstanding > 0) {
            rd_kafka_purge(r->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_flush(r->producer, 1000);
        }
    }
    for (size_t i = 0; i < b->nb; i++) {
        bmsg *bm = &b->b[i];
        bool drop = !parts;
        if (parts) {
            const char *topic = rd_kafka_topic_name(bm->m->rkt);
            drop = rd_kafka_topic_partition_list_find(parts, topic, bm->m->partition) != NULL;
        }
        if (drop) {
            bmsg_dispose(bm);
            dropped++;
        } else {
            b->b[kept++] = *bm;
        }
    }
    b->nb = kept;
    b->bytes = 0;
    for (size_t i = 0; i < b->nb; i++)
        b->bytes += b->b[i].m->len;
    if (!parts)
        batch_reset(b);
    if (b->nb == 0)
        b->retained = false;
    if (dropped) {
        LOG_INFO("handed back %zu unfinished message(s) of revoked partitions", dropped);
        stats_add(r, add_abandoned, &dropped);
    }
}

static void add_consumed(router_stats *s, const void *arg)
{
    const rd_kafka_message_t *m = arg;
    s->consumed++;
    if (!strcmp(rd_kafka_topic_name(m->rkt), TOPIC_COLLECTIONS))
        s->consumed_collections++;
    else
        s->consumed_checks++;
}

/* Takes ownership of m: parses it once, on intake. */
static void batch_add(router *r, batch *b, rd_kafka_message_t *m)
{
    if (b->nb == b->capb) {
        b->capb = b->capb ? b->capb * 2 : 256;
        b->b = xrealloc(b->b, b->capb * sizeof *b->b);
    }
    bmsg *bm = &b->b[b->nb++];
    memset(bm, 0, sizeof *bm);
    bm->m = m;
    b->bytes += m->len;
    if (b->nb == 1)
        b->started_ms = util_now_mono_ms();
    stats_add(r, add_consumed, m);

    const char *topic = rd_kafka_topic_name(m->rkt);
    event_kind kind = !strcmp(topic, TOPIC_COLLECTIONS) ? EVENT_COLLECTION : EVENT_CHECK_RESULT;
    char err[512];
    if (!m->payload || m->len == 0) {
        bm->reason = xstrdup("(event): empty message");
    } else if (event_parse((const char *)m->payload, m->len, kind, &bm->ev, err, sizeof err)) {
        bm->ev = NULL;
        bm->reason = xstrdup(err);
    } else {
        for (size_t i = 0; i < 37; i++)
            bm->eid[i] = (char)tolower((unsigned char)bm->ev->event_id[i]);
        LOG_DEBUG("consumed %s [%d] @%lld: event %s tenant %s", topic, (int)m->partition,
                  (long long)m->offset, bm->eid, bm->ev->tenant_id);
    }
    if (bm->reason)
        LOG_DEBUG("consumed %s [%d] @%lld: malformed: %s", topic, (int)m->partition,
                  (long long)m->offset, bm->reason);
}

static bool stage_ready(router *r, const batch *b);

/* With no statement running, a batch closes once no event came for this
 * long: the rest of a fetch is in the consumer's queue by then. */
#define BATCH_QUIET_MS 2

/*
 * Intake into r->cur: up to batch_size messages, or what arrives within
 * batch_wait_ms of the first one. Batches are only as large as the load
 * makes them: while a statement runs, the next batch fills until its result
 * is in (returning early then: PostgreSQL should not idle); with none
 * running, waiting for more events would only delay the ones held, so the
 * batch closes as soon as the consumer has nothing more at hand
 * (BATCH_QUIET_MS). A lightly loaded router so adds a few milliseconds, a busy
 * one still writes full batches. Also returns when the batch in flight has
 * all its acknowledgements and nothing new is coming, and after about 100 ms
 * when nothing arrives (so housekeeping keeps going while idle).
 */
static void batch_collect(router *r)
{
    batch *b = r->cur;
    int64_t deadline = b->nb ? b->started_ms + r->cfg.batch_wait_ms : 0;
    int64_t idle_end = util_now_mono_ms() + 100;
    int64_t next_check = 0;
    while ((long)b->nb < r->cfg.batch_size && b->bytes < BATCH_MAX_BYTES && !stopping(r)) {
        int timeout;
        bool close_when_quiet = false;
        int64_t now = util_now_mono_ms();
        batch *st = r->stmt && !r->stmt->retained ? r->stmt : NULL;
        if (now >= next_check) {
            next_check = now + 2;
            if (st && stage_ready(r, st))
                return;
            if (!st && b->nb == 0 && r->fly) {
                rd_kafka_poll(r->producer, 0);
                if (r->fly->outstanding == 0)
                    return; /* complete it now rather than at the next event */
            }
        }
        if (b->nb == 0) {
            if (st || r->fly || r->stmt) {
                timeout = 2;
            } else {
                if (now >= idle_end)
                    return;
                timeout = (int)(idle_end - now);
            }
        } else {
            if (now >= deadline)
                break;
            timeout = (int)(deadline - now);
            if (st) {
                if (timeout > 2)
                    timeout = 2;
            } else if (!r->stmt) {
                close_when_quiet = true;
                if (timeout > BATCH_QUIET_MS)
                    timeout = BATCH_QUIET_MS;
            }
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, timeout);
        if (!m) {
            if (close_when_quiet)
                break;
            continue;
        }
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                LOG_DEBUG("end of partition");
            else
                LOG_WARN("consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        batch_add(r, b, m);
        if (b->nb == 1)
            deadline = b->started_ms + r->cfg.batch_wait_ms;
    }
}

/* ======================================================================== */
/* Database                                                                  */
/* ======================================================================== */

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

/* libpq prints server notices (such as the FATAL sent before a restart) on
 * stderr by default; keep them in the log instead. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    size_t n = strlen(message);
    while (n && (message[n - 1] == '\n' || message[n - 1] == ' '))
        n--;
    LOG_DEBUG("database notice: %.*s", (int)n, message);
}

static void db_drop(router *r)
{
    if (r->db)
        PQfinish(r->db);
    r->db = NULL;
}

/* A failure that is the database's state, not the data's: drop the
 * connection, pause, reconnect with backoff. */
static void db_failed(router *r, const char *what, const char *why)
{
    /* why is one line: every message comes through db_error (common/db.h) */
    stats_add(r, add_db_error, NULL);
    if (!r->db_outage_logged) {
        LOG_WARN("database unavailable (%s: %s): pausing consumption, retrying", what, why);
        r->db_outage_logged = true;
    } else {
        LOG_DEBUG("database still unavailable (%s: %s)", what, why);
    }
    db_drop(r);
    r->db_backoff_ms = r->db_backoff_ms ? r->db_backoff_ms * 2 : 100;
    if (r->db_backoff_ms > 5000)
        r->db_backoff_ms = 5000;
    /* jitter: several routers should not reconnect in lockstep */
    int64_t jitter = (int64_t)(backoff_random() * (double)r->db_backoff_ms / 4.0);
    r->db_next_attempt_ms = util_now_mono_ms() + r->db_backoff_ms + jitter;
}

/* True when the connection is usable (connecting if due). */
static bool db_ready(router *r)
{
    if (r->db && PQstatus(r->db) == CONNECTION_OK)
        return true;
    if (r->db)
        db_drop(r);
    if (util_now_mono_ms() < r->db_next_attempt_ms)
        return false;
    char err[512];
    r->db = db_connect(r->database_url, err, sizeof err);
    if (!r->db) {
        db_failed(r, "connect", err);
        return false;
    }
    PQsetNoticeProcessor(r->db, on_notice, NULL);
    /* The batch statement's plan does not depend on its array parameters:
     * plan it once instead of for every batch. */
    PGresult *set = PQexec(r->db, "SET plan_cache_mode = force_generic_plan");
    PQclear(set);
    for (size_t i = 0; i < ARRAY_LEN(route_stmts); i++) {
        PGresult *res =
            PQprepare(r->db, route_stmts[i].name, route_stmts[i].sql, route_stmts[i].nparams, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            char msg[512];
            db_message(r->db, res, msg, sizeof msg);
            PQclear(res);
            db_failed(r, "prepare", msg);
            return false;
        }
        PQclear(res);
    }
    /* Reconnected: notifications sent while we were away are lost, so the
     * cache is reloaded whole. */
    if (subs_attach(r->subs, r->db, err, sizeof err)) {
        db_failed(r, "subscriptions", err);
        return false;
    }
    subs_stats ss;
    subs_get_stats(r->subs, &ss);
    LOG_INFO("database connected; subscriptions: %zu target(s) of %zu tenant(s)", ss.targets,
             ss.tenants);
    r->db_backoff_ms = 0;
    r->db_outage_logged = false;
    r->last_idle_sync_ms = util_now_mono_ms();
    return true;
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

/* ======================================================================== */
/* Processing                                                                */
/* ======================================================================== */

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

typedef struct db_result {
    PGresult *res;   /* rows to publish, or NULL */
    bool data_error; /* the statement failed because of the data */
    char msg[512];
} db_result;

/* Runs the statement for batch entries [from, to). Returns 0 with out->res
 * set, or -1: out->data_error tells whether to blame the data. */
static int run_statement(router *r, batch *b, size_t from, size_t to, db_result *out)
{
    stmt_args a;
    build_params(r, b, from, to, &a);
    PGresult *res = PQexecPrepared(r->db, a.name, a.n, a.vals, a.lengths, a.formats, 0);
    out->res = NULL;
    out->data_error = false;
    out->msg[0] = '\0';
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        out->res = res;
        return 0;
    }
    db_message(r->db, res, out->msg, sizeof out->msg);
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    out->data_error = PQstatus(r->db) == CONNECTION_OK && sqlstate_is_data_error(st);
    PQclear(res);
    return -1;
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

/* Encodes a routed delivery (schema herald.routed_delivery.v1). */
static bool out_encode(batch *b, outmsg *o, int64_t now)
{
    bmsg *bm = &b->b[o->bi];
    if (!bm->json) {
        bm->json = xmalloc(bm->m->len + 1);
        memcpy(bm->json, bm->m->payload, bm->m->len);
        bm->json[bm->m->len] = '\0';
    }
    routed_delivery d;
    memset(&d, 0, sizeof d);
    d.delivery_id = o->delivery_id;
    memcpy(d.event_id, bm->ev->event_id, sizeof d.event_id);
    d.target_id = o->target_id;
    d.tenant_id = bm->ev->tenant_id;
    d.team_id = o->key;
    d.destination = o->destination;
    d.destination_is_email = o->destination_is_email;
    d.kind = bm->ev->kind;
    d.event_json = bm->json;
    d.routed_at_ms = now;
    o->payload = routed_delivery_encode(&d);
    if (!o->payload) {
        /* cannot happen for an event that parsed: the row stays pending and
         * is published again when the event is consumed again */
        LOG_ERROR("delivery %lld: cannot encode the routed delivery", (long long)o->delivery_id);
        return false;
    }
    o->len = strlen(o->payload);
    return true;
}

/* Produces every out of b not acknowledged or in flight. */
static void batch_produce(router *r, batch *b)
{
    b->failed = 0;
    int64_t now = util_now_wall_ms();
    for (size_t i = 0; i < b->nouts; i++) {
        outmsg *o = &b->outs[i];
        if (o->state == OUT_ACKED || o->state == OUT_INFLIGHT)
            continue;
        if (o->kind == OUT_ROUTED && !o->payload && !out_encode(b, o, now)) {
            o->state = OUT_ACKED; /* nothing to send: see out_encode */
            continue;
        }
        for (;;) {
            rd_kafka_resp_err_t err;
            if (o->kind == OUT_DEADLETTER)
                err = produce_deadletter(r, o, &b->b[o->bi]);
            else
                err = rd_kafka_producev(
                    r->producer, RD_KAFKA_V_TOPIC(TOPIC_DELIVERIES),
                    RD_KAFKA_V_KEY(o->key, strlen(o->key)), RD_KAFKA_V_VALUE(o->payload, o->len),
                    RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_OPAQUE(o), RD_KAFKA_V_END);
            if (!err) {
                o->state = OUT_INFLIGHT;
                b->outstanding++;
                break;
            }
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || stopping(r)) {
                LOG_WARN("produce: %s", rd_kafka_err2str(err));
                o->state = OUT_FAILED;
                b->failed++;
                break;
            }
            rd_kafka_poll(r->producer, 10); /* the local queue is full: let it drain */
        }
    }
}

/* An idempotent producer that hit a fatal error is unusable: replace it.
 * Whatever it had not delivered is reported failed and produced again. */
static void producer_replace(router *r)
{
    char err[512];
    if (!rd_kafka_fatal_error(r->producer, err, sizeof err))
        return;
    LOG_ERROR("producer fatal error (%s): starting a new producer", err);
    rd_kafka_t *p = producer_new(r, err, sizeof err);
    if (!p) {
        LOG_ERROR("cannot create a producer: %s", err);
        return;
    }
    rd_kafka_purge(r->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(r->producer, 5000); /* serves the (failed) reports */
    rd_kafka_destroy(r->producer);
    r->producer = p;
}

/* Stores, per partition, the offset after the batch's last message. */
static void store_offsets(router *r, batch *b)
{
    if (b->nb == 0)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < b->nb; i++) {
        const rd_kafka_message_t *m = b->b[i].m;
        const char *topic = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(l, topic, m->partition);
        if (!p)
            p = rd_kafka_topic_partition_list_add(l, topic, m->partition);
        if (m->offset + 1 > p->offset)
            p->offset = m->offset + 1;
    }
    if (rd_kafka_offsets_store(r->consumer, l)) {
        for (int i = 0; i < l->cnt; i++) {
            if (l->elems[i].err)
                LOG_WARN("store offset %s [%d] @%lld: %s", l->elems[i].topic,
                         (int)l->elems[i].partition, (long long)l->elems[i].offset,
                         rd_kafka_err2str(l->elems[i].err));
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void add_batch(router_stats *s, const void *arg)
{
    const batch_counts *c = arg;
    s->routed += c->routed;
    s->deliveries_created += c->created;
    s->deliveries_republished += c->republished;
    s->deliveries_published += c->published;
    s->not_notifiable += c->not_notifiable;
    s->no_target += c->no_target;
    s->dead_lettered += c->dead_lettered;
    s->duplicates += c->duplicates;
    s->passes_recorded += c->passes;
    s->batches++;
}

/*
 * Waits until every message b produced is acknowledged, producing again what
 * failed, then stores b's offsets and empties b. Returns 0, or -1 when
 * stopping and the shutdown timeout ran out: then b is handed back (emptied
 * without storing its offsets; it is consumed again).
 */
static int batch_complete(router *r, batch *b)
{
    int64_t deadline = 0;
    int64_t next_warn = util_now_mono_ms() + 10000;
    for (;;) {
        while (b->outstanding > 0) {
            rd_kafka_poll(r->producer, 5);
            int64_t now = util_now_mono_ms();
            if (stopping(r)) {
                if (!deadline)
                    deadline = now + r->cfg.shutdown_timeout_ms;
                else if (now >= deadline)
                    goto abandon;
            }
            if (now >= next_warn) {
                LOG_WARN("waiting for Kafka to acknowledge %zu message(s)", b->outstanding);
                next_warn = now + 30000;
            }
        }
        if (!b->failed)
            break;
        if (stopping(r))
            goto abandon;
        LOG_WARN("%zu message(s) not acknowledged: producing them again", b->failed);
        producer_replace(r);
        rd_kafka_poll(r->producer, 500); /* a short pause before trying again */
        batch_produce(r, b);
    }
    store_offsets(r, b);
    b->bc.published = 0;
    for (size_t i = 0; i < b->nouts; i++)
        b->bc.published += b->outs[i].kind == OUT_ROUTED;
    stats_add(r, add_batch, &b->bc);
    if (r->m.batch_size) {
        metrics_histogram_observe(r->m.batch_size, NULL, (double)b->nb);
        metrics_histogram_observe(r->m.batch_seconds, NULL,
                                  (double)(util_now_mono_ms() - b->started_ms) / 1000.0);
    }
    LOG_DEBUG("batch of %zu done in %lld ms: %llu routed, %llu deliveries (%llu new), %llu "
              "dead-lettered",
              b->nb, (long long)(util_now_mono_ms() - b->started_ms),
              (unsigned long long)b->bc.routed, (unsigned long long)b->bc.published,
              (unsigned long long)b->bc.created, (unsigned long long)b->bc.dead_lettered);
    batch_reset(b);
    return 0;
abandon : {
    size_t n = b->nb;
    LOG_WARN("stopping: %zu message(s) not acknowledged in time; their %zu event(s) are "
             "handed back",
             b->outstanding, n);
    batch_drop_partitions(r, b, NULL);
    return -1;
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
        if (run_statement(r, b, i, i + 1, &one) == 0) {
            collect_outs(r, b, one.res);
            PQclear(one.res);
            continue;
        }
        if (!one.data_error) {
            db_failed(r, "route", one.msg);
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

/*
 * First half of the database stage of b: route it through the cache and send
 * its statement without waiting (the result is read by stage_finish). Does
 * nothing durable. STAGE_RETRY: the database is away.
 */
static int stage_begin(router *r, batch *b)
{
    outs_clear(b);
    memset(&b->bc, 0, sizeof b->bc);
    b->sent = false;
    eid_map_build(r, b);
    if (batch_needs_db(r, b)) {
        if (!db_ready(r))
            return STAGE_RETRY;
        char err[512];
        if (subs_sync(r->subs, r->db, err, sizeof err)) {
            db_failed(r, "subscriptions", err);
            return STAGE_RETRY;
        }
    }
    route_batch(r, b);
    if (r->nmatches == 0 && r->npasses == 0)
        return STAGE_OK;
    stmt_args a;
    build_params(r, b, 0, b->nb, &a);
    if (!PQsendQueryPrepared(r->db, a.name, a.n, a.vals, a.lengths, a.formats, 0)) {
        char msg[512];
        db_message(r->db, NULL, msg, sizeof msg);
        db_failed(r, "route", msg);
        return STAGE_RETRY;
    }
    b->sent = true;
    stats_add(r, add_statement, NULL);
    return STAGE_OK;
}

/* True when stage_finish(b) would not wait for PostgreSQL. */
static bool stage_ready(router *r, const batch *b)
{
    if (!b->sent || !r->db)
        return true;
    if (!PQconsumeInput(r->db))
        return true; /* the connection failed: stage_finish says so */
    return !PQisBusy(r->db);
}

/*
 * Second half: reads the statement's result (waiting for it), turns the rows
 * into routed deliveries and adds the dead letters. The routing of b must be
 * the last one done (r->matches). STAGE_RETRY: the database failed; nothing
 * was produced and b is to be retried whole.
 */
static int stage_finish(router *r, batch *b)
{
    if (b->sent) {
        b->sent = false;
        PGresult *res = PQgetResult(r->db);
        PGresult *extra;
        while ((extra = PQgetResult(r->db)) != NULL)
            PQclear(extra);
        db_result all = {0};
        if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
            collect_outs(r, b, res);
            PQclear(res);
        } else {
            db_message(r->db, res, all.msg, sizeof all.msg);
            const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
            all.data_error = PQstatus(r->db) == CONNECTION_OK && sqlstate_is_data_error(st);
            PQclear(res);
            if (!all.data_error) {
                db_failed(r, "route", all.msg);
                outs_clear(b);
                return STAGE_RETRY;
            }
            /* One bad event must not block the partition: find it by running
             * the events one by one (the good ones' rows are committed; a
             * retry finds them and publishes them, idempotently). */
            LOG_WARN("batch rejected by the database (%s): retrying event by event", all.msg);
            outs_clear(b);
            memset(&b->bc, 0, sizeof b->bc);
            if (isolate_bad_events(r, b) != STAGE_OK) {
                outs_clear(b);
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
static int stage_sync(router *r, batch *b)
{
    if (stage_begin(r, b) != STAGE_OK || stage_finish(r, b) != STAGE_OK)
        return STAGE_RETRY;
    return STAGE_OK;
}

/* ======================================================================== */
/* Housekeeping                                                              */
/* ======================================================================== */

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

static void log_summary(router *r, bool force)
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
    s->db_connected = r->db != NULL && PQstatus(r->db) == CONNECTION_OK;
    subs_stats ss;
    subs_get_stats(r->subs, &ss);
    s->cache_tenants = ss.tenants;
    s->cache_targets = ss.targets;
}

static void set_lag(router_stats *s, const void *arg)
{
    s->lag = *(const int64_t *)arg;
}

static void metrics_init(router_metrics *m)
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

static void metrics_export(router *r)
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
static bool router_health(void *arg, char *reason, size_t reason_size)
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

static void housekeeping(router *r)
{
    int64_t now = util_now_mono_ms();
    /* Idle: keep the notification queue drained and notice a lost database
     * before the next event needs it. */
    if (!r->stmt && r->cur->nb == 0 && now - r->last_idle_sync_ms >= 1000) {
        r->last_idle_sync_ms = now;
        if (db_ready(r)) {
            char err[512];
            if (subs_sync(r->subs, r->db, err, sizeof err))
                db_failed(r, "subscriptions", err);
        }
    }
    if (now >= r->next_lag_ms) {
        int64_t lag = consumer_lag(r);
        stats_add(r, set_lag, &lag);
        r->next_lag_ms = now + 5000;
    }
    stats_add(r, set_db_state, r);
    metrics_export(r);
    if (r->cfg.summary_seconds > 0 && now >= r->next_summary_ms) {
        log_summary(r, false);
        r->next_summary_ms = now + r->cfg.summary_seconds * 1000;
    }
}

/* ======================================================================== */
/* Public                                                                    */
/* ======================================================================== */

router *router_new(const router_config *cfg, char *errstr, size_t errstr_size)
{
    if (cfg->batch_size < 1 || cfg->batch_wait_ms < 0 || !cfg->group || !*cfg->group) {
        snprintf(errstr, errstr_size, "router: invalid configuration");
        return NULL;
    }
    char *pqerr = NULL;
    PQconninfoOption *ci = PQconninfoParse(cfg->database_url ? cfg->database_url : "", &pqerr);
    if (!ci) {
        snprintf(errstr, errstr_size, "database URL: %s", pqerr ? pqerr : "invalid");
        size_t n = strlen(errstr);
        while (n && errstr[n - 1] == '\n')
            errstr[--n] = '\0';
        PQfreemem(pqerr);
        return NULL;
    }
    PQconninfoFree(ci);

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

    r->producer = producer_new(r, errstr, errstr_size);
    if (!r->producer)
        goto fail;
    r->consumer = consumer_new(r, cfg->consumer_props, errstr, errstr_size);
    if (!r->consumer)
        goto fail;
    metrics_init(&r->m);
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
    return batch_complete(r, f);
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
        if (stage_finish(r, s) == STAGE_OK) {
            batch_produce(r, s);
            complete_fly(r);
            r->stmt = NULL;
            r->fly = s;
        } else {
            s->retained = true;
            set_paused(r, true);
        }
    }
    complete_fly(r);
}

/* The batch retained while the database was away gets another try. */
static void retry_retained(router *r)
{
    batch *s = r->stmt;
    if (stage_sync(r, s) != STAGE_OK)
        return;
    s->retained = false;
    batch_produce(r, s);
    complete_fly(r);
    r->stmt = NULL;
    r->fly = s;
    set_paused(r, false);
}

int router_run(router *r)
{
    LOG_INFO("routing %s and %s in group %s (batches of %ld within %ld ms)", TOPIC_CHECKS,
             TOPIC_COLLECTIONS, r->group, r->cfg.batch_size, r->cfg.batch_wait_ms);
    r->next_summary_ms = util_now_mono_ms() + r->cfg.summary_seconds * 1000;
    /* Connect now so a bad URL or a missing schema shows at startup; a
     * database that is down is waited for. */
    db_ready(r);
    /* Warm the producer up (connection, producer id, the deliveries topic's
     * partitions) while the group is being joined, not on the first batch. */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->producer, TOPIC_DELIVERIES, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rkt && rd_kafka_metadata(r->producer, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    bool abandoned = false;
    while (!stopping(r) && !abandoned) {
        housekeeping(r);
        if (r->stmt && r->stmt->retained) {
            /* Degraded: consumption is paused; serve rebalances (a revoke
             * hands the retained messages back) until the next try is due. */
            rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, 100);
            if (m && !m->err)
                batch_add(r, r->cur, m); /* fetched before the pause took effect */
            else if (m)
                rd_kafka_message_destroy(m);
            if (complete_fly(r))
                abandoned = true;
            if (r->stmt && r->stmt->retained && util_now_mono_ms() >= r->db_next_attempt_ms)
                retry_retained(r);
            else if (!r->stmt)
                set_paused(r, false); /* handed back on a revoke */
            continue;
        }
        batch_collect(r);
        batch *s = r->stmt, *c = r->cur;
        if (s && s->retained)
            continue; /* a revoke found the database gone: degraded from here */
        if (s) {
            /* s's statement ran while c was collected: take its result,
             * start c's statement, and produce s's messages meanwhile. */
            if (stage_finish(r, s) != STAGE_OK) {
                s->retained = true;
                set_paused(r, true);
                continue;
            }
            bool c_staged = false;
            if (c->nb > 0) {
                if (stage_begin(r, c) == STAGE_OK)
                    c_staged = true;
                else
                    c->retained = true;
            }
            batch_produce(r, s);
            if (complete_fly(r))
                abandoned = true;
            r->fly = s;
            r->stmt = NULL;
            if (c_staged || c->retained) {
                r->stmt = c;
                r->cur = free_slot(r);
                if (c->retained)
                    set_paused(r, true);
            }
            continue;
        }
        if (c->nb > 0) {
            if (stage_begin(r, c) != STAGE_OK) {
                c->retained = true;
                set_paused(r, true);
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
        if (!r->stmt && c->nb > 0 && stage_sync(r, c) == STAGE_OK) {
            batch_produce(r, c);
            batch_complete(r, c);
        }
    }
    batch *left[2] = {r->stmt, r->cur};
    for (int i = 0; i < 2; i++) {
        if (left[i] && left[i]->nb > 0) {
            LOG_WARN("stopping with %zu unfinished message(s): handed back to the group",
                     left[i]->nb);
            batch_drop_partitions(r, left[i], NULL);
        }
    }
    if (r->fly)
        batch_drop_partitions(r, r->fly, NULL);
    r->stmt = r->fly = NULL;
    if (r->db && PQtransactionStatus(r->db) == PQTRANS_ACTIVE)
        db_drop(r); /* a statement abandoned mid-way: its result is not wanted */
    LOG_INFO("closing consumer (committing stored offsets)");
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(r->consumer);
    if (err)
        LOG_WARN("consumer close: %s", rd_kafka_err2str(err));
    rd_kafka_flush(r->producer, (int)r->cfg.shutdown_timeout_ms);
    stats_add(r, set_db_state, r);
    metrics_export(r);
    log_summary(r, true);
    LOG_INFO("router stopped");
    return 0;
}

void router_stop(router *r)
{
    atomic_store(&r->stop, 1);
}

void router_get_stats(router *r, router_stats *out)
{
    pthread_mutex_lock(&r->stats_mu);
    *out = r->stats;
    pthread_mutex_unlock(&r->stats_mu);
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
    if (r->producer) {
        /* no delivery report may arrive after the batches are freed */
        rd_kafka_flush(r->producer, 1000);
        rd_kafka_purge(r->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(r->producer, 1000);
    }
    for (int i = 0; i < 3; i++)
        batch_free(&r->slots[i]);
    if (r->consumer)
        rd_kafka_destroy(r->consumer);
    if (r->producer)
        rd_kafka_destroy(r->producer);
    db_drop(r);
    subs_destroy(r->subs);
    free(r->matches);
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
