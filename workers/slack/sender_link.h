#ifndef HERALD_SENDER_LINK_H
#define HERALD_SENDER_LINK_H

/*
 * herald-slack's PostgreSQL link (a common/dblink.h db_link): the connection
 * for a statement, a statement's failure. Floor 6 of the engine (map in
 * sender_internal.h).
 */

#include "workers/slack/sender_state.h"

/* Creates the link and connects (a database down at startup is an error:
 * errstr as db_connect's). Returns 0 or -1. */
int sender_link_open(sender *s, const char *conninfo, char *errstr, size_t errstr_size);
/*
 * The connection for a statement now, or NULL while the database is away
 * (connects when the link's backoff allows; otherwise returns at once). Do
 * not keep it across anything that may call sender_link_failed: a lost
 * connection is closed there.
 */
PGconn *sender_conn(sender *s);
/* Notes a failed statement: a lost link stops claims and polls until it is
 * back (db_link_lost); an error of the statement's own is only logged. */
void sender_link_failed(sender *s, const char *what, const char *err);

#endif
