#include "store/storejson.h"

#include <stddef.h>
#include <stdio.h>
#include <time.h>

/* "2026-11-29T08:40:05.123Z" into buf (>= 32 bytes); "" when ms is 0. */
static const char *storejson_time(int64_t ms, char *buf, size_t size)
{
    if (size)
        buf[0] = '\0';
    if (ms <= 0)
        return buf;
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char base[24];
    if (!gmtime_r(&secs, &tm) || !strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm))
        return buf;
    snprintf(buf, size, "%s.%03dZ", base, (int)(ms % 1000));
    return buf;
}

/* Adds key: string, or null for NULL. */
static void add_str(cJSON *o, const char *key, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static void add_time(cJSON *o, const char *key, int64_t ms)
{
    char buf[40];
    if (ms > 0)
        cJSON_AddStringToObject(o, key, storejson_time(ms, buf, sizeof buf));
    else
        cJSON_AddNullToObject(o, key);
}

/* JSON numbers are doubles: exact for ids below 2^53, which bigserial ids are in practice. */
static void add_num(cJSON *o, const char *key, int64_t v)
{
    cJSON_AddNumberToObject(o, key, (double)v);
}

/* ================================================================ field tables */

/* How a struct member becomes a JSON value. */
typedef enum field_type {
    F_STR,  /* char *: string, or null for NULL */
    F_TIME, /* int64_t ms: RFC 3339 string, or null for 0 */
    F_I64,  /* int64_t: number */
    F_LONG, /* long: number */
    F_INT,  /* int: number */
    F_BOOL, /* bool */
    F_ID    /* int64_t: number, or null for 0 (an optional reference) */
} field_type;

typedef struct field {
    const char *key;
    field_type type;
    size_t offset; /* of the member in the struct */
} field;

/* Adds key: value for each field of the struct at base, in table order (the
 * order the keys print in). */
static void add_fields(cJSON *o, const void *base, const field *f, size_t n)
{
    const char *b = base;
    for (size_t i = 0; i < n; i++) {
        const void *m = b + f[i].offset;
        switch (f[i].type) {
        case F_STR:
            add_str(o, f[i].key, *(char *const *)m);
            break;
        case F_TIME:
            add_time(o, f[i].key, *(const int64_t *)m);
            break;
        case F_I64:
            add_num(o, f[i].key, *(const int64_t *)m);
            break;
        case F_LONG:
            add_num(o, f[i].key, *(const long *)m);
            break;
        case F_INT:
            add_num(o, f[i].key, *(const int *)m);
            break;
        case F_BOOL:
            cJSON_AddBoolToObject(o, f[i].key, *(const bool *)m);
            break;
        case F_ID:
            if (*(const int64_t *)m)
                add_num(o, f[i].key, *(const int64_t *)m);
            else
                cJSON_AddNullToObject(o, f[i].key);
            break;
        }
    }
}

#define FIELD(type, key, ftype, member)                                                            \
    {                                                                                              \
        key, ftype, offsetof(type, member)                                                         \
    }
#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* ================================================================ objects */

#define W(key, ftype, member) FIELD(store_workspace, key, ftype, member)
static const field workspace_fields[] = {
    W("team_id", F_STR, team_id),
    W("team_name", F_STR, team_name),
    W("bot_user_id", F_STR, bot_user_id),
    W("scopes", F_STR, scopes),
    W("installed_at", F_TIME, installed_at_ms),
    W("updated_at", F_TIME, updated_at_ms),
    W("revoked", F_BOOL, revoked),
    W("revoked_at", F_TIME, revoked_at_ms),
    W("revoked_reason", F_STR, revoked_reason),
    W("target_count", F_LONG, target_count),
    W("token_rotation", F_BOOL, rotating),
    W("token_expires_at", F_TIME, token_expires_at_ms),
};
#undef W

cJSON *storejson_workspace(const store_workspace *w)
{
    cJSON *o = cJSON_CreateObject();
    add_fields(o, w, workspace_fields, NFIELDS(workspace_fields));
    return o;
}

#define T(key, ftype, member) FIELD(store_target, key, ftype, member)
/* Before destination_kind, uses and checks (computed). */
static const field target_fields[] = {
    T("id", F_I64, id),
    T("tenant", F_STR, tenant_id),
    T("workspace", F_STR, team_id),
    T("workspace_name", F_STR, team_name),
    T("workspace_revoked", F_BOOL, workspace_revoked),
    T("name", F_STR, name),
    T("description", F_STR, description),
    T("destination", F_STR, destination),
};
/* After them. */
static const field target_fields_after[] = {
    T("enabled", F_BOOL, enabled),
    T("digest", F_BOOL, digest_enabled),
    T("thread_repeats", F_BOOL, thread_repeats),
};
/* After the settings. */
static const field target_fields_times[] = {
    T("created_at", F_TIME, created_at_ms),
    T("updated_at", F_TIME, updated_at_ms),
};
static const field target_settings_fields[] = {
    T("min_severity", F_STR, min_severity),
    T("repeat_policy", F_STR, repeat_policy),
    T("repeat_interval_seconds", F_ID, repeat_interval_s),
    T("notify_resolved", F_BOOL, notify_resolved),
    T("nudge_enabled", F_BOOL, nudge_enabled),
};
#undef T

#define H(key, ftype, member) FIELD(store_target_health, key, ftype, member)
static const field health_fields[] = {
    H("pending_24h", F_LONG, pending_24h),        H("sending_24h", F_LONG, sending_24h),
    H("retrying_24h", F_LONG, retrying_24h),      H("sent_24h", F_LONG, sent_24h),
    H("failed_24h", F_LONG, failed_24h),          H("last_success_at", F_TIME, last_success_at_ms),
    H("last_error_at", F_TIME, last_error_at_ms), H("last_error_code", F_STR, last_error_code),
    H("last_error", F_STR, last_error),           H("suppressed_24h", F_LONG, suppressed_24h),
};
#undef H

void storejson_target_settings(cJSON *o, const store_target *t)
{
    add_fields(o, t, target_settings_fields, NFIELDS(target_settings_fields));
}

cJSON *storejson_target(const store_target *t)
{
    cJSON *o = cJSON_CreateObject();
    add_fields(o, t, target_fields, NFIELDS(target_fields));
    add_str(o, "destination_kind", store_dest_kind_name(t->destination_kind));
    add_str(o, "destination_resolved", t->destination_resolved);
    cJSON *uses = cJSON_AddArrayToObject(o, "uses");
    if (t->uses & STORE_USE_FAILED_CHECK)
        cJSON_AddItemToArray(uses, cJSON_CreateString("failed_check"));
    if (t->uses & STORE_USE_DATA_COLLECTION)
        cJSON_AddItemToArray(uses, cJSON_CreateString("data_collection"));
    cJSON *checks = cJSON_AddArrayToObject(o, "checks");
    for (size_t i = 0; i < t->n_checks; i++)
        cJSON_AddItemToArray(checks, cJSON_CreateString(t->checks[i]));
    add_fields(o, t, target_fields_after, NFIELDS(target_fields_after));
    storejson_target_settings(o, t);
    add_fields(o, t, target_fields_times, NFIELDS(target_fields_times));
    add_fields(cJSON_AddObjectToObject(o, "health"), &t->health, health_fields,
               NFIELDS(health_fields));
    return o;
}

#define D(key, ftype, member) FIELD(store_delivery, key, ftype, member)
static const field delivery_fields[] = {
    D("id", F_I64, id),
    D("event_id", F_STR, event_id),
    D("target_id", F_I64, target_id),
    D("target_name", F_STR, target_name),
    D("tenant", F_STR, tenant_id),
    D("event_kind", F_STR, event_kind),
    D("check_type", F_STR, check_type),
    D("integration", F_STR, integration),
    D("collection_status", F_STR, collection_status),
    D("state", F_STR, state),
    D("kind", F_STR, kind),
    D("ref_event_id", F_STR, ref_event_id),
    D("attempts", F_INT, attempts),
    D("next_attempt_at", F_TIME, next_attempt_at_ms),
    D("error_code", F_STR, error_code),
    D("error", F_STR, error),
    D("slack_channel", F_STR, slack_channel),
    D("slack_ts", F_STR, slack_ts),
    D("created_at", F_TIME, created_at_ms),
    D("updated_at", F_TIME, updated_at_ms),
    D("sent_at", F_TIME, sent_at_ms),
};
#undef D

cJSON *storejson_delivery(const store_delivery *d)
{
    cJSON *o = cJSON_CreateObject();
    add_fields(o, d, delivery_fields, NFIELDS(delivery_fields));
    return o;
}

#define S(key, ftype, member) FIELD(store_silence, key, ftype, member)
static const field silence_fields[] = {
    S("id", F_I64, id),
    S("tenant_id", F_STR, tenant_id),
    S("check_type", F_STR, check_type),
    S("target_id", F_ID, target_id),
    S("target_name", F_STR, target_name),
    S("team_id", F_STR, team_id),
    S("starts_at", F_TIME, starts_at_ms),
    S("ends_at", F_TIME, ends_at_ms),
    S("author", F_STR, author),
    S("reason", F_STR, reason),
    S("created_at", F_TIME, created_at_ms),
    S("expired_at", F_TIME, expired_at_ms),
    S("expired_by", F_STR, expired_by),
    S("created_from_event_id", F_STR, created_from_event_id),
    S("active", F_BOOL, active),
};
#undef S

cJSON *storejson_silence(const store_silence *s)
{
    cJSON *o = cJSON_CreateObject();
    add_fields(o, s, silence_fields, NFIELDS(silence_fields));
    add_str(o, "state", s->state);
    return o;
}

/* ================================================================ arrays */

cJSON *storejson_workspaces(const store_workspaces *l)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < l->n; i++)
        cJSON_AddItemToArray(a, storejson_workspace(&l->items[i]));
    return a;
}

cJSON *storejson_targets(const store_targets *l)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < l->n; i++)
        cJSON_AddItemToArray(a, storejson_target(&l->items[i]));
    return a;
}

cJSON *storejson_deliveries(const store_deliveries *l)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < l->n; i++)
        cJSON_AddItemToArray(a, storejson_delivery(&l->items[i]));
    return a;
}

cJSON *storejson_silences(const store_silences *l)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < l->n; i++)
        cJSON_AddItemToArray(a, storejson_silence(&l->items[i]));
    return a;
}
