/*
 * herald-api: silences (a tenant's notifications kept quiet for a while).
 *
 *   GET  /api/v1/silences[?state=active|all]   POST /api/v1/silences
 *   GET  /api/v1/silences/{id}                 POST /api/v1/silences/{id}/expire
 *
 * Scoped like targets: a tenant token sees, makes and expires only its
 * tenant's silences (another tenant's is 404, as if it did not exist); an
 * operator token lists every tenant's (or ?tenant=T) and names the tenant of
 * a new one with tenant_id. A silence has the shape heraldctl --json prints
 * (store/storejson). The author is "api:<token name>", or "console:<token
 * name>" for a console session. Input errors are 400 {"error", "field"}.
 */
#include "workers/api/api_silences.h"

#include "workers/api/api_http.h"

#include "common/event.h"
#include "common/log.h"
#include "common/util.h"
#include "store/silences.h"
#include "store/storejson.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The longest silence by duration_seconds: a hundred years (longer: no end). */
#define MAX_DURATION_S (100LL * 366 * 86400)

/* Who is acting, as silences record it. */
static void author_of(const api_call *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s:%s", c->who.via_session ? "console" : "api", c->who.name);
}

static void respond_silence(api_call *c, int64_t id, unsigned status, int already)
{
    char err[512];
    store_silence *s = NULL;
    store_status st = store_silence_get(c->db, api_tenant_scope(c), id, &s, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    cJSON *o = storejson_silence(s);
    if (already >= 0)
        cJSON_AddBoolToObject(o, "already_expired", already);
    store_silence_destroy(s);
    api_respond(c, status, o);
}

static void silences_list(api_call *c)
{
    char err[512];
    const char *state = httpd_req_query(c->req, "state");
    if (state && strcmp(state, "active") != 0 && strcmp(state, "all") != 0) {
        api_error(c, 400, "state", "state: '%s' is not active or all", state);
        return;
    }
    const char *qt = httpd_req_query(c->req, "tenant");
    if (!api_is_operator(c) && qt && strcmp(qt, c->who.tenant) != 0) {
        api_error(c, 403, "tenant", "tenant: this token is limited to tenant %s", c->who.tenant);
        return;
    }
    store_silences l = {0};
    bool all = state && !strcmp(state, "all");
    store_status st = store_silence_list(c->db, api_tenant_scope(c), all, &l, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", storejson_silences(&l));
    store_silences_dispose(&l);
    api_respond(c, 200, o);
}

/* A string or null member: NULL for null; false after answering 400. */
static bool opt_string(api_call *c, const cJSON *f, const char **out)
{
    if (cJSON_IsNull(f)) {
        *out = NULL;
        return true;
    }
    if (!cJSON_IsString(f)) {
        api_error(c, 400, f->string, "%s: expected a string or null", f->string);
        return false;
    }
    *out = f->valuestring;
    return true;
}

/* An RFC 3339 time or null into *ms (0 for null); false after answering 400. */
static bool opt_time(api_call *c, const cJSON *f, int64_t *ms)
{
    const char *v;
    if (!opt_string(c, f, &v))
        return false;
    *ms = 0;
    if (v && !event_parse_time(v, ms)) {
        api_error(c, 400, f->string, "%s: '%s' is not an RFC 3339 time (2026-12-07T10:00:00Z)",
                  f->string, v);
        return false;
    }
    return true;
}

/* Reads a silence body into in; 1 ok, 0 answered. */
static int parse_silence_body(api_call *c, store_silence_input *in)
{
    cJSON *j = api_body_object(c);
    if (!j)
        return 0;
    bool has_end = false;
    cJSON *f;
    cJSON_ArrayForEach(f, j)
    {
        const char *k = f->string;
        if (!strcmp(k, "tenant_id") || !strcmp(k, "check_type") || !strcmp(k, "team_id") ||
            !strcmp(k, "reason")) {
            const char **dst = !strcmp(k, "tenant_id")    ? &in->tenant
                               : !strcmp(k, "check_type") ? &in->check_type
                               : !strcmp(k, "team_id")    ? &in->team_id
                                                          : &in->reason;
            if (!opt_string(c, f, dst))
                return 0;
        } else if (!strcmp(k, "target_id")) {
            if (!cJSON_IsNull(f) && !api_json_whole(c, f, k, 1, INT64_C(1) << 53, &in->target_id))
                return 0;
        } else if (!strcmp(k, "starts_at")) {
            if (!opt_time(c, f, &in->starts_at_ms))
                return 0;
        } else if (!strcmp(k, "ends_at")) {
            /* ends_at: null is a silence without end (a mute): said, not implied. */
            if (!opt_time(c, f, &in->ends_at_ms))
                return 0;
            in->forever = in->ends_at_ms == 0;
            has_end = true;
        } else if (!strcmp(k, "duration_seconds")) {
            int64_t s;
            if (!api_json_whole(c, f, k, 1, MAX_DURATION_S, &s))
                return 0;
            in->duration_ms = s * 1000;
            has_end = true;
        } else if (!strcmp(k, "id") || !strcmp(k, "author") || !strcmp(k, "created_at") ||
                   !strcmp(k, "expired_at") || !strcmp(k, "expired_by") || !strcmp(k, "active") ||
                   !strcmp(k, "state") || !strcmp(k, "target_name") ||
                   !strcmp(k, "created_from_event_id")) {
            /* read-only fields a client may echo back from a GET: ignored */
        } else {
            api_error(c, 400, k,
                      "%s: unknown field (expected tenant_id, check_type, target_id, team_id, "
                      "starts_at, ends_at, duration_seconds, reason)",
                      k);
            return 0;
        }
    }
    if (in->duration_ms && (in->ends_at_ms || in->forever)) {
        api_error(c, 400, "ends_at", "ends_at: give ends_at or duration_seconds, not both");
        return 0;
    }
    if (!has_end) {
        api_error(c, 400, "ends_at",
                  "ends_at: required: an end time, duration_seconds, or ends_at null for a "
                  "silence without end");
        return 0;
    }
    return 1;
}

static void silence_create(api_call *c)
{
    char err[512], author[300];
    store_silence_input in = {0};
    if (!parse_silence_body(c, &in))
        return;
    if (!api_is_operator(c)) {
        if (in.tenant && strcmp(in.tenant, c->who.tenant) != 0) {
            api_error(c, 403, "tenant_id", "tenant_id: this token is limited to tenant %s",
                      c->who.tenant);
            return;
        }
        in.tenant = c->who.tenant;
    } else if (!in.tenant) {
        api_error(c, 400, "tenant_id", "tenant_id: required (this token serves every tenant)");
        return;
    }
    author_of(c, author, sizeof author);
    in.author = author;
    int64_t id = 0;
    store_status st = store_silence_add(c->db, &in, &id, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    LOG_INFO("api: silence %" PRId64 " added for tenant %s by %s", id, in.tenant, author);
    char loc[64];
    snprintf(loc, sizeof loc, "/api/v1/silences/%" PRId64, id);
    httpd_add_header(c->req, "Location", loc);
    respond_silence(c, id, 201, -1);
}

static void silence_expire(api_call *c, int64_t id)
{
    char err[512], author[300];
    author_of(c, author, sizeof author);
    bool already = false;
    store_status st =
        store_silence_expire(c->db, api_tenant_scope(c), id, author, &already, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    if (!already)
        LOG_INFO("api: silence %" PRId64 " expired by %s", id, author);
    respond_silence(c, id, 200, already);
}

static void silences_item(api_call *c)
{
    int64_t id = 0;
    const char *sub;
    if (!api_path_id(c, "silence", &id, &sub))
        return;
    const char *m = httpd_req_method(c->req);
    if (!sub) {
        if (!strcmp(m, "GET"))
            respond_silence(c, id, 200, -1);
        else
            api_error(c, 405, NULL, "method %s is not allowed here (GET)", m);
    } else if (!strcmp(sub, "expire")) {
        if (!strcmp(m, "POST"))
            silence_expire(c, id);
        else
            api_error(c, 405, NULL, "method %s is not allowed here (POST)", m);
    } else {
        api_error(c, 404, NULL, "no such resource: %s %s", m, httpd_req_path(c->req));
    }
}

void api_silences_register(api_server *s)
{
    api_route(s, "GET", "/api/v1/silences", API_AUTH, silences_list);
    api_route(s, "POST", "/api/v1/silences", API_AUTH, silence_create);
    api_route_prefix(s, NULL, "/api/v1/silences/", API_AUTH, silences_item);
}
