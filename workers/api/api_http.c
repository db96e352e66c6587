/*
 * herald-api's HTTP framework: the routing table and its trampoline (a
 * database connection from the pool, authentication by token or session,
 * the CSRF check), the answers handlers give (errors, HTML pages, JSON) and
 * the request helpers. It knows no resource: the modules register their
 * handlers through api_route (see api_server.c).
 */
#include "workers/api/api_http.h"

#include "common/event.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "store/apitoken.h"

#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define API_CSRF_HEADER "X-CSRF-Token"
#define API_CSRF_FIELD  "csrf"

/* Handlers are registered through this so the trampoline knows the flags;
 * the server keeps the list (api_server.routes) to free it. */
typedef struct api_route_entry {
    api_server *srv;
    api_handler fn;
    unsigned flags;
    struct api_route_entry *next;
} api_route_entry;

const char *api_slack_base(const api_server *s)
{
    return s->cfg.slack_api_url && *s->cfg.slack_api_url ? s->cfg.slack_api_url : NULL;
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
              utf8_safe(httpd_req_path(c->req), 0, path, sizeof path), errstr);
    api_error(c, 503, NULL, "database unavailable; try again");
}

void api_page_html(api_call *c, unsigned status, const char *title, const char *body_html)
{
    char *t = api_html_escape(title);
    static const char fmt[] =
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>%s · Herald</title><link rel=\"stylesheet\" href=\"/console/app.css\">"
        "</head><body><header class=\"top\"><a class=\"brand\" href=\"/console/\">Herald"
        "</a></header><main class=\"page narrow\"><h1 id=\"page-title\">%s</h1>"
        "%s</main></body></html>\n";
    /* Measured, not estimated: the page is never cut short. */
    int n = snprintf(NULL, 0, fmt, t, t, body_html);
    size_t size = n > 0 ? (size_t)n + 1 : 1;
    char *body = xmalloc(size);
    snprintf(body, size, fmt, t, t, body_html);
    httpd_add_header(c->req, "Cache-Control", "no-store");
    httpd_respond_owned(c->req, status, "text/html; charset=utf-8", body, strlen(body));
    free(t);
}

void api_page(api_call *c, unsigned status, const char *title, const char *message,
              const char *link, const char *link_text)
{
    char *m = api_html_escape(message);
    char *l = link ? api_html_escape(link) : NULL;
    char *lt = link ? api_html_escape(link_text ? link_text : link) : NULL;
    static const char fmt[] = "<p class=\"message\" id=\"page-message\">%s</p>%s%s%s%s%s";
    const char *a0 = l ? "<p><a class=\"button\" id=\"page-link\" href=\"" : "";
    const char *a1 = l ? "\">" : "", *a2 = l ? "</a></p>" : "";
    int n = snprintf(NULL, 0, fmt, m, a0, l ? l : "", a1, lt ? lt : "", a2);
    size_t size = n > 0 ? (size_t)n + 1 : 1;
    char *inner = xmalloc(size);
    snprintf(inner, size, fmt, m, a0, l ? l : "", a1, lt ? lt : "", a2);
    api_page_html(c, status, title, inner);
    free(inner);
    free(m);
    free(l);
    free(lt);
}

void api_respond(api_call *c, unsigned status, cJSON *o)
{
    httpd_add_header(c->req, "Cache-Control", "no-store");
    httpd_respond_json(c->req, status, o);
    cJSON_Delete(o);
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

bool api_json_whole(api_call *c, const cJSON *v, const char *field, int64_t min, int64_t max,
                    int64_t *out)
{
    /* Bounds first: a double outside int64 does not convert (undefined behaviour). */
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)min || v->valuedouble > (double)max ||
        v->valuedouble != (double)(int64_t)v->valuedouble) {
        api_error(c, 400, field, "%s: expected a whole number from %" PRId64 " to %" PRId64, field,
                  min, max);
        return false;
    }
    *out = (int64_t)v->valuedouble;
    return true;
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

bool api_path_id(api_call *c, const char *what, int64_t *id, const char **sub)
{
    const char *rest = httpd_req_path_rest(c->req);
    const char *slash = strchr(rest, '/');
    char ids[32];
    size_t l = slash ? (size_t)(slash - rest) : strlen(rest);
    if (l >= sizeof ids) {
        api_error(c, 404, NULL, "no such %s: '%s'", what, rest);
        return false;
    }
    memcpy(ids, rest, l);
    ids[l] = '\0';
    if (!api_parse_id(ids, id)) {
        api_error(c, 404, NULL, "no such %s: '%s'", what, ids);
        return false;
    }
    *sub = slash ? slash + 1 : NULL;
    return true;
}

bool api_query_long(api_call *c, const char *name, long min, long max, long *out)
{
    const char *v = httpd_req_query(c->req, name);
    if (!v)
        return true;
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < min || x > max) {
        api_error(c, 400, name, "%s: '%s' is not a whole number from %ld to %ld", name, v, min,
                  max);
        return false;
    }
    *out = (long)x;
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

static void security_headers(httpd_req *req, const api_server *s)
{
    if (s->secure_cookies)
        httpd_add_header(req, "Strict-Transport-Security", "max-age=31536000");
    httpd_add_header(req, "X-Frame-Options", "DENY");
    httpd_add_header(req, "Referrer-Policy", "same-origin");
    char csp[900];
    snprintf(csp, sizeof csp,
             "default-src 'self'; img-src 'self' data:; style-src 'self'; "
             "script-src 'self'; frame-ancestors 'none'; form-action %s; "
             "base-uri 'none'",
             s->form_action[0] ? s->form_action : "'self' https:");
    httpd_add_header(req, "Content-Security-Policy", csp);
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
        /* Guessing tokens: an address with too many failures is refused
         * before its token is looked at (even a good one: no oracle). */
        if (!api_auth_allowed(c))
            return 0;
        int rc = apitoken_verify(c->db, tok, &c->who, err, sizeof err);
        if (rc < 0) {
            api_store_error(c, STORE_DB, err);
            return -1;
        }
        if (rc == 0) {
            api_auth_failed(c, "bad_token");
            httpd_add_header(c->req, "WWW-Authenticate", "Bearer realm=\"herald\"");
            api_error(c, 401, NULL, "the API token is not valid (unknown or revoked)");
            return 0;
        }
        c->authed = true;
        return 1;
    }
    const char *sid = httpd_req_cookie(c->req, c->srv->session_cookie);
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

void api_db_release(api_call *c)
{
    if (!c->have_db)
        return;
    api_pool_release(&c->srv->pool, c->db_slot);
    c->db = NULL;
    c->have_db = false;
}

bool api_db_reacquire(api_call *c)
{
    if (c->have_db)
        return true;
    c->db = api_pool_acquire(&c->srv->pool, &c->db_slot);
    if (!c->db) {
        api_error(c, 503, NULL, "database unavailable; try again");
        return false;
    }
    c->have_db = true;
    return true;
}

static void trampoline(httpd_req *req, void *arg)
{
    api_route_entry *e = arg;
    api_call c = {.req = req, .srv = e->srv};
    security_headers(req, e->srv);
    if ((!(e->flags & API_NODB) || (e->flags & API_AUTH)) && !api_db_reacquire(&c))
        return;
    if ((e->flags & API_AUTH) && authenticate(&c, e->flags) != 1)
        goto out;
    e->fn(&c);
out:
    /* Whatever path the handler left by, the slot and the connection go back. */
    api_slack_end(&c);
    api_db_release(&c);
}

static api_route_entry *new_entry(api_server *s, unsigned flags, api_handler fn)
{
    api_route_entry *e = xcalloc(1, sizeof *e);
    e->srv = s;
    e->fn = fn;
    e->flags = flags;
    e->next = s->routes;
    s->routes = e;
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

void api_routes_dispose(api_server *s)
{
    while (s->routes) {
        api_route_entry *e = s->routes;
        s->routes = e->next;
        free(e);
    }
}
