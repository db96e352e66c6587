/*
 * The data layer's workspaces (store/workspaces.h): installations, their
 * sealed tokens, removal, and the row-level steps of a token refresh.
 */
#include "store/workspaces.h"
#include "store/store_internal.h"

#include "common/db.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_INSTALLED MS("w.installed_at")
#define MS_UPDATED   MS("w.updated_at")
#define MS_REVOKED   MS("w.revoked_at")
#define MS_EXPIRES   MS("w.token_expires_at")

/* store_workspace_refresh_lock's read of the locked row ($2: the margin in ms). */
#define REFRESH_SELECT                                                                             \
    "SELECT w.token_enc, w.refresh_token_enc, " MS_EXPIRES ", "                                    \
    " w.token_expires_at IS NOT NULL AND "                                                         \
    " w.token_expires_at <= now() + $2::int8 * interval '1 millisecond', "                         \
    " w.revoked_at IS NOT NULL, COALESCE(w.revoked_reason, '') "                                   \
    "FROM workspaces w WHERE w.team_id = $1 AND w.removed_at IS NULL FOR UPDATE"

/* ... and store_workspace_refresh_save's write of the new pair ($2, $3 sealed; $4 the
 * lifetime in s, 0: none). */
#define REFRESH_UPDATE                                                                             \
    "UPDATE workspaces w SET token_enc = $2, refresh_token_enc = $3, "                             \
    " token_expires_at = CASE WHEN $4::int8 > 0 THEN now() + $4::int8 * interval '1 second' END, " \
    " updated_at = now() WHERE w.team_id = $1 RETURNING " MS_EXPIRES

/* Marks an installation revoked ($2: the code); revoked_at keeps the first time. */
#define REVOKE_UPDATE                                                                              \
    "UPDATE workspaces SET revoked_at = COALESCE(revoked_at, now()), "                             \
    "revoked_reason = $2, updated_at = now() WHERE team_id = $1"

#define MAX_TEAM_NAME 200
#define MAX_TOKEN     4096

/* The NOT_FOUND message of every lookup by team id (%s: the quoted id). */
#define NO_WORKSPACE "no workspace %s is installed"

#define WORKSPACE_SELECT                                                                           \
    "SELECT w.team_id, w.team_name, w.bot_user_id, w.scopes, " MS_INSTALLED ", " MS_UPDATED ", "   \
    " w.revoked_at IS NOT NULL, " MS_REVOKED ", w.revoked_reason, "                                \
    " (SELECT count(*) FROM targets t WHERE t.team_id = w.team_id AND t.deleted_at IS NULL "       \
    "   AND ($1::text IS NULL OR t.tenant_id = $1)), "                                             \
    " w.refresh_token_enc IS NOT NULL, " MS_EXPIRES " "                                            \
    "FROM workspaces w WHERE w.removed_at IS NULL "

/* Who holds a workspace ($1 the tenant, $2 the team id): installed, the
 * tenant's, another tenant's (store_workspace_hold). */
#define HOLD_SELECT                                                                                \
    "SELECT EXISTS (SELECT 1 FROM workspaces WHERE team_id = $2 AND removed_at IS NULL), "         \
    " EXISTS (SELECT 1 FROM workspace_tenants WHERE team_id = $2 AND tenant_id = $1) "             \
    "  OR EXISTS (SELECT 1 FROM targets WHERE team_id = $2 AND tenant_id = $1 "                    \
    "             AND deleted_at IS NULL), "                                                       \
    " EXISTS (SELECT 1 FROM workspace_tenants WHERE team_id = $2 AND tenant_id <> $1) "            \
    "  OR EXISTS (SELECT 1 FROM targets WHERE team_id = $2 AND tenant_id <> $1 "                   \
    "             AND deleted_at IS NULL)"

#define W(ctype, member) COL(store_workspace, ctype, member)
/* WORKSPACE_SELECT's columns. */
static const col workspace_cols[] = {
    W(COL_STR, team_id),       W(COL_STR, team_name),       W(COL_STR, bot_user_id),
    W(COL_STR, scopes),        W(COL_I64, installed_at_ms), W(COL_I64, updated_at_ms),
    W(COL_BOOL, revoked),      W(COL_I64, revoked_at_ms),   W(COL_STR, revoked_reason),
    W(COL_LONG, target_count), W(COL_BOOL, rotating),       W(COL_I64, token_expires_at_ms),
};
#undef W

static void workspace_dispose(store_workspace *w)
{
    store_col_free(w, workspace_cols, ARRAY_LEN(workspace_cols));
    memset(w, 0, sizeof *w);
}

DEFINE_DESTROY(store_workspace, store_workspaces, workspace_dispose)

static void workspace_row(const PGresult *r, int i, void *item)
{
    store_col_map(r, i, item, workspace_cols, ARRAY_LEN(workspace_cols));
}

/* A token's bytes: none may be a space, another control character or DEL
 * (they would not survive an Authorization header). */
static bool has_space_or_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return true;
    return false;
}

/* Wipes and frees a sealed token (crypto_seal's output; NULL is fine). */
static void sealed_free(unsigned char *sealed, size_t len)
{
    if (sealed)
        crypto_wipe(sealed, len);
    free(sealed);
}

/* Runs HOLD_SELECT for tenant and team_id into *out. */
static store_status hold_query(PGconn *conn, const char *tenant, const char *team_id,
                               store_workspace_hold *out, char *errstr, size_t errstr_size)
{
    const char *p[2] = {tenant, team_id};
    PGresult *r = store_run(conn, "checking who holds the workspace", HOLD_SELECT, 2, p, NULL,
                            errstr, errstr_size);
    if (!r)
        return STORE_DB;
    out->installed = store_get_bool(r, 0, 0);
    out->mine = store_get_bool(r, 0, 1);
    out->others = store_get_bool(r, 0, 2);
    PQclear(r);
    return STORE_OK;
}

/* In store_workspace_put's transaction, before the token is written: a
 * tenant's install of an installation it does not hold alone is refused. */
static store_status install_guard(PGconn *conn, const store_workspace_input *in, bool existed,
                                  char *errstr, size_t errstr_size)
{
    if (!in->tenant_install || !existed)
        return STORE_OK;
    store_workspace_hold h;
    store_status st = hold_query(conn, in->tenant, in->team_id, &h, errstr, errstr_size);
    if (st || (h.mine && !h.others))
        return st;
    char q[96];
    return store_fail(STORE_CONFLICT, errstr, errstr_size,
                      h.mine ? "workspace %s is shared with other tenants: only an operator "
                               "may reinstall it"
                             : "workspace %s is held by another tenant: an operator may share "
                               "it (heraldctl workspace share)",
                      store_quote(in->team_id, q, sizeof q));
}

/* In store_workspace_put's transaction, after the token is written: a
 * revived installation drops the links it had before its removal, and
 * in->tenant is linked. */
static store_status install_links(PGconn *conn, const store_workspace_input *in, bool existed,
                                  char *errstr, size_t errstr_size)
{
    const char *p[2] = {in->team_id, in->tenant};
    store_status st = STORE_OK;
    if (!existed)
        st = store_exec(conn, "dropping the links of a removed workspace",
                        "DELETE FROM workspace_tenants WHERE team_id = $1", 1, p, NULL, errstr,
                        errstr_size);
    if (!st && in->tenant)
        st = store_workspace_link_tenant(conn, in->team_id, in->tenant, errstr, errstr_size);
    return st;
}

store_status store_workspace_put(PGconn *conn, const crypto_keyring *keys,
                                 const store_workspace_input *in, bool *replaced, char *errstr,
                                 size_t errstr_size)
{
    store_status st;
    if ((st = store_check_team_id("team_id", in->team_id, errstr, errstr_size)) ||
        (st = store_check_text("team_name", in->team_name, MAX_TEAM_NAME, true, errstr,
                               errstr_size)) ||
        (st = store_check_text("bot_user_id", in->bot_user_id, MAX_TEAM_ID, false, errstr,
                               errstr_size)) ||
        (st = store_check_text("scopes", in->scopes, 2000, false, errstr, errstr_size)))
        return st;
    /* The token is never quoted, whatever is wrong with it. */
    if (!in->token || !*in->token)
        return store_fail(STORE_INVALID, errstr, errstr_size, "token: must not be empty");
    size_t tlen = strlen(in->token);
    if (tlen > MAX_TOKEN)
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "token: longer than %d bytes (value not shown)", MAX_TOKEN);
    if (has_space_or_control(in->token))
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "token: contains whitespace or control characters (value not shown)");

    /* Rotation comes as a pair: a refresh token and the token's lifetime. */
    bool rotating = in->refresh_token != NULL;
    size_t rlen = rotating ? strlen(in->refresh_token) : 0;
    if (rotating && (rlen == 0 || rlen > MAX_TOKEN))
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "refresh_token: empty or longer than %d bytes (value not shown)",
                          MAX_TOKEN);
    if (rotating && has_space_or_control(in->refresh_token))
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "refresh_token: contains whitespace or control characters (value not "
                          "shown)");
    if (rotating != (in->expires_in > 0) || in->expires_in < 0 || in->expires_in > 1000000000L)
        return store_fail(
            STORE_INVALID, errstr, errstr_size,
            "expires_in: %ld: a token lifetime comes with a refresh token, as a positive "
            "number of seconds",
            in->expires_in);

    unsigned char *sealed = NULL, *rsealed = NULL;
    size_t sealed_len = 0, rsealed_len = 0;
    if (crypto_seal_bound(keys, STORE_TOKEN_COLUMN, in->team_id, in->token, tlen, &sealed,
                          &sealed_len))
        return store_fail(STORE_CRYPTO, errstr, errstr_size, "token: encryption failed");
    if (rotating && crypto_seal_bound(keys, STORE_REFRESH_COLUMN, in->team_id, in->refresh_token,
                                      rlen, &rsealed, &rsealed_len)) {
        sealed_free(sealed, sealed_len);
        return store_fail(STORE_CRYPTO, errstr, errstr_size, "refresh_token: encryption failed");
    }
    char expires[24];
    snprintf(expires, sizeof expires, "%ld", in->expires_in);

    const char *what = "storing the workspace";
    PGresult *r = NULL;
    if ((st = store_begin(conn, what, errstr, errstr_size)))
        goto out;
    const char *p1[1] = {in->team_id};
    /* Installs of one team id take turns (the row may not exist yet, so its
     * lock alone would not order them): what the guard reads stays true. */
    if ((st = store_exec(conn, what,
                         "SELECT pg_advisory_xact_lock(hashtext('herald.install:' || $1))", 1, p1,
                         NULL, errstr, errstr_size)))
        goto out;
    r = store_run(conn, what,
                  "SELECT removed_at IS NULL FROM workspaces WHERE team_id = $1 FOR UPDATE", 1, p1,
                  NULL, errstr, errstr_size);
    if (!r) {
        st = STORE_DB;
        goto out;
    }
    bool existed = PQntuples(r) > 0 && store_get_bool(r, 0, 0);
    PQclear(r);
    if ((st = install_guard(conn, in, existed, errstr, errstr_size)))
        goto out;

    /* The token, its refresh token and its expiry are written together. */
    const char *vals[7] = {in->team_id,          in->team_name,         in->bot_user_id, in->scopes,
                           (const char *)sealed, (const char *)rsealed, expires};
    int lens[7] = {0, 0, 0, 0, (int)sealed_len, (int)rsealed_len, 0};
    int fmts[7] = {0, 0, 0, 0, 1, 1, 0}; /* the sealed tokens go as binary bytea */
    r = PQexecParams(conn,
                     "INSERT INTO workspaces (team_id, team_name, bot_user_id, scopes, token_enc, "
                     " refresh_token_enc, token_expires_at) "
                     "VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::int8 > 0 THEN now() + "
                     " $7::int8 * interval '1 second' END) "
                     "ON CONFLICT (team_id) DO UPDATE SET team_name = EXCLUDED.team_name, "
                     " bot_user_id = COALESCE(EXCLUDED.bot_user_id, workspaces.bot_user_id), "
                     " scopes = COALESCE(EXCLUDED.scopes, workspaces.scopes), "
                     " token_enc = EXCLUDED.token_enc, "
                     " refresh_token_enc = EXCLUDED.refresh_token_enc, "
                     " token_expires_at = EXCLUDED.token_expires_at, "
                     " installed_at = now(), updated_at = now(), "
                     " revoked_at = NULL, revoked_reason = NULL, removed_at = NULL",
                     7, NULL, vals, lens, fmts, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        st = store_db_fail(conn, r, what, errstr, errstr_size);
        PQclear(r);
        goto out;
    }
    PQclear(r);
    if ((st = install_links(conn, in, existed, errstr, errstr_size)) ||
        (st = store_commit(conn, what, errstr, errstr_size)))
        goto out;
    if (replaced)
        *replaced = existed;
out:
    if (st)
        store_rollback(conn);
    sealed_free(sealed, sealed_len);
    sealed_free(rsealed, rsealed_len);
    return st;
}

store_status store_workspace_list(PGconn *conn, store_workspaces *out, char *errstr,
                                  size_t errstr_size)
{
    return store_workspace_list_for(conn, NULL, out, errstr, errstr_size);
}

store_status store_workspace_list_for(PGconn *conn, const char *tenant, store_workspaces *out,
                                      char *errstr, size_t errstr_size)
{
    void *items;
    const char *p[1] = {tenant};
    store_status st =
        store_query_rows(conn, "listing workspaces", WORKSPACE_SELECT "ORDER BY w.team_id", 1, p,
                         workspace_row, sizeof *out->items, &items, &out->n, errstr, errstr_size);
    out->items = items;
    return st;
}

store_status store_workspace_get(PGconn *conn, const char *team_id, store_workspace **out,
                                 char *errstr, size_t errstr_size)
{
    return store_workspace_get_for(conn, NULL, team_id, out, errstr, errstr_size);
}

store_status store_workspace_get_for(PGconn *conn, const char *tenant, const char *team_id,
                                     store_workspace **out, char *errstr, size_t errstr_size)
{
    char q[96];
    const char *p[2] = {tenant, team_id ? team_id : ""};
    void *item;
    store_status st = store_query_one(
        conn, "reading the workspace", WORKSPACE_SELECT "AND w.team_id = $2", 2, p, workspace_row,
        sizeof **out, &item, errstr, errstr_size, NO_WORKSPACE, store_quote(team_id, q, sizeof q));
    *out = item;
    return st;
}

/* Locks team_id's row (installed, not removed) in the open transaction:
 * links and targets naming it wait until the transaction ends. */
static store_status lock_workspace(PGconn *conn, const char *what, const char *team_id,
                                   char *errstr, size_t errstr_size)
{
    char q[96];
    const char *p[1] = {team_id ? team_id : ""};
    return store_run_row(conn, what,
                         "SELECT 1 FROM workspaces WHERE team_id = $1 AND removed_at IS NULL "
                         "FOR UPDATE",
                         1, p, NULL, errstr, errstr_size, NO_WORKSPACE,
                         store_quote(team_id, q, sizeof q));
}

/* store_workspace_remove's work, in the transaction holding the row lock. */
static store_status remove_locked(PGconn *conn, const char *what, const char *team_id, bool force,
                                  long *targets_removed, char *errstr, size_t errstr_size)
{
    char q[96];
    store_status st;
    const char *p[1] = {team_id ? team_id : ""};
    PGresult *r = store_run(
        conn, what,
        "SELECT id, name FROM targets WHERE team_id = $1 AND deleted_at IS NULL ORDER BY id", 1, p,
        NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    int nt = PQntuples(r);
    if (nt > 0 && !force) {
        char list[384] = "";
        size_t o = 0;
        for (int i = 0; i < nt && o < sizeof list; i++) {
            char qn[96];
            int w = snprintf(list + o, sizeof list - o, "%s%s %s", i ? ", " : "",
                             PQgetvalue(r, i, 0), store_quote(PQgetvalue(r, i, 1), qn, sizeof qn));
            if (w < 0)
                break;
            o += (size_t)w;
            if (i == 7 && nt > 8) {
                snprintf(list + (o < sizeof list ? o : sizeof list - 1),
                         o < sizeof list ? sizeof list - o : 1, ", and %d more", nt - 8);
                break;
            }
        }
        PQclear(r);
        return store_fail(
            STORE_CONFLICT, errstr, errstr_size,
            "workspace %s is used by %d target%s (%s): remove %s first or force the removal",
            store_quote(team_id, q, sizeof q), nt, nt == 1 ? "" : "s", list,
            nt == 1 ? "it" : "them");
    }
    PQclear(r);
    if (nt > 0) {
        if ((st = store_exec(conn, what,
                             "UPDATE targets SET deleted_at = now(), enabled = false, "
                             "updated_at = now() WHERE team_id = $1 AND deleted_at IS NULL",
                             1, p, NULL, errstr, errstr_size)))
            return st;
        if (targets_removed)
            *targets_removed = nt;
    }
    /* History (deliveries -> targets) keeps a referenced workspace as a
     * tombstone with its token destroyed; an unreferenced one goes. */
    return store_exec(conn, what,
                      "WITH gone AS (DELETE FROM workspaces w WHERE w.team_id = $1 AND NOT "
                      " EXISTS (SELECT 1 FROM targets t WHERE t.team_id = w.team_id) RETURNING 1) "
                      "UPDATE workspaces SET removed_at = now(), token_enc = ''::bytea, "
                      " refresh_token_enc = NULL, token_expires_at = NULL, "
                      " revoked_at = COALESCE(revoked_at, now()), revoked_reason = 'removed', "
                      " updated_at = now() "
                      "WHERE team_id = $1 AND NOT EXISTS (SELECT 1 FROM gone)",
                      1, p, NULL, errstr, errstr_size);
}

store_status store_workspace_remove(PGconn *conn, const char *team_id, bool force,
                                    long *targets_removed, char *errstr, size_t errstr_size)
{
    const char *what = "removing the workspace";
    store_status st;
    if (targets_removed)
        *targets_removed = 0;
    if ((st = store_begin(conn, what, errstr, errstr_size)))
        return st;
    if ((st = lock_workspace(conn, what, team_id, errstr, errstr_size)) ||
        (st = remove_locked(conn, what, team_id, force, targets_removed, errstr, errstr_size)) ||
        (st = store_commit(conn, what, errstr, errstr_size)))
        store_rollback(conn);
    return st;
}

store_status store_workspace_token(PGconn *conn, const crypto_keyring *keys, const char *team_id,
                                   char **token, bool *revoked, char *errstr, size_t errstr_size)
{
    *token = NULL;
    if (revoked)
        *revoked = false;
    char q[96];
    const char *p[1] = {team_id ? team_id : ""};
    /* Binary results: the sealed bytes arrive as they are, no hex round trip. */
    PGresult *r = PQexecParams(conn,
                               "SELECT token_enc, revoked_at IS NOT NULL FROM workspaces "
                               "WHERE team_id = $1 AND removed_at IS NULL",
                               1, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        store_status st =
            store_db_fail(conn, r, "reading the workspace token", errstr, errstr_size);
        PQclear(r);
        return st;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        return store_fail(STORE_NOT_FOUND, errstr, errstr_size, NO_WORKSPACE,
                          store_quote(team_id, q, sizeof q));
    }
    const unsigned char *sealed = (const unsigned char *)PQgetvalue(r, 0, 0);
    size_t len = (size_t)PQgetlength(r, 0, 0);
    bool is_revoked = PQgetlength(r, 0, 1) == 1 && PQgetvalue(r, 0, 1)[0] != 0;
    char err[128];
    if (crypto_open_bound(keys, STORE_TOKEN_COLUMN, p[0], sealed, len, token, NULL, err,
                          sizeof err)) {
        PQclear(r);
        return store_fail(STORE_CRYPTO, errstr, errstr_size, "workspace %s: %s",
                          store_quote(team_id, q, sizeof q), err);
    }
    PQclear(r);
    if (revoked)
        *revoked = is_revoked;
    return STORE_OK;
}

store_status store_workspace_mark_revoked(PGconn *conn, const char *team_id, const char *code)
{
    char errstr[512];
    const char *p[2] = {team_id ? team_id : "", code && *code ? code : "revoked"};
    store_status st = store_exec(conn, "marking the workspace revoked", REVOKE_UPDATE, 2, p, NULL,
                                 errstr, sizeof errstr);
    if (st)
        LOG_WARN("workspace %s: %s", p[0], errstr);
    return st;
}

/* ---- token refresh steps --------------------------------------------------------------- */

#define REFRESH_WHAT "refreshing the workspace token"

void store_token_row_dispose(store_token_row *row)
{
    if (!row)
        return;
    crypto_free_secret(row->token);
    crypto_free_secret(row->refresh);
    memset(row, 0, sizeof *row);
}

/* Opens a sealed bytea column of a text-format result into *out (malloc'd,
 * NULL for SQL NULL or an empty value); name and team_id: its binding. */
static int open_sealed_col(const PGresult *r, int column, const char *name, const char *team_id,
                           const crypto_keyring *keys, char **out, char *err, size_t err_size)
{
    *out = NULL;
    if (PQgetisnull(r, 0, column))
        return 0;
    size_t len = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, column), &len);
    if (!raw) {
        snprintf(err, err_size, "cannot decode the stored value");
        return -1;
    }
    int rc = 0;
    if (len)
        rc = crypto_open_bound(keys, name, team_id, raw, len, out, NULL, err, err_size);
    crypto_wipe(raw, len);
    PQfreemem(raw);
    if (rc)
        *out = NULL;
    return rc;
}

store_status store_workspace_refresh_lock(PGconn *conn, const crypto_keyring *keys,
                                          const char *team_id, int64_t margin_ms,
                                          long lock_timeout_ms, store_token_row *row, char *errstr,
                                          size_t errstr_size)
{
    memset(row, 0, sizeof *row);
    const char *what = REFRESH_WHAT;
    char q[96], sqlstate[6], margin[24], lock_ms[24], cerr[128];
    snprintf(margin, sizeof margin, "%lld", (long long)(margin_ms > 0 ? margin_ms : 0));
    snprintf(lock_ms, sizeof lock_ms, "%ld", lock_timeout_ms);
    PGresult *r = NULL;
    store_status st;

    if ((st = store_begin(conn, what, errstr, errstr_size)))
        return st;
    /* Another process refreshing this installation holds the row while it asks
     * Slack (at most its request timeout): wait that long, not longer. */
    const char *pl[1] = {lock_ms};
    if ((st = store_exec(conn, what, "SELECT set_config('lock_timeout', $1 || 'ms', true)", 1, pl,
                         NULL, errstr, errstr_size)))
        goto out;
    const char *p[2] = {team_id ? team_id : "", margin};
    r = store_run(conn, what, REFRESH_SELECT, 2, p, sqlstate, errstr, errstr_size);
    if (!r) {
        st = !strcmp(sqlstate, "55P03") ? STORE_CONFLICT : STORE_DB; /* lock_not_available */
        goto out;
    }
    if (PQntuples(r) == 0) {
        st = store_fail(STORE_NOT_FOUND, errstr, errstr_size, NO_WORKSPACE,
                        store_quote(team_id, q, sizeof q));
        goto out;
    }
    if (open_sealed_col(r, 0, STORE_TOKEN_COLUMN, p[0], keys, &row->token, cerr, sizeof cerr) ||
        !row->token ||
        open_sealed_col(r, 1, STORE_REFRESH_COLUMN, p[0], keys, &row->refresh, cerr, sizeof cerr)) {
        st = store_fail(STORE_CRYPTO, errstr, errstr_size, "workspace %s: %s",
                        store_quote(team_id, q, sizeof q), row->token ? cerr : "no stored token");
        goto out;
    }
    row->expires_at_ms = store_get_i64(r, 0, 2);
    row->due = store_get_bool(r, 0, 3);
    row->revoked = store_get_bool(r, 0, 4);
    snprintf(row->revoked_reason, sizeof row->revoked_reason, "%s", PQgetvalue(r, 0, 5));
out:
    PQclear(r);
    if (st) {
        store_rollback(conn);
        store_token_row_dispose(row);
    }
    return st;
}

store_status store_workspace_refresh_save(PGconn *conn, const crypto_keyring *keys,
                                          const char *team_id, const char *token,
                                          const char *refresh, long expires_in,
                                          int64_t *expires_at_ms, char *errstr, size_t errstr_size)
{
    char q[96];
    unsigned char *sealed = NULL, *rsealed = NULL;
    size_t sealed_len = 0, rsealed_len = 0;
    PGresult *r = NULL;
    store_status st = STORE_OK;
    if (crypto_seal_bound(keys, STORE_TOKEN_COLUMN, team_id, token, strlen(token), &sealed,
                          &sealed_len) ||
        crypto_seal_bound(keys, STORE_REFRESH_COLUMN, team_id, refresh, strlen(refresh), &rsealed,
                          &rsealed_len)) {
        /* Slack has revoked the old refresh token: losing the new one would strand the
         * installation, but there is nothing else to do than say so. */
        st = store_fail(STORE_CRYPTO, errstr, errstr_size,
                        "workspace %s: encrypting the new tokens failed",
                        store_quote(team_id, q, sizeof q));
        goto out;
    }
    char expires[24];
    snprintf(expires, sizeof expires, "%ld", expires_in);
    const char *vals[4] = {team_id, (const char *)sealed, (const char *)rsealed, expires};
    int lens[4] = {0, (int)sealed_len, (int)rsealed_len, 0};
    int fmts[4] = {0, 1, 1, 0};
    r = PQexecParams(conn, REFRESH_UPDATE, 4, NULL, vals, lens, fmts, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st = store_db_fail(conn, r, REFRESH_WHAT, errstr, errstr_size);
        goto out;
    }
    *expires_at_ms = store_get_i64(r, 0, 0);
out:
    PQclear(r);
    sealed_free(sealed, sealed_len);
    sealed_free(rsealed, rsealed_len);
    return st;
}

store_status store_workspace_refresh_revoke(PGconn *conn, const char *team_id, const char *code,
                                            char *errstr, size_t errstr_size)
{
    const char *p[2] = {team_id, code};
    return store_exec(conn, REFRESH_WHAT, REVOKE_UPDATE, 2, p, NULL, errstr, errstr_size);
}

store_status store_workspace_refresh_commit(PGconn *conn, char *errstr, size_t errstr_size)
{
    return store_commit(conn, REFRESH_WHAT, errstr, errstr_size);
}

void store_workspace_refresh_rollback(PGconn *conn)
{
    store_rollback(conn);
}

/* ---- tenants of a workspace (herald-api's tenant-scoped tokens) -------------------------- */

/* Runs a one-row query about tenant ($1) and team_id ($2): *flag gets its
 * bool column 0, *count (may be NULL) its count column 1. */
static store_status tenants_query(PGconn *conn, const char *sql, const char *tenant,
                                  const char *team_id, bool *flag, long *count, char *errstr,
                                  size_t errstr_size)
{
    const char *p[2] = {tenant, team_id};
    PGresult *r =
        store_run(conn, "checking the workspace's tenants", sql, 2, p, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    *flag = store_get_bool(r, 0, 0);
    if (count)
        *count = (long)store_get_i64(r, 0, 1);
    PQclear(r);
    return STORE_OK;
}

store_status store_workspace_visible(PGconn *conn, const char *tenant, const char *team_id,
                                     bool *visible, char *errstr, size_t errstr_size)
{
    return tenants_query(conn,
                         "SELECT EXISTS (SELECT 1 FROM workspace_tenants "
                         "                WHERE tenant_id = $1 AND team_id = $2) "
                         "    OR EXISTS (SELECT 1 FROM targets WHERE tenant_id = $1 "
                         "                AND team_id = $2 AND deleted_at IS NULL)",
                         tenant, team_id, visible, NULL, errstr, errstr_size);
}

store_status store_workspace_link_tenant(PGconn *conn, const char *team_id, const char *tenant,
                                         char *errstr, size_t errstr_size)
{
    const char *p[2] = {team_id, tenant};
    return store_exec(conn, "linking the workspace to the tenant",
                      "INSERT INTO workspace_tenants (team_id, tenant_id) VALUES ($1, $2) "
                      "ON CONFLICT DO NOTHING",
                      2, p, NULL, errstr, errstr_size);
}

store_status store_workspace_tenant_use(PGconn *conn, const char *tenant, const char *team_id,
                                        bool *shared, long *targets, char *errstr,
                                        size_t errstr_size)
{
    return tenants_query(
        conn,
        "SELECT EXISTS (SELECT 1 FROM workspace_tenants WHERE team_id = $2 AND tenant_id <> "
        "$1) "
        "    OR EXISTS (SELECT 1 FROM targets WHERE team_id = $2 AND tenant_id <> $1 "
        "                AND deleted_at IS NULL), "
        "       (SELECT count(*) FROM targets WHERE team_id = $2 AND tenant_id = $1 "
        "         AND deleted_at IS NULL)",
        tenant, team_id, shared, targets, errstr, errstr_size);
}

store_status store_workspace_unlink_tenant(PGconn *conn, const char *tenant, const char *team_id,
                                           char *errstr, size_t errstr_size)
{
    const char *p[2] = {tenant, team_id};
    return store_exec(conn, "unlinking the workspace from the tenant",
                      "WITH t AS (UPDATE targets SET deleted_at = now(), enabled = false, "
                      "           updated_at = now() WHERE team_id = $2 AND tenant_id = $1 "
                      "           AND deleted_at IS NULL RETURNING id) "
                      "DELETE FROM workspace_tenants WHERE team_id = $2 AND tenant_id = $1 "
                      "RETURNING (SELECT count(*) FROM t)",
                      2, p, NULL, errstr, errstr_size);
}

store_status store_workspace_hold_of(PGconn *conn, const char *tenant, const char *team_id,
                                     store_workspace_hold *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    return hold_query(conn, tenant, team_id, out, errstr, errstr_size);
}

store_status store_workspace_share(PGconn *conn, const char *team_id, const char *tenant,
                                   char *errstr, size_t errstr_size)
{
    const char *what = "sharing the workspace";
    store_status st;
    if ((st = store_check_text("tenant", tenant, 128, true, errstr, errstr_size)) ||
        (st = store_begin(conn, what, errstr, errstr_size)))
        return st;
    if ((st = lock_workspace(conn, what, team_id, errstr, errstr_size)) ||
        (st = store_workspace_link_tenant(conn, team_id, tenant, errstr, errstr_size)) ||
        (st = store_commit(conn, what, errstr, errstr_size)))
        store_rollback(conn);
    return st;
}

/* In a transaction holding the row lock: unlinks tenant from team_id, its
 * targets on it first (refused while there are some, unless force). */
static store_status unlink_locked(PGconn *conn, const char *tenant, const char *team_id, bool force,
                                  long *targets_removed, char *errstr, size_t errstr_size)
{
    bool shared = false;
    long mine = 0;
    store_status st =
        store_workspace_tenant_use(conn, tenant, team_id, &shared, &mine, errstr, errstr_size);
    if (st)
        return st;
    char q[96], qt[96];
    if (mine > 0 && !force)
        return store_fail(STORE_CONFLICT, errstr, errstr_size,
                          "workspace %s is used by %ld target%s of tenant %s: remove %s first or "
                          "force the removal",
                          store_quote(team_id, q, sizeof q), mine, mine == 1 ? "" : "s",
                          store_quote(tenant, qt, sizeof qt), mine == 1 ? "it" : "them");
    if ((st = store_workspace_unlink_tenant(conn, tenant, team_id, errstr, errstr_size)))
        return st;
    if (targets_removed)
        *targets_removed = mine;
    return STORE_OK;
}

store_status store_workspace_unshare(PGconn *conn, const char *team_id, const char *tenant,
                                     bool force, long *targets_removed, char *errstr,
                                     size_t errstr_size)
{
    const char *what = "unsharing the workspace";
    char q[96], qt[96];
    store_status st;
    if (targets_removed)
        *targets_removed = 0;
    if ((st = store_begin(conn, what, errstr, errstr_size)))
        return st;
    const char *p[2] = {team_id ? team_id : "", tenant ? tenant : ""};
    if ((st = lock_workspace(conn, what, team_id, errstr, errstr_size)) ||
        (st = store_run_row(
             conn, what, "SELECT 1 FROM workspace_tenants WHERE team_id = $1 AND tenant_id = $2", 2,
             p, NULL, errstr, errstr_size, "tenant %s is not linked to workspace %s",
             store_quote(tenant, qt, sizeof qt), store_quote(team_id, q, sizeof q))) ||
        (st = unlink_locked(conn, p[1], p[0], force, targets_removed, errstr, errstr_size)) ||
        (st = store_commit(conn, what, errstr, errstr_size)))
        store_rollback(conn);
    return st;
}

store_status store_workspace_tenant_remove(PGconn *conn, const char *tenant, const char *team_id,
                                           bool force, bool *unlinked, long *targets_removed,
                                           char *errstr, size_t errstr_size)
{
    const char *what = "removing the tenant's workspace";
    store_status st;
    *unlinked = false;
    if (targets_removed)
        *targets_removed = 0;
    if ((st = store_begin(conn, what, errstr, errstr_size)))
        return st;
    /* The lock comes first: "is it shared" and what follows see the same
     * tenants (another tenant's link or target waits for the commit). */
    store_workspace_hold h = {0};
    if ((st = lock_workspace(conn, what, team_id, errstr, errstr_size)) ||
        (st = hold_query(conn, tenant, team_id, &h, errstr, errstr_size)))
        goto out;
    if (h.others) {
        st = unlink_locked(conn, tenant, team_id, force, targets_removed, errstr, errstr_size);
        *unlinked = st == STORE_OK;
    } else {
        st = remove_locked(conn, what, team_id, force, targets_removed, errstr, errstr_size);
    }
    if (!st)
        st = store_commit(conn, what, errstr, errstr_size);
out:
    if (st) {
        store_rollback(conn);
        *unlinked = false;
    }
    return st;
}
