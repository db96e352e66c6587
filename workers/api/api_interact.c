/*
 * herald-api: POST /slack/interactivity, where Slack sends the presses of
 * the buttons in Herald's messages (Snooze 24 h, Mute / Unmute, Acknowledge,
 * Nudge failing users).
 *
 * Order of work, each step only after the one before passed:
 *   1. the signature over the raw body (HERALD_SLACK_SIGNING_SECRET, within
 *      5 minutes): otherwise 401 and nothing is read, changed or recorded;
 *   2. the payload (form field payload=, JSON, type block_actions; anything
 *      else is answered 200 and ignored, as Slack expects);
 *   3. with a database connection: the message is Herald's (else 'stale'),
 *      the tenant's policy, the workspace's token; the connection is given
 *      back before any Slack call (usergroups.users.list for 'listed');
 *   4. with a connection again: the action and its record (one transaction),
 *      then the message as it should look now (store/messages.h);
 *   5. without a connection: chat.update (or, when refused, an ephemeral
 *      note through the payload's response_url), then the 200.
 *
 * Slack wants the answer within 3 s. The update is made BEFORE answering,
 * under one budget (INTERACT_BUDGET_MS from the request's arrival) that
 * bounds every Slack call's timeout: the presser sees the new message as the
 * button stops spinning, the request's thread owns everything it uses (no
 * background work to drain or lose at shutdown, no connection to hand over),
 * and tests see the update done when the answer arrives. A slow Slack costs
 * at most the budget; the press is recorded before any Slack call, so an
 * update that did not fit is only late: the next edit of the message (a
 * later press, a resolve, the nudges' outcome) shows every mark.
 */
#include "workers/api/api_interact.h"

#include "store/interactions.h"
#include "store/messages.h"
#include "store/remediations.h"
#include "store/tenant_settings.h"
#include "store/token_refresh.h"

#include "common/hmac.h"
#include "common/log.h"
#include "common/slack.h"
#include "common/utf8.h"
#include "common/util.h"

#include <cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Slack's payloads are a few kilobytes; the cap holds whatever --max-body is. */
#define INTERACT_MAX_BODY (64 * 1024)
/* From the request's arrival to our answer, Slack calls included (Slack
 * gives up after 3 s). */
#define INTERACT_BUDGET_MS 2500
/* A Slack call is not started with less time than this left. */
#define INTERACT_MIN_CALL_MS 150
#define INTERACT_CONNECT_MS  1000
/* Token rotation: a token expiring within this is refreshed before use. */
#define INTERACT_TOKEN_MARGIN_MS (5 * 60 * 1000)
/* At most this many user groups are asked about per press ('listed'). */
#define INTERACT_MAX_GROUPS 10

/* One press on its way through the handler. */
typedef struct press {
    api_call *c;
    int64_t deadline_ms; /* monotonic */
    store_press p;       /* what is recorded */
    char event_id[40];
    const char *response_url;
    store_pressed_message msg;
    store_action_settings policy;
    char *token; /* SECRET: the workspace's bot token; NULL when unknown */
    PGconn *db;
    size_t slot;
    const char *outcome; /* for the metric */
} press;

/* ================================================================ metrics */

/* Declared on first use in the server's registry (a second declaration
 * returns the same metric), so the server struct needs no field for them. */
static metrics_counter *m_actions(const api_server *s)
{
    return metrics_counter_new_in(s->metrics, "herald_api_slack_actions_total",
                                  "Button presses in Herald's Slack messages, by action and "
                                  "outcome (ok, forbidden, stale, error).",
                                  "action,outcome");
}

static metrics_counter *m_signature_failures(const api_server *s)
{
    return metrics_counter_new_in(s->metrics, "herald_api_slack_signature_failures_total",
                                  "Requests to /slack/interactivity refused for their signature, "
                                  "by reason (missing, bad_timestamp, too_old, mismatch).",
                                  "reason");
}

/* ================================================================ the database */

static bool db_acquire(press *x)
{
    if (x->db)
        return true;
    x->db = api_pool_acquire(&x->c->srv->pool, &x->slot);
    return x->db != NULL;
}

static void db_release(press *x)
{
    if (!x->db)
        return;
    api_pool_release(&x->c->srv->pool, x->slot);
    x->db = NULL;
}

/* Records a press that changed nothing (the record failing is logged: the
 * answer to Slack is the same). */
static void record(press *x, const char *outcome, const char *detail)
{
    x->outcome = outcome;
    char err[512];
    LOG_INFO("api: slack action %s by %s/%s: %s: %s", store_action_kind_name(x->p.action),
             x->p.team_id, x->p.user_id, outcome, detail);
    if (!db_acquire(x)) {
        LOG_WARN("api: slack action %s by %s/%s (%s): not recorded: no database connection",
                 store_action_kind_name(x->p.action), x->p.team_id, x->p.user_id, outcome);
        return;
    }
    if (store_press_record(x->db, &x->p, outcome, detail, err, sizeof err) != STORE_OK)
        LOG_WARN("api: slack action %s by %s/%s (%s): not recorded: %s",
                 store_action_kind_name(x->p.action), x->p.team_id, x->p.user_id, outcome, err);
}

/* The workspace's usable token, as the API's other Slack calls get it
 * (refreshed first under token rotation when it expires soon; that refresh
 * is the one Slack call made with a connection held, by design of
 * store_workspace_refresh: it locks the row so one process refreshes). */
static void load_token(press *x)
{
    const api_server *s = x->c->srv;
    int64_t left = x->deadline_ms - util_now_mono_ms();
    store_slack_app app = {.api_base = api_slack_base(s),
                           .client_id = s->cfg.client_id,
                           .client_secret = s->cfg.client_secret,
                           .timeout_ms = left > INTERACT_MIN_CALL_MS ? left : INTERACT_MIN_CALL_MS};
    store_token t;
    char err[512];
    store_status st = store_workspace_refresh(x->db, s->key, x->msg.team_id, &app,
                                              INTERACT_TOKEN_MARGIN_MS, NULL, &t, err, sizeof err);
    if (st == STORE_OK && t.token && !t.revoked) {
        x->token = t.token;
        t.token = NULL;
    } else {
        LOG_WARN("api: workspace %s: no usable bot token for the button's answer: %s",
                 x->msg.team_id, st == STORE_OK || st == STORE_CONFLICT ? t.code : err);
    }
    store_token_dispose(&t);
}

/* ================================================================ Slack calls */

/* Runs req within what is left of the budget; false (req destroyed, res
 * says "timeout") when too little is left to start. */
static bool perform(press *x, slack_request *req, slack_result *res)
{
    int64_t left = x->deadline_ms - util_now_mono_ms();
    if (!req || left < INTERACT_MIN_CALL_MS) {
        slack_request_destroy(req);
        snprintf(res->error, sizeof res->error, "%s", req ? "timeout" : "curl_init_failed");
        return false;
    }
    slack_request_set_timeouts(req, left < INTERACT_CONNECT_MS ? left : INTERACT_CONNECT_MS, left);
    slack_request_perform(req, res);
    slack_request_destroy(req);
    return res->ok;
}

/* 1 when user is a member of group, 0 when not, -1 when Slack could not say. */
static int group_has(press *x, const char *group, const char *user)
{
    const char *f[] = {"usergroup", group, NULL};
    slack_result r;
    slack_result_init(&r);
    int rc = -1;
    if (perform(
            x,
            slack_request_new_form(api_slack_base(x->c->srv), "usergroups.users.list", x->token, f),
            &r)) {
        rc = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(r.json, "users"))
        {
            if (cJSON_IsString(v) && strcmp(v->valuestring, user) == 0)
                rc = 1;
        }
    } else {
        LOG_WARN("api: usergroups.users.list %s (workspace %s): %s", group, x->msg.team_id,
                 r.error);
    }
    slack_result_dispose(&r);
    return rc;
}

/* "scheme://host[:port]" of url into out; false when url is not http(s). */
static bool url_authority(const char *url, char *out, size_t size)
{
    if (!url || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
        return false;
    const char *host = strstr(url, "://") + 3;
    size_t n = strcspn(host, "/?#");
    if (n == 0 || memchr(host, '@', n)) /* no credentials in a URL we post to */
        return false;
    snprintf(out, size, "%.*s", (int)(host - url + (ptrdiff_t)n), url);
    return true;
}

/* Only Slack's hooks (or, in tests, the configured Slack API's host) get a
 * response_url post: the payload is signed, but a URL is still not a
 * reason to make requests anywhere. */
static bool response_url_allowed(const api_server *s, const char *url)
{
    char a[300], b[300];
    if (!url_authority(url, a, sizeof a))
        return false;
    if (strcasecmp(a, "https://hooks.slack.com") == 0)
        return true;
    const char *base = api_slack_base(s);
    return base && url_authority(base, b, sizeof b) && strcasecmp(a, b) == 0;
}

/* An ephemeral note to the presser (only they see it) through response_url. */
static void tell_presser(press *x, const char *text)
{
    if (!x->response_url || !response_url_allowed(x->c->srv, x->response_url)) {
        LOG_DEBUG("api: slack action: no usable response_url to explain '%s'", text);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "response_type", "ephemeral");
    cJSON_AddBoolToObject(o, "replace_original", false);
    cJSON_AddStringToObject(o, "text", text);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    /* slack_request_new posts JSON to base + "/" + method: the response URL
     * split at its last '/' is exactly that (it has no query string). */
    const char *slash = strrchr(x->response_url, '/');
    char *base = xstrdup(x->response_url);
    base[slash - x->response_url] = '\0';
    slack_result r;
    slack_result_init(&r);
    perform(x, slack_request_new(base, slash + 1, NULL, body), &r);
    /* Slack's hooks answer "ok" as plain text: the HTTP status tells. */
    if (r.http_status != 200)
        LOG_WARN("api: slack action: response_url answered %ld (%s)", r.http_status, r.error);
    slack_result_dispose(&r);
    free(base);
    free(body);
}

/* Edits the message as it now should look (the connection is held only
 * while it is prepared). */
static void update_message(press *x)
{
    char err[512];
    message_update u;
    render_opts base = {.herald_url = x->c->srv->public_url};
    store_status st =
        message_update_prepare(x->db, x->p.event_id, x->p.target_id, &base, 0, &u, err, sizeof err);
    db_release(x);
    if (st != STORE_OK) {
        LOG_INFO("api: slack action %s: message not updated: %s",
                 store_action_kind_name(x->p.action), err);
        return;
    }
    if (!x->token) {
        message_update_dispose(&u);
        return;
    }
    slack_result r;
    slack_result_init(&r);
    if (!perform(x,
                 slack_request_update_message(api_slack_base(x->c->srv), x->token, u.channel, u.ts,
                                              u.text, u.blocks_json),
                 &r))
        LOG_WARN("api: slack action %s: chat.update of %s/%s failed: %s",
                 store_action_kind_name(x->p.action), u.channel, u.ts, r.error);
    slack_result_dispose(&r);
    message_update_dispose(&u);
}

/* ================================================================ the press */

static bool action_of(const char *id, store_action_kind *k)
{
    static const struct {
        const char *id;
        store_action_kind kind;
    } map[] = {
        {RENDER_ACTION_SNOOZE, STORE_ACTION_SNOOZE}, {RENDER_ACTION_MUTE, STORE_ACTION_MUTE},
        {RENDER_ACTION_UNMUTE, STORE_ACTION_UNMUTE}, {RENDER_ACTION_ACK, STORE_ACTION_ACK},
        {RENDER_ACTION_NUDGE, STORE_ACTION_NUDGE},
    };
    for (size_t i = 0; id && i < ARRAY_LEN(map); i++)
        if (strcmp(map[i].id, id) == 0) {
            *k = map[i].kind;
            return true;
        }
    return false;
}

/* "<event_id>:<target_id>" (render.h). false when value is not that. */
static bool parse_value(const char *value, char event_id[40], int64_t *target_id)
{
    const char *colon = value ? strchr(value, ':') : NULL;
    if (!colon || colon - value != 36)
        return false;
    snprintf(event_id, 40, "%.36s", value);
    return util_is_uuid(event_id) && api_parse_id(colon + 1, target_id);
}

/* A Slack id (team, user, channel): letters, digits, '_' and '-', short.
 * Ids are logged and compared, so anything else is not taken as one. */
static bool slack_id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 32)
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static const char *jpath(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char not_listed[] =
    "You are not one of the people allowed to act on Herald's messages.";

/* Whether the presser may act: NULL when allowed, else why not (for them)
 * with *outcome "forbidden", or "error" when Slack could not say. */
static const char *refusal(press *x, const char **outcome)
{
    *outcome = "forbidden";
    if (x->p.action == STORE_ACTION_NUDGE && !x->msg.nudge_enabled)
        return "Nudges are turned off for this notification's target.";
    if (x->policy.who == STORE_ACTIONS_NONE)
        return "Herald's buttons are turned off here: ask a Herald administrator.";
    if (store_action_user_listed(&x->policy, x->p.user_id))
        return NULL;
    if (x->policy.n_groups == 0)
        return not_listed;
    /* Slack's user groups: asked without holding a connection. */
    db_release(x);
    bool unknown = !x->token;
    for (size_t i = 0; x->token && i < x->policy.n_groups && i < INTERACT_MAX_GROUPS; i++) {
        int rc = group_has(x, x->policy.groups[i], x->p.user_id);
        if (rc == 1)
            return NULL;
        if (rc < 0)
            unknown = true;
    }
    if (!unknown)
        return not_listed;
    *outcome = "error";
    return "Herald could not check your user groups with Slack: try again.";
}

static void act(press *x)
{
    char err[512];
    if (!db_acquire(x)) {
        x->outcome = "error";
        LOG_WARN("api: slack action %s by %s/%s: no database connection",
                 store_action_kind_name(x->p.action), x->p.team_id, x->p.user_id);
        return;
    }
    store_status st = store_pressed_message_get(x->db, x->p.event_id, x->p.target_id, x->p.team_id,
                                                x->p.channel, &x->msg, err, sizeof err);
    if (st == STORE_NOT_FOUND) {
        record(x, "stale", err);
        return;
    }
    if (st == STORE_OK)
        st = store_action_settings_get(x->db, x->msg.tenant_id, &x->policy, err, sizeof err);
    if (st != STORE_OK) {
        LOG_ERROR("api: slack action: database: %s", err);
        record(x, "error", "database error");
        return;
    }
    x->p.tenant_id = x->msg.tenant_id;
    load_token(x);

    const char *outcome;
    const char *no = refusal(x, &outcome);
    if (no) {
        record(x, outcome, no);
        db_release(x);
        tell_presser(x, no);
        return;
    }
    store_press_result res;
    if (!db_acquire(x)) {
        x->outcome = "error";
        return;
    }
    char *fallback = remediation_default(x->msg.check_type);
    st = store_press_apply(x->db, &x->p, &x->msg, fallback, &res, err, sizeof err);
    free(fallback);
    if (st != STORE_OK) {
        LOG_ERROR("api: slack action %s on %s/%" PRId64 ": %s", store_action_kind_name(x->p.action),
                  x->p.event_id, x->p.target_id, err);
        record(x, st == STORE_INVALID ? "stale" : "error", err);
        db_release(x);
        tell_presser(x, "Herald could not do that just now: try again.");
        return;
    }
    x->outcome = "ok";
    LOG_INFO("api: slack action %s on %s/%" PRId64 " by %s/%s: %s",
             store_action_kind_name(x->p.action), x->p.event_id, x->p.target_id, x->p.team_id,
             x->p.user_id, res.detail);
    update_message(x); /* releases the connection first */
}

static void interactivity(api_call *c)
{
    api_server *s = c->srv;
    int64_t t0 = util_now_mono_ms();
    const char *secret = s->cfg.slack_signing_secret;
    if (!secret || !*secret) {
        api_error(c, 503, NULL,
                  "interactivity is not configured: set HERALD_SLACK_SIGNING_SECRET to the Slack "
                  "app's signing secret");
        return;
    }
    size_t len = 0;
    const char *body = httpd_req_body(c->req, &len);
    if (len > INTERACT_MAX_BODY) {
        api_error(c, 413, NULL, "body: larger than %d bytes", INTERACT_MAX_BODY);
        return;
    }
    /* The raw bytes as received, before any decoding. */
    slack_signature_check sc =
        slack_signature_verify(secret, httpd_req_header(c->req, "X-Slack-Request-Timestamp"),
                               httpd_req_header(c->req, "X-Slack-Signature"), body, len,
                               util_now_wall_ms() / 1000, SLACK_SIGNATURE_MAX_AGE_S);
    if (sc != SLACK_SIGNATURE_OK) {
        metrics_counter_inc(m_signature_failures(s), slack_signature_check_name(sc));
        LOG_WARN("api: /slack/interactivity from %s refused: signature %s",
                 httpd_req_client(c->req), slack_signature_check_name(sc));
        api_error(c, 401, NULL, "the request's Slack signature is %s",
                  sc == SLACK_SIGNATURE_TOO_OLD   ? "too old"
                  : sc == SLACK_SIGNATURE_MISSING ? "missing"
                                                  : "not valid");
        return;
    }

    const char *form = httpd_req_form(c->req, "payload");
    cJSON *pl = form ? cJSON_Parse(form) : NULL;
    if (!cJSON_IsObject(pl)) {
        cJSON_Delete(pl);
        api_error(c, 400, "payload", "payload: expected a form field payload= holding JSON");
        return;
    }
    const char *type = jpath(pl, "type", NULL);
    const cJSON *a0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(pl, "actions"), 0);
    press x = {.c = c, .deadline_ms = t0 + INTERACT_BUDGET_MS};
    /* Other interactions (shortcuts, views) and other buttons ("View in
     * Herald" is a link: Slack still reports its press) are acknowledged and
     * left alone. */
    if (!type || strcmp(type, "block_actions") != 0 ||
        !action_of(jpath(a0, "action_id", NULL), &x.p.action)) {
        cJSON_Delete(pl);
        httpd_respond(c->req, 200, "text/plain; charset=utf-8", "", 0);
        return;
    }
    x.p.team_id = jpath(pl, "team", "id");
    if (!x.p.team_id)
        x.p.team_id = jpath(pl, "user", "team_id");
    x.p.user_id = jpath(pl, "user", "id");
    x.p.user_name = jpath(pl, "user", "username");
    if (!x.p.user_name)
        x.p.user_name = jpath(pl, "user", "name");
    x.p.channel = jpath(pl, "channel", "id");
    if (!x.p.channel)
        x.p.channel = jpath(pl, "container", "channel_id");
    x.p.message_ts = jpath(pl, "container", "message_ts");
    if (!x.p.message_ts)
        x.p.message_ts = jpath(pl, "message", "ts");
    x.response_url = jpath(pl, "response_url", NULL);
    if (!slack_id_ok(x.p.team_id) || !slack_id_ok(x.p.user_id)) {
        cJSON_Delete(pl);
        api_error(c, 400, "payload", "payload: team.id and user.id must be Slack ids");
        return;
    }
    if (!slack_id_ok(x.p.channel))
        x.p.channel = NULL; /* then no message matches: stale */

    if (!parse_value(jpath(a0, "value", NULL), x.event_id, &x.p.target_id)) {
        x.p.target_id = 0;
        record(&x, "stale", "the button's value names no Herald message");
    } else {
        x.p.event_id = x.event_id;
        act(&x);
    }
    db_release(&x);
    char labels[64];
    snprintf(labels, sizeof labels, "%s|%s", store_action_kind_name(x.p.action),
             x.outcome ? x.outcome : "error");
    metrics_counter_inc(m_actions(s), labels);
    crypto_free_secret(x.token);
    store_pressed_message_dispose(&x.msg);
    store_action_settings_dispose(&x.policy);
    cJSON_Delete(pl);
    /* Slack shows nothing for an empty 200; the message itself changed. */
    httpd_respond(c->req, 200, "text/plain; charset=utf-8", "", 0);
}

void api_interact_register(api_server *s)
{
    /* Public: Slack authenticates by signature, checked in the handler. No
     * connection for the whole request: the handler takes one only around
     * its database steps, never across a Slack call. */
    api_route(s, "POST", "/slack/interactivity", API_PUBLIC | API_NODB, interactivity);
    (void)m_actions(s); /* listed on /metrics from the start */
    (void)m_signature_failures(s);
}
