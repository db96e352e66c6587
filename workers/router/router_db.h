#ifndef HERALD_ROUTER_DB_H
#define HERALD_ROUTER_DB_H

/*
 * The router's SQL: the batch statement (events rows, delivery rows, passing
 * checks, in one round trip), its two prepared forms and their parameters,
 * and how its failures are told apart (the data's fault, or the database's).
 * The connection itself is supervised by common/dblink.h (r->db).
 *
 * Threads: the router's thread only, as the connection.
 */

#include "workers/router/router.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* Parameters of the batch statement, at most. */
#define ROUTE_NPARAMS 26

struct batch;

/* The outcome of one execution of the batch statement. */
typedef struct db_result {
    PGresult *res;   /* rows to publish, or NULL */
    bool data_error; /* the statement failed because of the data */
    char msg[512];
} db_result;

/* Session setup of a new connection: generic plans, the statement's prepared
 * forms. Returns 0, or -1 with errstr set (one line). */
int router_db_prepare(PGconn *conn, char *errstr, size_t errstr_size);

/* Runs the statement for batch entries [from, to) and waits for it. Returns
 * 0 with out->res set (the caller PQclears it), or -1: out->data_error tells
 * whether to blame the data. */
int router_db_run(router *r, struct batch *b, size_t from, size_t to, db_result *out);

/* Sends the statement for the whole batch without waiting (its result is
 * read by router_db_finish). Returns 0, or -1 with errstr set. */
int router_db_send(router *r, struct batch *b, char *errstr, size_t errstr_size);

/* Reads the result of the statement router_db_send sent (waiting for it);
 * as router_db_run. */
int router_db_finish(router *r, db_result *out);

#endif
