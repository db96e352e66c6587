#ifndef HERALD_API_TARGETS_H
#define HERALD_API_TARGETS_H

/*
 * herald-api: targets, their health and test messages (api_targets.c).
 */
#include "workers/api/api_http.h"

/* Adds /api/v1/targets[/...] and /api/v1/health. */
void api_targets_register(api_server *s);

#endif
