#ifndef HERALD_CTL_INTERNAL_H
#define HERALD_CTL_INTERNAL_H

/*
 * Shared by heraldctl's command modules (workers/heraldctl/ctl_*.c) only: the
 * steps every command is built from (parse its arguments, connect, turn the
 * store's answer into one line on stderr and an exit code, close), and the
 * argument helpers. Messages start with CTL_PROG.
 */

#include "workers/heraldctl/cli.h"
#include "common/config.h"
#include "common/crypto.h"
#include "store/store.h"

#include <cJSON.h>
#include <stdint.h>

#define CTL_PROG "heraldctl"

/* Maps a store field to the flag that carries it in one command. */
typedef struct ctl_flag_map {
    const char *field;
    const char *flag;
} ctl_flag_map;

/*
 * The steps every command is built from, so that a command's body is its own
 * logic: each returns -1 to go on, else the exit code to return (a message,
 * if any, already printed). Chain them: if (rc >= 0 || (rc = ...) >= 0).
 */

/* cli_parse_or_exit under CTL_PROG: the command's flags, and up to max_pos
 * words into pos (NULL, 0: none). 0 after --help, 2 for a usage error. */
int ctl_parse(const cfg_command *c, const cfg_opt *opts, size_t nopts, int argc, char **argv,
              const char **pos, size_t max_pos);

/* Connects to cfg->database_url into *conn; on failure prints one line naming
 * cmd, sets *conn to NULL and returns 1. */
int ctl_open(const herald_common_config *cfg, const char *cmd, PGconn **conn);

/* ctl_parse (no words) then ctl_open: a command that goes straight to the
 * database. */
int ctl_parse_open(const herald_common_config *cfg, const cfg_command *c, const cfg_opt *opts,
                   size_t nopts, int argc, char **argv, PGconn **conn);

/* Closes conn (NULL: nothing to close) after the command's store call and
 * reports st: -1 on STORE_OK, else ctl_report's exit code. */
int ctl_close(PGconn *conn, const char *cmd, store_status st, const char *errstr,
              const ctl_flag_map *map);

/* Prints a store failure as one line "heraldctl <cmd>: ...", naming the flag
 * (through map, may be NULL) for invalid input; returns the exit code: 2 for
 * bad input (a usage error), else 1. */
int ctl_report(const char *cmd, store_status st, const char *errstr, const ctl_flag_map *map);

/* Loads the keyring: HERALD_SECRET_KEY or _FILE, HERALD_SECRET_KEY_PREVIOUS
 * or _FILE (why: what needs it, for the message); returns 0 or the exit code
 * (2: missing or bad). */
int ctl_load_key(const herald_common_config *cfg, const char *cmd, const char *why,
                 crypto_keyring *key);

/* After `migrate`: when HERALD_SECRET_KEY (or _FILE) is set, re-seals the
 * stored secrets not yet in the current form and prints the counts. -1 to go
 * on, else the exit code (2: bad key, 1: database). */
int ctl_secrets_after_migrate(const herald_common_config *cfg, PGconn *conn);

/* The value of a --since option (NULL: not given, *since_ms = 0): a
 * duration back from now (24h, 7d...), a date or an RFC 3339 time. -1 with
 * *since_ms set, else 2 after one line naming the value. */
int ctl_parse_since(const cfg_command *c, const char *value, int64_t *since_ms);

/* cli_parse_or_exit for a command whose one argument is an id (what:
 * "target id"), a positive whole number: returns -1 with *id set, else the
 * exit code (printed). */
int ctl_parse_id_command(const cfg_command *c, const cfg_opt *opts, size_t nopts, int argc,
                         char **argv, const char *what, int64_t *id);

/* Prints j (indented) and a newline on stdout; takes ownership of j. */
void ctl_print_json(cJSON *j);

/* One "label  value" line of a show command, the label padded to width; the
 * value made safe for a terminal (utf8_safe), "-" when NULL or empty. */
void ctl_show_line(int width, const char *label, const char *value);

#endif
