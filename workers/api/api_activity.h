#ifndef HERALD_API_ACTIVITY_H
#define HERALD_API_ACTIVITY_H

/*
 * herald-api: delivery activity per hour, for the console's chart
 * (api_activity.c).
 */
#include "workers/api/api_http.h"

#include <stdint.h>

/* Adds GET /api/v1/activity (every target the caller may see). */
void api_activity_register(api_server *s);

/* Answers the activity of target_id (GET /api/v1/targets/{id}/activity; the
 * caller has checked that it may see the target), or of every visible target
 * when 0. Query: hours (default 168). */
void api_activity_for(api_call *c, int64_t target_id);

#endif
