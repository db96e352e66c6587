/*
 * Publishing events (see publish.h), and the command line of herald-checks and
 * herald-collect, which differ only in the kind of event they carry.
 */
#include "common/publish.h"

#include "common/kafka.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct publisher {
    rd_kafka_t *rk;
    publish_counts counts;
    publish_failure_fn *on_failure;
    void *failure_opaque;
    int64_t purged_after_ms;            /* set when publish_flush gave up: names the timeout */
    const event_link_hosts *link_hosts; /* NULL: check.url may point anywhere */
};

const char *publish_topic(event_kind kind)
{
    return kind == EVENT_COLLECTION ? TOPIC_COLLECTIONS : TOPIC_CHECKS;
}

/* Delivery report: runs inside rd_kafka_poll/flush on the caller's thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    publisher *p = opaque;
    if (!m->err) {
        p->counts.acked++;
        return;
    }
    p->counts.failed++;
    uint64_t tag = (uint64_t)(uintptr_t)m->_private;
    char reason[160];
    if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        snprintf(reason, sizeof reason, "no acknowledgement from the brokers within %lld ms",
                 (long long)p->purged_after_ms);
    else
        snprintf(reason, sizeof reason, "%s", rd_kafka_err2str(m->err));
    LOG_DEBUG("event %llu to %s not acknowledged: %s", (unsigned long long)tag,
              rd_kafka_topic_name(m->rkt), reason);
    if (p->on_failure)
        p->on_failure(p->failure_opaque, tag, reason);
}

publisher *publish_new(const char *brokers, char *errstr, size_t errstr_size)
{
    publisher *p = xcalloc(1, sizeof *p);
    /* No linger: an engine publishes a run's results as they come, and the
     * producer still batches what accumulates while a request is out. 5 ms
     * of linger was a third of the publish -> Slack median at a steady 50
     * events/s (bench/e2e_bench.sh); HERALD_KAFKA_LINGER_MS still wins. */
    static const char *const props[] = {"linger.ms", "0", NULL};
    p->rk = kafka_producer_new_props(brokers, props, on_delivery, p, errstr, errstr_size);
    if (!p->rk) {
        free(p);
        return NULL;
    }
    return p;
}

void publish_on_failure(publisher *p, publish_failure_fn *fn, void *opaque)
{
    p->on_failure = fn;
    p->failure_opaque = opaque;
}

void publish_set_link_hosts(publisher *p, const event_link_hosts *lh)
{
    p->link_hosts = lh;
}

static bool ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

publish_result publish_line(publisher *p, event_kind kind, const char *buf, size_t len,
                            uint64_t tag, char *errstr, size_t errstr_size)
{
    event *ev = NULL;
    if (event_parse(buf, len, kind, &ev, errstr, errstr_size))
        return PUBLISH_INVALID;
    if (event_check_link(ev, p->link_hosts, errstr, errstr_size)) {
        event_destroy(ev);
        return PUBLISH_INVALID;
    }
    /* What the router reads is what the engine wrote, without the padding. */
    while (len && ws(buf[0]))
        buf++, len--;
    while (len && ws(buf[len - 1]))
        len--;
    publish_result rc = PUBLISH_OK;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(publish_topic(kind)),
            RD_KAFKA_V_KEY(ev->tenant_id, strlen(ev->tenant_id)),
            RD_KAFKA_V_VALUE((void *)buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)tag), RD_KAFKA_V_END);
        if (!err) {
            p->counts.produced++;
            break;
        }
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !util_should_stop()) {
            /* Back-pressure: serve delivery reports until there is room. Queued
             * events expire after message.timeout.ms, so this ends. */
            rd_kafka_poll(p->rk, 100);
            continue;
        }
        char fatal[256];
        if (err == RD_KAFKA_RESP_ERR__FATAL)
            rd_kafka_fatal_error(p->rk, fatal, sizeof fatal);
        snprintf(errstr, errstr_size, "not published: %s",
                 err == RD_KAFKA_RESP_ERR__FATAL ? fatal
                 : err == RD_KAFKA_RESP_ERR__QUEUE_FULL
                     ? "interrupted while the producer queue was full"
                     : rd_kafka_err2str(err));
        rc = PUBLISH_ERROR;
        break;
    }
    event_destroy(ev);
    rd_kafka_poll(p->rk, 0); /* serve reports as we go, so they never pile up */
    return rc;
}

int publish_flush(publisher *p, int timeout_ms, publish_counts *out)
{
    rd_kafka_flush(p->rk, timeout_ms < 0 ? 0 : timeout_ms);
    if (rd_kafka_outq_len(p->rk) > 0) {
        /* Out of time: take back what is queued or in flight, so each one gets
         * a (failed) delivery report now instead of an unknown fate. An event
         * purged in flight may still have been written: publishing it again is
         * safe, the router is idempotent on event_id. */
        p->purged_after_ms = timeout_ms;
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, 5000);
    }
    /* Anything without a report by now has failed too, as far as we know. */
    uint64_t settled = p->counts.acked + p->counts.failed;
    if (settled < p->counts.produced)
        p->counts.failed += p->counts.produced - settled;
    if (out)
        *out = p->counts;
    return p->counts.failed ? -1 : 0;
}

void publish_destroy(publisher *p)
{
    if (!p)
        return;
    /* Unflushed events: purge so rd_kafka_destroy does not wait on them. */
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(p->rk, 0);
    rd_kafka_destroy(p->rk);
    free(p);
}
