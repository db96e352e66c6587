#ifndef HERALD_API_LIMITS_H
#define HERALD_API_LIMITS_H

/*
 * herald-api's abuse and availability limits (api_limits.c), internal to
 * workers/api: how many Slack-bound requests each tenant may have running at
 * once, how many authentication failures each client address may make, and
 * the cache of each workspace's channel list. One mutex guards the three: each
 * use is a few map operations, never a call out of the process.
 */
#include <cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct strmap strmap;
typedef struct ratelimit_table ratelimit_table;
typedef struct api_call api_call;
typedef struct api_server api_server;

/* Embedded in api_server: api_limits_init, then api_limits_dispose. */
typedef struct api_limits {
    pthread_mutex_t mu;
    unsigned slack_per_tenant;   /* 0: no limit */
    strmap *slack_running;       /* tenant ("" operator) -> running count (as a pointer) */
    ratelimit_table *auth_fails; /* client address -> bucket of allowed failures; NULL: off */
    int64_t auth_evicted_ms;     /* last sweep of idle addresses */
    int64_t channel_ttl_ms;      /* 0: no cache */
    strmap *channels;            /* team id -> cached list */
    bool inited;
} api_limits;

/* Most client addresses remembered at once (an address spraying attacker
 * evicts the least recently used ones beyond it). */
#define API_AUTH_MAX_ADDRESSES 10000

/* Sets s->limits up from s->cfg (slack_concurrency_per_tenant,
 * auth_failures_per_minute, channel_cache_ttl_ms: 0 turns each off) and
 * registers herald_api_rate_limited_total in s->metrics. */
void api_limits_init(api_server *s);
/* Frees; a zeroed (never initialised) api_limits is left alone. */
void api_limits_dispose(api_limits *l);

/* ---- per tenant Slack-bound requests */

/* Takes one of the caller's tenant's Slack slots for this request (given back
 * by api_slack_end, or by the trampoline when the request ends). False after
 * answering 429 with Retry-After: 1 when the tenant has its limit running. */
bool api_slack_begin(api_call *c);
void api_slack_end(api_call *c);

/* ---- authentication failures per client address */

/* The client's address: the socket peer, or with --trust-proxy the last
 * address of X-Forwarded-For (the one our proxy added). */
const char *api_client_addr(api_call *c, char *buf, size_t size);
/* False after answering 429 (Retry-After) when the client's address has
 * used up its failures; call before checking a presented token. */
bool api_auth_allowed(api_call *c);
/* Records a failed sign-in or bad bearer token (reason: the metrics label). */
void api_auth_failed(api_call *c, const char *reason);

/* ---- channel list cache */

/* A copy of team's cached channel list (the caller deletes it), or NULL when
 * absent or older than the TTL. */
cJSON *api_channels_cached(api_server *s, const char *team);
/* Caches a copy of channels for team (replacing what was there). */
void api_channels_store(api_server *s, const char *team, const cJSON *channels);

#endif
