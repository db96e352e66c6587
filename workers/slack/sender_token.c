/*
 * herald-slack's side of token rotation: refreshing a bot token about to
 * expire before it is used, or one Slack answered token_expired for, through
 * store_workspace_refresh (the data layer talks to Slack's oauth.v2.access).
 * Sending a request again after such a refresh is sender_flight.c's: this
 * file knows workspaces, not requests.
 */
#include "workers/slack/sender_token.h"

#include "workers/slack/sender_cache.h"
#include "workers/slack/sender_link.h"

#include "common/log.h"
#include "common/util.h"
#include "store/store.h"
#include "store/token_refresh.h"

#include <stdio.h>

/* A token refresh that failed for now (Slack 5xx, network, database) is tried
 * again after this long at the earliest, so a Slack outage costs one blocking
 * attempt per workspace per period, not one per delivery. */
#define REFRESH_RETRY_MS 10000

bool sender_rotation_ready(const sender *s)
{
    return s->client_id && *s->client_id && s->client_secret && *s->client_secret;
}

/* The token of w expires within the margin and may be refreshed now. */
bool sender_token_due(const sender *s, const ws_entry *w, int64_t now)
{
    return w->rotating && w->expires_at_ms > 0 && sender_rotation_ready(s) &&
           w->expires_at_ms - util_now_wall_ms() <= s->cfg.token_refresh_margin_ms &&
           now >= w->refresh_retry_ms;
}

/*
 * Refreshes w's token through store_workspace_refresh (row lock: one process
 * refreshes an installation at a time; another sender instance, herald-api or
 * this one may already have done it, in which case the stored token is
 * reused). stale: the token Slack answered token_expired for, or NULL for a
 * token about to expire. Reloads w from PostgreSQL afterwards, so the cache
 * follows the new token and expiry.
 *
 * Synchronous on purpose, on the loop's thread: a refresh happens about once
 * per token lifetime (12 h at Slack) per workspace and costs one transaction
 * and one Slack request bounded by --request-timeout; waiting for another
 * process's refresh is bounded by the same timeout (lock_timeout). Stalling
 * the loop that rarely, that briefly, is cheaper than holding a row lock
 * across loop turns.
 */
refresh_outcome sender_token_refresh(sender *s, ws_entry *w, const char *stale, int64_t now)
{
    if (!w->rotating || !sender_rotation_ready(s))
        return REFRESH_NONE;
    PGconn *conn = now < w->refresh_retry_ms ? NULL : sender_conn(s);
    if (!conn)
        return REFRESH_LATER;
    store_slack_app app = {.api_base = s->cfg.common.slack_api_url,
                           .client_id = s->client_id,
                           .client_secret = s->client_secret,
                           .timeout_ms = (long)s->cfg.request_timeout_ms};
    store_token t;
    char err[512];
    store_status st = store_workspace_refresh(
        conn, s->key, w->team_id, &app, s->cfg.token_refresh_margin_ms, stale, &t, err, sizeof err);
    refresh_outcome out = REFRESH_OK;
    if (st == STORE_OK) {
        if (t.refreshed) {
            s->stats.token_refreshes++;
            metrics_counter_inc(s->m.refreshes, "refreshed");
        } else {
            metrics_counter_inc(s->m.refreshes, "reused");
        }
    } else if (st == STORE_CONFLICT && t.code[0] && !t.transient) {
        metrics_counter_inc(s->m.refreshes, "failed_permanent");
        metrics_counter_inc(s->m.revoked, NULL);
        LOG_ERROR("workspace %s: Slack refused to refresh the bot token (%s): installation marked "
                  "unusable; its deliveries fail until Herald is reinstalled",
                  w->team_id, t.code);
        out = REFRESH_REVOKED;
    } else {
        metrics_counter_inc(s->m.refreshes, "failed_transient");
        if (st == STORE_DB)
            sender_link_failed(s, "refreshing the bot token", err);
        else
            LOG_WARN("%s", err); /* names the workspace and the code, never a token */
        w->refresh_retry_ms = now + REFRESH_RETRY_MS;
        out = REFRESH_LATER;
    }
    char code[64];
    snprintf(code, sizeof code, "%s", t.code[0] ? t.code : "token_expired");
    store_token_dispose(&t);
    if (out != REFRESH_LATER) {
        w->fetched_ms = 0; /* reload: the new token (sealed), its expiry, the revoked state */
        if (!sender_workspace(s, w->team_id, now) && out == REFRESH_OK)
            out = REFRESH_LATER;
    }
    /* Still due after a successful call (PostgreSQL's clock and ours disagree
     * about the margin): do not ask again for every message. */
    if (out == REFRESH_OK && sender_token_due(s, w, now))
        w->refresh_retry_ms = now + REFRESH_RETRY_MS;
    if (out == REFRESH_REVOKED && !w->revoked) { /* the reload failed: say it locally */
        w->revoked = true;
        snprintf(w->reason, sizeof w->reason, "%s", code);
    }
    return out;
}
