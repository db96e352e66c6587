#ifndef HERALD_API_WORKSPACES_H
#define HERALD_API_WORKSPACES_H

/*
 * herald-api: Slack workspaces (api_workspaces.c), and what the targets
 * (api_targets.c) need from one.
 *
 * workspace_visible and usable_token keep the names they had as
 * static functions of api_admin.c while the store branch rewrites their
 * callers; they take the api_ prefix after that merge.
 */
#include "workers/api/api_http.h"

/* Adds /api/v1/workspaces[/...]. */
void api_workspaces_register(api_server *s);

/* Whether tenant may see/use workspace team_id: 1 yes, 0 no, -1 database
 * error (err set). */
int workspace_visible(PGconn *db, const char *tenant, const char *team_id, char *err,
                      size_t err_size);

/* The workspace's usable bot token into *t, refreshed first under token
 * rotation when it expires soon (or, with stale, when Slack just answered
 * token_expired for it). STORE_OK (t->token NULL and t->code set when Slack
 * refused the refresh) or the store's failure with errstr set. */
store_status usable_token(api_call *c, const char *team_id, const char *stale, store_token *t,
                          char *errstr, size_t errstr_size);

/* Checks with Slack that dest in workspace team_id can receive messages.
 * 1 with its channel or user id in resolved, or 0 after answering. */
int api_check_destination(api_call *c, const char *team_id, const char *dest, char *resolved,
                          size_t resolved_size);

#endif
