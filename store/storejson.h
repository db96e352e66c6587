#ifndef HERALD_STOREJSON_H
#define HERALD_STOREJSON_H

/*
 * JSON forms of the admin data layer's structs (store/store.h), shared by
 * `heraldctl ... --json` and the HTTP admin API so both speak one shape.
 * Keys match the store's field names (the names STORE_INVALID messages use):
 * a target reads back with the keys it is created with. Times are RFC 3339
 * UTC strings with milliseconds, or null. Tokens are never included.
 * Each function returns a new cJSON object (or array) owned by the caller.
 */

#include "store/workspaces.h"
#include "store/targets.h"
#include "store/deliveries.h"
#include "store/silences.h"

#include <cJSON.h>
#include <stdint.h>

/* {team_id, team_name, bot_user_id, scopes, installed_at, updated_at, revoked,
 *  revoked_at, revoked_reason, target_count} */
cJSON *storejson_workspace(const store_workspace *w);

/* {id, tenant, workspace, workspace_name, workspace_revoked, name, description,
 *  destination, destination_kind, destination_resolved, uses: [...],
 *  checks: [...] (empty: every check), enabled, digest, thread_repeats,
 *  min_severity, repeat_policy, repeat_interval_seconds, notify_resolved,
 *  nudge_enabled, created_at, updated_at,
 *  health: {pending_24h, sending_24h, retrying_24h, sent_24h, failed_24h,
 *           last_success_at, last_error_at, last_error_code, last_error,
 *           suppressed_24h}} */
cJSON *storejson_target(const store_target *t);

/* Adds what a target wants to hear (migration 010) to o, as both JSON shapes
 * of a target carry it: min_severity, repeat_policy, repeat_interval_seconds
 * (null unless the policy is interval), notify_resolved, nudge_enabled. */
void storejson_target_settings(cJSON *o, const store_target *t);

/* {id, event_id, target_id, target_name, tenant, event_kind, check_type,
 *  integration, collection_status, state, kind, ref_event_id, attempts,
 *  next_attempt_at, error_code, error, slack_channel, slack_ts, created_at,
 *  updated_at, sent_at}. A suppressed delivery's reason is error_code
 *  (below_min_severity, silenced, ...) and error (in words). */
cJSON *storejson_delivery(const store_delivery *d);

/* {id, tenant_id, check_type, target_id, target_name, team_id, starts_at,
 *  ends_at (null: no end), author, reason, created_at, expired_at,
 *  expired_by, created_from_event_id, active, state} (state: active,
 *  scheduled, ended, expired; null for an absent scope part) */
cJSON *storejson_silence(const store_silence *s);
cJSON *storejson_silences(const store_silences *l);

/* Arrays of the above, in list order. */
cJSON *storejson_workspaces(const store_workspaces *l);
cJSON *storejson_targets(const store_targets *l);
cJSON *storejson_deliveries(const store_deliveries *l);

#endif
