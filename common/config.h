#ifndef HERALD_CONFIG_H
#define HERALD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Configuration as a table: each option names its flag, its environment
 * variable, its type, default, bounds and help, so --help, the README and the
 * parser come from one place. Environment is applied first, then flags.
 */
typedef enum cfg_type {
    CFG_STRING,   /* dst: char ** (points into argv/environ/default; not owned) */
    CFG_SECRET,   /* as CFG_STRING but never printed, not even its default */
    CFG_INT,      /* dst: long *, checked against [min, max] */
    CFG_BOOL,     /* dst: bool *; as a flag it takes no value; env: 1/0/true/false */
    CFG_LOGLEVEL, /* dst: NULL; sets the log threshold */
    CFG_DURATION, /* dst: int64_t * in milliseconds, within [min, max] ms (cfg_parse_duration) */
    CFG_RATE      /* dst: double *, a decimal number within [min, max]: events per the unit the
                     flag names (--channel-rate PER_SEC, --lookup-rate-per-minute), or a burst */
} cfg_type;

typedef struct cfg_opt {
    const char *flag; /* "--metrics-addr", or NULL for environment only */
    const char *env;  /* "HERALD_METRICS_ADDR", or NULL for flag only */
    cfg_type type;
    const char *def; /* default as text, or NULL for none */
    long min, max;   /* bounds for CFG_INT, CFG_DURATION (ms) and CFG_RATE */
    const char *metavar;
    const char *help;
    void *dst;
} cfg_opt;

/* The variables every program reads (design.md); fill with cfg_common_opts(). */
typedef struct herald_common_config {
    char *kafka_brokers;
    char *database_url;
    char *slack_api_url;
    char *secret_key;               /* SECRET: HERALD_SECRET_KEY */
    char *secret_key_file;          /* HERALD_SECRET_KEY_FILE: the key in a file instead */
    char *secret_key_previous;      /* SECRET: HERALD_SECRET_KEY_PREVIOUS (opens only) */
    char *secret_key_previous_file; /* HERALD_SECRET_KEY_PREVIOUS_FILE */
} herald_common_config;

/* Which of the common variables a program reads (the log level always). */
enum {
    CFG_USE_KAFKA = 1u << 0,    /* HERALD_KAFKA_BROKERS / --brokers */
    CFG_USE_DATABASE = 1u << 1, /* HERALD_DATABASE_URL / --database-url */
    CFG_USE_SLACK = 1u << 2,    /* HERALD_SLACK_API_URL / --slack-api-url */
    CFG_USE_SECRET = 1u << 3,   /* HERALD_SECRET_KEY[_FILE], HERALD_SECRET_KEY_PREVIOUS[_FILE] */
};

/* Writes the common options a program reads (`which`: CFG_USE_* bits), plus
 * --log-level, into out (room for CFG_COMMON_COUNT); returns how many, so
 * --help lists only what the program really reads. */
size_t cfg_common_select(cfg_opt *out, herald_common_config *cfg, unsigned which);

/* Number of entries cfg_common_opts writes. */
#define CFG_COMMON_COUNT 8
/* Writes the common options (brokers, database, Slack API URL, the four
 * secret key variables, log level) into out[0..CFG_COMMON_COUNT), pointing at
 * cfg's fields. */
void cfg_common_opts(cfg_opt *out, herald_common_config *cfg);

/*
 * The Slack app's credentials, one definition for every program that needs
 * them: herald-api (the OAuth install) and herald-slack (refreshing rotating
 * tokens). --slack-client-id / HERALD_SLACK_CLIENT_ID, HERALD_SLACK_CLIENT_SECRET
 * (environment only: a secret never goes on a command line) and
 * --slack-client-secret-file / HERALD_SLACK_CLIENT_SECRET_FILE.
 */
typedef struct cfg_slack_app {
    char *client_id;
    char *client_secret; /* SECRET */
    char *client_secret_file;
} cfg_slack_app;

#define CFG_SLACK_APP_COUNT 3
/* Writes the three options into out[0..CFG_SLACK_APP_COUNT), pointing at app's
 * fields; id_help says what an empty client id means for the program. */
void cfg_slack_app_opts(cfg_opt *out, cfg_slack_app *app, const char *id_help);

/*
 * The client secret after parsing: the first line of client_secret_file
 * (trailing blanks dropped) when set, else client_secret. *secret is malloc'd
 * (wipe it with crypto_wipe before free) or NULL when neither is set. 0, or -1
 * with one line in errstr naming HERALD_SLACK_CLIENT_SECRET_FILE (never the
 * secret).
 */
int cfg_slack_app_secret(const cfg_slack_app *app, char **secret, char *errstr, size_t errstr_size);

/*
 * A secret given either as a variable (var, its value) or as a file
 * (file_var, its path): *text (malloc'd; wipe it before free) gets the
 * value, or the first line of the file (trailing blanks dropped), or NULL
 * when neither is set. 0, or -1 with one line naming the variables (both
 * set) or the file variable (unreadable, empty), never the secret.
 */
int cfg_secret_text(const char *var, const char *value, const char *file_var, const char *path,
                    char **text, char *errstr, size_t errstr_size);

typedef enum cfg_result {
    CFG_OK = 0, /* parsed; *argi is the first positional argument */
    CFG_HELP,   /* --help or -h was given: help already printed to stdout */
    CFG_ERROR   /* errstr holds one line naming the bad flag or value */
} cfg_result;

/*
 * A program's options: applies defaults, then the environment, then flags
 * from argv[*argi] up to the first argument that is not a flag (or "--"). A
 * flag given twice keeps its last value; a CFG_BOOL flag also takes
 * "--flag=false". On return *argi indexes the first positional argument.
 * Errors read "SOURCE: invalid value 'V': expected ...", SOURCE being the
 * flag or the variable. --help prints "usage: PROG USAGE" and one line per
 * option, with its variable and default.
 */
cfg_result cfg_parse(const char *prog, const char *usage, const cfg_opt *opts, size_t nopts,
                     int argc, char **argv, int *argi, char *errstr, size_t errstr_size);

/* What --help says about one subcommand of a program (heraldctl's "target add"). */
typedef struct cfg_command {
    const char *name;    /* "target add" */
    const char *args;    /* usage after the name: "--tenant T --workspace TEAM_ID ..." */
    const char *summary; /* one paragraph */
} cfg_command;

/* Most flags one subcommand may have. */
#define CFG_COMMAND_MAX_OPTS 64

/*
 * A subcommand's words argv[0..argc) (those after its name), with the same
 * table and types as cfg_parse, but the way people type commands: flags may
 * come before, between or after the positional arguments, which go to
 * pos[0..max_pos) (*npos counts them; one more is an error naming it); "--"
 * ends the flags; each flag may be given once; a CFG_BOOL flag takes no
 * value. Flags without a default or a variable leave their dst untouched when
 * absent. Errors read "FLAG: 'V' is not ..." and quote the words as given
 * (the caller makes them safe to print).
 */
cfg_result cfg_parse_command(const char *prog, const cfg_command *cmd, const cfg_opt *opts,
                             size_t nopts, int argc, char **argv, const char **pos, size_t max_pos,
                             size_t *npos, char *errstr, size_t errstr_size);

/* "usage: PROG NAME ARGS", the summary and one line per flag. */
void cfg_print_command_help(FILE *out, const char *prog, const cfg_command *cmd,
                            const cfg_opt *opts, size_t nopts);

/* Parses a whole decimal number within [min, max]; false on anything else. */
bool cfg_parse_long(const char *s, long min, long max, long *out);

/*
 * Parses a duration into milliseconds within [min_ms, max_ms]: a decimal
 * number and a unit, ms, s, m, h or d ("500ms", "1.5s", "10m", "24h", "7d");
 * a bare number is seconds. False on anything else.
 */
bool cfg_parse_duration(const char *s, int64_t min_ms, int64_t max_ms, int64_t *out_ms);

/* Standard handling in main(): parse, print help or the one-line error.
 * Returns -1 to continue, otherwise the exit code to return (0 help, 2 error). */
int cfg_parse_or_exit_code(const char *prog, const char *usage, const cfg_opt *opts, size_t nopts,
                           int argc, char **argv, int *argi);

#endif
