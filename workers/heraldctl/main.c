/*
 * heraldctl: Herald's admin CLI, a thin layer over store/store.h.
 *
 *   heraldctl [global options] <command> [arguments]
 *
 * Exit codes: 0 done; 1 the database, Slack or the current state said no
 * (not found, in use, connection failed, Slack error); 2 usage: an unknown
 * command or flag, a missing or bad value. Errors are one line on stderr that
 * name the flag or value at fault. Tokens are never printed.
 *
 * The commands live in workers/heraldctl/ctl*.c (ctl.h); this file is their table
 * and the global options.
 */
#include "workers/heraldctl/cli.h"
#include "common/config.h"
#include "workers/heraldctl/ctl.h"
#include "common/log.h"
#include "common/util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#define PROG "heraldctl"

static herald_common_config cfg;

/* ================================================================ commands */

static const cli_subcommand commands[] = {
    {NULL, "migrate", ctl_migrate, "migrate",
     "apply the database migrations not yet applied (safe to repeat)"},
    {"workspace", "add", ctl_workspace_add,
     "workspace add --team-id T --name NAME [--bot-user U] [--scopes S] [--token-stdin]",
     "store a Slack installation; token from HERALD_SLACK_TOKEN or stdin, never echoed"},
    {"workspace", "list", ctl_workspace_list, "workspace list [--json]",
     "installed workspaces, their state and target counts (never tokens)"},
    {"workspace", "remove", ctl_workspace_remove, "workspace remove TEAM_ID [--force]",
     "remove an installation (refused while targets use it, unless --force)"},
    {"workspace", "share", ctl_workspace_share, "workspace share TEAM_ID --tenant T",
     "link an installed workspace to another tenant (only an operator shares)"},
    {"workspace", "unshare", ctl_workspace_unshare,
     "workspace unshare TEAM_ID --tenant T [--force]",
     "unlink a workspace from a tenant (refused while its targets use it, unless --force)"},
    {"target", "add", ctl_target_add,
     "target add --tenant T --workspace TEAM_ID --name NAME [--description TEXT]\n"
     "      --channel CHANNEL_ID|#name|email --uses failed_check[,data_collection]\n"
     "      [--checks type1,type2] [--disabled] [--digest on|off] [--thread-repeats on|off]\n"
     "      [--min-severity low|medium|high|critical] [--repeat every|on_change|interval]\n"
     "      [--repeat-every DURATION] [--notify-resolved on|off] [--nudge on|off]",
     "create a notification target; prints its id"},
    {"target", "list", ctl_target_list, "target list [--tenant T] [--json]",
     "targets with destination, uses, check filter and health"},
    {"target", "show", ctl_target_show, "target show ID [--json]",
     "one target with its check filter, 24-hour counts, last success and last error"},
    {"target", "update", ctl_target_update,
     "target update ID [--name N] [--description D] [--channel C] [--uses U]\n"
     "      [--checks T | --all-checks] [--enable | --disable] [--digest on|off]\n"
     "      [--thread-repeats on|off] [--min-severity SEV] [--repeat POLICY]\n"
     "      [--repeat-every DURATION] [--notify-resolved on|off] [--nudge on|off]",
     "change the given settings of a target"},
    {"target", "remove", ctl_target_remove, "target remove ID",
     "remove a target (its delivery history is kept)"},
    {NULL, "deliveries", ctl_deliveries,
     "deliveries [--tenant T] [--target ID] [--state S] [--since WHEN] [--limit N]\n"
     "      [--kind K] [--offset N] [--before ID] [--json]",
     "deliveries, newest first, with Slack channel/ts or the error and its reason"},
    {"silence", "add", ctl_silence_add,
     "silence add --tenant T [--check TYPE] [--target ID] [--workspace TEAM_ID]\n"
     "      (--for DURATION | --until TIME | --forever) --reason TEXT [--starts TIME]",
     "keep a tenant's matching notifications quiet for a while; prints its id"},
    {"silence", "list", ctl_silence_list, "silence list [--tenant T] [--all] [--json]",
     "silences in effect or scheduled (--all: also ended and expired ones)"},
    {"silence", "show", ctl_silence_show, "silence show ID [--json]", "one silence"},
    {"silence", "expire", ctl_silence_expire, "silence expire ID",
     "end a silence now (an expired one is left as it is)"},
    {NULL, "test", ctl_test, "test TARGET_ID",
     "send a test message to a target now and print Slack's answer"},
    {"token", "create", ctl_token_create, "token create [--tenant T] [--name N]",
     "create an API token for herald-api; printed once (stdout), stored hashed"},
    {"token", "list", ctl_token_list, "token list", "API tokens (never the token itself)"},
    {"token", "revoke", ctl_token_revoke, "token revoke ID",
     "revoke an API token and end its console sessions"},
    {"stats", "rebuild", ctl_stats_rebuild, "stats rebuild [--since WHEN]",
     "recompute the hourly delivery rollups from deliveries (holds writers meanwhile)"},
    {NULL, "prune", ctl_prune, "prune [--dry-run] [--retention D] [--stats-retention D]",
     "remove old terminal deliveries, unreferenced events and old rollups (batched)"},
    {"remediation", "list", ctl_remediation_list, "remediation list --tenant T [--json]",
     "check types of a tenant with the text a nudge sends, default or its own"},
    {"remediation", "set", ctl_remediation_set,
     "remediation set --tenant T --check TYPE (--text TEXT | --text-stdin)",
     "set a tenant's remediation text for a check type"},
    {"remediation", "reset", ctl_remediation_reset, "remediation reset --tenant T --check TYPE",
     "go back to Herald's default text for a check type"},
    {"secrets", "rotate", ctl_secrets_rotate, "secrets rotate",
     "re-seal every stored token under HERALD_SECRET_KEY (after HERALD_SECRET_KEY_PREVIOUS)"},
    {"tenant", "actions", ctl_tenant_actions,
     "tenant actions --tenant T --who channel|listed|none [--users U1,U2] [--groups S1,S2]",
     "who may press Herald's buttons in the tenant's Slack messages"},
    {"tenant", "show", ctl_tenant_show, "tenant show --tenant T [--json]",
     "a tenant's settings: who may act from Slack, remediation texts"},
};

static const char global_usage[] = "[OPTIONS] COMMAND [ARGS]";

int main(int argc, char **argv)
{
    log_init(PROG);
    /* heraldctl never talks to Kafka: no --brokers. */
    cfg_opt opts[CFG_COMMON_COUNT];
    size_t nopts = cfg_common_select(opts, &cfg, CFG_USE_DATABASE | CFG_USE_SLACK | CFG_USE_SECRET);
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
