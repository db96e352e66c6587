#ifndef HERALD_BACKOFF_H
#define HERALD_BACKOFF_H

/*
 * Retry schedule for transient Slack failures: exponential backoff with full
 * jitter (AWS architecture blog, "Exponential Backoff And Jitter"): the n-th
 * retry waits a uniformly random time in [0, min(cap, base * 2^(n-1))], so
 * many deliveries failing together (a Slack incident) do not come back
 * together. A delivery older than max_age is not retried any more: it fails
 * with its last error.
 *
 * Pure: the caller passes the clock and a random value, so tests can pin both.
 */

#include <stdbool.h>
#include <stdint.h>

#define BACKOFF_DEFAULT_BASE_MS    1000
#define BACKOFF_DEFAULT_CAP_MS     (5 * 60 * 1000)
#define BACKOFF_DEFAULT_MAX_AGE_MS (24LL * 3600 * 1000)

typedef struct backoff_policy {
    int64_t base_ms;    /* ceiling of the first retry's wait (> 0) */
    int64_t cap_ms;     /* the ceiling never grows past this (>= base_ms) */
    int64_t max_age_ms; /* total age after which a delivery is failed (> 0) */
} backoff_policy;

/* The defaults above: 1 s doubling to a 5 minute cap, for up to 24 hours. */
void backoff_policy_default(backoff_policy *p);

/* The ceiling of the wait before retry number `attempt` (1 = first retry):
 * min(cap, base * 2^(attempt-1)), without overflow for any attempt. */
int64_t backoff_ceiling_ms(const backoff_policy *p, int attempt);

/*
 * The wait before retry `attempt`: ceiling * u, with u uniform in [0, 1)
 * (pass backoff_random() in production). Always in [0, ceiling].
 */
int64_t backoff_delay_ms(const backoff_policy *p, int attempt, double u);

/* A uniform random double in [0, 1) from the OS's entropy (thread-safe). */
double backoff_random(void);

/*
 * Plans the next retry of a delivery created at created_ms (wall clock) that
 * has failed `attempts` times, now being now_ms: on true *due_ms is when to
 * try again (never later than created_ms + max_age: the last try is at the
 * deadline); false means its age is up, so the delivery fails with its last
 * error.
 */
bool backoff_next(const backoff_policy *p, int attempts, int64_t created_ms, int64_t now_ms,
                  double u, int64_t *due_ms);

#endif
