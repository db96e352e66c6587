#include "common/strmap.h"

#include "common/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct node {
    struct node *next;
    uint64_t hash;
    void *value;
    char key[];
} node;

struct strmap {
    node **slots;
    size_t nslots, count;
};

uint64_t strmap_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 offset basis */
    for (const char *s = key; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

strmap *strmap_new(void)
{
    return xcalloc(1, sizeof(strmap));
}

void strmap_destroy(strmap *m, void (*free_value)(void *value))
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nslots; i++) {
        node *e = m->slots[i];
        while (e) {
            node *next = e->next;
            if (free_value)
                free_value(e->value);
            free(e);
            e = next;
        }
    }
    free(m->slots);
    free(m);
}

static node **lookup(const strmap *m, const char *key, uint64_t h)
{
    if (!m->nslots)
        return NULL;
    node **pp = &m->slots[h & (m->nslots - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && !strcmp((*pp)->key, key))
            return pp;
    return NULL;
}

void *strmap_get(const strmap *m, const char *key)
{
    node **pp = lookup(m, key, strmap_hash(key));
    return pp ? (*pp)->value : NULL;
}

static void grow(strmap *m)
{
    size_t n = m->nslots ? m->nslots * 2 : 64;
    node **slots = xcalloc(n, sizeof *slots);
    for (size_t i = 0; i < m->nslots; i++) {
        node *e = m->slots[i];
        while (e) {
            node *next = e->next;
            e->next = slots[e->hash & (n - 1)];
            slots[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = n;
}

void *strmap_put(strmap *m, const char *key, void *value)
{
    uint64_t h = strmap_hash(key);
    node **pp = lookup(m, key, h);
    if (pp) {
        void *old = (*pp)->value;
        (*pp)->value = value;
        return old;
    }
    if (m->count + 1 > m->nslots * 3 / 4)
        grow(m);
    size_t len = strlen(key);
    node *e = xmalloc(sizeof *e + len + 1);
    memcpy(e->key, key, len + 1);
    e->hash = h;
    e->value = value;
    e->next = m->slots[h & (m->nslots - 1)];
    m->slots[h & (m->nslots - 1)] = e;
    m->count++;
    return NULL;
}

void *strmap_del(strmap *m, const char *key)
{
    node **pp = lookup(m, key, strmap_hash(key));
    if (!pp)
        return NULL;
    node *e = *pp;
    void *v = e->value;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}

size_t strmap_count(const strmap *m)
{
    return m->count;
}

size_t strmap_sweep(strmap *m, bool (*fn)(const char *key, void *value, void *arg), void *arg)
{
    size_t removed = 0;
    for (size_t i = 0; i < m->nslots; i++) {
        node **pp = &m->slots[i];
        while (*pp) {
            node *e = *pp;
            if (fn(e->key, e->value, arg)) {
                *pp = e->next;
                free(e);
                m->count--;
                removed++;
            } else {
                pp = &e->next;
            }
        }
    }
    return removed;
}
