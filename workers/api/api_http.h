#ifndef HERALD_API_HTTP_H
#define HERALD_API_HTTP_H

/*
 * herald-api's HTTP framework (api_http.c), internal to workers/api: the
 * server state handlers see, the per-request call, routing with its
 * trampoline (database connection, authentication, CSRF), and the answers
 * and helpers every handler uses. It knows no resource: each module
 * (api_session.c, api_install.c, api_workspaces.c, api_targets.c,
 * api_deliveries.c, api_checks.c, api_console.c) includes this header and
 * registers its routes; api_server.c creates the server and calls the
 * modules' register functions. Other programs include workers/api/api.h.
 */
#include "workers/api/api.h"
#include "workers/api/api_limits.h"
#include "workers/api/api_pool.h"

#include "common/crypto.h"
#include "common/httpd.h"
#include "common/metrics.h"
#include "store/apitoken.h"
#include "store/store.h"

#include <cJSON.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_SESSION_COOKIE "herald_session"
/* Over https: the browser keeps it only if Secure, Path=/ and no Domain, so
 * neither a sibling subdomain nor a plain-http page can plant or shadow it. */
#define API_SESSION_COOKIE_SECURE "__Host-herald_session"

struct api_route_entry;

struct api_server {
    api_config cfg; /* strings owned (copied) */
    /* An array of one: `s->key` passes as the keyring pointer the store takes. */
    crypto_keyring key[1];
    char public_url[512]; /* no trailing slash */
    char origin[512];     /* scheme://host[:port] of public_url */
    char redirect_uri[600];
    char form_action[640];      /* CSP form-action: 'self' https: [the authorize URL's origin] */
    bool secure_cookies;        /* public URL is https */
    const char *session_cookie; /* API_SESSION_COOKIE, or its __Host- form over https */
    httpd *http;
    httpd *ops; /* --metrics-addr: /metrics and /healthz; NULL: served by http */
    api_pool pool;
    struct api_route_entry *routes; /* what api_route registered; api_routes_dispose */
    metrics_registry *metrics;
    metrics_counter *m_logins;        /* outcome */
    metrics_counter *m_installs;      /* outcome */
    metrics_counter *m_tests;         /* outcome */
    metrics_counter *m_auth_failures; /* reason */
    metrics_counter *m_rate_limited;  /* kind: our own 429s (api_limits.c) */
    api_limits limits;
};

/* One request as a handler sees it. */
typedef struct api_call {
    httpd_req *req;
    api_server *srv;
    PGconn *db; /* from the pool; NULL while given back around a Slack call */
    bool authed;
    apitoken_principal who;
    size_t db_slot;  /* the pool slot of db (trampoline) */
    bool have_db;    /* db is the pool's and must go back */
    bool slack_held; /* one of the tenant's Slack slots (api_slack_begin) */
} api_call;

typedef void (*api_handler)(api_call *c);

/* Route flags. */
#define API_PUBLIC 0x0u /* no authentication */
#define API_AUTH   0x1u /* token or session; unsafe methods by session need the CSRF token */
#define API_PAGE   0x2u /* an HTML page: without a session, redirect to the sign-in page */
#define API_NODB   0x4u /* needs no database connection */

/* Registers fn for method (NULL: any) and path, or every path under prefix,
 * on s->http; before api_server_start. */
void api_route(api_server *s, const char *method, const char *path, unsigned flags, api_handler fn);
void api_route_prefix(api_server *s, const char *method, const char *prefix, unsigned flags,
                      api_handler fn);
/* Frees what api_route registered, once s->http is gone. */
void api_routes_dispose(api_server *s);

/* ---- the database connection around Slack calls */

/* Gives the request's connection back to the pool (c->db becomes NULL) so
 * that a slow Slack call holds none: call with no transaction open. */
void api_db_release(api_call *c);
/* Takes a connection again after api_db_release (nothing when the request
 * holds one). False after answering 503 when none comes. */
bool api_db_reacquire(api_call *c);

/* ---- answers */

/* {"error": msg, "field": field} (field omitted when NULL). */
void api_error(api_call *c, unsigned status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps a store failure to its status (400/404/409/500/503) with the field. */
void api_store_error(api_call *c, store_status st, const char *errstr);
/* A small HTML page in the console's style; message is plain text (escaped
 * here); link/link_text may be NULL. */
void api_page(api_call *c, unsigned status, const char *title, const char *message,
              const char *link, const char *link_text);
/* The same page around body_html, markup the caller built (every value in
 * it escaped with api_html_escape). */
void api_page_html(api_call *c, unsigned status, const char *title, const char *body_html);
/* HTML-escapes s: & < > " ' (malloc'd). */
char *api_html_escape(const char *s);
/* Answers o (not cached) and deletes it. */
void api_respond(api_call *c, unsigned status, cJSON *o);

/* ---- request helpers */

/* The tenant a call is limited to: the token's tenant, or for an operator
 * token the "tenant" query parameter when given (NULL: every tenant). */
const char *api_tenant_scope(api_call *c);
/* True for an operator (all tenants) principal. */
bool api_is_operator(const api_call *c);
/* True when the request's Origin (if any) is ours. */
bool api_same_origin(api_call *c);
/* The request body as a JSON object (owned by the request), or NULL after
 * answering 400 (not JSON, or JSON that is not an object). */
cJSON *api_body_object(api_call *c);
/* Parses a positive 64-bit id; false otherwise. */
bool api_parse_id(const char *s, int64_t *out);

/*
 * The id at the start of the request's path rest ("42" or "42/expire") into
 * *id, and *sub the part after its '/' (NULL when there is none). False
 * after answering 404 "no such <what>: '<the id>'".
 */
bool api_path_id(api_call *c, const char *what, int64_t *id, const char **sub);

/* The query parameter name as a whole number from min to max into *out (left
 * alone when absent); false after answering 400 naming it. */
bool api_query_long(api_call *c, const char *name, long min, long max, long *out);

/* ---- JSON helpers */

/* Adds key: RFC 3339 time, or null when ms is 0. */
void api_json_time(cJSON *o, const char *key, int64_t ms);
/* Adds key: s, or null when s is NULL. */
void api_json_str(cJSON *o, const char *key, const char *s);

/* A JSON number that is a whole number from min to max into *out; false after
 * answering 400 naming field. */
bool api_json_whole(api_call *c, const cJSON *v, const char *field, int64_t min, int64_t max,
                    int64_t *out);

/* The Slack Web API base in use. */
const char *api_slack_base(const api_server *s);

#endif
