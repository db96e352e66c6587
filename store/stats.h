#ifndef HERALD_STORE_STATS_H
#define HERALD_STORE_STATS_H

/*
 * Delivery history upkeep (issue 9): rebuilding the hourly rollups
 * (delivery_stats_hourly, migration 009) from the deliveries table, and
 * retention, which removes old terminal deliveries, the events nothing
 * references any more, rollups past their own, longer retention, and (issue
 * 10) old Slack button presses and silences long over. Used by
 * heraldctl (`stats rebuild`, `prune`) and herald-router's retention thread.
 */

#include "store/store.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What store_stats_rebuild did. */
typedef struct store_rebuild_result {
    int64_t from_ms;     /* the hour rebuilt from (0: no delivery, nothing rebuilt) */
    int64_t removed;     /* rollup rows deleted from that hour on */
    int64_t rollup_rows; /* rollup rows written */
    int64_t deliveries;  /* deliveries counted into them */
    int64_t targets;     /* targets whose last success or last error moved forward */
} store_rebuild_result;

/*
 * Recomputes the rollups from the deliveries, in one transaction holding
 * deliveries in SHARE ROW EXCLUSIVE mode (readers go on; writers, the router
 * and the sender, wait until it commits, so no row is counted twice or
 * missed): deletes the rollup rows from the hour of since_ms on (0: of the
 * oldest delivery, or once retention has run (maintenance_runs), of the
 * oldest terminal delivery, since the hours before it count rows retention
 * removed) and inserts them again grouped as migration 009 does.
 * Rollups before that hour are kept (they outlive the deliveries they count).
 * Then moves each target's last success and last error forward to what the
 * deliveries of that range say (never backward).
 */
store_status store_stats_rebuild(PGconn *conn, int64_t since_ms, store_rebuild_result *out,
                                 char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/*
 * Folds the rollups' change log (delivery_stats_delta, migration 012) into
 * the rollups: herald_stats_fold(), one short transaction. Sets *rows to the
 * log rows folded (0 when another session was folding). herald-router and
 * herald-slack call it every second.
 */
store_status store_stats_fold(PGconn *conn, int64_t *rows, char *errstr,
                              size_t errstr_size) STORE_MUST_CHECK;

/* Rows one retention transaction deletes at most, by default. */
#define STORE_PRUNE_DEFAULT_BATCH 5000

typedef struct store_prune_opts {
    int64_t retention_ms;       /* terminal deliveries, events, Slack actions and silences
                                   over for longer than this go */
    int64_t stats_retention_ms; /* rollup hours older than this go (>= retention_ms) */
    int batch;                  /* rows per transaction; 0: STORE_PRUNE_DEFAULT_BATCH */
    bool dry_run;               /* count what would go, delete nothing, record nothing */
    /* Polled between batches (may be NULL): true stops the run early, with
     * what was deleted so far kept and reported (result.stopped). */
    bool (*should_stop)(void *arg);
    void *arg;
} store_prune_opts;

typedef struct store_prune_result {
    int64_t deliveries, events, stats_rows; /* deleted (dry run: that would be) */
    int64_t slack_actions, silences;        /* the same */
    int64_t batches;                        /* transactions that deleted */
    int64_t longest_batch_ms;               /* the longest of them */
    int64_t elapsed_ms;
    bool stopped; /* should_stop said so before the end */
} store_prune_result;

/*
 * Retention, in short transactions of at most opts->batch rows so nothing is
 * locked for long nor bloats at once: terminal deliveries (neither 'pending',
 * 'sending' nor 'retrying', whatever their age) created before now minus
 * retention, target by target through deliveries_target_created, with
 * herald.pruning on so the rollups keep counting them; then events received
 * before that which no delivery references; then rollup rows of hours before
 * now minus stats retention; then slack_actions recorded before now minus
 * retention, and silences that ended (ends_at) or were expired (expired_at)
 * before it (a mute without end that is not expired stays, whatever its
 * age). Rows locked by someone else are left for the next run.
 *
 * One pruner at a time across processes (a session advisory lock):
 * STORE_CONFLICT with errstr "another prune is running" when one holds it.
 * A real run (not a dry run) is recorded in maintenance_runs under task
 * 'retention': last_run_at, last_ok_at when it finished without error, the
 * rows it deleted and a one-line detail. STORE_INVALID for retentions that
 * are not positive or stats retention shorter than retention.
 */
store_status store_prune(PGconn *conn, const store_prune_opts *opts, store_prune_result *out,
                         char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/* The maintenance_runs row of one task. */
typedef struct store_maintenance_run {
    bool found;          /* false: the task never ran */
    int64_t run_age_ms;  /* since last_run_at, by the database's clock */
    int64_t ok_age_ms;   /* since last_ok_at; -1: never succeeded (or never ran) */
    int64_t last_run_ms; /* epoch ms */
    int64_t last_ok_ms;  /* 0: never succeeded */
    int64_t rows;
} store_maintenance_run;

store_status store_maintenance_get(PGconn *conn, const char *task, store_maintenance_run *out,
                                   char *errstr, size_t errstr_size) STORE_MUST_CHECK;

#endif
