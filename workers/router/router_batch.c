/*
 * A batch's lifetime: emptying it, freeing it, handing back the messages of
 * revoked partitions. Below the stage files, which all empty or hand back
 * batches.
 */
#include "common/log.h"
#include "workers/router/router_int.h"

#include <stdlib.h>
#include <string.h>

static void bmsg_dispose(bmsg *bm)
{
    if (bm->m)
        rd_kafka_message_destroy(bm->m);
    event_destroy(bm->ev);
    free(bm->reason);
    free(bm->json);
    memset(bm, 0, sizeof *bm);
}

void router_outs_clear(batch *b)
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
void router_batch_reset(batch *b)
{
    for (size_t i = 0; i < b->nb; i++)
        bmsg_dispose(&b->b[i]);
    router_outs_clear(b);
    b->nb = 0;
    b->bytes = 0;
    b->retained = false;
    b->sent = false;
    memset(&b->bc, 0, sizeof b->bc);
}

void router_batch_destroy(batch *b)
{
    router_batch_reset(b);
    free(b->b);
    free(b->outs);
    memset(b, 0, sizeof *b);
}

static void add_abandoned(router_stats *s, const void *arg)
{
    s->abandoned += *(const size_t *)arg;
}

/* Hands back (drops, unstored) the messages of the given partitions, or all
 * of them when parts is NULL. For the batch being collected or retained,
 * which has produced nothing yet; a batch in flight is dropped whole (when
 * its partitions are lost, its acknowledgements no longer matter: its
 * offsets cannot be stored, and the new owner redoes it idempotently). */
void router_batch_drop_partitions(router *r, batch *b, const rd_kafka_topic_partition_list_t *parts)
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
        router_batch_reset(b);
    if (b->nb == 0)
        b->retained = false;
    if (dropped) {
        LOG_INFO("handed back %zu unfinished message(s) of revoked partitions", dropped);
        router_stats_add(r, add_abandoned, &dropped);
    }
}
