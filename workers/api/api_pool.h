#ifndef HERALD_API_POOL_H
#define HERALD_API_POOL_H

/*
 * herald-api's database pool (internal to workers/api). A small fixed pool:
 * one connection per HTTP thread, so a request never waits for another's
 * connection in the normal case.
 */
#include "common/metrics.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Embedded in the server: api_pool_init, then api_pool_dispose. */
typedef struct api_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    PGconn **conns;
    bool *busy;
    size_t n;
    char *conninfo;
    metrics_gauge *in_use; /* connections lent to requests; NULL: not measured */
} api_pool;

/* Opens n connections to conninfo. 0, or -1 with errstr set; either way
 * api_pool_dispose closes what was opened. */
int api_pool_init(api_pool *p, const char *conninfo, size_t n, char *errstr, size_t errstr_size);

/* Closes the connections and frees. A zeroed pool (never initialised) is
 * left alone. */
void api_pool_dispose(api_pool *p);

/* A healthy connection (its slot in *slot), or NULL when none is free after
 * a while or the database cannot be reached. Give it back with
 * api_pool_release. */
PGconn *api_pool_acquire(api_pool *p, size_t *slot);

/* Gives slot back, rolling back a transaction the request left open. */
void api_pool_release(api_pool *p, size_t slot);

#endif
