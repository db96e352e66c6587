#ifndef HERALD_CTL_INTERNAL_H
#define HERALD_CTL_INTERNAL_H

/*
 * Shared by heraldctl's command modules (workers/heraldctl/ctl_*.c) only: how a store
 * outcome becomes one line on stderr and an exit code, and the argument
 * helpers every command uses. Messages start with CTL_PROG.
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

/* Connects to cfg->database_url; on failure prints one line naming cmd and
 * returns NULL. */
PGconn *ctl_connect(const herald_common_config *cfg, const char *cmd);

/* Prints a store failure as one line "heraldctl <cmd>: ...", naming the flag
 * (through map, may be NULL) for invalid input; returns the exit code: 2 for
 * bad input (a usage error), else 1. */
int ctl_report(const char *cmd, store_status st, const char *errstr, const ctl_flag_map *map);

/* Loads HERALD_SECRET_KEY (why: what needs it, for the message); returns 0
 * or the exit code (2: missing or bad). */
int ctl_load_key(const herald_common_config *cfg, const char *cmd, const char *why,
                 unsigned char key[CRYPTO_KEY_LEN]);

/* cli_parse_or_exit for a command whose one argument is an id (what:
 * "target id"), a positive whole number: returns -1 with *id set, else the
 * exit code (printed). */
int ctl_parse_id_command(const cli_command *c, const cfg_opt *opts, size_t nopts, int argc,
                         char **argv, const char *what, int64_t *id);

/* Prints j (indented) and a newline on stdout; takes ownership of j. */
void ctl_print_json(cJSON *j);

#endif
