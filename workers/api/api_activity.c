/*
 * herald-api: delivery activity per hour (sent and failed), from the hourly
 * rollups, for the console's activity chart.
 *
 *   GET /api/v1/activity[?hours=&tenant=]      every target the caller may see
 *   GET /api/v1/targets/{id}/activity[?hours=] one target (api_targets.c)
 *
 * {"hours": 168, "sent": total, "failed": total,
 *  "items": [{"hour": "2026-11-28T09:00:00Z", "sent": n, "failed": n}, ...]}
 * with one item per hour, oldest first, the current hour last. An hour counts
 * the deliveries created in it by their state now. A tenant token sees only
 * its tenant's targets.
 */
#include "workers/api/api_activity.h"

#include "store/activity.h"

void api_activity_for(api_call *c, int64_t target_id)
{
    char err[512];
    long hours = STORE_ACTIVITY_DEFAULT_HOURS;
    if (!api_query_long(c, "hours", 1, STORE_ACTIVITY_MAX_HOURS, &hours))
        return;
    store_activity a = {0};
    store_status st = store_activity_hourly(c->db, api_tenant_scope(c), target_id, (int)hours, &a,
                                            err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "hours", (double)hours);
    if (target_id)
        cJSON_AddNumberToObject(o, "target_id", (double)target_id);
    int64_t sent = 0, failed = 0;
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < a.n; i++) {
        cJSON *h = cJSON_CreateObject();
        api_json_time(h, "hour", a.items[i].hour_ms);
        cJSON_AddNumberToObject(h, "sent", (double)a.items[i].sent);
        cJSON_AddNumberToObject(h, "failed", (double)a.items[i].failed);
        cJSON_AddItemToArray(items, h);
        sent += a.items[i].sent;
        failed += a.items[i].failed;
    }
    cJSON_AddNumberToObject(o, "sent", (double)sent);
    cJSON_AddNumberToObject(o, "failed", (double)failed);
    store_activity_dispose(&a);
    api_respond(c, 200, o);
}

static void activity_all(api_call *c)
{
    api_activity_for(c, 0);
}

void api_activity_register(api_server *s)
{
    api_route(s, "GET", "/api/v1/activity", API_AUTH, activity_all);
}
