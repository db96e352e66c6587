#ifndef HERALD_API_CHECKS_H
#define HERALD_API_CHECKS_H

/*
 * herald-api: check types and the targets that notify for them (api_checks.c).
 */
#include "workers/api/api_http.h"

/* Adds /api/v1/checks[/...]. */
void api_checks_register(api_server *s);

#endif
