/*
 * herald-api: the text a nudge sends the failing users of a check, per
 * tenant and check type (store/remediations.h).
 *
 *   GET    /api/v1/remediations                {tenant, items: [{check_type, check_name, text,
 *                                               is_default, updated_by, updated_at,
 *                                               last_seen_at}]}: every check type the tenant
 *                                               has sent or has a text for
 *   PUT    /api/v1/remediations/{check_type}   {text}: the tenant's own text; answers the item
 *   DELETE /api/v1/remediations/{check_type}   back to Herald's default; answers the item and
 *                                               "reset" (whether there was a text to remove)
 *
 * Tenant-scoped like every per-tenant setting (api_settings_tenant): an
 * operator token names the tenant with ?tenant_id=.
 */
#include "workers/api/api_remediations.h"

#include "workers/api/api_settings.h"

#include "common/log.h"
#include "common/utf8.h"
#include "store/remediations.h"
#include "store/tenantjson.h"
#include "store/validation.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void remediations_list(api_call *c)
{
    const char *tenant = api_settings_tenant(c);
    if (!tenant)
        return;
    char err[512];
    store_remediations l = {0};
    store_status st = store_remediation_list(c->db, tenant, &l, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "tenant", tenant);
    cJSON_AddItemToObject(o, "items", tenantjson_remediations(&l));
    store_remediations_dispose(&l);
    api_respond(c, 200, o);
}

/* Answers the list item of type (with reset unless NULL): what the tenant's
 * nudges about it send now. */
static void respond_item(api_call *c, const char *tenant, const char *type, const bool *reset)
{
    char err[512];
    store_remediations l = {0};
    store_status st = store_remediation_list(c->db, tenant, &l, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    cJSON *o = NULL;
    for (size_t i = 0; i < l.n && !o; i++)
        if (!strcmp(l.items[i].check_type, type))
            o = tenantjson_remediation(&l.items[i]);
    if (!o) { /* reset of a type never seen: its default */
        store_remediation d = {
            .check_type = (char *)type, .text = remediation_default(type), .is_default = true};
        o = tenantjson_remediation(&d);
        free(d.text);
    }
    store_remediations_dispose(&l);
    if (reset)
        cJSON_AddBoolToObject(o, "reset", *reset);
    api_respond(c, 200, o);
}

static void remediation_put(api_call *c, const char *tenant, const char *type)
{
    cJSON *j = api_body_object(c);
    if (!j)
        return;
    const cJSON *f;
    cJSON_ArrayForEach(f, j)
    {
        if (strcmp(f->string, "text") != 0) {
            api_error(c, 400, f->string, "%s: unknown field (expected text)", f->string);
            return;
        }
    }
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(j, "text");
    if (!cJSON_IsString(jt)) {
        api_error(c, 400, "text", "text: required, a string");
        return;
    }
    char err[512], author[300];
    api_settings_author(c, author, sizeof author);
    store_status st =
        store_remediation_set(c->db, tenant, type, jt->valuestring, author, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    LOG_INFO("api: tenant %s: remediation text for %s set by token %" PRId64, tenant, type,
             c->who.token_id);
    respond_item(c, tenant, type, NULL);
}

static void remediation_delete(api_call *c, const char *tenant, const char *type)
{
    char err[512];
    bool removed = false;
    store_status st = store_remediation_reset(c->db, tenant, type, &removed, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    if (removed)
        LOG_INFO("api: tenant %s: remediation text for %s reset by token %" PRId64, tenant, type,
                 c->who.token_id);
    respond_item(c, tenant, type, &removed);
}

static void remediations_item(api_call *c)
{
    const char *type = httpd_req_path_rest(c->req);
    const char *method = httpd_req_method(c->req);
    bool put = !strcmp(method, "PUT"), del = !strcmp(method, "DELETE");
    if (!put && !del) {
        api_error(c, 405, NULL, "method %s is not allowed here (PUT, DELETE)", method);
        return;
    }
    if (!*type || strchr(type, '/')) {
        char safe[160];
        api_error(c, 404, NULL, "no such resource: %s",
                  utf8_safe(httpd_req_path(c->req), 100, safe, sizeof safe));
        return;
    }
    const char *tenant = api_settings_tenant(c);
    if (!tenant)
        return;
    if (put)
        remediation_put(c, tenant, type);
    else
        remediation_delete(c, tenant, type);
}

void api_remediations_register(api_server *s)
{
    api_route(s, "GET", "/api/v1/remediations", API_AUTH, remediations_list);
    api_route_prefix(s, NULL, "/api/v1/remediations/", API_AUTH, remediations_item);
}
