#ifndef HERALD_SILENCES_H
#define HERALD_SILENCES_H

#include "common/util.h"
#include "workers/router/route.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The router's silences cache (issue 10): the live silences (not expired,
 * not ended) per tenant, refreshed like the subscriptions cache: migration
 * 010 NOTIFYs channel herald_silences with the tenant on every change, and
 * the tenants named are reloaded before the next batch is routed; a full
 * reload every refresh interval drops the silences whose ends_at passed (no
 * notification says so) and backs a missed notification up. Matching uses
 * the router's wall clock: a silence is about when Herald speaks.
 *
 * Threads: the router's thread only; the connection is borrowed per call.
 * The notifications arrive through subs_sync (subs_set_notify_hook), which
 * reads the connection's queue, and are handed to silences_notified.
 */

#define SILENCES_CHANNEL "herald_silences"

typedef struct silences silences;

silences *silences_new(int64_t refresh_interval_ms);
void silences_destroy(silences *s);

/* After every (re)connect: LISTEN and load everything live. -1 with errstr
 * set on failure (contents kept). */
int silences_attach(silences *s, PGconn *conn, char *errstr, size_t errstr_size) HERALD_MUSTCHECK;

/* A notification on channel for payload (a tenant, or "*"). */
void silences_notified(silences *s, const char *channel, const char *payload);

/* Reloads the notified tenants, or everything when the refresh is due. */
int silences_sync(silences *s, PGconn *conn, char *errstr, size_t errstr_size) HERALD_MUSTCHECK;

/* The first live silence of ev's tenant that keeps ev to t quiet at
 * now_ms, or NULL. Valid until the next attach / sync. */
const route_silence *silences_match(const silences *s, const event *ev, const route_target *t,
                                    int64_t now_ms);

/* Silences held. */
size_t silences_count(const silences *s);

#endif
