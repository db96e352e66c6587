/* heraldctl workspace add | list | remove | share | unshare. */

#include "workers/heraldctl/ctl.h"
#include "store/workspaces.h"
#include "workers/heraldctl/ctl_internal.h"

#include "workers/heraldctl/cli.h"
#include "store/storejson.h"
#include "common/util.h"
#include "common/utf8.h"
#include "common/event.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const ctl_flag_map workspace_flags[] = {
    {"team_id", "--team-id"},
    {"team_name", "--name"},
    {"bot_user_id", "--bot-user"},
    {"scopes", "--scopes"},
    {"token", "token"},
    {"refresh_token", "HERALD_SLACK_REFRESH_TOKEN"},
    {"expires_in", "--token-expires-in"},
    {NULL, NULL},
};

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

int ctl_workspace_add(void *ctx, int argc, char **argv)
{
    const herald_common_config *cfg = ctx;
    static const cfg_command c = {
        "workspace add",
        "--team-id T --name NAME [--bot-user U] [--scopes S] [--token-stdin] "
        "[--token-expires-in SECONDS]",
        "Stores a Slack workspace installation: its bot token is read from HERALD_SLACK_TOKEN, "
        "or from one line of standard input with --token-stdin, encrypted with HERALD_SECRET_KEY "
        "and never printed. With token rotation, also set HERALD_SLACK_REFRESH_TOKEN (stored "
        "encrypted too) and give the token's lifetime (Slack's expires_in) with "
        "--token-expires-in; senders with the app's client id and secret then refresh it. "
        "Adding a team id again replaces its token, refresh token and expiry and clears a "
        "revoked state (a reinstall)."};
    char *team = NULL, *name = NULL, *bot = NULL, *scopes = NULL;
    bool from_stdin = false;
    long expires_in = 0; /* stays 0 unless given: the flag's minimum is 1 */
    const cfg_opt opts[] = {
        {"--team-id", NULL, CFG_STRING, NULL, 0, 0, "T", "Slack team id (required), e.g. T0123ABCD",
         &team},
        {"--name", NULL, CFG_STRING, NULL, 0, 0, "NAME", "workspace name (required)", &name},
        {"--bot-user", NULL, CFG_STRING, NULL, 0, 0, "U", "the bot's user id", &bot},
        {"--scopes", NULL, CFG_STRING, NULL, 0, 0, "S", "granted scopes, comma-separated", &scopes},
        {"--token-stdin", NULL, CFG_BOOL, NULL, 0, 0, NULL,
         "read the bot token from one line of standard input instead of HERALD_SLACK_TOKEN",
         &from_stdin},
        {"--token-expires-in", NULL, CFG_INT, NULL, 1, 1000000000L, "SECONDS",
         "token rotation: seconds the bot token lives (with HERALD_SLACK_REFRESH_TOKEN)",
         &expires_in},
    };
    int rc = ctl_parse(&c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0);
    if (rc >= 0)
        return rc;
    if (!team)
        return cli_usage_error(CTL_PROG, c.name, "--team-id is required");
    if (!name)
        return cli_usage_error(CTL_PROG, c.name, "--name is required");
    crypto_keyring key[1];
    if ((rc = ctl_load_key(cfg, c.name, "storing a bot token needs it", key)))
        return rc;

    char err[512];
    char line[4100];
    const char *token;
    if (from_stdin) {
        if (read_token_line(line, sizeof line, err, sizeof err)) {
            crypto_wipe(line, sizeof line);
            crypto_wipe(key, sizeof key);
            return cli_usage_error(CTL_PROG, c.name, "%s", err);
        }
        token = line;
    } else {
        token = getenv("HERALD_SLACK_TOKEN");
        if (!token || !*token) {
            crypto_wipe(key, sizeof key);
            return cli_usage_error(CTL_PROG, c.name,
                                   "no bot token: set HERALD_SLACK_TOKEN or pass --token-stdin");
        }
    }

    const char *refresh = getenv("HERALD_SLACK_REFRESH_TOKEN");
    if (refresh && !*refresh)
        refresh = NULL;
    if (!refresh != !expires_in) {
        crypto_wipe(line, sizeof line);
        crypto_wipe(key, sizeof key);
        return cli_usage_error(CTL_PROG, c.name,
                               "token rotation needs both HERALD_SLACK_REFRESH_TOKEN and "
                               "--token-expires-in");
    }

    PGconn *conn;
    store_status st = STORE_DB;
    bool replaced = false;
    if ((rc = ctl_open(cfg, c.name, &conn)) < 0) {
        store_workspace_input in = {.team_id = team,
                                    .team_name = name,
                                    .bot_user_id = bot,
                                    .scopes = scopes,
                                    .token = token,
                                    .refresh_token = refresh,
                                    .expires_in = refresh ? expires_in : 0};
        st = store_workspace_put(conn, key, &in, &replaced, err, sizeof err);
    }
    crypto_wipe(line, sizeof line);
    crypto_wipe(key, sizeof key);
    if (rc >= 0 || (rc = ctl_close(conn, c.name, st, err, workspace_flags)) >= 0)
        return rc;
    char st_team[80], st_name[256];
    printf("workspace %s (%s) %s\n", utf8_safe(team, 0, st_team, sizeof st_team),
           utf8_safe(name, 0, st_name, sizeof st_name),
           replaced ? "reinstalled: token replaced, revoked state cleared" : "added");
    return 0;
}

int ctl_workspace_list(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {"workspace list", "[--json]",
                                  "Lists the installed workspaces with their state and how many "
                                  "targets use each. Tokens are never shown."};
    bool json = false;
    const cfg_opt opts[] = {
        {"--json", NULL, CFG_BOOL, NULL, 0, 0, NULL, "print a JSON array", &json},
    };
    PGconn *conn;
    int rc = ctl_parse_open(ctx, &c, opts, ARRAY_LEN(opts), argc, argv, &conn);
    if (rc >= 0)
        return rc;
    char err[512];
    store_workspaces l = {0};
    store_status st = store_workspace_list(conn, &l, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, NULL)) >= 0)
        return rc;
    if (json) {
        ctl_print_json(storejson_workspaces(&l));
    } else if (l.n == 0) {
        printf("no workspaces installed (add one with: %s workspace add)\n", CTL_PROG);
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
            else if (w->rotating && w->token_expires_at_ms)
                snprintf(status, sizeof status, "active (rotating, token expires %s)",
                         cli_time_format(w->token_expires_at_ms, when, sizeof when));
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
    store_workspaces_dispose(&l);
    return 0;
}

int ctl_workspace_remove(void *ctx, int argc, char **argv)
{
    const herald_common_config *cfg = ctx;
    static const cfg_command c = {
        "workspace remove", "TEAM_ID [--force]",
        "Removes a workspace installation and destroys its token. Refused while targets use it, "
        "unless --force, which removes those targets too. Delivery history is kept."};
    bool force = false;
    const cfg_opt opts[] = {
        {"--force", NULL, CFG_BOOL, NULL, 0, 0, NULL,
         "also remove the targets that use the workspace", &force},
    };
    const char *pos[1] = {NULL};
    PGconn *conn;
    int rc = ctl_parse(&c, opts, ARRAY_LEN(opts), argc, argv, pos, 1);
    if (rc >= 0)
        return rc;
    if (!pos[0])
        return cli_usage_error(CTL_PROG, c.name, "missing TEAM_ID (see --help)");
    if ((rc = ctl_open(cfg, c.name, &conn)) >= 0)
        return rc;
    char err[512];
    long removed = 0;
    store_status st = store_workspace_remove(conn, pos[0], force, &removed, err, sizeof err);
    if (st == STORE_CONFLICT) {
        /* Refused while targets use it: the way past that is --force. */
        char hinted[sizeof err + sizeof " (--force)"];
        snprintf(hinted, sizeof hinted, "%s (--force)", err);
        return ctl_close(conn, c.name, st, hinted, NULL);
    }
    if ((rc = ctl_close(conn, c.name, st, err, NULL)) >= 0)
        return rc;
    char safe[80];
    if (removed > 0)
        printf("workspace %s removed, with %ld target%s\n", utf8_safe(pos[0], 0, safe, sizeof safe),
               removed, removed == 1 ? "" : "s");
    else
        printf("workspace %s removed\n", utf8_safe(pos[0], 0, safe, sizeof safe));
    return 0;
}

/* workspace share / unshare: TEAM_ID and --tenant T (required, a tenant id);
 * unshare also --force. Fills team and tenant; -1 to go on, else the exit
 * code. */
static int parse_share(const cfg_command *c, bool with_force, bool *force, int argc, char **argv,
                       const char **team, char **tenant)
{
    const cfg_opt opts[] = {
        {"--tenant", NULL, CFG_STRING, NULL, 0, 0, "T", "tenant id (required)", tenant},
        {"--force", NULL, CFG_BOOL, NULL, 0, 0, NULL,
         "also remove the tenant's targets that use the workspace", force},
    };
    const char *pos[1] = {NULL};
    int rc = ctl_parse(c, opts, with_force ? 2 : 1, argc, argv, pos, 1);
    if (rc >= 0)
        return rc;
    if (!pos[0])
        return cli_usage_error(CTL_PROG, c->name, "missing TEAM_ID (see --help)");
    if (!*tenant)
        return cli_usage_error(CTL_PROG, c->name, "--tenant is required");
    if (!event_is_identifier(*tenant)) {
        char safe[160];
        return cli_usage_error(CTL_PROG, c->name,
                               "--tenant: '%s' is not a tenant id (1 to 128 characters of A-Z "
                               "a-z 0-9 . _ : -)",
                               utf8_safe(*tenant, 0, safe, sizeof safe));
    }
    *team = pos[0];
    return -1;
}

int ctl_workspace_share(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {
        "workspace share", "TEAM_ID --tenant T",
        "Links an installed workspace to another tenant, which may then see it, list its "
        "channels and point its targets at it (with the installation's one bot token). A "
        "tenant's own \"Add to Slack\" never attaches it to a workspace another tenant holds: "
        "sharing is the operator's decision."};
    const char *team = NULL;
    char *tenant = NULL;
    bool force = false;
    int rc = parse_share(&c, false, &force, argc, argv, &team, &tenant);
    if (rc >= 0)
        return rc;
    PGconn *conn;
    if ((rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    char err[512];
    store_status st = store_workspace_share(conn, team, tenant, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, NULL)) >= 0)
        return rc;
    char st_team[80], st_tenant[160];
    printf("workspace %s shared with tenant %s\n", utf8_safe(team, 0, st_team, sizeof st_team),
           utf8_safe(tenant, 0, st_tenant, sizeof st_tenant));
    return 0;
}

int ctl_workspace_unshare(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {
        "workspace unshare", "TEAM_ID --tenant T [--force]",
        "Unlinks a workspace from a tenant; the installation stays for the others. Refused "
        "while targets of that tenant use it, unless --force, which removes them."};
    const char *team = NULL;
    char *tenant = NULL;
    bool force = false;
    int rc = parse_share(&c, true, &force, argc, argv, &team, &tenant);
    if (rc >= 0)
        return rc;
    PGconn *conn;
    if ((rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    char err[512];
    long removed = 0;
    store_status st = store_workspace_unshare(conn, team, tenant, force, &removed, err, sizeof err);
    if (st == STORE_CONFLICT) {
        char hinted[sizeof err + sizeof " (--force)"];
        snprintf(hinted, sizeof hinted, "%s (--force)", err);
        return ctl_close(conn, c.name, st, hinted, NULL);
    }
    if ((rc = ctl_close(conn, c.name, st, err, NULL)) >= 0)
        return rc;
    char st_team[80], st_tenant[160];
    printf("workspace %s unshared from tenant %s", utf8_safe(team, 0, st_team, sizeof st_team),
           utf8_safe(tenant, 0, st_tenant, sizeof st_tenant));
    if (removed > 0)
        printf(", with %ld target%s", removed, removed == 1 ? "" : "s");
    putchar('\n');
    return 0;
}
