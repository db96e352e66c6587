#ifndef HERALD_API_INTERACT_H
#define HERALD_API_INTERACT_H

/*
 * herald-api: POST /slack/interactivity (api_interact.c), the Slack app's
 * Request URL for the buttons of Herald's messages.
 */
#include "workers/api/api_http.h"

/* Adds POST /slack/interactivity. */
void api_interact_register(api_server *s);

#endif
