/*
 * herald-api's database pool: one connection per HTTP thread, handed to a
 * request for its whole run by the trampoline (api_http.c).
 */
#include "workers/api/api_pool.h"

#include "common/db.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define POOL_WAIT_MS 10000

int api_pool_init(api_pool *p, const char *conninfo, size_t n, char *errstr, size_t errstr_size)
{
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->conninfo = xstrdup(conninfo ? conninfo : "");
    p->n = n;
    p->conns = xcalloc(n, sizeof *p->conns);
    p->busy = xcalloc(n, sizeof *p->busy);
    for (size_t i = 0; i < n; i++) {
        p->conns[i] = db_connect(p->conninfo, errstr, errstr_size);
        if (!p->conns[i])
            return -1;
    }
    return 0;
}

void api_pool_dispose(api_pool *p)
{
    if (!p->conns)
        return;
    for (size_t i = 0; i < p->n; i++)
        if (p->conns[i])
            PQfinish(p->conns[i]);
    free(p->conns);
    free(p->busy);
    free(p->conninfo);
    p->conns = NULL;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

/* A healthy connection, or NULL after POOL_WAIT_MS (or when the database
 * cannot be reached). */
PGconn *api_pool_acquire(api_pool *p, size_t *slot)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += POOL_WAIT_MS / 1000;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        for (size_t i = 0; i < p->n; i++) {
            if (!p->busy[i]) {
                p->busy[i] = true;
                if (p->in_use)
                    metrics_gauge_add(p->in_use, NULL, 1);
                pthread_mutex_unlock(&p->mu);
                *slot = i;
                PGconn *c = p->conns[i];
                if (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) == PQTRANS_UNKNOWN) {
                    PQreset(c);
                    if (PQstatus(c) != CONNECTION_OK) {
                        pthread_mutex_lock(&p->mu);
                        p->busy[i] = false;
                        if (p->in_use)
                            metrics_gauge_add(p->in_use, NULL, -1);
                        pthread_cond_signal(&p->cv);
                        pthread_mutex_unlock(&p->mu);
                        return NULL;
                    }
                }
                return c;
            }
        }
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
    }
}

void api_pool_release(api_pool *p, size_t slot)
{
    PGconn *c = p->conns[slot];
    /* A handler that failed half-way must not leave a transaction open. */
    if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c, "ROLLBACK");
        PQclear(r);
    }
    pthread_mutex_lock(&p->mu);
    p->busy[slot] = false;
    if (p->in_use)
        metrics_gauge_add(p->in_use, NULL, -1);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}
