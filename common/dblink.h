#ifndef HERALD_DBLINK_H
#define HERALD_DBLINK_H

/*
 * Database link supervision: one PostgreSQL connection a worker's loop keeps
 * alive. A lost connection (a failed connect, a statement that failed because
 * of the link, a failed per-connection setup) is dropped and reconnected
 * after a backoff that doubles from base_ms to cap_ms, plus a random jitter
 * of up to a quarter of it so several workers do not reconnect in lockstep.
 * Meanwhile db_link_get returns NULL at once: the caller's loop keeps
 * running (serving Kafka, shutting down) and never spins on connect.
 *
 * Logs: the first failure of an outage is one WARN line, "database
 * unavailable (WHAT: WHY): ON_LOSS"; the next ones are DEBUG ("database
 * still unavailable (WHAT: WHY)"); every new connection that passes setup is
 * one INFO line, "database connected" (then "; DETAIL" when the setup gave
 * one). libpq's notices go to the log (DEBUG), not stderr.
 *
 * Prepared statements and other session state die with the connection. A
 * caller re-creates them in one of two ways:
 *   - on_connect: called on every new connection before db_link_get hands it
 *     out (SET, PQprepare, LISTEN, cache loads). When it fails the connection
 *     is dropped and retried like a failed connect, so db_link_get never
 *     returns a connection without its statements;
 *   - db_link_generation: increases with every new connection; a caller that
 *     prepares lazily remembers the generation it prepared for and prepares
 *     again when db_link_generation differs.
 *
 * Threads: a link belongs to the thread that calls it (libpq connections are
 * not shared); nothing here locks.
 */

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DB_LINK_DEFAULT_BASE_MS 100
#define DB_LINK_DEFAULT_CAP_MS  5000

typedef struct db_link db_link;

typedef struct db_link_config {
    /* libpq conninfo or URI; NULL or "": libpq's defaults and PG* variables */
    const char *conninfo;
    /* first wait after a failure, doubling to cap_ms; 0: the defaults above */
    int64_t base_ms, cap_ms;
    /* What the caller does while the database is away, ending the outage's
     * WARN line (e.g. "pausing consumption, retrying"); NULL: "retrying". */
    const char *on_loss;
    /*
     * Session setup of each new connection (may be NULL). Returns 0, with
     * detail (detail_size bytes, "" on entry) optionally set for the
     * "database connected" line; or -1 with *what naming the step (a static
     * string, e.g. "prepare") and detail the error on one line: the link is
     * then lost as by db_link_lost(what, detail).
     */
    int (*on_connect)(void *arg, PGconn *conn, const char **what, char *detail, size_t detail_size);
    /* Told of every failure (failed connect, setup or db_link_lost), e.g. to
     * count them (may be NULL). */
    void (*on_error)(void *arg, const char *what, const char *why);
    void *arg; /* passed to on_connect and on_error */
} db_link_config;

/*
 * Checks cfg->conninfo (syntax only: nothing connects until db_link_get) and
 * copies what cfg says. Returns NULL with errstr set ("database URL: ...")
 * when the conninfo does not parse.
 */
db_link *db_link_new(const db_link_config *cfg, char *errstr, size_t errstr_size);

/* Closes the connection. Does nothing for NULL. */
void db_link_destroy(db_link *l);

/*
 * A healthy connection (connecting, and running on_connect, when the backoff
 * allows), or NULL while the database is away: then try again later, no
 * sooner than db_link_next_attempt_ms to get anywhere. The connection stays
 * owned by the link: do not PQfinish it nor keep it across db_link_lost.
 */
PGconn *db_link_get(db_link *l);

/*
 * The connection as it is, without connecting: NULL after a loss, possibly
 * broken. For reading the result of a statement sent on it
 * (PQsendQuery... then PQgetResult), where reconnecting would lose it.
 */
PGconn *db_link_conn(const db_link *l);

/* True when a connection is open and libpq thinks it usable. */
bool db_link_up(const db_link *l);

/*
 * A statement failed because of the link (not the data): drops the
 * connection and starts or extends the backoff. what names the step ("route",
 * "subscriptions"); why is the error on one line (db_error folds libpq's).
 */
void db_link_lost(db_link *l, const char *what, const char *why);

/* Closes the connection without counting a failure (e.g. a statement
 * abandoned at shutdown): the next db_link_get reconnects when the backoff
 * allows, at once outside an outage. */
void db_link_close(db_link *l);

/* Increases with every connection that passed on_connect; 0 before the
 * first. */
uint64_t db_link_generation(const db_link *l);

/* util_now_mono_ms() from which db_link_get tries to connect again. */
int64_t db_link_next_attempt_ms(const db_link *l);

/* The next db_link_get tries at once, whatever the backoff: for a drain at
 * shutdown, which has seconds left, not the length of an outage. The backoff
 * goes on growing from where it was if that attempt fails too. */
void db_link_hurry(db_link *l);

#endif
