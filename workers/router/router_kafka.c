/*
 * The router's Kafka clients: the consumer (subscription, rebalances, pause
 * while the database is away) and the idempotent producer (delivery reports,
 * replacement after a fatal error), and storing a completed batch's offsets.
 */
#include "common/kafka.h"
#include "common/log.h"
#include "common/util.h"
#include "workers/router/router_int.h"

#include <stdlib.h>
#include <string.h>

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
        /* A tenant of a new partition may have been routed by another router
         * meanwhile: its alert states are read again. */
        alerts_clear(r->alerts);
        r->partitions = coop ? r->partitions + parts->cnt : parts->cnt;
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: {
        bool lost = rd_kafka_assignment_lost(rk);
        LOG_INFO("partitions revoked: %d%s", parts->cnt, lost ? " (lost)" : "");
        /* The pipeline (router.c) finishes what is past the database and
         * hands back what came from the revoked partitions. */
        r->on_revoke(r, parts);
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
        r->on_revoke(r, NULL);
        r->partitions = 0;
        kafka_rebalance_apply(rk, parts, false, false);
        break;
    }
}

/*
 * The consumer: offsets are stored by hand once a batch is durable and
 * committed in the background from what is stored (and synchronously on
 * revoke/close). Each default yields to the operator's HERALD_KAFKA_*; the
 * caller's consumer_props come last. on_revoke is called from its rebalance
 * callback (see router_revoke_fn).
 */
rd_kafka_t *router_consumer_new(router *r, const char *const *extra, router_revoke_fn on_revoke,
                                char *errstr, size_t errstr_size)
{
    r->on_revoke = on_revoke;
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
    rd_kafka_t *rk = kafka_consumer_new(r->brokers, r->group, r->cfg.instance_id, topics, props,
                                        on_rebalance, r, errstr, errstr_size);
    free(props);
    return rk;
}

/*
 * The idempotent producer of kafka.h's contract (acks=all, no duplicates or
 * reordering from internal retries), tuned for the batch: a batch's messages
 * are all produced at once and then waited for, so lingering only adds
 * latency to every batch.
 */
rd_kafka_t *router_producer_new(router *r, char *errstr, size_t errstr_size)
{
    static const char *const props[] = {"linger.ms", "0", NULL};
    return kafka_producer_new_props(r->brokers, props, on_delivery, r, errstr, errstr_size);
}

void router_set_paused(router *r, bool pause)
{
    if (r->paused == pause)
        return;
    kafka_pause_assigned(r->consumer, pause);
    r->paused = pause;
    LOG_INFO("consumption %s", pause ? "paused" : "resumed");
}

/* An idempotent producer that hit a fatal error is unusable: replace it.
 * Whatever it had not delivered is reported failed and produced again. */
void router_producer_replace(router *r)
{
    char err[512];
    if (!rd_kafka_fatal_error(r->producer, err, sizeof err))
        return;
    LOG_ERROR("producer fatal error (%s): starting a new producer", err);
    rd_kafka_t *p = router_producer_new(r, err, sizeof err);
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
void router_store_offsets(router *r, batch *b)
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
