#ifndef HERALD_FUZZ_H
#define HERALD_FUZZ_H

/*
 * What every libFuzzer target of tests/fuzz/ shares: the entry point's
 * prototype (libFuzzer calls it; -Wmissing-prototypes wants one) and a
 * NUL-terminated copy of the input for the functions that take C strings.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A malloc'd NUL-terminated copy of data[0..size) (embedded NULs stay: the
 * string ends at the first one). Exact size, so ASan catches any overread. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Takes the first byte of *data (0 when empty): the knobs a target derives
 * from its input. */
static inline uint8_t fuzz_byte(const uint8_t **data, size_t *size)
{
    if (*size == 0)
        return 0;
    uint8_t b = **data;
    (*data)++;
    (*size)--;
    return b;
}

#endif
