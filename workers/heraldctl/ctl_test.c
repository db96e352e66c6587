/* heraldctl test: one test message to a target through Slack, recorded as a delivery. */

#include "workers/heraldctl/ctl.h"
#include "workers/heraldctl/ctl_internal.h"

#include "workers/heraldctl/cli.h"
#include "common/log.h"
#include "common/render.h"
#include "common/slack.h"
#include "store/workspaces.h"
#include "store/token_refresh.h"
#include "store/targets.h"
#include "store/validation.h"
#include "store/deliveries.h"
#include "common/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    fprintf(stderr, "%s test: Slack rate-limited the call; trying again in %.1f s\n", CTL_PROG,
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

int ctl_test(void *ctx, int argc, char **argv)
{
    const herald_common_config *cfg = ctx;
    static const cli_command c = {
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
    unsigned char key[CRYPTO_KEY_LEN];
    if ((rc = ctl_load_key(cfg, c.name, "reading the bot token needs it", key)))
        return rc;
    PGconn *conn = ctl_connect(cfg, c.name);
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
        rc = ctl_report(c.name, st, err, NULL);
        goto out;
    }
    /* Token rotation, as herald-slack and herald-api do it (the same variables). */
    cfg_slack_app app_cfg = {.client_id = getenv("HERALD_SLACK_CLIENT_ID"),
                             .client_secret = getenv("HERALD_SLACK_CLIENT_SECRET"),
                             .client_secret_file = getenv("HERALD_SLACK_CLIENT_SECRET_FILE")};
    char *secret = NULL;
    if (cfg_slack_app_secret(&app_cfg, &secret, err, sizeof err))
        LOG_WARN("%s: rotating tokens are not refreshed", err);
    store_slack_app app = {
        .api_base = cfg->slack_api_url, .client_id = app_cfg.client_id, .client_secret = secret};
    store_token tok;
    st = store_workspace_refresh(conn, key, t->team_id, &app, 5 * 60 * 1000, NULL, &tok, err,
                                 sizeof err);
    if (secret) {
        crypto_wipe(secret, strlen(secret));
        free(secret);
    }
    bool rotating = tok.rotating;
    if (st == STORE_CONFLICT && tok.code[0] && !tok.transient) {
        printf("error: %s: the bot token of workspace %s expired and Slack refused to refresh "
               "it: reinstall Herald in that workspace (target %" PRId64 ")\n",
               tok.code, t->team_id, id);
        store_token_dispose(&tok);
        rc = 1;
        goto out;
    }
    if (st == STORE_CONFLICT && tok.code[0])
        st = STORE_OK; /* failed for now: try the current token */
    token = tok.token;
    revoked = tok.revoked;
    tok.token = NULL;
    store_token_dispose(&tok);
    if (st) {
        rc = ctl_report(c.name, st, err, NULL);
        goto out;
    }
    if ((st = store_test_delivery_begin(conn, NULL, id, CTL_PROG, &delivery, NULL, err,
                                        sizeof err))) {
        rc = ctl_report(c.name, st, err, NULL);
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
                 CTL_PROG);
        o.error_code = "installation_revoked";
        o.error = reason;
    } else {
        bool can_post = true;
        if (t->destination_kind == STORE_DEST_EMAIL) {
            /* A member's address: post to their user id (the app's DM with them). */
            for (int attempt = 1;; attempt++) {
                slack_lookup_user_by_email(cfg->slack_api_url, token, t->destination, &res);
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
                    slack_post_message(cfg->slack_api_url, token, channel, msg.text,
                                       msg.blocks_json, NULL, &res);
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
                /* As the sender does: a dead token marks the installation; an
                 * expired rotating one is not dead (its refresh token works). */
                if (rotating && !strcmp(res.error, "token_expired"))
                    o.error = "the bot token expired: set HERALD_SLACK_CLIENT_ID and "
                              "HERALD_SLACK_CLIENT_SECRET for heraldctl to refresh it, or let "
                              "herald-slack or herald-api do it";
                else if (res.cls == SLACK_INSTALLATION &&
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
