/* heraldctl's shared helpers (workers/heraldctl/ctl_internal.h) and `migrate`. */

#include "workers/heraldctl/ctl.h"
#include "workers/heraldctl/ctl_internal.h"

#include "workers/heraldctl/cli.h"
#include "common/db.h"
#include "common/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ helpers */

/* The exit code for a store outcome: bad input is a usage error. */
static int exit_code(store_status st)
{
    return st == STORE_OK ? 0 : st == STORE_INVALID ? 2 : 1;
}

/* Prints a store failure as one line, naming the flag for invalid input. */
int ctl_report(const char *cmd, store_status st, const char *errstr, const ctl_flag_map *map)
{
    if (st == STORE_INVALID && map) {
        char field[64];
        const char *reason = store_invalid_field(errstr, field, sizeof field);
        for (const ctl_flag_map *m = map; m->field; m++) {
            if (!strcmp(m->field, field)) {
                fprintf(stderr, "%s %s: %s: %s\n", CTL_PROG, cmd, m->flag, reason);
                return exit_code(st);
            }
        }
    }
    fprintf(stderr, "%s %s: %s\n", CTL_PROG, cmd, errstr);
    return exit_code(st);
}

PGconn *ctl_connect(const herald_common_config *cfg, const char *cmd)
{
    char err[512];
    PGconn *conn = db_connect(cfg->database_url, err, sizeof err);
    if (!conn) {
        /* libpq's message spans lines ("...failed: Connection refused\n\tIs the
         * server running..."): one line, as every error here. */
        size_t o = 0;
        for (size_t i = 0; err[i]; i++) {
            bool space = err[i] == '\n' || err[i] == '\t' || err[i] == '\r' || err[i] == ' ';
            if (space && (o == 0 || err[o - 1] == ' '))
                continue;
            err[o++] = space ? ' ' : err[i];
        }
        while (o > 0 && err[o - 1] == ' ')
            o--;
        err[o] = '\0';
        fprintf(stderr, "%s %s: %s\n", CTL_PROG, cmd, err);
    }
    return conn;
}

/* Loads HERALD_SECRET_KEY; returns 0 or the exit code (2: missing or bad). */
int ctl_load_key(const herald_common_config *cfg, const char *cmd, const char *why,
                 unsigned char key[CRYPTO_KEY_LEN])
{
    char err[256];
    if (crypto_key_from_base64(cfg->secret_key, key, err, sizeof err)) {
        fprintf(stderr, "%s %s: %s (%s)\n", CTL_PROG, cmd, err, why);
        return 2;
    }
    return 0;
}

/* An id argument (what: "target id"): a positive whole number. Returns -1 to
 * go on, else the exit code (2, printed). */
static int parse_id(const char *cmd, const char *what, const char *s, int64_t *id)
{
    long v;
    if (!s)
        return cli_usage_error(CTL_PROG, cmd, "missing %s (see --help)", what);
    if (!cfg_parse_long(s, 1, INT64_MAX, &v)) {
        char safe[80];
        return cli_usage_error(CTL_PROG, cmd, "'%s' is not a %s (a positive whole number)",
                               utf8_safe(s, 0, safe, sizeof safe), what);
    }
    *id = v;
    return -1;
}

int ctl_parse_id_command(const cli_command *c, const cfg_opt *opts, size_t nopts, int argc,
                         char **argv, const char *what, int64_t *id)
{
    const char *pos[1] = {NULL};
    size_t npos;
    int rc = cli_parse_or_exit(CTL_PROG, c, opts, nopts, argc, argv, pos, 1, &npos);
    if (rc >= 0)
        return rc;
    return parse_id(c->name, what, pos[0], id);
}

void ctl_print_json(cJSON *j)
{
    char *s = cJSON_Print(j);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
    }
    cJSON_free(s);
    cJSON_Delete(j);
}

/* ================================================================ migrate */

int ctl_migrate(void *ctx, int argc, char **argv)
{
    const herald_common_config *cfg = ctx;
    static const cli_command c = {"migrate", "",
                                  "Applies the database migrations not yet applied (safe to run "
                                  "any number of times) and prints the schema version."};
    size_t npos;
    int rc = cli_parse_or_exit(CTL_PROG, &c, NULL, 0, argc, argv, NULL, 0, &npos);
    if (rc >= 0)
        return rc;
    PGconn *conn = ctl_connect(cfg, c.name);
    if (!conn)
        return 1;
    char err[512];
    int applied = 0;
    if (db_migrate(conn, &applied, err, sizeof err)) {
        fprintf(stderr, "%s migrate: %s\n", CTL_PROG, err);
        PQfinish(conn);
        return 1;
    }
    PGresult *r = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_error(conn, r, err, sizeof err);
        fprintf(stderr, "%s migrate: %s\n", CTL_PROG, err);
        PQclear(r);
        PQfinish(conn);
        return 1;
    }
    long version = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(conn);
    if (applied > 0)
        printf("applied %d migration%s (schema version %ld)\n", applied, applied == 1 ? "" : "s",
               version);
    else
        printf("schema up to date (version %ld)\n", version);
    return 0;
}
