/*
 * heraldctl: Herald's admin CLI, a thin layer over common/store.h.
 *
 *   heraldctl [global options] <command> [arguments]
 *
 * Exit codes: 0 done; 1 the database, Slack or the current state said no
 * (not found, in use, connection failed, Slack error); 2 usage: an unknown
 * command or flag, a missing or bad value. Errors are one line on stderr that
 * name the flag or value at fault. Tokens are never printed.
 */
#include "common/apitoken.h"
#include "common/cli.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/db.h"
#include "common/log.h"
#include "common/render.h"
#include "common/slack.h"
#include "common/store.h"
#include "common/storejson.h"
#include "common/util.h"

#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PROG "heraldctl"

static herald_common_config cfg;

/* ================================================================ output helpers */

/* Maps a store field to the flag that carries it in one command. */
typedef struct flag_map {
    const char *field;
    const char *flag;
} flag_map;

static const flag_map target_flags[] = {
    {"tenant", "--tenant"},       {"workspace", "--workspace"},
    {"name", "--name"},           {"description", "--description"},
    {"destination", "--channel"}, {"uses", "--uses"},
    {"checks", "--checks"},       {NULL, NULL},
};
static const flag_map workspace_flags[] = {
    {"team_id", "--team-id"}, {"team_name", "--name"}, {"bot_user_id", "--bot-user"},
    {"scopes", "--scopes"},   {"token", "token"},      {NULL, NULL},
};
static const flag_map delivery_flags[] = {
    {"state", "--state"},
    {"limit", "--limit"},
    {"offset", "--offset"},
    {NULL, NULL},
};

/* The exit code for a store outcome: bad input is a usage error. */
static int exit_code(store_status st)
{
    return st == STORE_OK ? 0 : st == STORE_INVALID ? 2 : 1;
}

/* Prints a store failure as one line, naming the flag for invalid input. */
static int report(const char *cmd, store_status st, const char *errstr, const flag_map *map)
{
    if (st == STORE_INVALID && map) {
        char field[64];
        const char *reason = store_invalid_field(errstr, field, sizeof field);
        for (const flag_map *m = map; m->field; m++) {
            if (!strcmp(m->field, field)) {
                fprintf(stderr, "%s %s: %s: %s\n", PROG, cmd, m->flag, reason);
                return exit_code(st);
            }
        }
    }
    fprintf(stderr, "%s %s: %s\n", PROG, cmd, errstr);
    return exit_code(st);
}

static PGconn *connect_db(const char *cmd)
{
    char err[512];
    PGconn *conn = db_connect(cfg.database_url, err, sizeof err);
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
        fprintf(stderr, "%s %s: %s\n", PROG, cmd, err);
    }
    return conn;
}

/* Loads HERALD_SECRET_KEY; returns 0 or the exit code (2: missing or bad). */
static int load_key(const char *cmd, const char *why, unsigned char key[CRYPTO_KEY_LEN])
{
    char err[256];
    if (crypto_key_from_base64(cfg.secret_key, key, err, sizeof err)) {
        fprintf(stderr, "%s %s: %s (%s)\n", PROG, cmd, err, why);
        return 2;
    }
    return 0;
}

/* A target id argument: a positive whole number. */
static int parse_id(const char *cmd, const char *what, const char *s, int64_t *id)
{
    long v;
    if (!s)
        return cli_usage_error(PROG, cmd, "missing %s (see --help)", what);
    if (!cfg_parse_long(s, 1, INT64_MAX, &v)) {
        char safe[80];
        return cli_usage_error(PROG, cmd, "'%s' is not a %s (a positive whole number)",
                               cli_safe(s, safe, sizeof safe), what);
    }
    *id = v;
    return -1;
}

static void print_json(cJSON *j)
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

static int cmd_migrate(void *ctx, int argc, char **argv)
{
    static const cli_command c = {"migrate", "",
                                  "Applies the database migrations not yet applied (safe to run "
                                  "any number of times) and prints the schema version."};
    size_t npos;
    int rc = cli_parse_or_exit(PROG, &c, NULL, 0, argc, argv, NULL, 0, &npos);
    if (rc >= 0)
        return rc;
    PGconn *conn = connect_db(c.name);
    if (!conn)
        return 1;
    char err[512];
    int applied = 0;
    if (db_migrate(conn, &applied, err, sizeof err)) {
        fprintf(stderr, "%s migrate: %s\n", PROG, err);
        PQfinish(conn);
        return 1;
    }
    PGresult *r = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_error(conn, r, err, sizeof err);
        fprintf(stderr, "%s migrate: %s\n", PROG, err);
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

/* ================================================================ workspace */

static struct termios saved_tty;
static volatile sig_atomic_t tty_saved = 0;

/* Puts terminal echo back if we are interrupted while reading a token. */
static void restore_tty_and_die(int sig)
{
    if (tty_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
    signal(sig, SIG_DFL);
    raise(sig);
}

/*
 * Reads the token from one line of standard input into buf. When stdin is a
 * terminal, echo is off while it is typed. Returns 0, or -1 with errstr.
 */
static int read_token_line(char *buf, size_t size, char *errstr, size_t errstr_size)
{
    bool tty = isatty(STDIN_FILENO);
    if (tty && tcgetattr(STDIN_FILENO, &saved_tty) == 0) {
        struct termios quiet = saved_tty;
        quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
        tty_saved = 1;
        signal(SIGINT, restore_tty_and_die);
        signal(SIGTERM, restore_tty_and_die);
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
        fprintf(stderr, "Slack bot token (not shown): ");
    }
    char *got = fgets(buf, (int)size, stdin);
    if (tty_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
        tty_saved = 0;
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        fputc('\n', stderr);
    }
    if (!got) {
        snprintf(errstr, errstr_size, "--token-stdin: no token on standard input");
        return -1;
    }
    size_t n = strlen(buf);
    if (n == size - 1 && buf[n - 1] != '\n') {
        snprintf(errstr, errstr_size, "--token-stdin: the line is too long for a token");
        return -1;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (n == 0) {
        snprintf(errstr, errstr_size, "--token-stdin: the token line is empty");
        return -1;
    }
    return 0;
}

static int cmd_workspace_add(void *ctx, int argc, char **argv)
{
    static const cli_command c = {
        "workspace add", "--team-id T --name NAME [--bot-user U] [--scopes S] [--token-stdin]",
        "Stores a Slack workspace installation: its bot token is read from HERALD_SLACK_TOKEN, "
        "or from one line of standard input with --token-stdin, encrypted with HERALD_SECRET_KEY "
        "and never printed. Adding a team id again replaces its token and clears a revoked "
        "state (a reinstall)."};
    const char *team = NULL, *name = NULL, *bot = NULL, *scopes = NULL;
    bool from_stdin = false;
    const cli_opt opts[] = {
        {"--team-id", CLI_STR, "T", "Slack team id (required), e.g. T0123ABCD", &team, 0, 0, NULL},
        {"--name", CLI_STR, "NAME", "workspace name (required)", &name, 0, 0, NULL},
        {"--bot-user", CLI_STR, "U", "the bot's user id", &bot, 0, 0, NULL},
        {"--scopes", CLI_STR, "S", "granted scopes, comma-separated", &scopes, 0, 0, NULL},
        {"--token-stdin", CLI_BOOL, NULL,
         "read the bot token from one line of standard input instead of HERALD_SLACK_TOKEN",
         &from_stdin, 0, 0, NULL},
    };
    size_t npos;
    int rc = cli_parse_or_exit(PROG, &c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0, &npos);
    if (rc >= 0)
        return rc;
    if (!team)
        return cli_usage_error(PROG, c.name, "--team-id is required");
    if (!name)
        return cli_usage_error(PROG, c.name, "--name is required");
    unsigned char key[CRYPTO_KEY_LEN];
    if ((rc = load_key(c.name, "storing a bot token needs it", key)))
        return rc;

    char err[512];
    char line[4100];
    const char *token;
    if (from_stdin) {
        if (read_token_line(line, sizeof line, err, sizeof err)) {
            crypto_wipe(line, sizeof line);
            crypto_wipe(key, sizeof key);
            return cli_usage_error(PROG, c.name, "%s", err);
        }
        token = line;
    } else {
        token = getenv("HERALD_SLACK_TOKEN");
        if (!token || !*token) {
            crypto_wipe(key, sizeof key);
            return cli_usage_error(PROG, c.name,
                                   "no bot token: set HERALD_SLACK_TOKEN or pass --token-stdin");
        }
    }

    PGconn *conn = connect_db(c.name);
    store_status st = STORE_DB;
    bool replaced = false;
    if (conn) {
        store_workspace_input in = {.team_id = team,
                                    .team_name = name,
                                    .bot_user_id = bot,
                                    .scopes = scopes,
                                    .token = token};
        st = store_workspace_put(conn, key, &in, &replaced, err, sizeof err);
        PQfinish(conn);
    }
    crypto_wipe(line, sizeof line);
    crypto_wipe(key, sizeof key);
    if (!conn)
        return 1;
    if (st)
        return report(c.name, st, err, workspace_flags);
    char st_team[80], st_name[256];
    printf("workspace %s (%s) %s\n", cli_safe(team, st_team, sizeof st_team),
           cli_safe(name, st_name, sizeof st_name),
           replaced ? "reinstalled: token replaced, revoked state cleared" : "added");
    return 0;
}

static int cmd_workspace_list(void *ctx, int argc, char **argv)
{
    static const cli_command c = {"workspace list", "[--json]",
                                  "Lists the installed workspaces with their state and how many "
                                  "targets use each. Tokens are never shown."};
    bool json = false;
    const cli_opt opts[] = {
        {"--json", CLI_BOOL, NULL, "print a JSON array", &json, 0, 0, NULL},
    };
    size_t npos;
    int rc = cli_parse_or_exit(PROG, &c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0, &npos);
    if (rc >= 0)
        return rc;
    PGconn *conn = connect_db(c.name);
    if (!conn)
        return 1;
    char err[512];
    store_workspaces l = {0};
    store_status st = store_workspace_list(conn, &l, err, sizeof err);
    PQfinish(conn);
    if (st)
        return report(c.name, st, err, NULL);
    if (json) {
        print_json(storejson_workspaces(&l));
    } else if (l.n == 0) {
        printf("no workspaces installed (add one with: %s workspace add)\n", PROG);
    } else {
        static const char *const hdr[] = {"TEAM_ID", "NAME",   "BOT_USER",
                                          "TARGETS", "STATUS", "INSTALLED"};
        cli_table *t = cli_table_new(ARRAY_LEN(hdr), hdr);
        cli_table_set_max_width(t, 1, 40);
        for (size_t i = 0; i < l.n; i++) {
            const store_workspace *w = &l.items[i];
            char targets[24], status[160], installed[32], when[32];
            snprintf(targets, sizeof targets, "%ld", w->target_count);
            if (w->revoked)
                snprintf(status, sizeof status, "revoked (%s) since %s",
                         w->revoked_reason ? w->revoked_reason : "unknown",
                         cli_time_format(w->revoked_at_ms, when, sizeof when));
            else
                snprintf(status, sizeof status, "active");
            const char *row[] = {
                w->team_id,     w->team_name,
                w->bot_user_id, targets,
                status,         cli_time_format(w->installed_at_ms, installed, sizeof installed)};
            cli_table_add(t, row);
        }
        cli_table_print(t, stdout);
        cli_table_destroy(t);
    }
    store_workspaces_free(&l);
    return 0;
}

static int cmd_workspace_remove(void *ctx, int argc, char **argv)
{
    static const cli_command c = {
        "workspace remove", "TEAM_ID [--force]",
        "Removes a workspace installation and destroys its token. Refused while targets use it, "
        "unless --force, which removes those targets too. Delivery history is kept."};
    bool force = false;
    const cli_opt opts[] = {
        {"--force", CLI_BOOL, NULL, "also remove the targets that use the workspace", &force, 0, 0,
         NULL},
    };
    const char *pos[1] = {NULL};
    size_t npos;
    int rc = cli_parse_or_exit(PROG, &c, opts, ARRAY_LEN(opts), argc, argv, pos, 1, &npos);
    if (rc >= 0)
        return rc;
    if (!pos[0])
        return cli_usage_error(PROG, c.name, "missing TEAM_ID (see --help)");
    PGconn *conn = connect_db(c.name);
    if (!conn)
        return 1;
    char err[512];
    long removed = 0;
    store_status st = store_workspace_remove(conn, pos[0], force, &removed, err, sizeof err);
    PQfinish(conn);
    if (st == STORE_CONFLICT) {
        fprintf(stderr, "%s %s: %s (--force)\n", PROG, c.name, err);
        return 1;
    }
    if (st)
        return report(c.name, st, err, NULL);
    char safe[80];
    if (removed > 0)
        printf("workspace %s removed, with %ld target%s\n", cli_safe(pos[0], safe, sizeof safe),
               removed, removed == 1 ? "" : "s");
    else
        printf("workspace %s removed\n", cli_safe(pos[0], safe, sizeof safe));
    return 0;
}

/* ================================================================ target */

/* "on" / "off" for a target setting flag; returns -1 to go on, else exit 2. */
static int parse_toggle(const char *cmd, const char *flag, const char *v, store_toggle *out)
{
    if (!v)
        return -1;
    if (!strcmp(v, "on")) {
        *out = STORE_ON;
        return -1;
    }
    if (!strcmp(v, "off")) {
        *out = STORE_OFF;
        return -1;
    }
    char safe[80];
    return cli_usage_error(PROG, cmd, "%s: '%s' is not on or off", flag,
                           cli_safe(v, safe, sizeof safe));
}

/*
 * The settings target add and target update share, from their flags (NULL:
 * not given) into in: --digest, --thread-repeats, --uses, --checks. *checks
 * gets the parsed check vector that in->checks points at (the caller frees it
 * with store_strv_free(*checks, in->n_checks)). Returns -1 to go on, else the
 * exit code (the error is printed).
 */
static int target_settings(const char *cmd, const char *uses_s, const char *checks_s,
                           const char *digest_s, const char *threads_s, store_target_input *in,
                           char ***checks)
{
    int rc;
    char err[512];
    store_status st;
    *checks = NULL;
    if ((rc = parse_toggle(cmd, "--digest", digest_s, &in->digest)) >= 0 ||
        (rc = parse_toggle(cmd, "--thread-repeats", threads_s, &in->thread_repeats)) >= 0)
        return rc;
    if (uses_s && (st = store_uses_parse(uses_s, &in->uses, err, sizeof err)))
        return report(cmd, st, err, target_flags);
    if (checks_s && (st = store_checks_parse(checks_s, checks, &in->n_checks, err, sizeof err)))
        return report(cmd, st, err, target_flags);
    in->checks = (const char *const *)*checks;
    return -1;
}

static int cmd_target_add(void *ctx, int argc, char **argv)
{
    static const cli_command c = {
        "target add",
        "--tenant T --workspace TEAM_ID --name NAME [--description TEXT] "
        "--channel CHANNEL_ID|#name|email --uses failed_check[,data_collection] "
        "[--checks type1,type2] [--disabled] [--digest on|off] [--thread-repeats on|off]",
        "Creates a notification target and prints its id (only the id, on standard output)."};
    const char *tenant = NULL, *workspace = NULL, *name = NULL, *description = NULL,
               *channel = NULL, *uses_s = NULL, *checks_s = NULL, *digest_s = NULL,
               *threads_s = NULL;
    bool disabled = false;
    const cli_opt opts[] = {
        {"--tenant", CLI_STR, "T", "tenant id (required)", &tenant, 0, 0, NULL},
        {"--workspace", CLI_STR, "TEAM_ID", "installed workspace (required)", &workspace, 0, 0,
         NULL},
        {"--name", CLI_STR, "NAME", "target name, unique in the tenant (required)", &name, 0, 0,
         NULL},
        {"--description", CLI_STR, "TEXT", "free text", &description, 0, 0, NULL},
        {"--channel", CLI_STR, "DEST",
         "channel id (C0123ABC), #channel-name or a member's email address (required)", &channel, 0,
         0, NULL},
        {"--uses", CLI_STR, "USES",
         "failed_check, data_collection or both, comma-separated "
         "(required)",
         &uses_s, 0, 0, NULL},
        {"--checks", CLI_STR, "TYPES",
         "only these check types, comma-separated (failed_check targets; default: every check)",
         &checks_s, 0, 0, NULL},
        {"--disabled", CLI_BOOL, NULL, "create it disabled", &disabled, 0, 0, NULL},
        {"--digest", CLI_STR, "on|off",
         "fold a backlog for its channel into one digest message (default on)", &digest_s, 0, 0,
         NULL},
        {"--thread-repeats", CLI_STR, "on|off",
         "repeats of a still-failing check go in the thread of its first message (default off)",
         &threads_s, 0, 0, NULL},
    };
    size_t npos;
    int rc = cli_parse_or_exit(PROG, &c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0, &npos);
    if (rc >= 0)
        return rc;
    static const char *const required[] = {"--tenant", "--workspace", "--name", "--channel",
                                           "--uses"};
    const char *vals[] = {tenant, workspace, name, channel, uses_s};
    for (size_t i = 0; i < ARRAY_LEN(required); i++)
        if (!vals[i])
            return cli_usage_error(PROG, c.name, "%s is required", required[i]);
    store_target_input in = {.tenant = tenant,
                             .workspace = workspace,
                             .name = name,
                             .description = description,
                             .destination = channel,
                             .enabled = disabled ? 0 : 1};
    char **checks = NULL;
    if ((rc = target_settings(c.name, uses_s, checks_s, digest_s, threads_s, &in, &checks)) >= 0)
        return rc;
    PGconn *conn = connect_db(c.name);
    if (!conn) {
        store_strv_free(checks, in.n_checks);
        return 1;
    }
    char err[512];
    int64_t id = 0;
    store_status st = store_target_create(conn, &in, &id, err, sizeof err);
    PQfinish(conn);
    store_strv_free(checks, in.n_checks);
    if (st)
        return report(c.name, st, err, target_flags);
    printf("%" PRId64 "\n", id);
    return 0;
}

static const char *checks_text(const store_target *t, char *buf, size_t size)
{
    if (t->n_checks == 0) {
        snprintf(buf, size, "all");
        return buf;
    }
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < t->n_checks && o < size; i++) {
        int w = snprintf(buf + o, size - o, "%s%s", i ? "," : "", t->checks[i]);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    return buf;
}

static int cmd_target_list(void *ctx, int argc, char **argv)
{
    static const cli_command c = {"target list", "[--tenant T] [--json]",
                                  "Lists notification targets (of one tenant, or all) with "
                                  "their destination, uses, check filter and health."};
    const char *tenant = NULL;
    bool json = false;
    const cli_opt opts[] = {
        {"--tenant", CLI_STR, "T", "only this tenant's targets", &tenant, 0, 0, NULL},
        {"--json", CLI_BOOL, NULL, "print a JSON array", &json, 0, 0, NULL},
    };
    size_t npos;
    int rc = cli_parse_or_exit(PROG, &c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0, &npos);
    if (rc >= 0)
        return rc;
    PGconn *conn = connect_db(c.name);
    if (!conn)
        return 1;
    char err[512];
    store_targets l = {0};
    store_status st = store_target_list(conn, tenant, &l, err, sizeof err);
    PQfinish(conn);
    if (st)
        return report(c.name, st, err, target_flags);
    if (json) {
        print_json(storejson_targets(&l));
    } else if (l.n == 0) {
        printf("no targets\n");
    } else {
        static const char *const hdr[] = {
            "ID",     "TENANT", "NAME",     "WORKSPACE",  "DESTINATION",  "USES",
            "CHECKS", "STATE",  "SENT_24H", "FAILED_24H", "LAST_SUCCESS", "LAST_ERROR"};
        cli_table *t = cli_table_new(ARRAY_LEN(hdr), hdr);
        cli_table_set_max_width(t, 2, 32);
        cli_table_set_max_width(t, 6, 32);
        cli_table_set_max_width(t, 11, 40);
        for (size_t i = 0; i < l.n; i++) {
            const store_target *x = &l.items[i];
            char id[24], uses[64], checks[256], state[64], sent[24], failed[24], succ[32],
                lasterr[160], when[32];
            snprintf(id, sizeof id, "%" PRId64, x->id);
            snprintf(state, sizeof state, "%s%s", x->enabled ? "enabled" : "disabled",
                     x->workspace_revoked ? ", workspace revoked" : "");
            snprintf(sent, sizeof sent, "%ld", x->health.sent_24h);
            snprintf(failed, sizeof failed, "%ld", x->health.failed_24h);
            if (x->health.last_error_code)
                snprintf(lasterr, sizeof lasterr, "%s %s",
                         cli_time_format(x->health.last_error_at_ms, when, sizeof when),
                         x->health.last_error_code);
            else
                lasterr[0] = '\0';
            const char *row[] = {id,
                                 x->tenant_id,
                                 x->name,
                                 x->team_id,
                                 x->destination,
                                 store_uses_format(x->uses, uses, sizeof uses),
                                 checks_text(x, checks, sizeof checks),
                                 state,
                                 sent,
                                 failed,
                                 cli_time_format(x->health.last_success_at_ms, succ, sizeof succ),
                                 lasterr};
            cli_table_add(t, row);
        }
        cli_table_print(t, stdout);
        cli_table_destroy(t);
    }
    store_targets_free(&l);
    return 0;
}

static void show_line(const char *label, const char *value)
{
    char safe[4096];
    printf("%-15s %s\n", label, value && *value ? cli_safe(value, safe, sizeof safe) : "-");
}

static int cmd_target_show(void *ctx, int argc, char **argv)
{
    static const cli_command c = {"target show", "ID [--json]",
                                  "Shows one target: its settings, check filter and health "
                                  "(deliveries by state over 24 hours, last success, last "
                                  "error with its reason)."};
    bool json = false;
    const cli_opt opts[] = {
        {"--json", CLI_BOOL, NULL, "print a JSON object", &json, 0, 0, NULL},
    };
    const char *pos[1] = {NULL};
    size_t npos;
    int rc = cli_parse_or_exit(PROG, &c, opts, ARRAY_LEN(opts), argc, argv, pos, 1, &npos);
    if (rc >= 0)
        return rc;
    int64_t id;
    if ((rc = parse_id(c.name, "target id", pos[0], &id)) >= 0)
        return rc;
    PGconn *conn = connect_db(c.name);
    if (!conn)
        return 1;
    char err[512];
    store_target *t = NULL;
    store_status st = store_target_get(conn, NULL, id, &t, err, sizeof err);
    PQfinish(conn);
    if (st)
        return report(c.name, st, err, target_flags);
    if (json) {
        print_json(storejson_target(t));
        store_target_free(t);
        return 0;
    }
    char buf[512], b1[32], b2[32];
    snprintf(buf, sizeof buf, "%" PRId64, t->id);
    show_line("id:", buf);
    show_line("tenant:", t->tenant_id);
    show_line("name:", t->name);
    show_line("description:", t->description);
    snprintf(buf, sizeof buf, "%s (%s)%s", t->team_id, t->team_name,
             t->workspace_revoked ? ", REVOKED: reinstall it" : "");
    show_line("workspace:", buf);
    snprintf(buf, sizeof buf, "%s (%s%s%s)", t->destination,
             t->destination_kind == STORE_DEST_EMAIL          ? "direct message to this member"
             : t->destination_kind == STORE_DEST_CHANNEL_NAME ? "channel name"
                                                              : "channel id",
             t->destination_resolved && t->destination_kind != STORE_DEST_CHANNEL_ID
                 ? "; resolved to "
                 : "",
             t->destination_resolved && t->destination_kind != STORE_DEST_CHANNEL_ID
                 ? t->destination_resolved
                 : "");
    show_line("destination:", buf);
    char uses[64];
    show_line("uses:", store_uses_format(t->uses, uses, sizeof uses));
    char checks[2048];
    show_line("checks:",
              t->uses & STORE_USE_FAILED_CHECK ? checks_text(t, checks, sizeof checks) : "-");
    show_line("enabled:", t->enabled ? "yes" : "no");
    show_line("digest:", t->digest_enabled ? "on" : "off");
    show_line("thread repeats:", t->thread_repeats ? "on" : "off");
    show_line("created:", cli_time_format(t->created_at_ms, b1, sizeof b1));
    show_line("updated:", cli_time_format(t->updated_at_ms, b2, sizeof b2));
    snprintf(buf, sizeof buf, "%ld sent, %ld failed, %ld pending, %ld retrying, %ld sending",
             t->health.sent_24h, t->health.failed_24h, t->health.pending_24h,
             t->health.retrying_24h, t->health.sending_24h);
    show_line("last 24 hours:", buf);
    show_line("last success:", cli_time_format(t->health.last_success_at_ms, b1, sizeof b1));
    if (t->health.last_error_code) {
        snprintf(buf, sizeof buf, "%s %s%s%s",
                 cli_time_format(t->health.last_error_at_ms, b2, sizeof b2),
                 t->health.last_error_code,
                 t->health.last_error && *t->health.last_error ? ": " : "",
                 t->health.last_error ? t->health.last_error : "");
        show_line("last error:", buf);
    } else {
        show_line("last error:", NULL);
    }
    store_target_free(t);
    return 0;
}

static int cmd_target_update(void *ctx, int argc, char **argv)
{
    static const cli_command c = {
        "target update",
        "ID [--name NAME] [--description TEXT] [--channel DEST] [--uses USES] "
        "[--checks TYPES | --all-checks] [--enable | --disable] [--digest on|off] "
        "[--thread-repeats on|off]",
        "Changes the given settings of a target and leaves the others as they are."};
    const char *name = NULL, *description = NULL, *channel = NULL, *uses_s = NULL, *checks_s = NULL,
               *digest_s = NULL, *threads_s = NULL;
    bool all_checks = false, enable = false, disable = false;
    const cli_opt opts[] = {
        {"--name", CLI_STR, "NAME", "new name, unique in the tenant", &name, 0, 0, NULL},
        {"--description", CLI_STR, "TEXT", "new description (\"\" clears it)", &description, 0, 0,
         NULL},
        {"--channel", CLI_STR, "DEST", "new destination: channel id, #channel-name or email",
         &channel, 0, 0, NULL},
        {"--uses", CLI_STR, "USES", "failed_check, data_collection or both", &uses_s, 0, 0, NULL},
        {"--checks", CLI_STR, "TYPES", "replace the check filter with these check types", &checks_s,
         0, 0, NULL},
        {"--all-checks", CLI_BOOL, NULL, "clear the check filter: notify for every check",
         &all_checks, 0, 0, NULL},
        {"--enable", CLI_BOOL, NULL, "enable the target", &enable, 0, 0, NULL},
        {"--disable", CLI_BOOL, NULL, "disable the target (nothing is routed to it)", &disable, 0,
         0, NULL},
        {"--digest", CLI_STR, "on|off", "fold a backlog into one digest message, or not", &digest_s,
         0, 0, NULL},
        {"--thread-repeats", CLI_STR, "on|off",
         "repeats of a still-failing check as thread replies, or not", &threads_s, 0, 0, NULL},
    };
    const char *pos[1] = {NULL};
    size_t npos;
    int rc = cli_parse_or_exit(PROG, &c, opts, ARRAY_LEN(opts), argc, argv, pos, 1, &npos);
    if (rc >= 0)
        return rc;
    int64_t id;
    if ((rc = parse_id(c.name, "target id", pos[0], &id)) >= 0)
        return rc;
    if (checks_s && all_checks)
        return cli_usage_error(PROG, c.name, "--checks and --all-checks cannot be used together");
    if (enable && disable)
        return cli_usage_error(PROG, c.name, "--enable and --disable cannot be used together");
    if (!name && !description && !channel && !uses_s && !checks_s && !all_checks && !enable &&
        !disable && !digest_s && !threads_s)
        return cli_usage_error(PROG, c.name,
                               "nothing to change: give at least one of --name, "
                               "--description, --channel, --uses, --checks, --all-checks, "
                               "--enable, --disable, --digest, --thread-repeats");
    store_target_input in = {.name = name,
                             .description = description,
                             .destination = channel,
                             .set_checks = checks_s || all_checks,
                             .enabled = enable    ? 1
                                        : disable ? 0
                                                  : -1};
    char **checks = NULL;
    if ((rc = target_settings(c.name, uses_s, checks_s, digest_s, threads_s, &in, &checks)) >= 0)
        return rc;
    PGconn *conn = connect_db(c.name);
    if (!conn) {
        store_strv_free(checks, in.n_checks);
        return 1;
    }
    char err[512];
    store_status st = store_target_update(conn, NULL, id, &in, err, sizeof err);
    PQfinish(conn);
    store_strv_free(checks, in.n_checks);
    if (st) {
        /* The store's hint "clear the check filter too" is --all-checks here. */
        if (st == STORE_INVALID && strstr(err, "clear the check filter too"))
            strncat(err, " (--all-checks)", sizeof err - strlen(err) - 1);
        return report(c.name, st, err, target_flags);
    }
    printf("target %" PRId64 " updated\n", id);
    return 0;
}

static int cmd_target_remove(void *ctx, int argc, char **argv)
{
    static const cli_command c = {"target remove", "ID",
                                  "Removes a target: nothing is routed to it any more; its "
                                  "delivery history is kept."};
    const char *pos[1] = {NULL};
    size_t npos;
    int rc = cli_parse_or_exit(PROG, &c, NULL, 0, argc, argv, pos, 1, &npos);
    if (rc >= 0)
        return rc;
    int64_t id;
    if ((rc = parse_id(c.name, "target id", pos[0], &id)) >= 0)
        return rc;
    PGconn *conn = connect_db(c.name);
    if (!conn)
        return 1;
    char err[512];
    store_status st = store_target_remove(conn, NULL, id, err, sizeof err);
    PQfinish(conn);
    if (st)
        return report(c.name, st, err, target_flags);
    printf("target %" PRId64 " removed\n", id);
    return 0;
}

/* ================================================================ deliveries */

static int cmd_deliveries(void *ctx, int argc, char **argv)
{
    static const cli_command c = {
        "deliveries",
        "[--tenant T] [--target ID] [--state S] [--since WHEN] [--limit N] "
        "[--offset N] [--before ID] [--json]",
        "Lists deliveries, newest first: what was sent where, what failed and why."};
    const char *tenant = NULL, *state = NULL, *since_s = NULL;
    long target = 0, limit = STORE_DELIVERIES_DEFAULT_LIMIT, offset = 0, before = 0;
    bool json = false;
    const cli_opt opts[] = {
        {"--tenant", CLI_STR, "T", "only this tenant's deliveries", &tenant, 0, 0, NULL},
        {"--target", CLI_LONG, "ID", "only this target's deliveries", &target, 1, INT64_MAX, NULL},
        {"--state", CLI_STR, "S", "pending, sending, retrying, sent or failed", &state, 0, 0, NULL},
        {"--since", CLI_STR, "WHEN",
         "created since: a duration back from now (90s, 15m, 24h, 7d), a date (2026-11-28) or "
         "an RFC 3339 time",
         &since_s, 0, 0, NULL},
        {"--limit", CLI_LONG, "N", "at most N rows (default 50, at most 1000)", &limit, 1,
         STORE_DELIVERIES_MAX_LIMIT, NULL},
        {"--offset", CLI_LONG, "N", "skip the N newest matching rows", &offset, 0, 100000000, NULL},
        {"--before", CLI_LONG, "ID",
         "only deliveries older than delivery ID (next page: the last ID shown)", &before, 1,
         INT64_MAX, NULL},
        {"--json", CLI_BOOL, NULL, "print a JSON array", &json, 0, 0, NULL},
    };
    size_t npos;
    int rc = cli_parse_or_exit(PROG, &c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0, &npos);
    if (rc >= 0)
        return rc;
    if (state && !store_delivery_state_valid(state)) {
        char safe[80];
        return cli_usage_error(PROG, c.name,
                               "--state: '%s' is not a delivery state (pending, sending, retrying, "
                               "sent, failed)",
                               cli_safe(state, safe, sizeof safe));
    }
    int64_t since = 0;
    if (since_s && !cli_parse_since(since_s, util_now_wall_ms(), &since)) {
        char safe[80];
        return cli_usage_error(
            PROG, c.name, "--since: '%s' is not a duration (24h, 7d...), date or RFC 3339 time",
            cli_safe(since_s, safe, sizeof safe));
    }
    PGconn *conn = connect_db(c.name);
    if (!conn)
        return 1;
    store_delivery_filter f = {.tenant = tenant,
                               .target_id = target,
                               .state = state,
                               .since_ms = since,
                               .before_id = before,
                               .limit = (int)limit,
                               .offset = (int)offset};
    char err[512];
    store_deliveries l = {0};
    store_status st = store_delivery_list(conn, &f, &l, err, sizeof err);
    PQfinish(conn);
    if (st)
        return report(c.name, st, err, delivery_flags);
    if (json) {
        print_json(storejson_deliveries(&l));
    } else if (l.n == 0) {
        printf("no deliveries\n");
    } else {
        /* The error and its reason come last and whole: the reason ends with what
         * to do about it, and a long one widens only its own line. */
        static const char *const hdr[] = {"ID",    "TIME",     "TARGET", "EVENT",
                                          "STATE", "ATTEMPTS", "SLACK",  "ERROR"};
        cli_table *t = cli_table_new(ARRAY_LEN(hdr), hdr);
        cli_table_set_max_width(t, 2, 32);
        cli_table_set_max_width(t, 3, 40);
        for (size_t i = 0; i < l.n; i++) {
            const store_delivery *d = &l.items[i];
            char id[24], when[32], target_s[128], event_s[160], attempts[16], error[512],
                slack[160];
            snprintf(id, sizeof id, "%" PRId64, d->id);
            snprintf(target_s, sizeof target_s, "%" PRId64 " %s", d->target_id,
                     d->target_name ? d->target_name : "");
            if (!d->event_kind)
                snprintf(event_s, sizeof event_s, "?");
            else if (!strcmp(d->event_kind, "check_result"))
                snprintf(event_s, sizeof event_s, "check %s", d->check_type ? d->check_type : "?");
            else if (!strcmp(d->event_kind, "collection_event"))
                snprintf(event_s, sizeof event_s, "collection %s%s%s",
                         d->integration ? d->integration : "?", d->collection_status ? " " : "",
                         d->collection_status ? d->collection_status : "");
            else
                snprintf(event_s, sizeof event_s, "%s", d->event_kind);
            snprintf(attempts, sizeof attempts, "%d", d->attempts);
            if (d->error_code)
                snprintf(error, sizeof error, "%s%s%s", d->error_code,
                         d->error && *d->error ? ": " : "", d->error ? d->error : "");
            else
                error[0] = '\0';
            if (d->slack_channel)
                snprintf(slack, sizeof slack, "%s/%s", d->slack_channel,
                         d->slack_ts ? d->slack_ts : "-");
            else
                slack[0] = '\0';
            const char *row[] = {id,       cli_time_format(d->created_at_ms, when, sizeof when),
                                 target_s, event_s,
                                 d->state, attempts,
                                 slack,    error};
            cli_table_add(t, row);
        }
        cli_table_print(t, stdout);
        cli_table_destroy(t);
    }
    store_deliveries_free(&l);
    return 0;
}

/* ================================================================ test */

/*
 * A test is one message a person waits for, often sent right after a burst of
 * notifications to the same channel: a 429 (which never posts) is waited out
 * and the call retried, a few times and a few seconds at most. Nothing else is
 * retried: a transient error (internal_error, a timeout) may have posted, and
 * a test message shown twice is worse than a test to run again.
 */
#define TEST_TRIES       4
#define TEST_MAX_WAIT_MS 10000

static bool test_rate_limit_wait(const slack_result *res, int attempt)
{
    if (res->cls != SLACK_RATE_LIMITED || attempt >= TEST_TRIES)
        return false;
    int ms = res->retry_after_ms > 0 ? res->retry_after_ms : 1000;
    if (ms > TEST_MAX_WAIT_MS)
        return false;
    fprintf(stderr, "%s test: Slack rate-limited the call; trying again in %.1f s\n", PROG,
            ms / 1000.0);
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
    return true;
}

/* The reason shown when Slack still said 429 after the retries. */
static void test_rate_limit_reason(const slack_result *res, char *reason, size_t size)
{
    if (res->cls == SLACK_RATE_LIMITED)
        snprintf(reason, size,
                 "Slack kept rate-limiting this call (%d tries): the channel or workspace is "
                 "busy, try the test again in a minute",
                 TEST_TRIES);
}

static int cmd_test(void *ctx, int argc, char **argv)
{
    static const cli_command c = {
        "test", "TARGET_ID",
        "Sends a test message to the target now (through HERALD_SLACK_API_URL with the "
        "workspace's token), records it as a delivery of kind test and prints Slack's answer. "
        "Exit 0 when Slack accepted it, 1 when it did not."};
    const char *pos[1] = {NULL};
    size_t npos;
    int rc = cli_parse_or_exit(PROG, &c, NULL, 0, argc, argv, pos, 1, &npos);
    if (rc >= 0)
        return rc;
    int64_t id;
    if ((rc = parse_id(c.name, "target id", pos[0], &id)) >= 0)
        return rc;
    unsigned char key[CRYPTO_KEY_LEN];
    if ((rc = load_key(c.name, "reading the bot token needs it", key)))
        return rc;
    PGconn *conn = connect_db(c.name);
    if (!conn) {
        crypto_wipe(key, sizeof key);
        return 1;
    }

    char err[512];
    store_target *t = NULL;
    char *token = NULL;
    bool revoked = false;
    int64_t delivery = 0;
    slack_result res;
    slack_result_init(&res);
    render_output msg = {0};
    store_status st = store_target_get(conn, NULL, id, &t, err, sizeof err);
    if (st) {
        rc = report(c.name, st, err, NULL);
        goto out;
    }
    st = store_workspace_token(conn, key, t->team_id, &token, &revoked, err, sizeof err);
    if (st) {
        rc = report(c.name, st, err, NULL);
        goto out;
    }
    if ((st = store_test_delivery_begin(conn, NULL, id, PROG, &delivery, NULL, err, sizeof err))) {
        rc = report(c.name, st, err, NULL);
        goto out;
    }

    store_delivery_outcome o = {0};
    char reason[512] = "";
    char channel_buf[64] = "";
    const char *channel = t->destination;
    if (revoked) {
        /* As the sender does: a revoked installation is not called. */
        snprintf(reason, sizeof reason,
                 "the workspace %s is marked revoked: reinstall it (%s workspace add)", t->team_id,
                 PROG);
        o.error_code = "installation_revoked";
        o.error = reason;
    } else {
        bool can_post = true;
        if (t->destination_kind == STORE_DEST_EMAIL) {
            /* A member's address: post to their user id (the app's DM with them). */
            for (int attempt = 1;; attempt++) {
                slack_lookup_user_by_email(cfg.slack_api_url, token, t->destination, &res);
                if (!test_rate_limit_wait(&res, attempt))
                    break;
                slack_result_dispose(&res);
                slack_result_init(&res);
            }
            if (res.ok) {
                snprintf(channel_buf, sizeof channel_buf, "%s", res.user_id);
                channel = channel_buf;
                if (store_target_set_resolved(conn, id, channel_buf, err, sizeof err))
                    LOG_WARN("target %" PRId64 ": %s", id, err);
            } else {
                can_post = false;
                char who[300], why[300] = "";
                test_rate_limit_reason(&res, why, sizeof why);
                snprintf(reason, sizeof reason, "%s (looking up %s)",
                         why[0]          ? why
                         : res.reason[0] ? res.reason
                                         : "the lookup failed",
                         cli_safe(t->destination, who, sizeof who));
            }
        }
        if (can_post) {
            slack_result_dispose(&res);
            slack_result_init(&res);
            if (render_test_message(t->name, NULL, &msg)) {
                snprintf(reason, sizeof reason, "could not render the test message");
                o.error_code = "render_failed";
                o.error = reason;
            } else {
                for (int attempt = 1;; attempt++) {
                    slack_post_message(cfg.slack_api_url, token, channel, msg.text, msg.blocks_json,
                                       NULL, &res);
                    if (!test_rate_limit_wait(&res, attempt))
                        break;
                    slack_result_dispose(&res);
                    slack_result_init(&res);
                }
                test_rate_limit_reason(&res, reason, sizeof reason);
            }
        }
        if (!o.error_code) {
            o.ok = res.ok;
            if (res.ok) {
                o.slack_channel = res.channel;
                o.slack_ts = res.ts;
            } else {
                o.error_code = res.error[0] ? res.error : "unknown_error";
                o.error = reason[0] ? reason : res.reason;
                /* As the sender does: a dead token marks the installation. */
                if (res.cls == SLACK_INSTALLATION &&
                    store_workspace_mark_revoked(conn, t->team_id, res.error) == STORE_OK)
                    LOG_WARN("workspace %s marked revoked (%s): reinstall it", t->team_id,
                             res.error);
            }
        }
    }
    if ((st = store_test_delivery_finish(conn, delivery, &o, err, sizeof err)))
        LOG_WARN("delivery %" PRId64 ": %s", delivery, err);
    char safe[600];
    if (o.ok) {
        printf("ok: Slack accepted the test message for target %" PRId64 ": channel %s, ts %s "
               "(delivery %" PRId64 ")\n",
               id, cli_safe(o.slack_channel, safe, sizeof safe), res.ts, delivery);
        rc = st ? 1 : 0;
    } else {
        char code[80];
        printf("error: %s: %s (target %" PRId64 ", delivery %" PRId64 ")\n",
               cli_safe(o.error_code, code, sizeof code),
               cli_safe(o.error && *o.error ? o.error : "no reason given", safe, sizeof safe), id,
               delivery);
        rc = 1;
    }
out:
    render_output_dispose(&msg);
    slack_result_dispose(&res);
    if (token) {
        crypto_wipe(token, strlen(token));
        free(token);
    }
    crypto_wipe(key, sizeof key);
    store_target_free(t);
    PQfinish(conn);
    return rc;
}

/* ================================================================ dispatch */

/* API tokens for herald-api: the logic is in common/apitoken.c. */
static int cmd_token_create(void *ctx, int argc, char **argv)
{
    return apitoken_cli("create", argc, argv, connect_db);
}
static int cmd_token_list(void *ctx, int argc, char **argv)
{
    return apitoken_cli("list", argc, argv, connect_db);
}
static int cmd_token_revoke(void *ctx, int argc, char **argv)
{
    return apitoken_cli("revoke", argc, argv, connect_db);
}

static const cli_subcommand commands[] = {
    {NULL, "migrate", cmd_migrate, "migrate",
     "apply the database migrations not yet applied (safe to repeat)"},
    {"workspace", "add", cmd_workspace_add,
     "workspace add --team-id T --name NAME [--bot-user U] [--scopes S] [--token-stdin]",
     "store a Slack installation; token from HERALD_SLACK_TOKEN or stdin, never echoed"},
    {"workspace", "list", cmd_workspace_list, "workspace list [--json]",
     "installed workspaces, their state and target counts (never tokens)"},
    {"workspace", "remove", cmd_workspace_remove, "workspace remove TEAM_ID [--force]",
     "remove an installation (refused while targets use it, unless --force)"},
    {"target", "add", cmd_target_add,
     "target add --tenant T --workspace TEAM_ID --name NAME [--description TEXT]\n"
     "      --channel CHANNEL_ID|#name|email --uses failed_check[,data_collection]\n"
     "      [--checks type1,type2] [--disabled] [--digest on|off] [--thread-repeats on|off]",
     "create a notification target; prints its id"},
    {"target", "list", cmd_target_list, "target list [--tenant T] [--json]",
     "targets with destination, uses, check filter and health"},
    {"target", "show", cmd_target_show, "target show ID [--json]",
     "one target with its check filter, 24-hour counts, last success and last error"},
    {"target", "update", cmd_target_update,
     "target update ID [--name N] [--description D] [--channel C] [--uses U]\n"
     "      [--checks T | --all-checks] [--enable | --disable] [--digest on|off]\n"
     "      [--thread-repeats on|off]",
     "change the given settings of a target"},
    {"target", "remove", cmd_target_remove, "target remove ID",
     "remove a target (its delivery history is kept)"},
    {NULL, "deliveries", cmd_deliveries,
     "deliveries [--tenant T] [--target ID] [--state S] [--since WHEN] [--limit N]\n"
     "      [--offset N] [--before ID] [--json]",
     "deliveries, newest first, with Slack channel/ts or the error and its reason"},
    {NULL, "test", cmd_test, "test TARGET_ID",
     "send a test message to a target now and print Slack's answer"},
    {"token", "create", cmd_token_create, "token create [--tenant T] [--name N]",
     "create an API token for herald-api; printed once (stdout), stored hashed"},
    {"token", "list", cmd_token_list, "token list", "API tokens (never the token itself)"},
    {"token", "revoke", cmd_token_revoke, "token revoke ID",
     "revoke an API token and end its console sessions"},
};

static const char global_usage[] = "[OPTIONS] COMMAND [ARGS]";

int main(int argc, char **argv)
{
    log_init(PROG);
    cfg_opt common[CFG_COMMON_COUNT], opts[CFG_COMMON_COUNT];
    cfg_common_opts(common, &cfg);
    /* heraldctl never talks to Kafka: keep --brokers out of its options. */
    size_t nopts = 0;
    for (size_t i = 0; i < CFG_COMMON_COUNT; i++)
        if (!common[i].env || strcmp(common[i].env, "HERALD_KAFKA_BROKERS"))
            opts[nopts++] = common[i];
    int argi = 1;
    char err[512];
    switch (cfg_parse(PROG, global_usage, opts, nopts, argc, argv, &argi, err, sizeof err)) {
    case CFG_HELP:
        cli_print_commands(stdout, commands, ARRAY_LEN(commands));
        return 0;
    case CFG_ERROR:
        fprintf(stderr, "%s: %s\n", PROG, err);
        return 2;
    case CFG_OK:
        break;
    }
    /* libpq and libcurl write to sockets; a vanished peer must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    return cli_dispatch(PROG, commands, ARRAY_LEN(commands), &cfg, argc - argi, argv + argi);
}
