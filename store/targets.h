#ifndef HERALD_STORE_TARGETS_H
#define HERALD_STORE_TARGETS_H

/*
 * The data layer's notification targets (store/store.h for the conventions):
 * create, list, get, update, remove, with their check filters and health.
 */

#include "store/store.h"
#include "store/validation.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* Per target over the last 24 hours, and the last success and error
 * (view target_delivery_health). */
typedef struct store_target_health {
    long pending_24h, sending_24h, retrying_24h, sent_24h, failed_24h;
    long suppressed_24h; /* kept quiet by the floor, a silence or the repeat policy */
    int64_t last_success_at_ms;
    int64_t last_error_at_ms;
    char *last_error_code; /* may be NULL */
    char *last_error;      /* may be NULL: readable reason */
} store_target_health;

typedef struct store_target {
    int64_t id;
    char *tenant_id;
    char *team_id;
    char *team_name;
    bool workspace_revoked;
    char *name;
    char *description; /* "" when none */
    char *destination; /* as entered */
    store_dest_kind destination_kind;
    char *destination_resolved; /* may be NULL: what Slack resolved it to */
    unsigned uses;              /* STORE_USE_* bits, at least one */
    bool enabled;
    bool digest_enabled; /* the sender may fold a backlog into one digest (default on) */
    bool thread_repeats; /* repeats of a still-failing check go in its thread (default off) */
    char **checks;       /* check filter, sorted; n_checks == 0: every check */
    size_t n_checks;
    char *min_severity;        /* low, medium, high, critical (migration 010) */
    char *repeat_policy;       /* every, on_change, interval */
    int64_t repeat_interval_s; /* > 0 exactly when repeat_policy is interval */
    bool notify_resolved;      /* edit the message when the check passes again (default on) */
    bool nudge_enabled;        /* a "Nudge failing users" button (default off) */
    int64_t created_at_ms;
    int64_t updated_at_ms;
    store_target_health health;
} store_target;

typedef struct store_targets {
    store_target *items;
    size_t n;
} store_targets;

void store_target_destroy(store_target *t);
void store_targets_dispose(store_targets *l);

/*
 * Create and update input. Fields (for STORE_INVALID): tenant, workspace,
 * name, description, destination, uses, checks, min_severity, repeat_policy,
 * repeat_interval_seconds.
 * Create: tenant, workspace, name, destination and uses are required;
 * description NULL is ""; enabled < 0 is true; checks[0..n_checks) is the
 * filter (set_checks is ignored).
 * Update: NULL / 0 / -1 leave a field unchanged; tenant and workspace are
 * ignored; set_checks replaces the filter with checks[0..n_checks) (none:
 * every check).
 */
/* A setting a create/update may leave alone: zero means "unchanged" (create:
 * the default), so callers that zero-initialise the input never flip it. */
typedef enum store_toggle { STORE_KEEP = 0, STORE_ON = 1, STORE_OFF = 2 } store_toggle;

typedef struct store_target_input {
    const char *tenant;
    const char *workspace; /* team id */
    const char *name;
    const char *description;
    const char *destination; /* channel id, #channel-name or email address */
    unsigned uses;           /* STORE_USE_* bits */
    bool set_checks;
    const char *const *checks;
    size_t n_checks;
    int enabled;                 /* -1 unchanged (create: true), 0, 1 */
    store_toggle digest;         /* digest_enabled (migration 003; create default: on) */
    store_toggle thread_repeats; /* thread_repeats (migration 003; create default: off) */
    /* Migration 010. NULL / 0 / STORE_KEEP: unchanged (create: low, every, on, off).
     * repeat_interval_s alone implies the policy interval (store_repeat_resolve). */
    const char *min_severity;
    const char *repeat_policy;
    int64_t repeat_interval_s;
    store_toggle notify_resolved;
    store_toggle nudge;
} store_target_input;

/*
 * Validates and creates a target; *id gets the new id. Validation, each
 * naming its field and the bad value: tenant non-empty; the workspace is
 * installed and not revoked; name non-empty and unique in the tenant among
 * targets not removed; destination is a channel id, #channel-name or email;
 * at least one use; a check filter only with the failed_check use.
 */
store_status store_target_create(PGconn *conn, const store_target_input *in, int64_t *id,
                                 char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/* Targets not removed, of tenant (NULL: all), ordered by tenant and id, with
 * their check filters and health. */
store_status store_target_list(PGconn *conn, const char *tenant, store_targets *out, char *errstr,
                               size_t errstr_size) STORE_MUST_CHECK;

/* One target (not removed), with its check filter and health. */
store_status store_target_get(PGconn *conn, const char *tenant, int64_t id, store_target **out,
                              char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/* Applies the given subset of fields, validated as on create. Changing the
 * destination forgets what it was resolved to and the target's last error. */
store_status store_target_update(PGconn *conn, const char *tenant, int64_t id,
                                 const store_target_input *in, char *errstr,
                                 size_t errstr_size) STORE_MUST_CHECK;

/* Soft delete: sets deleted_at (and disables it) so its history stays readable. */
store_status store_target_remove(PGconn *conn, const char *tenant, int64_t id, char *errstr,
                                 size_t errstr_size) STORE_MUST_CHECK;

/* Records what Slack resolved the destination to (a user id for an email). */
store_status store_target_set_resolved(PGconn *conn, int64_t id, const char *resolved, char *errstr,
                                       size_t errstr_size) STORE_MUST_CHECK;

/* ---- check types -------------------------------------------------------------------------- */

/* A check type seen in events of a tenant (check_types), or named by a
 * target's filter and not seen yet (name "", last_seen_ms 0). */
typedef struct store_check_row {
    char *tenant, *type, *name;
    int64_t last_seen_ms;
} store_check_row;

/* The check types of tenant (NULL: all), by tenant and type; *out is
 * malloc'd (free with store_check_rows_destroy), never NULL on STORE_OK. */
store_status store_check_rows(PGconn *conn, const char *tenant, store_check_row **out, size_t *n,
                              char *errstr, size_t errstr_size) STORE_MUST_CHECK;
void store_check_rows_destroy(store_check_row *rows, size_t n);

#endif
