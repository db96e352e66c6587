/*
 * Delivery activity per hour from the hourly rollups (store/activity.h).
 */
#include "store/activity.h"

#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>

/*
 * The rollup rows of the visible targets in the range, summed per hour, then
 * every hour of the range (generate_series) so the chart has no gaps. A tenant
 * or a target reads its targets (index targets_tenant) and their rollups by
 * primary key (target_id, hour); the whole installation (operator, every
 * target) reads the rollups over all targets (delivery_stats_hourly_all: a
 * few rows an hour, whatever the number of targets). Both add the rollups'
 * change log not folded yet (delivery_stats_delta, migration 012: a few
 * seconds of changes), so the figures are exact. The unnamed statement is
 * planned with the parameters' values, so the "$1 IS NULL OR" tests fold away.
 */
#define ACTIVITY_SUMS                                                                              \
    " SELECT s.hour, sum(s.n) FILTER (WHERE s.state = 'sent') AS sent,"                            \
    "        sum(s.n) FILTER (WHERE s.state = 'failed') AS failed"
#define ACTIVITY_RANGE                                                                             \
    " s.state IN ('sent', 'failed')"                                                               \
    " AND s.hour > date_trunc('hour', now()) - $3::int * interval '1 hour'"
#define ACTIVITY_HOURS                                                                             \
    "SELECT " MS("g.h") ", coalesce(r.sent, 0), coalesce(r.failed, 0)"                             \
                        "  FROM generate_series(date_trunc('hour', now()) - ($3::int - 1) * "      \
                        "interval '1 hour', date_trunc('hour', now()), interval '1 hour') g(h)"    \
                        "  LEFT JOIN r ON r.hour = g.h ORDER BY g.h"
#define ACTIVITY_SCOPED_SQL                                                                        \
    "WITH r AS (" ACTIVITY_SUMS                                                                    \
    "   FROM (SELECT target_id, hour, state, n FROM delivery_stats_hourly UNION ALL"               \
    "         SELECT target_id, hour, state, n FROM delivery_stats_delta) s"                       \
    "   JOIN targets t ON t.id = s.target_id"                                                      \
    "  WHERE t.deleted_at IS NULL AND ($1::text IS NULL OR t.tenant_id = $1)"                      \
    "    AND ($2::int8 = 0 OR t.id = $2) AND" ACTIVITY_RANGE "  GROUP BY s.hour) " ACTIVITY_HOURS
#define ACTIVITY_ALL_SQL                                                                           \
    "WITH r AS (" ACTIVITY_SUMS                                                                    \
    "   FROM (SELECT hour, state, n FROM delivery_stats_hourly_all UNION ALL"                      \
    "         SELECT hour, state, n FROM delivery_stats_delta) s"                                  \
    "  WHERE $1::text IS NULL AND $2::int8 = 0 AND" ACTIVITY_RANGE                                 \
    "  GROUP BY s.hour) " ACTIVITY_HOURS

static void activity_row(const PGresult *r, int row, void *item)
{
    store_activity_hour *h = item;
    h->hour_ms = store_get_i64(r, row, 0);
    h->sent = store_get_i64(r, row, 1);
    h->failed = store_get_i64(r, row, 2);
}

void store_activity_dispose(store_activity *a)
{
    if (!a)
        return;
    free(a->items);
    a->items = NULL;
    a->n = 0;
}

store_status store_activity_hourly(PGconn *conn, const char *tenant, int64_t target_id, int hours,
                                   store_activity *out, char *errstr, size_t errstr_size)
{
    out->items = NULL;
    out->n = 0;
    if (hours < 1 || hours > STORE_ACTIVITY_MAX_HOURS)
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "hours: %d is not a whole number from 1 to %d", hours,
                          STORE_ACTIVITY_MAX_HOURS);
    char ids[24], hs[24];
    store_i64_text(target_id, ids);
    store_i64_text(hours, hs);
    const char *p[3] = {tenant, ids, hs};
    void *items;
    store_status st =
        store_query_rows(conn, "reading delivery activity",
                         !tenant && !target_id ? ACTIVITY_ALL_SQL : ACTIVITY_SCOPED_SQL, 3, p,
                         activity_row, sizeof *out->items, &items, &out->n, errstr, errstr_size);
    out->items = items;
    return st;
}
