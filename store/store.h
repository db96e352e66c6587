#ifndef HERALD_STORE_H
#define HERALD_STORE_H

/*
 * Herald's admin data layer over PostgreSQL: Slack workspace installations,
 * notification targets with their check filters and health, deliveries, and
 * test deliveries. heraldctl is a thin CLI over it and the HTTP admin API
 * (issue 5) serialises the same structs (store/storejson.h).
 *
 * Conventions
 *   - Every query is parameterised (PQexecParams); no value is ever spliced
 *     into SQL text.
 *   - Functions return a store_status and, on failure, one line in errstr.
 *     For STORE_INVALID the line is "<field>: <reason>", where <field> is one
 *     of the field names listed with each input struct (a data-model name such
 *     as "destination"; the CLI maps it to its flag, the API to its JSON key)
 *     and the reason quotes the bad value ('foo bar'), except for secrets,
 *     which are never quoted.
 *   - Results are heap structs owned by the caller and released with the
 *     matching _free function (each accepts NULL). Strings documented "may be
 *     NULL" are NULL when the column is NULL; others are never NULL.
 *   - Times are milliseconds since the Unix epoch, 0 when absent.
 *   - A tenant argument, where there is one, scopes the call to that tenant
 *     (NULL: every tenant): a target of another tenant is STORE_NOT_FOUND.
 *     This is what a tenant-scoped API token maps onto.
 *   - Tokens are secrets: they are sealed with crypto_seal before they reach
 *     the database, never returned by list/get, and never put in errstr.
 *
 * @locality: any thread, one PGconn per thread at a time (libpq's rule). No
 * globals.
 */

#include "common/crypto.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum store_status {
    STORE_OK = 0,
    STORE_INVALID = -1,   /* bad input: errstr is "<field>: <reason>" (CLI exit 2, HTTP 400) */
    STORE_NOT_FOUND = -2, /* no such workspace/target/delivery (HTTP 404) */
    STORE_CONFLICT = -3,  /* refused in the current state, e.g. workspace in use (HTTP 409) */
    STORE_DB = -4,        /* database failure; db_connection_lost(conn) says if it was the link */
    STORE_CRYPTO = -5     /* a stored token could not be opened (wrong HERALD_SECRET_KEY) */
} store_status;

/* "ok", "invalid", "not_found", "conflict", "database", "crypto". */
const char *store_status_name(store_status s);

/* Extracts the field of a STORE_INVALID message ("destination: ..." -> "destination")
 * into field (size field_size); returns a pointer to the reason after ": ", or
 * errstr itself when the message has no field prefix (field is then ""). */
const char *store_invalid_field(const char *errstr, char *field, size_t field_size);

/* ================================================================ workspaces */

typedef struct store_workspace {
    char *team_id;
    char *team_name;
    char *bot_user_id; /* may be NULL */
    char *scopes;      /* may be NULL: comma-separated as Slack returned them */
    int64_t installed_at_ms;
    int64_t updated_at_ms;
    bool revoked; /* Slack said the token is dead; cleared by a reinstall */
    int64_t revoked_at_ms;
    char *revoked_reason;        /* may be NULL: the Slack error code, e.g. "token_revoked" */
    long target_count;           /* targets using it that are not removed */
    bool rotating;               /* installed with token rotation: a refresh token is stored */
    int64_t token_expires_at_ms; /* when the access token expires; 0: it does not */
} store_workspace;

typedef struct store_workspaces {
    store_workspace *items;
    size_t n;
} store_workspaces;

void store_workspace_free(store_workspace *w);
void store_workspaces_free(store_workspaces *l); /* frees the items, zeroes *l */

/* Fields (for STORE_INVALID): team_id, team_name, bot_user_id, scopes, token,
 * refresh_token, expires_in. */
typedef struct store_workspace_input {
    const char *team_id;     /* required: Slack team id, e.g. T0123ABCD */
    const char *team_name;   /* required */
    const char *bot_user_id; /* optional; NULL keeps the stored one on a reinstall */
    const char *scopes;      /* optional; NULL keeps the stored one on a reinstall */
    const char *token;       /* required: the bot token (SECRET: sealed, never echoed) */
    /* Token rotation (oauth.v2.access answered refresh_token and expires_in):
     * both or neither. NULL / 0: the token does not expire. A reinstall
     * replaces the token, the refresh token and the expiry together. */
    const char *refresh_token; /* SECRET: sealed like the token, never echoed */
    long expires_in;           /* seconds from now the token lives */
} store_workspace_input;

/*
 * Adds a workspace installation, or replaces it when team_id is already
 * installed (a reinstall): name, token and the given optional fields are
 * replaced, installed_at is reset and the revoked state is cleared. A
 * removed workspace is revived. *replaced (may be NULL) tells which happened.
 */
store_status store_workspace_put(PGconn *conn, const unsigned char key[CRYPTO_KEY_LEN],
                                 const store_workspace_input *in, bool *replaced, char *errstr,
                                 size_t errstr_size);

/* Every installed workspace, by team id; never includes tokens. */
store_status store_workspace_list(PGconn *conn, store_workspaces *out, char *errstr,
                                  size_t errstr_size);

store_status store_workspace_get(PGconn *conn, const char *team_id, store_workspace **out,
                                 char *errstr, size_t errstr_size);

/*
 * Removes a workspace. While targets that are not removed use it this is
 * refused with STORE_CONFLICT naming them (ids and names), unless force,
 * which removes those targets too. *targets_removed (may be NULL) gets how
 * many were. The token is destroyed; delivery history is kept (see 004_admin.sql).
 */
store_status store_workspace_remove(PGconn *conn, const char *team_id, bool force,
                                    long *targets_removed, char *errstr, size_t errstr_size);

/*
 * The decrypted bot token of team_id, for the sender and `heraldctl test`.
 * *token is malloc'd (the caller wipes it with crypto_wipe and frees it);
 * *revoked tells whether the installation is marked unusable (the token is
 * still returned: the caller decides). STORE_NOT_FOUND when not installed,
 * STORE_CRYPTO when the key does not open it. Never logs or returns the token
 * in errstr.
 */
store_status store_workspace_token(PGconn *conn, const unsigned char key[CRYPTO_KEY_LEN],
                                   const char *team_id, char **token, bool *revoked, char *errstr,
                                   size_t errstr_size);

/* ---- token rotation ------------------------------------------------------------------------ */

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
store_status store_workspace_refresh(PGconn *conn, const unsigned char key[CRYPTO_KEY_LEN],
                                     const char *team_id, const store_slack_app *app,
                                     int64_t margin_ms, const char *stale_token, store_token *out,
                                     char *errstr, size_t errstr_size);

/*
 * Marks the installation unusable after an installation-class Slack error
 * (invalid_auth, token_revoked, account_inactive...): revoked_reason = code;
 * revoked_at keeps the first time. Cleared by store_workspace_put. Database
 * failures are logged (LOG_WARN) and returned as STORE_DB.
 */
store_status store_workspace_mark_revoked(PGconn *conn, const char *team_id, const char *code);

/* ================================================================ targets */

#define STORE_USE_FAILED_CHECK    0x1u
#define STORE_USE_DATA_COLLECTION 0x2u

#define STORE_MAX_NAME        200
#define STORE_MAX_DESCRIPTION 2000
#define STORE_MAX_CHECK_TYPE  128
#define STORE_MAX_CHECKS      500

typedef enum store_dest_kind {
    STORE_DEST_CHANNEL_ID = 0, /* C0123ABC / G0123ABC */
    STORE_DEST_CHANNEL_NAME,   /* #sec-alerts */
    STORE_DEST_EMAIL           /* someone@example.com: a direct message to that member */
} store_dest_kind;

/* "channel_id", "channel_name", "email". */
const char *store_dest_kind_name(store_dest_kind k);

/* Per target over the last 24 hours, and the last success and error
 * (view target_delivery_health). */
typedef struct store_target_health {
    long pending_24h, sending_24h, retrying_24h, sent_24h, failed_24h;
    int64_t last_success_at_ms;
    int64_t last_error_at_ms;
    char *last_error_code; /* may be NULL */
    char *last_error;      /* may be NULL: readable reason */
} store_target_health;

typedef struct store_target {
    int64_t id;
    char *tenant_id;
    char *team_id;
    char *team_name;
    bool workspace_revoked;
    char *name;
    char *description; /* "" when none */
    char *destination; /* as entered */
    store_dest_kind destination_kind;
    char *destination_resolved; /* may be NULL: what Slack resolved it to */
    unsigned uses;              /* STORE_USE_* bits, at least one */
    bool enabled;
    bool digest_enabled; /* the sender may fold a backlog into one digest (default on) */
    bool thread_repeats; /* repeats of a still-failing check go in its thread (default off) */
    char **checks;       /* check filter, sorted; n_checks == 0: every check */
    size_t n_checks;
    int64_t created_at_ms;
    int64_t updated_at_ms;
    store_target_health health;
} store_target;

typedef struct store_targets {
    store_target *items;
    size_t n;
} store_targets;

void store_target_free(store_target *t);
void store_targets_free(store_targets *l);

/*
 * Create and update input. Fields (for STORE_INVALID): tenant, workspace,
 * name, description, destination, uses, checks.
 * Create: tenant, workspace, name, destination and uses are required;
 * description NULL is ""; enabled < 0 is true; checks[0..n_checks) is the
 * filter (set_checks is ignored).
 * Update: NULL / 0 / -1 leave a field unchanged; tenant and workspace are
 * ignored; set_checks replaces the filter with checks[0..n_checks) (none:
 * every check).
 */
/* A setting a create/update may leave alone: zero means "unchanged" (create:
 * the default), so callers that zero-initialise the input never flip it. */
typedef enum store_toggle { STORE_KEEP = 0, STORE_ON = 1, STORE_OFF = 2 } store_toggle;

typedef struct store_target_input {
    const char *tenant;
    const char *workspace; /* team id */
    const char *name;
    const char *description;
    const char *destination; /* channel id, #channel-name or email address */
    unsigned uses;           /* STORE_USE_* bits */
    bool set_checks;
    const char *const *checks;
    size_t n_checks;
    int enabled;                 /* -1 unchanged (create: true), 0, 1 */
    store_toggle digest;         /* digest_enabled (migration 003; create default: on) */
    store_toggle thread_repeats; /* thread_repeats (migration 003; create default: off) */
} store_target_input;

/*
 * Validates and creates a target; *id gets the new id. Validation, each
 * naming its field and the bad value: tenant non-empty; the workspace is
 * installed and not revoked; name non-empty and unique in the tenant among
 * targets not removed; destination is a channel id, #channel-name or email;
 * at least one use; a check filter only with the failed_check use.
 */
store_status store_target_create(PGconn *conn, const store_target_input *in, int64_t *id,
                                 char *errstr, size_t errstr_size);

/* Targets not removed, of tenant (NULL: all), ordered by tenant and id, with
 * their check filters and health. */
store_status store_target_list(PGconn *conn, const char *tenant, store_targets *out, char *errstr,
                               size_t errstr_size);

/* One target (not removed), with its check filter and health. */
store_status store_target_get(PGconn *conn, const char *tenant, int64_t id, store_target **out,
                              char *errstr, size_t errstr_size);

/* Applies the given subset of fields, validated as on create. Changing the
 * destination forgets what it was resolved to and the target's last error. */
store_status store_target_update(PGconn *conn, const char *tenant, int64_t id,
                                 const store_target_input *in, char *errstr, size_t errstr_size);

/* Soft delete: sets deleted_at (and disables it) so its history stays readable. */
store_status store_target_remove(PGconn *conn, const char *tenant, int64_t id, char *errstr,
                                 size_t errstr_size);

/* Records what Slack resolved the destination to (a user id for an email). */
store_status store_target_set_resolved(PGconn *conn, int64_t id, const char *resolved, char *errstr,
                                       size_t errstr_size);

/* ---- validation helpers (also used by the CLI and the API before they call) */

/* Classifies a destination; STORE_INVALID "destination: 'x' is not a channel id,
 * #channel or email address" otherwise. */
store_status store_destination_parse(const char *dest, store_dest_kind *kind, char *errstr,
                                     size_t errstr_size);

/* "failed_check", "data_collection" or both, comma-separated (spaces around
 * items allowed); STORE_INVALID with field "uses" otherwise. */
store_status store_uses_parse(const char *csv, unsigned *uses, char *errstr, size_t errstr_size);

/* "failed_check", "data_collection" or "failed_check,data_collection" into buf. */
const char *store_uses_format(unsigned uses, char *buf, size_t buf_size);

/* Splits "type1,type2" into a sorted, de-duplicated vector of check types
 * (letters, digits, _ . : -); field "checks". Free with store_strv_free. */
store_status store_checks_parse(const char *csv, char ***checks, size_t *n, char *errstr,
                                size_t errstr_size);
void store_strv_free(char **v, size_t n);

/* ================================================================ deliveries */

#define STORE_DELIVERIES_DEFAULT_LIMIT 50
#define STORE_DELIVERIES_MAX_LIMIT     1000

/* Fields (for STORE_INVALID): state, limit, offset. Zero/NULL members do not filter. */
typedef struct store_delivery_filter {
    const char *tenant;
    int64_t target_id;
    const char *state; /* pending, sending, retrying, sent, failed */
    int64_t since_ms;  /* created at or after */
    int64_t before_id; /* keyset pagination: only deliveries older than this one */
    int limit;         /* 0: STORE_DELIVERIES_DEFAULT_LIMIT; at most the max */
    int offset;
} store_delivery_filter;

typedef struct store_delivery {
    int64_t id;
    char *event_id;
    int64_t target_id;
    char *target_name;
    char *tenant_id;
    char *event_kind;        /* may be NULL: check_result, collection_event, test */
    char *check_type;        /* may be NULL: check results */
    char *integration;       /* may be NULL: collection events (integration name or id) */
    char *collection_status; /* may be NULL: succeeded / failed */
    char *state;
    int attempts;
    int64_t next_attempt_at_ms;
    char *error_code;    /* may be NULL */
    char *error;         /* may be NULL: readable reason */
    char *slack_channel; /* may be NULL */
    char *slack_ts;      /* may be NULL */
    int64_t created_at_ms;
    int64_t updated_at_ms;
    int64_t sent_at_ms;
} store_delivery;

typedef struct store_deliveries {
    store_delivery *items;
    size_t n;
} store_deliveries;

void store_delivery_free(store_delivery *d);
void store_deliveries_free(store_deliveries *l);

/* Newest first (created_at, then id). */
store_status store_delivery_list(PGconn *conn, const store_delivery_filter *f,
                                 store_deliveries *out, char *errstr, size_t errstr_size);

store_status store_delivery_get(PGconn *conn, const char *tenant, int64_t id, store_delivery **out,
                                char *errstr, size_t errstr_size);

/* True for pending, sending, retrying, sent, failed. */
bool store_delivery_state_valid(const char *state);

/* ---- test deliveries (heraldctl test, POST /targets/{id}/test) */

/*
 * Records a test about to be sent to target id: an events row of kind
 * 'test' (payload names the target and `source`, e.g. "heraldctl") and a
 * deliveries row in state 'sending' with one attempt. *delivery_id gets its
 * id; event_id (may be NULL) the new event's uuid.
 */
store_status store_test_delivery_begin(PGconn *conn, const char *tenant, int64_t target_id,
                                       const char *source, int64_t *delivery_id, char event_id[37],
                                       char *errstr, size_t errstr_size);

typedef struct store_delivery_outcome {
    bool ok;
    const char *slack_channel; /* when ok */
    const char *slack_ts;      /* when ok */
    const char *error_code;    /* when not ok: Slack's code, e.g. "channel_not_found" */
    const char *error;         /* when not ok: readable reason */
} store_delivery_outcome;

/* Ends a test delivery: 'sent' with channel/ts, or 'failed' with the code and
 * reason; the target's last success / last error columns follow. */
store_status store_test_delivery_finish(PGconn *conn, int64_t delivery_id,
                                        const store_delivery_outcome *o, char *errstr,
                                        size_t errstr_size);

#endif
