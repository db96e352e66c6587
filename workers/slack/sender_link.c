/*
 * herald-slack's PostgreSQL link: a statement that fails because the link is
 * lost marks the database down (claims, polls and outcomes wait), and the
 * loop reconnects with PQreset at most once a second.
 */
#include "workers/slack/sender_internal.h"

#include "common/log.h"
#include "common/util.h"

/* Notes a failed statement: a lost link stops claims and polls until it is back. */
void sender_link_failed(sender *s, const char *what, const char *err)
{
    if (db_connection_lost(s->db)) {
        if (!s->db_down)
            LOG_ERROR("database connection lost (%s): %s; holding work until it is back", what,
                      err);
        s->db_down = true;
    } else {
        LOG_ERROR("database: %s: %s", what, err);
    }
}

/* Reconnects at most once a second. True when the link is usable. */
bool sender_link_ready(sender *s)
{
    if (!s->db_down && !db_connection_lost(s->db))
        return true;
    s->db_down = true;
    int64_t now = util_now_mono_ms();
    if (now < s->db_retry_ms)
        return false;
    s->db_retry_ms = now + 1000;
    PQreset(s->db);
    if (PQstatus(s->db) != CONNECTION_OK)
        return false;
    PGresult *r = PQexec(s->db, "SET client_min_messages = warning");
    PQclear(r);
    LOG_INFO("database connection re-established");
    s->db_down = false;
    return true;
}
