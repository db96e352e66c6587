/*
 * herald-api: console sessions. POST /api/v1/session signs in with an API
 * token and sets the session cookie; GET tells the console who it is (and
 * its CSRF token); DELETE signs out. The trampoline (api_http.c) checks the
 * cookie on every other request.
 */
#include "workers/api/api_session.h"

#include "workers/api/api_http.h"

#include "common/crypto.h"
#include "common/log.h"
#include "store/apitoken.h"

static void principal_json(api_call *c, cJSON *o)
{
    api_json_str(o, "tenant", c->who.tenant[0] ? c->who.tenant : NULL);
    cJSON_AddStringToObject(o, "token_name", c->who.name);
    cJSON_AddNumberToObject(o, "token_id", (double)c->who.token_id);
    cJSON_AddStringToObject(o, "via", c->who.via_session ? "session" : "token");
    if (c->who.via_session)
        cJSON_AddStringToObject(o, "csrf", c->who.csrf);
    cJSON_AddBoolToObject(o, "slack_install_configured",
                          c->srv->cfg.client_id && *c->srv->cfg.client_id);
}

/* POST /api/v1/session {"token": "..."} (or a form with token=): sign in. */
static void h_login(api_call *c)
{
    char err[512];
    if (!api_same_origin(c)) {
        api_error(c, 403, NULL, "sign-in from another site is refused");
        return;
    }
    const char *token = httpd_req_form(c->req, "token");
    if (!token) {
        cJSON *j = api_body_object(c);
        if (!j)
            return;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "token");
        if (!cJSON_IsString(t)) {
            api_error(c, 400, "token", "token: expected a string");
            return;
        }
        token = t->valuestring;
    }
    if (!api_auth_allowed(c)) {
        metrics_counter_inc(c->srv->m_logins, "rate_limited");
        return;
    }
    int rc = apitoken_verify(c->db, token, &c->who, err, sizeof err);
    if (rc < 0) {
        api_store_error(c, STORE_DB, err);
        return;
    }
    if (rc == 0) {
        metrics_counter_inc(c->srv->m_logins, "refused");
        api_auth_failed(c, "bad_login");
        api_error(c, 401, "token", "that token is not valid (unknown or revoked)");
        return;
    }
    char sid[APITOKEN_RANDOM_LEN + 1];
    if (apitoken_session_create(c->db, &c->who, sid, err, sizeof err) != 0) {
        api_store_error(c, STORE_DB, err);
        return;
    }
    c->authed = true;
    httpd_set_cookie(c->req, c->srv->session_cookie, sid, APITOKEN_SESSION_TTL_S, "Lax",
                     c->srv->secure_cookies);
    crypto_wipe(sid, sizeof sid);
    metrics_counter_inc(c->srv->m_logins, "ok");
    LOG_INFO("api: console sign-in with token %lld (%s)", (long long)c->who.token_id,
             c->who.tenant[0] ? c->who.tenant : "operator");
    cJSON *o = cJSON_CreateObject();
    principal_json(c, o);
    httpd_respond_json(c->req, 200, o);
    cJSON_Delete(o);
}

static void h_session_get(api_call *c)
{
    cJSON *o = cJSON_CreateObject();
    principal_json(c, o);
    httpd_add_header(c->req, "Cache-Control", "no-store");
    httpd_respond_json(c->req, 200, o);
    cJSON_Delete(o);
}

static void h_logout(api_call *c)
{
    char err[512];
    const char *sid = httpd_req_cookie(c->req, c->srv->session_cookie);
    if (sid && apitoken_session_delete(c->db, sid, err, sizeof err) != 0) {
        api_store_error(c, STORE_DB, err);
        return;
    }
    httpd_set_cookie(c->req, c->srv->session_cookie, "", 0, "Lax", c->srv->secure_cookies);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", true);
    httpd_respond_json(c->req, 200, o);
    cJSON_Delete(o);
}

void api_session_register(api_server *s)
{
    api_route(s, "POST", "/api/v1/session", API_PUBLIC, h_login);
    api_route(s, "GET", "/api/v1/session", API_AUTH, h_session_get);
    api_route(s, "DELETE", "/api/v1/session", API_AUTH, h_logout);
}
