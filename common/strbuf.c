#include "common/strbuf.h"

#include "common/util.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(strbuf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

bool strbuf_add(strbuf *b, const void *s, size_t n)
{
    size_t limit = b->max ? b->max : SIZE_MAX / 2;
    if (n > limit || b->len > limit - n)
        return false;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2; /* cannot wrap: len + n + 1 <= SIZE_MAX / 2 + 1 */
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

bool strbuf_adds(strbuf *b, const char *s)
{
    return strbuf_add(b, s, strlen(s));
}

bool strbuf_addf(strbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    if ((size_t)n < sizeof tmp)
        return strbuf_add(b, tmp, (size_t)n);
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    bool ok = strbuf_add(b, big, (size_t)n);
    free(big);
    return ok;
}

char *strbuf_take(strbuf *b)
{
    char *p = b->p ? b->p : xstrdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void strbuf_reset(strbuf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

void strbuf_dispose(strbuf *b)
{
    if (!b)
        return;
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
