#include "common/ratelimit.h"

#include "common/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ==== one bucket ========================================================================== */

static bool unlimited(const ratelimit_bucket *b)
{
    return !(b->rate > 0);
}

/* Brings tokens up to date for now_ms. A clock that goes backwards adds nothing. */
static void refill(ratelimit_bucket *b, int64_t now_ms)
{
    if (now_ms <= b->last_ms)
        return;
    b->tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
    if (b->tokens > b->burst)
        b->tokens = b->burst;
    b->last_ms = now_ms;
}

void ratelimit_init(ratelimit_bucket *b, double rate, double burst, int64_t now_ms)
{
    memset(b, 0, sizeof *b);
    b->rate = rate > 0 ? rate : 0;
    b->burst = burst >= 1 ? burst : 1;
    b->tokens = b->burst;
    b->last_ms = now_ms;
    b->paused_until_ms = 0;
    b->last_used_ms = now_ms;
}

void ratelimit_set_rate(ratelimit_bucket *b, double rate, double burst, int64_t now_ms)
{
    refill(b, now_ms);
    b->rate = rate > 0 ? rate : 0;
    b->burst = burst >= 1 ? burst : 1;
    if (b->tokens > b->burst)
        b->tokens = b->burst;
}

/* Wait until the bucket holds one whole token, given it is up to date at now_ms. */
static int64_t wait_for_token(const ratelimit_bucket *b, int64_t now_ms)
{
    if (now_ms < b->paused_until_ms)
        return b->paused_until_ms - now_ms;
    if (unlimited(b))
        return 0;
    double tokens = b->tokens;
    if (now_ms > b->last_ms) {
        tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
        if (tokens > b->burst)
            tokens = b->burst;
    }
    /* A hair of tolerance so that 1/3 + 1/3 + 1/3 counts as one token. */
    if (tokens >= 1.0 - 1e-9)
        return 0;
    /* The epsilon keeps float noise (1000 / (5/60) = 12000.000000000002) from adding a ms. */
    double ms = ceil((1.0 - tokens) * 1000.0 / b->rate - 1e-6);
    /* A rate near zero gives a wait past what int64_t holds (converting it
     * would be undefined): as good as never. */
    if (!(ms < 9.0e18))
        return INT64_MAX;
    return ms < 1 ? 1 : (int64_t)ms;
}

int64_t ratelimit_peek(const ratelimit_bucket *b, int64_t now_ms)
{
    return wait_for_token(b, now_ms);
}

int64_t ratelimit_take(ratelimit_bucket *b, int64_t now_ms)
{
    int64_t wait = wait_for_token(b, now_ms);
    if (wait > 0)
        return wait;
    b->last_used_ms = now_ms > b->last_used_ms ? now_ms : b->last_used_ms;
    if (unlimited(b))
        return 0;
    refill(b, now_ms);
    b->tokens -= 1.0;
    if (b->tokens < 0)
        b->tokens = 0; /* only the tolerance above can get here */
    return 0;
}

void ratelimit_refund(ratelimit_bucket *b, int64_t now_ms)
{
    refill(b, now_ms);
    b->tokens += 1.0;
    if (b->tokens > b->burst)
        b->tokens = b->burst;
}

void ratelimit_pause_until(ratelimit_bucket *b, int64_t until_ms)
{
    if (until_ms <= b->paused_until_ms)
        return;
    b->paused_until_ms = until_ms;
    /* Resume with one request at the end of the pause, then the steady rate: a
     * burst right after a 429 is what gets an app disabled. */
    b->tokens = 1.0;
    b->last_ms = until_ms;
    if (until_ms > b->last_used_ms)
        b->last_used_ms = until_ms;
}

/* ==== keyed table ========================================================================= */

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    ratelimit_bucket bucket;
    char key[]; /* NUL-terminated */
} entry;

struct ratelimit_table {
    double rate, burst;
    int64_t idle_ms;
    entry **slots;
    size_t nslots; /* power of two */
    size_t count;
    size_t max; /* 0: no cap */
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

ratelimit_table *ratelimit_table_new(double rate, double burst, int64_t idle_ms)
{
    ratelimit_table *t = xcalloc(1, sizeof *t);
    t->rate = rate;
    t->burst = burst;
    t->idle_ms = idle_ms;
    t->nslots = 64;
    t->slots = xcalloc(t->nslots, sizeof *t->slots);
    return t;
}

void ratelimit_table_destroy(ratelimit_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nslots; i++) {
        entry *e = t->slots[i];
        while (e) {
            entry *n = e->next;
            free(e);
            e = n;
        }
    }
    free(t->slots);
    free(t);
}

static void grow(ratelimit_table *t)
{
    size_t n = t->nslots * 2;
    entry **slots = xcalloc(n, sizeof *slots);
    for (size_t i = 0; i < t->nslots; i++) {
        entry *e = t->slots[i];
        while (e) {
            entry *next = e->next;
            size_t j = (size_t)(e->hash & (n - 1));
            e->next = slots[j];
            slots[j] = e;
            e = next;
        }
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
}

ratelimit_bucket *ratelimit_table_find(ratelimit_table *t, const char *key)
{
    uint64_t h = fnv1a(key);
    for (entry *e = t->slots[h & (t->nslots - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return &e->bucket;
    return NULL;
}

void ratelimit_table_set_max(ratelimit_table *t, size_t max)
{
    t->max = max;
}

/* Removes the least recently used bucket (one pass over the table). */
static void evict_oldest(ratelimit_table *t)
{
    entry **oldest = NULL;
    for (size_t i = 0; i < t->nslots; i++)
        for (entry **pp = &t->slots[i]; *pp; pp = &(*pp)->next)
            if (!oldest || (*pp)->bucket.last_used_ms < (*oldest)->bucket.last_used_ms)
                oldest = pp;
    if (!oldest)
        return;
    entry *e = *oldest;
    *oldest = e->next;
    free(e);
    t->count--;
}

/* The bucket for key, created (full) when missing. The pointer is stable until
 * the bucket is evicted or the table destroyed. */
static ratelimit_bucket *table_get(ratelimit_table *t, const char *key, int64_t now_ms)
{
    ratelimit_bucket *b = ratelimit_table_find(t, key);
    if (b)
        return b;
    if (t->max && t->count >= t->max) {
        /* Keys may come from anyone (client addresses): memory stays bounded.
         * Idle full buckets go first, then the least recently used. */
        ratelimit_table_evict(t, now_ms);
        while (t->count >= t->max)
            evict_oldest(t);
    }
    if (t->count + 1 > t->nslots)
        grow(t);
    size_t klen = strlen(key);
    entry *e = xmalloc(sizeof *e + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->hash = fnv1a(key);
    ratelimit_init(&e->bucket, t->rate, t->burst, now_ms);
    size_t i = (size_t)(e->hash & (t->nslots - 1));
    e->next = t->slots[i];
    t->slots[i] = e;
    t->count++;
    return &e->bucket;
}

int64_t ratelimit_table_take(ratelimit_table *t, const char *key, int64_t now_ms)
{
    return ratelimit_take(table_get(t, key, now_ms), now_ms);
}

int64_t ratelimit_table_peek(ratelimit_table *t, const char *key, int64_t now_ms)
{
    ratelimit_bucket *b = ratelimit_table_find(t, key);
    return b ? ratelimit_peek(b, now_ms) : 0;
}

void ratelimit_table_pause_until(ratelimit_table *t, const char *key, int64_t until_ms,
                                 int64_t now_ms)
{
    ratelimit_pause_until(table_get(t, key, now_ms), until_ms);
}

/* Forgetting a bucket is only safe when a fresh one would behave the same. */
static bool evictable(const ratelimit_bucket *b, int64_t now_ms, int64_t idle_ms)
{
    if (now_ms - b->last_used_ms < idle_ms)
        return false;
    if (now_ms < b->paused_until_ms)
        return false;
    if (unlimited(b))
        return true;
    double tokens = b->tokens;
    if (now_ms > b->last_ms)
        tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
    return tokens >= b->burst - 1e-9;
}

size_t ratelimit_table_evict(ratelimit_table *t, int64_t now_ms)
{
    if (t->idle_ms <= 0)
        return 0;
    size_t removed = 0;
    for (size_t i = 0; i < t->nslots; i++) {
        entry **pp = &t->slots[i];
        while (*pp) {
            entry *e = *pp;
            if (evictable(&e->bucket, now_ms, t->idle_ms)) {
                *pp = e->next;
                free(e);
                t->count--;
                removed++;
            } else {
                pp = &e->next;
            }
        }
    }
    return removed;
}

size_t ratelimit_table_size(const ratelimit_table *t)
{
    return t->count;
}
