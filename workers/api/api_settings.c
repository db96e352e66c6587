/*
 * herald-api: a tenant's settings.
 *
 *   GET /api/v1/settings/slack-actions     {tenant, who, users, groups, is_default, updated_at}
 *   PUT /api/v1/settings/slack-actions     {who, users?, groups?}: replaces the setting
 *
 * who: "channel" (anyone in the channel may press the buttons; the default),
 * "listed" (the Slack user ids in users and the members of the user groups
 * in groups) or "none". Tenant-scoped: a tenant token reads and writes its
 * own tenant; an operator token names one with ?tenant_id=.
 */
#include "workers/api/api_settings.h"

#include "common/log.h"
#include "common/util.h"
#include "store/tenant_settings.h"
#include "store/tenantjson.h"
#include "store/validation.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *api_settings_tenant(api_call *c)
{
    const char *q = httpd_req_query(c->req, "tenant_id");
    if (!q || !*q)
        q = httpd_req_query(c->req, "tenant");
    if (q && !*q)
        q = NULL;
    if (!api_is_operator(c)) {
        if (q && strcmp(q, c->who.tenant) != 0) {
            api_error(c, 403, "tenant_id", "tenant_id: this token is limited to tenant %s",
                      c->who.tenant);
            return NULL;
        }
        return c->who.tenant;
    }
    if (!q)
        api_error(c, 400, "tenant_id",
                  "tenant_id: required (this token serves every tenant): add ?tenant_id=");
    return q;
}

void api_settings_author(const api_call *c, char *buf, size_t size)
{
    if (c->who.name[0])
        snprintf(buf, size, "api:%s", c->who.name);
    else
        snprintf(buf, size, "api:token %" PRId64, c->who.token_id);
}

static void respond_settings(api_call *c, const char *tenant)
{
    char err[512];
    store_action_settings s = {0};
    store_status st = store_action_settings_get(c->db, tenant, &s, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    api_respond(c, 200, tenantjson_action_settings(&s));
    store_action_settings_dispose(&s);
}

static void slack_actions_get(api_call *c)
{
    const char *tenant = api_settings_tenant(c);
    if (tenant)
        respond_settings(c, tenant);
}

/* The strings of the array member key of j into a new vector (*v, *n; none
 * when the member is absent or null); false after answering 400 naming key. */
static bool string_array(api_call *c, const cJSON *j, const char *key, char ***v, size_t *n)
{
    *v = NULL;
    *n = 0;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!a || cJSON_IsNull(a))
        return true;
    int len = cJSON_GetArraySize(a);
    if (!cJSON_IsArray(a) || len > STORE_MAX_ACTION_IDS) {
        api_error(c, 400, key, "%s: expected an array of at most %d Slack ids", key,
                  STORE_MAX_ACTION_IDS);
        return false;
    }
    *v = xcalloc(len ? (size_t)len : 1, sizeof **v);
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (!cJSON_IsString(e)) {
            store_strv_destroy(*v, *n);
            *v = NULL;
            *n = 0;
            api_error(c, 400, key, "%s: expected an array of strings", key);
            return false;
        }
        (*v)[(*n)++] = xstrdup(e->valuestring);
    }
    return true;
}

static void slack_actions_put(api_call *c)
{
    const char *tenant = api_settings_tenant(c);
    cJSON *j = tenant ? api_body_object(c) : NULL;
    if (!j)
        return;
    const cJSON *f;
    cJSON_ArrayForEach(f, j)
    {
        if (strcmp(f->string, "who") && strcmp(f->string, "users") && strcmp(f->string, "groups")) {
            api_error(c, 400, f->string, "%s: unknown field (expected who, users, groups)",
                      f->string);
            return;
        }
    }
    const cJSON *jw = cJSON_GetObjectItemCaseSensitive(j, "who");
    if (!cJSON_IsString(jw)) {
        api_error(c, 400, "who", "who: required, one of channel, listed, none");
        return;
    }
    char err[512];
    store_action_who who;
    store_status st = store_action_who_parse(jw->valuestring, &who, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    char **users = NULL, **groups = NULL;
    size_t nu = 0, ng = 0;
    if (string_array(c, j, "users", &users, &nu) && string_array(c, j, "groups", &groups, &ng)) {
        st = store_action_settings_set(c->db, tenant, who, (const char *const *)users, nu,
                                       (const char *const *)groups, ng, err, sizeof err);
        if (st != STORE_OK) {
            api_store_error(c, st, err);
        } else {
            LOG_INFO("api: tenant %s: Slack actions by %s (%zu users, %zu groups), token %" PRId64,
                     tenant, store_action_who_name(who), nu, ng, c->who.token_id);
            respond_settings(c, tenant);
        }
    }
    store_strv_destroy(users, nu);
    store_strv_destroy(groups, ng);
}

void api_settings_register(api_server *s)
{
    api_route(s, "GET", "/api/v1/settings/slack-actions", API_AUTH, slack_actions_get);
    api_route(s, "PUT", "/api/v1/settings/slack-actions", API_AUTH, slack_actions_put);
}
