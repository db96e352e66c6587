/*
 * herald-api's limits (api_limits.h): per tenant Slack-bound concurrency,
 * authentication failures per client address (a token bucket per address,
 * common/ratelimit.h) and the per workspace channel list cache. What one
 * tenant or one address does must not take the API away from the others.
 */
#include "workers/api/api_limits.h"

#include "workers/api/api_http.h"

#include "common/log.h"
#include "common/ratelimit.h"
#include "common/strmap.h"
#include "common/utf8.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Idle addresses are swept this often; a bucket refills fully within a
 * minute, after which forgetting it changes nothing. */
#define AUTH_SWEEP_MS 10000
#define AUTH_IDLE_MS  60000

typedef struct cached_channels {
    int64_t at_ms;
    cJSON *items;
} cached_channels;

static void cached_free(void *v)
{
    cached_channels *cc = v;
    if (!cc)
        return;
    cJSON_Delete(cc->items);
    free(cc);
}

void api_limits_init(api_server *s)
{
    api_limits *l = &s->limits;
    pthread_mutex_init(&l->mu, NULL);
    l->slack_per_tenant = s->cfg.slack_concurrency_per_tenant;
    l->slack_running = strmap_new();
    unsigned per_min = s->cfg.auth_failures_per_minute;
    if (per_min) {
        /* N a minute with a burst of N: the N+1th failure within a minute is
         * refused, then one more every 60/N seconds. */
        l->auth_fails = ratelimit_table_new((double)per_min / 60.0, (double)per_min, AUTH_IDLE_MS);
        ratelimit_table_set_max(l->auth_fails, API_AUTH_MAX_ADDRESSES);
    }
    l->channel_ttl_ms = s->cfg.channel_cache_ttl_ms;
    l->channels = strmap_new();
    l->inited = true;
    /* The pool is open before the metrics: measured from here on. */
    s->pool.in_use = metrics_gauge_new_in(
        s->metrics, "herald_api_db_connections_in_use",
        "Database connections lent to requests (none is held while Slack is called).", NULL);
    s->m_rate_limited =
        metrics_counter_new_in(s->metrics, "herald_api_rate_limited_total",
                               "Requests refused with 429 by herald-api's own limits, by kind "
                               "(auth: too many authentication failures from the address; "
                               "slack_concurrency: the tenant's Slack-bound requests are running).",
                               "kind");
}

void api_limits_dispose(api_limits *l)
{
    if (!l->inited)
        return;
    strmap_destroy(l->slack_running, NULL);
    ratelimit_table_destroy(l->auth_fails);
    strmap_destroy(l->channels, cached_free);
    pthread_mutex_destroy(&l->mu);
    memset(l, 0, sizeof *l);
}

/* ================================================================ Slack concurrency */

static const char *tenant_key(const api_call *c)
{
    return c->who.tenant; /* "" for an operator: operators share one allowance */
}

bool api_slack_begin(api_call *c)
{
    api_limits *l = &c->srv->limits;
    if (c->slack_held)
        return true;
    bool ok = true;
    pthread_mutex_lock(&l->mu);
    uintptr_t n = (uintptr_t)strmap_get(l->slack_running, tenant_key(c));
    if (l->slack_per_tenant && n >= l->slack_per_tenant)
        ok = false;
    else
        strmap_put(l->slack_running, tenant_key(c), (void *)(n + 1));
    pthread_mutex_unlock(&l->mu);
    if (!ok) {
        metrics_counter_inc(c->srv->m_rate_limited, "slack_concurrency");
        httpd_add_header(c->req, "Retry-After", "1");
        api_error(c, 429, NULL,
                  "%u requests of this tenant that call Slack are already running: try again "
                  "in a moment",
                  l->slack_per_tenant);
        return false;
    }
    c->slack_held = true;
    return true;
}

void api_slack_end(api_call *c)
{
    if (!c->slack_held)
        return;
    api_limits *l = &c->srv->limits;
    pthread_mutex_lock(&l->mu);
    uintptr_t n = (uintptr_t)strmap_get(l->slack_running, tenant_key(c));
    if (n <= 1)
        strmap_del(l->slack_running, tenant_key(c));
    else
        strmap_put(l->slack_running, tenant_key(c), (void *)(n - 1));
    pthread_mutex_unlock(&l->mu);
    c->slack_held = false;
}

/* ================================================================ authentication failures */

const char *api_client_addr(api_call *c, char *buf, size_t size)
{
    const char *peer = httpd_req_client(c->req);
    const char *xff = c->srv->cfg.trust_proxy ? httpd_req_header(c->req, "X-Forwarded-For") : NULL;
    if (!xff || !*xff) {
        snprintf(buf, size, "%s", peer ? peer : "");
        return buf;
    }
    /* The client writes what it likes at the front; the last entry is the
     * address our proxy saw. */
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ')
        last++;
    size_t n = strcspn(last, " ");
    if (n == 0 || n >= size || n > 64) {
        snprintf(buf, size, "%s", peer ? peer : "");
        return buf;
    }
    memcpy(buf, last, n);
    buf[n] = '\0';
    return buf;
}

/* Sweeps idle addresses now and then; under l->mu. */
static void sweep(api_limits *l, int64_t now)
{
    if (now - l->auth_evicted_ms < AUTH_SWEEP_MS)
        return;
    l->auth_evicted_ms = now;
    ratelimit_table_evict(l->auth_fails, now);
}

bool api_auth_allowed(api_call *c)
{
    api_limits *l = &c->srv->limits;
    if (!l->auth_fails)
        return true;
    char addr[80];
    api_client_addr(c, addr, sizeof addr);
    int64_t now = util_now_mono_ms();
    pthread_mutex_lock(&l->mu);
    sweep(l, now);
    int64_t wait = ratelimit_table_peek(l->auth_fails, addr, now);
    pthread_mutex_unlock(&l->mu);
    if (wait <= 0)
        return true;
    char ra[32], safe[96];
    snprintf(ra, sizeof ra, "%lld", (long long)((wait + 999) / 1000));
    metrics_counter_inc(c->srv->m_rate_limited, "auth");
    LOG_WARN("api: %s: too many authentication failures; refused for %s s",
             utf8_safe(addr, 0, safe, sizeof safe), ra);
    httpd_add_header(c->req, "Retry-After", ra);
    api_error(c, 429, NULL,
              "too many failed sign-ins or bad tokens from your address: try again in %s s", ra);
    return false;
}

void api_auth_failed(api_call *c, const char *reason)
{
    metrics_counter_inc(c->srv->m_auth_failures, reason);
    api_limits *l = &c->srv->limits;
    if (!l->auth_fails)
        return;
    char addr[80];
    api_client_addr(c, addr, sizeof addr);
    int64_t now = util_now_mono_ms();
    pthread_mutex_lock(&l->mu);
    (void)ratelimit_table_take(l->auth_fails, addr, now);
    pthread_mutex_unlock(&l->mu);
}

/* ================================================================ channel lists */

cJSON *api_channels_cached(api_server *s, const char *team)
{
    api_limits *l = &s->limits;
    if (l->channel_ttl_ms <= 0)
        return NULL;
    cJSON *out = NULL;
    int64_t now = util_now_mono_ms();
    pthread_mutex_lock(&l->mu);
    cached_channels *cc = strmap_get(l->channels, team);
    if (cc && now - cc->at_ms < l->channel_ttl_ms)
        out = cJSON_Duplicate(cc->items, 1);
    pthread_mutex_unlock(&l->mu);
    return out;
}

static bool expired_entry(const char *key, void *value, void *arg)
{
    (void)key;
    const int64_t *cut = arg;
    cached_channels *cc = value;
    if (cc->at_ms >= *cut)
        return false;
    cached_free(cc);
    return true;
}

void api_channels_store(api_server *s, const char *team, const cJSON *channels)
{
    api_limits *l = &s->limits;
    if (l->channel_ttl_ms <= 0)
        return;
    cached_channels *cc = xcalloc(1, sizeof *cc);
    cc->at_ms = util_now_mono_ms();
    cc->items = cJSON_Duplicate(channels, 1);
    int64_t cut = cc->at_ms - l->channel_ttl_ms;
    pthread_mutex_lock(&l->mu);
    /* Lists of workspaces nobody asks for any more go; there are at most as
     * many as installed workspaces (the caller checked the team exists). */
    strmap_sweep(l->channels, expired_entry, &cut);
    cached_free(strmap_put(l->channels, team, cc));
    pthread_mutex_unlock(&l->mu);
}
