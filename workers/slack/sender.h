#ifndef HERALD_SENDER_H
#define HERALD_SENDER_H

/*
 * herald-slack: the Slack sender. Consumes routed deliveries
 * (herald.deliveries.slack.v1) in a consumer group and posts each one with
 * chat.postMessage, paced per channel and per workspace, recording every
 * attempt and outcome in the deliveries table.
 *
 * Shape (one thread, an event loop; no thread per request):
 *
 *   Kafka --> decode --> per-channel queues (dispatch.h) --> claim row -->
 *   curl multi (keep-alive, many channels in flight, one per channel) -->
 *   outcome: sent | retrying (PostgreSQL, next_attempt_at) | failed
 *                                 ^
 *   retry poller: due rows, FOR UPDATE SKIP LOCKED, back into the queues
 *
 * The loop waits in curl_multi_poll() on Slack's sockets plus a pipe that
 * librdkafka writes when the consumer queue has something, so it never blocks
 * on Slack. PostgreSQL statements are synchronous (local, short).
 *
 * Delivery semantics (for the README):
 *   - A delivery row is CLAIMED (pending -> sending, attempts+1, lease) right
 *     before its request, atomically: 'sent' and 'failed' rows are never
 *     claimed, so duplicate routed messages, redeliveries after a crash,
 *     retries and rebalances never post a delivery twice.
 *   - The one window: Slack accepted a message but its 'sent' was not
 *     recorded: the process died (kill -9, OOM, power) between Slack's answer
 *     and the row's update (microseconds to one PostgreSQL round trip,
 *     longer only if PostgreSQL is unreachable then), or the answer never
 *     arrived (timeout, dropped connection, Slack's internal_error/
 *     fatal_error, or shutdown cutting a request): the delivery is retried
 *     and may appear twice. A delivery whose sender died is retried once its
 *     lease (--claim-lease) has run out.
 *   - Kafka offsets are stored per partition only up to the oldest delivery
 *     not yet durable (sent, failed, or retrying recorded in PostgreSQL).
 */

#include "workers/slack/sender_config.h"
#include "workers/slack/sender_stats.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sender sender;

/* Connects to PostgreSQL and Kafka, starts /metrics when configured. cfg is
 * copied (its strings must outlive the sender). NULL with errstr on failure. */
sender *sender_new(const sender_config *cfg, char *errstr, size_t errstr_size);

/*
 * Runs until util_should_stop() (SIGTERM/SIGINT) or sender_stop(), then
 * drains: stops intake, lets in-flight requests finish (bounded by
 * shutdown_timeout_ms), records their outcomes, hands back leased retries,
 * stores and commits offsets. Returns 0, or 1 after a fatal error.
 */
int sender_run(sender *s);

/* Asks sender_run to drain and return. Callable from any thread or a signal handler. */
void sender_stop(sender *s);

void sender_destroy(sender *s); /* NULL-safe */

/* Counters for tests and the shutdown log line (sender_stats.h). */
void sender_get_stats(const sender *s, sender_stats *out);

#endif
