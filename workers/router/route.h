#ifndef HERALD_ROUTE_H
#define HERALD_ROUTE_H

#include "common/event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The routing rules of design.md, pure: no I/O, no allocation, so they can be
 * tested as a table. The subscriptions cache (workers/router/subscriptions.h) holds
 * route_target values per tenant; the router (workers/router/router.h) asks
 * route_event which of them an event goes to.
 */

/* One notification target as the rules see it. Strings are borrowed. */
typedef struct route_target {
    int64_t id;
    const char *tenant_id;
    const char *team_id;     /* workspace the target posts into (message key) */
    const char *destination; /* destination_resolved when set, else as entered */
    bool destination_is_email;
    bool use_failed_check;
    bool use_data_collection;
    bool enabled;
    bool deleted;
    /* The check filter: sorted (strcmp) check types; empty means every check. */
    const char *const *check_types;
    size_t ncheck_types;
    bool thread_repeats; /* repeats of a failing check go as replies in its thread */
} route_target;

/*
 * Whether the event can concern any target at all, before looking targets
 * up: a check result with failing users, a manual collection, or a failed
 * collection. False means the event goes nowhere whatever is subscribed.
 */
bool route_event_wanted(const event *ev);

/* Whether ev goes to t (tenant, enabled, not deleted, uses, check filter). */
bool route_matches(const event *ev, const route_target *t);

/*
 * Whether ev is a passing check result (failing_count 0) that the database
 * must record because a target of its tenant threads repeats: the sender
 * starts a new thread for a check that failed, passed and fails again, and
 * only a recorded pass tells it so. Any live failed_check target with
 * thread_repeats counts, whatever its check filter: a filter changed later
 * then finds no stale thread. targets are the tenant's.
 */
bool route_records_pass(const event *ev, const route_target *targets, size_t ntargets);

/*
 * Writes the indexes of the targets[0..ntargets) that ev goes to into out
 * (room for ntargets entries), in order; returns how many.
 */
size_t route_event(const event *ev, const route_target *targets, size_t ntargets, size_t *out);

#endif
