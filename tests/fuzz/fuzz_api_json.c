/*
 * libFuzzer target: herald-api's JSON request bodies, the parts that need no
 * server or database. The handlers (workers/api/api_targets.c,
 * api_silences.c, api_settings.c, api_remediations.c) are static and answer
 * through an HTTP request, so this target runs what they run on a body:
 *   - the acceptance rules of httpd_req_json (no NUL byte, valid UTF-8, one
 *     JSON value and nothing after it; an object);
 *   - per member, the pure store validator the handler calls for that key:
 *     destination (store_destination_parse), uses (store_uses_parse, a string
 *     or an array joined as CSV the way csv_of does), checks
 *     (store_checks_parse), min_severity, repeat_policy,
 *     repeat_interval_seconds (+ store_repeat_resolve with the policy),
 *     tenant / tenant_id (store_tenant_check), who (store_action_who_parse),
 *     users / groups (store_action_ids_parse), check_type
 *     (store_is_check_type, remediation_default), team_id
 *     (event_is_identifier), starts_at / ends_at (event_parse_time), ids and
 *     target_id (api_parse_id on the number's text), duration_seconds
 *     (store_duration_text).
 * Not covered: the handlers' own member loops and the database writes
 * (tests/integration/test_api.c and tests/e2e/api_hostile.py cover those).
 */
#include "tests/fuzz/fuzz.h"

#include "common/event.h"
#include "common/utf8.h"
#include "store/remediations.h"
#include "store/tenant_settings.h"
#include "store/validation.h"
#include "workers/api/api_http.h"

#include <cjson/cJSON.h>
#include <stdio.h>

#define ERR char err[512] = ""

/* The body as httpd_req_json accepts it, or NULL. */
static cJSON *accept_body(const char *p, size_t len)
{
    size_t bad_at;
    if (len == 0 || memchr(p, '\0', len) || !utf8_valid(p, len, &bad_at))
        return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(p, len, &end, false);
    if (!j)
        return NULL;
    while (end && end < p + len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
        end++;
    if ((end && end < p + len) || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* A string, or an array of strings joined with ',' (NULL otherwise). */
static char *csv_of(const cJSON *v)
{
    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    if (!cJSON_IsArray(v))
        return NULL;
    size_t len = 1;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e))
            return NULL;
        len += strlen(e->valuestring) + 1;
    }
    char *out = malloc(len), *w = out;
    cJSON_ArrayForEach(e, v)
    {
        if (w != out)
            *w++ = ',';
        size_t l = strlen(e->valuestring);
        memcpy(w, e->valuestring, l);
        w += l;
    }
    *w = '\0';
    return out;
}

static void member(const cJSON *f, const char **policy)
{
    const char *k = f->string;
    const char *s = cJSON_IsString(f) ? f->valuestring : NULL;
    ERR;
    if (!strcmp(k, "destination") && s) {
        store_dest_kind kind;
        if (store_destination_parse(s, &kind, err, sizeof err) == STORE_OK)
            (void)store_dest_kind_name(kind);
    } else if (!strcmp(k, "uses")) {
        char *csv = csv_of(f);
        unsigned uses;
        char buf[64];
        if (csv && store_uses_parse(csv, &uses, err, sizeof err) == STORE_OK)
            (void)store_uses_format(uses, buf, sizeof buf);
        free(csv);
    } else if (!strcmp(k, "checks")) {
        char *csv = csv_of(f);
        char **v = NULL;
        size_t n = 0;
        if (csv && *csv && store_checks_parse(csv, &v, &n, err, sizeof err) == STORE_OK) {
            for (size_t i = 0; i < n; i++)
                if (!store_is_check_type(v[i]) || (i && strcmp(v[i - 1], v[i]) >= 0))
                    abort(); /* sorted, de-duplicated check types */
            store_strv_destroy(v, n);
        }
        free(csv);
    } else if (!strcmp(k, "min_severity") && s) {
        (void)store_min_severity_check(s, err, sizeof err);
    } else if (!strcmp(k, "repeat_policy") && s) {
        if (store_repeat_policy_check(s, err, sizeof err) == STORE_OK)
            *policy = s;
    } else if (!strcmp(k, "repeat_interval_seconds") && cJSON_IsNumber(f)) {
        double d = f->valuedouble;
        int64_t v = d >= -9e18 && d <= 9e18 ? (int64_t)d : 0;
        const char *out_policy;
        int64_t out_s;
        (void)store_repeat_interval_check(v, err, sizeof err);
        (void)store_repeat_resolve(*policy, v, "every", 0, &out_policy, &out_s, err, sizeof err);
        (void)store_repeat_resolve(*policy, v, "interval", 3600, &out_policy, &out_s, err,
                                   sizeof err);
    } else if ((!strcmp(k, "tenant") || !strcmp(k, "tenant_id")) && s) {
        (void)store_tenant_check(s, err, sizeof err);
    } else if (!strcmp(k, "who") && s) {
        store_action_who w;
        if (store_action_who_parse(s, &w, err, sizeof err) == STORE_OK)
            (void)store_action_who_name(w);
    } else if (!strcmp(k, "users") || !strcmp(k, "groups")) {
        char *csv = csv_of(f);
        char **v = NULL;
        size_t n = 0;
        if (csv && store_action_ids_parse(k, csv, &v, &n, err, sizeof err) == STORE_OK)
            store_strv_destroy(v, n);
        free(csv);
    } else if (!strcmp(k, "check_type") && s) {
        if (store_is_check_type(s))
            free(remediation_default(s));
    } else if (!strcmp(k, "team_id") && s) {
        (void)event_is_identifier(s);
    } else if ((!strcmp(k, "starts_at") || !strcmp(k, "ends_at")) && s) {
        int64_t ms;
        (void)event_parse_time(s, &ms);
    } else if ((!strcmp(k, "id") || !strcmp(k, "target_id")) && (s || cJSON_IsNumber(f))) {
        char num[64];
        if (!s)
            snprintf(num, sizeof num, "%.0f", f->valuedouble);
        int64_t id;
        (void)api_parse_id(s ? s : num, &id);
    } else if (!strcmp(k, "duration_seconds") && cJSON_IsNumber(f)) {
        char buf[64];
        double d = f->valuedouble;
        (void)store_duration_text(d >= 0 && d <= 9e18 ? (int64_t)d : 0, buf, sizeof buf);
    } else if (cJSON_IsObject(f)) {
        const cJSON *g;
        cJSON_ArrayForEach(g, f) member(g, policy);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *j = accept_body((const char *)data, size);
    if (!j)
        return 0;
    const char *policy = NULL;
    const cJSON *f;
    cJSON_ArrayForEach(f, j) member(f, &policy);
    cJSON_Delete(j);
    return 0;
}
