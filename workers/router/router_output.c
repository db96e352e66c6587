/*
 * Output: producing a batch's routed deliveries and dead letters, waiting for
 * Kafka's acknowledgements (producing again what failed), then storing the
 * batch's offsets and counting it.
 */
#include "common/event.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/util.h"
#include "workers/router/router_int.h"

#include <stdlib.h>
#include <string.h>

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
    if (o->resolve) {
        d.delivery_kind = ROUTED_RESOLVE;
        memcpy(d.ref_event_id, o->ref_event_id, sizeof d.ref_event_id);
    }
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
void router_batch_produce(router *r, batch *b)
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
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || router_stopping(r)) {
                LOG_WARN("produce: %s", rd_kafka_err2str(err));
                o->state = OUT_FAILED;
                b->failed++;
                break;
            }
            rd_kafka_poll(r->producer, 10); /* the local queue is full: let it drain */
        }
    }
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
    for (int k = 0; k < ROUTE_SUPPRESS_COUNT; k++)
        s->suppressed[k] += c->suppressed[k];
    s->resolves += c->resolves;
    s->batches++;
}

/*
 * Waits until every message b produced is acknowledged, producing again what
 * failed, then stores b's offsets and empties b. Returns 0, or -1 when
 * stopping and the shutdown timeout ran out: then b is handed back (emptied
 * without storing its offsets; it is consumed again).
 */
int router_batch_complete(router *r, batch *b)
{
    int64_t deadline = 0;
    int64_t next_warn = util_now_mono_ms() + 10000;
    for (;;) {
        while (b->outstanding > 0) {
            rd_kafka_poll(r->producer, 5);
            int64_t now = util_now_mono_ms();
            if (router_stopping(r)) {
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
        if (router_stopping(r))
            goto abandon;
        LOG_WARN("%zu message(s) not acknowledged: producing them again", b->failed);
        router_producer_replace(r);
        rd_kafka_poll(r->producer, 500); /* a short pause before trying again */
        router_batch_produce(r, b);
    }
    router_store_offsets(r, b);
    b->bc.published = 0;
    for (size_t i = 0; i < b->nouts; i++)
        b->bc.published += b->outs[i].kind == OUT_ROUTED;
    router_stats_add(r, add_batch, &b->bc);
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
    router_batch_reset(b);
    return 0;
abandon : {
    size_t n = b->nb;
    LOG_WARN("stopping: %zu message(s) not acknowledged in time; their %zu event(s) are "
             "handed back",
             b->outstanding, n);
    router_batch_drop_partitions(r, b, NULL);
    return -1;
}
}
