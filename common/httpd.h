#ifndef HERALD_HTTPD_H
#define HERALD_HTTPD_H

/*
 * A small HTTP server over libmicrohttpd for Herald's programs: /metrics and
 * /healthz for every worker, and the whole admin API and console for
 * herald-api.
 *
 *     httpd_config cfg = {.addr = "127.0.0.1:9100", .metrics = metrics_default_registry(),
 *                         .health = my_health, .health_arg = state};
 *     char err[256];
 *     httpd *h = httpd_new(&cfg, err, sizeof err);       // validates the address
 *     httpd_route(h, "GET", "/targets", list_targets, state);
 *     httpd_route_prefix(h, NULL, "/static/", serve_static, state);
 *     if (!h || httpd_start(h, err, sizeof err) != 0) { LOG_ERROR("%s", err); ... }
 *     ...
 *     httpd_destroy(h);                                  // stops and frees
 *
 * Threads: handlers and the health callback run on the server's threads
 * (cfg.threads of them, default 1) and must be thread-safe when threads > 1.
 * Routes are registered before httpd_start and never changed afterwards.
 *
 * Routing: an exact route wins over a prefix route; among prefix routes the
 * longest prefix wins. A path that matches with another method answers 405
 * with Allow; no match answers 404. Every error answer made by httpd itself
 * is JSON: {"error": "<message>"}.
 *
 * Bodies: a request whose body exceeds cfg.max_body is answered 413 without
 * calling the handler (at once when Content-Length says so).
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/metrics.h"

typedef struct httpd httpd;
typedef struct httpd_req httpd_req;

/* Health: return true when healthy; otherwise write a one-line reason. Runs
 * on a server thread. */
typedef bool (*httpd_health_fn)(void *arg, char *reason, size_t reason_size);

/* A handler answers through the httpd_respond* functions (once). Returning
 * without answering gives 500. */
typedef void (*httpd_handler_fn)(httpd_req *req, void *arg);

typedef struct httpd_config {
    const char *addr;          /* "HOST:PORT", "[::1]:PORT", ":PORT" (all interfaces); port 0:
                                  any free port (see httpd_port) */
    size_t max_body;           /* request body cap in bytes; 0: 1 MiB */
    unsigned threads;          /* server threads; 0: 1 */
    unsigned max_connections;  /* > 0: a thread per connection, at most this many
                                  connections (handlers may block: one slow answer holds only
                                  its own connection); threads is then ignored */
    unsigned timeout_s;        /* idle connection timeout; 0: 30 s */
    metrics_registry *metrics; /* non-NULL: GET /metrics renders it, and requests are counted
                                  in herald_http_requests_total{route,code} */
    httpd_health_fn health;    /* non-NULL: GET /healthz answers 200 "ok" or 503 reason */
    void *health_arg;
} httpd_config;

/*
 * Parses "HOST:PORT" into host (brackets stripped for IPv6) and port. An
 * empty host means every interface. Returns 0, or -1 with errstr naming the
 * address ("bad listen address \"x\": ..."). Programs call it while reading
 * their configuration so a bad value is a usage error (exit 2).
 */
int httpd_parse_addr(const char *addr, char *host, size_t host_size, uint16_t *port, char *errstr,
                     size_t errstr_size);

/* Creates a server (not yet listening); validates cfg->addr. cfg is copied.
 * Returns NULL with errstr set. */
httpd *httpd_new(const httpd_config *cfg, char *errstr, size_t errstr_size);

/* Registers a handler for method ("GET", ...; NULL: any) and an exact path,
 * or for every path starting with prefix. Must be called before start. */
void httpd_route(httpd *h, const char *method, const char *path, httpd_handler_fn fn, void *arg);
void httpd_route_prefix(httpd *h, const char *method, const char *prefix, httpd_handler_fn fn,
                        void *arg);

/* Binds and starts serving. Returns 0, or -1 with errstr naming the address
 * and the reason (address in use, permission denied, cannot resolve). */
int httpd_start(httpd *h, char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* The port actually bound (useful with port 0); 0 before start. */
uint16_t httpd_port(const httpd *h);

/* Stops accepting, lets running handlers finish, closes connections. Safe to
 * call twice. */
void httpd_stop(httpd *h);
/* Stops if needed and frees. NULL does nothing. */
void httpd_destroy(httpd *h);

/* Convenience for workers: new + start with only /metrics and /healthz.
 * Returns NULL with errstr set. */
httpd *httpd_start_ops(const char *addr, metrics_registry *metrics, httpd_health_fn health,
                       void *health_arg, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------ requests */
/* Everything returned points into the request and lives until the handler
 * returns. Lookups of headers are case-insensitive. */

const char *httpd_req_method(const httpd_req *req);
/* The path without the query string ("/targets/12"). */
const char *httpd_req_path(const httpd_req *req);
/* For a prefix route: the part of the path after the prefix; otherwise "". */
const char *httpd_req_path_rest(const httpd_req *req);
const char *httpd_req_header(const httpd_req *req, const char *name);
const char *httpd_req_cookie(const httpd_req *req, const char *name);
/* A query-string argument, URL-decoded; NULL when absent. */
const char *httpd_req_query(const httpd_req *req, const char *name);
/* The body (NUL-terminated for convenience) and its length; "" when none. */
const char *httpd_req_body(const httpd_req *req, size_t *len);
/* A field of an application/x-www-form-urlencoded body, decoded (first
 * occurrence); NULL when absent or the body is not a form. */
const char *httpd_req_form(httpd_req *req, const char *name);
/* The body parsed as JSON; NULL with errstr set ("body is not valid JSON
 * near byte 12", "body is empty"). The request owns the result. */
cJSON *httpd_req_json(httpd_req *req, char *errstr, size_t errstr_size);
/* The client's address as text ("127.0.0.1"). */
const char *httpd_req_client(httpd_req *req);

/* ----------------------------------------------------------- responses */

/* Adds a response header (several Set-Cookie headers are fine). Call before
 * a respond function. */
void httpd_add_header(httpd_req *req, const char *name, const char *value);

/* Adds Set-Cookie: name=value; Path=/; HttpOnly; SameSite=samesite;
 * Max-Age=max_age (max_age < 0: session cookie; 0: deletes it); Secure when
 * secure. samesite: "Lax" or "Strict". */
void httpd_set_cookie(httpd_req *req, const char *name, const char *value, long max_age,
                      const char *samesite, bool secure);

/* Answers with a copy of body. */
void httpd_respond(httpd_req *req, unsigned status, const char *content_type, const char *body,
                   size_t len);
/* Takes ownership of body (malloc'd). */
void httpd_respond_owned(httpd_req *req, unsigned status, const char *content_type, char *body,
                         size_t len);
void httpd_respond_text(httpd_req *req, unsigned status, const char *text);
/* Renders json (not taken: the caller still owns it) as application/json. */
void httpd_respond_json(httpd_req *req, unsigned status, const cJSON *json);
/* {"error": message} with the status; message is formatted. */
void httpd_respond_error(httpd_req *req, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* {"error": message, "field": field} (no "field" when it is NULL or ""). */
void httpd_respond_verror(httpd_req *req, unsigned status, const char *field, const char *fmt,
                          va_list ap) __attribute__((format(printf, 4, 0)));
/* 303 See Other (or the status given: 302, 307) to location. */
void httpd_redirect(httpd_req *req, unsigned status, const char *location);

/* True once a respond function was called for req. */
bool httpd_responded(const httpd_req *req);

/* ------------------------------------------------------------- helpers */

/* Percent-decodes s in place ('+' as space when form); returns s. */
char *httpd_url_decode(char *s, bool form);
/* Percent-encodes s for a query-string value; malloc'd. */
char *httpd_url_encode(const char *s);

#endif
