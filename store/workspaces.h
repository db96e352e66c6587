#ifndef HERALD_STORE_WORKSPACES_H
#define HERALD_STORE_WORKSPACES_H

/*
 * The data layer's workspaces (store/store.h for the conventions): Slack
 * installations, their sealed bot tokens, and the row-level steps a token
 * refresh runs in (store/token_refresh.h orchestrates them).
 */

#include "store/store.h"

#include "common/crypto.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* The sealed columns and what each value is bound to (crypto_seal_bound):
 * the column's name and the row's team id. */
#define STORE_TOKEN_COLUMN   "workspaces.token_enc"
#define STORE_REFRESH_COLUMN "workspaces.refresh_token_enc"

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

void store_workspace_destroy(store_workspace *w);
void store_workspaces_dispose(store_workspaces *l); /* frees the items, zeroes *l */

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
    /* The tenant linked to the workspace in the same transaction (NULL: none).
     * With tenant_install (herald-api: a tenant's own "Add to Slack"), an
     * installation someone else holds is left alone: STORE_CONFLICT unless the
     * workspace is new (or was removed) or is held by tenant alone (see
     * store_workspace_hold). An operator's install replaces the token. */
    const char *tenant;
    bool tenant_install;
} store_workspace_input;

/*
 * Adds a workspace installation, or replaces it when team_id is already
 * installed (a reinstall): name, token and the given optional fields are
 * replaced, installed_at is reset and the revoked state is cleared. A
 * removed workspace is revived. *replaced (may be NULL) tells which happened.
 */
store_status store_workspace_put(PGconn *conn, const crypto_keyring *keys,
                                 const store_workspace_input *in, bool *replaced, char *errstr,
                                 size_t errstr_size) STORE_MUST_CHECK;

/* Every installed workspace, by team id; never includes tokens. */
store_status store_workspace_list(PGconn *conn, store_workspaces *out, char *errstr,
                                  size_t errstr_size) STORE_MUST_CHECK;

store_status store_workspace_get(PGconn *conn, const char *team_id, store_workspace **out,
                                 char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/* As store_workspace_list / _get, with target_count counting only tenant's
 * targets (NULL: every tenant's, as list and get do). */
store_status store_workspace_list_for(PGconn *conn, const char *tenant, store_workspaces *out,
                                      char *errstr, size_t errstr_size) STORE_MUST_CHECK;
store_status store_workspace_get_for(PGconn *conn, const char *tenant, const char *team_id,
                                     store_workspace **out, char *errstr,
                                     size_t errstr_size) STORE_MUST_CHECK;

/*
 * Removes a workspace. While targets that are not removed use it this is
 * refused with STORE_CONFLICT naming them (ids and names), unless force,
 * which removes those targets too. *targets_removed (may be NULL) gets how
 * many were. The token is destroyed; delivery history is kept (see 004_admin.sql).
 */
store_status store_workspace_remove(PGconn *conn, const char *team_id, bool force,
                                    long *targets_removed, char *errstr,
                                    size_t errstr_size) STORE_MUST_CHECK;

/*
 * The decrypted bot token of team_id, for the sender and `heraldctl test`.
 * *token is malloc'd (the caller wipes it with crypto_wipe and frees it);
 * *revoked tells whether the installation is marked unusable (the token is
 * still returned: the caller decides). STORE_NOT_FOUND when not installed,
 * STORE_CRYPTO when the key does not open it. Never logs or returns the token
 * in errstr.
 */
store_status store_workspace_token(PGconn *conn, const crypto_keyring *keys, const char *team_id,
                                   char **token, bool *revoked, char *errstr,
                                   size_t errstr_size) STORE_MUST_CHECK;

/* ---- token refresh steps (store/token_refresh.c runs them around its call to Slack) ---- */

/* The token columns of a workspace row locked for a refresh. */
typedef struct store_token_row {
    char *token;           /* SECRET, malloc'd: the stored bot token */
    char *refresh;         /* SECRET, malloc'd; NULL: no refresh token (not rotating) */
    int64_t expires_at_ms; /* wall clock; 0: the token does not expire */
    bool due;              /* it expires within the margin given to the lock */
    bool revoked;
    char revoked_reason[64];
} store_token_row;

/* Wipes and frees the secrets and zeroes *row. NULL-safe. */
void store_token_row_dispose(store_token_row *row);

/*
 * Opens a transaction and locks team_id's row (SELECT ... FOR UPDATE, waiting
 * at most lock_timeout_ms for another process holding it), then reads and
 * opens its tokens into *row (due: the token expires within margin_ms). On
 * STORE_OK the transaction stays open: end it with
 * store_workspace_refresh_commit or store_workspace_refresh_rollback. Any
 * failure leaves no transaction and *row disposed: STORE_CONFLICT when the
 * lock was not had in time (another process is refreshing), STORE_NOT_FOUND,
 * STORE_CRYPTO, STORE_DB. Secrets never reach errstr.
 */
store_status store_workspace_refresh_lock(PGconn *conn, const crypto_keyring *keys,
                                          const char *team_id, int64_t margin_ms,
                                          long lock_timeout_ms, store_token_row *row, char *errstr,
                                          size_t errstr_size) STORE_MUST_CHECK;

/* In the locked transaction: seals and stores the new token pair and its
 * lifetime (expires_in seconds, 0: none); *expires_at_ms gets the expiry. */
store_status store_workspace_refresh_save(PGconn *conn, const crypto_keyring *keys,
                                          const char *team_id, const char *token,
                                          const char *refresh, long expires_in,
                                          int64_t *expires_at_ms, char *errstr,
                                          size_t errstr_size) STORE_MUST_CHECK;

/* In the locked transaction: marks the installation revoked with code. */
store_status store_workspace_refresh_revoke(PGconn *conn, const char *team_id, const char *code,
                                            char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/* Commits the locked transaction (releasing the row). */
store_status store_workspace_refresh_commit(PGconn *conn, char *errstr,
                                            size_t errstr_size) STORE_MUST_CHECK;

/* Abandons the locked transaction, if one is open. */
void store_workspace_refresh_rollback(PGconn *conn);

/*
 * Marks the installation unusable after an installation-class Slack error
 * (invalid_auth, token_revoked, account_inactive...): revoked_reason = code;
 * revoked_at keeps the first time. Cleared by store_workspace_put. Database
 * failures are logged (LOG_WARN) and returned as STORE_DB. Not STORE_MUST_CHECK:
 * it is best effort after Slack's answer, which the caller reports anyway.
 */
store_status store_workspace_mark_revoked(PGconn *conn, const char *team_id, const char *code);

/* ---- tenants of a workspace (herald-api: a tenant-scoped token sees what is its own) ---- */

/* Whether tenant may see/use workspace team_id: it installed it through the
 * API (workspace_tenants), or one of its targets uses it. */
store_status store_workspace_visible(PGconn *conn, const char *tenant, const char *team_id,
                                     bool *visible, char *errstr,
                                     size_t errstr_size) STORE_MUST_CHECK;

/* Records that tenant installed team_id (a no-op when it did already). */
store_status store_workspace_link_tenant(PGconn *conn, const char *team_id, const char *tenant,
                                         char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/* *shared: another tenant uses team_id too (linked, or one of its targets);
 * *targets: how many of tenant's targets (not removed) use it. */
store_status store_workspace_tenant_use(PGconn *conn, const char *tenant, const char *team_id,
                                        bool *shared, long *targets, char *errstr,
                                        size_t errstr_size) STORE_MUST_CHECK;

/* Unlinks team_id from tenant and removes tenant's targets on it (the
 * installation stays for the other tenants). */
store_status store_workspace_unlink_tenant(PGconn *conn, const char *tenant, const char *team_id,
                                           char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/* Who holds an installed workspace, as a tenant's install sees it. */
typedef struct store_workspace_hold {
    bool installed; /* installed and not removed */
    bool mine;      /* tenant is linked to it, or one of its targets uses it */
    bool others;    /* another tenant is linked to it, or one of its targets uses it */
} store_workspace_hold;

/* What holds team_id for tenant (why store_workspace_put refused a tenant
 * install: installed && (!mine || others)). */
store_status store_workspace_hold_of(PGconn *conn, const char *tenant, const char *team_id,
                                     store_workspace_hold *out, char *errstr,
                                     size_t errstr_size) STORE_MUST_CHECK;

/*
 * The operator's sharing: links an installed team_id to tenant (a no-op when
 * it is already). STORE_NOT_FOUND when it is not installed.
 */
store_status store_workspace_share(PGconn *conn, const char *team_id, const char *tenant,
                                   char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/*
 * The operator's unsharing: unlinks team_id from tenant. While targets of
 * tenant use it this is refused with STORE_CONFLICT, unless force, which
 * removes them (*targets_removed, may be NULL). STORE_NOT_FOUND when tenant
 * is not linked to it. The installation stays.
 */
store_status store_workspace_unshare(PGconn *conn, const char *team_id, const char *tenant,
                                     bool force, long *targets_removed, char *errstr,
                                     size_t errstr_size) STORE_MUST_CHECK;

/*
 * A tenant removing its workspace, in one transaction with the workspace
 * row locked (so no other tenant links or targets it meanwhile): when
 * another tenant uses it too, tenant is unlinked and (force) its targets on
 * it removed (*unlinked true); otherwise the workspace is removed as
 * store_workspace_remove does. While targets of tenant use it, refused with
 * STORE_CONFLICT unless force. *targets_removed may be NULL.
 */
store_status store_workspace_tenant_remove(PGconn *conn, const char *tenant, const char *team_id,
                                           bool force, bool *unlinked, long *targets_removed,
                                           char *errstr, size_t errstr_size) STORE_MUST_CHECK;

#endif
