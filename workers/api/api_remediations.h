#ifndef HERALD_API_REMEDIATIONS_H
#define HERALD_API_REMEDIATIONS_H

/*
 * herald-api: the remediation texts nudges send, per tenant and check type
 * (api_remediations.c).
 */
#include "workers/api/api_http.h"

/* Adds /api/v1/remediations[/{check_type}]. */
void api_remediations_register(api_server *s);

#endif
