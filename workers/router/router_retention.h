#ifndef HERALD_ROUTER_RETENTION_H
#define HERALD_ROUTER_RETENTION_H

/*
 * herald-router's scheduled retention (issue 9): store_prune (store/stats.h)
 * every prune interval, on a thread of its own with its own connection, so
 * the routing thread never waits for it. Among several routers the one whose
 * turn comes first runs it: each looks at maintenance_runs before a run and
 * waits out the interval from the last successful run, whoever made it; the
 * advisory lock in store_prune keeps two from running at once.
 *
 * Metrics (default registry, served on the router's /metrics):
 *   herald_retention_runs_total{outcome="ok|error|skipped"}
 *   herald_retention_deleted_total{table="deliveries|events|stats"}
 *   herald_retention_last_success_timestamp_seconds
 */

#include "store/stats.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct router_retention_config {
    const char *database_url; /* libpq conninfo or URI; "" for libpq defaults */
    int64_t retention_ms, stats_retention_ms;
    int64_t interval_ms; /* between runs; 0: no retention thread */
    int batch;           /* rows per transaction; 0: STORE_PRUNE_DEFAULT_BATCH */
} router_retention_config;

typedef struct router_retention router_retention;

/* Starts the thread (copies cfg): its first run is at once when the last
 * successful one is older than the interval (or there was none), else when
 * the interval since it has passed. NULL when cfg->interval_ms is 0 or the
 * thread could not start (logged). */
router_retention *router_retention_start(const router_retention_config *cfg);

/* Wakes the thread (from its sleep at once, from a run after the batch in
 * progress), joins it and frees rt. NULL does nothing. */
void router_retention_stop(router_retention *rt);

typedef enum router_retention_outcome {
    RETENTION_OK,
    RETENTION_ERROR,
    RETENTION_SKIPPED /* another prune held the lock */
} router_retention_outcome;

/*
 * One run on conn: store_prune with cfg's retentions, one log line (INFO with
 * what it deleted and how long it took, WARN on failure) and the metrics.
 * should_stop (may be NULL) is polled between batches. *out (may be NULL)
 * gets store_prune's result. @locality: any thread owning conn.
 */
router_retention_outcome router_retention_run(PGconn *conn, const router_retention_config *cfg,
                                              bool (*should_stop)(void *arg), void *arg,
                                              store_prune_result *out);

#endif
