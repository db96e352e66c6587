#ifndef HERALD_CLI_H
#define HERALD_CLI_H

/*
 * What heraldctl's commands share beyond common/config.h's flag parser: the
 * command table and its dispatch, errors safe to print, aligned text tables
 * that are safe to print (control characters never reach the terminal), and
 * the time formats people type and read.
 */

#include "common/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---------------------------------------------------------------- flags */

/* A subcommand describes itself for --help with a cfg_command and takes its
 * flags from a cfg_opt table (common/config.h). */

/*
 * cfg_parse_command, with the error made safe to print: the words quoted in
 * it (an unknown flag, a bad value) come from whoever typed them, and their
 * control characters must not reach the terminal (see utf8_safe in common/utf8.h).
 */
cfg_result cli_parse(const char *prog, const cfg_command *cmd, const cfg_opt *opts, size_t nopts,
                     int argc, char **argv, const char **pos, size_t max_pos, size_t *npos,
                     char *errstr, size_t errstr_size);

/*
 * The usual way to run cli_parse in a subcommand: returns -1 when the
 * arguments parsed (go on), 0 after --help, or 2 after printing the error as
 * "<prog> <command>: <error>" on stderr (the exit code).
 */
int cli_parse_or_exit(const char *prog, const cfg_command *cmd, const cfg_opt *opts, size_t nopts,
                      int argc, char **argv, const char **pos, size_t max_pos, size_t *npos);

/* Prints "<prog> <cmd>: <message>" on stderr and returns 2 (a usage error). */
int cli_usage_error(const char *prog, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- commands */

/* One entry of a program's command table: "migrate", or "target add" (a
 * subcommand of a group). */
typedef struct cli_subcommand {
    const char *group; /* "target", or NULL for a top-level command */
    const char *name;
    /* ctx as given to cli_dispatch, and the words after the name; returns the exit code */
    int (*run)(void *ctx, int argc, char **argv);
    const char *usage;   /* for the command list in --help */
    const char *summary; /* one line */
} cli_subcommand;

/* "\ncommands (each answers --help):\n" and each command's usage and summary. */
void cli_print_commands(FILE *out, const cli_subcommand *cmds, size_t n);

/*
 * Runs the command that argv[0] (and argv[1] for a group) names with ctx and
 * the words after it and returns its exit code. "GROUP --help" lists the group's
 * subcommands (exit 0); a missing or unknown command or subcommand is one
 * line on stderr naming it and exit 2.
 */
int cli_dispatch(const char *prog, const cli_subcommand *cmds, size_t n, void *ctx, int argc,
                 char **argv);

/* ---------------------------------------------------------------- tables */

typedef struct cli_table cli_table;

/* A table with ncols columns and these headers (copied). */
cli_table *cli_table_new(size_t ncols, const char *const *headers);
/* Caps a column at width characters; longer cells end in "...". 0: no cap. */
void cli_table_set_max_width(cli_table *t, size_t col, size_t width);
/* Appends a row of ncols cells (copied); NULL or "" prints as "-". Control
 * characters are shown as '?'. */
void cli_table_add(cli_table *t, const char *const *cells);
size_t cli_table_rows(const cli_table *t);
/* Prints the header and rows, columns separated by two spaces and padded by
 * characters (UTF-8 aware), without trailing spaces. */
void cli_table_print(const cli_table *t, FILE *out);
void cli_table_destroy(cli_table *t); /* NULL-safe */

/* ---------------------------------------------------------------- text and time */

/* "2026-11-29 08:40:05Z" (UTC) into buf; "-" when ms is 0. */
const char *cli_time_format(int64_t ms, char *buf, size_t size);

/*
 * A point in time as people type it: a duration back from now_ms ("90s",
 * "15m", "24h", "7d"), a date ("2026-11-28", UTC midnight) or an RFC 3339
 * timestamp ("2026-11-28T09:00:00Z"). False on anything else.
 */
bool cli_parse_since(const char *s, int64_t now_ms, int64_t *out_ms);

#endif
