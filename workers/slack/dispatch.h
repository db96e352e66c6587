#ifndef HERALD_DISPATCH_H
#define HERALD_DISPATCH_H

/*
 * The sender's scheduler: one FIFO queue per Slack channel, and the decision
 * of which channel may send next.
 *
 * A channel is (workspace team id, destination key). A queued job may go
 * when its channel is
 *   - idle: at most one request in flight per channel, so order within a
 *     channel holds and a 429 stops the channel after one request;
 *   - not paused (a 429's Retry-After for that channel or its workspace);
 *   - and both the channel's token bucket (default 1 msg/s, burst 3) and its
 *     workspace's bucket (default a few hundred msgs/min) hold a token.
 * Channels ready at once are served round-robin so one busy channel cannot
 * starve the others of the workspace's budget.
 *
 * Pure: no I/O, and every call takes the time (monotonic ms) from the
 * caller, so tests drive it with an injected clock. Jobs are opaque
 * pointers owned by the caller. @locality: one thread (the sender's loop).
 */

#include "common/ratelimit.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dispatch_config {
    double channel_rate;           /* messages per second per channel; <= 0: unlimited */
    double channel_burst;          /* bucket size per channel (>= 1) */
    double workspace_rate_per_min; /* messages per minute per workspace; <= 0: unlimited */
    double workspace_burst;        /* bucket size per workspace (>= 1) */
    /*
     * At the steady rate, a channel's next message waits this much longer
     * than its token needs (the burst is not delayed; the delay does not
     * accumulate). Slack counts at arrival, we at departure: without a
     * margin, a request that travels 1 ms faster than the one before it
     * arrives "too early" for a server pacing at exactly the same rate.
     */
    int64_t guard_ms;
} dispatch_config;

typedef struct dispatch dispatch;
typedef struct dispatch_channel dispatch_channel;

/* cfg NULL: the defaults, 1/s burst 3 per channel, 300/min burst 30 per
 * workspace, no guard. */
dispatch *dispatch_new(const dispatch_config *cfg);
/* Destroys the scheduler; every still-queued job is handed to free_job (may be NULL). */
void dispatch_destroy(dispatch *d, void (*free_job)(void *job));

/*
 * Queues job on channel (team_id, key), at the back, or at the front when
 * `front` (a retry of an older message goes before newer ones). The channel
 * and its workspace are created on first use with full buckets; *created
 * (may be NULL) tells so, letting the caller lower the tokens of a channel
 * that a previous process had just used (dispatch_channel_bucket).
 */
dispatch_channel *dispatch_push(dispatch *d, const char *team_id, const char *key, void *job,
                                bool front, int64_t now_ms, bool *created);

/*
 * The next channel whose head job may be sent now: its and its workspace's
 * tokens are taken and it becomes busy until dispatch_release(). The caller
 * then pops the job(s) it sends with dispatch_channel_pop(). NULL when none
 * may go now; *wait_ms then gets the milliseconds until one may (-1 when no
 * idle channel has anything queued).
 */
dispatch_channel *dispatch_next(dispatch *d, int64_t now_ms, int64_t *wait_ms);

/*
 * The request for a channel picked by dispatch_next ended (or never went):
 * the channel is idle again. used=false gives back the tokens taken (the job
 * was dropped without calling Slack, e.g. it was already sent).
 */
void dispatch_release(dispatch *d, dispatch_channel *c, bool used, int64_t now_ms);

/* A 429: no request on this channel (or any channel of the workspace) before until_ms. */
void dispatch_pause_channel(dispatch *d, dispatch_channel *c, int64_t until_ms);
void dispatch_pause_workspace(dispatch *d, const char *team_id, int64_t until_ms, int64_t now_ms);

/* Queue access. Indexes count from the head (0 = next to go). */
size_t dispatch_channel_len(const dispatch_channel *c);
void *dispatch_channel_peek(const dispatch_channel *c, size_t i);
void *dispatch_channel_pop(dispatch *d, dispatch_channel *c);            /* head, or NULL */
void *dispatch_channel_take(dispatch *d, dispatch_channel *c, size_t i); /* any, or NULL */
const char *dispatch_channel_key(const dispatch_channel *c);
bool dispatch_channel_busy(const dispatch_channel *c);
/* The channel's bucket (rate, burst, tokens, pause), e.g. to seed it after a restart. */
ratelimit_bucket *dispatch_channel_bucket(dispatch_channel *c);

/* The channel (team_id, key) if it exists. */
dispatch_channel *dispatch_find(dispatch *d, const char *team_id, const char *key);

/*
 * Removes every queued job for which pred(job, arg) is true and hands it to
 * drop(job, arg). Busy channels keep their in-flight job (it is not queued).
 * Returns the number removed.
 */
size_t dispatch_remove_if(dispatch *d, bool (*pred)(void *job, void *arg),
                          void (*drop)(void *job, void *arg), void *arg);

size_t dispatch_queued(const dispatch *d);           /* jobs queued in all channels */
size_t dispatch_channels_waiting(const dispatch *d); /* channels with queued jobs */
size_t dispatch_channels(const dispatch *d);         /* channels known */

/* Forgets channels and workspaces that are empty, idle, unpaused and whose
 * buckets are full again (forgetting them changes no decision). Returns how many. */
size_t dispatch_evict(dispatch *d, int64_t now_ms);

#endif
