#ifndef HERALD_STORE_OAUTH_STATES_H
#define HERALD_STORE_OAUTH_STATES_H

/*
 * The data layer's OAuth install states (table oauth_states): herald-api's
 * "Add to Slack" flow issues one per installation started and consumes it
 * once when Slack sends the browser back. Only hashes are stored
 * (apitoken_hash_param), as bytea parameters.
 */

#include "store/store.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* Stores a new state: its hash, the hash of the browser cookie that goes
 * with it, the API token id (decimal text) that started it, its tenant (may
 * be NULL) and its lifetime in seconds (decimal text). */
store_status store_oauth_state_create(PGconn *conn, const char *state_hash,
                                      const char *browser_hash, const char *token_id,
                                      const char *tenant, const char *ttl_s, char *errstr,
                                      size_t errstr_size) STORE_MUST_CHECK;

/* What consuming a state found. */
typedef struct store_oauth_state {
    bool found;        /* it was issued and not used before (it is used now) */
    bool known;        /* not found: it was issued, and used already */
    bool has_tenant;   /* tenant holds the tenant that started it */
    char tenant[256];  /* */
    bool fresh;        /* not expired */
    bool same_browser; /* browser_hash (may be NULL) is the one issued with it */
} store_oauth_state;

/* Marks the state used (so it cannot be replayed, whatever happens next) and
 * says what it was in *out. */
store_status store_oauth_state_consume(PGconn *conn, const char *state_hash,
                                       const char *browser_hash, store_oauth_state *out,
                                       char *errstr, size_t errstr_size) STORE_MUST_CHECK;

#endif
