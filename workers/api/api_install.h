#ifndef HERALD_API_INSTALL_H
#define HERALD_API_INSTALL_H

/*
 * herald-api: the "Add to Slack" install flow, OAuth v2 (api_install.c).
 */
#include "workers/api/api_http.h"

/* Adds /slack/install and /slack/oauth/callback. */
void api_install_register(api_server *s);

#endif
