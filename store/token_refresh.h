#ifndef HERALD_STORE_TOKEN_REFRESH_H
#define HERALD_STORE_TOKEN_REFRESH_H

/*
 * Token rotation: refreshing an installation's expiring bot token at Slack.
 * It sits above the SQL files: store/workspaces.h locks, reads and saves the
 * row, this module asks Slack (common/slack.h) and decides. Used by
 * herald-slack, herald-api and the test send.
 */

#include "store/store.h"

#include "common/crypto.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* The Slack app's credentials, needed to refresh a rotating token. */
typedef struct store_slack_app {
    const char *api_base;      /* HERALD_SLACK_API_URL; NULL: Slack's */
    const char *client_id;     /* NULL or "": tokens are never refreshed */
    const char *client_secret; /* SECRET */
    long timeout_ms;           /* the refresh request's total timeout, also the longest
                                  wait for another process's refresh (0: 15 s) */
} store_slack_app;

/* An installation's usable token, as store_workspace_refresh leaves it. */
typedef struct store_token {
    char *token;  /* SECRET, malloc'd; release with store_token_dispose */
    bool revoked; /* the installation is marked unusable (before, or by this call) */
    char revoked_reason[64];
    bool rotating;         /* a refresh token is stored */
    int64_t expires_at_ms; /* wall clock; 0: the token does not expire */
    bool refreshed;        /* this call refreshed the token at Slack */
    /* A failed refresh (the call returns STORE_CONFLICT): */
    char code[64];    /* Slack's code, or "http_503", "timeout", "refresh_in_progress"... */
    char reason[256]; /* readable, for administrators */
    bool transient;   /* it may pass: try again later (token holds the old token) */
} store_token;

/* Wipes and frees t->token and zeroes *t. NULL-safe. */
void store_token_dispose(store_token *t);

/* True when app can refresh tokens (a client id and secret). */
bool store_slack_app_ready(const store_slack_app *app);

/*
 * The token of team_id, refreshed first when it must be. ONE installation is
 * refreshed by one process at a time: in a transaction the workspace row is
 * locked (SELECT ... FOR UPDATE, waiting at most app->timeout_ms) and read
 * again, then:
 *   - no refresh token, revoked, or app not ready: the stored token as is;
 *   - stale_token given (Slack answered token_expired for it): refreshed when
 *     the stored token is still that one; otherwise another process already
 *     refreshed it and the stored token is returned;
 *   - stale_token NULL: refreshed when it expires within margin_ms;
 *   - refreshing asks Slack (oauth.v2.access grant_type=refresh_token, a
 *     blocking request of at most app->timeout_ms while the row is locked)
 *     and stores the new token, refresh token and expiry in the same
 *     transaction (Slack has just revoked the old refresh token).
 * A permanent refresh error (invalid_refresh_token, invalid_client_id,
 * bad_client_secret, token_revoked...) marks the installation revoked with
 * that code; a transient one (5xx, network, rate limit) changes nothing. Both
 * return STORE_CONFLICT with out->code, out->reason and out->transient (the
 * old token stays in out->token when transient). STORE_NOT_FOUND, STORE_DB,
 * STORE_CRYPTO as store_workspace_token. Secrets never reach errstr or logs.
 * out is always initialised (dispose it).
 */
store_status store_workspace_refresh(PGconn *conn, const crypto_keyring *key, const char *team_id,
                                     const store_slack_app *app, int64_t margin_ms,
                                     const char *stale_token, store_token *out, char *errstr,
                                     size_t errstr_size) STORE_MUST_CHECK;

#endif
