#ifndef HERALD_API_DELIVERIES_H
#define HERALD_API_DELIVERIES_H

/*
 * herald-api: deliveries (api_deliveries.c).
 */
#include "workers/api/api_http.h"

/* Adds /api/v1/deliveries[/{id}]. */
void api_deliveries_register(api_server *s);

/* Answers the deliveries the caller may see, filtered by the query
 * (tenant, target_id, state, kind, since, limit, offset, before_id); target_id
 * non-zero lists one target's (GET /api/v1/targets/{id}/deliveries). */
void api_deliveries_list_for(api_call *c, int64_t target_id);

#endif
