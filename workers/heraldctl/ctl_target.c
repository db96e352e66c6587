/* heraldctl target add | list | show | update | remove. */

#include "workers/heraldctl/ctl.h"
#include "store/targets.h"
#include "store/validation.h"
#include "workers/heraldctl/ctl_internal.h"

#include "workers/heraldctl/cli.h"
#include "store/storejson.h"
#include "common/util.h"
#include "common/utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ctl_flag_map target_flags[] = {
    {"tenant", "--tenant"},
    {"workspace", "--workspace"},
    {"name", "--name"},
    {"description", "--description"},
    {"destination", "--channel"},
    {"uses", "--uses"},
    {"checks", "--checks"},
    {"min_severity", "--min-severity"},
    {"repeat_policy", "--repeat"},
    {"repeat_interval_seconds", "--repeat-every"},
    {NULL, NULL},
};

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
    return cli_usage_error(CTL_PROG, cmd, "%s: '%s' is not on or off", flag,
                           utf8_safe(v, 0, safe, sizeof safe));
}

/* The setting flags target add and target update share (NULL: not given). */
typedef struct target_setting_flags {
    char *uses, *checks, *digest, *thread_repeats;
    char *min_severity, *repeat, *repeat_every, *notify_resolved, *nudge;
} target_setting_flags;

/* --repeat-every: a duration (common/config's syntax) of whole seconds within the
 * store's bounds, said in the flag's terms. Returns -1 to go on, else exit 2. */
static int parse_repeat_every(const char *cmd, const char *v, int64_t *seconds)
{
    char safe[80], bound[32];
    int64_t ms;
    if (!v)
        return -1;
    utf8_safe(v, 0, safe, sizeof safe);
    if (!cfg_parse_duration(v, 0, INT64_MAX / 2, &ms) || ms % 1000 != 0)
        return cli_usage_error(CTL_PROG, cmd,
                               "--repeat-every: '%s' is not a duration in whole seconds (30m, "
                               "4h, 1d)",
                               safe);
    if (ms < STORE_REPEAT_MIN_S * 1000LL)
        return cli_usage_error(CTL_PROG, cmd, "--repeat-every: '%s': at least %s", safe,
                               store_duration_text(STORE_REPEAT_MIN_S, bound, sizeof bound));
    if (ms > STORE_REPEAT_MAX_S * 1000LL)
        return cli_usage_error(CTL_PROG, cmd, "--repeat-every: '%s': at most %s", safe,
                               store_duration_text(STORE_REPEAT_MAX_S, bound, sizeof bound));
    *seconds = ms / 1000;
    return -1;
}

/*
 * The shared settings from their flags into in. *checks gets the parsed check
 * vector that in->checks points at (the caller frees it with
 * store_strv_destroy(*checks, in->n_checks)). Returns -1 to go on, else the
 * exit code (the error is printed).
 */
static int target_settings(const char *cmd, const target_setting_flags *set, store_target_input *in,
                           char ***checks)
{
    int rc;
    char err[512];
    store_status st;
    *checks = NULL;
    if ((rc = parse_toggle(cmd, "--digest", set->digest, &in->digest)) >= 0 ||
        (rc = parse_toggle(cmd, "--thread-repeats", set->thread_repeats, &in->thread_repeats)) >=
            0 ||
        (rc = parse_toggle(cmd, "--notify-resolved", set->notify_resolved, &in->notify_resolved)) >=
            0 ||
        (rc = parse_toggle(cmd, "--nudge", set->nudge, &in->nudge)) >= 0 ||
        (rc = parse_repeat_every(cmd, set->repeat_every, &in->repeat_interval_s)) >= 0)
        return rc;
    in->min_severity = set->min_severity;
    in->repeat_policy = set->repeat;
    if ((set->min_severity &&
         (st = store_min_severity_check(set->min_severity, err, sizeof err))) ||
        (set->repeat && (st = store_repeat_policy_check(set->repeat, err, sizeof err))))
        return ctl_report(cmd, st, err, target_flags);
    if (set->uses && (st = store_uses_parse(set->uses, &in->uses, err, sizeof err)))
        return ctl_report(cmd, st, err, target_flags);
    if (set->checks &&
        (st = store_checks_parse(set->checks, checks, &in->n_checks, err, sizeof err)))
        return ctl_report(cmd, st, err, target_flags);
    in->checks = (const char *const *)*checks;
    return -1;
}

/*
 * Completes in with the setting flags and stores it: creates a target when
 * *id is 0 and sets *id, else updates target *id. Returns -1 when stored,
 * else the exit code (the error is printed).
 */
static int target_save(const herald_common_config *cfg, const char *cmd,
                       const target_setting_flags *set, store_target_input *in, int64_t *id)
{
    char **checks;
    int rc = target_settings(cmd, set, in, &checks);
    if (rc >= 0)
        return rc;
    PGconn *conn;
    char err[512];
    store_status st = STORE_DB;
    rc = ctl_open(cfg, cmd, &conn);
    if (rc < 0)
        st = *id ? store_target_update(conn, NULL, *id, in, err, sizeof err)
                 : store_target_create(conn, in, id, err, sizeof err);
    store_strv_destroy(checks, in->n_checks);
    if (rc >= 0)
        return rc;
    /* The store's hint "clear the check filter too" (an update) is --all-checks here. */
    if (st == STORE_INVALID && strstr(err, "clear the check filter too"))
        strncat(err, " (--all-checks)", sizeof err - strlen(err) - 1);
    return ctl_close(conn, cmd, st, err, target_flags);
}

/* The noise settings' flags, the same for add and update (s: the settings
 * struct the values go into). */
/* clang-format off */
#define QUIET_OPTS(s)                                                                              \
    {"--min-severity", NULL, CFG_STRING, NULL, 0, 0, "SEV",                                        \
     "check results below low, medium, high or critical are kept quiet (default low)",             \
     &(s).min_severity},                                                                           \
    {"--repeat", NULL, CFG_STRING, NULL, 0, 0, "POLICY",                                           \
     "a still-failing check posts again: every run (every, the default), when its failing "        \
     "users change (on_change), or at most every --repeat-every (interval)", &(s).repeat},         \
    {"--repeat-every", NULL, CFG_STRING, NULL, 0, 0, "DURATION",                                   \
     "with --repeat interval (implied): at most this often, 1m to 30d (4h)", &(s).repeat_every},   \
    {"--notify-resolved", NULL, CFG_STRING, NULL, 0, 0, "on|off",                                  \
     "edit the message when the check passes again (default on)", &(s).notify_resolved},           \
    {"--nudge", NULL, CFG_STRING, NULL, 0, 0, "on|off",                                            \
     "check messages carry a \"Nudge failing users\" button (default off)", &(s).nudge}
/* clang-format on */

int ctl_target_add(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {
        "target add",
        "--tenant T --workspace TEAM_ID --name NAME [--description TEXT] "
        "--channel CHANNEL_ID|#name|email --uses failed_check[,data_collection] "
        "[--checks type1,type2] [--disabled] [--digest on|off] [--thread-repeats on|off] "
        "[--min-severity SEV] [--repeat POLICY] [--repeat-every DURATION] "
        "[--notify-resolved on|off] [--nudge on|off]",
        "Creates a notification target and prints its id (only the id, on standard output)."};
    char *tenant = NULL, *workspace = NULL, *name = NULL, *description = NULL, *channel = NULL;
    target_setting_flags set = {0};
    bool disabled = false;
    const cfg_opt opts[] = {
        {"--tenant", NULL, CFG_STRING, NULL, 0, 0, "T", "tenant id (required)", &tenant},
        {"--workspace", NULL, CFG_STRING, NULL, 0, 0, "TEAM_ID", "installed workspace (required)",
         &workspace},
        {"--name", NULL, CFG_STRING, NULL, 0, 0, "NAME",
         "target name, unique in the tenant (required)", &name},
        {"--description", NULL, CFG_STRING, NULL, 0, 0, "TEXT", "free text", &description},
        {"--channel", NULL, CFG_STRING, NULL, 0, 0, "DEST",
         "channel id (C0123ABC), #channel-name or a member's email address (required)", &channel},
        {"--uses", NULL, CFG_STRING, NULL, 0, 0, "USES",
         "failed_check, data_collection or both, comma-separated "
         "(required)",
         &set.uses},
        {"--checks", NULL, CFG_STRING, NULL, 0, 0, "TYPES",
         "only these check types, comma-separated (failed_check targets; default: every check)",
         &set.checks},
        {"--disabled", NULL, CFG_BOOL, NULL, 0, 0, NULL, "create it disabled", &disabled},
        {"--digest", NULL, CFG_STRING, NULL, 0, 0, "on|off",
         "fold a backlog for its channel into one digest message (default on)", &set.digest},
        {"--thread-repeats", NULL, CFG_STRING, NULL, 0, 0, "on|off",
         "repeats of a still-failing check go in the thread of its first message (default off)",
         &set.thread_repeats},
        QUIET_OPTS(set),
    };
    int rc = ctl_parse(&c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0);
    if (rc >= 0)
        return rc;
    static const char *const required[] = {"--tenant", "--workspace", "--name", "--channel",
                                           "--uses"};
    const char *vals[] = {tenant, workspace, name, channel, set.uses};
    for (size_t i = 0; i < ARRAY_LEN(required); i++)
        if (!vals[i])
            return cli_usage_error(CTL_PROG, c.name, "%s is required", required[i]);
    store_target_input in = {.tenant = tenant,
                             .workspace = workspace,
                             .name = name,
                             .description = description,
                             .destination = channel,
                             .enabled = disabled ? 0 : 1};
    int64_t id = 0;
    if ((rc = target_save(ctx, c.name, &set, &in, &id)) >= 0)
        return rc;
    printf("%" PRId64 "\n", id);
    return 0;
}

/* "every", "on_change" or "interval, every 4h". */
static const char *repeat_text(const store_target *t, char *buf, size_t size)
{
    char d[32];
    if (t->repeat_interval_s > 0)
        snprintf(buf, size, "%s, every %s", t->repeat_policy,
                 store_duration_text(t->repeat_interval_s, d, sizeof d));
    else
        snprintf(buf, size, "%s", t->repeat_policy);
    return buf;
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

int ctl_target_list(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {"target list", "[--tenant T] [--json]",
                                  "Lists notification targets (of one tenant, or all) with "
                                  "their destination, uses, check filter and health."};
    char *tenant = NULL;
    bool json = false;
    const cfg_opt opts[] = {
        {"--tenant", NULL, CFG_STRING, NULL, 0, 0, "T", "only this tenant's targets", &tenant},
        {"--json", NULL, CFG_BOOL, NULL, 0, 0, NULL, "print a JSON array", &json},
    };
    PGconn *conn;
    int rc = ctl_parse_open(ctx, &c, opts, ARRAY_LEN(opts), argc, argv, &conn);
    if (rc >= 0)
        return rc;
    char err[512];
    store_targets l = {0};
    store_status st = store_target_list(conn, tenant, &l, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, target_flags)) >= 0)
        return rc;
    if (json) {
        ctl_print_json(storejson_targets(&l));
    } else if (l.n == 0) {
        printf("no targets\n");
    } else {
        static const char *const hdr[] = {
            "ID",       "TENANT",     "NAME",           "WORKSPACE",    "DESTINATION",
            "USES",     "CHECKS",     "STATE",          "MIN_SEVERITY", "REPEAT",
            "SENT_24H", "FAILED_24H", "SUPPRESSED_24H", "LAST_SUCCESS", "LAST_ERROR"};
        cli_table *t = cli_table_new(ARRAY_LEN(hdr), hdr);
        cli_table_set_max_width(t, 2, 32);
        cli_table_set_max_width(t, 6, 32);
        cli_table_set_max_width(t, 14, 40);
        for (size_t i = 0; i < l.n; i++) {
            const store_target *x = &l.items[i];
            char id[24], uses[64], checks[256], state[64], sent[24], failed[24], succ[32],
                lasterr[160], when[32], repeat[64], quiet[24];
            snprintf(id, sizeof id, "%" PRId64, x->id);
            snprintf(state, sizeof state, "%s%s", x->enabled ? "enabled" : "disabled",
                     x->workspace_revoked ? ", workspace revoked" : "");
            snprintf(sent, sizeof sent, "%ld", x->health.sent_24h);
            snprintf(failed, sizeof failed, "%ld", x->health.failed_24h);
            snprintf(quiet, sizeof quiet, "%ld", x->health.suppressed_24h);
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
                                 x->min_severity,
                                 repeat_text(x, repeat, sizeof repeat),
                                 sent,
                                 failed,
                                 quiet,
                                 cli_time_format(x->health.last_success_at_ms, succ, sizeof succ),
                                 lasterr};
            cli_table_add(t, row);
        }
        cli_table_print(t, stdout);
        cli_table_destroy(t);
    }
    store_targets_dispose(&l);
    return 0;
}

int ctl_target_show(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {"target show", "ID [--json]",
                                  "Shows one target: its settings, check filter and health "
                                  "(deliveries by state over 24 hours, last success, last "
                                  "error with its reason)."};
    bool json = false;
    const cfg_opt opts[] = {
        {"--json", NULL, CFG_BOOL, NULL, 0, 0, NULL, "print a JSON object", &json},
    };
    int64_t id;
    PGconn *conn;
    int rc = ctl_parse_id_command(&c, opts, ARRAY_LEN(opts), argc, argv, "target id", &id);
    if (rc >= 0 || (rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    char err[512];
    store_target *t = NULL;
    store_status st = store_target_get(conn, NULL, id, &t, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, target_flags)) >= 0)
        return rc;
    if (json) {
        ctl_print_json(storejson_target(t));
        store_target_destroy(t);
        return 0;
    }
    char buf[512], b1[32], b2[32];
    snprintf(buf, sizeof buf, "%" PRId64, t->id);
    ctl_show_line(15, "id:", buf);
    ctl_show_line(15, "tenant:", t->tenant_id);
    ctl_show_line(15, "name:", t->name);
    ctl_show_line(15, "description:", t->description);
    snprintf(buf, sizeof buf, "%s (%s)%s", t->team_id, t->team_name,
             t->workspace_revoked ? ", REVOKED: reinstall it" : "");
    ctl_show_line(15, "workspace:", buf);
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
    ctl_show_line(15, "destination:", buf);
    char uses[64];
    ctl_show_line(15, "uses:", store_uses_format(t->uses, uses, sizeof uses));
    char checks[2048];
    ctl_show_line(15, "checks:",
                  t->uses & STORE_USE_FAILED_CHECK ? checks_text(t, checks, sizeof checks) : "-");
    ctl_show_line(15, "enabled:", t->enabled ? "yes" : "no");
    ctl_show_line(15, "digest:", t->digest_enabled ? "on" : "off");
    ctl_show_line(15, "thread repeats:", t->thread_repeats ? "on" : "off");
    ctl_show_line(15, "min severity:", t->min_severity);
    ctl_show_line(15, "repeat:", repeat_text(t, buf, sizeof buf));
    ctl_show_line(15, "notify resolved:", t->notify_resolved ? "on" : "off");
    ctl_show_line(15, "nudge:", t->nudge_enabled ? "on" : "off");
    ctl_show_line(15, "created:", cli_time_format(t->created_at_ms, b1, sizeof b1));
    ctl_show_line(15, "updated:", cli_time_format(t->updated_at_ms, b2, sizeof b2));
    snprintf(buf, sizeof buf,
             "%ld sent, %ld failed, %ld suppressed, %ld pending, %ld retrying, %ld sending",
             t->health.sent_24h, t->health.failed_24h, t->health.suppressed_24h,
             t->health.pending_24h, t->health.retrying_24h, t->health.sending_24h);
    ctl_show_line(15, "last 24 hours:", buf);
    ctl_show_line(15,
                  "last success:", cli_time_format(t->health.last_success_at_ms, b1, sizeof b1));
    if (t->health.last_error_code) {
        snprintf(buf, sizeof buf, "%s %s%s%s",
                 cli_time_format(t->health.last_error_at_ms, b2, sizeof b2),
                 t->health.last_error_code,
                 t->health.last_error && *t->health.last_error ? ": " : "",
                 t->health.last_error ? t->health.last_error : "");
        ctl_show_line(15, "last error:", buf);
    } else {
        ctl_show_line(15, "last error:", NULL);
    }
    store_target_destroy(t);
    return 0;
}

int ctl_target_update(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {
        "target update",
        "ID [--name NAME] [--description TEXT] [--channel DEST] [--uses USES] "
        "[--checks TYPES | --all-checks] [--enable | --disable] [--digest on|off] "
        "[--thread-repeats on|off] [--min-severity SEV] [--repeat POLICY] "
        "[--repeat-every DURATION] [--notify-resolved on|off] [--nudge on|off]",
        "Changes the given settings of a target and leaves the others as they are."};
    char *name = NULL, *description = NULL, *channel = NULL;
    target_setting_flags set = {0};
    bool all_checks = false, enable = false, disable = false;
    const cfg_opt opts[] = {
        {"--name", NULL, CFG_STRING, NULL, 0, 0, "NAME", "new name, unique in the tenant", &name},
        {"--description", NULL, CFG_STRING, NULL, 0, 0, "TEXT", "new description (\"\" clears it)",
         &description},
        {"--channel", NULL, CFG_STRING, NULL, 0, 0, "DEST",
         "new destination: channel id, #channel-name or email", &channel},
        {"--uses", NULL, CFG_STRING, NULL, 0, 0, "USES", "failed_check, data_collection or both",
         &set.uses},
        {"--checks", NULL, CFG_STRING, NULL, 0, 0, "TYPES",
         "replace the check filter with these check types", &set.checks},
        {"--all-checks", NULL, CFG_BOOL, NULL, 0, 0, NULL,
         "clear the check filter: notify for every check", &all_checks},
        {"--enable", NULL, CFG_BOOL, NULL, 0, 0, NULL, "enable the target", &enable},
        {"--disable", NULL, CFG_BOOL, NULL, 0, 0, NULL,
         "disable the target (nothing is routed to it)", &disable},
        {"--digest", NULL, CFG_STRING, NULL, 0, 0, "on|off",
         "fold a backlog into one digest message, or not", &set.digest},
        {"--thread-repeats", NULL, CFG_STRING, NULL, 0, 0, "on|off",
         "repeats of a still-failing check as thread replies, or not", &set.thread_repeats},
        QUIET_OPTS(set),
    };
    int64_t id;
    int rc = ctl_parse_id_command(&c, opts, ARRAY_LEN(opts), argc, argv, "target id", &id);
    if (rc >= 0)
        return rc;
    if (set.checks && all_checks)
        return cli_usage_error(CTL_PROG, c.name,
                               "--checks and --all-checks cannot be used together");
    if (enable && disable)
        return cli_usage_error(CTL_PROG, c.name, "--enable and --disable cannot be used together");
    if (!name && !description && !channel && !set.uses && !set.checks && !all_checks && !enable &&
        !disable && !set.digest && !set.thread_repeats && !set.min_severity && !set.repeat &&
        !set.repeat_every && !set.notify_resolved && !set.nudge)
        return cli_usage_error(CTL_PROG, c.name,
                               "nothing to change: give at least one of --name, "
                               "--description, --channel, --uses, --checks, --all-checks, "
                               "--enable, --disable, --digest, --thread-repeats, "
                               "--min-severity, --repeat, --repeat-every, --notify-resolved, "
                               "--nudge");
    store_target_input in = {.name = name,
                             .description = description,
                             .destination = channel,
                             .set_checks = set.checks || all_checks,
                             .enabled = enable    ? 1
                                        : disable ? 0
                                                  : -1};
    if ((rc = target_save(ctx, c.name, &set, &in, &id)) >= 0)
        return rc;
    printf("target %" PRId64 " updated\n", id);
    return 0;
}

int ctl_target_remove(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {"target remove", "ID",
                                  "Removes a target: nothing is routed to it any more; its "
                                  "delivery history is kept."};
    int64_t id;
    PGconn *conn;
    int rc = ctl_parse_id_command(&c, NULL, 0, argc, argv, "target id", &id);
    if (rc >= 0 || (rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    char err[512];
    store_status st = store_target_remove(conn, NULL, id, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, target_flags)) >= 0)
        return rc;
    printf("target %" PRId64 " removed\n", id);
    return 0;
}
