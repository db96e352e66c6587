#ifndef HERALD_SENDER_STATS_H
#define HERALD_SENDER_STATS_H

/* herald-slack's plain counters (sender_get_stats in sender.h). A header of
 * its own so the engine's bottom floor (sender_state.h) can hold them without
 * including sender.h, the top floor's header. */

#include <stdint.h>

/* Counters for tests and the shutdown log line. */
typedef struct sender_stats {
    int64_t consumed, deadlettered, sent, failed, retries_scheduled, rate_limited, digests, folded,
        requests;
    int64_t token_refreshes; /* bot tokens this sender refreshed at Slack (token rotation) */
    int64_t reconciled;      /* 'pending' deliveries taken from PostgreSQL (--reconcile-after) */
    int64_t settled;         /* claims of this instance's previous run made due at start */
} sender_stats;

#endif
