#ifndef HERALD_STORE_DELIVERIES_H
#define HERALD_STORE_DELIVERIES_H

/*
 * The data layer's deliveries (store/store.h for the conventions): listing
 * and reading them, and recording test deliveries.
 */

#include "store/store.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#define STORE_DELIVERIES_DEFAULT_LIMIT 50
#define STORE_DELIVERIES_MAX_LIMIT     1000

/* Fields (for STORE_INVALID): state, kind, limit, offset. Zero/NULL members do not filter. */
typedef struct store_delivery_filter {
    const char *tenant;
    int64_t target_id;
    const char *state; /* pending, sending, retrying, sent, failed, suppressed */
    const char *kind;  /* notify, resolve, nudge */
    int64_t since_ms;  /* created at or after */
    int64_t before_id; /* keyset pagination: only deliveries older than this one */
    int limit;         /* 0: STORE_DELIVERIES_DEFAULT_LIMIT; at most the max */
    int offset;
} store_delivery_filter;

typedef struct store_delivery {
    int64_t id;
    char *event_id;
    int64_t target_id;
    char *target_name;
    char *tenant_id;
    char *event_kind;        /* may be NULL: check_result, collection_event, test */
    char *check_type;        /* may be NULL: check results */
    char *integration;       /* may be NULL: collection events (integration name or id) */
    char *collection_status; /* may be NULL: succeeded / failed */
    char *state;             /* suppressed: error_code is the reason, error says it in words */
    char *kind;              /* notify, resolve (edits the notification of ref_event_id), nudge */
    char *ref_event_id;      /* may be NULL: resolve and nudge deliveries only */
    int attempts;
    int64_t next_attempt_at_ms;
    char *error_code;    /* may be NULL */
    char *error;         /* may be NULL: readable reason */
    char *slack_channel; /* may be NULL */
    char *slack_ts;      /* may be NULL */
    int64_t created_at_ms;
    int64_t updated_at_ms;
    int64_t sent_at_ms;
} store_delivery;

typedef struct store_deliveries {
    store_delivery *items;
    size_t n;
} store_deliveries;

void store_delivery_destroy(store_delivery *d);
void store_deliveries_dispose(store_deliveries *l);

/* Newest first (created_at, then id). */
store_status store_delivery_list(PGconn *conn, const store_delivery_filter *f,
                                 store_deliveries *out, char *errstr,
                                 size_t errstr_size) STORE_MUST_CHECK;

store_status store_delivery_get(PGconn *conn, const char *tenant, int64_t id, store_delivery **out,
                                char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/* True for pending, sending, retrying, sent, failed, suppressed. */
bool store_delivery_state_valid(const char *state);

/* The states, for messages: "pending, sending, retrying, sent, failed or suppressed". */
#define STORE_DELIVERY_STATES "pending, sending, retrying, sent, failed or suppressed"

/* True for notify, resolve, nudge. */
bool store_delivery_kind_valid(const char *kind);
#define STORE_DELIVERY_KINDS "notify, resolve or nudge"

/* ---- test deliveries (heraldctl test, POST /targets/{id}/test) */

/*
 * Records a test about to be sent to target id: an events row of kind
 * 'test' (payload names the target and `source`, e.g. "heraldctl") and a
 * deliveries row in state 'sending' with one attempt. *delivery_id gets its
 * id; event_id (may be NULL) the new event's uuid.
 */
store_status store_test_delivery_begin(PGconn *conn, const char *tenant, int64_t target_id,
                                       const char *source, int64_t *delivery_id, char event_id[37],
                                       char *errstr, size_t errstr_size) STORE_MUST_CHECK;

typedef struct store_delivery_outcome {
    bool ok;
    const char *slack_channel; /* when ok */
    const char *slack_ts;      /* when ok */
    const char *error_code;    /* when not ok: Slack's code, e.g. "channel_not_found" */
    const char *error;         /* when not ok: readable reason */
} store_delivery_outcome;

/* Ends a test delivery: 'sent' with channel/ts, or 'failed' with the code and
 * reason; the target's last success / last error columns follow. */
store_status store_test_delivery_finish(PGconn *conn, int64_t delivery_id,
                                        const store_delivery_outcome *o, char *errstr,
                                        size_t errstr_size) STORE_MUST_CHECK;

#endif
