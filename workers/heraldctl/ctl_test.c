/* heraldctl test: one test message to a target through Slack, recorded as a delivery. */

#include "workers/heraldctl/ctl.h"
#include "workers/heraldctl/ctl_internal.h"

#include "workers/heraldctl/cli.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/utf8.h"
#include "store/targets.h"
#include "store/test_send.h"
#include "common/util.h"
#include "store/token_refresh.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ test */

/* The test waits out a 429: say so, the person is waiting. */
static void say_rate_limited(void *ctx, int wait_ms)
{
    (void)ctx;
    fprintf(stderr, "%s test: Slack rate-limited the call; trying again in %.1f s\n", CTL_PROG,
            wait_ms / 1000.0);
}

/*
 * The Slack app's credentials, which refresh a rotating token, from the same
 * variables (and config table) herald-api and herald-slack read. Environment
 * only: heraldctl's global flags are parsed by main. *secret is malloc'd or
 * NULL (the caller wipes it).
 */
static void slack_app_from_env(cfg_slack_app *app, char **secret)
{
    cfg_opt opts[CFG_SLACK_APP_COUNT];
    cfg_slack_app_opts(opts, app, "Slack app client id (empty: tokens are not refreshed)");
    char *argv[] = {CTL_PROG, NULL};
    int argi = 1;
    char err[512];
    *secret = NULL;
    if (cfg_parse(CTL_PROG, "test", opts, CFG_SLACK_APP_COUNT, 1, argv, &argi, err, sizeof err) !=
            CFG_OK ||
        cfg_slack_app_secret(app, secret, err, sizeof err))
        LOG_WARN("%s: rotating tokens are not refreshed", err);
}

int ctl_test(void *ctx, int argc, char **argv)
{
    const herald_common_config *cfg = ctx;
    static const cfg_command c = {
        "test", "TARGET_ID",
        "Sends a test message to the target now (through HERALD_SLACK_API_URL with the "
        "workspace's token), records it as a delivery of kind test and prints Slack's answer. "
        "With token rotation and the Slack app's HERALD_SLACK_CLIENT_ID and "
        "HERALD_SLACK_CLIENT_SECRET (or _FILE) set, an expiring token is refreshed first. "
        "Exit 0 when Slack accepted it, 1 when it did not."};
    int64_t id;
    int rc = ctl_parse_id_command(&c, NULL, 0, argc, argv, "target id", &id);
    if (rc >= 0)
        return rc;
    crypto_keyring key[1];
    if ((rc = ctl_load_key(cfg, c.name, "reading the bot token needs it", key)))
        return rc;
    PGconn *conn;
    if ((rc = ctl_open(cfg, c.name, &conn)) >= 0) {
        crypto_wipe(key, sizeof key);
        return rc;
    }

    char err[512];
    store_target *t = NULL;
    cfg_slack_app app_cfg = {0};
    char *secret = NULL;
    store_status st = store_target_get(conn, NULL, id, &t, err, sizeof err);
    if (st) {
        rc = ctl_report(c.name, st, err, NULL);
        goto out;
    }
    slack_app_from_env(&app_cfg, &secret);
    store_slack_app app = {
        .api_base = cfg->slack_api_url, .client_id = app_cfg.client_id, .client_secret = secret};
    store_test_send_opts opts = {
        .key = key, .app = &app, .source = CTL_PROG, .on_rate_limited = say_rate_limited};
    store_test_send_result res;
    if ((st = store_test_send(conn, t, &opts, &res, err, sizeof err))) {
        rc = ctl_report(c.name, st, err, NULL);
        goto out;
    }
    char safe[600];
    if (res.ok) {
        printf("ok: Slack accepted the test message for target %" PRId64 ": channel %s, ts %s "
               "(delivery %" PRId64 ")\n",
               id, utf8_safe(res.channel, 0, safe, sizeof safe), res.ts, res.delivery_id);
        rc = res.recorded ? 0 : 1;
    } else {
        char code[80];
        printf("error: %s: %s (target %" PRId64 ", delivery %" PRId64 ")\n",
               utf8_safe(res.code, 0, code, sizeof code),
               utf8_safe(res.reason[0] ? res.reason : "no reason given", 0, safe, sizeof safe), id,
               res.delivery_id);
        rc = 1;
    }
out:
    crypto_free_secret(secret);
    crypto_wipe(key, sizeof key);
    store_target_destroy(t);
    PQfinish(conn);
    return rc;
}
