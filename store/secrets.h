#ifndef HERALD_STORE_SECRETS_H
#define HERALD_STORE_SECRETS_H

/*
 * The stored secrets as a whole (store/store.h for the conventions):
 * re-sealing every sealed column under the current key, for `heraldctl
 * secrets rotate` and `heraldctl migrate`.
 */

#include "store/store.h"

#include "common/crypto.h"

#include <libpq-fe.h>

/* Team ids listed at most in store_reseal_counts.unreadable. */
#define STORE_RESEAL_MAX_LISTED 20

typedef struct store_reseal_counts {
    long resealed;   /* rows written again under the current key */
    long current;    /* rows already v2 under the current key */
    long unreadable; /* rows neither key opens: left as they are */
    /* The first unreadable rows' team ids (never a value), NUL-terminated. */
    char unreadable_ids[STORE_RESEAL_MAX_LISTED][65];
} store_reseal_counts;

/*
 * Re-seals every stored secret (workspaces.token_enc and refresh_token_enc)
 * that keys opens but that is not v2 under keys->current: the v1 form, or
 * v2 under the previous key. In batches by team id; each row is written by
 * one statement (its own short transaction) that compares the old bytes, so
 * a row a token refresh or reinstall changed meanwhile is read again, not
 * overwritten. Values and keys never reach errstr. STORE_OK (look at
 * counts->unreadable) or STORE_DB.
 */
store_status store_secrets_reseal(PGconn *conn, const crypto_keyring *keys,
                                  store_reseal_counts *counts, char *errstr,
                                  size_t errstr_size) STORE_MUST_CHECK;

#endif
