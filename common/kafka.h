#ifndef HERALD_KAFKA_H
#define HERALD_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* Topics of the design's contract. */
#define TOPIC_CHECKS      "herald.checks.v1"
#define TOPIC_COLLECTIONS "herald.collections.v1"
#define TOPIC_DELIVERIES  "herald.deliveries.slack.v1"
#define TOPIC_DEADLETTER  "herald.deadletter.v1"

/*
 * A configuration with bootstrap.servers = brokers, every other HERALD_KAFKA_*
 * environment variable applied as a librdkafka property
 * (HERALD_KAFKA_SECURITY_PROTOCOL -> security.protocol), and librdkafka's log
 * routed into Herald's log. Returns NULL with errstr set naming the bad
 * property. The caller owns the result (rd_kafka_new takes it over).
 */
rd_kafka_conf_t *kafka_conf_new(const char *brokers, char *errstr, size_t errstr_size);

/* Sets one property; on failure errstr names it. Returns 0 or -1. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                   size_t errstr_size);

/*
 * An idempotent producer (enable.idempotence, acks=all) on brokers; conf
 * overrides may be NULL. Delivery reports go to dr_cb when set.
 */
rd_kafka_t *kafka_producer_new(const char *brokers,
                               void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                               void *opaque, char *errstr, size_t errstr_size);

/*
 * A consumer in group `group` with auto commit of *stored* offsets only
 * (enable.auto.offset.store=false): callers store an offset after the work it
 * covers is durable. Subscribes to the NULL-terminated topics.
 */
rd_kafka_t *kafka_consumer_new(const char *brokers, const char *group, const char *const *topics,
                               char *errstr, size_t errstr_size);

/*
 * Produces msg's bytes and key to the dead-letter topic with headers
 * herald.source.topic, herald.source.partition, herald.source.offset and
 * herald.reason (the payload is copied). msg_opaque is the delivery report's
 * per-message opaque, so a caller can tie the acknowledgement to its own
 * bookkeeping. Logs nothing; returns librdkafka's error.
 */
rd_kafka_resp_err_t kafka_deadletter_produce(rd_kafka_t *producer, const rd_kafka_message_t *msg,
                                             const char *reason, void *msg_opaque);

/* kafka_deadletter_produce without an opaque, logging the outcome. Returns 0
 * when enqueued (the caller flushes before storing the offset), -1 otherwise. */
int kafka_deadletter(rd_kafka_t *producer, const rd_kafka_message_t *msg, const char *reason);

#endif
