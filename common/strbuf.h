#ifndef HERALD_STRBUF_H
#define HERALD_STRBUF_H

/*
 * A growing, always NUL-terminated string with an optional cap (curl's
 * dynbuf): what rendering, the metrics exposition, HTTP request bodies and
 * Slack's answers are built in. Zero-initialised it is empty, unbounded and
 * owns nothing (p is NULL until something is added):
 *
 *     strbuf b = {0};              // or strbuf_init(&b, max_bytes)
 *     strbuf_addf(&b, "%d users", n);
 *     char *s = strbuf_take(&b);   // the caller frees s; b is empty again
 *
 * @locality: one thread at a time per strbuf; no globals.
 */
#include <stdbool.h>
#include <stddef.h>

typedef struct strbuf {
    char *p;    /* the text, NUL-terminated; NULL while nothing was added */
    size_t len; /* bytes in p, without the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* most bytes len may reach; 0: no cap */
} strbuf;

/* Empty, with a cap of max bytes (0: none). */
void strbuf_init(strbuf *b, size_t max);

/* Appends n bytes of s. Returns false, appending nothing, when that would
 * pass the cap: the buffer is unchanged and still usable. */
bool strbuf_add(strbuf *b, const void *s, size_t n);
/* Appends a C string; same return as strbuf_add. */
bool strbuf_adds(strbuf *b, const char *s);
/* Appends formatted text; same return as strbuf_add. */
bool strbuf_addf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Takes the text (never NULL: "" when empty); b is empty again, cap kept. */
char *strbuf_take(strbuf *b) __attribute__((warn_unused_result));
/* Empties b, keeping its memory for reuse. */
void strbuf_reset(strbuf *b);
/* Frees the text; b is empty again, cap kept. NULL-safe. */
void strbuf_dispose(strbuf *b);

#endif
