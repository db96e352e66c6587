#ifndef HERALD_STORE_ACTIVITY_H
#define HERALD_STORE_ACTIVITY_H

/*
 * Delivery activity per hour (sent and failed), read from the hourly rollups
 * (delivery_stats_hourly, migration 009), never from the deliveries history:
 * the console's activity chart and GET /api/v1/activity.
 */

#include "store/store.h"

#include <libpq-fe.h>
#include <stdint.h>

/* The default and the largest number of hours asked for (7 and 31 days). */
#define STORE_ACTIVITY_DEFAULT_HOURS 168
#define STORE_ACTIVITY_MAX_HOURS     744

/* One hour: deliveries created in it that are now sent, and now failed. */
typedef struct store_activity_hour {
    int64_t hour_ms; /* start of the hour */
    int64_t sent;
    int64_t failed;
} store_activity_hour;

typedef struct store_activity {
    store_activity_hour *items; /* oldest first, one per hour, the current hour last */
    size_t n;
} store_activity;

void store_activity_dispose(store_activity *a);

/*
 * The last `hours` hours (1..STORE_ACTIVITY_MAX_HOURS; the current one
 * included) of the live targets of tenant (NULL: all tenants), of target_id
 * only when it is not 0 (a target of another tenant, or removed, counts
 * nothing: the caller checks that it may see it). Every hour is in *out,
 * with zeros where nothing happened. STORE_INVALID for hours out of range.
 */
store_status store_activity_hourly(PGconn *conn, const char *tenant, int64_t target_id, int hours,
                                   store_activity *out, char *errstr,
                                   size_t errstr_size) STORE_MUST_CHECK;

#endif
