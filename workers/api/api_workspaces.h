#ifndef HERALD_API_WORKSPACES_H
#define HERALD_API_WORKSPACES_H

/*
 * herald-api: Slack workspaces (api_workspaces.c), and what the targets
 * (api_targets.c) need from one.
 */
#include "workers/api/api_http.h"
#include "store/token_refresh.h"

/* Adds /api/v1/workspaces[/...]. */
void api_workspaces_register(api_server *s);

/* Whether tenant may see/use workspace team_id: 1 yes, 0 no, -1 database
 * error (err set). */
int api_workspace_visible(PGconn *db, const char *tenant, const char *team_id, char *err,
                          size_t err_size);

/* Checks with Slack that dest in workspace team_id can receive messages.
 * 1 with its channel or user id in resolved, or 0 after answering. */
int api_check_destination(api_call *c, const char *team_id, const char *dest, char *resolved,
                          size_t resolved_size);

#endif
