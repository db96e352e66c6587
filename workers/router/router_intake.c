/*
 * Intake: collecting a batch from the consumer (how long to wait for it to
 * fill) and parsing each message once. The batch's lifetime is in
 * router_batch.c.
 */
#include "common/kafka.h"
#include "common/log.h"
#include "common/util.h"
#include "workers/router/router_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

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
void router_batch_add(router *r, batch *b, rd_kafka_message_t *m)
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
    router_stats_add(r, add_consumed, m);

    const char *topic = rd_kafka_topic_name(m->rkt);
    event_kind kind = !strcmp(topic, TOPIC_COLLECTIONS) ? EVENT_COLLECTION : EVENT_CHECK_RESULT;
    char err[512];
    if (!m->payload || m->len == 0) {
        bm->reason = xstrdup("(event): empty message");
    } else if (event_parse((const char *)m->payload, m->len, kind, &bm->ev, err, sizeof err)) {
        bm->ev = NULL;
        bm->reason = xstrdup(err);
    } else if (event_check_link(bm->ev, r->cfg.link_hosts, err, sizeof err)) {
        /* A link to a foreign host would become a phishing button. */
        event_destroy(bm->ev);
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
void router_batch_collect(router *r)
{
    batch *b = r->cur;
    int64_t deadline = b->nb ? b->started_ms + r->cfg.batch_wait_ms : 0;
    int64_t idle_end = util_now_mono_ms() + 100;
    int64_t next_check = 0;
    while ((long)b->nb < r->cfg.batch_size && b->bytes < BATCH_MAX_BYTES && !router_stopping(r)) {
        int timeout;
        bool close_when_quiet = false;
        int64_t now = util_now_mono_ms();
        batch *st = r->stmt && !r->stmt->retained ? r->stmt : NULL;
        if (now >= next_check) {
            next_check = now + 2;
            if (st && router_stage_ready(r, st))
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
        router_batch_add(r, b, m);
        if (b->nb == 1)
            deadline = b->started_ms + r->cfg.batch_wait_ms;
    }
}
