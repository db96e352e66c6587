/*
 * herald-api: check types (the kinds of failed check events a tenant sends)
 * and which failed_check targets notify for each.
 *
 *   GET /api/v1/checks                          every check type seen or named,
 *                                               with the targets that notify for it
 *   PUT /api/v1/checks/{check_type}/targets     {"target_ids": [..]}
 */
#include "workers/api/api_checks.h"

#include "workers/api/api_http.h"

#include "common/db.h"
#include "common/log.h"
#include "common/util.h"
#include "store/validation.h"
#include "store/targets.h"

#include <stdlib.h>
#include <string.h>

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
    store_check_row *rows = NULL;
    size_t n = 0;
    store_status st = store_check_rows(c->db, tenant, &rows, &n, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    store_targets l = {0};
    st = store_target_list(c->db, tenant, &l, err, sizeof err);
    if (st != STORE_OK) {
        store_check_rows_destroy(rows, n);
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
    store_targets_dispose(&l);
    store_check_rows_destroy(rows, n);
    api_respond(c, 200, o);
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
        store_strv_destroy(tv, tn);
        api_error(c, 400, "check_type", "check_type: '%s' is not a check type", type);
        return;
    }
    store_strv_destroy(tv, tn);
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
    store_check_row *rows = NULL;
    size_t nrows = 0;
    st = store_target_list(c->db, tenant, &l, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    st = store_check_rows(c->db, tenant, &rows, &nrows, err, sizeof err);
    if (st != STORE_OK) {
        store_targets_dispose(&l);
        api_store_error(c, st, err);
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
        api_respond(c, 200, o);
    }
out:
    store_check_rows_destroy(rows, nrows);
    store_targets_dispose(&l);
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

void api_checks_register(api_server *s)
{
    api_route(s, "GET", "/api/v1/checks", API_AUTH, checks_list);
    api_route_prefix(s, NULL, "/api/v1/checks/", API_AUTH, checks_item);
}
