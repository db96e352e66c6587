#ifndef HERALD_STORE_TENANTJSON_H
#define HERALD_STORE_TENANTJSON_H

/*
 * JSON forms of a tenant's settings (store/remediations.h,
 * store/tenant_settings.h), shared by `heraldctl remediation list --json`,
 * `heraldctl tenant show --json` and the HTTP admin API so both speak one
 * shape (storejson.h's conventions: keys are the store's field names, times
 * RFC 3339 UTC or null). Each function returns a new cJSON value owned by
 * the caller.
 */

#include "store/remediations.h"
#include "store/tenant_settings.h"

#include <cJSON.h>

/* {check_type, check_name, text, is_default, updated_by, updated_at, last_seen_at} */
cJSON *tenantjson_remediation(const store_remediation *r);

/* An array of the above, in list order. */
cJSON *tenantjson_remediations(const store_remediations *l);

/* {tenant, who, users: [...], groups: [...], is_default, updated_at} */
cJSON *tenantjson_action_settings(const store_action_settings *s);

#endif
