/*
 * herald-slack's PostgreSQL link: a thin adapter over common/dblink.h. The
 * db_link owns the connection and reconnects with backoff; here a failed
 * statement is told apart (the link, or the data), and db_down mirrors the
 * link for the /healthz thread and for the checks that must not connect.
 */
#include "workers/slack/sender_link.h"

#include "common/log.h"

#include <stdio.h>
#include <string.h>

/* Every failure of the link (connect, or a statement that lost it). The
 * reason is kept for sender_link_open's error at startup. */
static void on_db_error(void *arg, const char *what, const char *why)
{
    sender *s = arg;
    (void)what;
    atomic_store(&s->db_down, true);
    snprintf(s->db_error, sizeof s->db_error, "%s", why);
}

/* Every new connection LISTENs on herald_wake (db_connect already sets the one
 * session setting, client_min_messages; nothing is prepared). */
static int on_connect(void *arg, PGconn *conn, const char **what, char *detail, size_t detail_size)
{
    (void)arg;
    PGresult *r = PQexec(conn, "LISTEN " SENDER_WAKE_CHANNEL);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc) {
        *what = "LISTEN " SENDER_WAKE_CHANNEL;
        snprintf(detail, detail_size, "%s", PQerrorMessage(conn));
    }
    PQclear(r);
    return rc;
}

int sender_link_open(sender *s, const char *conninfo, char *errstr, size_t errstr_size)
{
    const db_link_config lc = {.conninfo = conninfo,
                               .on_connect = on_connect,
                               .on_loss = "holding work until it is back",
                               .on_error = on_db_error,
                               .arg = s};
    char err[512];
    s->db = db_link_new(&lc, err, sizeof err);
    if (!s->db) {
        /* herald-slack's wording for a bad URL, as before the link. */
        static const char prefix[] = "database URL: ";
        const char *why = strncmp(err, prefix, sizeof prefix - 1) ? err : err + sizeof prefix - 1;
        snprintf(errstr, errstr_size, "database connection failed: %s", why);
        return -1;
    }
    /* A database that is down at startup is an error (the process exits);
     * later outages are waited for. */
    if (!sender_conn(s)) {
        snprintf(errstr, errstr_size, "%s", s->db_error);
        return -1;
    }
    return 0;
}

PGconn *sender_conn(sender *s)
{
    PGconn *conn = db_link_get(s->db);
    atomic_store(&s->db_down, conn == NULL);
    return conn;
}

void sender_link_failed(sender *s, const char *what, const char *err)
{
    if (db_connection_lost(db_link_conn(s->db)))
        db_link_lost(s->db, what, err); /* logs the outage once; on_db_error sets db_down */
    else
        LOG_ERROR("database: %s: %s", what, err);
}
