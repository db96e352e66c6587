/*
 * JSON forms of a tenant's remediation texts and action settings
 * (store/tenantjson.h).
 */
#include "store/tenantjson.h"

#include "common/event.h"

static void add_time(cJSON *o, const char *key, int64_t ms)
{
    char buf[EVENT_TIME_LEN];
    if (ms > 0) {
        event_format_time(ms, buf);
        cJSON_AddStringToObject(o, key, buf);
    } else
        cJSON_AddNullToObject(o, key);
}

static void add_strv(cJSON *o, const char *key, char *const *v, size_t n)
{
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
}

cJSON *tenantjson_remediation(const store_remediation *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "check_type", r->check_type);
    cJSON_AddStringToObject(o, "check_name", r->check_name ? r->check_name : "");
    cJSON_AddStringToObject(o, "text", r->text);
    cJSON_AddBoolToObject(o, "is_default", r->is_default);
    if (r->updated_by)
        cJSON_AddStringToObject(o, "updated_by", r->updated_by);
    else
        cJSON_AddNullToObject(o, "updated_by");
    add_time(o, "updated_at", r->updated_at_ms);
    add_time(o, "last_seen_at", r->last_seen_ms);
    return o;
}

cJSON *tenantjson_remediations(const store_remediations *l)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < l->n; i++)
        cJSON_AddItemToArray(a, tenantjson_remediation(&l->items[i]));
    return a;
}

cJSON *tenantjson_action_settings(const store_action_settings *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "tenant", s->tenant ? s->tenant : "");
    cJSON_AddStringToObject(o, "who", store_action_who_name(s->who));
    add_strv(o, "users", s->users, s->n_users);
    add_strv(o, "groups", s->groups, s->n_groups);
    cJSON_AddBoolToObject(o, "is_default", !s->stored);
    add_time(o, "updated_at", s->updated_at_ms);
    return o;
}
