/*
 * Token rotation (store/token_refresh.h): asks Slack for a new token pair
 * while store/workspaces.c holds the installation's row locked, and decides
 * what a refusal means. The only file of the data layer that talks to Slack
 * for a token; the SQL files never include common/slack.h.
 */
#include "store/token_refresh.h"
#include "store/store_internal.h"
#include "store/workspaces.h"

#include "common/log.h"
#include "common/slack.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void store_token_dispose(store_token *t)
{
    if (!t)
        return;
    crypto_free_secret(t->token);
    memset(t, 0, sizeof *t);
}

bool store_slack_app_ready(const store_slack_app *app)
{
    return app && app->client_id && *app->client_id && app->client_secret && *app->client_secret;
}

/* A failed refresh: code and reason in out, one line in errstr. */
static store_status refresh_failed(store_token *out, const char *team_id, const char *code,
                                   const char *reason, bool transient, char *errstr,
                                   size_t errstr_size)
{
    char q[96];
    snprintf(out->code, sizeof out->code, "%s", code);
    snprintf(out->reason, sizeof out->reason, "%s", reason);
    out->transient = transient;
    return store_fail(STORE_CONFLICT, errstr, errstr_size,
                      "workspace %s: refreshing the bot token failed: %s (%s)%s",
                      store_quote(team_id, q, sizeof q), code, reason,
                      transient ? ": will try again" : ": installation marked revoked");
}

store_status store_workspace_refresh(PGconn *conn, const crypto_keyring *key, const char *team_id,
                                     const store_slack_app *app, int64_t margin_ms,
                                     const char *stale_token, store_token *out, char *errstr,
                                     size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    long timeout_ms = app && app->timeout_ms > 0 ? app->timeout_ms : SLACK_DEFAULT_TIMEOUT_MS;
    slack_result res;
    slack_result_init(&res);
    store_token_row row;
    store_status st = store_workspace_refresh_lock(conn, key, team_id, margin_ms, timeout_ms, &row,
                                                   errstr, errstr_size);
    if (st == STORE_CONFLICT)
        return refresh_failed(out, team_id, "refresh_in_progress",
                              "another process is refreshing this installation's token", true,
                              errstr, errstr_size);
    if (st)
        return st;
    out->token = row.token;
    row.token = NULL;
    out->rotating = row.refresh != NULL;
    out->expires_at_ms = row.expires_at_ms;
    out->revoked = row.revoked;
    snprintf(out->revoked_reason, sizeof out->revoked_reason, "%s", row.revoked_reason);

    bool need = stale_token ? strcmp(out->token, stale_token) == 0 : row.due;
    if (!need || !out->rotating || out->revoked || !store_slack_app_ready(app)) {
        /* Nothing to do, or another process refreshed it already: release the row. */
        st = store_workspace_refresh_commit(conn, errstr, errstr_size);
        goto out;
    }

    slack_oauth_v2_refresh(app->api_base, app->client_id, app->client_secret, row.refresh,
                           timeout_ms, &res);
    const char *access = res.ok ? slack_result_access_token(&res) : NULL;
    const char *next = res.ok ? slack_result_refresh_token(&res) : NULL;
    if (!res.ok || !access || !*access || !next || !*next) {
        bool transient = !res.ok && slack_class_is_retriable(res.cls);
        const char *code = res.ok ? "invalid_response" : res.error[0] ? res.error : "unknown";
        const char *reason = res.ok          ? "Slack's answer had no new token pair"
                             : res.reason[0] ? res.reason
                                             : "Slack refused the refresh";
        /* Our app's credentials refused: a configuration error of this process
         * (HERALD_SLACK_CLIENT_ID / _SECRET), not of the installation, whose
         * refresh token is still good: never revoke for it, try again. */
        bool app_config = !res.ok && (!strcmp(res.error, "invalid_client_id") ||
                                      !strcmp(res.error, "bad_client_secret"));
        if (res.ok || app_config)
            transient = true; /* nothing was revoked that we know of: try again */
        if (app_config) {
            store_workspace_refresh_rollback(conn);
            LOG_ERROR("workspace %s: Slack refused this Slack app's credentials (%s): check "
                      "HERALD_SLACK_CLIENT_ID and HERALD_SLACK_CLIENT_SECRET; the token is "
                      "refreshed once they are right",
                      team_id, code);
        } else if (!transient) {
            /* Slack will not refresh this installation: unusable until reinstalled. */
            if ((st = store_workspace_refresh_revoke(conn, team_id, code, errstr, errstr_size)) ||
                (st = store_workspace_refresh_commit(conn, errstr, errstr_size)))
                goto out;
            out->revoked = true;
            snprintf(out->revoked_reason, sizeof out->revoked_reason, "%s", code);
            crypto_free_secret(out->token);
            out->token = NULL;
            LOG_WARN("workspace %s: Slack refused to refresh the bot token (%s): installation "
                     "marked revoked; reinstall Herald in this workspace",
                     team_id, code);
        } else {
            store_workspace_refresh_rollback(conn);
            LOG_WARN("workspace %s: refreshing the bot token failed for now (%s)", team_id, code);
        }
        st = refresh_failed(out, team_id, code, reason, transient, errstr, errstr_size);
        goto out;
    }
    int64_t expires_at_ms = 0;
    if ((st = store_workspace_refresh_save(conn, key, team_id, access, next, res.expires_in,
                                           &expires_at_ms, errstr, errstr_size)) ||
        (st = store_workspace_refresh_commit(conn, errstr, errstr_size)))
        goto out;
    out->expires_at_ms = expires_at_ms;
    crypto_free_secret(out->token);
    out->token = xstrdup(access);
    out->refreshed = true;
    LOG_INFO("workspace %s: bot token refreshed (token rotation; it lives %lds)", team_id,
             res.expires_in);
out:
    if (st != STORE_OK && !(st == STORE_CONFLICT && out->code[0])) {
        store_workspace_refresh_rollback(conn);
        store_token_dispose(out);
    } else if (st != STORE_OK) {
        store_workspace_refresh_rollback(conn); /* no-op after the revoke's commit */
    }
    store_token_row_dispose(&row);
    slack_result_dispose(&res);
    return st;
}
