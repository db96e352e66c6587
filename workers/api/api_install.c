/*
 * herald-api: "Add to Slack" (OAuth v2, shared/slack-api.md).
 *
 *   GET /slack/install         (signed in) the confirmation page: which tenant, which
 *                              permissions; its form POSTs here
 *   POST /slack/install        (the form: session CSRF token, same-origin Origin) -> 302
 *                              to Slack's authorize page with a fresh state; the browser
 *                              gets a binding cookie
 *   GET /slack/oauth/callback  Slack sends the administrator back with code+state
 *                              (or error=access_denied): checks the state, exchanges
 *                              the code, stores the installation, checks the token
 *                              with auth.test, and lands on the new-target form.
 *
 * The state is random (256 bits), stored only as its SHA-256, single-use
 * (consumed by the first callback that presents it, whatever the outcome),
 * valid for API_OAUTH_STATE_TTL_S and bound to the browser and its session
 * by a random cookie: the hash of it with the session id is stored. The
 * callback rechecks that session. A tenant's install never takes over an
 * installation another tenant holds (store_workspace_put's guard); an
 * operator's does. The code and the bot token are never logged.
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
#include "common/strbuf.h"
#include "common/util.h"
#include "store/apitoken.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_OAUTH_COOKIE      "herald_oauth"
#define API_OAUTH_COOKIE_HOST "__Host-herald_oauth" /* over https: bound to this host */
#define API_OAUTH_STATE_TTL_S 600

/* The browser-binding cookie's name: with the __Host- prefix over https, as the
 * session cookie (Secure, Path=/, no Domain: no other host can set it). */
static const char *oauth_cookie(const api_server *s)
{
    return s->secure_cookies ? API_OAUTH_COOKIE_HOST : API_OAUTH_COOKIE;
}

/* Answers 503 and returns false when the app's client id is not set. */
static bool install_configured(api_call *c)
{
    if (c->srv->cfg.client_id && *c->srv->cfg.client_id)
        return true;
    api_page(c, 503, "Slack installation is not configured",
             "Set HERALD_SLACK_CLIENT_ID and HERALD_SLACK_CLIENT_SECRET (or "
             "HERALD_SLACK_CLIENT_SECRET_FILE) for herald-api, then try again.",
             "/console/", "Back to the console");
    return false;
}

/* The tenant an install is for: a tenant session's own; an operator's from
 * the given parameter (NULL: none). False after answering 400. */
static bool install_tenant(api_call *c, const char *given, const char **tenant)
{
    *tenant = c->who.tenant[0] ? c->who.tenant : (given && *given ? given : NULL);
    if (*tenant && !event_is_identifier(*tenant)) {
        api_page(c, 400, "Cannot start the installation",
                 "The tenant parameter is not a tenant id (1 to 128 characters of A-Z a-z 0-9 . "
                 "_ : -).",
                 "/console/", "Back to the console");
        return false;
    }
    return true;
}

/* The hash stored with a state: of the browser cookie and the session id
 * together, so the callback finds the same browser in the same session. */
static void binding_hash(const char *browser, const char *sid, char out[APITOKEN_HASH_PARAM_LEN])
{
    char both[2 * APITOKEN_RANDOM_LEN + 8];
    snprintf(both, sizeof both, "%s.%s", browser, sid ? sid : "");
    apitoken_hash_param(both, out);
    crypto_wipe(both, sizeof both);
}

/* GET /slack/install: what will happen, and a form whose POST starts it.
 * A link alone never reaches Slack (a link sent to a signed-in operator
 * would otherwise install for whatever tenant it names). */
static void install_confirm(api_call *c)
{
    const char *tenant;
    if (!install_configured(c) || !install_tenant(c, httpd_req_query(c->req, "tenant"), &tenant))
        return;
    if (!c->who.via_session) {
        api_page(c, 403, "Sign in to the console first",
                 "Adding Herald to Slack starts from a console session, not an API token.",
                 "/console/login.html?next=%2Fslack%2Finstall", "Sign in");
        return;
    }
    char *t = api_html_escape(tenant ? tenant : "");
    char *csrf = api_html_escape(c->who.csrf);
    char *scopes = api_html_escape(API_SLACK_SCOPES);
    strbuf b = {0};
    strbuf_adds(&b, "<p class=\"message\" id=\"page-message\">You are about to add Herald to "
                    "a Slack workspace ");
    if (tenant)
        strbuf_addf(&b, "for tenant <strong id=\"install-tenant\">%s</strong>", t);
    else
        strbuf_adds(&b, "for <strong>no tenant</strong> (as an operator: share it later with "
                        "<code>heraldctl workspace share</code>)");
    strbuf_addf(
        &b,
        ". Continuing takes you to Slack, which asks an administrator of the workspace to grant "
        "Herald these permissions: <code id=\"install-scopes\">%s</code>.</p>"
        "<p>Herald then stores the workspace's bot token (encrypted) and links the workspace "
        "to the tenant. A workspace another tenant already uses is left as it is: an operator "
        "shares it. If you did not mean to do this, cancel.</p>"
        "<form method=\"post\" action=\"/slack/install\" id=\"install-form\">"
        "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
        "<input type=\"hidden\" name=\"tenant\" value=\"%s\">"
        "<p><button class=\"button\" type=\"submit\" id=\"install-confirm\">Continue to "
        "Slack</button> <a href=\"/console/\" id=\"install-cancel\">Cancel</a></p></form>",
        scopes, csrf, t);
    char *body = strbuf_take(&b);
    api_page_html(c, 200, "Add Herald to Slack", body);
    free(body);
    free(scopes);
    crypto_wipe(csrf, strlen(csrf));
    free(csrf);
    free(t);
}

/* POST /slack/install (the confirmation form): the session's CSRF token was
 * checked with the request (api_http's authenticate); the Origin must be
 * ours and present. Answers 302 to Slack with a fresh state. */
static void install_start(api_call *c)
{
    api_server *s = c->srv;
    const char *tenant;
    if (!install_configured(c) || !install_tenant(c, httpd_req_form(c->req, "tenant"), &tenant))
        return;
    const char *sid = httpd_req_cookie(c->req, API_SESSION_COOKIE);
    if (!c->who.via_session || !sid) {
        api_page(c, 403, "Sign in to the console first",
                 "Adding Herald to Slack starts from a console session, not an API token.",
                 "/console/login.html?next=%2Fslack%2Finstall", "Sign in");
        return;
    }
    if (!httpd_req_header(c->req, "Origin") || !api_same_origin(c)) {
        metrics_counter_inc(s->m_installs, "bad_origin");
        api_page(c, 403, "Installation refused",
                 "This request did not come from Herald's own confirmation page (its Origin is "
                 "missing or another site's).",
                 "/slack/install", "Start the installation again");
        return;
    }
    char state[APITOKEN_RANDOM_LEN + 1], browser[APITOKEN_RANDOM_LEN + 1];
    if (apitoken_random(state) != 0 || apitoken_random(browser) != 0) {
        api_page(c, 500, "Cannot start the installation", "No randomness available.", NULL, NULL);
        return;
    }
    char sh[APITOKEN_HASH_PARAM_LEN], bh[APITOKEN_HASH_PARAM_LEN], tid[32], ttl[16];
    apitoken_hash_param(state, sh);
    binding_hash(browser, sid, bh);
    snprintf(tid, sizeof tid, "%" PRId64, c->who.token_id);
    snprintf(ttl, sizeof ttl, "%d", API_OAUTH_STATE_TTL_S);
    char err[512];
    if (store_oauth_state_create(c->db, sh, bh, tid, tenant, ttl, err, sizeof err) != STORE_OK) {
        api_store_error(c, STORE_DB, err);
        return;
    }
    httpd_set_cookie(c->req, oauth_cookie(c->srv), browser, API_OAUTH_STATE_TTL_S, "Lax",
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
    httpd_set_cookie(c->req, oauth_cookie(c->srv), "", 0, "Lax", c->srv->secure_cookies);
    api_page(c, status, title, msg, "/slack/install", "Start the installation again");
}

/* The page for a tenant's install store_workspace_put refused: the
 * workspace is someone else's, or shared (its token is theirs too). */
static void refused_page(api_call *c, const char *team_id, const char *team_name,
                         const char *tenant)
{
    char err[512], msg[1024];
    store_workspace_hold h = {0};
    if (store_workspace_hold_of(c->db, tenant, team_id, &h, err, sizeof err) != STORE_OK)
        LOG_WARN("api: reading who holds workspace %s: %s", team_id, err);
    if (h.mine)
        snprintf(msg, sizeof msg,
                 "Herald is already installed in the Slack workspace %.200s (%s) and other "
                 "tenants depend on its bot token, so a tenant cannot reinstall it. Nothing was "
                 "changed. Ask a Herald operator to reinstall it.",
                 team_name, team_id);
    else
        snprintf(msg, sizeof msg,
                 "Herald is already installed in the Slack workspace %.200s (%s) for another "
                 "tenant. Nothing was changed: that installation and its token are left as "
                 "they are. A Herald operator can share it with tenant %s (heraldctl workspace "
                 "share %s --tenant %s).",
                 team_name, team_id, tenant, team_id, tenant);
    fail_page(c, 403, h.mine ? "refused_shared" : "refused_other_tenant", "Installation refused",
              msg);
}

static void install_callback(api_call *c)
{
    api_server *s = c->srv;
    const char *error = httpd_req_query(c->req, "error");
    const char *state = httpd_req_query(c->req, "state");
    const char *code = httpd_req_query(c->req, "code");
    const char *cookie = httpd_req_cookie(c->req, oauth_cookie(c->srv));

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
    const char *sid = httpd_req_cookie(c->req, API_SESSION_COOKIE);
    apitoken_hash_param(state, sh);
    if (cookie)
        binding_hash(cookie, sid, bh);
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
    /* The session that started it must still be valid (not signed out, its
     * token not revoked); same_browser then says it is that very session. */
    apitoken_principal who;
    int sv = sid ? apitoken_session_verify(c->db, sid, &who, err, sizeof err) : 0;
    if (sv < 0) {
        api_store_error(c, STORE_DB, err);
        return;
    }
    if (sv == 0) {
        fail_page(c, 403, "session_ended", "Installation refused",
                  "The Herald session that started this installation has ended (signed out, "
                  "expired, or its API token was revoked). Sign in and start the installation "
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
                                .token = token,
                                .tenant = has_tenant ? tenant : NULL,
                                .tenant_install = who.tenant[0] != '\0'};
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
    if (st == STORE_CONFLICT && in.tenant_install) {
        char team_id[64], team_name[256];
        snprintf(team_id, sizeof team_id, "%s", res.team_id);
        snprintf(team_name, sizeof team_name, "%s", in.team_name);
        slack_result_dispose(&res); /* the new token is dropped, never stored */
        refused_page(c, team_id, team_name, tenant);
        return;
    }
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
    httpd_set_cookie(c->req, oauth_cookie(s), "", 0, "Lax", s->secure_cookies);
    char *t = httpd_url_encode(team_id);
    char loc[256];
    snprintf(loc, sizeof loc, "/console/new-target.html?workspace=%s&installed=%d", t,
             replaced ? 2 : 1);
    free(t);
    httpd_redirect(c->req, 303, loc);
}

void api_install_register(api_server *s)
{
    api_route(s, "GET", "/slack/install", API_AUTH | API_PAGE, install_confirm);
    api_route(s, "POST", "/slack/install", API_AUTH | API_PAGE, install_start);
    api_route(s, "GET", "/slack/oauth/callback", API_PUBLIC, install_callback);
}
