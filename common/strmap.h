#ifndef HERALD_STRMAP_H
#define HERALD_STRMAP_H

/*
 * A string -> pointer hash map (chained, FNV-1a, power-of-two buckets that
 * double at 3/4 load). Keys are copied; values are the caller's. For the
 * sender's caches and indexes. Not thread-safe.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct strmap strmap;

strmap *strmap_new(void);
/* Frees the map and its keys; free_value (may be NULL) gets every value. */
void strmap_destroy(strmap *m, void (*free_value)(void *value));

void *strmap_get(const strmap *m, const char *key);
/* Sets key to value; returns the value it replaced (NULL when new). */
void *strmap_put(strmap *m, const char *key, void *value);
/* Removes key; returns its value (NULL when absent). */
void *strmap_del(strmap *m, const char *key);
size_t strmap_count(const strmap *m);

/* Calls fn for each entry; when fn returns true the entry is removed (fn
 * owns freeing the value then). Returns how many were removed. */
size_t strmap_sweep(strmap *m, bool (*fn)(const char *key, void *value, void *arg), void *arg);

/* The map's hash of a NUL-terminated key (64-bit FNV-1a), for other tables of
 * strings (the router's event ids, the subscriptions' tenants). */
uint64_t strmap_hash(const char *key);

#endif
