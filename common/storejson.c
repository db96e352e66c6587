#include "common/storejson.h"

#include <stdio.h>
#include <time.h>

const char *storejson_time(int64_t ms, char *buf, size_t size)
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

cJSON *storejson_workspace(const store_workspace *w)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "team_id", w->team_id);
    add_str(o, "team_name", w->team_name);
    add_str(o, "bot_user_id", w->bot_user_id);
    add_str(o, "scopes", w->scopes);
    add_time(o, "installed_at", w->installed_at_ms);
    add_time(o, "updated_at", w->updated_at_ms);
    cJSON_AddBoolToObject(o, "revoked", w->revoked);
    add_time(o, "revoked_at", w->revoked_at_ms);
    add_str(o, "revoked_reason", w->revoked_reason);
    add_num(o, "target_count", w->target_count);
    return o;
}

cJSON *storejson_target(const store_target *t)
{
    cJSON *o = cJSON_CreateObject();
    add_num(o, "id", t->id);
    add_str(o, "tenant", t->tenant_id);
    add_str(o, "workspace", t->team_id);
    add_str(o, "workspace_name", t->team_name);
    cJSON_AddBoolToObject(o, "workspace_revoked", t->workspace_revoked);
    add_str(o, "name", t->name);
    add_str(o, "description", t->description);
    add_str(o, "destination", t->destination);
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
    cJSON_AddBoolToObject(o, "enabled", t->enabled);
    cJSON_AddBoolToObject(o, "digest", t->digest_enabled);
    cJSON_AddBoolToObject(o, "thread_repeats", t->thread_repeats);
    add_time(o, "created_at", t->created_at_ms);
    add_time(o, "updated_at", t->updated_at_ms);
    cJSON *h = cJSON_AddObjectToObject(o, "health");
    add_num(h, "pending_24h", t->health.pending_24h);
    add_num(h, "sending_24h", t->health.sending_24h);
    add_num(h, "retrying_24h", t->health.retrying_24h);
    add_num(h, "sent_24h", t->health.sent_24h);
    add_num(h, "failed_24h", t->health.failed_24h);
    add_time(h, "last_success_at", t->health.last_success_at_ms);
    add_time(h, "last_error_at", t->health.last_error_at_ms);
    add_str(h, "last_error_code", t->health.last_error_code);
    add_str(h, "last_error", t->health.last_error);
    return o;
}

cJSON *storejson_delivery(const store_delivery *d)
{
    cJSON *o = cJSON_CreateObject();
    add_num(o, "id", d->id);
    add_str(o, "event_id", d->event_id);
    add_num(o, "target_id", d->target_id);
    add_str(o, "target_name", d->target_name);
    add_str(o, "tenant", d->tenant_id);
    add_str(o, "event_kind", d->event_kind);
    add_str(o, "check_type", d->check_type);
    add_str(o, "integration", d->integration);
    add_str(o, "collection_status", d->collection_status);
    add_str(o, "state", d->state);
    add_num(o, "attempts", d->attempts);
    add_time(o, "next_attempt_at", d->next_attempt_at_ms);
    add_str(o, "error_code", d->error_code);
    add_str(o, "error", d->error);
    add_str(o, "slack_channel", d->slack_channel);
    add_str(o, "slack_ts", d->slack_ts);
    add_time(o, "created_at", d->created_at_ms);
    add_time(o, "updated_at", d->updated_at_ms);
    add_time(o, "sent_at", d->sent_at_ms);
    return o;
}
