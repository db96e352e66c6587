/*
 * herald-api: "Add to Slack" (OAuth v2, shared/slack-api.md).
 *
 *   GET /slack/install         (signed in) -> 302 to Slack's authorize page with a
 *                              fresh state; the browser gets a binding cookie
 *   GET /slack/oauth/callback  Slack sends the administrator back with code+state
 *                              (or error=access_denied): checks the state, exchanges
 *                              the code, stores the installation, checks the token
 *                              with auth.test, and lands on the new-target form.
 *
 * The state is random (256 bits), stored only as its SHA-256, single-use
 * (consumed by the first callback that presents it, whatever the outcome),
 * valid for API_OAUTH_STATE_TTL_S and bound to the browser by a random cookie
 * whose hash is stored with it. The code and the bot token are never logged.
 */
#include "workers/api/api_install.h"

#include "workers/api/api_http.h"

#include "store/oauth_states.h"
#include "store/workspaces.h"

#include "common/crypto.h"

#include "common/db.h"
#include "common/event.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/slack.h"
#include "common/util.h"
#include "store/apitoken.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_OAUTH_COOKIE      "herald_oauth"
#define API_OAUTH_STATE_TTL_S 600

static void install_start(api_call *c)
{
    api_server *s = c->srv;
    if (!s->cfg.client_id || !*s->cfg.client_id) {
        api_page(c, 503, "Slack installation is not configured",
                 "Set HERALD_SLACK_CLIENT_ID and HERALD_SLACK_CLIENT_SECRET (or "
                 "HERALD_SLACK_CLIENT_SECRET_FILE) for herald-api, then try again.",
                 "/console/", "Back to the console");
        return;
    }
    const char *tenant = c->who.tenant[0] ? c->who.tenant : httpd_req_query(c->req, "tenant");
    if (tenant && !*tenant)
        tenant = NULL;
    if (tenant && !event_is_identifier(tenant)) {
        api_page(c, 400, "Cannot start the installation",
                 "The tenant parameter is not a tenant id (1 to 128 characters of A-Z a-z 0-9 . "
                 "_ : -).",
                 "/console/", "Back to the console");
        return;
    }
    char state[APITOKEN_RANDOM_LEN + 1], browser[APITOKEN_RANDOM_LEN + 1];
    if (apitoken_random(state) != 0 || apitoken_random(browser) != 0) {
        api_page(c, 500, "Cannot start the installation", "No randomness available.", NULL, NULL);
        return;
    }
    char sh[APITOKEN_HASH_PARAM_LEN], bh[APITOKEN_HASH_PARAM_LEN], tid[32], ttl[16];
    apitoken_hash_param(state, sh);
    apitoken_hash_param(browser, bh);
    snprintf(tid, sizeof tid, "%" PRId64, c->who.token_id);
    snprintf(ttl, sizeof ttl, "%d", API_OAUTH_STATE_TTL_S);
    char err[512];
    if (store_oauth_state_create(c->db, sh, bh, tid, tenant, ttl, err, sizeof err) != STORE_OK) {
        api_store_error(c, STORE_DB, err);
        return;
    }
    httpd_set_cookie(c->req, API_OAUTH_COOKIE, browser, API_OAUTH_STATE_TTL_S, "Lax",
                     s->secure_cookies);
    char *cid = httpd_url_encode(s->cfg.client_id);
    char *scope = httpd_url_encode(API_SLACK_SCOPES);
    char *redir = httpd_url_encode(s->redirect_uri);
    size_t n = strlen(s->cfg.authorize_url) + strlen(cid) + strlen(scope) + strlen(redir) +
               strlen(state) + 64;
    char *loc = xmalloc(n);
    snprintf(loc, n, "%s%cclient_id=%s&scope=%s&redirect_uri=%s&state=%s", s->cfg.authorize_url,
             strchr(s->cfg.authorize_url, '?') ? '&' : '?', cid, scope, redir, state);
    httpd_add_header(c->req, "Cache-Control", "no-store");
    httpd_redirect(c->req, 302, loc);
    LOG_INFO("api: Slack install started by token %" PRId64 " (%s)", c->who.token_id,
             tenant ? tenant : "no tenant");
    free(loc);
    free(cid);
    free(scope);
    free(redir);
    crypto_wipe(state, sizeof state);
    crypto_wipe(browser, sizeof browser);
}

static void fail_page(api_call *c, unsigned status, const char *outcome, const char *title,
                      const char *msg)
{
    metrics_counter_inc(c->srv->m_installs, outcome);
    char safe[512];
    LOG_WARN("api: Slack install refused (%s): %s", outcome, utf8_safe(msg, 0, safe, sizeof safe));
    httpd_set_cookie(c->req, API_OAUTH_COOKIE, "", 0, "Lax", c->srv->secure_cookies);
    api_page(c, status, title, msg, "/slack/install", "Start the installation again");
}

static int link_tenant(PGconn *db, const char *team_id, const char *tenant, char *err,
                       size_t err_size)
{
    return store_workspace_link_tenant(db, team_id, tenant, err, err_size) == STORE_OK ? 0 : -1;
}

static void install_callback(api_call *c)
{
    api_server *s = c->srv;
    const char *error = httpd_req_query(c->req, "error");
    const char *state = httpd_req_query(c->req, "state");
    const char *code = httpd_req_query(c->req, "code");
    const char *cookie = httpd_req_cookie(c->req, API_OAUTH_COOKIE);

    if (!state || !*state) {
        if (error)
            fail_page(c, 400, "denied", "Installation cancelled",
                      "Slack did not install Herald (access_denied): the installation was "
                      "cancelled in Slack.");
        else
            fail_page(c, 400, "missing_state", "Installation refused",
                      "The answer from Slack carries no state parameter, so it cannot be "
                      "matched to an installation you started here.");
        return;
    }
    if (strlen(state) > 256) {
        fail_page(c, 400, "unknown_state", "Installation refused",
                  "The state parameter is not one Herald issued.");
        return;
    }
    /* Consume the state first: whatever happens next, it cannot be replayed. */
    char sh[APITOKEN_HASH_PARAM_LEN], bh[APITOKEN_HASH_PARAM_LEN];
    apitoken_hash_param(state, sh);
    if (cookie)
        apitoken_hash_param(cookie, bh);
    char err[512];
    store_oauth_state os;
    if (store_oauth_state_consume(c->db, sh, cookie ? bh : NULL, &os, err, sizeof err) !=
        STORE_OK) {
        api_store_error(c, STORE_DB, err);
        return;
    }
    if (!os.found) {
        if (os.known)
            fail_page(c, 400, "reused_state", "Installation refused",
                      "This installation link was already used. Each one works once: start "
                      "the installation again.");
        else
            fail_page(c, 400, "unknown_state", "Installation refused",
                      "The state parameter is not one Herald issued (or it was removed long "
                      "ago). Start the installation again.");
        return;
    }
    char tenant[256] = "";
    bool has_tenant = os.has_tenant;
    if (has_tenant)
        snprintf(tenant, sizeof tenant, "%s", os.tenant);
    bool fresh = os.fresh;
    bool same_browser = os.same_browser;

    if (error) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "Slack did not install Herald (%.64s): the installation was cancelled in "
                 "Slack.",
                 error);
        fail_page(c, 400, "denied", "Installation cancelled", msg);
        return;
    }
    if (!fresh) {
        fail_page(c, 400, "expired_state", "Installation expired",
                  "This installation link is more than 10 minutes old. Start the installation "
                  "again.");
        return;
    }
    if (!same_browser) {
        fail_page(c, 400, "mismatched_state", "Installation refused",
                  "This installation was started in another browser (or its cookie was "
                  "lost). Start the installation again from this browser.");
        return;
    }
    if (!code || !*code) {
        fail_page(c, 400, "missing_code", "Installation refused",
                  "Slack sent no authorization code.");
        return;
    }

    slack_result res;
    slack_result_init(&res);
    slack_oauth_v2_access(api_slack_base(s), s->cfg.client_id, s->cfg.client_secret, code,
                          s->redirect_uri, &res);
    const char *token = res.ok ? slack_result_access_token(&res) : NULL;
    if (!res.ok || !token || !res.team_id[0]) {
        char msg[1024];
        snprintf(msg, sizeof msg, "Slack refused the installation: %s%s%s.",
                 res.error[0] ? res.error : "no bot token in the answer",
                 res.reason[0] ? " — " : "", res.reason);
        slack_result_dispose(&res);
        fail_page(c, 502, "exchange_failed", "Installation failed", msg);
        return;
    }
    store_workspace_input in = {.team_id = res.team_id,
                                .team_name = res.team[0] ? res.team : res.team_id,
                                .bot_user_id = res.bot_user_id[0] ? res.bot_user_id : NULL,
                                .scopes = res.scope[0] ? res.scope : NULL,
                                .token = token};
    /* Token rotation: the refresh token and the token's lifetime are stored with
     * the token, in one statement; without them the token does not expire. */
    const char *refresh = slack_result_refresh_token(&res);
    if (refresh && *refresh && res.expires_in > 0) {
        in.refresh_token = refresh;
        in.expires_in = res.expires_in;
    } else if (refresh || res.expires_in > 0) {
        LOG_WARN("api: Slack's answer for workspace %s has %s without %s: the token is stored "
                 "as one that does not expire",
                 res.team_id, refresh ? "a refresh token" : "expires_in",
                 refresh ? "expires_in" : "a refresh token");
    }
    bool replaced = false;
    store_status st = store_workspace_put(c->db, s->key, &in, &replaced, err, sizeof err);
    if (st != STORE_OK) {
        slack_result_dispose(&res);
        metrics_counter_inc(s->m_installs, "store_failed");
        LOG_ERROR("api: storing Slack installation failed: %s", err);
        api_page(c, 500, "Installation failed", "The installation could not be saved.",
                 "/slack/install", "Try again");
        return;
    }
    char team_id[64], team_name[256];
    snprintf(team_id, sizeof team_id, "%s", res.team_id);
    snprintf(team_name, sizeof team_name, "%s", in.team_name);
    if (has_tenant && link_tenant(c->db, team_id, tenant, err, sizeof err) != 0) {
        slack_result_dispose(&res);
        api_store_error(c, STORE_DB, err);
        return;
    }
    /* Check the token works before sending the administrator on. */
    slack_result at;
    slack_result_init(&at);
    slack_auth_test(api_slack_base(s), token, &at);
    slack_result_dispose(&res); /* the token is stored sealed; drop the clear copy */
    if (!at.ok) {
        if (at.cls == SLACK_INSTALLATION)
            store_workspace_mark_revoked(c->db, team_id, at.error);
        char msg[1024];
        snprintf(msg, sizeof msg,
                 "Slack installed Herald in %.200s, but the new token does not work: %s%s%s.",
                 team_name, at.error, at.reason[0] ? " — " : "", at.reason);
        slack_result_dispose(&at);
        fail_page(c, 502, "auth_test_failed", "Installation incomplete", msg);
        return;
    }
    slack_result_dispose(&at);
    metrics_counter_inc(s->m_installs, replaced ? "reinstalled" : "installed");
    LOG_INFO("api: Slack workspace %s (%s) %s for %s", team_id, team_name,
             replaced ? "reinstalled" : "installed", has_tenant ? tenant : "no tenant");
    httpd_set_cookie(c->req, API_OAUTH_COOKIE, "", 0, "Lax", s->secure_cookies);
    char *t = httpd_url_encode(team_id);
    char loc[256];
    snprintf(loc, sizeof loc, "/console/new-target.html?workspace=%s&installed=%d", t,
             replaced ? 2 : 1);
    free(t);
    httpd_redirect(c->req, 303, loc);
}

void api_install_register(api_server *s)
{
    api_route(s, "GET", "/slack/install", API_AUTH | API_PAGE, install_start);
    api_route(s, "GET", "/slack/oauth/callback", API_PUBLIC, install_callback);
}
