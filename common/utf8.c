#include "common/utf8.h"

#include <string.h>

size_t utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp)
{
    if (avail == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    /* The second byte's range depends on the first (RFC 3629 table 4): that
     * is what excludes overlong forms, surrogates and code points past
     * U+10FFFF without decoding first. */
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if (i >= avail)
            return 0;
        unsigned char b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
            return 0;
        v = (v << 6) | (b & 0x3F);
    }
    *cp = v;
    return n;
}

bool utf8_valid(const char *s, size_t len, size_t *bad_at)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) { /* the common case, without a call */
            i++;
            continue;
        }
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0) {
            if (bad_at)
                *bad_at = i;
            return false;
        }
        i += n;
    }
    return true;
}

bool utf8_valid_str(const char *s)
{
    return !s || utf8_valid(s, strlen(s), NULL);
}

bool utf8_unsafe(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

bool utf8_bidi_control(uint32_t cp)
{
    return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e ||
           cp == 0x200f || cp == 0x061c;
}

const char *utf8_safe(const char *s, size_t max_chars, char *buf, size_t size)
{
    if (!size)
        return buf;
    size_t o = 0, chars = 0;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        if (max_chars && chars == max_chars) {
            if (o + 3 < size) {
                memcpy(buf + o, "...", 3);
                o += 3;
            }
            break;
        }
        uint32_t cp = 0;
        size_t n = utf8_decode(p, SIZE_MAX, &cp);
        if (n == 0 || utf8_unsafe(cp)) {
            /* Bad bytes and unsafe characters show as one '?' each. */
            if (o + 1 >= size)
                break;
            buf[o++] = '?';
            p += n ? n : 1;
        } else {
            /* Cut short: never end inside a UTF-8 sequence. */
            if (o + n >= size)
                break;
            memcpy(buf + o, p, n);
            o += n;
            p += n;
        }
        chars++;
    }
    buf[o] = '\0';
    return buf;
}
