/*
 * herald-api core: configuration, the database pool, the request trampoline
 * (database connection, authentication, CSRF), console sessions and the
 * helpers the endpoint modules share.
 */
#include "workers/api/api_internal.h"

#include "common/db.h"
#include "common/event.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define POOL_WAIT_MS 10000

/* Handlers are registered through this so the trampoline knows the flags. */
typedef struct api_route_entry {
    api_server *srv;
    api_handler fn;
    unsigned flags;
    struct api_route_entry *next;
} api_route_entry;

static api_route_entry *route_entries; /* freed at destroy; one server per process */
static pthread_mutex_t route_mu = PTHREAD_MUTEX_INITIALIZER;

void api_config_defaults(api_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->listen = API_DEFAULT_LISTEN;
    cfg->authorize_url = API_DEFAULT_AUTHORIZE_URL;
    cfg->threads = API_DEFAULT_THREADS;
    cfg->max_body = API_DEFAULT_MAX_BODY;
}

const char *api_slack_base(const api_server *s)
{
    return s->cfg.slack_api_url && *s->cfg.slack_api_url ? s->cfg.slack_api_url : NULL;
}

/* ================================================================ pool */

static int pool_open(api_pool *p, const char *conninfo, size_t n, char *errstr, size_t errstr_size)
{
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->conninfo = xstrdup(conninfo ? conninfo : "");
    p->n = n;
    p->conns = xcalloc(n, sizeof *p->conns);
    p->busy = xcalloc(n, sizeof *p->busy);
    for (size_t i = 0; i < n; i++) {
        p->conns[i] = db_connect(p->conninfo, errstr, errstr_size);
        if (!p->conns[i])
            return -1;
    }
    return 0;
}

static void pool_close(api_pool *p)
{
    if (!p->conns)
        return;
    for (size_t i = 0; i < p->n; i++)
        if (p->conns[i])
            PQfinish(p->conns[i]);
    free(p->conns);
    free(p->busy);
    free(p->conninfo);
    p->conns = NULL;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

/* A healthy connection, or NULL after POOL_WAIT_MS (or when the database
 * cannot be reached). */
static PGconn *pool_acquire(api_pool *p, size_t *slot)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += POOL_WAIT_MS / 1000;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        for (size_t i = 0; i < p->n; i++) {
            if (!p->busy[i]) {
                p->busy[i] = true;
                pthread_mutex_unlock(&p->mu);
                *slot = i;
                PGconn *c = p->conns[i];
                if (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) == PQTRANS_UNKNOWN) {
                    PQreset(c);
                    if (PQstatus(c) != CONNECTION_OK) {
                        pthread_mutex_lock(&p->mu);
                        p->busy[i] = false;
                        pthread_cond_signal(&p->cv);
                        pthread_mutex_unlock(&p->mu);
                        return NULL;
                    }
                }
                return c;
            }
        }
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
    }
}

static void pool_release(api_pool *p, size_t slot)
{
    PGconn *c = p->conns[slot];
    /* A handler that failed half-way must not leave a transaction open. */
    if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c, "ROLLBACK");
        PQclear(r);
    }
    pthread_mutex_lock(&p->mu);
    p->busy[slot] = false;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ================================================================ answers */

char *api_html_escape(const char *s)
{
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += (*p == '<' || *p == '>') ? 4 : *p == '&' ? 5 : (*p == '"' || *p == '\'') ? 6 : 1;
    char *out = xmalloc(n), *w = out;
    for (const char *p = s; *p; p++) {
        const char *rep = *p == '<'    ? "&lt;"
                          : *p == '>'  ? "&gt;"
                          : *p == '&'  ? "&amp;"
                          : *p == '"'  ? "&quot;"
                          : *p == '\'' ? "&#39;"
                                       : NULL;
        if (rep) {
            size_t l = strlen(rep);
            memcpy(w, rep, l);
            w += l;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return out;
}

const char *api_log_safe(const char *s, char *buf, size_t size)
{
    if (!size)
        return buf;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && n + 1 < size; p++)
        buf[n++] = (char)(*p < 0x20 || *p == 0x7f ? '?' : *p);
    buf[n] = '\0';
    return buf;
}

void api_error(api_call *c, unsigned status, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    httpd_respond_verror(c->req, status, field, fmt, ap);
    va_end(ap);
}

void api_store_error(api_call *c, store_status st, const char *errstr)
{
    char field[64] = "";
    switch (st) {
    case STORE_INVALID: {
        const char *reason = store_invalid_field(errstr, field, sizeof field);
        (void)reason;
        api_error(c, 400, field, "%s", errstr);
        return;
    }
    case STORE_NOT_FOUND:
        api_error(c, 404, NULL, "%s", errstr);
        return;
    case STORE_CONFLICT:
        api_error(c, 409, NULL, "%s", errstr);
        return;
    case STORE_CRYPTO:
        LOG_ERROR("api: %s", errstr);
        api_error(c, 500, NULL,
                  "a stored Slack token could not be opened: check HERALD_SECRET_KEY");
        return;
    case STORE_DB:
    default:
        break;
    }
    char path[256];
    LOG_ERROR("api: %s %s: database: %s", httpd_req_method(c->req),
              api_log_safe(httpd_req_path(c->req), path, sizeof path), errstr);
    api_error(c, 503, NULL, "database unavailable; try again");
}

void api_page(api_call *c, unsigned status, const char *title, const char *message,
              const char *link, const char *link_text)
{
    char *t = api_html_escape(title), *m = api_html_escape(message);
    char *l = link ? api_html_escape(link) : NULL;
    char *lt = link ? api_html_escape(link_text ? link_text : link) : NULL;
    static const char fmt[] =
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>%s · Herald</title><link rel=\"stylesheet\" href=\"/console/app.css\">"
        "</head><body><header class=\"top\"><a class=\"brand\" href=\"/console/\">Herald"
        "</a></header><main class=\"page narrow\"><h1 id=\"page-title\">%s</h1>"
        "<p class=\"message\" id=\"page-message\">%s</p>%s%s%s%s%s</main></body></html>\n";
    const char *a0 = l ? "<p><a class=\"button\" id=\"page-link\" href=\"" : "";
    const char *a1 = l ? "\">" : "", *a2 = l ? "</a></p>" : "";
    /* Measured, not estimated: the page is never cut short. */
    int n = snprintf(NULL, 0, fmt, t, t, m, a0, l ? l : "", a1, lt ? lt : "", a2);
    size_t size = n > 0 ? (size_t)n + 1 : 1;
    char *body = xmalloc(size);
    snprintf(body, size, fmt, t, t, m, a0, l ? l : "", a1, lt ? lt : "", a2);
    httpd_add_header(c->req, "Cache-Control", "no-store");
    httpd_respond_owned(c->req, status, "text/html; charset=utf-8", body, strlen(body));
    free(t);
    free(m);
    free(l);
    free(lt);
}

void api_json_time(cJSON *o, const char *key, int64_t ms)
{
    if (ms <= 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    char buf[EVENT_TIME_LEN];
    event_format_time(ms, buf);
    cJSON_AddStringToObject(o, key, buf);
}

void api_json_str(cJSON *o, const char *key, const char *s)
{
    if (s)
        cJSON_AddStringToObject(o, key, s);
    else
        cJSON_AddNullToObject(o, key);
}

/* ================================================================ request helpers */

bool api_is_operator(const api_call *c)
{
    return c->authed && c->who.tenant[0] == '\0';
}

const char *api_tenant_scope(api_call *c)
{
    if (!api_is_operator(c))
        return c->who.tenant;
    const char *q = httpd_req_query(c->req, "tenant");
    return q && *q ? q : NULL;
}

bool api_tenant_allowed(const api_call *c, const char *tenant)
{
    if (api_is_operator(c))
        return true;
    return tenant && strcmp(tenant, c->who.tenant) == 0;
}

cJSON *api_body_object(api_call *c)
{
    char err[512];
    cJSON *j = httpd_req_json(c->req, err, sizeof err);
    if (!j) {
        api_error(c, 400, NULL, "%s", err);
        return NULL;
    }
    /* Handlers walk the members by name: an array's elements have none. */
    if (!cJSON_IsObject(j)) {
        api_error(c, 400, NULL, "body: expected a JSON object");
        return NULL;
    }
    return j;
}

bool api_parse_id(const char *s, int64_t *out)
{
    if (!s || !*s || strlen(s) > 18)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    long long v = strtoll(s, NULL, 10);
    if (v <= 0)
        return false;
    *out = v;
    return true;
}

bool api_same_origin(api_call *c)
{
    const char *origin = httpd_req_header(c->req, "Origin");
    if (!origin)
        return true; /* not a browser, or a same-origin GET/HEAD */
    if (strcasecmp(origin, c->srv->origin) == 0)
        return true;
    /* Reached under another name than HERALD_PUBLIC_URL (127.0.0.1 vs
     * localhost): the Host the browser used is also ours. */
    const char *host = httpd_req_header(c->req, "Host");
    if (host) {
        char mine[600];
        snprintf(mine, sizeof mine, "%s://%s", c->srv->secure_cookies ? "https" : "http", host);
        if (strcasecmp(origin, mine) == 0)
            return true;
    }
    return false;
}

static bool unsafe_method(const char *m)
{
    return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 && strcmp(m, "OPTIONS") != 0;
}

/* ================================================================ trampoline */

static void security_headers(httpd_req *req)
{
    httpd_add_header(req, "X-Frame-Options", "DENY");
    httpd_add_header(req, "Referrer-Policy", "same-origin");
    httpd_add_header(req, "Content-Security-Policy",
                     "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                     "script-src 'self'; frame-ancestors 'none'; form-action 'self' https:; "
                     "base-uri 'none'");
}

/* 1 authenticated, 0 answered (401/303/403), -1 database trouble (answered). */
static int authenticate(api_call *c, unsigned flags)
{
    char err[512];
    const char *authz = httpd_req_header(c->req, "Authorization");
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
        const char *tok = authz + 7;
        while (*tok == ' ')
            tok++;
        int rc = apitoken_verify(c->db, tok, &c->who, err, sizeof err);
        if (rc < 0) {
            api_store_error(c, STORE_DB, err);
            return -1;
        }
        if (rc == 0) {
            metrics_counter_inc(c->srv->m_auth_failures, "bad_token");
            httpd_add_header(c->req, "WWW-Authenticate", "Bearer realm=\"herald\"");
            api_error(c, 401, NULL, "the API token is not valid (unknown or revoked)");
            return 0;
        }
        c->authed = true;
        return 1;
    }
    const char *sid = httpd_req_cookie(c->req, API_SESSION_COOKIE);
    int rc = sid ? apitoken_session_verify(c->db, sid, &c->who, err, sizeof err) : 0;
    if (rc < 0) {
        api_store_error(c, STORE_DB, err);
        return -1;
    }
    if (rc == 0) {
        metrics_counter_inc(c->srv->m_auth_failures, sid ? "bad_session" : "none");
        if (flags & API_PAGE) {
            const char *path = httpd_req_path(c->req);
            char *next = httpd_url_encode(path);
            char loc[1024];
            snprintf(loc, sizeof loc, "/console/login.html?next=%s", next);
            free(next);
            httpd_redirect(c->req, 303, loc);
        } else {
            httpd_add_header(c->req, "WWW-Authenticate", "Bearer realm=\"herald\"");
            api_error(c, 401, NULL,
                      sid ? "the session has ended: sign in again"
                          : "authentication required: send Authorization: Bearer <token> "
                            "or sign in to the console");
        }
        return 0;
    }
    c->authed = true;
    /* A cookie travels with any request the browser makes, so a state change
     * must also prove it came from our own pages. */
    if (unsafe_method(httpd_req_method(c->req))) {
        const char *csrf = httpd_req_header(c->req, API_CSRF_HEADER);
        if (!csrf)
            csrf = httpd_req_form(c->req, API_CSRF_FIELD);
        if (!api_same_origin(c) || !apitoken_equal(csrf, c->who.csrf)) {
            metrics_counter_inc(c->srv->m_auth_failures, "csrf");
            api_error(c, 403, NULL, "missing or wrong CSRF token: reload the page and try again");
            return 0;
        }
    }
    return 1;
}

static void trampoline(httpd_req *req, void *arg)
{
    api_route_entry *e = arg;
    api_call c = {.req = req, .srv = e->srv};
    security_headers(req);
    size_t slot = 0;
    bool have_db = false;
    if (!(e->flags & API_NODB) || (e->flags & API_AUTH)) {
        c.db = pool_acquire(&e->srv->pool, &slot);
        if (!c.db) {
            api_error(&c, 503, NULL, "database unavailable; try again");
            return;
        }
        have_db = true;
    }
    if ((e->flags & API_AUTH) && authenticate(&c, e->flags) != 1)
        goto out;
    e->fn(&c);
out:
    if (have_db)
        pool_release(&e->srv->pool, slot);
}

static api_route_entry *new_entry(api_server *s, unsigned flags, api_handler fn)
{
    api_route_entry *e = xcalloc(1, sizeof *e);
    e->srv = s;
    e->fn = fn;
    e->flags = flags;
    pthread_mutex_lock(&route_mu);
    e->next = route_entries;
    route_entries = e;
    pthread_mutex_unlock(&route_mu);
    return e;
}

void api_route(api_server *s, const char *method, const char *path, unsigned flags, api_handler fn)
{
    httpd_route(s->http, method, path, trampoline, new_entry(s, flags, fn));
}

void api_route_prefix(api_server *s, const char *method, const char *prefix, unsigned flags,
                      api_handler fn)
{
    httpd_route_prefix(s->http, method, prefix, trampoline, new_entry(s, flags, fn));
}

/* ================================================================ sessions */

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
    int rc = apitoken_verify(c->db, token, &c->who, err, sizeof err);
    if (rc < 0) {
        api_store_error(c, STORE_DB, err);
        return;
    }
    if (rc == 0) {
        metrics_counter_inc(c->srv->m_logins, "refused");
        api_error(c, 401, "token", "that token is not valid (unknown or revoked)");
        return;
    }
    char sid[APITOKEN_RANDOM_LEN + 1];
    if (apitoken_session_create(c->db, &c->who, sid, err, sizeof err) != 0) {
        api_store_error(c, STORE_DB, err);
        return;
    }
    c->authed = true;
    httpd_set_cookie(c->req, API_SESSION_COOKIE, sid, APITOKEN_SESSION_TTL_S, "Lax",
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
    const char *sid = httpd_req_cookie(c->req, API_SESSION_COOKIE);
    if (sid && apitoken_session_delete(c->db, sid, err, sizeof err) != 0) {
        api_store_error(c, STORE_DB, err);
        return;
    }
    httpd_set_cookie(c->req, API_SESSION_COOKIE, "", 0, "Lax", c->srv->secure_cookies);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", true);
    httpd_respond_json(c->req, 200, o);
    cJSON_Delete(o);
}

/* ================================================================ health */

static bool health(void *arg, char *reason, size_t reason_size)
{
    api_server *s = arg;
    size_t slot;
    PGconn *db = pool_acquire(&s->pool, &slot);
    if (!db) {
        snprintf(reason, reason_size, "database unreachable");
        return false;
    }
    PGresult *r = PQexec(db, "SELECT 1");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        db_error(db, r, reason, reason_size);
    PQclear(r);
    pool_release(&s->pool, slot);
    return ok;
}

/* ================================================================ lifecycle */

static char *dup_or_empty(const char *s)
{
    return xstrdup(s ? s : "");
}

static int schema_ready(PGconn *db, bool migrate, char *errstr, size_t errstr_size)
{
    if (migrate) {
        int applied = 0;
        if (db_migrate(db, &applied, errstr, errstr_size) != 0)
            return -1;
        if (applied)
            LOG_INFO("api: applied %d migration(s)", applied);
    }
    PGresult *r = PQexec(db, "SELECT to_regclass('api_tokens') IS NOT NULL "
                             "AND to_regclass('check_types') IS NOT NULL");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_error(db, r, errstr, errstr_size);
        PQclear(r);
        return -1;
    }
    bool ok = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!ok) {
        snprintf(errstr, errstr_size,
                 "the database schema is not up to date: run `heraldctl migrate` (or start "
                 "herald-api with --migrate)");
        return -1;
    }
    return 0;
}

static bool is_http_url(const char *u)
{
    return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

int api_config_check(const api_config *cfg, char *errstr, size_t errstr_size)
{
    char host[256], e[256];
    uint16_t port;
    if (httpd_parse_addr(cfg->listen, host, sizeof host, &port, e, sizeof e) != 0) {
        snprintf(errstr, errstr_size, "--listen: %s", e);
        return -1;
    }
    if (!cfg->secret_key || !*cfg->secret_key) {
        snprintf(errstr, errstr_size,
                 "HERALD_SECRET_KEY is not set (32 random bytes, base64: it encrypts the Slack "
                 "bot tokens herald-api stores)");
        return -1;
    }
    unsigned char key[CRYPTO_KEY_LEN];
    int rc = crypto_key_from_base64(cfg->secret_key, key, errstr, errstr_size);
    crypto_wipe(key, sizeof key);
    if (rc != 0)
        return -1;
    const char *pub = cfg->public_url ? cfg->public_url : "";
    if (*pub && !is_http_url(pub)) {
        snprintf(errstr, errstr_size, "--public-url: '%.200s' is not an http:// or https:// URL",
                 pub);
        return -1;
    }
    /* Room for the OAuth callback path after it (api_server.redirect_uri). */
    if (strlen(pub) > 400) {
        snprintf(errstr, errstr_size, "--public-url: longer than 400 characters");
        return -1;
    }
    const char *az = cfg->authorize_url;
    if (az && *az && !is_http_url(az)) {
        snprintf(errstr, errstr_size,
                 "--slack-authorize-url: '%.200s' is not an http:// or https:// URL", az);
        return -1;
    }
    if (cfg->client_id && *cfg->client_id && (!cfg->client_secret || !*cfg->client_secret)) {
        snprintf(errstr, errstr_size,
                 "HERALD_SLACK_CLIENT_ID is set but no client secret: set "
                 "HERALD_SLACK_CLIENT_SECRET or HERALD_SLACK_CLIENT_SECRET_FILE");
        return -1;
    }
    return 0;
}

api_server *api_server_new(const api_config *cfg, char *errstr, size_t errstr_size)
{
    api_server *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    s->cfg.listen = dup_or_empty(cfg->listen);
    s->cfg.database_url = dup_or_empty(cfg->database_url);
    s->cfg.slack_api_url = dup_or_empty(cfg->slack_api_url);
    s->cfg.secret_key = NULL; /* decoded below, not kept */
    s->cfg.public_url = dup_or_empty(cfg->public_url);
    s->cfg.client_id = dup_or_empty(cfg->client_id);
    s->cfg.client_secret = dup_or_empty(cfg->client_secret);
    s->cfg.authorize_url = dup_or_empty(
        cfg->authorize_url && *cfg->authorize_url ? cfg->authorize_url : API_DEFAULT_AUTHORIZE_URL);
    s->cfg.console_dir = dup_or_empty(cfg->console_dir);
    if (!s->cfg.threads)
        s->cfg.threads = API_DEFAULT_THREADS;
    if (!s->cfg.max_body)
        s->cfg.max_body = API_DEFAULT_MAX_BODY;
    s->metrics = cfg->metrics ? cfg->metrics : metrics_default_registry();

    char host[256];
    uint16_t port;
    if (api_config_check(cfg, errstr, errstr_size) != 0 ||
        httpd_parse_addr(s->cfg.listen, host, sizeof host, &port, errstr, errstr_size) != 0 ||
        crypto_key_from_base64(cfg->secret_key, s->key, errstr, errstr_size) != 0)
        goto fail;
    if (*s->cfg.public_url) {
        snprintf(s->public_url, sizeof s->public_url, "%s", s->cfg.public_url);
    } else {
        /* Derived from the listen address; the port is fixed up at start
         * when it is 0. */
        snprintf(s->public_url, sizeof s->public_url, "http://%s:%u",
                 (!*host || strcmp(host, "0.0.0.0") == 0) ? "localhost" : host, port);
    }
    size_t pl = strlen(s->public_url);
    while (pl && s->public_url[pl - 1] == '/')
        s->public_url[--pl] = '\0';
    s->secure_cookies = strncmp(s->public_url, "https://", 8) == 0;

    if (pool_open(&s->pool, s->cfg.database_url, s->cfg.threads, errstr, errstr_size) != 0)
        goto fail;
    if (schema_ready(s->pool.conns[0], cfg->migrate, errstr, errstr_size) != 0)
        goto fail;

    s->m_logins = metrics_counter_new_in(s->metrics, "herald_api_logins_total",
                                         "Console sign-ins, by outcome.", "outcome");
    s->m_installs = metrics_counter_new_in(s->metrics, "herald_api_installs_total",
                                           "Slack OAuth installs finished, by outcome.", "outcome");
    s->m_tests = metrics_counter_new_in(s->metrics, "herald_api_test_messages_total",
                                        "Test messages sent from the API, by outcome.", "outcome");
    s->m_auth_failures =
        metrics_counter_new_in(s->metrics, "herald_api_auth_failures_total",
                               "Requests refused for authentication or CSRF, by reason.", "reason");

    httpd_config hc = {.addr = s->cfg.listen,
                       .max_body = s->cfg.max_body,
                       .threads = s->cfg.threads,
                       .metrics = s->metrics,
                       .health = health,
                       .health_arg = s};
    s->http = httpd_new(&hc, errstr, errstr_size);
    if (!s->http)
        goto fail;
    api_route(s, "POST", "/api/v1/session", API_PUBLIC, h_login);
    api_route(s, "GET", "/api/v1/session", API_AUTH, h_session_get);
    api_route(s, "DELETE", "/api/v1/session", API_AUTH, h_logout);
    api_install_register(s);
    api_admin_register(s);
    api_console_register(s);
    return s;
fail:
    api_server_destroy(s);
    return NULL;
}

int api_server_start(api_server *s, char *errstr, size_t errstr_size)
{
    if (httpd_start(s->http, errstr, errstr_size) != 0)
        return -1;
    if (!*s->cfg.public_url) {
        /* Derived: put the real port in (listen port 0 in tests). */
        char host[256];
        uint16_t port;
        char e[128];
        if (httpd_parse_addr(s->cfg.listen, host, sizeof host, &port, e, sizeof e) == 0)
            snprintf(s->public_url, sizeof s->public_url, "http://%s:%u",
                     (!*host || strcmp(host, "0.0.0.0") == 0) ? "localhost" : host,
                     httpd_port(s->http));
    }
    /* origin = scheme://authority of the public URL */
    const char *p = strstr(s->public_url, "://");
    const char *slash = p ? strchr(p + 3, '/') : NULL;
    size_t ol = slash ? (size_t)(slash - s->public_url) : strlen(s->public_url);
    snprintf(s->origin, sizeof s->origin, "%.*s", (int)ol, s->public_url);
    snprintf(s->redirect_uri, sizeof s->redirect_uri, "%s/slack/oauth/callback", s->public_url);
    LOG_INFO("api: listening on port %u; console at %s/console/", httpd_port(s->http),
             s->public_url);
    return 0;
}

uint16_t api_server_port(const api_server *s)
{
    return s ? httpd_port(s->http) : 0;
}

const char *api_server_public_url(const api_server *s)
{
    return s->public_url;
}

void api_server_destroy(api_server *s)
{
    if (!s)
        return;
    httpd_destroy(s->http); /* waits for running handlers */
    s->http = NULL;
    pool_close(&s->pool);
    pthread_mutex_lock(&route_mu);
    api_route_entry **pp = &route_entries;
    while (*pp) {
        if ((*pp)->srv == s) {
            api_route_entry *e = *pp;
            *pp = e->next;
            free(e);
        } else {
            pp = &(*pp)->next;
        }
    }
    pthread_mutex_unlock(&route_mu);
    crypto_wipe(s->key, sizeof s->key);
    free((char *)s->cfg.listen);
    free((char *)s->cfg.database_url);
    free((char *)s->cfg.slack_api_url);
    free((char *)s->cfg.public_url);
    free((char *)s->cfg.client_id);
    if (s->cfg.client_secret) {
        crypto_wipe((char *)s->cfg.client_secret, strlen(s->cfg.client_secret));
        free((char *)s->cfg.client_secret);
    }
    free((char *)s->cfg.authorize_url);
    free((char *)s->cfg.console_dir);
    free(s);
}
