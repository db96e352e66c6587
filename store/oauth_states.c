/* The data layer's OAuth install states (store/oauth_states.h). */
#include "store/oauth_states.h"
#include "store/store_internal.h"

#include <stdio.h>
#include <string.h>

store_status store_oauth_state_create(PGconn *conn, const char *state_hash,
                                      const char *browser_hash, const char *token_id,
                                      const char *tenant, const char *ttl_s, char *errstr,
                                      size_t errstr_size)
{
    const char *p[5] = {state_hash, browser_hash, token_id, tenant, ttl_s};
    return store_exec(conn, "storing the install state",
                      "INSERT INTO oauth_states (state_hash, browser_hash, token_id, "
                      "tenant_id, expires_at) VALUES ($1::bytea, $2::bytea, $3::bigint, "
                      "$4, now() + make_interval(secs => $5::int))",
                      5, p, NULL, errstr, errstr_size);
}

store_status store_oauth_state_consume(PGconn *conn, const char *state_hash,
                                       const char *browser_hash, store_oauth_state *out,
                                       char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    const char *p[2] = {state_hash, browser_hash};
    PGresult *r = store_run(conn, "consuming the install state",
                            "UPDATE oauth_states SET used_at = now() "
                            " WHERE state_hash = $1::bytea AND used_at IS NULL "
                            "RETURNING tenant_id, expires_at > now(), "
                            "          coalesce(browser_hash = $2::bytea, false)",
                            2, p, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    if (PQntuples(r) == 0) {
        PQclear(r);
        /* Not found: used already, or never issued (or removed long ago). A
         * failure here only makes the page say "unknown" instead of "reused". */
        r = PQexecParams(conn, "SELECT 1 FROM oauth_states WHERE state_hash = $1::bytea", 1, NULL,
                         p, NULL, NULL, 0);
        out->known = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        PQclear(r);
        return STORE_OK;
    }
    out->found = true;
    out->has_tenant = !PQgetisnull(r, 0, 0);
    if (out->has_tenant)
        snprintf(out->tenant, sizeof out->tenant, "%s", PQgetvalue(r, 0, 0));
    out->fresh = store_get_bool(r, 0, 1);
    out->same_browser = store_get_bool(r, 0, 2);
    PQclear(r);
    return STORE_OK;
}
