/* common/utf8: the strict decoder shared by events, rendering and the HTTP edge. */
#include "common/utf8.h"
#include "testlib.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct seq_case {
    const char *bytes;
    size_t len;
    size_t want; /* 0: invalid */
    uint32_t cp;
} seq_case;

START_TEST(decode_table)
{
    static const seq_case cases[] = {
        {"A", 1, 1, 0x41},
        {"\x7f", 1, 1, 0x7f},
        {"\xc2\x80", 2, 2, 0x80},
        {"\xdf\xbf", 2, 2, 0x7ff},
        {"\xe0\xa0\x80", 3, 3, 0x800},
        {"\xed\x9f\xbf", 3, 3, 0xd7ff},
        {"\xee\x80\x80", 3, 3, 0xe000},
        {"\xef\xbf\xbf", 3, 3, 0xffff},
        {"\xf0\x90\x80\x80", 4, 4, 0x10000},
        {"\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff},
        /* overlong forms */
        {"\xc0\xaf", 2, 0, 0},
        {"\xc1\xbf", 2, 0, 0},
        {"\xe0\x9f\xbf", 3, 0, 0},
        {"\xf0\x8f\xbf\xbf", 4, 0, 0},
        /* surrogates, past U+10FFFF, bytes never used */
        {"\xed\xa0\x80", 3, 0, 0},
        {"\xed\xbf\xbf", 3, 0, 0},
        {"\xf4\x90\x80\x80", 4, 0, 0},
        {"\xf5\x80\x80\x80", 4, 0, 0},
        {"\xff", 1, 0, 0},
        {"\x80", 1, 0, 0},
        /* truncated, by the length or by a NUL */
        {"\xe2\x82", 2, 0, 0},
        {"\xe2\x82\xac", 2, 0, 0},
        {"\xf0\x9f\x98", 3, 0, 0},
        {"\xe2\x00\xac", 3, 0, 0},
        /* a continuation byte that is not one */
        {"\xc3\x28", 2, 0, 0},
        {"\xe2\x28\xa1", 3, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const seq_case *c = &cases[i];
        uint32_t cp = 0xdeadbeef;
        size_t n = utf8_decode((const unsigned char *)c->bytes, c->len, &cp);
        ck_assert_msg(n == c->want, "case %zu: length %zu, want %zu", i, n, c->want);
        if (n)
            ck_assert_msg(cp == c->cp, "case %zu: U+%04X, want U+%04X", i, (unsigned)cp,
                          (unsigned)c->cp);
        ck_assert_int_eq(utf8_valid(c->bytes, c->len, NULL), c->want == c->len);
    }
    uint32_t cp;
    ck_assert_uint_eq(utf8_decode((const unsigned char *)"", 0, &cp), 0);
}
END_TEST

START_TEST(valid_strings_and_offsets)
{
    size_t at = 99;
    ck_assert(utf8_valid("", 0, &at));
    ck_assert(utf8_valid("caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x94\x94", 14, &at));
    ck_assert(utf8_valid("a\0b", 3, &at)); /* NUL is a character here */
    ck_assert(!utf8_valid("caf\xe9!", 5, &at));
    ck_assert_uint_eq(at, 3);
    ck_assert(!utf8_valid("ok \xe2\x9c", 5, &at)); /* cut at the end */
    ck_assert_uint_eq(at, 3);
    ck_assert(utf8_valid_str(NULL));
    ck_assert(utf8_valid_str("\xe2\x80\xa6 (truncated)"));
    ck_assert(!utf8_valid_str("\xed\xa0\x80"));
    /* The NUL ends a C string before a sequence it would cut. */
    ck_assert(!utf8_valid_str("x\xe2"));
}
END_TEST

/* The one sanitiser (error messages, logs, terminal output): unsafe
 * characters and bad bytes become '?', a character cap marks its cut, and a
 * short buffer never ends inside a UTF-8 sequence. */
START_TEST(safe_text)
{
    char buf[8], big[64];
    ck_assert_str_eq(utf8_safe("a\tb", 0, buf, sizeof buf), "a?b");
    ck_assert_str_eq(utf8_safe("abcde\xe2\x82\xac", 0, buf, sizeof buf), "abcde");
    ck_assert_str_eq(utf8_safe(NULL, 0, buf, sizeof buf), "");
    ck_assert_str_eq(utf8_safe("line\nforged", 0, big, sizeof big), "line?forged");
    ck_assert_str_eq(utf8_safe("a\xc2\x9b"
                               "31mb",
                               0, big, sizeof big),
                     "a?31mb");
    ck_assert_str_eq(utf8_safe("x\xe2\x80\xae"
                               "evil\xe2\x81\xa6"
                               "y",
                               0, big, sizeof big),
                     "x?evil?y");
    ck_assert_str_eq(utf8_safe("bad\xff\xfe", 0, big, sizeof big), "bad??");
    /* A cap counts characters, not bytes, and says where it cut. */
    ck_assert_str_eq(utf8_safe("Zo\xc3\xab\xc3\xab\xc3\xab", 3, big, sizeof big), "Zo\xc3\xab...");
    ck_assert_str_eq(utf8_safe("abc", 3, big, sizeof big), "abc");
    /* No room for the mark: cut without it, still whole characters. */
    ck_assert_str_eq(utf8_safe("abcdefgh", 6, buf, sizeof buf), "abcdef");
    ck_assert_uint_eq(utf8_unsafe(0x1b), 1);
    ck_assert_uint_eq(utf8_unsafe(0x2067), 1);
    ck_assert_uint_eq(utf8_unsafe(0xe9), 0);
}
END_TEST

/* The bidirectional controls a Slack message drops: overrides, isolates and marks, and
 * nothing next to them (U+200D joins emoji, U+2065 is unassigned, U+061B is a letter's
 * neighbour, not a mark). */
START_TEST(bidi_controls)
{
    const uint32_t yes[] = {0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066,
                            0x2067, 0x2068, 0x2069, 0x200e, 0x200f, 0x061c};
    const uint32_t no[] = {0x2029, 0x202f, 0x2065, 0x206a, 0x200d, 0x2010,
                           0x061b, 0x061d, 0x200b, 'a',    0x85,   0xe9};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        ck_assert_msg(utf8_bidi_control(yes[i]), "U+%04X", (unsigned)yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        ck_assert_msg(!utf8_bidi_control(no[i]), "U+%04X", (unsigned)no[i]);
}
END_TEST

TESTLIB_MAIN("utf8", "utf8", decode_table, valid_strings_and_offsets, safe_text, bidi_controls)
