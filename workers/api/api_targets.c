/*
 * herald-api: targets (where a tenant's notifications go) and their health.
 *
 *   GET  /api/v1/targets                POST /api/v1/targets
 *   GET|PATCH|PUT|DELETE /api/v1/targets/{id}
 *   POST /api/v1/targets/{id}/test      (sends a test message now)
 *   GET  /api/v1/targets/{id}/health    GET /api/v1/targets/{id}/deliveries
 *   GET  /api/v1/targets/{id}/activity  (sent and failed per hour: api_activity.c)
 *   GET  /api/v1/health                 (every target's health)
 *
 * A tenant token sees and changes only its tenant: another tenant's target
 * is 404, as if it did not exist. Input errors are
 * 400 {"error": "<field>: <reason>", "field": "<field>"}.
 */
#include "workers/api/api_targets.h"

#include "workers/api/api_activity.h"
#include "workers/api/api_deliveries.h"
#include "workers/api/api_http.h"
#include "workers/api/api_workspaces.h"

#include "common/crypto.h"
#include "common/event.h"
#include "common/log.h"
#include "common/render.h"
#include "common/slack.h"
#include "common/util.h"
#include "store/storejson.h"
#include "store/validation.h"
#include "store/token_refresh.h"
#include "store/test_send.h"
#include "store/targets.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    cJSON_AddNumberToObject(o, "suppressed_24h", (double)h->suppressed_24h);
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
    storejson_target_settings(o, t);
    api_json_time(o, "created_at", t->created_at_ms);
    api_json_time(o, "updated_at", t->updated_at_ms);
    cJSON_AddItemToObject(o, "health", health_json(&t->health));
    return o;
}

/* ================================================================ target input */

typedef struct target_body {
    store_target_input in;
    char **checks;
    size_t n_checks;
    char *uses_csv;
    bool has_destination;
} target_body;

static void target_body_dispose(target_body *b)
{
    store_strv_destroy(b->checks, b->n_checks);
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
        } else if (strcmp(k, "min_severity") == 0 || strcmp(k, "repeat_policy") == 0) {
            if (!cJSON_IsString(f)) {
                api_error(c, 400, k, "%s: expected a string", k);
                return 0;
            }
            bool sev = k[0] == 'm';
            store_status st = sev ? store_min_severity_check(f->valuestring, err, sizeof err)
                                  : store_repeat_policy_check(f->valuestring, err, sizeof err);
            if (st != STORE_OK) {
                api_store_error(c, st, err);
                return 0;
            }
            *(sev ? &b->in.min_severity : &b->in.repeat_policy) = f->valuestring;
        } else if (strcmp(k, "repeat_interval_seconds") == 0) {
            /* null: none (a client echoing a target whose policy is not interval) */
            if (cJSON_IsNull(f))
                continue;
            int64_t v;
            if (!api_json_whole(c, f, k, INT32_MIN, INT32_MAX, &v))
                return 0;
            store_status st = store_repeat_interval_check(v, err, sizeof err);
            if (st != STORE_OK) {
                api_store_error(c, st, err);
                return 0;
            }
            b->in.repeat_interval_s = v;
        } else if (strcmp(k, "notify_resolved") == 0 || strcmp(k, "nudge_enabled") == 0) {
            if (!cJSON_IsBool(f)) {
                api_error(c, 400, k, "%s: expected true or false", k);
                return 0;
            }
            store_toggle v = cJSON_IsTrue(f) ? STORE_ON : STORE_OFF;
            if (k[0] == 'n' && k[1] == 'o')
                b->in.notify_resolved = v;
            else
                b->in.nudge = v;
        } else if (strcmp(k, "id") == 0 || strcmp(k, "destination_kind") == 0 ||
                   strcmp(k, "destination_resolved") == 0 || strcmp(k, "health") == 0 ||
                   strcmp(k, "created_at") == 0 || strcmp(k, "updated_at") == 0 ||
                   strcmp(k, "all_checks") == 0) {
            /* read-only fields a client may echo back from a GET: ignored */
        } else {
            api_error(c, 400, k,
                      "%s: unknown field (expected tenant, workspace, name, "
                      "description, destination, uses, checks, enabled, digest, thread_repeats, "
                      "min_severity, repeat_policy, repeat_interval_seconds, notify_resolved, "
                      "nudge_enabled)",
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
    store_targets_dispose(&l);
    api_respond(c, 200, o);
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
    store_target_destroy(t);
    api_respond(c, status, o);
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
        int v = api_workspace_visible(c->db, c->who.tenant, b.in.workspace, err, sizeof err);
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
    if (!api_check_destination(c, b.in.workspace, b.in.destination, resolved, sizeof resolved))
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
    target_body_dispose(&b);
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
    if (new_dest &&
        !api_check_destination(c, t->team_id, b.in.destination, resolved, sizeof resolved))
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
    store_target_destroy(t);
    target_body_dispose(&b);
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
    api_respond(c, 200, o);
}

static void target_health(api_call *c, int64_t id)
{
    store_target *t = visible_target(c, id);
    if (!t)
        return;
    cJSON *o = health_json(&t->health);
    cJSON_AddNumberToObject(o, "target_id", (double)t->id);
    cJSON_AddBoolToObject(o, "workspace_revoked", t->workspace_revoked);
    store_target_destroy(t);
    api_respond(c, 200, o);
}

/* The test send lends the request's connection back to the pool around its
 * Slack calls (store_test_send_opts.db_release). */
static void test_db_release(void *ctx)
{
    api_db_release(ctx);
}

static PGconn *test_db_acquire(void *ctx)
{
    api_call *c = ctx;
    return api_db_reacquire(c) ? c->db : NULL;
}

/* POST /api/v1/targets/{id}/test: send a test message now. */
static void target_test(api_call *c, int64_t id)
{
    char err[512];
    api_server *s = c->srv;
    store_target *t = visible_target(c, id);
    if (!t)
        return;
    if (!api_slack_begin(c)) {
        store_target_destroy(t);
        return;
    }
    store_slack_app app = {.api_base = api_slack_base(s),
                           .client_id = s->cfg.client_id,
                           .client_secret = s->cfg.client_secret,
                           .timeout_ms = SLACK_DEFAULT_TIMEOUT_MS};
    store_test_send_opts opts = {.key = s->key,
                                 .app = &app,
                                 .source = "herald-api",
                                 .herald_url = s->public_url,
                                 .db_release = test_db_release,
                                 .db_acquire = test_db_acquire,
                                 .db_ctx = c};
    store_test_send_result res;
    store_status st = store_test_send(c->db, t, &opts, &res, err, sizeof err);
    if (httpd_responded(c->req)) { /* no connection came back: answered 503 */
        store_target_destroy(t);
        return;
    }
    if (st != STORE_OK) {
        if (res.delivery_id)
            metrics_counter_inc(s->m_tests, "failed");
        if (res.delivery_id && st == STORE_NOT_FOUND)
            api_error(c, 400, "workspace", "workspace: '%s' is not installed", t->team_id);
        else
            api_store_error(c, st, err);
        store_target_destroy(t);
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
    api_respond(c, res.ok ? 200 : 502, j);
    store_target_destroy(t);
}

/* ================================================================ targets item */

static void targets_item(api_call *c)
{
    int64_t id = 0;
    const char *sub;
    if (!api_path_id(c, "target", &id, &sub))
        return;
    const char *m = httpd_req_method(c->req);
    bool get = strcmp(m, "GET") == 0;
    if (!sub) {
        if (get)
            target_show_id(c, id, 200);
        else if (strcmp(m, "PATCH") == 0 || strcmp(m, "PUT") == 0)
            target_update(c, id);
        else if (strcmp(m, "DELETE") == 0)
            target_delete(c, id);
        else
            api_error(c, 405, NULL, "method %s is not allowed here (GET, PATCH, DELETE)", m);
    } else if (strcmp(sub, "test") == 0) {
        if (strcmp(m, "POST") == 0)
            target_test(c, id);
        else
            api_error(c, 405, NULL, "method %s is not allowed here (POST)", m);
    } else if (strcmp(sub, "health") == 0 && get) {
        target_health(c, id);
    } else if (strcmp(sub, "deliveries") == 0 && get) {
        /* 404 for another tenant's target, not an empty list */
        store_target *t = visible_target(c, id);
        if (!t)
            return;
        store_target_destroy(t);
        api_deliveries_list_for(c, id);
    } else if (strcmp(sub, "activity") == 0 && get) {
        store_target *t = visible_target(c, id); /* 404 for another tenant's target */
        if (!t)
            return;
        store_target_destroy(t);
        api_activity_for(c, id);
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

void api_targets_register(api_server *s)
{
    api_route(s, "GET", "/api/v1/targets", API_AUTH, targets_list);
    api_route(s, "POST", "/api/v1/targets", API_AUTH, target_create);
    api_route_prefix(s, NULL, "/api/v1/targets/", API_AUTH, targets_item);
    api_route(s, "GET", "/api/v1/health", API_AUTH, health_all);
}
