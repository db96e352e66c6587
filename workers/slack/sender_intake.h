#ifndef HERALD_SENDER_INTAKE_H
#define HERALD_SENDER_INTAKE_H

/*
 * herald-slack's intake: Kafka consume, dead letters, offsets, the retry
 * poller, rebalances. Floor 2 of the engine (map in sender_internal.h); calls
 * sender_outcome.c, sender_link.c.
 */

#include "workers/slack/sender_state.h"

/* Stores the storable offset of every partition whose offset moved. */
void sender_store_offsets(sender *s);
/* Handles the Kafka messages waiting (at most a batch per loop turn). */
void sender_consume(sender *s, int64_t now);
/* Leases due retries (and deliveries whose sender died) back into the queues. */
void sender_poll_retries(sender *s, int64_t now);
/* herald_wake notifications: the pending rows of the workspaces we own, leased at once. */
void sender_read_wakes(sender *s, int64_t now);
/* librdkafka's rebalance callback (opaque: the sender). */
void sender_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);

#endif
