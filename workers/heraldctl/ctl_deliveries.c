/* heraldctl deliveries. */

#include "workers/heraldctl/ctl.h"
#include "store/deliveries.h"
#include "workers/heraldctl/ctl_internal.h"

#include "workers/heraldctl/cli.h"
#include "store/storejson.h"
#include "common/util.h"
#include "common/utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ctl_flag_map delivery_flags[] = {
    {"state", "--state"},   {"kind", "--kind"}, {"limit", "--limit"},
    {"offset", "--offset"}, {NULL, NULL},
};

/* ================================================================ deliveries */

int ctl_deliveries(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {
        "deliveries",
        "[--tenant T] [--target ID] [--state S] [--kind K] [--since WHEN] [--limit N] "
        "[--offset N] [--before ID] [--json]",
        "Lists deliveries, newest first: what was sent where, what failed and why, and what "
        "was kept quiet (suppressed) and why."};
    char *tenant = NULL, *state = NULL, *kind = NULL, *since_s = NULL;
    long target = 0, limit = STORE_DELIVERIES_DEFAULT_LIMIT, offset = 0, before = 0;
    bool json = false;
    const cfg_opt opts[] = {
        {"--tenant", NULL, CFG_STRING, NULL, 0, 0, "T", "only this tenant's deliveries", &tenant},
        {"--target", NULL, CFG_INT, NULL, 1, INT64_MAX, "ID", "only this target's deliveries",
         &target},
        {"--state", NULL, CFG_STRING, NULL, 0, 0, "S", STORE_DELIVERY_STATES, &state},
        {"--kind", NULL, CFG_STRING, NULL, 0, 0, "K",
         "notify, resolve (a resolved update) or nudge (a direct message to a failing user)",
         &kind},
        {"--since", NULL, CFG_STRING, NULL, 0, 0, "WHEN",
         "created since: a duration back from now (90s, 15m, 24h, 7d), a date (2026-11-28) or "
         "an RFC 3339 time",
         &since_s},
        {"--limit", NULL, CFG_INT, NULL, 1, STORE_DELIVERIES_MAX_LIMIT, "N",
         "at most N rows (default 50, at most 1000)", &limit},
        {"--offset", NULL, CFG_INT, NULL, 0, 100000000, "N", "skip the N newest matching rows",
         &offset},
        {"--before", NULL, CFG_INT, NULL, 1, INT64_MAX, "ID",
         "only deliveries older than delivery ID (next page: the last ID shown)", &before},
        {"--json", NULL, CFG_BOOL, NULL, 0, 0, NULL, "print a JSON array", &json},
    };
    int rc = ctl_parse(&c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0);
    if (rc >= 0)
        return rc;
    char safe[80];
    if (state && !store_delivery_state_valid(state))
        return cli_usage_error(CTL_PROG, c.name,
                               "--state: '%s' is not a delivery state (" STORE_DELIVERY_STATES ")",
                               utf8_safe(state, 0, safe, sizeof safe));
    if (kind && !store_delivery_kind_valid(kind))
        return cli_usage_error(CTL_PROG, c.name,
                               "--kind: '%s' is not a delivery kind (" STORE_DELIVERY_KINDS ")",
                               utf8_safe(kind, 0, safe, sizeof safe));
    int64_t since;
    PGconn *conn;
    if ((rc = ctl_parse_since(&c, since_s, &since)) >= 0 ||
        (rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    store_delivery_filter f = {.tenant = tenant,
                               .target_id = target,
                               .state = state,
                               .kind = kind,
                               .since_ms = since,
                               .before_id = before,
                               .limit = (int)limit,
                               .offset = (int)offset};
    char err[512];
    store_deliveries l = {0};
    store_status st = store_delivery_list(conn, &f, &l, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, delivery_flags)) >= 0)
        return rc;
    if (json) {
        ctl_print_json(storejson_deliveries(&l));
    } else if (l.n == 0) {
        printf("no deliveries\n");
    } else {
        /* The error and its reason come last and whole: the reason ends with what
         * to do about it, and a long one widens only its own line. */
        /* ERROR: a failure's code and reason, or why a suppressed one was kept quiet. */
        static const char *const hdr[] = {"ID",    "TIME",     "TARGET", "EVENT",
                                          "STATE", "ATTEMPTS", "SLACK",  "ERROR/REASON"};
        cli_table *t = cli_table_new(ARRAY_LEN(hdr), hdr);
        cli_table_set_max_width(t, 2, 32);
        cli_table_set_max_width(t, 3, 60);
        for (size_t i = 0; i < l.n; i++) {
            const store_delivery *d = &l.items[i];
            char id[24], when[32], target_s[128], event_s[160], attempts[16], error[512],
                slack[160], what[200];
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
            /* A resolve or a nudge says so, and which notification it is about. */
            if (d->kind && strcmp(d->kind, "notify") != 0)
                snprintf(what, sizeof what, "%s %s%s%.8s", d->kind, event_s,
                         d->ref_event_id ? " of " : "", d->ref_event_id ? d->ref_event_id : "");
            else
                snprintf(what, sizeof what, "%s", event_s);
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
                                 target_s, what,
                                 d->state, attempts,
                                 slack,    error};
            cli_table_add(t, row);
        }
        cli_table_print(t, stdout);
        cli_table_destroy(t);
    }
    store_deliveries_dispose(&l);
    return 0;
}
