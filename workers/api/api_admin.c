/*
 * herald-api: the JSON admin API (README "HTTP admin API", schema/openapi.yaml).
 *
 *   /api/v1/workspaces[/{team_id}[/channels]]
 *   /api/v1/targets[/{id}[/test|/health|/deliveries]]
 *   /api/v1/deliveries[/{id}]
 *   /api/v1/health
 *   /api/v1/checks[/{check_type}/targets]
 *
 * Every endpoint is authenticated (api.c). A tenant token sees and changes
 * only its tenant: another tenant's target is 404, as if it did not exist.
 * Input errors are 400 {"error": "<field>: <reason>", "field": "<field>"}.
 */
#include "workers/api/api_internal.h"
#include "store/workspaces.h"
#include "store/token_refresh.h"
#include "store/targets.h"
#include "store/validation.h"
#include "store/deliveries.h"
#include "store/test_send.h"

#include "common/db.h"
#include "common/event.h"
#include "common/log.h"
#include "common/slack.h"
#include "store/storejson.h"
#include "common/util.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ================================================================ JSON out */
/* Workspaces and deliveries have the shapes heraldctl --json prints
 * (store/storejson); a target here carries its workspace as an object and a
 * one-word health status for the console. */

static cJSON *health_json(const store_target_health *h)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "pending_24h", (double)h->pending_24h);
    cJSON_AddNumberToObject(o, "sending_24h", (double)h->sending_24h);
    cJSON_AddNumberToObject(o, "retrying_24h", (double)h->retrying_24h);
    cJSON_AddNumberToObject(o, "sent_24h", (double)h->sent_24h);
    cJSON_AddNumberToObject(o, "failed_24h", (double)h->failed_24h);
    api_json_time(o, "last_success_at", h->last_success_at_ms);
    api_json_time(o, "last_error_at", h->last_error_at_ms);
    api_json_str(o, "last_error_code", h->last_error_code);
    api_json_str(o, "last_error", h->last_error);
    /* One word for lists: failing when the last thing that happened failed. */
    const char *status = "unknown";
    if (h->last_error_at_ms && h->last_error_at_ms >= h->last_success_at_ms)
        status = "failing";
    else if (h->last_success_at_ms)
        status = "ok";
    cJSON_AddStringToObject(o, "status", status);
    return o;
}

static void add_uses(cJSON *o, unsigned uses)
{
    cJSON *a = cJSON_AddArrayToObject(o, "uses");
    if (uses & STORE_USE_FAILED_CHECK)
        cJSON_AddItemToArray(a, cJSON_CreateString("failed_check"));
    if (uses & STORE_USE_DATA_COLLECTION)
        cJSON_AddItemToArray(a, cJSON_CreateString("data_collection"));
}

static cJSON *target_json(const store_target *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)t->id);
    cJSON_AddStringToObject(o, "tenant", t->tenant_id);
    cJSON *w = cJSON_AddObjectToObject(o, "workspace");
    cJSON_AddStringToObject(w, "team_id", t->team_id);
    cJSON_AddStringToObject(w, "team_name", t->team_name ? t->team_name : t->team_id);
    cJSON_AddBoolToObject(w, "revoked", t->workspace_revoked);
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddStringToObject(o, "description", t->description ? t->description : "");
    cJSON_AddStringToObject(o, "destination", t->destination);
    cJSON_AddStringToObject(o, "destination_kind", store_dest_kind_name(t->destination_kind));
    api_json_str(o, "destination_resolved", t->destination_resolved);
    add_uses(o, t->uses);
    cJSON *ch = cJSON_AddArrayToObject(o, "checks");
    for (size_t i = 0; i < t->n_checks; i++)
        cJSON_AddItemToArray(ch, cJSON_CreateString(t->checks[i]));
    cJSON_AddBoolToObject(o, "all_checks", t->n_checks == 0);
    cJSON_AddBoolToObject(o, "enabled", t->enabled);
    cJSON_AddBoolToObject(o, "digest", t->digest_enabled);
    cJSON_AddBoolToObject(o, "thread_repeats", t->thread_repeats);
    api_json_time(o, "created_at", t->created_at_ms);
    api_json_time(o, "updated_at", t->updated_at_ms);
    cJSON_AddItemToObject(o, "health", health_json(&t->health));
    return o;
}

static void respond(api_call *c, unsigned status, cJSON *o)
{
    httpd_add_header(c->req, "Cache-Control", "no-store");
    httpd_respond_json(c->req, status, o);
    cJSON_Delete(o);
}

/* ================================================================ visibility */

/* Whether tenant may see/use workspace team_id: it installed it through the
 * API, or one of its targets uses it. 1 yes, 0 no, -1 database error. */
static int workspace_visible(PGconn *db, const char *tenant, const char *team_id, char *err,
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
        int v = workspace_visible(c->db, tenant, team_id, err, sizeof err);
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
    store_workspace *w = NULL;
    store_status st = store_workspace_get(c->db, team_id, &w, err, sizeof err);
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
    store_status st = store_workspace_list(c->db, &l, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    const char *tenant = api_tenant_scope(c);
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < l.n; i++) {
        if (tenant) {
            int v = workspace_visible(c->db, tenant, l.items[i].team_id, err, sizeof err);
            if (v < 0) {
                cJSON_Delete(o);
                store_workspaces_free(&l);
                api_store_error(c, STORE_DB, err);
                return;
            }
            if (!v)
                continue;
        }
        cJSON_AddItemToArray(items, storejson_workspace(&l.items[i]));
    }
    store_workspaces_free(&l);
    respond(c, 200, o);
}

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

static void drop_token(char *token)
{
    if (token) {
        crypto_wipe(token, strlen(token));
        free(token);
    }
}

static void workspace_show(api_call *c, const char *team_id)
{
    store_workspace *w = visible_workspace(c, team_id);
    if (!w)
        return;
    cJSON *o = storejson_workspace(w);
    /* Health: what Slack says about the token right now. */
    bool revoked = false;
    char *token = workspace_token(c, team_id, &revoked);
    if (!token) {
        cJSON_Delete(o);
        store_workspace_free(w);
        return;
    }
    slack_result r;
    slack_result_init(&r);
    slack_auth_test(api_slack_base(c->srv), token, &r);
    drop_token(token);
    cJSON *h = cJSON_AddObjectToObject(o, "auth_test");
    cJSON_AddBoolToObject(h, "ok", r.ok);
    if (!r.ok) {
        cJSON_AddStringToObject(h, "error", r.error);
        cJSON_AddStringToObject(h, "reason", r.reason);
        cJSON_AddStringToObject(h, "class", slack_class_name(r.cls));
        if (r.cls == SLACK_INSTALLATION)
            store_workspace_mark_revoked(c->db, team_id, r.error);
    } else {
        cJSON_AddStringToObject(h, "team", r.team);
        cJSON_AddStringToObject(h, "bot_user_id", r.user_id);
    }
    slack_result_dispose(&r);
    store_workspace_free(w);
    respond(c, 200, o);
}

static void workspace_remove(api_call *c, const char *team_id)
{
    char err[512];
    store_workspace *w = visible_workspace(c, team_id);
    if (!w)
        return;
    store_workspace_free(w);
    const char *f = httpd_req_query(c->req, "force");
    bool force = f && (strcmp(f, "true") == 0 || strcmp(f, "1") == 0);
    if (!api_is_operator(c)) {
        /* A tenant removes only what is its own: when other tenants use the
         * workspace too, it is unlinked from this tenant (and, with force,
         * this tenant's targets on it are removed). */
        bool shared = false;
        long mine = 0;
        if (store_workspace_tenant_use(c->db, c->who.tenant, team_id, &shared, &mine, err,
                                       sizeof err) != STORE_OK) {
            api_store_error(c, STORE_DB, err);
            return;
        }
        if (shared) {
            if (mine > 0 && !force) {
                api_error(c, 409, NULL,
                          "workspace %s is used by %ld of your targets: remove them first, or "
                          "pass force=true to remove them with it",
                          team_id, mine);
                return;
            }
            if (store_workspace_unlink_tenant(c->db, c->who.tenant, team_id, err, sizeof err) !=
                STORE_OK) {
                api_store_error(c, STORE_DB, err);
                return;
            }
            cJSON *o = cJSON_CreateObject();
            cJSON_AddBoolToObject(o, "removed", false);
            cJSON_AddBoolToObject(o, "unlinked", true);
            cJSON_AddNumberToObject(o, "targets_removed", (double)mine);
            respond(c, 200, o);
            return;
        }
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
    respond(c, 200, o);
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
    store_workspace_free(w);
    bool revoked = false;
    char *token = workspace_token(c, team_id, &revoked);
    if (!token)
        return;
    slack_result r;
    slack_result_init(&r);
    cJSON *channels = NULL;
    slack_conversations_list_all(api_slack_base(c->srv), token, NULL, 0, &channels, &r);
    drop_token(token);
    if (!channels) {
        if (r.cls == SLACK_INSTALLATION)
            store_workspace_mark_revoked(c->db, team_id, r.error);
        api_error(c, 502, NULL, "Slack did not list the channels: %s%s%s", r.error,
                  r.reason[0] ? ": " : "", r.reason);
        slack_result_dispose(&r);
        return;
    }
    slack_result_dispose(&r);
    cJSON *ch;
    cJSON_ArrayForEach(ch, channels)
    {
        bool priv = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ch, "is_private"));
        bool member = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ch, "is_member"));
        cJSON_AddBoolToObject(ch, "can_post", member || (!priv && public_ok));
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", channels);
    respond(c, 200, o);
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
static int check_destination(api_call *c, const char *team_id, const char *dest, char *resolved,
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
        store_workspace_free(w);
        return 0;
    }
    store_workspace_free(w);
    bool revoked = false;
    char *token = workspace_token(c, team_id, &revoked);
    if (!token)
        return 0;
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
    drop_token(token);
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

/* ================================================================ target input */

typedef struct target_body {
    store_target_input in;
    char **checks;
    size_t n_checks;
    char *uses_csv;
    bool has_destination;
} target_body;

static void target_body_free(target_body *b)
{
    store_strv_free(b->checks, b->n_checks);
    free(b->uses_csv);
}

/* Joins a JSON array of strings (or takes a string) as CSV; NULL when the
 * value has the wrong type (answered). */
static char *csv_of(api_call *c, const cJSON *v, const char *field)
{
    if (cJSON_IsString(v))
        return xstrdup(v->valuestring);
    if (!cJSON_IsArray(v)) {
        api_error(c, 400, field, "%s: expected an array of strings", field);
        return NULL;
    }
    size_t len = 1;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e)) {
            api_error(c, 400, field, "%s: expected an array of strings", field);
            return NULL;
        }
        if (strchr(e->valuestring, ',')) {
            api_error(c, 400, field, "%s: '%s' contains a comma", field, e->valuestring);
            return NULL;
        }
        len += strlen(e->valuestring) + 1;
    }
    char *out = xmalloc(len), *w = out;
    cJSON_ArrayForEach(e, v)
    {
        size_t l = strlen(e->valuestring);
        if (w != out)
            *w++ = ',';
        memcpy(w, e->valuestring, l);
        w += l;
    }
    *w = '\0';
    return out;
}

/* Reads a target body; 1 ok, 0 answered. create: require the create fields. */
static int parse_target_body(api_call *c, bool create, target_body *b)
{
    char err[512];
    memset(b, 0, sizeof *b);
    b->in.enabled = -1;
    cJSON *j = api_body_object(c);
    if (!j)
        return 0;
    static const char *const strings[] = {"tenant", "workspace", "name", "description",
                                          "destination"};
    const char **dst[] = {&b->in.tenant, &b->in.workspace, &b->in.name, &b->in.description,
                          &b->in.destination};
    cJSON *f;
    cJSON_ArrayForEach(f, j)
    {
        const char *k = f->string;
        bool known = false;
        for (size_t i = 0; i < ARRAY_LEN(strings); i++) {
            if (strcmp(k, strings[i]) != 0)
                continue;
            known = true;
            if (!cJSON_IsString(f)) {
                api_error(c, 400, k, "%s: expected a string", k);
                return 0;
            }
            *dst[i] = f->valuestring;
        }
        if (known)
            continue;
        if (strcmp(k, "uses") == 0) {
            b->uses_csv = csv_of(c, f, "uses");
            if (!b->uses_csv)
                return 0;
            store_status st = store_uses_parse(b->uses_csv, &b->in.uses, err, sizeof err);
            if (st != STORE_OK) {
                api_store_error(c, st, err);
                return 0;
            }
        } else if (strcmp(k, "checks") == 0) {
            b->in.set_checks = true;
            if (cJSON_IsNull(f))
                continue;
            char *csv = csv_of(c, f, "checks");
            if (!csv)
                return 0;
            store_status st = STORE_OK;
            if (*csv)
                st = store_checks_parse(csv, &b->checks, &b->n_checks, err, sizeof err);
            free(csv);
            if (st != STORE_OK) {
                api_store_error(c, st, err);
                return 0;
            }
            b->in.checks = (const char *const *)b->checks;
            b->in.n_checks = b->n_checks;
        } else if (strcmp(k, "enabled") == 0) {
            if (!cJSON_IsBool(f)) {
                api_error(c, 400, "enabled", "enabled: expected true or false");
                return 0;
            }
            b->in.enabled = cJSON_IsTrue(f) ? 1 : 0;
        } else if (strcmp(k, "digest") == 0 || strcmp(k, "thread_repeats") == 0) {
            if (!cJSON_IsBool(f)) {
                api_error(c, 400, k, "%s: expected true or false", k);
                return 0;
            }
            store_toggle v = cJSON_IsTrue(f) ? STORE_ON : STORE_OFF;
            if (k[0] == 'd')
                b->in.digest = v;
            else
                b->in.thread_repeats = v;
        } else if (strcmp(k, "id") == 0 || strcmp(k, "destination_kind") == 0 ||
                   strcmp(k, "destination_resolved") == 0 || strcmp(k, "health") == 0 ||
                   strcmp(k, "created_at") == 0 || strcmp(k, "updated_at") == 0 ||
                   strcmp(k, "all_checks") == 0) {
            /* read-only fields a client may echo back from a GET: ignored */
        } else {
            api_error(c, 400, k,
                      "%s: unknown field (expected tenant, workspace, name, "
                      "description, destination, uses, checks, enabled, digest, thread_repeats)",
                      k);
            return 0;
        }
    }
    b->has_destination = b->in.destination != NULL;
    if (create) {
        const char *missing = !b->in.workspace     ? "workspace"
                              : !b->in.name        ? "name"
                              : !b->in.destination ? "destination"
                              : !b->in.uses        ? "uses"
                                                   : NULL;
        if (missing) {
            api_error(c, 400, missing, "%s: required", missing);
            return 0;
        }
    }
    return 1;
}

/* ================================================================ targets */

/* Answers {key: [item(t) for each target the caller may see]}, or the store's
 * error. */
static void respond_targets(api_call *c, const char *key, cJSON *(*item)(const store_target *))
{
    char err[512];
    store_targets l = {0};
    store_status st = store_target_list(c->db, api_tenant_scope(c), &l, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, key);
    for (size_t i = 0; i < l.n; i++)
        cJSON_AddItemToArray(items, item(&l.items[i]));
    store_targets_free(&l);
    respond(c, 200, o);
}

static void targets_list(api_call *c)
{
    respond_targets(c, "items", target_json);
}

/* Target id as the caller may see it (another tenant's is 404), or NULL
 * after answering. The caller frees it. */
static store_target *visible_target(api_call *c, int64_t id)
{
    char err[512];
    store_target *t = NULL;
    store_status st = store_target_get(c->db, api_tenant_scope(c), id, &t, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return NULL;
    }
    return t;
}

static void target_show_id(api_call *c, int64_t id, unsigned status)
{
    store_target *t = visible_target(c, id);
    if (!t)
        return;
    cJSON *o = target_json(t);
    store_target_free(t);
    respond(c, status, o);
}

static void target_create(api_call *c)
{
    char err[512];
    target_body b;
    if (!parse_target_body(c, true, &b))
        goto out;
    if (!api_is_operator(c)) {
        if (b.in.tenant && strcmp(b.in.tenant, c->who.tenant) != 0) {
            api_error(c, 403, "tenant", "tenant: this token is limited to tenant %s",
                      c->who.tenant);
            goto out;
        }
        b.in.tenant = c->who.tenant;
        int v = workspace_visible(c->db, c->who.tenant, b.in.workspace, err, sizeof err);
        if (v < 0) {
            api_store_error(c, STORE_DB, err);
            goto out;
        }
        if (!v) {
            api_error(c, 400, "workspace",
                      "workspace: '%s' is not installed for tenant %s: install Herald in it "
                      "first (/slack/install)",
                      b.in.workspace, c->who.tenant);
            goto out;
        }
    } else if (!b.in.tenant) {
        const char *q = httpd_req_query(c->req, "tenant");
        b.in.tenant = q && *q ? q : NULL;
        if (!b.in.tenant) {
            api_error(c, 400, "tenant", "tenant: required (this token serves every tenant)");
            goto out;
        }
    }
    /* A target for a tenant no event can name would never be notified. */
    if (!event_is_identifier(b.in.tenant)) {
        api_error(c, 400, "tenant",
                  "tenant: must be 1 to %d characters of A-Z a-z 0-9 . _ : - (as in events)",
                  EVENT_MAX_IDENTIFIER);
        goto out;
    }
    /* Local validation first (cheap, precise), then Slack. */
    store_dest_kind kind;
    store_status st = store_destination_parse(b.in.destination, &kind, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        goto out;
    }
    char resolved[128];
    if (!check_destination(c, b.in.workspace, b.in.destination, resolved, sizeof resolved))
        goto out;
    int64_t id = 0;
    st = store_target_create(c->db, &b.in, &id, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        goto out;
    }
    if (store_target_set_resolved(c->db, id, resolved, err, sizeof err) != STORE_OK)
        LOG_WARN("api: target %" PRId64 ": recording the resolved destination: %s", id, err);
    LOG_INFO("api: target %" PRId64 " (%s) created for tenant %s by token %" PRId64, id, b.in.name,
             b.in.tenant, c->who.token_id);
    char loc[64];
    snprintf(loc, sizeof loc, "/api/v1/targets/%" PRId64, id);
    httpd_add_header(c->req, "Location", loc);
    target_show_id(c, id, 201);
out:
    target_body_free(&b);
}

static void target_update(api_call *c, int64_t id)
{
    char err[512];
    target_body b;
    store_target *t = NULL;
    if (!parse_target_body(c, false, &b) || !(t = visible_target(c, id)))
        goto out;
    if (b.in.tenant && strcmp(b.in.tenant, t->tenant_id) != 0) {
        api_error(c, 400, "tenant", "tenant: a target cannot move to another tenant");
        goto out;
    }
    if (b.in.workspace && strcmp(b.in.workspace, t->team_id) != 0) {
        api_error(c, 400, "workspace",
                  "workspace: a target cannot move to another workspace; create a new one");
        goto out;
    }
    char resolved[128] = "";
    bool new_dest = b.has_destination && strcmp(b.in.destination, t->destination) != 0;
    if (new_dest && !check_destination(c, t->team_id, b.in.destination, resolved, sizeof resolved))
        goto out;
    store_status st = store_target_update(c->db, t->tenant_id, id, &b.in, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        goto out;
    }
    if (new_dest && store_target_set_resolved(c->db, id, resolved, err, sizeof err) != STORE_OK)
        LOG_WARN("api: target %" PRId64 ": recording the resolved destination: %s", id, err);
    target_show_id(c, id, 200);
out:
    store_target_free(t);
    target_body_free(&b);
}

static void target_delete(api_call *c, int64_t id)
{
    char err[512];
    store_status st = store_target_remove(c->db, api_tenant_scope(c), id, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    LOG_INFO("api: target %" PRId64 " removed by token %" PRId64, id, c->who.token_id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "removed", true);
    cJSON_AddNumberToObject(o, "id", (double)id);
    respond(c, 200, o);
}

static void target_health(api_call *c, int64_t id)
{
    store_target *t = visible_target(c, id);
    if (!t)
        return;
    cJSON *o = health_json(&t->health);
    cJSON_AddNumberToObject(o, "target_id", (double)t->id);
    cJSON_AddBoolToObject(o, "workspace_revoked", t->workspace_revoked);
    store_target_free(t);
    respond(c, 200, o);
}

/* POST /api/v1/targets/{id}/test: send a test message now (store/test_send.h). */
static void target_test(api_call *c, int64_t id)
{
    char err[512];
    api_server *s = c->srv;
    store_target *t = visible_target(c, id);
    if (!t)
        return;
    store_slack_app app = {.api_base = api_slack_base(s),
                           .client_id = s->cfg.client_id,
                           .client_secret = s->cfg.client_secret,
                           .timeout_ms = SLACK_DEFAULT_TIMEOUT_MS};
    store_test_send_opts opts = {
        .key = s->key, .app = &app, .source = "herald-api", .herald_url = s->public_url};
    store_test_send_result res;
    store_status st = store_test_send(c->db, t, &opts, &res, err, sizeof err);
    if (st != STORE_OK) {
        if (res.delivery_id)
            metrics_counter_inc(s->m_tests, "failed");
        if (res.delivery_id && st == STORE_NOT_FOUND)
            api_error(c, 400, "workspace", "workspace: '%s' is not installed", t->team_id);
        else
            api_store_error(c, st, err);
        store_target_free(t);
        return;
    }
    metrics_counter_inc(s->m_tests, res.ok ? "sent" : "failed");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "ok", res.ok);
    cJSON_AddNumberToObject(j, "delivery_id", (double)res.delivery_id);
    cJSON_AddStringToObject(j, "event_id", res.event_id);
    if (res.ok) {
        cJSON_AddStringToObject(j, "channel", res.channel);
        cJSON_AddStringToObject(j, "ts", res.ts);
    } else {
        cJSON_AddStringToObject(j, "error", res.reason[0] ? res.reason : res.code);
        cJSON_AddStringToObject(j, "slack_error", res.code);
        cJSON_AddStringToObject(j, "class", res.slack_class);
    }
    LOG_INFO("api: test message to target %" PRId64 ": %s%s", id,
             res.ok ? "sent" : "failed: ", res.ok ? "" : res.code);
    respond(c, res.ok ? 200 : 502, j);
    store_target_free(t);
}

/* ================================================================ deliveries */

static bool query_long(api_call *c, const char *name, long min, long max, long *out)
{
    const char *v = httpd_req_query(c->req, name);
    if (!v)
        return true;
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < min || x > max) {
        api_error(c, 400, name, "%s: '%s' is not a whole number from %ld to %ld", name, v, min,
                  max);
        return false;
    }
    *out = (long)x;
    return true;
}

static void deliveries_list_for(api_call *c, int64_t target_id)
{
    char err[512];
    store_delivery_filter f = {0};
    f.tenant = api_tenant_scope(c);
    const char *qt = httpd_req_query(c->req, "tenant");
    if (!api_is_operator(c) && qt && strcmp(qt, c->who.tenant) != 0) {
        api_error(c, 403, "tenant", "tenant: this token is limited to tenant %s", c->who.tenant);
        return;
    }
    f.target_id = target_id;
    long v = 0;
    if (!target_id && httpd_req_query(c->req, "target_id")) {
        if (!query_long(c, "target_id", 1, LONG_MAX, &v))
            return;
        f.target_id = v;
    }
    const char *state = httpd_req_query(c->req, "state");
    if (state) {
        if (!store_delivery_state_valid(state)) {
            api_error(c, 400, "state",
                      "state: '%s' is not one of pending, sending, retrying, sent, failed", state);
            return;
        }
        f.state = state;
    }
    const char *since = httpd_req_query(c->req, "since");
    if (since && !event_parse_time(since, &f.since_ms)) {
        api_error(c, 400, "since", "since: '%s' is not an RFC 3339 time (2026-11-28T09:00:00Z)",
                  since);
        return;
    }
    long limit = STORE_DELIVERIES_DEFAULT_LIMIT, offset = 0, before = 0;
    if (!query_long(c, "limit", 1, STORE_DELIVERIES_MAX_LIMIT, &limit) ||
        !query_long(c, "offset", 0, 1000000, &offset) ||
        !query_long(c, "before_id", 1, LONG_MAX, &before))
        return;
    f.limit = (int)limit;
    f.offset = (int)offset;
    f.before_id = before;
    store_deliveries l = {0};
    store_status st = store_delivery_list(c->db, &f, &l, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < l.n; i++)
        cJSON_AddItemToArray(items, storejson_delivery(&l.items[i]));
    if (l.n == (size_t)limit && l.n > 0)
        cJSON_AddNumberToObject(o, "next_before_id", (double)l.items[l.n - 1].id);
    else
        cJSON_AddNullToObject(o, "next_before_id");
    store_deliveries_free(&l);
    respond(c, 200, o);
}

static void deliveries_list(api_call *c)
{
    deliveries_list_for(c, 0);
}

static void deliveries_item(api_call *c)
{
    char err[512];
    int64_t id;
    if (!api_parse_id(httpd_req_path_rest(c->req), &id)) {
        api_error(c, 404, NULL, "no such delivery: '%s'", httpd_req_path_rest(c->req));
        return;
    }
    store_delivery *d = NULL;
    store_status st = store_delivery_get(c->db, api_tenant_scope(c), id, &d, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    cJSON *o = storejson_delivery(d);
    store_delivery_free(d);
    respond(c, 200, o);
}

/* ================================================================ targets item */

static void targets_item(api_call *c)
{
    const char *rest = httpd_req_path_rest(c->req);
    const char *slash = strchr(rest, '/');
    char ids[32];
    size_t l = slash ? (size_t)(slash - rest) : strlen(rest);
    int64_t id = 0;
    if (l >= sizeof ids) {
        api_error(c, 404, NULL, "no such target: '%s'", rest);
        return;
    }
    memcpy(ids, rest, l);
    ids[l] = '\0';
    if (!api_parse_id(ids, &id)) {
        api_error(c, 404, NULL, "no such target: '%s'", ids);
        return;
    }
    const char *m = httpd_req_method(c->req);
    bool get = strcmp(m, "GET") == 0;
    if (!slash) {
        if (get)
            target_show_id(c, id, 200);
        else if (strcmp(m, "PATCH") == 0 || strcmp(m, "PUT") == 0)
            target_update(c, id);
        else if (strcmp(m, "DELETE") == 0)
            target_delete(c, id);
        else
            api_error(c, 405, NULL, "method %s is not allowed here (GET, PATCH, DELETE)", m);
    } else if (strcmp(slash, "/test") == 0) {
        if (strcmp(m, "POST") == 0)
            target_test(c, id);
        else
            api_error(c, 405, NULL, "method %s is not allowed here (POST)", m);
    } else if (strcmp(slash, "/health") == 0 && get) {
        target_health(c, id);
    } else if (strcmp(slash, "/deliveries") == 0 && get) {
        /* 404 for another tenant's target, not an empty list */
        store_target *t = visible_target(c, id);
        if (!t)
            return;
        store_target_free(t);
        deliveries_list_for(c, id);
    } else {
        api_error(c, 404, NULL, "no such resource: %s %s", m, httpd_req_path(c->req));
    }
}

/* ================================================================ health */

static cJSON *health_item(const store_target *t)
{
    cJSON *h = health_json(&t->health);
    cJSON_AddNumberToObject(h, "target_id", (double)t->id);
    cJSON_AddStringToObject(h, "tenant", t->tenant_id);
    cJSON_AddStringToObject(h, "name", t->name);
    cJSON_AddBoolToObject(h, "enabled", t->enabled);
    cJSON_AddBoolToObject(h, "workspace_revoked", t->workspace_revoked);
    return h;
}

static void health_all(api_call *c)
{
    respond_targets(c, "targets", health_item);
}

/* ================================================================ checks */

typedef store_check_row check_row;

static void check_rows_free(check_row *rows, size_t n)
{
    store_check_rows_free(rows, n);
}

/* Check types seen for tenant (NULL: all) plus those named by filters but
 * not seen yet. -1 on a database error. */
static int load_check_rows(PGconn *db, const char *tenant, check_row **out, size_t *n, char *err,
                           size_t err_size)
{
    return store_check_rows(db, tenant, out, n, err, err_size) == STORE_OK ? 0 : -1;
}

static bool target_has_check(const store_target *t, const char *type)
{
    if (t->n_checks == 0)
        return true;
    for (size_t i = 0; i < t->n_checks; i++)
        if (strcmp(t->checks[i], type) == 0)
            return true;
    return false;
}

static void checks_list(api_call *c)
{
    char err[512];
    const char *tenant = api_tenant_scope(c);
    check_row *rows = NULL;
    size_t n = 0;
    if (load_check_rows(c->db, tenant, &rows, &n, err, sizeof err) != 0) {
        api_store_error(c, STORE_DB, err);
        return;
    }
    store_targets l = {0};
    store_status st = store_target_list(c->db, tenant, &l, err, sizeof err);
    if (st != STORE_OK) {
        check_rows_free(rows, n);
        api_store_error(c, st, err);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < n; i++) {
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "tenant", rows[i].tenant);
        cJSON_AddStringToObject(it, "check_type", rows[i].type);
        cJSON_AddStringToObject(it, "check_name", rows[i].name);
        cJSON_AddBoolToObject(it, "seen", rows[i].last_seen_ms > 0);
        api_json_time(it, "last_seen_at", rows[i].last_seen_ms);
        cJSON *ts = cJSON_AddArrayToObject(it, "targets");
        for (size_t k = 0; k < l.n; k++) {
            const store_target *t = &l.items[k];
            if (strcmp(t->tenant_id, rows[i].tenant) != 0 || !(t->uses & STORE_USE_FAILED_CHECK) ||
                !target_has_check(t, rows[i].type))
                continue;
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "id", (double)t->id);
            cJSON_AddStringToObject(x, "name", t->name);
            cJSON_AddBoolToObject(x, "enabled", t->enabled);
            cJSON_AddBoolToObject(x, "all_checks", t->n_checks == 0);
            cJSON_AddItemToArray(ts, x);
        }
        cJSON_AddItemToArray(items, it);
    }
    /* Every failed_check target, so a page can offer each as a choice. */
    cJSON *cand = cJSON_AddArrayToObject(o, "targets");
    for (size_t k = 0; k < l.n; k++) {
        const store_target *t = &l.items[k];
        if (!(t->uses & STORE_USE_FAILED_CHECK))
            continue;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "id", (double)t->id);
        cJSON_AddStringToObject(x, "tenant", t->tenant_id);
        cJSON_AddStringToObject(x, "name", t->name);
        cJSON_AddBoolToObject(x, "enabled", t->enabled);
        cJSON_AddBoolToObject(x, "all_checks", t->n_checks == 0);
        cJSON *ch = cJSON_AddArrayToObject(x, "checks");
        for (size_t i = 0; i < t->n_checks; i++)
            cJSON_AddItemToArray(ch, cJSON_CreateString(t->checks[i]));
        cJSON_AddItemToArray(cand, x);
    }
    store_targets_free(&l);
    check_rows_free(rows, n);
    respond(c, 200, o);
}

/* PUT /api/v1/checks/{type}/targets {"target_ids": [..]}: exactly these
 * failed_check targets of the tenant notify for type. A target that got
 * every check and is left out gets an explicit list of every other known
 * check type; a target whose list would become empty is refused (an empty
 * list means "every check"). */
static void checks_set_targets(api_call *c, const char *type)
{
    char err[512];
    char **tv = NULL;
    size_t tn = 0;
    store_status st = store_checks_parse(type, &tv, &tn, err, sizeof err);
    if (st != STORE_OK || tn != 1) {
        store_strv_free(tv, tn);
        api_error(c, 400, "check_type", "check_type: '%s' is not a check type", type);
        return;
    }
    store_strv_free(tv, tn);
    cJSON *j = api_body_object(c);
    if (!j)
        return;
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(j, "target_ids");
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(j, "tenant");
    const cJSON *f;
    cJSON_ArrayForEach(f, j)
    {
        if (strcmp(f->string, "target_ids") != 0 && strcmp(f->string, "tenant") != 0) {
            api_error(c, 400, f->string, "%s: unknown field (expected target_ids, tenant)",
                      f->string);
            return;
        }
    }
    if (!cJSON_IsArray(ids)) {
        api_error(c, 400, "target_ids", "target_ids: expected an array of target ids");
        return;
    }
    const char *tenant = c->who.tenant[0] ? c->who.tenant : NULL;
    if (!tenant)
        tenant = cJSON_IsString(jt) ? jt->valuestring : httpd_req_query(c->req, "tenant");
    else if (cJSON_IsString(jt) && strcmp(jt->valuestring, tenant) != 0) {
        api_error(c, 403, "tenant", "tenant: this token is limited to tenant %s", tenant);
        return;
    }
    if (!tenant || !*tenant) {
        api_error(c, 400, "tenant", "tenant: required (this token serves every tenant)");
        return;
    }
    store_targets l = {0};
    check_row *rows = NULL;
    size_t nrows = 0;
    st = store_target_list(c->db, tenant, &l, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    if (load_check_rows(c->db, tenant, &rows, &nrows, err, sizeof err) != 0) {
        store_targets_free(&l);
        api_store_error(c, STORE_DB, err);
        return;
    }
    /* Every id must be a failed_check target of the tenant. */
    const cJSON *e;
    cJSON_ArrayForEach(e, ids)
    {
        bool found = false;
        for (size_t k = 0; cJSON_IsNumber(e) && k < l.n; k++)
            if ((double)l.items[k].id == e->valuedouble &&
                (l.items[k].uses & STORE_USE_FAILED_CHECK))
                found = true;
        if (!found) {
            char *txt = cJSON_PrintUnformatted(e);
            api_error(c, 400, "target_ids",
                      "target_ids: %s is not a failed_check target of tenant %s", txt, tenant);
            free(txt);
            goto out;
        }
    }
    /* Plan every change first, so a refusal changes nothing. */
    size_t nplan = 0;
    char ***plans = xcalloc(l.n ? l.n : 1, sizeof *plans);
    size_t *plan_n = xcalloc(l.n ? l.n : 1, sizeof *plan_n);
    bool *change = xcalloc(l.n ? l.n : 1, sizeof *change);
    bool refused = false;
    for (size_t k = 0; k < l.n && !refused; k++) {
        const store_target *t = &l.items[k];
        if (!(t->uses & STORE_USE_FAILED_CHECK))
            continue;
        bool want = false;
        cJSON_ArrayForEach(e, ids) if ((double)t->id == e->valuedouble) want = true;
        bool has = target_has_check(t, type);
        if (want == has)
            continue;
        size_t cap = t->n_checks + nrows + 1, m = 0;
        char **v = xcalloc(cap, sizeof *v);
        if (want) {
            for (size_t i = 0; i < t->n_checks; i++)
                v[m++] = t->checks[i];
            v[m++] = (char *)type;
        } else {
            if (t->n_checks == 0) {
                for (size_t i = 0; i < nrows; i++)
                    if (strcmp(rows[i].type, type) != 0)
                        v[m++] = rows[i].type;
            } else {
                for (size_t i = 0; i < t->n_checks; i++)
                    if (strcmp(t->checks[i], type) != 0)
                        v[m++] = t->checks[i];
            }
            if (m == 0) {
                api_error(c, 409, "target_ids",
                          "target_ids: target '%s' would be left with no check (an empty list "
                          "means every check): disable it, or take away its failed_check use",
                          t->name);
                refused = true;
            }
        }
        plans[k] = v;
        plan_n[k] = m;
        change[k] = true;
        nplan++;
    }
    for (size_t k = 0; k < l.n && !refused; k++) {
        if (!change[k])
            continue;
        store_target_input in = {.set_checks = true,
                                 .checks = (const char *const *)plans[k],
                                 .n_checks = plan_n[k],
                                 .enabled = -1};
        st = store_target_update(c->db, tenant, l.items[k].id, &in, err, sizeof err);
        if (st != STORE_OK) {
            api_store_error(c, st, err);
            refused = true;
        }
    }
    for (size_t k = 0; k < l.n; k++)
        free(plans[k]);
    free(plans);
    free(plan_n);
    free(change);
    if (!refused) {
        LOG_INFO("api: check %s: %zu target(s) changed for tenant %s", type, nplan, tenant);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "check_type", type);
        cJSON_AddNumberToObject(o, "changed", (double)nplan);
        respond(c, 200, o);
    }
out:
    check_rows_free(rows, nrows);
    store_targets_free(&l);
}

static void checks_item(api_call *c)
{
    const char *rest = httpd_req_path_rest(c->req);
    const char *slash = strchr(rest, '/');
    if (!slash || strcmp(slash, "/targets") != 0 || slash == rest) {
        api_error(c, 404, NULL, "no such resource: %s", httpd_req_path(c->req));
        return;
    }
    if (strcmp(httpd_req_method(c->req), "PUT") != 0) {
        api_error(c, 405, NULL, "method %s is not allowed here (PUT)", httpd_req_method(c->req));
        return;
    }
    char type[STORE_MAX_CHECK_TYPE + 2];
    size_t l = (size_t)(slash - rest);
    if (l >= sizeof type) {
        api_error(c, 400, "check_type", "check_type: longer than %d characters",
                  STORE_MAX_CHECK_TYPE);
        return;
    }
    memcpy(type, rest, l);
    type[l] = '\0';
    checks_set_targets(c, type);
}

void api_admin_register(api_server *s)
{
    api_route(s, "GET", "/api/v1/workspaces", API_AUTH, workspaces_list);
    api_route_prefix(s, NULL, "/api/v1/workspaces/", API_AUTH, workspaces_item);
    api_route(s, "GET", "/api/v1/targets", API_AUTH, targets_list);
    api_route(s, "POST", "/api/v1/targets", API_AUTH, target_create);
    api_route_prefix(s, NULL, "/api/v1/targets/", API_AUTH, targets_item);
    api_route(s, "GET", "/api/v1/deliveries", API_AUTH, deliveries_list);
    api_route_prefix(s, "GET", "/api/v1/deliveries/", API_AUTH, deliveries_item);
    api_route(s, "GET", "/api/v1/health", API_AUTH, health_all);
    api_route(s, "GET", "/api/v1/checks", API_AUTH, checks_list);
    api_route_prefix(s, NULL, "/api/v1/checks/", API_AUTH, checks_item);
}
