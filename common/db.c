#include "common/db.h"

#include "common/log.h"
#include "common/migrations.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void db_error(PGconn *conn, const PGresult *res, char *errstr, size_t errstr_size)
{
    const char *m = res ? PQresultErrorMessage(res) : NULL;
    if (!m || !*m)
        m = conn ? PQerrorMessage(conn) : "no connection";
    if (errstr_size == 0)
        return;
    /* libpq's messages span lines ("... failed: Connection refused\n\tIs the
     * server running ..."); callers print one line, so fold them, keeping
     * sentences apart. */
    size_t w = 0;
    for (const char *p = m; *p && w + 3 < errstr_size; p++) {
        char c = *p;
        if (c == '\n' || c == '\t' || c == '\r') {
            if (w > 0 && isalnum((unsigned char)errstr[w - 1]) && p[1] && p[1] != '\n')
                errstr[w++] = '.';
            if (w > 0 && errstr[w - 1] != ' ')
                errstr[w++] = ' ';
            continue;
        }
        errstr[w++] = c;
    }
    while (w > 0 && (errstr[w - 1] == ' ' || errstr[w - 1] == '.'))
        w--;
    errstr[w] = '\0';
}

static void default_connect_timeout(void)
{
    setenv("PGCONNECT_TIMEOUT", "10", 0);
}

PGconn *db_connect(const char *conninfo, char *errstr, size_t errstr_size)
{
    /* Without a connect timeout libpq waits for the kernel's (minutes) when the
     * host is unreachable, blocking a worker's loop; an explicit
     * connect_timeout in conninfo or PGCONNECT_TIMEOUT still wins. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, default_connect_timeout);
    PGconn *conn = PQconnectdb(conninfo ? conninfo : "");
    if (!conn) {
        snprintf(errstr, errstr_size, "database: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[512];
        db_error(conn, NULL, msg, sizeof msg);
        snprintf(errstr, errstr_size, "database connection failed: %s", msg);
        PQfinish(conn);
        return NULL;
    }
    /* Quiet NOTICEs such as "relation already exists, skipping". */
    PGresult *r = PQexec(conn, "SET client_min_messages = warning");
    PQclear(r);
    return conn;
}

bool db_connection_lost(PGconn *conn)
{
    return !conn || PQstatus(conn) != CONNECTION_OK;
}

int db_exec(PGconn *conn, const char *sql, char *errstr, size_t errstr_size)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        db_error(conn, r, errstr, errstr_size);
        rc = -1;
    }
    PQclear(r);
    return rc;
}

int db_migrate(PGconn *conn, int *applied, char *errstr, size_t errstr_size)
{
    char err[512];
    int count = 0;
    if (applied)
        *applied = 0;
    if (db_exec(conn,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                err, sizeof err)) {
        /* Two first-time runs may race on the CREATE; the lock below settles it. */
        LOG_DEBUG("create schema_migrations: %s", err);
    }
    for (size_t i = 0; i < herald_migrations_count; i++) {
        const herald_migration *m = &herald_migrations[i];
        if (db_exec(conn, "BEGIN", err, sizeof err) ||
            db_exec(conn, "SELECT pg_advisory_xact_lock(4242000001)", err, sizeof err))
            goto fail;
        char ver[16];
        snprintf(ver, sizeof ver, "%d", m->version);
        const char *params[2] = {ver, m->name};
        PGresult *r = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
                                   NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            db_error(conn, r, err, sizeof err);
            PQclear(r);
            goto fail;
        }
        int done = PQntuples(r) > 0;
        PQclear(r);
        if (done) {
            db_exec(conn, "COMMIT", err, sizeof err);
            continue;
        }
        if (db_exec(conn, m->sql, err, sizeof err))
            goto fail;
        r = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                         NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            db_error(conn, r, err, sizeof err);
            PQclear(r);
            goto fail;
        }
        PQclear(r);
        if (db_exec(conn, "COMMIT", err, sizeof err))
            goto fail;
        LOG_INFO("applied migration %s", m->name);
        count++;
        continue;
    fail:
        snprintf(errstr, errstr_size, "migration %s: %s", m->name, err);
        db_exec(conn, "ROLLBACK", err, sizeof err);
        return -1;
    }
    if (applied)
        *applied = count;
    return 0;
}
