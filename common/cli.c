#include "common/cli.h"

#include "common/config.h"
#include "common/event.h"
#include "common/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ================================================================ flags */

#define MAX_OPTS 64

static const cli_opt *find_opt(const cli_opt *opts, size_t nopts, const char *a, size_t len)
{
    for (size_t k = 0; k < nopts; k++)
        if (strlen(opts[k].flag) == len && !strncmp(opts[k].flag, a, len))
            return &opts[k];
    return NULL;
}

cli_result cli_parse(const char *prog, const cli_command *cmd, const cli_opt *opts, size_t nopts,
                     int argc, char **argv, const char **pos, size_t max_pos, size_t *npos,
                     char *errstr, size_t errstr_size)
{
    bool given[MAX_OPTS] = {false};
    bool flags_done = false;
    *npos = 0;
    if (nopts > MAX_OPTS) {
        snprintf(errstr, errstr_size, "too many options");
        return CLI_ERROR;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!flags_done && !strcmp(a, "--")) {
            flags_done = true;
            continue;
        }
        if (flags_done || a[0] != '-' || a[1] == '\0') {
            if (*npos >= max_pos) {
                char safe[80];
                snprintf(errstr, errstr_size, "unexpected argument '%s'",
                         cli_safe(a, safe, sizeof safe));
                return CLI_ERROR;
            }
            pos[(*npos)++] = a;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_print_help(stdout, prog, cmd, opts, nopts);
            return CLI_HELP;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const cli_opt *o = find_opt(opts, nopts, a, len);
        if (!o) {
            char safe[80];
            snprintf(errstr, errstr_size, "unknown flag '%.*s' (see --help)", (int)len,
                     cli_safe(a, safe, sizeof safe));
            return CLI_ERROR;
        }
        size_t idx = (size_t)(o - opts);
        if (given[idx]) {
            snprintf(errstr, errstr_size, "%s given more than once", o->flag);
            return CLI_ERROR;
        }
        given[idx] = true;
        if (o->seen)
            *o->seen = true;
        if (o->type == CLI_BOOL) {
            if (eq) {
                snprintf(errstr, errstr_size, "%s takes no value", o->flag);
                return CLI_ERROR;
            }
            *(bool *)o->dst = true;
            continue;
        }
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(errstr, errstr_size, "%s needs a value (%s)", o->flag,
                     o->metavar ? o->metavar : "VALUE");
            return CLI_ERROR;
        }
        if (o->type == CLI_STR) {
            *(const char **)o->dst = value;
        } else if (!cfg_parse_long(value, o->min, o->max, (long *)o->dst)) {
            char safe[80];
            snprintf(errstr, errstr_size, "%s: '%s' is not a whole number from %ld to %ld", o->flag,
                     cli_safe(value, safe, sizeof safe), o->min, o->max);
            return CLI_ERROR;
        }
    }
    return CLI_OK;
}

void cli_print_help(FILE *out, const char *prog, const cli_command *cmd, const cli_opt *opts,
                    size_t nopts)
{
    fprintf(out, "usage: %s %s%s%s\n\n%s\n", prog, cmd->name, cmd->args && *cmd->args ? " " : "",
            cmd->args ? cmd->args : "", cmd->summary);
    if (nopts)
        fprintf(out, "\noptions:\n");
    for (size_t i = 0; i < nopts; i++) {
        char left[64];
        if (opts[i].type == CLI_BOOL)
            snprintf(left, sizeof left, "%s", opts[i].flag);
        else
            snprintf(left, sizeof left, "%s %s", opts[i].flag,
                     opts[i].metavar ? opts[i].metavar : "VALUE");
        fprintf(out, "  %-28s %s\n", left, opts[i].help);
    }
    fprintf(out, "  %-28s %s\n", "--help", "print this help and exit");
}

/* ================================================================ text */

const char *cli_safe(const char *s, char *buf, size_t size)
{
    if (!size)
        return buf;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    for (; *p && o + 1 < size; p++)
        buf[o++] = (*p < 0x20 || *p == 0x7f) ? '?' : (char)*p;
    /* Cut short: never end inside a UTF-8 sequence. */
    if (*p && (*p & 0xC0) == 0x80) {
        size_t k = o;
        while (k > 0 && ((unsigned char)buf[k - 1] & 0xC0) == 0x80)
            k--;
        if (k > 0 && ((unsigned char)buf[k - 1] & 0x80))
            o = k - 1;
    }
    buf[o] = '\0';
    return buf;
}

/* Characters (code points) in a UTF-8 string. */
static size_t u8_width(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
}

/* Byte offset of the first `chars` code points of s. */
static size_t u8_prefix(const char *s, size_t chars)
{
    size_t n = 0, i = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (n == chars)
                break;
            n++;
        }
    }
    return i;
}

/* ================================================================ tables */

struct cli_table {
    size_t ncols;
    char **headers;
    size_t *max_width;
    char **cells; /* rows * ncols */
    size_t rows, cap;
};

/* A printable copy of s capped at max characters (0: no cap). */
static char *cell_copy(const char *s, size_t max)
{
    if (!s || !*s)
        s = "-";
    size_t n = strlen(s);
    char *c = xmalloc(n + 4);
    cli_safe(s, c, n + 1);
    if (max >= 4 && u8_width(c) > max) {
        size_t cut = u8_prefix(c, max - 3);
        memcpy(c + cut, "...", 4);
    }
    return c;
}

cli_table *cli_table_new(size_t ncols, const char *const *headers)
{
    cli_table *t = xcalloc(1, sizeof *t);
    t->ncols = ncols;
    t->headers = xcalloc(ncols, sizeof *t->headers);
    t->max_width = xcalloc(ncols, sizeof *t->max_width);
    for (size_t i = 0; i < ncols; i++)
        t->headers[i] = cell_copy(headers[i], 0);
    return t;
}

void cli_table_set_max_width(cli_table *t, size_t col, size_t width)
{
    if (col < t->ncols)
        t->max_width[col] = width;
}

void cli_table_add(cli_table *t, const char *const *cells)
{
    if (t->rows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
    }
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[t->rows * t->ncols + i] = cell_copy(cells[i], t->max_width[i]);
    t->rows++;
}

size_t cli_table_rows(const cli_table *t)
{
    return t->rows;
}

static void print_row(FILE *out, char *const *row, const size_t *width, size_t ncols)
{
    for (size_t i = 0; i < ncols; i++) {
        fputs(row[i], out);
        if (i + 1 < ncols)
            for (size_t k = u8_width(row[i]); k < width[i] + 2; k++)
                fputc(' ', out);
    }
    fputc('\n', out);
}

void cli_table_print(const cli_table *t, FILE *out)
{
    size_t *width = xcalloc(t->ncols, sizeof *width);
    for (size_t i = 0; i < t->ncols; i++) {
        width[i] = u8_width(t->headers[i]);
        for (size_t r = 0; r < t->rows; r++) {
            size_t w = u8_width(t->cells[r * t->ncols + i]);
            if (w > width[i])
                width[i] = w;
        }
    }
    print_row(out, t->headers, width, t->ncols);
    for (size_t r = 0; r < t->rows; r++)
        print_row(out, &t->cells[r * t->ncols], width, t->ncols);
    free(width);
}

void cli_table_destroy(cli_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncols; i++)
        free(t->headers[i]);
    for (size_t i = 0; i < t->rows * t->ncols; i++)
        free(t->cells[i]);
    free(t->headers);
    free(t->max_width);
    free(t->cells);
    free(t);
}

/* ================================================================ time */

const char *cli_time_format(int64_t ms, char *buf, size_t size)
{
    if (ms <= 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%SZ", &tm))
        snprintf(buf, size, "-");
    return buf;
}

bool cli_parse_since(const char *s, int64_t now_ms, int64_t *out_ms)
{
    if (!s || !*s)
        return false;
    /* Duration: digits then one unit. */
    size_t n = strlen(s);
    if (isdigit((unsigned char)s[0]) && strchr("smhd", s[n - 1])) {
        bool digits = n >= 2;
        for (size_t i = 0; digits && i + 1 < n; i++)
            digits = isdigit((unsigned char)s[i]) != 0;
        if (digits) {
            char num[24];
            if (n - 1 >= sizeof num)
                return false;
            memcpy(num, s, n - 1);
            num[n - 1] = '\0';
            long v;
            if (!cfg_parse_long(num, 0, 100L * 365 * 24 * 3600, &v))
                return false;
            int64_t unit = s[n - 1] == 's'   ? 1000
                           : s[n - 1] == 'm' ? 60000
                           : s[n - 1] == 'h' ? 3600000
                                             : 86400000;
            if ((int64_t)v > now_ms / unit)
                return false;
            *out_ms = now_ms - (int64_t)v * unit;
            return true;
        }
    }
    /* A date: UTC midnight. */
    if (n == 10 && s[4] == '-' && s[7] == '-') {
        char ts[32];
        snprintf(ts, sizeof ts, "%sT00:00:00Z", s);
        return event_parse_time(ts, out_ms);
    }
    return event_parse_time(s, out_ms);
}
