#ifndef HERALD_PGARRAY_H
#define HERALD_PGARRAY_H

/*
 * PostgreSQL array literals in text format ('{"a","b",NULL}', '{1,2}'), the
 * parameters of statements that work on many rows at once through
 * unnest($1::text[]): the router's batch statement, the subscriptions
 * cache's tenant reload and the sender's batched updates. Built in a strbuf
 * that holds nothing but the literal:
 *
 *     pgarray_begin(&b);            // "{"
 *     pgarray_text(&b, tenant);     // quoted, " and \ escaped; NULL -> NULL
 *     pgarray_i64(&b, id);          // unquoted
 *     pgarray_end(&b);              // "}"
 *
 * @locality: pure; one thread at a time per strbuf.
 */
#include "common/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Empties b and opens the literal. */
void pgarray_begin(strbuf *b);
/* One quoted element (any text: " and \ are escaped), or NULL for a NULL v. */
void pgarray_text(strbuf *b, const char *v);
/* One element as it is, unquoted: numbers, uuids, what needs no quoting. */
void pgarray_raw(strbuf *b, const char *v);
void pgarray_i64(strbuf *b, int64_t v);
/* Closes the literal. */
void pgarray_end(strbuf *b);

/* The literals of whole C arrays, malloc'd. empty_is_null: "" is NULL too. */
char *pgarray_of_text(const char *const *v, size_t n, bool empty_is_null);
char *pgarray_of_i64(const int64_t *v, size_t n);

#endif
