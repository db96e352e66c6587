/*
 * Database link supervision (common/dblink.h): reconnect with backoff and
 * jitter, session setup on every new connection, one log line per outage and
 * per recovery.
 */
#include "common/dblink.h"

#include "common/backoff.h"
#include "common/db.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Past this many failures the wait is at its cap anyway; stops the count. */
#define MAX_COUNTED_FAILURES 64

struct db_link {
    db_link_config cfg; /* cfg.conninfo and cfg.on_loss point at our copies */
    char *conninfo, *on_loss;
    backoff_policy policy;
    PGconn *conn;
    int failures;            /* since the last good connection: the backoff's attempt */
    int64_t next_attempt_ms; /* util_now_mono_ms() of the next connect attempt */
    bool outage_logged;
    uint64_t generation;
};

db_link *db_link_new(const db_link_config *cfg, char *errstr, size_t errstr_size)
{
    char *pqerr = NULL;
    PQconninfoOption *ci = PQconninfoParse(cfg->conninfo ? cfg->conninfo : "", &pqerr);
    if (!ci) {
        snprintf(errstr, errstr_size, "database URL: %s", pqerr ? pqerr : "invalid");
        size_t n = strlen(errstr);
        while (n && errstr[n - 1] == '\n')
            errstr[--n] = '\0';
        PQfreemem(pqerr);
        return NULL;
    }
    PQconninfoFree(ci);
    db_link *l = xcalloc(1, sizeof *l);
    l->cfg = *cfg;
    l->conninfo = xstrdup(cfg->conninfo ? cfg->conninfo : "");
    l->on_loss = xstrdup(cfg->on_loss ? cfg->on_loss : "retrying");
    l->cfg.conninfo = l->conninfo;
    l->cfg.on_loss = l->on_loss;
    /* backoff.h's schedule gives the doubling ceiling; max_age does not
     * apply: the database is waited for as long as it takes. */
    l->policy.base_ms = cfg->base_ms > 0 ? cfg->base_ms : DB_LINK_DEFAULT_BASE_MS;
    l->policy.cap_ms = cfg->cap_ms > 0 ? cfg->cap_ms : DB_LINK_DEFAULT_CAP_MS;
    l->policy.max_age_ms = INT64_MAX;
    return l;
}

void db_link_close(db_link *l)
{
    if (l->conn)
        PQfinish(l->conn);
    l->conn = NULL;
}

void db_link_destroy(db_link *l)
{
    if (!l)
        return;
    db_link_close(l);
    free(l->conninfo);
    free(l->on_loss);
    free(l);
}

/* libpq prints server notices (such as the FATAL sent before a restart) on
 * stderr by default; keep them in the log instead. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    size_t n = strlen(message);
    while (n && (message[n - 1] == '\n' || message[n - 1] == ' '))
        n--;
    LOG_DEBUG("database notice: %.*s", (int)n, message);
}

void db_link_lost(db_link *l, const char *what, const char *why)
{
    if (l->cfg.on_error)
        l->cfg.on_error(l->cfg.arg, what, why);
    if (!l->outage_logged) {
        LOG_WARN("database unavailable (%s: %s): %s", what, why, l->on_loss);
        l->outage_logged = true;
    } else {
        LOG_DEBUG("database still unavailable (%s: %s)", what, why);
    }
    db_link_close(l);
    if (l->failures < MAX_COUNTED_FAILURES)
        l->failures++;
    int64_t wait = backoff_ceiling_ms(&l->policy, l->failures);
    /* jitter: several workers should not reconnect in lockstep */
    int64_t jitter = (int64_t)(backoff_random() * (double)wait / 4.0);
    l->next_attempt_ms = util_now_mono_ms() + wait + jitter;
}

PGconn *db_link_get(db_link *l)
{
    if (l->conn && PQstatus(l->conn) == CONNECTION_OK)
        return l->conn;
    if (l->conn)
        db_link_close(l);
    if (util_now_mono_ms() < l->next_attempt_ms)
        return NULL;
    char err[512];
    l->conn = db_connect(l->conninfo, err, sizeof err);
    if (!l->conn) {
        db_link_lost(l, "connect", err);
        return NULL;
    }
    PQsetNoticeProcessor(l->conn, on_notice, NULL);
    char detail[512] = "";
    if (l->cfg.on_connect) {
        const char *what = "setup";
        if (l->cfg.on_connect(l->cfg.arg, l->conn, &what, detail, sizeof detail)) {
            db_link_lost(l, what, detail);
            return NULL;
        }
    }
    LOG_INFO("database connected%s%s", *detail ? "; " : "", detail);
    l->failures = 0;
    l->outage_logged = false;
    l->generation++;
    return l->conn;
}

PGconn *db_link_conn(const db_link *l)
{
    return l->conn;
}

bool db_link_up(const db_link *l)
{
    return l->conn != NULL && PQstatus(l->conn) == CONNECTION_OK;
}

uint64_t db_link_generation(const db_link *l)
{
    return l->generation;
}

int64_t db_link_next_attempt_ms(const db_link *l)
{
    return l->next_attempt_ms;
}

void db_link_hurry(db_link *l)
{
    l->next_attempt_ms = 0;
}
