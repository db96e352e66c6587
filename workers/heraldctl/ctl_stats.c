/* heraldctl stats rebuild and heraldctl prune: delivery history upkeep (store/stats.h). */

#include "workers/heraldctl/ctl.h"
#include "workers/heraldctl/ctl_internal.h"

#include "common/util.h"
#include "store/stats.h"
#include "workers/heraldctl/cli.h"

#include <inttypes.h>
#include <stdio.h>

/* Longest retention accepted: 100 years, in ms. */
#define MAX_RETENTION_MS (100LL * 365 * 86400000)

static const ctl_flag_map prune_flags[] = {
    {"retention", "--retention"},
    {"stats_retention", "--stats-retention"},
    {NULL, NULL},
};

/* A duration as the largest whole unit: "90d", "36h", "15m", "90s". */
static const char *duration_text(int64_t ms, char *buf, size_t size)
{
    static const struct {
        int64_t ms;
        char unit;
    } units[] = {{86400000, 'd'}, {3600000, 'h'}, {60000, 'm'}, {1000, 's'}};
    for (size_t i = 0; i < ARRAY_LEN(units); i++) {
        if (ms % units[i].ms == 0) {
            snprintf(buf, size, "%" PRId64 "%c", ms / units[i].ms, units[i].unit);
            return buf;
        }
    }
    snprintf(buf, size, "%" PRId64 "ms", ms);
    return buf;
}

/* ================================================================ stats rebuild */

int ctl_stats_rebuild(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {
        "stats rebuild", "[--since WHEN]",
        "Recomputes the hourly delivery rollups (dashboards, health, target list) and each "
        "target's last success and last error from the deliveries table, after a restore or a "
        "bulk import. Rollups of hours before WHEN are kept (they outlive the deliveries "
        "retention removes). Runs in one transaction that holds writes to deliveries: the "
        "router and the sender wait until it commits (readers do not)."};
    char *since_s = NULL;
    const cfg_opt opts[] = {
        {"--since", NULL, CFG_STRING, NULL, 0, 0, "WHEN",
         "rebuild from the hour of WHEN: a duration back from now (36h, 7d), a date "
         "(2026-11-28) or an RFC 3339 time (default: the oldest delivery)",
         &since_s},
    };
    int rc = ctl_parse(&c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0);
    if (rc >= 0)
        return rc;
    int64_t since;
    PGconn *conn;
    if ((rc = ctl_parse_since(&c, since_s, &since)) >= 0 ||
        (rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    char err[512];
    store_rebuild_result res;
    store_status st = store_stats_rebuild(conn, since, &res, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, NULL)) >= 0)
        return rc;
    if (!res.from_ms) {
        printf("no deliveries: nothing to rebuild\n");
        return 0;
    }
    char when[32];
    printf("rebuilt rollups from %s: %" PRId64 " rows written (%" PRId64 " replaced), %" PRId64
           " deliveries counted, %" PRId64 " targets moved forward\n",
           cli_time_format(res.from_ms, when, sizeof when), res.rollup_rows, res.removed,
           res.deliveries, res.targets);
    return 0;
}

/* ================================================================ prune */

int ctl_prune(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {
        "prune", "[--dry-run] [--retention D] [--stats-retention D]",
        "Removes terminal deliveries (sent, failed, suppressed) older than the retention, the "
        "events no delivery references any more, Slack button presses older than the retention, "
        "silences over for longer than it, and hourly rollups older than the stats retention, in "
        "short transactions of 5,000 rows. Pending, sending and retrying deliveries are never "
        "removed. herald-router does the same on schedule (--prune-interval); one prune runs at "
        "a time."};
    bool dry_run = false;
    int64_t retention = 0, stats_retention = 0;
    const cfg_opt opts[] = {
        {"--dry-run", NULL, CFG_BOOL, NULL, 0, 0, NULL, "count what would go, delete nothing",
         &dry_run},
        {"--retention", "HERALD_RETENTION", CFG_DURATION, "90d", 60000, MAX_RETENTION_MS, "D",
         "keep terminal deliveries and events this long (90d, 36h...)", &retention},
        {"--stats-retention", "HERALD_STATS_RETENTION", CFG_DURATION, "400d", 60000,
         MAX_RETENTION_MS, "D", "keep hourly rollups this long (not shorter than --retention)",
         &stats_retention},
    };
    int rc = ctl_parse(&c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0);
    if (rc >= 0)
        return rc;
    char r1[32], r2[32];
    duration_text(retention, r1, sizeof r1);
    duration_text(stats_retention, r2, sizeof r2);
    if (stats_retention < retention)
        return cli_usage_error(CTL_PROG, c.name,
                               "--stats-retention (%s) must not be shorter than --retention (%s)",
                               r2, r1);
    PGconn *conn;
    if ((rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    store_prune_opts o = {
        .retention_ms = retention, .stats_retention_ms = stats_retention, .dry_run = dry_run};
    store_prune_result res;
    char err[512];
    store_status st = store_prune(conn, &o, &res, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, prune_flags)) >= 0)
        return rc;
    printf("%s %" PRId64 " deliveries, %" PRId64 " events, %" PRId64 " stats rows, %" PRId64
           " slack actions, %" PRId64 " silences (retention %s, stats retention %s)",
           dry_run ? "would delete" : "deleted", res.deliveries, res.events, res.stats_rows,
           res.slack_actions, res.silences, r1, r2);
    if (!dry_run)
        printf(" in %.1f s, %" PRId64 " batches, longest %" PRId64 " ms", res.elapsed_ms / 1000.0,
               res.batches, res.longest_batch_ms);
    printf("\n");
    return 0;
}
