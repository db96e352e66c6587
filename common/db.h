#ifndef HERALD_DB_H
#define HERALD_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * One-shot helpers on a PGconn. A worker's long-lived connection, reconnected
 * with backoff, is a db_link (common/dblink.h).
 */

/*
 * Connects with a libpq connection string or URI ("" or NULL: libpq's
 * defaults and PG* variables). Returns NULL with errstr set; the message never
 * includes the password.
 */
PGconn *db_connect(const char *conninfo, char *errstr, size_t errstr_size);

/*
 * Applies every embedded migration not yet recorded in schema_migrations,
 * each in its own transaction, under an advisory lock so concurrent runs
 * serialise. Safe to run any number of times. *applied (may be NULL) gets the
 * number applied now. Returns 0, or -1 with errstr naming the migration.
 */
int db_migrate(PGconn *conn, int *applied, char *errstr, size_t errstr_size);

/* True when the connection is gone (server restart, network): the caller
 * should reconnect and retry, not treat the failure as the data's fault. */
bool db_connection_lost(PGconn *conn);

/* Runs a command without parameters; returns 0 or -1 with errstr set. */
int db_exec(PGconn *conn, const char *sql, char *errstr, size_t errstr_size);

/* Copies PQerrorMessage / PQresultErrorMessage without the trailing newline. */
void db_error(PGconn *conn, const PGresult *res, char *errstr, size_t errstr_size);

#endif
