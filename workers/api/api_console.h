#ifndef HERALD_API_CONSOLE_H
#define HERALD_API_CONSOLE_H

/*
 * herald-api: the web console's files (api_console.c).
 */
#include "workers/api/api_http.h"

/* Adds /, /console and /console/... */
void api_console_register(api_server *s);

#endif
