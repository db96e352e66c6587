#ifndef HERALD_STORE_TEST_SEND_H
#define HERALD_STORE_TEST_SEND_H

/*
 * The one test send, behind `heraldctl test` and POST /api/v1/targets/{id}/test:
 * records a delivery of kind test, gets the workspace's usable token
 * (refreshing an expiring rotating one), resolves an email destination,
 * posts the rendered test message (waiting out a 429) and records the
 * outcome. The callers keep only their input and output (stdout lines and
 * an exit code; an HTTP status and JSON).
 *
 * Error codes are the sender's (herald-slack), so the CLI, the API and the
 * deliveries table agree: Slack's own code, token_revoked for an installation
 * marked unusable, workspace_not_installed for a missing workspace,
 * secret_key_mismatch, database_error, render_failed.
 *
 * It sits above the SQL files and talks to Slack (common/slack.h).
 */

#include "store/store.h"
#include "store/targets.h"
#include "store/token_refresh.h"

#include "common/crypto.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct store_test_send_opts {
    const crypto_keyring *key;  /* HERALD_SECRET_KEY and _PREVIOUS */
    const store_slack_app *app; /* Slack's API base (NULL: Slack's) and the app's credentials,
                                   which refresh a rotating token (none: never refreshed) */
    const char *source;         /* who asks, e.g. "heraldctl": in the event's payload */
    const char *herald_url;     /* the message's link to the console; NULL: none */
    /* Called before a 429 is waited out (may be NULL): the CLI says so on stderr. */
    void (*on_rate_limited)(void *ctx, int wait_ms);
    void *ctx;
    /* Both set (herald-api's pool): db_release(db_ctx) gives conn back before
     * each Slack call, so none is held while Slack answers, and
     * db_acquire(db_ctx) returns a connection for what follows (NULL: none
     * came; what was left to store is then not stored, and logged). Unset:
     * conn is kept throughout (heraldctl). */
    void (*db_release)(void *db_ctx);
    PGconn *(*db_acquire)(void *db_ctx);
    void *db_ctx;
} store_test_send_opts;

typedef struct store_test_send_result {
    int64_t delivery_id; /* 0: nothing was recorded */
    char event_id[37];
    bool ok;                 /* Slack accepted the message */
    char channel[64];        /* when ok: where it went, and its ts */
    char ts[64];             /* */
    char code[64];           /* when not ok: the error code (see above) */
    char reason[512];        /* when not ok: readable, for administrators */
    const char *slack_class; /* slack_class_name of Slack's last answer */
    bool recorded;           /* the outcome was stored (a failure to store it is logged) */
} store_test_send_result;

/*
 * Sends a test message to target t (as read with store_target_get) and
 * records it. STORE_OK: Slack was asked, or the installation is known
 * unusable; res says how it went. Otherwise nothing was sent and errstr says
 * why: with res->delivery_id 0 nothing was recorded (the delivery could not
 * be stored); with a delivery id, it was recorded as failed with res->code
 * because the workspace's token could not be read: STORE_NOT_FOUND (the
 * workspace is not installed), STORE_CRYPTO (HERALD_SECRET_KEY does not open
 * it), STORE_DB. Tokens never reach errstr, res or the logs.
 */
store_status store_test_send(PGconn *conn, const store_target *t, const store_test_send_opts *opts,
                             store_test_send_result *res, char *errstr,
                             size_t errstr_size) STORE_MUST_CHECK;

#endif
