/*
 * The router's shared state helpers, the bottom of the library: whether it
 * is stopping, and its statistics under their mutex (written by the router
 * thread, read from any thread). They need only struct router.
 */
#include "common/util.h"
#include "workers/router/router_int.h"

bool router_stopping(router *r)
{
    return atomic_load(&r->stop) != 0 || util_should_stop();
}

void router_stats_add(router *r, void (*fn)(router_stats *, const void *), const void *arg)
{
    pthread_mutex_lock(&r->stats_mu);
    fn(&r->stats, arg);
    pthread_mutex_unlock(&r->stats_mu);
}

void router_get_stats(router *r, router_stats *out)
{
    pthread_mutex_lock(&r->stats_mu);
    *out = r->stats;
    pthread_mutex_unlock(&r->stats_mu);
}
