#include "common/config.h"

#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <limits.h>
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
        {"--log-level", "HERALD_LOG_LEVEL", CFG_LOGLEVEL, "info", 0, 0, "LEVEL",
         "debug, info, warn or error", NULL},
    };
    memcpy(out, common, sizeof common);
}

size_t cfg_common_select(cfg_opt *out, herald_common_config *cfg, unsigned which)
{
    /* In cfg_common_opts' order: brokers, database, Slack, secret, level. */
    static const unsigned bit[CFG_COMMON_COUNT] = {CFG_USE_KAFKA, CFG_USE_DATABASE, CFG_USE_SLACK,
                                                   CFG_USE_SECRET, 0};
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
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(errstr, errstr_size, "HERALD_SLACK_CLIENT_SECRET_FILE: cannot read '%s': %s", path,
                 strerror(errno));
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
        snprintf(errstr, errstr_size, "HERALD_SLACK_CLIENT_SECRET_FILE: '%s' is empty", path);
        rc = -1;
    } else if (!(*secret = strdup(buf))) {
        snprintf(errstr, errstr_size, "HERALD_SLACK_CLIENT_SECRET_FILE: out of memory");
        rc = -1;
    }
    /* Not crypto_wipe: config stays free of the crypto module; a volatile loop
     * the compiler cannot drop does the same. */
    for (volatile char *p = buf; p < buf + sizeof buf; p++)
        *p = 0;
    return rc;
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

/* Stores value into opt->dst; `source` names where it came from for errors. */
static bool apply(const cfg_opt *opt, const char *value, const char *source, char *errstr,
                  size_t errstr_size)
{
    switch (opt->type) {
    case CFG_STRING:
    case CFG_SECRET:
        *(char **)opt->dst = (char *)value;
        return true;
    case CFG_INT:
        if (!cfg_parse_long(value, opt->min, opt->max, (long *)opt->dst)) {
            snprintf(errstr, errstr_size,
                     "%s: invalid value '%s': expected a whole number from %ld to %ld", source,
                     value, opt->min, opt->max);
            return false;
        }
        return true;
    case CFG_BOOL:
        if (!parse_bool(value, (bool *)opt->dst)) {
            snprintf(errstr, errstr_size, "%s: invalid value '%s': expected true or false", source,
                     value);
            return false;
        }
        return true;
    case CFG_LOGLEVEL: {
        log_level lvl;
        if (!log_level_parse(value, &lvl)) {
            snprintf(errstr, errstr_size,
                     "%s: invalid value '%s': expected debug, info, warn or error", source, value);
            return false;
        }
        log_set_level(lvl);
        return true;
    }
    }
    return false;
}

cfg_result cfg_parse(const char *prog, const char *usage, const cfg_opt *opts, size_t nopts,
                     int argc, char **argv, int *argi, char *errstr, size_t errstr_size)
{
    /* --help wins over everything, even a bad variable in the environment:
     * someone asking for help should get it. */
    for (int k = *argi; k < argc; k++) {
        const char *a = argv[k];
        if (!strcmp(a, "--") || a[0] != '-' || a[1] == '\0')
            break;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cfg_print_help(stdout, prog, usage, opts, nopts);
            return CFG_HELP;
        }
        /* Skip a flag's separate value, as the parse below will. */
        for (size_t o = 0; o < nopts && !strchr(a, '='); o++) {
            if (opts[o].flag && opts[o].type != CFG_BOOL && !strcmp(opts[o].flag, a)) {
                k++;
                break;
            }
        }
    }
    for (size_t i = 0; i < nopts; i++) {
        const cfg_opt *o = &opts[i];
        if (o->type == CFG_BOOL && o->dst)
            *(bool *)o->dst = false;
        if (o->def && !apply(o, o->def, "default", errstr, errstr_size))
            return CFG_ERROR;
        const char *ev = o->env ? getenv(o->env) : NULL;
        if (ev && !apply(o, ev, o->env, errstr, errstr_size))
            return CFG_ERROR;
    }
    int i = *argi;
    while (i < argc) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break; /* first positional argument */
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cfg_print_help(stdout, prog, usage, opts, nopts);
            return CFG_HELP;
        }
        const char *eq = strchr(a, '=');
        size_t namelen = eq ? (size_t)(eq - a) : strlen(a);
        const cfg_opt *o = NULL;
        for (size_t k = 0; k < nopts; k++) {
            if (opts[k].flag && strlen(opts[k].flag) == namelen &&
                !strncmp(opts[k].flag, a, namelen)) {
                o = &opts[k];
                break;
            }
        }
        if (!o) {
            snprintf(errstr, errstr_size, "unknown flag '%.*s' (see --help)", (int)namelen, a);
            return CFG_ERROR;
        }
        char flagname[64];
        snprintf(flagname, sizeof flagname, "%s", o->flag);
        const char *value;
        if (o->type == CFG_BOOL && !eq) {
            value = "true";
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(errstr, errstr_size, "flag %s needs a value", flagname);
            return CFG_ERROR;
        }
        if (!apply(o, value, flagname, errstr, errstr_size))
            return CFG_ERROR;
        i++;
    }
    *argi = i;
    return CFG_OK;
}

void cfg_print_help(FILE *out, const char *prog, const char *usage, const cfg_opt *opts,
                    size_t nopts)
{
    fprintf(out, "usage: %s %s\n\noptions (flag / environment variable):\n", prog,
            usage ? usage : "[OPTIONS]");
    for (size_t i = 0; i < nopts; i++) {
        const cfg_opt *o = &opts[i];
        char left[96];
        if (o->flag && o->type == CFG_BOOL)
            snprintf(left, sizeof left, "%s", o->flag);
        else if (o->flag)
            snprintf(left, sizeof left, "%s %s", o->flag, o->metavar ? o->metavar : "VALUE");
        else
            snprintf(left, sizeof left, "%s", o->env);
        fprintf(out, "  %-34s %s", left, o->help);
        if (o->flag && o->env)
            fprintf(out, " [%s]", o->env);
        if (o->def && *o->def && o->type != CFG_SECRET)
            fprintf(out, " (default: %s)", o->def);
        fputc('\n', out);
    }
    fprintf(out, "  %-34s %s\n", "--help", "print this help and exit");
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
