/*
 * herald-api: deliveries (one notification to one target, and its outcome).
 *
 *   GET /api/v1/deliveries[?tenant=&target_id=&state=&kind=&since=&limit=&offset=&before_id=]
 *   GET /api/v1/deliveries/{id}
 *
 * A delivery has the shape heraldctl --json prints (store/storejson): a
 * suppressed one carries its reason in error_code and error; kind is notify,
 * resolve or nudge. A tenant token sees only its tenant's deliveries.
 */
#include "workers/api/api_deliveries.h"

#include "workers/api/api_http.h"

#include "common/event.h"
#include "store/storejson.h"
#include "store/deliveries.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

void api_deliveries_list_for(api_call *c, int64_t target_id)
{
    char err[512];
    store_delivery_filter f = {0};
    f.tenant = api_tenant_scope(c);
    const char *qt = httpd_req_query(c->req, "tenant");
    if (!api_is_operator(c) && qt && strcmp(qt, c->who.tenant) != 0) {
        api_error(c, 403, "tenant", "tenant: this token is limited to tenant %s", c->who.tenant);
        return;
    }
    f.target_id = target_id;
    long v = 0;
    if (!target_id && httpd_req_query(c->req, "target_id")) {
        if (!api_query_long(c, "target_id", 1, LONG_MAX, &v))
            return;
        f.target_id = v;
    }
    const char *state = httpd_req_query(c->req, "state");
    if (state) {
        if (!store_delivery_state_valid(state)) {
            api_error(c, 400, "state", "state: '%s' is not one of " STORE_DELIVERY_STATES, state);
            return;
        }
        f.state = state;
    }
    const char *kind = httpd_req_query(c->req, "kind");
    if (kind) {
        if (!store_delivery_kind_valid(kind)) {
            api_error(c, 400, "kind", "kind: '%s' is not one of " STORE_DELIVERY_KINDS, kind);
            return;
        }
        f.kind = kind;
    }
    const char *since = httpd_req_query(c->req, "since");
    if (since && !event_parse_time(since, &f.since_ms)) {
        api_error(c, 400, "since", "since: '%s' is not an RFC 3339 time (2026-11-28T09:00:00Z)",
                  since);
        return;
    }
    long limit = STORE_DELIVERIES_DEFAULT_LIMIT, offset = 0, before = 0;
    if (!api_query_long(c, "limit", 1, STORE_DELIVERIES_MAX_LIMIT, &limit) ||
        !api_query_long(c, "offset", 0, 1000000, &offset) ||
        !api_query_long(c, "before_id", 1, LONG_MAX, &before))
        return;
    f.limit = (int)limit;
    f.offset = (int)offset;
    f.before_id = before;
    store_deliveries l = {0};
    store_status st = store_delivery_list(c->db, &f, &l, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < l.n; i++)
        cJSON_AddItemToArray(items, storejson_delivery(&l.items[i]));
    if (l.n == (size_t)limit && l.n > 0)
        cJSON_AddNumberToObject(o, "next_before_id", (double)l.items[l.n - 1].id);
    else
        cJSON_AddNullToObject(o, "next_before_id");
    store_deliveries_dispose(&l);
    api_respond(c, 200, o);
}

static void deliveries_list(api_call *c)
{
    api_deliveries_list_for(c, 0);
}

static void deliveries_item(api_call *c)
{
    char err[512];
    int64_t id;
    if (!api_parse_id(httpd_req_path_rest(c->req), &id)) {
        api_error(c, 404, NULL, "no such delivery: '%s'", httpd_req_path_rest(c->req));
        return;
    }
    store_delivery *d = NULL;
    store_status st = store_delivery_get(c->db, api_tenant_scope(c), id, &d, err, sizeof err);
    if (st != STORE_OK) {
        api_store_error(c, st, err);
        return;
    }
    cJSON *o = storejson_delivery(d);
    store_delivery_destroy(d);
    api_respond(c, 200, o);
}

void api_deliveries_register(api_server *s)
{
    api_route(s, "GET", "/api/v1/deliveries", API_AUTH, deliveries_list);
    api_route_prefix(s, "GET", "/api/v1/deliveries/", API_AUTH, deliveries_item);
}
