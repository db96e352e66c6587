/*
 * Validation of a target's destination, uses and check filter (store/validation.h).
 */
#include "store/validation.h"
#include "store/store_internal.h"

#include "common/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest email address accepted as a destination. */
#define MAX_DEST 254

const char *store_dest_kind_name(store_dest_kind k)
{
    switch (k) {
    case STORE_DEST_CHANNEL_ID:
        return "channel_id";
    case STORE_DEST_CHANNEL_NAME:
        return "channel_name";
    case STORE_DEST_EMAIL:
        return "email";
    }
    return "unknown";
}

/* Slack conversation ids: C (public or private) or G (older private), then
 * upper-case letters and digits. */
static bool is_channel_id(const char *s)
{
    if (s[0] != 'C' && s[0] != 'G')
        return false;
    size_t n = strlen(s);
    if (n < 3 || n > 32)
        return false;
    for (size_t i = 1; i < n; i++)
        if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* Slack channel names: at most 80 characters, lower-case letters, digits,
 * hyphens and underscores; non-ASCII letters are allowed by Slack too, so any
 * byte >= 0x80 is accepted and Slack has the last word. */
static bool is_channel_name(const char *s)
{
    if (s[0] != '#')
        return false;
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s + 1; *p; p++) {
        if (*p >= 0x80) {
            if ((*p & 0xC0) != 0x80)
                chars++;
            continue;
        }
        if (!islower(*p) && !isdigit(*p) && *p != '-' && *p != '_')
            return false;
        chars++;
    }
    return chars >= 1 && chars <= 80;
}

/* A pragmatic address check: one '@', a non-empty local part, a domain with a
 * dot that neither starts nor ends the domain, no spaces or control bytes.
 * Slack's users.lookupByEmail decides whether a member has it. */
static bool is_email(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > MAX_DEST)
        return false;
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@'))
        return false;
    const char *dom = at + 1;
    const char *dot = strchr(dom, '.');
    if (!dot || dom[0] == '.' || s[n - 1] == '.' || strstr(dom, ".."))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == ',' || *p == ';' || *p == '<' || *p == '>' ||
            *p == '"' || *p == '(' || *p == ')' || *p == '[' || *p == ']' || *p == '\\')
            return false;
    return true;
}

/* What to add to "is not a channel id, #channel or email address" for the
 * near misses people type or paste ("" when none fits). */
static const char *destination_hint(const char *dest, char *buf, size_t size)
{
    size_t n = strlen(dest);
    if (isspace((unsigned char)dest[0]) || isspace((unsigned char)dest[n - 1]))
        return ": remove the spaces around it";
    if (dest[0] == '#' && n < 256) {
        /* Slack keeps channel names in lower case: '#Sec-Alerts' is #sec-alerts. */
        char low[256];
        for (size_t i = 0; i <= n; i++)
            low[i] = dest[i] >= 'A' && dest[i] <= 'Z' ? (char)(dest[i] - 'A' + 'a') : dest[i];
        if (strcmp(low, dest) != 0 && is_channel_name(low)) {
            char q[96];
            snprintf(buf, size, ": Slack channel names are lower case (%s)",
                     store_quote(low, q, sizeof q));
            return buf;
        }
        return ": a channel name has lower-case letters, digits, - and _ (at most 80)";
    }
    if ((dest[0] == 'U' || dest[0] == 'W' || dest[0] == 'D') && n >= 3) {
        bool id = true;
        for (size_t i = 1; id && i < n; i++)
            id = isupper((unsigned char)dest[i]) || isdigit((unsigned char)dest[i]);
        if (id)
            return ": user and direct-message ids are not destinations: give the member's email "
                   "address";
    }
    return "";
}

store_status store_destination_parse(const char *dest, store_dest_kind *kind, char *errstr,
                                     size_t errstr_size)
{
    char q[96];
    if (!dest || !*dest)
        return store_fail(
            STORE_INVALID, errstr, errstr_size,
            "destination: must not be empty: give a channel id (C0123ABC), #channel or "
            "email address");
    if (is_channel_id(dest)) {
        *kind = STORE_DEST_CHANNEL_ID;
        return STORE_OK;
    }
    if (is_channel_name(dest)) {
        *kind = STORE_DEST_CHANNEL_NAME;
        return STORE_OK;
    }
    if (is_email(dest)) {
        *kind = STORE_DEST_EMAIL;
        return STORE_OK;
    }
    char hint[160];
    return store_fail(STORE_INVALID, errstr, errstr_size,
                      "destination: %s is not a channel id, #channel or email address%s",
                      store_quote(dest, q, sizeof q), destination_hint(dest, hint, sizeof hint));
}

/* Copies the comma-separated item starting at *p (trimmed) into buf and
 * advances *p past it; *p becomes NULL after the last item, so "a," yields
 * "a" then "" (an empty item is an error for the callers, not skipped). */
static bool next_item(const char **p, char *buf, size_t size, bool *too_long)
{
    const char *s = *p;
    if (!s)
        return false;
    const char *end = strchr(s, ',');
    size_t n = end ? (size_t)(end - s) : strlen(s);
    *p = end ? end + 1 : NULL;
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    *too_long = n >= size;
    if (*too_long)
        n = size - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

store_status store_uses_parse(const char *csv, unsigned *uses, char *errstr, size_t errstr_size)
{
    char item[64], q[96];
    unsigned u = 0;
    const char *p = csv ? csv : "";
    bool too_long = false;
    if (store_is_blank(p))
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "uses: must not be empty: give failed_check, data_collection or both");
    while (next_item(&p, item, sizeof item, &too_long)) {
        if (!too_long && !strcmp(item, "failed_check"))
            u |= STORE_USE_FAILED_CHECK;
        else if (!too_long && !strcmp(item, "data_collection"))
            u |= STORE_USE_DATA_COLLECTION;
        else
            return store_fail(STORE_INVALID, errstr, errstr_size,
                              "uses: %s is not a use (failed_check, data_collection)",
                              store_quote(item, q, sizeof q));
    }
    *uses = u;
    return STORE_OK;
}

const char *store_uses_format(unsigned uses, char *buf, size_t buf_size)
{
    snprintf(buf, buf_size, "%s%s%s", (uses & STORE_USE_FAILED_CHECK) ? "failed_check" : "",
             (uses & STORE_USE_FAILED_CHECK) && (uses & STORE_USE_DATA_COLLECTION) ? "," : "",
             (uses & STORE_USE_DATA_COLLECTION) ? "data_collection" : "");
    return buf;
}

bool store_is_check_type(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > STORE_MAX_CHECK_TYPE)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != ':' && c != '-')
            return false;
    }
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void store_strv_destroy(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Sorted, de-duplicated, validated copy of checks[0..n) (store_internal.h). */
store_status store_checks_normalise(const char *const *checks, size_t n, char ***out, size_t *nout,
                                    char *errstr, size_t errstr_size)
{
    char q[96];
    *out = NULL;
    *nout = 0;
    if (n > STORE_MAX_CHECKS)
        return store_fail(STORE_INVALID, errstr, errstr_size, "checks: %zu check types; at most %d",
                          n, STORE_MAX_CHECKS);
    if (n == 0)
        return STORE_OK;
    char **v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        if (!checks[i] || !store_is_check_type(checks[i])) {
            store_strv_destroy(v, i);
            return store_fail(STORE_INVALID, errstr, errstr_size,
                              "checks: %s is not a check type (letters, digits, _ . : -)",
                              store_quote(checks[i], q, sizeof q));
        }
        v[i] = xstrdup(checks[i]);
    }
    qsort(v, n, sizeof *v, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && !strcmp(v[k - 1], v[i])) {
            free(v[i]);
            continue;
        }
        v[k++] = v[i];
    }
    *out = v;
    *nout = k;
    return STORE_OK;
}

store_status store_checks_parse(const char *csv, char ***checks, size_t *n, char *errstr,
                                size_t errstr_size)
{
    *checks = NULL;
    *n = 0;
    const char *p = csv ? csv : "";
    if (store_is_blank(p))
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "checks: must not be empty: give check types like weak_mfa,stale_admins");
    size_t cap = 8, cnt = 0;
    char **raw = xcalloc(cap, sizeof *raw);
    char item[STORE_MAX_CHECK_TYPE + 2], q[96];
    bool too_long = false;
    store_status st = STORE_OK;
    while (next_item(&p, item, sizeof item, &too_long)) {
        if (too_long || !store_is_check_type(item)) {
            st = store_fail(STORE_INVALID, errstr, errstr_size,
                            "checks: %s is not a check type (letters, digits, _ . : -)",
                            store_quote(item, q, sizeof q));
            goto out;
        }
        if (cnt == cap) {
            cap *= 2;
            raw = xrealloc(raw, cap * sizeof *raw);
        }
        raw[cnt++] = xstrdup(item);
        if (cnt > STORE_MAX_CHECKS)
            break;
    }
    st = store_checks_normalise((const char *const *)raw, cnt, checks, n, errstr, errstr_size);
out:
    store_strv_destroy(raw, cnt);
    return st;
}

/* ================================================================ severity floor, repeat policy */

/* True when v is one of the n words; else the error "<field>: 'v': expected <list>". */
static store_status one_of(const char *field, const char *v, const char *const *words, size_t n,
                           const char *list, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; v && i < n; i++)
        if (!strcmp(v, words[i]))
            return STORE_OK;
    char q[96];
    return store_fail(STORE_INVALID, errstr, errstr_size, "%s: %s: expected %s", field,
                      store_quote(v ? v : "", q, sizeof q), list);
}

store_status store_min_severity_check(const char *v, char *errstr, size_t errstr_size)
{
    static const char *const sev[] = {"low", "medium", "high", "critical"};
    return one_of("min_severity", v, sev, ARRAY_LEN(sev), "low, medium, high or critical", errstr,
                  errstr_size);
}

store_status store_repeat_policy_check(const char *v, char *errstr, size_t errstr_size)
{
    static const char *const pol[] = {"every", "on_change", "interval"};
    return one_of("repeat_policy", v, pol, ARRAY_LEN(pol), "every, on_change or interval", errstr,
                  errstr_size);
}

const char *store_duration_text(int64_t s, char *buf, size_t size)
{
    if (s > 0 && s % 86400 == 0)
        snprintf(buf, size, "%" PRId64 "d", s / 86400);
    else if (s > 0 && s % 3600 == 0)
        snprintf(buf, size, "%" PRId64 "h", s / 3600);
    else if (s > 0 && s % 60 == 0)
        snprintf(buf, size, "%" PRId64 "m", s / 60);
    else
        snprintf(buf, size, "%" PRId64 "s", s);
    return buf;
}

store_status store_repeat_interval_check(int64_t s, char *errstr, size_t errstr_size)
{
    char have[32], bound[32];
    if (s < STORE_REPEAT_MIN_S)
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "repeat_interval_seconds: %" PRId64 " (%s): at least %d (%s)", s,
                          store_duration_text(s, have, sizeof have), STORE_REPEAT_MIN_S,
                          store_duration_text(STORE_REPEAT_MIN_S, bound, sizeof bound));
    if (s > STORE_REPEAT_MAX_S)
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "repeat_interval_seconds: %" PRId64 " (%s): at most %d (%s)", s,
                          store_duration_text(s, have, sizeof have), STORE_REPEAT_MAX_S,
                          store_duration_text(STORE_REPEAT_MAX_S, bound, sizeof bound));
    return STORE_OK;
}

store_status store_repeat_resolve(const char *policy, int64_t interval_s, const char *cur_policy,
                                  int64_t cur_interval_s, const char **out_policy,
                                  int64_t *out_interval_s, char *errstr, size_t errstr_size)
{
    store_status st;
    if ((policy && (st = store_repeat_policy_check(policy, errstr, errstr_size))) ||
        (interval_s && (st = store_repeat_interval_check(interval_s, errstr, errstr_size))))
        return st;
    const char *p = policy ? policy : interval_s ? "interval" : cur_policy;
    if (strcmp(p, "interval") != 0) {
        if (interval_s)
            return store_fail(STORE_INVALID, errstr, errstr_size,
                              "repeat_interval_seconds: only with repeat_policy interval (the "
                              "policy is %s)",
                              p);
        *out_policy = p;
        *out_interval_s = 0;
        return STORE_OK;
    }
    int64_t iv = interval_s ? interval_s : !strcmp(cur_policy, "interval") ? cur_interval_s : 0;
    if (iv == 0)
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "repeat_interval_seconds: required with repeat_policy interval (how "
                          "often to notify again while a check keeps failing, e.g. 4h)");
    *out_policy = p;
    *out_interval_s = iv;
    return STORE_OK;
}
