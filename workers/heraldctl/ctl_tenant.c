/*
 * heraldctl tenant actions | show: a tenant's settings, today who may press
 * Herald's buttons in its Slack messages (store/tenant_settings.h).
 */

#include "workers/heraldctl/ctl.h"
#include "workers/heraldctl/ctl_internal.h"

#include "common/util.h"
#include "store/remediations.h"
#include "store/tenant_settings.h"
#include "store/tenantjson.h"
#include "store/validation.h"
#include "workers/heraldctl/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ctl_flag_map tenant_flags[] = {
    {"tenant", "--tenant"}, {"who", "--who"}, {"users", "--users"},
    {"groups", "--groups"}, {NULL, NULL},
};

int ctl_tenant_actions(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {
        "tenant actions", "--tenant T --who channel|listed|none [--users U1,U2] [--groups S1,S2]",
        "Sets who may press the buttons (snooze, mute, acknowledge, nudge) in tenant T's Slack "
        "messages: anyone in the channel (channel, the default), the listed Slack users and the "
        "members of the listed user groups (listed), or nobody (none). Replaces the previous "
        "setting and lists."};
    char *tenant = NULL, *who_s = NULL, *users_s = NULL, *groups_s = NULL;
    const cfg_opt opts[] = {
        {"--tenant", NULL, CFG_STRING, NULL, 0, 0, "T", "tenant id (required)", &tenant},
        {"--who", NULL, CFG_STRING, NULL, 0, 0, "channel|listed|none", "who may act (required)",
         &who_s},
        {"--users", NULL, CFG_STRING, NULL, 0, 0, "U1,U2",
         "Slack user ids (U0123ABCD, W0123ABCD), comma-separated (with --who listed)", &users_s},
        {"--groups", NULL, CFG_STRING, NULL, 0, 0, "S1,S2",
         "Slack user group ids (S0123ABCD), comma-separated (with --who listed)", &groups_s},
    };
    int rc = ctl_parse(&c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0);
    if (rc >= 0)
        return rc;
    if (!tenant)
        return cli_usage_error(CTL_PROG, c.name, "--tenant is required");
    if (!who_s)
        return cli_usage_error(CTL_PROG, c.name, "--who is required");
    char err[512];
    store_action_who who;
    char **users = NULL, **groups = NULL;
    size_t nu = 0, ng = 0;
    /* Every value is checked before connecting: a bad one is a usage error. */
    store_status st = store_tenant_check(tenant, err, sizeof err);
    if (st == STORE_OK)
        st = store_action_who_parse(who_s, &who, err, sizeof err);
    if (st == STORE_OK && users_s)
        st = store_action_ids_parse("users", users_s, &users, &nu, err, sizeof err);
    if (st == STORE_OK && groups_s)
        st = store_action_ids_parse("groups", groups_s, &groups, &ng, err, sizeof err);
    PGconn *conn = NULL;
    if (st != STORE_OK)
        rc = ctl_report(c.name, st, err, tenant_flags);
    else if ((rc = ctl_open(ctx, c.name, &conn)) < 0)
        rc = ctl_close(conn, c.name,
                       store_action_settings_set(conn, tenant, who, (const char *const *)users, nu,
                                                 (const char *const *)groups, ng, err, sizeof err),
                       err, tenant_flags);
    store_strv_destroy(users, nu);
    store_strv_destroy(groups, ng);
    if (rc >= 0)
        return rc;
    printf("tenant %s: Slack actions by %s\n", tenant,
           who == STORE_ACTIONS_CHANNEL  ? "anyone in the channel"
           : who == STORE_ACTIONS_LISTED ? "the listed users and user groups"
                                         : "nobody");
    return 0;
}

/* "U1, U2" or "-". */
static void print_ids(const char *label, char *const *v, size_t n)
{
    printf("%-15s", label);
    if (n == 0)
        printf(" -");
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? ", " : " ", v[i]);
    printf("\n");
}

int ctl_tenant_show(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {"tenant show", "--tenant T [--json]",
                                  "Shows a tenant's settings: who may act from Slack and how "
                                  "many check types have a remediation text of their own."};
    char *tenant = NULL;
    bool json = false;
    const cfg_opt opts[] = {
        {"--tenant", NULL, CFG_STRING, NULL, 0, 0, "T", "tenant id (required)", &tenant},
        {"--json", NULL, CFG_BOOL, NULL, 0, 0, NULL, "print a JSON object", &json},
    };
    int rc = ctl_parse(&c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0);
    if (rc >= 0)
        return rc;
    if (!tenant)
        return cli_usage_error(CTL_PROG, c.name, "--tenant is required");
    PGconn *conn;
    if ((rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    char err[512];
    store_action_settings s = {0};
    store_remediations l = {0};
    store_status st = store_action_settings_get(conn, tenant, &s, err, sizeof err);
    if (st == STORE_OK)
        st = store_remediation_list(conn, tenant, &l, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, tenant_flags)) >= 0) {
        store_action_settings_dispose(&s);
        return rc;
    }
    size_t custom = 0;
    for (size_t i = 0; i < l.n; i++)
        custom += !l.items[i].is_default;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "tenant", tenant);
        cJSON_AddItemToObject(o, "slack_actions", tenantjson_action_settings(&s));
        cJSON_AddNumberToObject(o, "check_types", (double)l.n);
        cJSON_AddNumberToObject(o, "custom_remediations", (double)custom);
        ctl_print_json(o);
    } else {
        char when[32];
        printf("%-15s %s\n", "tenant:", tenant);
        printf("%-15s %s%s\n", "slack actions:", store_action_who_name(s.who),
               s.stored ? "" : " (default)");
        print_ids("action users:", s.users, s.n_users);
        print_ids("action groups:", s.groups, s.n_groups);
        printf("%-15s %s\n", "updated:", cli_time_format(s.updated_at_ms, when, sizeof when));
        printf("%-15s %zu check types, %zu with a text of their own\n", "remediations:", l.n,
               custom);
    }
    store_action_settings_dispose(&s);
    store_remediations_dispose(&l);
    return 0;
}
