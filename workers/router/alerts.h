#ifndef HERALD_ALERTS_H
#define HERALD_ALERTS_H

#include "common/util.h"
#include "workers/router/route.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The router's alert-state cache (issue 10): alert_states' rows per
 * (target, alert key), in memory, for the tenants this router routes.
 *
 * Completeness is per tenant: the first batch that needs a tenant loads
 * every row of the tenant's targets (one query for all the tenants of the
 * batch that are missing); from then on an absent entry means "no row" (a
 * negative answer costs nothing), so a pass learns whether any alert of its
 * check is firing, and a repeat is decided, without a round trip. The batch
 * statement writes the states the router computed; the router (owner of the
 * tenant's partition) is the only writer.
 *
 * The cache is dropped (alerts_clear) when partitions are assigned or
 * revoked (another router may have owned a tenant meanwhile) and when a
 * batch statement failed (what it computed was not written).
 *
 * Threads: the router's thread only.
 */

typedef struct alerts alerts;

alerts *alerts_new(void);
void alerts_destroy(alerts *a);

/* Forgets everything (tenants are loaded again when next needed). */
void alerts_clear(alerts *a);

bool alerts_tenant_loaded(const alerts *a, const char *tenant);

/*
 * Loads the rows of the given targets (those of the tenants named) and marks
 * the tenants loaded. One query. -1 with errstr set on failure (nothing
 * marked).
 */
int alerts_load(alerts *a, PGconn *conn, const char *const *tenants, size_t ntenants,
                const int64_t *target_ids, size_t ntargets, char *errstr,
                size_t errstr_size) HERALD_MUSTCHECK;

/*
 * The state of (target_id, key): *exists tells whether alert_states has the
 * row. With create, an absent entry is added (blank, *exists false) and
 * returned; without, NULL. The pointer is valid until alerts_clear.
 */
route_alert *alerts_get(alerts *a, int64_t target_id, const char *key, bool create, bool *exists);

/* Marks (target_id, key) as having its row (after a write is queued). */
void alerts_mark_written(alerts *a, int64_t target_id, const char *key);

/* A word of scratch kept with the entry of st (zero when created), for the
 * router to find an entry's previous write in a batch. */
uint64_t *alerts_mark(route_alert *st);

/* Entries and tenants held. */
size_t alerts_entries(const alerts *a);
size_t alerts_tenants(const alerts *a);

#endif
