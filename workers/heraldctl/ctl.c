/* heraldctl's shared helpers (workers/heraldctl/ctl_internal.h) and `migrate`. */

#include "workers/heraldctl/ctl.h"
#include "workers/heraldctl/ctl_internal.h"

#include "workers/heraldctl/cli.h"
#include "common/db.h"
#include "common/utf8.h"
#include "common/util.h"

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

/* Connects to cfg->database_url; on failure prints one line naming cmd and
 * returns NULL. */
static PGconn *connect_db(const herald_common_config *cfg, const char *cmd)
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

int ctl_parse(const cfg_command *c, const cfg_opt *opts, size_t nopts, int argc, char **argv,
              const char **pos, size_t max_pos)
{
    size_t npos;
    return cli_parse_or_exit(CTL_PROG, c, opts, nopts, argc, argv, pos, max_pos, &npos);
}

int ctl_open(const herald_common_config *cfg, const char *cmd, PGconn **conn)
{
    *conn = connect_db(cfg, cmd);
    return *conn ? -1 : 1;
}

int ctl_parse_open(const herald_common_config *cfg, const cfg_command *c, const cfg_opt *opts,
                   size_t nopts, int argc, char **argv, PGconn **conn)
{
    int rc = ctl_parse(c, opts, nopts, argc, argv, NULL, 0);
    return rc >= 0 ? rc : ctl_open(cfg, c->name, conn);
}

int ctl_close(PGconn *conn, const char *cmd, store_status st, const char *errstr,
              const ctl_flag_map *map)
{
    PQfinish(conn);
    return st == STORE_OK ? -1 : ctl_report(cmd, st, errstr, map);
}

/* Loads the keyring (HERALD_SECRET_KEY...); returns 0 or the exit code (2: missing or bad). */
int ctl_load_key(const herald_common_config *cfg, const char *cmd, const char *why,
                 crypto_keyring *key)
{
    char err[256];
    if (crypto_keyring_load(key, cfg, err, sizeof err)) {
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

int ctl_parse_id_command(const cfg_command *c, const cfg_opt *opts, size_t nopts, int argc,
                         char **argv, const char *what, int64_t *id)
{
    const char *pos[1] = {NULL};
    int rc = ctl_parse(c, opts, nopts, argc, argv, pos, 1);
    return rc >= 0 ? rc : parse_id(c->name, what, pos[0], id);
}

int ctl_parse_since(const cfg_command *c, const char *value, int64_t *since_ms)
{
    *since_ms = 0;
    if (!value || cli_parse_since(value, util_now_wall_ms(), since_ms))
        return -1;
    char safe[80];
    return cli_usage_error(CTL_PROG, c->name,
                           "--since: '%s' is not a duration (24h, 7d...), date or RFC 3339 time",
                           utf8_safe(value, 0, safe, sizeof safe));
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

void ctl_show_line(int width, const char *label, const char *value)
{
    char safe[4096];
    printf("%-*s %s\n", width, label,
           value && *value ? utf8_safe(value, 0, safe, sizeof safe) : "-");
}

/* ================================================================ migrate */

/* Applies the pending migrations: how many (*applied) and the schema version
 * now. 0, or -1 with errstr. */
static int migrate(PGconn *conn, int *applied, long *version, char *errstr, size_t errstr_size)
{
    if (db_migrate(conn, applied, errstr, errstr_size))
        return -1;
    PGresult *r = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    int rc = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        *version = atol(PQgetvalue(r, 0, 0));
        rc = 0;
    } else {
        db_error(conn, r, errstr, errstr_size);
    }
    PQclear(r);
    return rc;
}

int ctl_migrate(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {"migrate", "",
                                  "Applies the database migrations not yet applied (safe to run "
                                  "any number of times) and prints the schema version. With "
                                  "HERALD_SECRET_KEY set, also re-seals the stored tokens not yet "
                                  "in the current form (as `secrets rotate`)."};
    PGconn *conn;
    int rc = ctl_parse_open(ctx, &c, NULL, 0, argc, argv, &conn);
    if (rc >= 0)
        return rc;
    char err[512];
    int applied = 0;
    long version = 0;
    store_status st = migrate(conn, &applied, &version, err, sizeof err) ? STORE_DB : STORE_OK;
    if (st)
        return ctl_close(conn, c.name, st, err, NULL);
    if (applied > 0)
        printf("applied %d migration%s (schema version %ld)\n", applied, applied == 1 ? "" : "s",
               version);
    else
        printf("schema up to date (version %ld)\n", version);
    /* SQL cannot re-seal the tokens of the format before issue 11: the key
     * is not in the database. */
    rc = ctl_secrets_after_migrate(ctx, conn);
    PQfinish(conn);
    return rc >= 0 ? rc : 0;
}
