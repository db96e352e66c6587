/*
 * herald-api: the Slack workspaces (installations) a caller may see.
 *
 *   GET    /api/v1/workspaces                     (the caller's)
 *   GET    /api/v1/workspaces/{team_id}           with a live auth.test
 *   DELETE /api/v1/workspaces/{team_id}[?force=true]
 *   GET    /api/v1/workspaces/{team_id}/channels
 *   POST   /api/v1/workspaces/{team_id}/tenants   {"tenant": T}   (operator: share)
 *   DELETE /api/v1/workspaces/{team_id}/tenants/{tenant}[?force=true]   (operator: unshare)
 *
 * Also what the targets need from a workspace: whether a tenant may use it,
 * its usable bot token (refreshed under token rotation) and the check of a
 * destination with Slack before a target is saved. A tenant token sees only
 * the workspaces its tenant installed or uses; another one is 404.
 */
#include "workers/api/api_workspaces.h"

#include "workers/api/api_http.h"

#include "common/crypto.h"
#include "common/db.h"
#include "common/event.h"
#include "common/log.h"
#include "common/slack.h"
#include "common/util.h"
#include "store/storejson.h"
#include "store/workspaces.h"
#include "store/validation.h"
#include "store/token_refresh.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ================================================================ visibility */

/* Whether tenant may see/use workspace team_id: it installed it through the
 * API, or one of its targets uses it. 1 yes, 0 no, -1 database error. */
int api_workspace_visible(PGconn *db, const char *tenant, const char *team_id, char *err,
                          size_t err_size)
{
    bool visible = false;
    if (store_workspace_visible(db, tenant, team_id, &visible, err, err_size) != STORE_OK)
        return -1;
    return visible;
}

/* The workspace team_id if the caller may see it; answers 404/503 otherwise. */
static store_workspace *visible_workspace(api_call *c, const char *team_id)
{
    char err[512];
    const char *tenant = c->who.tenant[0] ? c->who.tenant : NULL;
    if (tenant) {
        int v = api_workspace_visible(c->db, tenant, team_id, err, sizeof err);
        if (v < 0) {
            api_store_error(c, STORE_DB, err);
            return NULL;
        }
        if (v == 0) {
            api_error(c, 404, NULL, "no workspace '%s' is installed for tenant %s", team_id,
                      tenant);
            return NULL;
        }
    }
    /* target_count: the caller's tenant's targets only (an operator's: all,
     * or those of ?tenant=). */
    store_workspace *w = NULL;
    store_status st =
        store_workspace_get_for(c->db, api_tenant_scope(c), team_id, &w, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return NULL;
    }
    return w;
}

/* ================================================================ workspaces */

static void workspaces_list(api_call *c)
{
    char err[512];
    store_workspaces l = {0};
    const char *tenant = api_tenant_scope(c);
    store_status st = store_workspace_list_for(c->db, tenant, &l, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < l.n; i++) {
        if (tenant) {
            int v = api_workspace_visible(c->db, tenant, l.items[i].team_id, err, sizeof err);
            if (v < 0) {
                cJSON_Delete(o);
                store_workspaces_dispose(&l);
                api_store_error(c, STORE_DB, err);
                return;
            }
            if (!v)
                continue;
        }
        cJSON_AddItemToArray(items, storejson_workspace(&l.items[i]));
    }
    store_workspaces_dispose(&l);
    api_respond(c, 200, o);
}

/* ================================================================ bot token */

/* Token rotation: a token expiring within this is refreshed before use. */
#define API_TOKEN_REFRESH_MARGIN_MS (5 * 60 * 1000)

/*
 * The workspace's usable token into *t, as herald-slack gets it: with token
 * rotation an expiring token (or, with stale, the one Slack just answered
 * token_expired for) is refreshed first through store_workspace_refresh, one
 * process at a time. A refresh failing for now leaves the current token; one
 * Slack refuses leaves t->token NULL, the installation revoked and t->code
 * set. Returns STORE_OK or the store's failure (errstr set).
 */
/* The workspace's usable bot token into *t, refreshed first under token
 * rotation when it expires soon (or, with stale, when Slack just answered
 * token_expired for it). STORE_OK (t->token NULL and t->code set when Slack
 * refused the refresh) or the store's failure with errstr set. */
static store_status usable_token(api_call *c, const char *team_id, const char *stale,
                                 store_token *t, char *errstr, size_t errstr_size)
{
    const api_server *s = c->srv;
    store_slack_app app = {.api_base = api_slack_base(s),
                           .client_id = s->cfg.client_id,
                           .client_secret = s->cfg.client_secret,
                           .timeout_ms = SLACK_DEFAULT_TIMEOUT_MS};
    store_status st = store_workspace_refresh(
        c->db, s->key, team_id, &app, API_TOKEN_REFRESH_MARGIN_MS, stale, t, errstr, errstr_size);
    if (st == STORE_CONFLICT && t->code[0])
        return STORE_OK; /* the refresh failed: t says how */
    if (st == STORE_OK && t->refreshed)
        LOG_INFO("api: workspace %s: bot token refreshed (token rotation)", team_id);
    return st;
}

/* Opens the workspace's token (refreshing it first when it expires soon,
 * see usable_token); answers and returns NULL on failure. The caller wipes
 * and frees it. */
static char *workspace_token(api_call *c, const char *team_id, bool *revoked)
{
    char err[512];
    store_token t;
    store_status st = usable_token(c, team_id, NULL, &t, err, sizeof err);
    if (st == STORE_NOT_FOUND) {
        api_error(c, 400, "workspace", "workspace: '%s' is not installed", team_id);
        return NULL;
    }
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return NULL;
    }
    if (!t.token) {
        api_error(c, 502, NULL,
                  "the bot token of workspace '%s' expired and Slack refused to refresh it "
                  "(%s): reinstall Herald in that workspace",
                  team_id, t.code);
        store_token_dispose(&t);
        return NULL;
    }
    *revoked = t.revoked;
    char *token = t.token;
    t.token = NULL;
    store_token_dispose(&t);
    return token;
}

/* ================================================================ one workspace */

/* Marks team's installation unusable after Slack refused its token, taking a
 * connection again (api_db_reacquire) when the Slack call gave it back.
 * False after answering 503. */
static bool mark_revoked(api_call *c, const char *team_id, const char *code)
{
    if (!api_db_reacquire(c))
        return false;
    store_workspace_mark_revoked(c->db, team_id, code);
    return true;
}

static void workspace_show(api_call *c, const char *team_id)
{
    store_workspace *w = visible_workspace(c, team_id);
    if (!w)
        return;
    cJSON *o = storejson_workspace(w);
    store_workspace_destroy(w);
    /* Health: what Slack says about the token right now. */
    bool revoked = false;
    char *token = api_slack_begin(c) ? workspace_token(c, team_id, &revoked) : NULL;
    if (!token) {
        cJSON_Delete(o);
        return;
    }
    /* No connection is held while Slack answers (up to its timeout). */
    api_db_release(c);
    slack_result r;
    slack_result_init(&r);
    slack_auth_test(api_slack_base(c->srv), token, &r);
    crypto_free_secret(token);
    api_slack_end(c);
    cJSON *h = cJSON_AddObjectToObject(o, "auth_test");
    cJSON_AddBoolToObject(h, "ok", r.ok);
    if (!r.ok) {
        cJSON_AddStringToObject(h, "error", r.error);
        cJSON_AddStringToObject(h, "reason", r.reason);
        cJSON_AddStringToObject(h, "class", slack_class_name(r.cls));
        if (r.cls == SLACK_INSTALLATION && !mark_revoked(c, team_id, r.error)) {
            slack_result_dispose(&r);
            cJSON_Delete(o);
            return;
        }
    } else {
        cJSON_AddStringToObject(h, "team", r.team);
        cJSON_AddStringToObject(h, "bot_user_id", r.user_id);
    }
    slack_result_dispose(&r);
    api_respond(c, 200, o);
}

static void workspace_remove(api_call *c, const char *team_id)
{
    char err[512];
    store_workspace *w = visible_workspace(c, team_id);
    if (!w)
        return;
    store_workspace_destroy(w);
    const char *f = httpd_req_query(c->req, "force");
    bool force = f && (strcmp(f, "true") == 0 || strcmp(f, "1") == 0);
    if (!api_is_operator(c)) {
        /* A tenant removes only what is its own: when other tenants use the
         * workspace too, it is unlinked from this tenant (and, with force,
         * this tenant's targets on it are removed). The check and the change
         * are one transaction. */
        bool unlinked = false;
        long mine = 0;
        store_status st = store_workspace_tenant_remove(c->db, c->who.tenant, team_id, force,
                                                        &unlinked, &mine, err, sizeof err);
        if (st != STORE_OK) {
            api_store_error(c, st, err);
            return;
        }
        LOG_INFO("api: workspace %s %s by token %" PRId64, team_id,
                 unlinked ? "unlinked from its tenant" : "removed", c->who.token_id);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "removed", !unlinked);
        if (unlinked)
            cJSON_AddBoolToObject(o, "unlinked", true);
        cJSON_AddNumberToObject(o, "targets_removed", (double)mine);
        api_respond(c, 200, o);
        return;
    }
    long removed = 0;
    store_status st = store_workspace_remove(c->db, team_id, force, &removed, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    LOG_INFO("api: workspace %s removed by token %" PRId64, team_id, c->who.token_id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "removed", true);
    cJSON_AddNumberToObject(o, "targets_removed", (double)removed);
    api_respond(c, 200, o);
}

static bool scope_has(const char *scopes, const char *want)
{
    if (!scopes)
        return true; /* unknown (added by hand): assume Herald's scopes */
    size_t wl = strlen(want);
    for (const char *p = scopes; (p = strstr(p, want)) != NULL; p += wl) {
        bool start = p == scopes || p[-1] == ',' || p[-1] == ' ';
        bool end = p[wl] == '\0' || p[wl] == ',' || p[wl] == ' ';
        if (start && end)
            return true;
    }
    return false;
}

static void workspace_channels(api_call *c, const char *team_id)
{
    store_workspace *w = visible_workspace(c, team_id);
    if (!w)
        return;
    bool public_ok = scope_has(w->scopes, "chat:write.public");
    store_workspace_destroy(w);
    const char *refresh = httpd_req_query(c->req, "refresh");
    bool fresh = refresh && (strcmp(refresh, "true") == 0 || strcmp(refresh, "1") == 0);
    /* Up to 50 pages of Slack: a list fetched a moment ago is as good. */
    cJSON *channels = fresh ? NULL : api_channels_cached(c->srv, team_id);
    if (!channels) {
        bool revoked = false;
        char *token = api_slack_begin(c) ? workspace_token(c, team_id, &revoked) : NULL;
        if (!token)
            return;
        api_db_release(c); /* the pages may take minutes: hold no connection */
        slack_result r;
        slack_result_init(&r);
        slack_conversations_list_all(api_slack_base(c->srv), token, NULL, 0, &channels, &r);
        crypto_free_secret(token);
        api_slack_end(c);
        if (!channels) {
            if (r.cls != SLACK_INSTALLATION || mark_revoked(c, team_id, r.error))
                api_error(c, 502, NULL, "Slack did not list the channels: %s%s%s", r.error,
                          r.reason[0] ? ": " : "", r.reason);
            slack_result_dispose(&r);
            return;
        }
        slack_result_dispose(&r);
        api_channels_store(c->srv, team_id, channels);
    }
    cJSON *ch;
    cJSON_ArrayForEach(ch, channels)
    {
        bool priv = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ch, "is_private"));
        bool member = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ch, "is_member"));
        cJSON_AddBoolToObject(ch, "can_post", member || (!priv && public_ok));
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", channels);
    api_respond(c, 200, o);
}

/* POST {team}/tenants {"tenant": T} and DELETE {team}/tenants/{T}[?force=true]:
 * the operator shares a workspace with another tenant (a tenant's own
 * install never attaches it to a workspace another tenant holds). */
static void workspace_tenants(api_call *c, const char *team_id, const char *tenant_in_path)
{
    const char *m = httpd_req_method(c->req);
    bool post = strcmp(m, "POST") == 0 && !tenant_in_path;
    bool del = strcmp(m, "DELETE") == 0 && tenant_in_path;
    if (!post && !del) {
        api_error(c, 405, NULL, "method %s is not allowed here (%s)", m,
                  tenant_in_path ? "DELETE" : "POST");
        return;
    }
    if (!api_is_operator(c)) {
        api_error(c, 403, NULL,
                  "only an operator may share a workspace with a tenant (heraldctl workspace "
                  "share)");
        return;
    }
    const char *tenant = tenant_in_path;
    if (post) {
        cJSON *b = api_body_object(c);
        if (!b)
            return;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "tenant");
        tenant = cJSON_IsString(t) ? t->valuestring : NULL;
    }
    if (!tenant || !event_is_identifier(tenant)) {
        api_error(c, 400, "tenant",
                  "tenant: expected a tenant id (1 to 128 characters of A-Z a-z 0-9 . _ : -)");
        return;
    }
    char err[512];
    long removed = 0;
    const char *f = httpd_req_query(c->req, "force");
    bool force = f && (strcmp(f, "true") == 0 || strcmp(f, "1") == 0);
    store_status st =
        post ? store_workspace_share(c->db, team_id, tenant, err, sizeof err)
             : store_workspace_unshare(c->db, team_id, tenant, force, &removed, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    LOG_INFO("api: workspace %s %s tenant %s by token %" PRId64, team_id,
             post ? "shared with" : "unshared from", tenant, c->who.token_id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "team_id", team_id);
    cJSON_AddStringToObject(o, "tenant", tenant);
    cJSON_AddBoolToObject(o, "linked", post);
    if (del)
        cJSON_AddNumberToObject(o, "targets_removed", (double)removed);
    api_respond(c, post ? 201 : 200, o);
}

static void workspaces_item(api_call *c)
{
    const char *rest = httpd_req_path_rest(c->req);
    char team[128];
    const char *slash = strchr(rest, '/');
    size_t tl = slash ? (size_t)(slash - rest) : strlen(rest);
    if (tl == 0 || tl >= sizeof team) {
        api_error(c, 404, NULL, "no such resource: %s", httpd_req_path(c->req));
        return;
    }
    memcpy(team, rest, tl);
    team[tl] = '\0';
    const char *m = httpd_req_method(c->req);
    if (!slash) {
        if (strcmp(m, "GET") == 0)
            workspace_show(c, team);
        else if (strcmp(m, "DELETE") == 0)
            workspace_remove(c, team);
        else
            api_error(c, 405, NULL, "method %s is not allowed here (GET, DELETE)", m);
    } else if (strcmp(slash, "/tenants") == 0) {
        workspace_tenants(c, team, NULL);
    } else if (strncmp(slash, "/tenants/", 9) == 0 && slash[9] && !strchr(slash + 9, '/')) {
        workspace_tenants(c, team, slash + 9);
    } else if (strcmp(slash, "/channels") == 0) {
        if (strcmp(m, "GET") == 0)
            workspace_channels(c, team);
        else
            api_error(c, 405, NULL, "method %s is not allowed here (GET)", m);
    } else {
        api_error(c, 404, NULL, "no such resource: %s", httpd_req_path(c->req));
    }
}

/* ================================================================ destination check */

/* Checks with Slack that the target's destination can receive messages.
 * Returns 1 with resolved filled, or 0 after answering the request. */
int api_check_destination(api_call *c, const char *team_id, const char *dest, char *resolved,
                          size_t resolved_size)
{
    char err[512];
    store_dest_kind kind;
    store_status st = store_destination_parse(dest, &kind, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return 0;
    }
    store_workspace *w = NULL;
    st = store_workspace_get(c->db, team_id, &w, err, sizeof err);
    if (st == STORE_NOT_FOUND) {
        api_error(c, 400, "workspace", "workspace: '%s' is not installed", team_id);
        return 0;
    }
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return 0;
    }
    bool public_ok = scope_has(w->scopes, "chat:write.public");
    char team_name[256];
    snprintf(team_name, sizeof team_name, "%s", w->team_name);
    if (w->revoked) {
        api_error(c, 400, "workspace",
                  "workspace: the Slack installation of %s is unusable (%s): reinstall Herald "
                  "in that workspace",
                  team_name, w->revoked_reason ? w->revoked_reason : "revoked");
        store_workspace_destroy(w);
        return 0;
    }
    store_workspace_destroy(w);
    bool revoked = false;
    char *token = api_slack_begin(c) ? workspace_token(c, team_id, &revoked) : NULL;
    if (!token)
        return 0;
    /* The caller's transaction-free work so far is done: no connection is
     * held while Slack answers; it is taken again below. */
    api_db_release(c);
    const char *base = api_slack_base(c->srv);
    slack_result r;
    slack_result_init(&r);
    int ok = 0;
    if (kind == STORE_DEST_EMAIL) {
        slack_lookup_user_by_email(base, token, dest, &r);
        if (r.ok && r.user_id[0]) {
            snprintf(resolved, resolved_size, "%s", r.user_id);
            ok = 1;
        } else if (r.cls == SLACK_DESTINATION || r.cls == SLACK_UNKNOWN_PERMANENT) {
            api_error(c, 400, "destination",
                      "destination: no active member of %s has the address '%s' (%s)", team_name,
                      dest, r.error);
        }
    } else {
        char id[128] = "";
        bool priv = false, member = false, archived = false;
        char name[256] = "";
        if (kind == STORE_DEST_CHANNEL_ID) {
            slack_conversations_info(base, token, dest, &r);
            if (r.ok) {
                snprintf(id, sizeof id, "%s", r.channel[0] ? r.channel : dest);
                snprintf(name, sizeof name, "%s", r.channel_name[0] ? r.channel_name : dest);
                priv = r.is_private == 1;
                member = r.is_member == 1;
                archived = r.is_archived == 1;
            } else if (r.cls == SLACK_DESTINATION || r.cls == SLACK_UNKNOWN_PERMANENT) {
                api_error(c, 400, "destination",
                          "destination: channel %s was not found in %s (%s); a private "
                          "channel needs the bot invited first",
                          dest, team_name, r.error);
            }
        } else {
            cJSON *channels = NULL;
            slack_conversations_list_all(base, token, NULL, 0, &channels, &r);
            if (channels) {
                const char *want = dest[0] == '#' ? dest + 1 : dest;
                cJSON *ch;
                cJSON_ArrayForEach(ch, channels)
                {
                    const cJSON *n = cJSON_GetObjectItemCaseSensitive(ch, "name");
                    if (cJSON_IsString(n) && strcasecmp(n->valuestring, want) == 0) {
                        const cJSON *i = cJSON_GetObjectItemCaseSensitive(ch, "id");
                        snprintf(id, sizeof id, "%s", cJSON_IsString(i) ? i->valuestring : "");
                        snprintf(name, sizeof name, "%s", n->valuestring);
                        priv = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ch, "is_private"));
                        member = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ch, "is_member"));
                        break;
                    }
                }
                cJSON_Delete(channels);
                r.ok = true;
                if (!id[0]) {
                    api_error(c, 400, "destination",
                              "destination: no channel named %s that the bot can see in %s "
                              "(archived channels are left out; a private channel needs the "
                              "bot invited first)",
                              dest, team_name);
                    r.cls = SLACK_DESTINATION;
                    r.ok = false;
                }
            }
        }
        if (r.ok && id[0]) {
            if (archived)
                api_error(c, 400, "destination",
                          "destination: #%s is archived: pick another channel or unarchive it",
                          name);
            else if (priv && !member)
                api_error(c, 400, "destination",
                          "destination: #%s is a private channel the bot is not in: invite "
                          "the Herald bot to it (/invite) and save again",
                          name);
            else if (!priv && !member && !public_ok)
                api_error(c, 400, "destination",
                          "destination: the bot is not in #%s and may not post to public "
                          "channels it has not joined: invite it, or reinstall Herald to "
                          "grant chat:write.public",
                          name);
            else {
                snprintf(resolved, resolved_size, "%s", id);
                ok = 1;
            }
        }
    }
    crypto_free_secret(token);
    api_slack_end(c);
    if (!api_db_reacquire(c)) {
        slack_result_dispose(&r);
        return 0;
    }
    if (!ok && !httpd_responded(c->req)) {
        if (r.cls == SLACK_INSTALLATION) {
            store_workspace_mark_revoked(c->db, team_id, r.error);
            api_error(c, 400, "workspace",
                      "workspace: Slack refused Herald's token for %s (%s): reinstall Herald "
                      "in that workspace",
                      team_name, r.error);
        } else {
            api_error(c, 503, NULL,
                      "could not check the destination with Slack (%s%s%s); try again", r.error,
                      r.reason[0] ? ": " : "", r.reason);
        }
    }
    slack_result_dispose(&r);
    return ok;
}

void api_workspaces_register(api_server *s)
{
    api_route(s, "GET", "/api/v1/workspaces", API_AUTH, workspaces_list);
    api_route_prefix(s, NULL, "/api/v1/workspaces/", API_AUTH, workspaces_item);
}
