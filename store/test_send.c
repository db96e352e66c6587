/*
 * The one test send (store/test_send.h), shared by herald-api and heraldctl:
 * token, destination, the rendered message with a 429 retry, and the
 * recorded delivery.
 */
#include "store/test_send.h"
#include "store/deliveries.h"
#include "store/workspaces.h"

#include "common/log.h"
#include "common/render.h"
#include "common/slack.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Token rotation: a token expiring within this is refreshed before use. */
#define TEST_REFRESH_MARGIN_MS (5 * 60 * 1000)

/*
 * A test is one message a person waits for, often sent right after a burst of
 * notifications to the same channel: a 429 (which never posts) is waited out
 * and the call retried, a few times and a few seconds at most. Nothing else is
 * retried: a transient error (internal_error, a timeout) may have posted, and
 * a test message shown twice is worse than a test to run again.
 */
#define TEST_TRIES       4
#define TEST_MAX_WAIT_MS 10000

static bool rate_limit_wait(const store_test_send_opts *opts, const slack_result *r, int attempt)
{
    if (r->cls != SLACK_RATE_LIMITED || attempt >= TEST_TRIES)
        return false;
    int ms = r->retry_after_ms > 0 ? r->retry_after_ms : 1000;
    if (ms > TEST_MAX_WAIT_MS)
        return false;
    if (opts->on_rate_limited)
        opts->on_rate_limited(opts->ctx, ms);
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
    return true;
}

/* The reason shown when Slack still said 429 after the retries ("" otherwise). */
static const char *rate_limit_reason(const slack_result *r, char *reason, size_t size)
{
    if (r->cls != SLACK_RATE_LIMITED)
        return "";
    snprintf(reason, size,
             "Slack kept rate-limiting this call (%d tries): the channel or workspace is "
             "busy, try the test again in a minute",
             TEST_TRIES);
    return reason;
}

/* One Slack call of a test send: users.lookupByEmail of email when set, else
 * chat.postMessage of msg to channel. */
typedef struct test_call {
    const char *token;
    const char *email;
    const char *channel;
    const render_output *msg;
} test_call;

/* Makes call c into r, waiting out a 429 and calling again (rate_limit_wait). */
static void call_slack(const store_test_send_opts *opts, const test_call *c, slack_result *r)
{
    for (int attempt = 1;; attempt++) {
        slack_result_dispose(r);
        slack_result_init(r);
        if (c->email)
            slack_lookup_user_by_email(opts->app->api_base, c->token, c->email, r);
        else
            slack_post_message(opts->app->api_base, c->token, c->channel, c->msg->text,
                               c->msg->blocks_json, NULL, r);
        if (!rate_limit_wait(opts, r, attempt))
            return;
    }
}

static void lookup(const store_test_send_opts *opts, const char *token, const char *email,
                   slack_result *r)
{
    call_slack(opts, &(test_call){.token = token, .email = email}, r);
}

static void post(const store_test_send_opts *opts, const char *token, const char *channel,
                 const render_output *msg, slack_result *r)
{
    call_slack(opts, &(test_call){.token = token, .channel = channel, .msg = msg}, r);
}

/* The workspace's usable token (refreshed first when it expires soon, or, with
 * stale, when Slack just answered token_expired for it). A refresh that failed
 * for now leaves the current token; one Slack refused leaves t->token NULL and
 * t->code set. */
static store_status usable_token(PGconn *conn, const store_target *t,
                                 const store_test_send_opts *opts, const char *stale,
                                 store_token *tok, char *errstr, size_t errstr_size)
{
    store_status st =
        store_workspace_refresh(conn, opts->key, t->team_id, opts->app, TEST_REFRESH_MARGIN_MS,
                                stale, tok, errstr, errstr_size);
    if (st == STORE_CONFLICT && tok->code[0])
        return STORE_OK; /* the refresh failed: tok says how */
    return st;
}

static void wipe(char *token)
{
    crypto_free_secret(token);
}

/* Gives *conn back before a Slack call when the caller lends it (see
 * store_test_send_opts.db_release). */
static void db_away(const store_test_send_opts *opts, PGconn **conn)
{
    if (opts->db_release && opts->db_acquire && *conn) {
        opts->db_release(opts->db_ctx);
        *conn = NULL;
    }
}

/* A connection again after db_away (NULL when none came). */
static PGconn *db_back(const store_test_send_opts *opts, PGconn **conn)
{
    if (!*conn && opts->db_acquire) {
        *conn = opts->db_acquire(opts->db_ctx);
        if (!*conn)
            LOG_WARN("test send: no database connection after the Slack call");
    }
    return *conn;
}

/* Ends the delivery as o says; a failure to store it is logged. */
static void finish(PGconn *conn, store_test_send_result *res, const store_delivery_outcome *o)
{
    char err[512] = "no database connection";
    res->recorded =
        conn && store_test_delivery_finish(conn, res->delivery_id, o, err, sizeof err) == STORE_OK;
    if (!res->recorded)
        LOG_WARN("test delivery %" PRId64 ": recording the outcome: %s", res->delivery_id, err);
}

store_status store_test_send(PGconn *conn, const store_target *t, const store_test_send_opts *opts,
                             store_test_send_result *res, char *errstr, size_t errstr_size)
{
    memset(res, 0, sizeof *res);
    char err[512];
    char *token = NULL;
    render_output msg = {0};
    slack_result r;
    slack_result_init(&r);
    const char *team = t->team_name ? t->team_name : t->team_id;
    store_status st =
        store_test_delivery_begin(conn, t->tenant_id, t->id, opts->source, &res->delivery_id,
                                  res->event_id, errstr, errstr_size);
    if (st != STORE_OK)
        goto out;

    store_token tok;
    st = usable_token(conn, t, opts, NULL, &tok, errstr, errstr_size);
    bool rotating = tok.rotating, revoked = tok.revoked;
    char refresh_code[64];
    snprintf(refresh_code, sizeof refresh_code, "%s", tok.token ? "" : tok.code);
    token = tok.token;
    tok.token = NULL;
    store_token_dispose(&tok);
    if (st != STORE_OK) {
        /* The row must not stay 'sending' for the dashboards. */
        store_delivery_outcome fail = {.ok = false};
        if (st == STORE_CRYPTO) {
            fail.error_code = "secret_key_mismatch";
            fail.error = "the stored bot token cannot be opened with this HERALD_SECRET_KEY";
        } else if (st == STORE_NOT_FOUND) {
            fail.error_code = "workspace_not_installed";
            fail.error = "the target's workspace is not installed";
        } else {
            fail.error_code = "database_error";
            fail.error = "the workspace's bot token could not be read from the database";
        }
        snprintf(res->code, sizeof res->code, "%s", fail.error_code);
        snprintf(res->reason, sizeof res->reason, "%s", fail.error);
        finish(conn, res, &fail);
        goto out;
    }

    char *code = res->code, *reason = res->reason;
    size_t code_size = sizeof res->code, reason_size = sizeof res->reason;
    if (refresh_code[0]) {
        snprintf(code, code_size, "%s", refresh_code);
        snprintf(reason, reason_size,
                 "the bot token of %s expired and Slack refused to refresh it (%s): reinstall "
                 "Herald in that workspace",
                 team, refresh_code);
    } else if (revoked || t->workspace_revoked) {
        /* As the sender does: a revoked installation is not called. */
        snprintf(code, code_size, "token_revoked");
        snprintf(reason, reason_size,
                 "the Slack installation of %s is unusable: reinstall Herald in that workspace",
                 team);
    } else {
        char channel[64] = "", why[300];
        const char *dest = t->destination_resolved ? t->destination_resolved : t->destination;
        if (!t->destination_resolved && t->destination_kind == STORE_DEST_EMAIL) {
            /* A member's address: post to their user id (the app's DM with them). */
            db_away(opts, &conn);
            lookup(opts, token, t->destination, &r);
            if (r.ok && r.user_id[0]) {
                snprintf(channel, sizeof channel, "%s", r.user_id);
                dest = channel;
                if (db_back(opts, &conn) &&
                    store_target_set_resolved(conn, t->id, channel, err, sizeof err))
                    LOG_WARN("target %" PRId64 ": %s", t->id, err);
            } else {
                const char *rl = rate_limit_reason(&r, why, sizeof why);
                snprintf(code, code_size, "%s", r.error[0] ? r.error : "unknown_error");
                snprintf(reason, reason_size, "%s (looking up %s)",
                         rl[0]         ? rl
                         : r.reason[0] ? r.reason
                                       : "the lookup failed",
                         t->destination);
            }
        }
        render_opts ro = {.herald_url = opts->herald_url};
        if (!code[0] && render_test_message(t->name, &ro, &msg) != 0) {
            snprintf(code, code_size, "render_failed");
            snprintf(reason, reason_size, "the test message could not be rendered");
        } else if (!code[0]) {
            db_away(opts, &conn);
            post(opts, token, dest, &msg, &r);
            /* Token rotation: an expiry we did not know of. Refresh (or pick up
             * another process's refresh) and send once more. */
            bool expired = !r.ok && rotating && !strcmp(r.error, "token_expired");
            bool refresh_refused = false;
            if (expired) {
                store_token nt = {0};
                if (db_back(opts, &conn) &&
                    usable_token(conn, t, opts, token, &nt, err, sizeof err) == STORE_OK &&
                    nt.token && strcmp(nt.token, token) != 0) {
                    wipe(token);
                    token = nt.token;
                    nt.token = NULL;
                    db_away(opts, &conn);
                    post(opts, token, dest, &msg, &r);
                    expired = !r.ok && !strcmp(r.error, "token_expired");
                } else if (nt.code[0] && !nt.transient) {
                    refresh_refused = true;
                    r.cls = SLACK_INSTALLATION;
                    snprintf(r.error, sizeof r.error, "%s", nt.code);
                    snprintf(r.reason, sizeof r.reason,
                             "the bot token expired and Slack refused to refresh it: "
                             "reinstall Herald in that workspace");
                }
                store_token_dispose(&nt);
            }
            if (!r.ok) {
                const char *rl = rate_limit_reason(&r, why, sizeof why);
                snprintf(code, code_size, "%s", r.error[0] ? r.error : "unknown_error");
                snprintf(reason, reason_size, "%s", rl[0] ? rl : r.reason[0] ? r.reason : r.error);
                if (expired && !store_slack_app_ready(opts->app))
                    /* Not dead: its refresh token works, with the app's credentials. */
                    snprintf(reason, reason_size,
                             "the bot token expired: set HERALD_SLACK_CLIENT_ID and "
                             "HERALD_SLACK_CLIENT_SECRET for %s to refresh it, or let "
                             "herald-slack or herald-api do it",
                             opts->source);
                /* As the sender does: a dead token marks the installation (a refused
                 * refresh did already); an expired rotating one is not dead. */
                else if (r.cls == SLACK_INSTALLATION && !expired && !refresh_refused &&
                         db_back(opts, &conn) &&
                         store_workspace_mark_revoked(conn, t->team_id, r.error) == STORE_OK)
                    LOG_WARN("workspace %s marked revoked (%s): reinstall it", t->team_id, r.error);
            }
        }
    }
    store_delivery_outcome o = {
        .ok = !res->code[0],
        .slack_channel = r.channel,
        .slack_ts = r.ts,
        .error_code = res->code,
        .error = res->reason,
    };
    res->ok = o.ok;
    if (o.ok) {
        snprintf(res->channel, sizeof res->channel, "%s", r.channel);
        snprintf(res->ts, sizeof res->ts, "%s", r.ts);
    }
    finish(db_back(opts, &conn), res, &o);
out:
    res->slack_class = slack_class_name(r.cls);
    wipe(token);
    render_output_dispose(&msg);
    slack_result_dispose(&r);
    return st;
}
