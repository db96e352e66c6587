#ifndef HERALD_API_SETTINGS_H
#define HERALD_API_SETTINGS_H

/*
 * herald-api: a tenant's settings (api_settings.c), today who may press
 * Herald's buttons in its Slack messages.
 */
#include "workers/api/api_http.h"

/* Adds /api/v1/settings/slack-actions. */
void api_settings_register(api_server *s);

/*
 * The one tenant a per-tenant setting is read or written for: a tenant
 * token's own; for an operator token the tenant_id (or tenant) query
 * parameter, which it must give. NULL after answering 400 (operator without
 * one) or 403 (a tenant token naming another tenant).
 */
const char *api_settings_tenant(api_call *c);

/* "api:<token name>" (or "api:token <id>" for a token without a name): who
 * made a change, as updated_by records it. */
void api_settings_author(const api_call *c, char *buf, size_t size);

#endif
