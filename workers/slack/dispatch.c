#include "workers/slack/dispatch.h"

#include "common/strmap.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* Defaults: 1/s burst 3 per channel; 300/min burst 30 per workspace; no guard. */
static void dispatch_config_default(dispatch_config *cfg)
{
    cfg->channel_rate = 1.0;
    cfg->channel_burst = 3.0;
    cfg->workspace_rate_per_min = 300.0;
    cfg->workspace_burst = 30.0;
    cfg->guard_ms = 0;
}

/* ==== channels and workspaces ============================================================ */

typedef struct workspace {
    char *team_id;
    ratelimit_bucket bucket;
    size_t nchannels;
} workspace;

struct dispatch_channel {
    char *id;        /* team_id '\x1f' key: the hash key */
    const char *key; /* points into id */
    workspace *ws;
    void **ring; /* queued jobs, FIFO */
    size_t cap, head, len;
    bool busy;
    int64_t take_ms; /* when dispatch_next took the token of the request in flight */
    bool in_active;
    struct dispatch_channel *prev, *next; /* links in d's active list */
    ratelimit_bucket bucket;
};

struct dispatch {
    dispatch_config cfg;
    strmap *channels;   /* id -> dispatch_channel */
    strmap *workspaces; /* team_id -> workspace */
    /*
     * Channels that are idle and have jobs queued, the candidates of
     * dispatch_next, in a list scanned from the head. A channel that sends
     * leaves the list and comes back at the tail when its request ends, so
     * channels ready at once take turns (round-robin).
     */
    dispatch_channel *head, *tail;
    size_t nactive;
    size_t queued;
    size_t waiting; /* channels with len > 0 (idle or busy) */
    /* dispatch_next's answer stays valid until something changes or time passes it. */
    bool dirty;
    int64_t next_ready_ms; /* INT64_MAX: nothing can become ready by waiting */
};

dispatch *dispatch_new(const dispatch_config *cfg)
{
    dispatch *d = xcalloc(1, sizeof *d);
    if (cfg)
        d->cfg = *cfg;
    else
        dispatch_config_default(&d->cfg);
    d->channels = strmap_new();
    d->workspaces = strmap_new();
    d->dirty = true;
    return d;
}

static void *ring_at(const dispatch_channel *c, size_t i)
{
    return c->ring[(c->head + i) % c->cap];
}

static void channel_destroy(dispatch_channel *c, void (*free_job)(void *))
{
    if (!c)
        return;
    for (size_t i = 0; i < c->len; i++)
        if (free_job)
            free_job(ring_at(c, i));
    free(c->ring);
    free(c->id);
    free(c);
}

typedef struct free_box {
    void (*free_job)(void *job);
} free_box;

static bool destroy_channel(const char *key, void *value, void *arg)
{
    (void)key;
    channel_destroy(value, ((free_box *)arg)->free_job);
    return true;
}

static void workspace_destroy(void *value)
{
    workspace *w = value;
    if (!w)
        return;
    free(w->team_id);
    free(w);
}

void dispatch_destroy(dispatch *d, void (*free_job)(void *job))
{
    if (!d)
        return;
    /* Function pointers do not convert to void *: pass it boxed. */
    free_box box = {free_job};
    strmap_sweep(d->channels, destroy_channel, &box);
    strmap_destroy(d->channels, NULL);
    strmap_destroy(d->workspaces, workspace_destroy);
    free(d);
}

static void active_add(dispatch *d, dispatch_channel *c)
{
    if (c->in_active)
        return;
    c->in_active = true;
    c->next = NULL;
    c->prev = d->tail;
    if (d->tail)
        d->tail->next = c;
    else
        d->head = c;
    d->tail = c;
    d->nactive++;
    d->dirty = true;
}

static void active_remove(dispatch *d, dispatch_channel *c)
{
    if (!c->in_active)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        d->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        d->tail = c->prev;
    c->prev = c->next = NULL;
    c->in_active = false;
    d->nactive--;
}

static char *channel_id(const char *team_id, const char *key)
{
    size_t a = strlen(team_id), b = strlen(key);
    char *id = xmalloc(a + b + 2);
    memcpy(id, team_id, a);
    id[a] = '\x1f';
    memcpy(id + a + 1, key, b + 1);
    return id;
}

dispatch_channel *dispatch_find(dispatch *d, const char *team_id, const char *key)
{
    char *id = channel_id(team_id, key);
    dispatch_channel *c = strmap_get(d->channels, id);
    free(id);
    return c;
}

static workspace *workspace_get(dispatch *d, const char *team_id, int64_t now_ms)
{
    workspace *w = strmap_get(d->workspaces, team_id);
    if (w)
        return w;
    w = xcalloc(1, sizeof *w);
    w->team_id = xstrdup(team_id);
    ratelimit_init(&w->bucket, d->cfg.workspace_rate_per_min / 60.0, d->cfg.workspace_burst,
                   now_ms);
    strmap_put(d->workspaces, w->team_id, w);
    return w;
}

dispatch_channel *dispatch_push(dispatch *d, const char *team_id, const char *key, void *job,
                                bool front, int64_t now_ms, bool *created)
{
    char *id = channel_id(team_id, key);
    dispatch_channel *c = strmap_get(d->channels, id);
    if (created)
        *created = c == NULL;
    if (!c) {
        c = xcalloc(1, sizeof *c);
        c->id = id;
        c->key = id + strlen(team_id) + 1;
        c->ws = workspace_get(d, team_id, now_ms);
        c->ws->nchannels++;
        ratelimit_init(&c->bucket, d->cfg.channel_rate, d->cfg.channel_burst, now_ms);
        strmap_put(d->channels, c->id, c);
    } else {
        free(id);
    }
    if (c->len == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        void **nr = xmalloc(ncap * sizeof *nr);
        for (size_t i = 0; i < c->len; i++)
            nr[i] = ring_at(c, i);
        free(c->ring);
        c->ring = nr;
        c->cap = ncap;
        c->head = 0;
    }
    if (front) {
        c->head = (c->head + c->cap - 1) % c->cap;
        c->ring[c->head] = job;
    } else {
        c->ring[(c->head + c->len) % c->cap] = job;
    }
    if (c->len++ == 0)
        d->waiting++;
    d->queued++;
    if (!c->busy)
        active_add(d, c);
    return c;
}

/* Milliseconds until the channel's bucket may give a token, with the guard:
 * a token that has to be refilled is only taken once the bucket holds 1 +
 * guard's worth (at most the burst, so a burst of 1 still works). */
static int64_t channel_wait(const dispatch *d, const dispatch_channel *c, int64_t now_ms)
{
    int64_t w = ratelimit_peek(&c->bucket, now_ms);
    const ratelimit_bucket *b = &c->bucket;
    if (d->cfg.guard_ms <= 0 || !(b->rate > 0))
        return w;
    if (w > 0)
        return w + d->cfg.guard_ms;
    /* A token already there before any refill (the burst) goes at once; one that
     * had to be refilled (the steady rate) waits for the guard too. */
    if (b->tokens >= 1.0 - 1e-9)
        return 0;
    double need = 1.0 + (double)d->cfg.guard_ms * b->rate / 1000.0;
    if (need > b->burst)
        need = b->burst;
    double tokens = b->tokens;
    if (now_ms > b->last_ms)
        tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
    if (tokens > b->burst)
        tokens = b->burst;
    if (tokens >= need - 1e-9)
        return 0;
    int64_t ms = (int64_t)((need - tokens) * 1000.0 / b->rate + 0.999);
    return ms < 1 ? 1 : ms;
}

dispatch_channel *dispatch_next(dispatch *d, int64_t now_ms, int64_t *wait_ms)
{
    /* Nothing changed and the earliest ready time is still ahead: skip the scan. */
    if (!d->dirty && now_ms < d->next_ready_ms) {
        *wait_ms = d->next_ready_ms == INT64_MAX ? -1 : d->next_ready_ms - now_ms;
        return NULL;
    }
    int64_t best = -1;
    for (dispatch_channel *c = d->head; c; c = c->next) {
        int64_t wc = channel_wait(d, c, now_ms);
        int64_t ww = ratelimit_peek(&c->ws->bucket, now_ms);
        if (wc == 0 && ww == 0) {
            ratelimit_take(&c->bucket, now_ms);
            ratelimit_take(&c->ws->bucket, now_ms);
            c->busy = true;
            c->take_ms = now_ms;
            active_remove(d, c);
            d->dirty = true;
            return c;
        }
        int64_t w = wc > ww ? wc : ww;
        if (best < 0 || w < best)
            best = w;
    }
    *wait_ms = best;
    d->dirty = false;
    d->next_ready_ms = best >= 0 ? now_ms + best : INT64_MAX;
    return NULL;
}

void dispatch_release(dispatch *d, dispatch_channel *c, bool used, int64_t now_ms)
{
    if (!c->busy)
        return;
    c->busy = false;
    if (!used) {
        ratelimit_refund(&c->bucket, now_ms);
        ratelimit_refund(&c->ws->bucket, now_ms);
    } else if (c->bucket.rate > 0 && c->bucket.last_ms == c->take_ms && now_ms > c->take_ms) {
        /*
         * Count the message as sent when its answer came, not when its token
         * was taken: Slack counts at arrival, which is somewhere in between,
         * and a busy loop may transmit a request some milliseconds after
         * taking its token. Dropping the refill of that interval makes the
         * spacing Slack sees at least the configured one. (Only when nothing
         * else, such as a 429's pause, touched the bucket meanwhile.)
         */
        c->bucket.last_ms = now_ms;
    }
    if (c->len)
        active_add(d, c);
    d->dirty = true;
}

void dispatch_pause_channel(dispatch *d, dispatch_channel *c, int64_t until_ms)
{
    ratelimit_pause_until(&c->bucket, until_ms);
    d->dirty = true;
}

void dispatch_pause_workspace(dispatch *d, const char *team_id, int64_t until_ms, int64_t now_ms)
{
    ratelimit_pause_until(&workspace_get(d, team_id, now_ms)->bucket, until_ms);
    d->dirty = true;
}

size_t dispatch_channel_len(const dispatch_channel *c)
{
    return c->len;
}

void *dispatch_channel_peek(const dispatch_channel *c, size_t i)
{
    return i < c->len ? ring_at(c, i) : NULL;
}

void *dispatch_channel_take(dispatch *d, dispatch_channel *c, size_t i)
{
    if (i >= c->len)
        return NULL;
    void *job = ring_at(c, i);
    /* Close the gap by moving the shorter side. */
    if (i < c->len / 2) {
        for (size_t k = i; k > 0; k--)
            c->ring[(c->head + k) % c->cap] = ring_at(c, k - 1);
        c->head = (c->head + 1) % c->cap;
    } else {
        for (size_t k = i; k + 1 < c->len; k++)
            c->ring[(c->head + k) % c->cap] = ring_at(c, k + 1);
    }
    c->len--;
    d->queued--;
    if (c->len == 0) {
        d->waiting--;
        active_remove(d, c);
    }
    return job;
}

void *dispatch_channel_pop(dispatch *d, dispatch_channel *c)
{
    return dispatch_channel_take(d, c, 0);
}

const char *dispatch_channel_key(const dispatch_channel *c)
{
    return c->key;
}

bool dispatch_channel_busy(const dispatch_channel *c)
{
    return c->busy;
}

ratelimit_bucket *dispatch_channel_bucket(dispatch_channel *c)
{
    return &c->bucket;
}

typedef struct remove_ctx {
    dispatch *d;
    bool (*pred)(void *job, void *arg);
    void (*drop)(void *job, void *arg);
    void *arg;
    size_t removed;
} remove_ctx;

static bool remove_in_channel(const char *key, void *value, void *arg)
{
    (void)key;
    remove_ctx *rc = arg;
    dispatch_channel *c = value;
    for (size_t i = 0; i < c->len;) {
        void *job = ring_at(c, i);
        if (rc->pred(job, rc->arg)) {
            dispatch_channel_take(rc->d, c, i);
            rc->drop(job, rc->arg);
            rc->removed++;
        } else {
            i++;
        }
    }
    return false;
}

size_t dispatch_remove_if(dispatch *d, bool (*pred)(void *job, void *arg),
                          void (*drop)(void *job, void *arg), void *arg)
{
    remove_ctx rc = {d, pred, drop, arg, 0};
    strmap_sweep(d->channels, remove_in_channel, &rc);
    if (rc.removed)
        d->dirty = true;
    return rc.removed;
}

size_t dispatch_queued(const dispatch *d)
{
    return d->queued;
}

size_t dispatch_channels_waiting(const dispatch *d)
{
    return d->waiting;
}

size_t dispatch_channels(const dispatch *d)
{
    return strmap_count(d->channels);
}

/* True when the bucket is as a new one would be: full and not paused. */
static bool bucket_rested(const ratelimit_bucket *b, int64_t now_ms)
{
    if (now_ms < b->paused_until_ms)
        return false;
    if (!(b->rate > 0))
        return true;
    double t = b->tokens;
    if (now_ms > b->last_ms)
        t += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
    return t >= b->burst - 1e-9;
}

typedef struct evict_ctx {
    int64_t now_ms;
} evict_ctx;

static bool evict_channel(const char *key, void *value, void *arg)
{
    (void)key;
    dispatch_channel *c = value;
    if (c->len || c->busy || !bucket_rested(&c->bucket, ((evict_ctx *)arg)->now_ms))
        return false;
    c->ws->nchannels--;
    channel_destroy(c, NULL);
    return true;
}

static bool evict_workspace(const char *key, void *value, void *arg)
{
    (void)key;
    workspace *w = value;
    if (w->nchannels || !bucket_rested(&w->bucket, ((evict_ctx *)arg)->now_ms))
        return false;
    workspace_destroy(w);
    return true;
}

size_t dispatch_evict(dispatch *d, int64_t now_ms)
{
    evict_ctx ec = {now_ms};
    size_t evicted = strmap_sweep(d->channels, evict_channel, &ec);
    evicted += strmap_sweep(d->workspaces, evict_workspace, &ec);
    if (evicted)
        d->dirty = true;
    return evicted;
}
