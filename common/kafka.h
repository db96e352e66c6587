#ifndef HERALD_KAFKA_H
#define HERALD_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
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

/* kafka_conf_new's type argument for a configuration of either type. */
#define KAFKA_ANY_CLIENT (-1)

/*
 * kafka_conf_new for one type of client (RD_KAFKA_PRODUCER or
 * RD_KAFKA_CONSUMER, or KAFKA_ANY_CLIENT): a HERALD_KAFKA_* variable naming
 * a property librdkafka documents for the other type only is left out, so
 * one environment serves a worker's consumer and its producers alike.
 */
rd_kafka_conf_t *kafka_conf_new_for(int type, const char *brokers, char *errstr,
                                    size_t errstr_size);

/* Whether librdkafka property name applies to a client of type: false for
 * the properties it documents for the other type only. */
bool kafka_property_applies(rd_kafka_type_t type, const char *name);

/* Sets one property; on failure errstr names it. Returns 0 or -1. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                   size_t errstr_size);

/*
 * Sets name = value unless the operator set it: HERALD_KAFKA_<NAME> (name
 * upper-cased, dots as underscores) in the environment wins, since
 * kafka_conf_new applied it already. For Herald's defaults. Returns 0 or -1.
 */
int kafka_conf_set_default(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                           size_t errstr_size);

/* Delivery report callback: rd_kafka_conf_set_dr_msg_cb's shape. */
typedef void (*kafka_dr_cb)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/*
 * An idempotent producer (enable.idempotence, acks=all: not overridable) on
 * brokers, lingering 5 ms. Delivery reports go to dr_cb when set, with
 * opaque.
 */
rd_kafka_t *kafka_producer_new(const char *brokers, kafka_dr_cb dr_cb, void *opaque, char *errstr,
                               size_t errstr_size);

/*
 * kafka_producer_new with the caller's settings instead of the 5 ms linger:
 * props is NULL or name, value, ..., NULL, each set as kafka_conf_set_default
 * does (the operator's HERALD_KAFKA_* wins).
 */
rd_kafka_t *kafka_producer_new_props(const char *brokers, const char *const *props,
                                     kafka_dr_cb dr_cb, void *opaque, char *errstr,
                                     size_t errstr_size);

/*
 * librdkafka's rebalance callback (rd_kafka_conf_set_rebalance_cb's shape):
 * served from the consumer's polls, on the thread that polls, with the
 * opaque given to kafka_consumer_new. It must assign or unassign what it is
 * told; kafka_rebalance_apply does that for either protocol.
 */
typedef void (*kafka_rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t *parts, void *opaque);

/*
 * A consumer in group `group`, subscribed to the NULL-terminated topics, with
 * auto commit of *stored* offsets only (enable.auto.commit=true and
 * enable.auto.offset.store=false, not overridable): callers store an offset
 * after the work it covers is durable; it is committed in the background, on
 * a revoke and on close.
 * auto.offset.reset is earliest. props is NULL or name, value, ..., NULL: the
 * caller's settings, set after Herald's. Every one of them yields to the
 * operator's HERALD_KAFKA_* variable (kafka_conf_set_default). With
 * rebalance_cb, partitions are assigned and revoked through it (with
 * opaque); without, librdkafka assigns them itself. Returns NULL with errstr
 * set naming the bad property, or the failed subscription.
 *
 * instance_id (NULL or "": none) is the member's group.instance.id: static
 * membership, so a restarted member with the same id gets its partitions
 * back without a rebalance on a broker that honours it (each replica needs
 * its own). Herald also lowers the group session timeout to
 * KAFKA_SESSION_TIMEOUT_MS with a heartbeat every KAFKA_HEARTBEAT_MS (both
 * yield to HERALD_KAFKA_*): a member that dies, or a broker that ignores
 * instance ids (librdkafka's mock cluster), gives its partitions up within
 * seconds instead of 45 s, for one small heartbeat request a second.
 */
rd_kafka_t *kafka_consumer_new(const char *brokers, const char *group, const char *instance_id,
                               const char *const *topics, const char *const *props,
                               kafka_rebalance_cb rebalance_cb, void *opaque, char *errstr,
                               size_t errstr_size);

/* The group.instance.id of a worker: id when set and not empty, else the
 * host name (stable across restarts in a container, a StatefulSet pod or a
 * VM), copied into buf. Returns buf. */
const char *kafka_instance_id(const char *id, char *buf, size_t size);

/* The consumers' group session defaults (the lowest a broker accepts by
 * default: group.min.session.timeout.ms is 6 s). */
#define KAFKA_SESSION_TIMEOUT_MS "6000"
#define KAFKA_HEARTBEAT_MS       "1000"

/*
 * Whether the consumer hit a fatal error (it is unusable: the caller must
 * stop and exit non-zero). The only fatal error of a consumer is being
 * fenced: another member joined with the same group.instance.id; that is
 * logged once as an ERROR naming instance_id, anything else as it is.
 */
bool kafka_consumer_fatal(rd_kafka_t *rk, const char *instance_id);

/*
 * For a rebalance callback: assigns (assign true) or revokes parts,
 * incrementally under the cooperative protocol, the whole assignment under
 * the eager one. Assigned partitions are paused when paused is true and
 * resumed otherwise: librdkafka keeps a partition's pause flag across
 * unassign and assign, so one revoked while the consumer was paused would
 * otherwise come back paused for good. Returns whether the protocol is
 * cooperative. A failure is logged.
 */
bool kafka_rebalance_apply(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, bool assign,
                           bool paused);

/* Pauses or resumes every partition assigned to the consumer. */
void kafka_pause_assigned(rd_kafka_t *rk, bool pause);

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
