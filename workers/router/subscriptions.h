#ifndef HERALD_SUBSCRIPTIONS_H
#define HERALD_SUBSCRIPTIONS_H

#include "workers/router/route.h"
#include "common/util.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The router's subscriptions cache: every enabled, non-deleted target, its
 * check filter and whether it threads repeats, in memory, per tenant, so
 * routing an event costs a hash lookup and a tenant with no targets costs no
 * query at all.
 *
 * Freshness: migration 002 NOTIFYs channel herald_targets with the tenant id
 * whenever a routing-relevant column of targets or target_checks changes
 * ('*' for a truncate). subs_attach LISTENs and loads everything; subs_sync,
 * called before each batch is routed, reads the notifications that arrived
 * and reloads just those tenants (or everything when there are many), and
 * reloads everything every refresh interval as a backstop against a missed
 * notification. Because LISTEN is issued before the full load, a change
 * committed while loading is either in the load or notified afterwards.
 *
 * Threads: a subs belongs to one thread (the router's); the connection is
 * borrowed for each call and must not be inside a transaction.
 */

#define SUBS_CHANNEL "herald_targets"

typedef struct subs subs;

typedef struct subs_stats {
    size_t tenants;            /* tenants with at least one live target */
    size_t targets;            /* live targets held */
    uint64_t full_loads;       /* full loads done (startup, reconnect, backstop, '*') */
    uint64_t tenant_reloads;   /* tenants reloaded after a notification */
    uint64_t notifications;    /* notifications received */
    int64_t last_full_load_ms; /* util_now_wall_ms() of the last full load, 0 before */
} subs_stats;

/* refresh_interval_ms: the backstop full reload period (<= 0: never). */
subs *subs_new(int64_t refresh_interval_ms);
void subs_destroy(subs *s);

/*
 * After every (re)connect: LISTEN on conn and load every live target,
 * replacing what is held. On failure returns -1 with errstr set and keeps the
 * previous contents (the caller reconnects and attaches again).
 */
int subs_attach(subs *s, PGconn *conn, char *errstr, size_t errstr_size) HERALD_MUSTCHECK;

/*
 * Applies notifications received on conn (reloading the tenants they name)
 * and the periodic full reload when it is due. Returns 0, or -1 with errstr
 * set when the database failed (contents unchanged, notifications kept for
 * the next call).
 */
int subs_sync(subs *s, PGconn *conn, char *errstr, size_t errstr_size) HERALD_MUSTCHECK;

/*
 * The live targets of tenant (sorted by id) and their count in *n; NULL with
 * *n = 0 when the tenant has none. The pointers stay valid until the next
 * subs_attach / subs_sync / subs_destroy.
 */
const route_target *subs_lookup(const subs *s, const char *tenant, size_t *n);

void subs_get_stats(const subs *s, subs_stats *out);

/* The connection's notifications of other channels (the silences cache's)
 * are handed to fn as subs_sync reads them. */
typedef void (*subs_notify_fn)(void *arg, const char *channel, const char *payload);
void subs_set_notify_hook(subs *s, subs_notify_fn fn, void *arg);

#endif
