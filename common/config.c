#include "common/config.h"

#include "common/log.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cfg_common_opts(cfg_opt *out, herald_common_config *cfg)
{
    const cfg_opt common[CFG_COMMON_COUNT] = {
        {"--brokers", "HERALD_KAFKA_BROKERS", CFG_STRING, "localhost:9092", 0, 0, "HOST:PORT,...",
         "Kafka bootstrap servers", &cfg->kafka_brokers},
        {"--database-url", "HERALD_DATABASE_URL", CFG_STRING, "", 0, 0, "CONNINFO",
         "PostgreSQL connection string or URI (empty: libpq defaults)", &cfg->database_url},
        {"--slack-api-url", "HERALD_SLACK_API_URL", CFG_STRING, "https://slack.com/api", 0, 0,
         "URL", "base URL of the Slack Web API", &cfg->slack_api_url},
        {NULL, "HERALD_SECRET_KEY", CFG_SECRET, NULL, 0, 0, "BASE64",
         "32 random bytes, base64: encrypts bot tokens at rest", &cfg->secret_key},
        {NULL, "HERALD_SECRET_KEY_FILE", CFG_STRING, "", 0, 0, "FILE",
         "read HERALD_SECRET_KEY from this file instead", &cfg->secret_key_file},
        {NULL, "HERALD_SECRET_KEY_PREVIOUS", CFG_SECRET, NULL, 0, 0, "BASE64",
         "the key being rotated away from: opens tokens, never seals (heraldctl secrets rotate)",
         &cfg->secret_key_previous},
        {NULL, "HERALD_SECRET_KEY_PREVIOUS_FILE", CFG_STRING, "", 0, 0, "FILE",
         "read HERALD_SECRET_KEY_PREVIOUS from this file instead", &cfg->secret_key_previous_file},
        {"--log-level", "HERALD_LOG_LEVEL", CFG_LOGLEVEL, "info", 0, 0, "LEVEL",
         "debug, info, warn or error", NULL},
    };
    memcpy(out, common, sizeof common);
}

size_t cfg_common_select(cfg_opt *out, herald_common_config *cfg, unsigned which)
{
    /* In cfg_common_opts' order: brokers, database, Slack, the four secret
     * key variables, level. */
    static const unsigned bit[CFG_COMMON_COUNT] = {
        CFG_USE_KAFKA,  CFG_USE_DATABASE, CFG_USE_SLACK,  CFG_USE_SECRET,
        CFG_USE_SECRET, CFG_USE_SECRET,   CFG_USE_SECRET, 0};
    cfg_opt all[CFG_COMMON_COUNT];
    cfg_common_opts(all, cfg);
    size_t n = 0;
    for (size_t i = 0; i < CFG_COMMON_COUNT; i++)
        if (!bit[i] || (which & bit[i]))
            out[n++] = all[i];
    return n;
}

void cfg_slack_app_opts(cfg_opt *out, cfg_slack_app *app, const char *id_help)
{
    const cfg_opt opts[CFG_SLACK_APP_COUNT] = {
        {"--slack-client-id", "HERALD_SLACK_CLIENT_ID", CFG_STRING, "", 0, 0, "ID", id_help,
         &app->client_id},
        {NULL, "HERALD_SLACK_CLIENT_SECRET", CFG_SECRET, NULL, 0, 0, "SECRET",
         "Slack app client secret", &app->client_secret},
        {"--slack-client-secret-file", "HERALD_SLACK_CLIENT_SECRET_FILE", CFG_STRING, "", 0, 0,
         "FILE", "read the client secret from this file instead", &app->client_secret_file},
    };
    memcpy(out, opts, sizeof opts);
}

/* The first line of the file at path (trailing blanks dropped) into *out
 * (malloc'd); errors name var (the file's variable), never the content. */
static int read_secret_file(const char *var, const char *path, char **out, char *errstr,
                            size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(errstr, errstr_size, "%s: cannot read '%s': %s", var, path, strerror(errno));
        return -1;
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *nl = strpbrk(buf, "\r\n");
    if (nl)
        *nl = '\0';
    n = strlen(buf);
    while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    int rc = 0;
    if (!n) {
        snprintf(errstr, errstr_size, "%s: '%s' is empty", var, path);
        rc = -1;
    } else if (!(*out = strdup(buf))) {
        snprintf(errstr, errstr_size, "%s: out of memory", var);
        rc = -1;
    }
    /* Not crypto_wipe: config stays free of the crypto module; a volatile loop
     * the compiler cannot drop does the same. */
    for (volatile char *p = buf; p < buf + sizeof buf; p++)
        *p = 0;
    return rc;
}

int cfg_slack_app_secret(const cfg_slack_app *app, char **secret, char *errstr, size_t errstr_size)
{
    *secret = NULL;
    const char *path = app->client_secret_file;
    if (!path || !*path) {
        if (app->client_secret && *app->client_secret)
            *secret = strdup(app->client_secret);
        if (app->client_secret && *app->client_secret && !*secret) {
            snprintf(errstr, errstr_size, "HERALD_SLACK_CLIENT_SECRET: out of memory");
            return -1;
        }
        return 0;
    }
    return read_secret_file("HERALD_SLACK_CLIENT_SECRET_FILE", path, secret, errstr, errstr_size);
}

int cfg_secret_text(const char *var, const char *value, const char *file_var, const char *path,
                    char **text, char *errstr, size_t errstr_size)
{
    *text = NULL;
    bool has_value = value && *value, has_file = path && *path;
    if (has_value && has_file) {
        snprintf(errstr, errstr_size, "%s and %s are both set: set only one of them", var,
                 file_var);
        return -1;
    }
    if (has_file)
        return read_secret_file(file_var, path, text, errstr, errstr_size);
    if (has_value && !(*text = strdup(value))) {
        snprintf(errstr, errstr_size, "%s: out of memory", var);
        return -1;
    }
    return 0;
}

bool cfg_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return false;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* cfg_opt's bounds are longs; a duration's are milliseconds up to a year and
 * more, which needs 64 bits (Herald builds for LP64 Linux). */
_Static_assert(sizeof(long) >= sizeof(int64_t), "duration bounds in a long");

bool cfg_parse_duration(const char *s, int64_t min_ms, int64_t max_ms, int64_t *out_ms)
{
    if (!s || !*s)
        return false;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v >= 0) || isinf(v))
        return false;
    double mult = 1000; /* bare number: seconds */
    if (!strcmp(end, "ms"))
        mult = 1;
    else if (!strcmp(end, "s") || !*end)
        mult = 1000;
    else if (!strcmp(end, "m"))
        mult = 60e3;
    else if (!strcmp(end, "h"))
        mult = 3600e3;
    else if (!strcmp(end, "d"))
        mult = 86400e3;
    else
        return false;
    double ms = v * mult;
    if (ms < (double)min_ms || ms > (double)max_ms)
        return false;
    *out_ms = (int64_t)llround(ms);
    return true;
}

/* A decimal number (rates and bursts: "0.5", "20") within [min, max]. */
static bool parse_rate(const char *s, double min, double max, double *out)
{
    if (!s || !*s)
        return false;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) {
        *out = true;
        return true;
    }
    if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) {
        *out = false;
        return true;
    }
    return false;
}

/* Parses value into opt->dst; false when it is not a value of the type. */
static bool store_value(const cfg_opt *opt, const char *value)
{
    switch (opt->type) {
    case CFG_STRING:
    case CFG_SECRET:
        *(char **)opt->dst = (char *)value;
        return true;
    case CFG_INT:
        return cfg_parse_long(value, opt->min, opt->max, (long *)opt->dst);
    case CFG_BOOL:
        return parse_bool(value, (bool *)opt->dst);
    case CFG_LOGLEVEL: {
        log_level lvl;
        if (!log_level_parse(value, &lvl))
            return false;
        log_set_level(lvl);
        return true;
    }
    case CFG_DURATION:
        return cfg_parse_duration(value, opt->min, opt->max, (int64_t *)opt->dst);
    case CFG_RATE:
        return parse_rate(value, (double)opt->min, (double)opt->max, (double *)opt->dst);
    }
    return false;
}

/* What a value of opt's type looks like, for errors: "a whole number from 1 to 10". */
static const char *expected(const cfg_opt *opt, char *buf, size_t size)
{
    switch (opt->type) {
    case CFG_INT:
        snprintf(buf, size, "a whole number from %ld to %ld", opt->min, opt->max);
        return buf;
    case CFG_BOOL:
        return "true or false";
    case CFG_LOGLEVEL:
        return "debug, info, warn or error";
    case CFG_DURATION:
        snprintf(buf, size, "a duration such as 500ms, 5s, 10m, 24h (from %ldms to %ldms)",
                 opt->min, opt->max);
        return buf;
    case CFG_RATE:
        snprintf(buf, size, "a number from %g to %g", (double)opt->min, (double)opt->max);
        return buf;
    case CFG_STRING:
    case CFG_SECRET:
        break;
    }
    return "a value";
}

/* One line per option, its flag (or variable) and value padded to width,
 * then its help, variable and default; then --help. */
static void print_options(FILE *out, const cfg_opt *opts, size_t nopts, int width)
{
    for (size_t i = 0; i < nopts; i++) {
        const cfg_opt *o = &opts[i];
        char left[96];
        if (o->flag && o->type == CFG_BOOL)
            snprintf(left, sizeof left, "%s", o->flag);
        else if (o->flag)
            snprintf(left, sizeof left, "%s %s", o->flag, o->metavar ? o->metavar : "VALUE");
        else
            snprintf(left, sizeof left, "%s", o->env);
        fprintf(out, "  %-*s %s", width, left, o->help);
        if (o->flag && o->env)
            fprintf(out, " [%s]", o->env);
        if (o->def && *o->def && o->type != CFG_SECRET)
            fprintf(out, " (default: %s)", o->def);
        fputc('\n', out);
    }
    fprintf(out, "  %-*s %s\n", width, "--help", "print this help and exit");
}

/* A program's --help: "usage: ..." and one line per option, with its variable
 * and default. */
static void print_program_help(FILE *out, const char *prog, const char *usage, const cfg_opt *opts,
                               size_t nopts)
{
    fprintf(out, "usage: %s %s\n\noptions (flag / environment variable):\n", prog,
            usage ? usage : "[OPTIONS]");
    print_options(out, opts, nopts, 34);
}

void cfg_print_command_help(FILE *out, const char *prog, const cfg_command *cmd,
                            const cfg_opt *opts, size_t nopts)
{
    fprintf(out, "usage: %s %s%s%s\n\n%s\n", prog, cmd->name, cmd->args && *cmd->args ? " " : "",
            cmd->args ? cmd->args : "", cmd->summary);
    if (nopts)
        fprintf(out, "\noptions:\n");
    /* Narrower than a program's: subcommand flags carry no variables. */
    print_options(out, opts, nopts, 28);
}

/*
 * One parse, of a program's options (cmd NULL) or of a subcommand's. The two
 * differ where people type them differently (see cfg_parse_command) and in
 * the wording of their errors, which scripts and tests already read: a
 * program's say "SOURCE: invalid value 'V': expected X", a subcommand's
 * "FLAG: 'V' is not X".
 */
typedef struct parser {
    const char *prog;
    const char *usage;      /* programs */
    const cfg_command *cmd; /* subcommands */
    const cfg_opt *opts;
    size_t nopts;
    const char **pos; /* subcommands: positional arguments */
    size_t max_pos, *npos;
    char *errstr;
    size_t errstr_size;
} parser;

/* Stores value into opt->dst; `source` names where it came from for errors. */
static bool apply(const parser *p, const cfg_opt *opt, const char *value, const char *source)
{
    if (store_value(opt, value))
        return true;
    char buf[128];
    if (p->cmd)
        snprintf(p->errstr, p->errstr_size, "%s: '%s' is not %s", source, value,
                 expected(opt, buf, sizeof buf));
    else
        snprintf(p->errstr, p->errstr_size, "%s: invalid value '%s': expected %s", source, value,
                 expected(opt, buf, sizeof buf));
    return false;
}

static bool is_help(const char *a)
{
    return !strcmp(a, "--help") || !strcmp(a, "-h");
}

/* A word that is not a flag: "-" alone is a value (standard input). */
static bool is_positional(const char *a)
{
    return a[0] != '-' || a[1] == '\0';
}

/* The option whose flag is the first len characters of a. */
static const cfg_opt *find_flag(const parser *p, const char *a, size_t len)
{
    for (size_t k = 0; k < p->nopts; k++)
        if (p->opts[k].flag && strlen(p->opts[k].flag) == len && !strncmp(p->opts[k].flag, a, len))
            return &p->opts[k];
    return NULL;
}

static void print_help(const parser *p)
{
    if (p->cmd)
        cfg_print_command_help(stdout, p->prog, p->cmd, p->opts, p->nopts);
    else
        print_program_help(stdout, p->prog, p->usage, p->opts, p->nopts);
}

/* A program's --help wins over everything before it is parsed, even a bad
 * variable in the environment: someone asking for help should get it. */
static bool help_among_flags(const parser *p, int argc, char **argv, int argi)
{
    for (int k = argi; k < argc; k++) {
        const char *a = argv[k];
        if (!strcmp(a, "--") || is_positional(a))
            return false;
        if (is_help(a))
            return true;
        /* Skip a flag's separate value, as the parse will. */
        const cfg_opt *o = strchr(a, '=') ? NULL : find_flag(p, a, strlen(a));
        if (o && o->type != CFG_BOOL)
            k++;
    }
    return false;
}

static cfg_result parse(const parser *p, int argc, char **argv, int *argi)
{
    if (p->nopts > CFG_COMMAND_MAX_OPTS && p->cmd) {
        snprintf(p->errstr, p->errstr_size, "too many options");
        return CFG_ERROR;
    }
    if (!p->cmd && help_among_flags(p, argc, argv, *argi)) {
        print_help(p);
        return CFG_HELP;
    }
    for (size_t i = 0; i < p->nopts; i++) {
        const cfg_opt *o = &p->opts[i];
        if (o->type == CFG_BOOL && o->dst)
            *(bool *)o->dst = false;
        if (o->def && !apply(p, o, o->def, "default"))
            return CFG_ERROR;
        const char *ev = o->env ? getenv(o->env) : NULL;
        if (ev && !apply(p, o, ev, o->env))
            return CFG_ERROR;
    }
    bool given[CFG_COMMAND_MAX_OPTS] = {false};
    bool flags_done = false;
    int i = *argi;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!flags_done && !strcmp(a, "--")) {
            flags_done = true;
            if (!p->cmd) {
                i++;
                break;
            }
            continue;
        }
        if (flags_done || is_positional(a)) {
            if (!p->cmd)
                break; /* a program's first positional argument */
            if (*p->npos >= p->max_pos) {
                snprintf(p->errstr, p->errstr_size, "unexpected argument '%s'", a);
                return CFG_ERROR;
            }
            p->pos[(*p->npos)++] = a;
            continue;
        }
        if (is_help(a)) {
            print_help(p);
            return CFG_HELP;
        }
        const char *eq = strchr(a, '=');
        size_t namelen = eq ? (size_t)(eq - a) : strlen(a);
        const cfg_opt *o = find_flag(p, a, namelen);
        if (!o) {
            snprintf(p->errstr, p->errstr_size, "unknown flag '%.*s' (see --help)", (int)namelen,
                     a);
            return CFG_ERROR;
        }
        if (p->cmd) {
            size_t idx = (size_t)(o - p->opts);
            if (given[idx]) {
                snprintf(p->errstr, p->errstr_size, "%s given more than once", o->flag);
                return CFG_ERROR;
            }
            given[idx] = true;
        }
        const char *value;
        if (o->type == CFG_BOOL && !eq) {
            value = "true";
        } else if (o->type == CFG_BOOL && p->cmd) {
            snprintf(p->errstr, p->errstr_size, "%s takes no value", o->flag);
            return CFG_ERROR;
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else if (p->cmd) {
            snprintf(p->errstr, p->errstr_size, "%s needs a value (%s)", o->flag,
                     o->metavar ? o->metavar : "VALUE");
            return CFG_ERROR;
        } else {
            snprintf(p->errstr, p->errstr_size, "flag %s needs a value", o->flag);
            return CFG_ERROR;
        }
        if (!apply(p, o, value, o->flag))
            return CFG_ERROR;
    }
    *argi = i;
    return CFG_OK;
}

cfg_result cfg_parse(const char *prog, const char *usage, const cfg_opt *opts, size_t nopts,
                     int argc, char **argv, int *argi, char *errstr, size_t errstr_size)
{
    const parser p = {.prog = prog,
                      .usage = usage,
                      .opts = opts,
                      .nopts = nopts,
                      .errstr = errstr,
                      .errstr_size = errstr_size};
    return parse(&p, argc, argv, argi);
}

cfg_result cfg_parse_command(const char *prog, const cfg_command *cmd, const cfg_opt *opts,
                             size_t nopts, int argc, char **argv, const char **pos, size_t max_pos,
                             size_t *npos, char *errstr, size_t errstr_size)
{
    *npos = 0;
    const parser p = {.prog = prog,
                      .cmd = cmd,
                      .opts = opts,
                      .nopts = nopts,
                      .pos = pos,
                      .max_pos = max_pos,
                      .npos = npos,
                      .errstr = errstr,
                      .errstr_size = errstr_size};
    int argi = 0;
    return parse(&p, argc, argv, &argi);
}

int cfg_parse_or_exit_code(const char *prog, const char *usage, const cfg_opt *opts, size_t nopts,
                           int argc, char **argv, int *argi)
{
    char err[512];
    switch (cfg_parse(prog, usage, opts, nopts, argc, argv, argi, err, sizeof err)) {
    case CFG_OK:
        return -1;
    case CFG_HELP:
        return 0;
    case CFG_ERROR:
    default:
        fprintf(stderr, "%s: %s\n", prog, err);
        return 2;
    }
}
