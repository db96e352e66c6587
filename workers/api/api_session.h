#ifndef HERALD_API_SESSION_H
#define HERALD_API_SESSION_H

/*
 * herald-api: console sign-in and sign-out (api_session.c).
 */
#include "workers/api/api_http.h"

/* Adds the /api/v1/session routes. */
void api_session_register(api_server *s);

#endif
