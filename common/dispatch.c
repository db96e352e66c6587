#include "common/dispatch.h"

#include "common/util.h"

#include <stdlib.h>
#include <string.h>

void dispatch_config_default(dispatch_config *cfg)
{
    cfg->channel_rate = 1.0;
    cfg->channel_burst = 3.0;
    cfg->workspace_rate_per_min = 300.0;
    cfg->workspace_burst = 30.0;
}

/* ==== a small string -> pointer hash (chained, power-of-two slots) ======================= */

typedef struct hnode {
    struct hnode *next;
    uint64_t hash;
    void *value;
    char key[];
} hnode;

typedef struct hmap {
    hnode **slots;
    size_t nslots, count;
} hmap;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static hnode **hmap_lookup(hmap *m, const char *key, uint64_t h)
{
    if (!m->nslots)
        return NULL;
    hnode **pp = &m->slots[h & (m->nslots - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && !strcmp((*pp)->key, key))
            return pp;
    return NULL;
}

static void *hmap_get(hmap *m, const char *key)
{
    hnode **pp = hmap_lookup(m, key, fnv1a(key));
    return pp ? (*pp)->value : NULL;
}

static void hmap_put(hmap *m, const char *key, void *value)
{
    if (m->count + 1 > m->nslots * 3 / 4) {
        size_t n = m->nslots ? m->nslots * 2 : 64;
        hnode **slots = xcalloc(n, sizeof *slots);
        for (size_t i = 0; i < m->nslots; i++) {
            hnode *e = m->slots[i];
            while (e) {
                hnode *next = e->next;
                e->next = slots[e->hash & (n - 1)];
                slots[e->hash & (n - 1)] = e;
                e = next;
            }
        }
        free(m->slots);
        m->slots = slots;
        m->nslots = n;
    }
    size_t len = strlen(key);
    hnode *e = xmalloc(sizeof *e + len + 1);
    memcpy(e->key, key, len + 1);
    e->hash = fnv1a(key);
    e->value = value;
    e->next = m->slots[e->hash & (m->nslots - 1)];
    m->slots[e->hash & (m->nslots - 1)] = e;
    m->count++;
}

static void hmap_del(hmap *m, const char *key)
{
    hnode **pp = hmap_lookup(m, key, fnv1a(key));
    if (!pp)
        return;
    hnode *e = *pp;
    *pp = e->next;
    free(e);
    m->count--;
}

static void hmap_dispose(hmap *m)
{
    for (size_t i = 0; i < m->nslots; i++) {
        hnode *e = m->slots[i];
        while (e) {
            hnode *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->slots);
    memset(m, 0, sizeof *m);
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
    bool in_active;
    struct dispatch_channel *prev, *next; /* links in d's active list */
    ratelimit_bucket bucket;
};

struct dispatch {
    dispatch_config cfg;
    hmap channels;   /* id -> dispatch_channel */
    hmap workspaces; /* team_id -> workspace */
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
    d->dirty = true;
    return d;
}

static void *ring_at(const dispatch_channel *c, size_t i)
{
    return c->ring[(c->head + i) % c->cap];
}

static void channel_free(dispatch_channel *c, void (*free_job)(void *))
{
    for (size_t i = 0; i < c->len; i++)
        if (free_job)
            free_job(ring_at(c, i));
    free(c->ring);
    free(c->id);
    free(c);
}

void dispatch_destroy(dispatch *d, void (*free_job)(void *job))
{
    if (!d)
        return;
    for (size_t i = 0; i < d->channels.nslots; i++)
        for (hnode *e = d->channels.slots[i]; e; e = e->next)
            channel_free(e->value, free_job);
    for (size_t i = 0; i < d->workspaces.nslots; i++)
        for (hnode *e = d->workspaces.slots[i]; e; e = e->next) {
            workspace *w = e->value;
            free(w->team_id);
            free(w);
        }
    hmap_dispose(&d->channels);
    hmap_dispose(&d->workspaces);
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
    dispatch_channel *c = hmap_get(&d->channels, id);
    free(id);
    return c;
}

static workspace *workspace_get(dispatch *d, const char *team_id, int64_t now_ms)
{
    workspace *w = hmap_get(&d->workspaces, team_id);
    if (w)
        return w;
    w = xcalloc(1, sizeof *w);
    w->team_id = xstrdup(team_id);
    ratelimit_init(&w->bucket, d->cfg.workspace_rate_per_min / 60.0, d->cfg.workspace_burst,
                   now_ms);
    hmap_put(&d->workspaces, w->team_id, w);
    return w;
}

dispatch_channel *dispatch_push(dispatch *d, const char *team_id, const char *key, void *job,
                                bool front, int64_t now_ms, bool *created)
{
    char *id = channel_id(team_id, key);
    dispatch_channel *c = hmap_get(&d->channels, id);
    if (created)
        *created = c == NULL;
    if (!c) {
        c = xcalloc(1, sizeof *c);
        c->id = id;
        c->key = id + strlen(team_id) + 1;
        c->ws = workspace_get(d, team_id, now_ms);
        c->ws->nchannels++;
        ratelimit_init(&c->bucket, d->cfg.channel_rate, d->cfg.channel_burst, now_ms);
        hmap_put(&d->channels, c->id, c);
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

dispatch_channel *dispatch_next(dispatch *d, int64_t now_ms, int64_t *wait_ms)
{
    /* Nothing changed and the earliest ready time is still ahead: skip the scan. */
    if (!d->dirty && now_ms < d->next_ready_ms) {
        *wait_ms = d->next_ready_ms == INT64_MAX ? -1 : d->next_ready_ms - now_ms;
        return NULL;
    }
    int64_t best = -1;
    for (dispatch_channel *c = d->head; c; c = c->next) {
        int64_t wc = ratelimit_peek(&c->bucket, now_ms);
        int64_t ww = ratelimit_peek(&c->ws->bucket, now_ms);
        if (wc == 0 && ww == 0) {
            ratelimit_take(&c->bucket, now_ms);
            ratelimit_take(&c->ws->bucket, now_ms);
            c->busy = true;
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

const char *dispatch_channel_team(const dispatch_channel *c)
{
    return c->ws->team_id;
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

int64_t dispatch_channel_wait(const dispatch_channel *c, int64_t now_ms)
{
    return ratelimit_peek(&c->bucket, now_ms);
}

size_t dispatch_remove_if(dispatch *d, bool (*pred)(void *job, void *arg),
                          void (*drop)(void *job, void *arg), void *arg)
{
    size_t removed = 0;
    for (size_t s = 0; s < d->channels.nslots; s++) {
        for (hnode *e = d->channels.slots[s]; e; e = e->next) {
            dispatch_channel *c = e->value;
            for (size_t i = 0; i < c->len;) {
                void *job = ring_at(c, i);
                if (pred(job, arg)) {
                    dispatch_channel_take(d, c, i);
                    drop(job, arg);
                    removed++;
                } else {
                    i++;
                }
            }
        }
    }
    if (removed)
        d->dirty = true;
    return removed;
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
    return d->channels.count;
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

size_t dispatch_evict(dispatch *d, int64_t now_ms)
{
    size_t evicted = 0;
    for (size_t s = 0; s < d->channels.nslots; s++) {
        hnode *e = d->channels.slots[s];
        while (e) {
            hnode *next = e->next;
            dispatch_channel *c = e->value;
            if (!c->len && !c->busy && bucket_rested(&c->bucket, now_ms)) {
                c->ws->nchannels--;
                hmap_del(&d->channels, c->id); /* frees e, not c */
                channel_free(c, NULL);
                evicted++;
            }
            e = next;
        }
    }
    for (size_t s = 0; s < d->workspaces.nslots; s++) {
        hnode *e = d->workspaces.slots[s];
        while (e) {
            hnode *next = e->next;
            workspace *w = e->value;
            if (!w->nchannels && bucket_rested(&w->bucket, now_ms)) {
                hmap_del(&d->workspaces, w->team_id);
                free(w->team_id);
                free(w);
                evicted++;
            }
            e = next;
        }
    }
    if (evicted)
        d->dirty = true;
    return evicted;
}
