#ifndef HERALD_PUBLISH_H
#define HERALD_PUBLISH_H

#include "common/event.h"
#include "common/util.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Publishing events: what herald-checks and herald-collect do, as a small API
 * a check engine or collection job can link instead of running the programs.
 *
 *   publisher *p = publish_new("kafka:9092", errstr, sizeof errstr);
 *   for each event:  publish_line(p, EVENT_CHECK_RESULT, json, len, tag, err,
 * sizeof err); publish_flush(p, 30000, &counts);   // every event acknowledged,
 * or counted failed publish_destroy(p);
 *
 * Each valid event goes to its topic (TOPIC_CHECKS or TOPIC_COLLECTIONS) keyed
 * by its tenant id, through the idempotent producer (acks=all), byte for byte
 * as given (minus surrounding whitespace). A publisher is used from one thread.
 */
typedef struct publisher publisher;

typedef struct publish_counts {
    uint64_t produced; /* valid events handed to Kafka */
    uint64_t acked;    /* acknowledged by the brokers (all in-sync replicas) */
    uint64_t failed;   /* delivery failed, or not acknowledged before the flush
                          timeout */
} publish_counts;

typedef enum publish_result {
    PUBLISH_OK = 0,      /* valid and enqueued; its fate is known after publish_flush */
    PUBLISH_INVALID = 1, /* not a valid event: errstr "<field>: <reason>"; nothing was sent */
    PUBLISH_ERROR = -1   /* valid, but the producer refused it (fatal error, stopping) */
} publish_result;

/*
 * Told about every event the brokers did not acknowledge: `tag` is what
 * publish_line was given (herald-checks passes the line number), `reason` a
 * readable cause. Runs on the thread calling publish_line / publish_flush.
 */
typedef void publish_failure_fn(void *opaque, uint64_t tag, const char *reason);

/* A publisher producing to brokers; the HERALD_KAFKA_* environment applies
 * (kafka_conf_new). NULL with errstr naming the problem. */
publisher *publish_new(const char *brokers, char *errstr, size_t errstr_size) HERALD_MUSTCHECK;

/* Sets the failure callback (NULL: none). */
void publish_on_failure(publisher *p, publish_failure_fn *fn, void *opaque);

/* Events whose check.url host lh does not allow are invalid (NULL, the
 * default: any host). lh must outlive p. */
void publish_set_link_hosts(publisher *p, const event_link_hosts *lh);

/*
 * Validates len bytes as one event of `kind` and, when valid, enqueues it.
 * Blocks only while librdkafka's queue is full. The bytes are copied.
 */
publish_result publish_line(publisher *p, event_kind kind, const char *buf, size_t len,
                            uint64_t tag, char *errstr, size_t errstr_size) HERALD_MUSTCHECK;

/*
 * Waits up to timeout_ms for a delivery report of every event enqueued so far;
 * those still unacknowledged then are purged and counted failed. Fills *out
 * (may be NULL) with the totals since publish_new. Returns 0 when every event
 * ever enqueued was acknowledged, -1 otherwise.
 */
int publish_flush(publisher *p, int timeout_ms, publish_counts *out);

/* Destroys p; call publish_flush first or unflushed events are dropped. */
void publish_destroy(publisher *p);

/* TOPIC_CHECKS or TOPIC_COLLECTIONS. */
const char *publish_topic(event_kind kind);

#endif
