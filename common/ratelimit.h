#ifndef HERALD_RATELIMIT_H
#define HERALD_RATELIMIT_H

/*
 * Token buckets for pacing Slack calls, per channel and per workspace, and
 * for herald-api's authentication failures per client address.
 *
 * Pure and deterministic: every call takes the current time (monotonic ms,
 * e.g. util_now_mono_ms()) from the caller, so tests inject the clock. Not
 * thread-safe: one owner thread per bucket or table (the sender's loop).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit_bucket {
    double rate;             /* tokens added per second (> 0) */
    double burst;            /* capacity (>= 1) */
    double tokens;           /* tokens available at last_ms */
    int64_t last_ms;         /* time tokens was computed for */
    int64_t paused_until_ms; /* no token is given before this (a 429's Retry-After) */
    int64_t last_used_ms;    /* last take/pause, for idle eviction */
} ratelimit_bucket;

/* A full bucket (burst tokens) at now_ms. rate <= 0 is taken as unlimited. */
void ratelimit_init(ratelimit_bucket *b, double rate, double burst, int64_t now_ms);

/* Changes rate and burst, keeping the tokens (capped to the new burst). */
void ratelimit_set_rate(ratelimit_bucket *b, double rate, double burst, int64_t now_ms);

/*
 * Takes one token: returns 0 when allowed (token consumed), otherwise the
 * milliseconds until one will be available (>= 1; nothing consumed).
 */
int64_t ratelimit_take(ratelimit_bucket *b, int64_t now_ms);

/* As ratelimit_take but consumes nothing: 0 when a take now would succeed. */
int64_t ratelimit_peek(const ratelimit_bucket *b, int64_t now_ms);

/* Gives back a token taken for a request that was not sent (capped at burst). */
void ratelimit_refund(ratelimit_bucket *b, int64_t now_ms);

/*
 * Pauses the bucket until until_ms (a 429's Retry-After): no token before it,
 * and the bucket is drained so that after the pause calls resume at the
 * steady rate rather than as a burst. An earlier until_ms than a pause in
 * force changes nothing.
 */
void ratelimit_pause_until(ratelimit_bucket *b, int64_t until_ms);

/* ---- keyed table: string key -> bucket, with idle eviction ------------------------------ */

typedef struct ratelimit_table ratelimit_table;

/*
 * Buckets created on first use with rate/burst; a bucket unused for idle_ms
 * (and full, and not paused, so forgetting it changes nothing) is evicted by
 * ratelimit_table_evict. idle_ms <= 0 never evicts.
 */
ratelimit_table *ratelimit_table_new(double rate, double burst, int64_t idle_ms);
void ratelimit_table_destroy(ratelimit_table *t); /* NULL-safe */

/* Caps the table at max buckets (0: no cap, the default): creating one more
 * first evicts the idle ones, then the least recently used. For keys anyone
 * can make up, such as client addresses. */
void ratelimit_table_set_max(ratelimit_table *t, size_t max);

/* The bucket for key or NULL; creates nothing. */
ratelimit_bucket *ratelimit_table_find(ratelimit_table *t, const char *key);

int64_t ratelimit_table_take(ratelimit_table *t, const char *key, int64_t now_ms);
int64_t ratelimit_table_peek(ratelimit_table *t, const char *key, int64_t now_ms);
void ratelimit_table_pause_until(ratelimit_table *t, const char *key, int64_t until_ms,
                                 int64_t now_ms);

/* Evicts idle buckets; returns how many were removed. Call now and then (e.g. each second). */
size_t ratelimit_table_evict(ratelimit_table *t, int64_t now_ms);
size_t ratelimit_table_size(const ratelimit_table *t);

#endif
