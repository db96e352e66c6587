/* heraldctl silence add | list | show | expire (store/silences.h). */

#include "workers/heraldctl/ctl.h"
#include "workers/heraldctl/ctl_internal.h"

#include "workers/heraldctl/cli.h"
#include "common/event.h"
#include "common/utf8.h"
#include "common/util.h"
#include "store/silences.h"
#include "store/storejson.h"

#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const ctl_flag_map silence_flags[] = {
    {"tenant_id", "--tenant"},
    {"check_type", "--check"},
    {"target_id", "--target"},
    {"team_id", "--workspace"},
    {"starts_at", "--starts"},
    {"ends_at", "--until"},
    {"duration_seconds", "--for"},
    {"reason", "--reason"},
    {"scope", "--check/--target/--workspace"},
    {NULL, NULL},
};

/* "cli:<login>": $USER, else the login of the process's user, else "unknown". */
static void cli_author(char *buf, size_t size)
{
    const char *who = getenv("USER");
    if (!who || !*who) {
        const struct passwd *pw = getpwuid(getuid());
        who = pw && pw->pw_name ? pw->pw_name : "unknown";
    }
    snprintf(buf, size, "cli:%s", who);
}

/* An RFC 3339 time flag (NULL: not given, *ms 0): -1 to go on, else exit 2. */
static int parse_time_flag(const char *cmd, const char *flag, const char *v, int64_t *ms)
{
    *ms = 0;
    if (!v || event_parse_time(v, ms))
        return -1;
    char safe[80];
    return cli_usage_error(CTL_PROG, cmd, "%s: '%s' is not an RFC 3339 time (2026-12-07T10:00:00Z)",
                           flag, utf8_safe(v, 0, safe, sizeof safe));
}

int ctl_silence_add(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {
        "silence add",
        "--tenant T [--check TYPE] [--target ID] [--workspace TEAM_ID] "
        "(--for DURATION | --until TIME | --forever) --reason TEXT [--starts TIME]",
        "Keeps the tenant's notifications that match every given scope quiet (recorded as "
        "suppressed, reason silenced) from --starts (default now) until the end, and prints "
        "the silence's id. A check type scope matches check results of that type; a target or "
        "workspace scope matches every notification of it."};
    char *tenant = NULL, *check = NULL, *workspace = NULL, *until = NULL, *starts = NULL,
         *reason = NULL;
    long target = 0;
    int64_t for_ms = 0;
    bool forever = false;
    const cfg_opt opts[] = {
        {"--tenant", NULL, CFG_STRING, NULL, 0, 0, "T", "tenant id (required)", &tenant},
        {"--check", NULL, CFG_STRING, NULL, 0, 0, "TYPE", "only check results of this type",
         &check},
        {"--target", NULL, CFG_INT, NULL, 1, INT64_MAX, "ID", "only this target of the tenant",
         &target},
        {"--workspace", NULL, CFG_STRING, NULL, 0, 0, "TEAM_ID",
         "only targets in this workspace (linked to the tenant)", &workspace},
        {"--for", NULL, CFG_DURATION, NULL, 1000, 100L * 366 * 86400 * 1000, "DURATION",
         "how long from the start (90m, 2h, 7d)", &for_ms},
        {"--until", NULL, CFG_STRING, NULL, 0, 0, "TIME",
         "when it ends, an RFC 3339 time (2026-12-07T10:00:00Z)", &until},
        {"--forever", NULL, CFG_BOOL, NULL, 0, 0, NULL, "no end: a mute, until expired", &forever},
        {"--reason", NULL, CFG_STRING, NULL, 0, 0, "TEXT",
         "why, shown with it (required, at most 500 characters)", &reason},
        {"--starts", NULL, CFG_STRING, NULL, 0, 0, "TIME",
         "when it starts, an RFC 3339 time (default now)", &starts},
    };
    int rc = ctl_parse(&c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0);
    if (rc >= 0)
        return rc;
    if (!tenant)
        return cli_usage_error(CTL_PROG, c.name, "--tenant is required");
    if (!reason)
        return cli_usage_error(CTL_PROG, c.name, "--reason is required (why it is quiet)");
    if ((for_ms != 0) + (until != NULL) + forever != 1)
        return cli_usage_error(CTL_PROG, c.name,
                               "give exactly one of --for DURATION, --until TIME or --forever");
    store_silence_input in = {.tenant = tenant,
                              .check_type = check,
                              .target_id = target,
                              .team_id = workspace,
                              .duration_ms = for_ms,
                              .forever = forever,
                              .reason = reason};
    if ((rc = parse_time_flag(c.name, "--until", until, &in.ends_at_ms)) >= 0 ||
        (rc = parse_time_flag(c.name, "--starts", starts, &in.starts_at_ms)) >= 0)
        return rc;
    char author[300];
    cli_author(author, sizeof author);
    in.author = author;
    PGconn *conn;
    if ((rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    char err[512];
    int64_t id = 0;
    store_status st = store_silence_add(conn, &in, &id, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, silence_flags)) >= 0)
        return rc;
    printf("%" PRId64 "\n", id);
    return 0;
}

/* "check weak_mfa, target 5 (sec-alerts), workspace T0123". */
static const char *scope_text(const store_silence *s, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    if (s->check_type)
        o += (size_t)snprintf(buf + o, size - o, "check %s", s->check_type);
    if (s->target_id && o < size)
        o += (size_t)snprintf(buf + o, size - o, "%starget %" PRId64 "%s%s%s", o ? ", " : "",
                              s->target_id, s->target_name ? " (" : "",
                              s->target_name ? s->target_name : "", s->target_name ? ")" : "");
    if (s->team_id && o < size)
        snprintf(buf + o, size - o, "%sworkspace %s", o ? ", " : "", s->team_id);
    return buf;
}

static const char *ends_text(const store_silence *s, char *buf, size_t size)
{
    return s->ends_at_ms ? cli_time_format(s->ends_at_ms, buf, size) : "never (mute)";
}

int ctl_silence_list(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {"silence list", "[--tenant T] [--all] [--json]",
                                  "Lists the silences in effect or scheduled (of one tenant, or "
                                  "all); --all adds the ended and expired ones (the newest "
                                  "1000)."};
    char *tenant = NULL;
    bool all = false, json = false;
    const cfg_opt opts[] = {
        {"--tenant", NULL, CFG_STRING, NULL, 0, 0, "T", "only this tenant's silences", &tenant},
        {"--all", NULL, CFG_BOOL, NULL, 0, 0, NULL, "also ended and expired silences", &all},
        {"--json", NULL, CFG_BOOL, NULL, 0, 0, NULL, "print a JSON array", &json},
    };
    PGconn *conn;
    int rc = ctl_parse_open(ctx, &c, opts, ARRAY_LEN(opts), argc, argv, &conn);
    if (rc >= 0)
        return rc;
    char err[512];
    store_silences l = {0};
    store_status st = store_silence_list(conn, tenant, all, &l, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, silence_flags)) >= 0)
        return rc;
    if (json) {
        ctl_print_json(storejson_silences(&l));
    } else if (l.n == 0) {
        printf("no silences\n");
    } else {
        static const char *const hdr[] = {"ID",   "TENANT", "SCOPE",  "STARTS",
                                          "ENDS", "STATE",  "AUTHOR", "REASON"};
        cli_table *t = cli_table_new(ARRAY_LEN(hdr), hdr);
        cli_table_set_max_width(t, 2, 60);
        cli_table_set_max_width(t, 7, 60);
        for (size_t i = 0; i < l.n; i++) {
            const store_silence *s = &l.items[i];
            char id[24], scope[512], b1[32], b2[32];
            snprintf(id, sizeof id, "%" PRId64, s->id);
            const char *row[] = {id,
                                 s->tenant_id,
                                 scope_text(s, scope, sizeof scope),
                                 cli_time_format(s->starts_at_ms, b1, sizeof b1),
                                 ends_text(s, b2, sizeof b2),
                                 s->state,
                                 s->author,
                                 s->reason};
            cli_table_add(t, row);
        }
        cli_table_print(t, stdout);
        cli_table_destroy(t);
    }
    store_silences_dispose(&l);
    return 0;
}

int ctl_silence_show(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {"silence show", "ID [--json]",
                                  "Shows one silence: its scope, start and end, author, reason "
                                  "and whether it is in effect."};
    bool json = false;
    const cfg_opt opts[] = {
        {"--json", NULL, CFG_BOOL, NULL, 0, 0, NULL, "print a JSON object", &json},
    };
    int64_t id;
    PGconn *conn;
    int rc = ctl_parse_id_command(&c, opts, ARRAY_LEN(opts), argc, argv, "silence id", &id);
    if (rc >= 0 || (rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    char err[512];
    store_silence *s = NULL;
    store_status st = store_silence_get(conn, NULL, id, &s, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, silence_flags)) >= 0)
        return rc;
    if (json) {
        ctl_print_json(storejson_silence(s));
        store_silence_destroy(s);
        return 0;
    }
    char buf[512], b1[32];
    snprintf(buf, sizeof buf, "%" PRId64, s->id);
    ctl_show_line(12, "id:", buf);
    ctl_show_line(12, "tenant:", s->tenant_id);
    ctl_show_line(12, "scope:", scope_text(s, buf, sizeof buf));
    ctl_show_line(12, "state:", s->state);
    ctl_show_line(12, "starts:", cli_time_format(s->starts_at_ms, b1, sizeof b1));
    ctl_show_line(12, "ends:", ends_text(s, b1, sizeof b1));
    ctl_show_line(12, "author:", s->author);
    ctl_show_line(12, "reason:", s->reason);
    ctl_show_line(12, "created:", cli_time_format(s->created_at_ms, b1, sizeof b1));
    if (s->expired_at_ms) {
        snprintf(buf, sizeof buf, "%s by %s", cli_time_format(s->expired_at_ms, b1, sizeof b1),
                 s->expired_by ? s->expired_by : "?");
        ctl_show_line(12, "expired:", buf);
    }
    if (s->created_from_event_id) {
        snprintf(buf, sizeof buf, "the Slack message of event %s, target %" PRId64,
                 s->created_from_event_id, s->created_from_target_id);
        ctl_show_line(12, "made from:", buf);
    }
    store_silence_destroy(s);
    return 0;
}

int ctl_silence_expire(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {"silence expire", "ID",
                                  "Ends a silence now: matching notifications are sent again. "
                                  "A silence that already ended is left as it is (and says so)."};
    int64_t id;
    PGconn *conn;
    int rc = ctl_parse_id_command(&c, NULL, 0, argc, argv, "silence id", &id);
    if (rc >= 0 || (rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    char err[512], author[300];
    cli_author(author, sizeof author);
    bool already = false;
    store_silence *s = NULL;
    store_status st = store_silence_expire(conn, NULL, id, author, &already, err, sizeof err);
    if (st == STORE_OK && already)
        st = store_silence_get(conn, NULL, id, &s, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, silence_flags)) >= 0)
        return rc;
    if (!already) {
        printf("silence %" PRId64 " expired\n", id);
        return 0;
    }
    char when[32];
    if (s->expired_at_ms)
        printf("silence %" PRId64 " had already expired at %s by %s\n", id,
               cli_time_format(s->expired_at_ms, when, sizeof when),
               s->expired_by ? s->expired_by : "?");
    else
        printf("silence %" PRId64 " had already ended at %s\n", id,
               cli_time_format(s->ends_at_ms, when, sizeof when));
    store_silence_destroy(s);
    return 0;
}
