#ifndef HERALD_API_SILENCES_H
#define HERALD_API_SILENCES_H

/*
 * herald-api: silences (api_silences.c).
 */
#include "workers/api/api_http.h"

/* Adds /api/v1/silences[/{id}[/expire]]. */
void api_silences_register(api_server *s);

#endif
