#include "common/pgarray.h"

#include <stdio.h>
#include <string.h>

/* Unbounded strbufs only: appending cannot fail. */

void pgarray_begin(strbuf *b)
{
    strbuf_reset(b);
    (void)strbuf_add(b, "{", 1);
}

/* The separator before every element but the first ("{" is the only byte
 * before the first). */
static void sep(strbuf *b)
{
    if (b->len > 1)
        (void)strbuf_add(b, ",", 1);
}

void pgarray_text(strbuf *b, const char *v)
{
    sep(b);
    if (!v) {
        (void)strbuf_add(b, "NULL", 4);
        return;
    }
    (void)strbuf_add(b, "\"", 1);
    /* runs without a character to escape go in one piece */
    for (;;) {
        size_t n = strcspn(v, "\"\\");
        (void)strbuf_add(b, v, n);
        v += n;
        if (!*v)
            break;
        char esc[2] = {'\\', *v++};
        (void)strbuf_add(b, esc, 2);
    }
    (void)strbuf_add(b, "\"", 1);
}

void pgarray_raw(strbuf *b, const char *v)
{
    sep(b);
    (void)strbuf_adds(b, v);
}

void pgarray_i64(strbuf *b, int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)v);
    pgarray_raw(b, num);
}

void pgarray_end(strbuf *b)
{
    (void)strbuf_add(b, "}", 1);
}

char *pgarray_of_text(const char *const *v, size_t n, bool empty_is_null)
{
    strbuf b = {0};
    pgarray_begin(&b);
    for (size_t i = 0; i < n; i++)
        pgarray_text(&b, v[i] && (!empty_is_null || *v[i]) ? v[i] : NULL);
    pgarray_end(&b);
    return strbuf_take(&b);
}

char *pgarray_of_i64(const int64_t *v, size_t n)
{
    strbuf b = {0};
    pgarray_begin(&b);
    for (size_t i = 0; i < n; i++)
        pgarray_i64(&b, v[i]);
    pgarray_end(&b);
    return strbuf_take(&b);
}
