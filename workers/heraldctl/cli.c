#include "workers/heraldctl/cli.h"

#include "common/event.h"
#include "common/utf8.h"
#include "common/util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ================================================================ flags */

cfg_result cli_parse(const char *prog, const cfg_command *cmd, const cfg_opt *opts, size_t nopts,
                     int argc, char **argv, const char **pos, size_t max_pos, size_t *npos,
                     char *errstr, size_t errstr_size)
{
    cfg_result r = cfg_parse_command(prog, cmd, opts, nopts, argc, argv, pos, max_pos, npos, errstr,
                                     errstr_size);
    if (r == CFG_ERROR && errstr_size) {
        char raw[512];
        snprintf(raw, sizeof raw, "%s", errstr);
        utf8_safe(raw, 0, errstr, errstr_size);
    }
    return r;
}

/* ================================================================ commands */

int cli_parse_or_exit(const char *prog, const cfg_command *cmd, const cfg_opt *opts, size_t nopts,
                      int argc, char **argv, const char **pos, size_t max_pos, size_t *npos)
{
    char err[512];
    cfg_result r =
        cli_parse(prog, cmd, opts, nopts, argc, argv, pos, max_pos, npos, err, sizeof err);
    if (r == CFG_OK)
        return -1;
    if (r == CFG_HELP)
        return 0;
    return cli_usage_error(prog, cmd->name, "%s", err);
}

int cli_usage_error(const char *prog, const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s %s: %s\n", prog, cmd, msg);
    return 2;
}

static void print_subcommand(FILE *out, const cli_subcommand *c)
{
    fprintf(out, "  %s\n        %s\n", c->usage, c->summary);
}

void cli_print_commands(FILE *out, const cli_subcommand *cmds, size_t n)
{
    fprintf(out, "\ncommands (each answers --help):\n");
    for (size_t i = 0; i < n; i++)
        print_subcommand(out, &cmds[i]);
}

static bool in_group(const cli_subcommand *c, const char *group)
{
    return c->group && !strcmp(c->group, group);
}

/* The subcommands of group, for messages: "add, list, remove"; false when
 * group is no group. */
static bool group_members(const cli_subcommand *cmds, size_t n, const char *group, char *buf,
                          size_t size)
{
    bool found = false;
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!in_group(&cmds[i], group))
            continue;
        found = true;
        if (o >= size)
            continue;
        int w = snprintf(buf + o, size - o, "%s%s", o ? ", " : "", cmds[i].name);
        if (w > 0)
            o += (size_t)w;
    }
    return found;
}

int cli_dispatch(const char *prog, const cli_subcommand *cmds, size_t n, void *ctx, int argc,
                 char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "%s: missing command (see %s --help)\n", prog, prog);
        return 2;
    }
    const char *word = argv[0];
    char safe[80], members[128];
    if (group_members(cmds, n, word, members, sizeof members)) {
        const char *sub = argc > 1 ? argv[1] : NULL;
        if (!sub) {
            fprintf(stderr, "%s %s: missing subcommand (%s)\n", prog, word, members);
            return 2;
        }
        if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
            printf("usage: %s %s SUBCOMMAND [ARGS]\n\nsubcommands (each answers --help):\n", prog,
                   word);
            for (size_t i = 0; i < n; i++)
                if (in_group(&cmds[i], word))
                    print_subcommand(stdout, &cmds[i]);
            return 0;
        }
        for (size_t i = 0; i < n; i++)
            if (in_group(&cmds[i], word) && !strcmp(cmds[i].name, sub))
                return cmds[i].run(ctx, argc - 2, argv + 2);
        fprintf(stderr, "%s %s: unknown subcommand '%s' (%s)\n", prog, word,
                utf8_safe(sub, 0, safe, sizeof safe), members);
        return 2;
    }
    for (size_t i = 0; i < n; i++)
        if (!cmds[i].group && !strcmp(cmds[i].name, word))
            return cmds[i].run(ctx, argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s' (see %s --help)\n", prog,
            utf8_safe(word, 0, safe, sizeof safe), prog);
    return 2;
}

/* ================================================================ text */

typedef struct cp_range {
    uint32_t lo, hi;
} cp_range;

/* Combining marks and invisible format characters: no column of their own. */
static const cp_range zero_width[] = {
    {0x0300, 0x036F},   {0x0483, 0x0489},   {0x0591, 0x05BD},   {0x05BF, 0x05BF}, {0x05C1, 0x05C2},
    {0x05C4, 0x05C5},   {0x05C7, 0x05C7},   {0x0610, 0x061A},   {0x061C, 0x061C}, {0x064B, 0x065F},
    {0x0670, 0x0670},   {0x06D6, 0x06DC},   {0x06DF, 0x06E4},   {0x06E7, 0x06E8}, {0x06EA, 0x06ED},
    {0x0900, 0x0902},   {0x093A, 0x093A},   {0x093C, 0x093C},   {0x0941, 0x0948}, {0x094D, 0x094D},
    {0x0951, 0x0957},   {0x0E31, 0x0E31},   {0x0E34, 0x0E3A},   {0x0E47, 0x0E4E}, {0x1160, 0x11FF},
    {0x1AB0, 0x1AFF},   {0x1DC0, 0x1DFF},   {0x200B, 0x200F},   {0x2060, 0x2064}, {0x20D0, 0x20FF},
    {0x302A, 0x302D},   {0x3099, 0x309A},   {0xFE00, 0xFE0F},   {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF},
    {0x1F3FB, 0x1F3FF}, {0xE0000, 0xE007F}, {0xE0100, 0xE01EF},
};

/* East Asian wide and fullwidth characters and emoji shown as emoji: two
 * columns in a terminal. */
static const cp_range double_width[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x23F0, 0x23F0},   {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},
    {0x2648, 0x2653},   {0x267F, 0x267F},   {0x2693, 0x2693},   {0x26A1, 0x26A1},
    {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},   {0x26CE, 0x26CE},
    {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F3},   {0x26F5, 0x26F5},
    {0x26FA, 0x26FA},   {0x26FD, 0x26FD},   {0x2705, 0x2705},   {0x270A, 0x270B},
    {0x2728, 0x2728},   {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},
    {0x2757, 0x2757},   {0x2795, 0x2797},   {0x27B0, 0x27B0},   {0x27BF, 0x27BF},
    {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},   {0x2E80, 0x303E},
    {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},
    {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x16FE0, 0x16FE4},
    {0x17000, 0x18AFF}, {0x1B000, 0x1B2FF}, {0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF},
    {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F202}, {0x1F210, 0x1F23B},
    {0x1F240, 0x1F248}, {0x1F250, 0x1F251}, {0x1F260, 0x1F265}, {0x1F300, 0x1F320},
    {0x1F32D, 0x1F335}, {0x1F337, 0x1F37C}, {0x1F37E, 0x1F393}, {0x1F3A0, 0x1F3CA},
    {0x1F3CF, 0x1F3D3}, {0x1F3E0, 0x1F3F0}, {0x1F3F4, 0x1F3F4}, {0x1F3F8, 0x1F3FA},
    {0x1F400, 0x1F43E}, {0x1F440, 0x1F440}, {0x1F442, 0x1F4FC}, {0x1F4FF, 0x1F53D},
    {0x1F54B, 0x1F54E}, {0x1F550, 0x1F567}, {0x1F57A, 0x1F57A}, {0x1F595, 0x1F596},
    {0x1F5A4, 0x1F5A4}, {0x1F5FB, 0x1F64F}, {0x1F680, 0x1F6C5}, {0x1F6CC, 0x1F6CC},
    {0x1F6D0, 0x1F6D2}, {0x1F6D5, 0x1F6D7}, {0x1F6EB, 0x1F6EC}, {0x1F6F4, 0x1F6FC},
    {0x1F7E0, 0x1F7EB}, {0x1F90C, 0x1F93A}, {0x1F93C, 0x1F945}, {0x1F947, 0x1F9FF},
    {0x1FA70, 0x1FAFF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

static bool in_ranges(uint32_t cp, const cp_range *r, size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* Terminal columns of one code point (0, 1 or 2), as wcwidth() would say in a
 * UTF-8 locale, without depending on the process's locale. */
static size_t cp_width(uint32_t cp)
{
    if (in_ranges(cp, zero_width, ARRAY_LEN(zero_width)))
        return 0;
    if (in_ranges(cp, double_width, ARRAY_LEN(double_width)))
        return 2;
    return 1;
}

/* Terminal columns of a string made safe by utf8_safe (valid UTF-8). */
static size_t u8_width(const char *s)
{
    size_t w = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp = 0;
        size_t n = utf8_decode(p, SIZE_MAX, &cp);
        w += n ? cp_width(cp) : 1;
        p += n ? n : 1;
    }
    return w;
}

/* Byte offset of the longest prefix of s that fits in `cols` columns. */
static size_t u8_prefix(const char *s, size_t cols)
{
    size_t w = 0, i = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (p[i]) {
        uint32_t cp = 0;
        size_t n = utf8_decode(p + i, SIZE_MAX, &cp);
        size_t cw = n ? cp_width(cp) : 1;
        if (w + cw > cols)
            break;
        w += cw;
        i += n ? n : 1;
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

/* A printable copy of s capped at max columns (0: no cap). */
static char *cell_copy(const char *s, size_t max)
{
    if (!s || !*s)
        s = "-";
    size_t n = strlen(s);
    char *c = xmalloc(n + 4);
    utf8_safe(s, 0, c, n + 1);
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
