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
    /* Issue 10: what the target wants to hear (migration 010). */
    event_severity min_severity; /* check results below it are suppressed */
    int repeat_policy;           /* ROUTE_REPEAT_* */
    int64_t repeat_interval_ms;  /* ROUTE_REPEAT_INTERVAL only */
    bool notify_resolved;        /* a pass after a notified failure edits the message */
} route_target;

enum { ROUTE_REPEAT_EVERY = 0, ROUTE_REPEAT_ON_CHANGE, ROUTE_REPEAT_INTERVAL };

/* Parses a targets.repeat_policy value; unknown values read as 'every'. */
int route_repeat_policy_parse(const char *s);

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

/*
 * Alert state and the decisions of issue 10 (contract: severity floor ->
 * silence -> repeat policy; passes resolve). Pure, like the rules above.
 */

/* Why a pair is kept quiet; ROUTE_SUPPRESS_NONE: it is routed. */
typedef enum route_suppress {
    ROUTE_SUPPRESS_NONE = 0,
    ROUTE_SUPPRESS_FLOOR,     /* below_min_severity */
    ROUTE_SUPPRESS_SILENCED,  /* silenced */
    ROUTE_SUPPRESS_ON_CHANGE, /* repeat_on_change */
    ROUTE_SUPPRESS_INTERVAL,  /* repeat_interval */
    ROUTE_SUPPRESS_COUNT
} route_suppress;

/* The reason code stored in deliveries.last_error_code ("" for NONE). */
const char *route_suppress_code(route_suppress s);

/* What the router remembers per (target, alert key): alert_states' row. */
typedef struct route_alert {
    bool firing;
    int64_t since_ms;
    int64_t last_result_ms;
    char last_event_id[37];   /* "" when no notification of the streak was routed */
    int64_t last_notified_ms; /* 0 when none */
    uint64_t users_hash;
    int64_t failing_count;
    char resolved_event_id[37]; /* "" when none */
    int64_t resolved_ms;        /* 0 when none */
} route_alert;

/* Room for "collection:<integration id>" or "check:<check type>". */
#define ROUTE_ALERT_KEY_MAX (16 + EVENT_MAX_IDENTIFIER * 4)

/* ev's alert key: "check:<type>" or "collection:<integration id>"; false
 * when the event has none (no check type / integration id). */
bool route_alert_key(const event *ev, char *out, size_t out_size);

/* The event's own time: evaluated_at (checks) or finished_at (collections). */
int64_t route_event_time_ms(const event *ev);

/* Whether ev is good news for its alert: a passing check result
 * (failing_count 0) or a succeeded collection. */
bool route_event_passes(const event *ev);

/* FNV-1a 64 over failing_count and the sorted failing user ids (sample). */
uint64_t route_users_hash(const event *ev);

/* Whether ev goes to t as far as its alert is concerned: as route_matches
 * but for passes too (tenant, enabled, uses, check filter). */
bool route_concerns(const event *ev, const route_target *t);

/* The severity floor: a check result below t's min_severity. */
bool route_below_floor(const event *ev, const route_target *t);

/*
 * The repeat policy for a failing ev (time ev_ms, users hash h) to t, given
 * the alert state st (NULL: none): ON_CHANGE, INTERVAL or NONE. A state that
 * is not firing, or that ev is older than (last_result_ms), never suppresses.
 */
route_suppress route_repeat_decide(const route_target *t, const route_alert *st, const event *ev,
                                   int64_t ev_ms, uint64_t h);

/*
 * Applies a failing ev (time ev_ms) to st: a new streak when st is not
 * firing; routed (not suppressed) also records what was said. Returns false
 * (st unchanged) when ev is older than st's last result.
 */
bool route_alert_fail(route_alert *st, bool exists, const char *eid, int64_t ev_ms, uint64_t h,
                      int64_t failing_count, bool routed);

/*
 * Applies a passing ev to st. Returns true when the alert was firing and now
 * is not (st updated; *ref gets the notification to edit, "" when none);
 * false: nothing changes (not firing, or ev older than the last result).
 */
bool route_alert_pass(route_alert *st, bool exists, const char *eid, int64_t ev_ms,
                      const char **ref);

/* A live silence as the router holds it (table silences). Strings borrowed. */
typedef struct route_silence {
    int64_t id;
    const char *check_type;     /* NULL: any (else check results of that type only) */
    int64_t target_id;          /* 0: any */
    const char *team_id;        /* NULL: any workspace */
    int64_t starts_ms, ends_ms; /* ends_ms 0: until expired (a mute) */
    const char *author, *reason;
} route_silence;

/*
 * The readable reason of a suppressed pair (deliveries.last_error): the
 * floor ("severity medium is below the target's floor high"), the silence
 * ("silence 42 (cli:alice): maintenance"), the repeat ("same 12 failing users
 * as the message of <time>", "notified <time>; repeat every 4h"). st: the
 * alert state before the event (repeats); sil: the silence (SILENCED).
 */
void route_suppress_text(route_suppress why, const event *ev, const route_target *t,
                         const route_alert *st, const route_silence *sil, char *out,
                         size_t out_size);

/* Whether sil (of ev's tenant) keeps ev to t quiet at wall-clock now_ms. */
bool route_silence_matches(const route_silence *sil, const event *ev, const route_target *t,
                           int64_t now_ms);

#endif
