#ifndef HERALD_ROUTER_H
#define HERALD_ROUTER_H

#include "common/event.h"
#include "common/util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * herald-router's engine: consumes check results and collection events,
 * decides from the subscriptions cache which targets each one concerns,
 * records one delivery row per (event, target) and publishes one routed
 * delivery per row to the deliveries topic, keyed by the workspace's team id.
 *
 * Work is done in batches, each in a fixed order:
 *   1. intake: up to batch_size messages, or what arrived within batch_wait_ms
 *      of the first one, or, when no statement is running, what the consumer
 *      holds now (a lightly loaded router does not wait to fill a batch);
 *      each is parsed and validated once;
 *   2. malformed messages are produced to the dead-letter topic;
 *   3. routing in memory (subscriptions cache, no query per event);
 *   4. ONE statement writes the events rows and the delivery rows of the whole
 *      batch (idempotent on (event_id, target_id)), records its passing
 *      checks for tenants whose targets thread repeats (check_passes, so the
 *      sender knows a check was fixed), and returns the rows to publish: the
 *      new ones, and the existing ones still 'pending';
 *   5. one routed delivery per returned row is produced;
 *   6. every produced message (routed and dead-letter) is acknowledged;
 *   7. only then the batch's offsets are stored (committed by auto-commit,
 *      on revoke and on close).
 * A failure before 7 leaves the offsets where they were, so the batch is
 * consumed again (here after a retry, or by the partition's next owner), and
 * steps 4-5 are idempotent: rows are never duplicated; a row still 'pending'
 * is published again, which the sender deduplicates by claiming the row.
 *
 * Threads: router_run runs on the caller's thread and does all the work
 * there (librdkafka callbacks are served from its polls). router_stop and
 * router_get_stats may be called from any thread; router_stop from a signal
 * handler too.
 */

typedef struct router router;

typedef struct router_config {
    const char *brokers;        /* Kafka bootstrap servers */
    const char *database_url;   /* libpq conninfo or URI; "" for libpq defaults */
    const char *group;          /* consumer group id */
    const char *instance_id;    /* group.instance.id (static membership); NULL or "": none */
    long batch_size;            /* most events per batch */
    long batch_wait_ms;         /* longest a batch waits to fill after its first event (only
                                 * while a statement runs or events keep coming) */
    long cache_refresh_seconds; /* backstop full reload of the subscriptions; 0: never */
    int64_t silence_refresh_ms; /* full reload of the silences (ended ones drop); 0: never */
    long summary_seconds;       /* period of the info summary line; 0: never */
    long shutdown_timeout_ms;   /* longest wait for acknowledgements once stopping */
    const char *metrics_addr;   /* HOST:PORT for /metrics and /healthz; NULL or "": none */
    /* Extra librdkafka properties for the consumer, as name, value, ...,
     * NULL (tests lower session.timeout.ms this way); like the router's own
     * defaults, each yields to the operator's HERALD_KAFKA_*. May be NULL. */
    const char *const *consumer_props;
    /* Retention on a thread of its own (router_retention.h): terminal
     * deliveries and events older than retention_ms, rollups older than
     * stats_retention_ms, every prune_interval_ms (0: never). */
    int64_t retention_ms, stats_retention_ms, prune_interval_ms;
    /* Hosts an event's check.url may point at (HERALD_LINK_HOSTS); others are
     * dead-lettered with the reason. NULL: any. Must outlive the router. */
    const event_link_hosts *link_hosts;
} router_config;

/* Fills the defaults: group "herald-router", batches of 500 within 50 ms,
 * refresh every 60 s, a summary every 30 s, 10 s shutdown timeout; retention
 * 90 days, rollups 400 days, but no retention thread (prune_interval_ms 0:
 * herald-router's --prune-interval turns it on, 1 hour by default). */
void router_config_defaults(router_config *cfg);

/* Counters since router_new. */
typedef struct router_stats {
    uint64_t consumed;               /* messages read from both event topics */
    uint64_t consumed_checks;        /* ... from herald.checks.v1 */
    uint64_t consumed_collections;   /* ... from herald.collections.v1 */
    uint64_t routed;                 /* events that matched at least one target */
    uint64_t deliveries_created;     /* delivery rows inserted */
    uint64_t deliveries_republished; /* existing 'pending' rows published again */
    uint64_t deliveries_published;   /* routed deliveries acknowledged by Kafka */
    uint64_t not_notifiable;         /* passing checks, scheduled successes: nothing to send */
    uint64_t no_target;              /* notifiable events no target of the tenant wants */
    uint64_t dead_lettered;          /* malformed events sent to the dead-letter topic */
    uint64_t duplicates;             /* the same event_id again within one batch */
    uint64_t passes_recorded;        /* passing checks recorded for thread_repeats targets */
    uint64_t suppressed[5];          /* pairs suppressed, by route_suppress (index 0 unused) */
    uint64_t resolves;               /* resolve deliveries made */
    uint64_t db_errors;              /* failed statements and lost connections */
    uint64_t batches;                /* batches completed (offsets stored) */
    uint64_t statements;             /* batch statements sent to PostgreSQL */
    uint64_t abandoned;              /* messages handed back unprocessed (revoke, stop) */
    int64_t lag;                     /* messages behind the high watermark; -1 unknown */
    bool db_connected;
    size_t cache_tenants, cache_targets;
} router_stats;

/*
 * Creates the consumer (subscribed to both event topics), the producer and,
 * with metrics_addr, the HTTP server. The database is connected by
 * router_run, so a router started while PostgreSQL is down waits for it.
 * Returns NULL with errstr set (bad Kafka property, address in use...).
 */
router *router_new(const router_config *cfg, char *errstr, size_t errstr_size);

/*
 * Runs until router_stop or SIGTERM/SIGINT (util_should_stop): then stops
 * intake, finishes the in-flight batch (or hands it back when it cannot
 * complete within shutdown_timeout_ms), commits offsets, closes the consumer
 * and flushes the producer. Returns 0 after a clean stop, -1 on a fatal
 * error (logged).
 */
int router_run(router *r);

/* Asks router_run to stop. Async-signal-safe. */
void router_stop(router *r);

void router_get_stats(router *r, router_stats *out);

/* The HTTP port actually bound (metrics_addr with port 0), 0 without one. */
int router_metrics_port(router *r);

void router_destroy(router *r);

#endif
