#include "common/httpd.h"

#include "common/log.h"
#include "common/strbuf.h"
#include "common/utf8.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY  (1024 * 1024)
#define DEFAULT_TIMEOUT_S 30
/* A chunked body (no Content-Length) over the cap is read and thrown away so
 * the 413 can be sent after it; past this many times the cap the connection
 * is simply closed. */
#define DISCARD_FACTOR 16
/* How long httpd_stop waits for running handlers. */
#define STOP_WAIT_MS 10000

typedef struct route {
    char *method; /* NULL: any */
    char *path;
    size_t path_len;
    bool prefix;
    httpd_handler_fn fn;
    void *arg;
} route;

struct httpd {
    httpd_config cfg;
    char host[256];
    uint16_t want_port, port;
    route *routes;
    size_t nroutes, cap;
    struct MHD_Daemon *d;
    atomic_int inflight; /* requests between their first call and completion */
    metrics_counter *requests;
};

typedef struct header {
    char *name, *value;
} header;

typedef struct form_field {
    char *name, *value;
} form_field;

struct httpd_req {
    httpd *h;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    const char *rest;
    const route *rt;
    bool method_mismatch; /* the path matched a route with another method */
    const char *label;    /* route label for the request counter */
    strbuf body;          /* capped at max_body */
    bool too_big;
    size_t discarded;
    bool queued; /* a response went to MHD (early 413) */
    cJSON *json;
    form_field *form;
    size_t nform;
    bool form_parsed;
    char client[INET6_ADDRSTRLEN];
    /* the response being built */
    bool responded;
    unsigned status;
    char *ctype;
    char *resp;
    size_t resp_len;
    header *headers;
    size_t nheaders;
};

/* ------------------------------------------------------------- address */

int httpd_parse_addr(const char *addr, char *host, size_t host_size, uint16_t *port, char *errstr,
                     size_t errstr_size)
{
    const char *a = addr ? addr : "";
    const char *colon;
    const char *h0, *h1;
    if (a[0] == '[') {
        const char *close = strchr(a, ']');
        if (!close || close[1] != ':') {
            snprintf(errstr, errstr_size, "bad listen address \"%s\": expected [IPV6]:PORT", a);
            return -1;
        }
        h0 = a + 1;
        h1 = close;
        colon = close + 1;
    } else {
        colon = strrchr(a, ':');
        if (!colon) {
            snprintf(errstr, errstr_size, "bad listen address \"%s\": expected HOST:PORT", a);
            return -1;
        }
        h0 = a;
        h1 = colon;
        if (memchr(a, ':', (size_t)(colon - a))) {
            snprintf(errstr, errstr_size,
                     "bad listen address \"%s\": write IPv6 hosts in brackets, [::1]:PORT", a);
            return -1;
        }
    }
    size_t hl = (size_t)(h1 - h0);
    if (hl >= host_size) {
        snprintf(errstr, errstr_size, "bad listen address \"%s\": host too long", a);
        return -1;
    }
    for (size_t i = 0; i < hl; i++) {
        char c = h0[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_' || (a[0] == '[' && (c == ':' || c == '%'));
        if (!ok) {
            snprintf(errstr, errstr_size, "bad listen address \"%s\": bad character in host", a);
            return -1;
        }
    }
    const char *p = colon + 1;
    long pv = strtol(p, NULL, 10); /* digits only, at most 5: checked next */
    if (!*p || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p) || pv > 65535) {
        snprintf(errstr, errstr_size,
                 "bad listen address \"%s\": port must be a number from 0 to 65535", a);
        return -1;
    }
    memcpy(host, h0, hl);
    host[hl] = '\0';
    *port = (uint16_t)pv;
    return 0;
}

/* ------------------------------------------------------------ lifecycle */

httpd *httpd_new(const httpd_config *cfg, char *errstr, size_t errstr_size)
{
    httpd *h = xcalloc(1, sizeof *h);
    h->cfg = *cfg;
    if (!h->cfg.max_body)
        h->cfg.max_body = DEFAULT_MAX_BODY;
    if (!h->cfg.threads)
        h->cfg.threads = 1;
    if (!h->cfg.timeout_s)
        h->cfg.timeout_s = DEFAULT_TIMEOUT_S;
    if (httpd_parse_addr(cfg->addr, h->host, sizeof h->host, &h->want_port, errstr, errstr_size) !=
        0) {
        free(h);
        return NULL;
    }
    h->cfg.addr = NULL; /* not kept: the caller's string may go away */
    atomic_init(&h->inflight, 0);
    if (h->cfg.metrics)
        h->requests = metrics_counter_new_in(h->cfg.metrics, "herald_http_requests_total",
                                             "HTTP requests answered, by route and status code.",
                                             "route,code");
    return h;
}

static void add_route(httpd *h, const char *method, const char *path, bool prefix,
                      httpd_handler_fn fn, void *arg)
{
    if (h->nroutes == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->routes = xrealloc(h->routes, h->cap * sizeof *h->routes);
    }
    route *r = &h->routes[h->nroutes++];
    r->method = method ? xstrdup(method) : NULL;
    r->path = xstrdup(path);
    r->path_len = strlen(path);
    r->prefix = prefix;
    r->fn = fn;
    r->arg = arg;
}

void httpd_route(httpd *h, const char *method, const char *path, httpd_handler_fn fn, void *arg)
{
    add_route(h, method, path, false, fn, arg);
}

void httpd_route_prefix(httpd *h, const char *method, const char *prefix, httpd_handler_fn fn,
                        void *arg)
{
    add_route(h, method, prefix, true, fn, arg);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    LOG_DEBUG("httpd: %s", buf);
}

/* Query arguments come decoded; any that is not UTF-8 sets *bad. */
static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    bool *bad = cls;
    if (!utf8_valid_str(key) || !utf8_valid_str(value)) {
        *bad = true;
        return MHD_NO;
    }
    return MHD_YES;
}

/* Handlers may hand the path and query straight to PostgreSQL (text must be
 * UTF-8) or to a log line: bytes that are not UTF-8 stop here. */
static bool url_is_utf8(httpd_req *req)
{
    bool bad = !utf8_valid_str(req->path);
    if (!bad)
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, check_arg, &bad);
    return !bad;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls);
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe);

/* Binds the listening socket ourselves so a failure can say why (MHD only
 * says it failed). */
static int open_listener(httpd *h, bool *v6, char *errstr, size_t errstr_size)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof port, "%u", h->want_port);
    int rc = getaddrinfo(h->host[0] ? h->host : NULL, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(errstr, errstr_size, "cannot listen on %s:%u: %s", h->host, h->want_port,
                 rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    /* Without a host, prefer the IPv4 wildcard: it is what ":9100" means to
     * most operators, and it works where IPv6 is disabled. */
    struct addrinfo *ai = res;
    if (!h->host[0])
        for (struct addrinfo *p = res; p; p = p->ai_next)
            if (p->ai_family == AF_INET) {
                ai = p;
                break;
            }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "cannot listen on %s:%u: %s", h->host, h->want_port,
                 strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        snprintf(errstr, errstr_size, "cannot listen on %s:%u: %s", h->host, h->want_port,
                 strerror(errno));
        close(fd);
        freeaddrinfo(res);
        return -1;
    }
    *v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(res);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

int httpd_start(httpd *h, char *errstr, size_t errstr_size)
{
    if (h->d)
        return 0;
    bool v6 = false;
    int fd = open_listener(h, &v6, errstr, errstr_size);
    if (fd < 0)
        return -1;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_AUTO |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    /* A pool thread serves every connection it accepted in turn, so a handler
     * that blocks (herald-api waiting on Slack) would hold the others: such a
     * server takes a thread per connection, bounded by max_connections. */
    bool per_connection = h->cfg.max_connections > 0;
    if (per_connection)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    unsigned pool = !per_connection && h->cfg.threads > 1 ? h->cfg.threads : 0;
    /* The logger first: MHD logs to stderr itself about options before it. The
     * connection limit only with a thread per connection (MHD's own default
     * otherwise). */
    struct MHD_OptionItem mode[] = {
        {per_connection ? MHD_OPTION_CONNECTION_LIMIT : MHD_OPTION_THREAD_POOL_SIZE,
         per_connection ? (intptr_t)h->cfg.max_connections : (intptr_t)pool, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                            mhd_log, h, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
                            on_completed, h, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)h->cfg.timeout_s, MHD_OPTION_ARRAY, mode, MHD_OPTION_END);
    if (!h->d) {
        close(fd);
        h->port = 0;
        snprintf(errstr, errstr_size, "cannot start the HTTP server on %s:%u", h->host,
                 h->want_port);
        return -1;
    }
    return 0;
}

uint16_t httpd_port(const httpd *h)
{
    return h && h->d ? h->port : 0;
}

void httpd_stop(httpd *h)
{
    if (!h || !h->d)
        return;
    /* Stop accepting first, then give running handlers a bounded time. */
    MHD_socket lfd = MHD_quiesce_daemon(h->d);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    int64_t deadline = util_now_mono_ms() + STOP_WAIT_MS;
    while (atomic_load(&h->inflight) > 0 && util_now_mono_ms() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(h->d);
    h->d = NULL;
    h->port = 0;
}

void httpd_destroy(httpd *h)
{
    if (!h)
        return;
    httpd_stop(h);
    for (size_t i = 0; i < h->nroutes; i++) {
        free(h->routes[i].method);
        free(h->routes[i].path);
    }
    free(h->routes);
    free(h);
}

httpd *httpd_start_ops(const char *addr, metrics_registry *metrics, httpd_health_fn health,
                       void *health_arg, char *errstr, size_t errstr_size)
{
    httpd_config cfg = {
        .addr = addr, .metrics = metrics, .health = health, .health_arg = health_arg};
    httpd *h = httpd_new(&cfg, errstr, errstr_size);
    if (!h)
        return NULL;
    if (httpd_start(h, errstr, errstr_size) != 0) {
        httpd_destroy(h);
        return NULL;
    }
    return h;
}

/* ------------------------------------------------------------- dispatch */

static bool method_is(const route *r, const char *method)
{
    return !r->method || strcmp(r->method, method) == 0 ||
           (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/* Exact beats prefix; the longest prefix wins. Sets method_mismatch when a
 * route matched the path but not the method. */
static void find_route(httpd_req *req)
{
    httpd *h = req->h;
    const route *best = NULL;
    bool mismatch = false;
    for (size_t i = 0; i < h->nroutes; i++) {
        const route *r = &h->routes[i];
        bool path_ok = r->prefix ? strncmp(req->path, r->path, r->path_len) == 0
                                 : strcmp(req->path, r->path) == 0;
        if (!path_ok)
            continue;
        if (!method_is(r, req->method)) {
            mismatch = true;
            continue;
        }
        if (!best || (best->prefix && !r->prefix) ||
            (best->prefix && r->prefix && r->path_len > best->path_len))
            best = r;
    }
    req->rt = best;
    req->method_mismatch = !best && mismatch;
    req->rest = best && best->prefix ? req->path + best->path_len : "";
}

static void allow_header(httpd_req *req)
{
    char allow[128] = "";
    for (size_t i = 0; i < req->h->nroutes; i++) {
        const route *r = &req->h->routes[i];
        bool path_ok = r->prefix ? strncmp(req->path, r->path, r->path_len) == 0
                                 : strcmp(req->path, r->path) == 0;
        if (!path_ok || !r->method || strstr(allow, r->method))
            continue;
        if (allow[0])
            strncat(allow, ", ", sizeof allow - strlen(allow) - 1);
        strncat(allow, r->method, sizeof allow - strlen(allow) - 1);
    }
    if (allow[0])
        httpd_add_header(req, "Allow", allow);
}

static void serve_metrics(httpd_req *req, void *arg)
{
    size_t len = 0;
    char *text = metrics_render((metrics_registry *)arg, &len);
    httpd_respond_owned(req, 200, METRICS_CONTENT_TYPE, text, len);
}

static void serve_health(httpd_req *req, void *arg)
{
    httpd *h = arg;
    char reason[256] = "";
    if (h->cfg.health(h->cfg.health_arg, reason, sizeof reason)) {
        httpd_respond_text(req, 200, "ok\n");
    } else {
        char line[300];
        snprintf(line, sizeof line, "%s\n", reason[0] ? reason : "unhealthy");
        httpd_respond_text(req, 503, line);
    }
}

static enum MHD_Result queue(httpd_req *req)
{
    if (!req->responded)
        httpd_respond_error(req, 500, "the handler gave no answer");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(req->resp_len, req->resp, MHD_RESPMEM_MUST_FREE);
    if (!resp)
        return MHD_NO;
    req->resp = NULL; /* MHD owns it now */
    if (req->ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, req->ctype);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (size_t i = 0; i < req->nheaders; i++)
        MHD_add_response_header(resp, req->headers[i].name, req->headers[i].value);
    /* Counted before queueing: the client may see the answer at once. */
    if (req->h->requests) {
        char labels[300];
        const char *rt = req->label ? req->label : req->rt ? req->rt->path : "unmatched";
        snprintf(labels, sizeof labels, "%s|%u", rt, req->status);
        /* the route goes first so its text may not contain '|' */
        if (!strchr(rt, '|'))
            metrics_counter_inc(req->h->requests, labels);
    }
    enum MHD_Result r = MHD_queue_response(req->conn, req->status, resp);
    MHD_destroy_response(resp);
    req->queued = true;
    return r;
}

static bool parse_size(const char *s, size_t *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || s[0] == '-')
        return false;
    *out = (size_t)v;
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    httpd *h = cls;
    httpd_req *req = *con_cls;
    if (!req) {
        req = xcalloc(1, sizeof *req);
        req->h = h;
        req->conn = conn;
        req->method = method;
        req->path = url;
        strbuf_init(&req->body, h->cfg.max_body);
        *con_cls = req;
        atomic_fetch_add(&h->inflight, 1);
        if (!url_is_utf8(req)) {
            req->label = "bad_request"; /* any body is read and dropped (queued) */
            httpd_respond_error(req, 400, "the request URL is not valid UTF-8");
            return queue(req);
        }
        find_route(req);
        size_t cl;
        if (parse_size(
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH),
                &cl) &&
            cl > h->cfg.max_body) {
            /* Answer before reading: with Expect: 100-continue the client
             * never sends the body at all. */
            req->too_big = true;
            httpd_respond_error(req, 413, "request body is %zu bytes; the limit is %zu", cl,
                                h->cfg.max_body);
            return queue(req);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->queued)
            return MHD_YES;
        if (req->too_big || !strbuf_add(&req->body, upload_data, n)) {
            req->too_big = true;
            req->discarded += n;
            strbuf_dispose(&req->body);
            return req->discarded > h->cfg.max_body * DISCARD_FACTOR ? MHD_NO : MHD_YES;
        }
        return MHD_YES;
    }
    if (req->queued)
        return MHD_YES;
    if (req->too_big) {
        httpd_respond_error(req, 413, "request body is larger than the limit of %zu bytes",
                            h->cfg.max_body);
        return queue(req);
    }
    const char *m = req->method;
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    if (get && h->cfg.metrics && strcmp(req->path, "/metrics") == 0 && !req->rt) {
        req->label = "/metrics";
        serve_metrics(req, h->cfg.metrics);
    } else if (get && h->cfg.health && strcmp(req->path, "/healthz") == 0 && !req->rt) {
        req->label = "/healthz";
        serve_health(req, h);
    } else if (req->rt) {
        req->rt->fn(req, req->rt->arg);
    } else if (req->method_mismatch) {
        allow_header(req);
        httpd_respond_error(req, 405, "method %s is not allowed on %s", m, req->path);
    } else {
        httpd_respond_error(req, 404, "no such resource: %s %s", m, req->path);
    }
    return queue(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    httpd *h = cls;
    httpd_req *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    strbuf_dispose(&req->body);
    cJSON_Delete(req->json);
    for (size_t i = 0; i < req->nform; i++) {
        free(req->form[i].name);
        free(req->form[i].value);
    }
    free(req->form);
    free(req->ctype);
    free(req->resp);
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
    free(req);
    atomic_fetch_sub(&h->inflight, 1);
}

/* ------------------------------------------------------------ requests */

const char *httpd_req_method(const httpd_req *req)
{
    return req->method;
}

const char *httpd_req_path(const httpd_req *req)
{
    return req->path;
}

const char *httpd_req_path_rest(const httpd_req *req)
{
    return req->rest ? req->rest : "";
}

const char *httpd_req_header(const httpd_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *httpd_req_cookie(const httpd_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

const char *httpd_req_query(const httpd_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *httpd_req_body(const httpd_req *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.p ? req->body.p : "";
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *httpd_url_decode(char *s, bool form)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r == '%' && hexval(r[1]) >= 0 && hexval(r[2]) >= 0) {
            *w++ = (char)(hexval(r[1]) * 16 + hexval(r[2]));
            r += 2;
        } else if (form && *r == '+') {
            *w++ = ' ';
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return s;
}

char *httpd_url_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = xmalloc(strlen(s) * 3 + 1), *w = out;
    for (const unsigned char *r = (const unsigned char *)s; *r; r++) {
        if ((*r >= 'a' && *r <= 'z') || (*r >= 'A' && *r <= 'Z') || (*r >= '0' && *r <= '9') ||
            *r == '-' || *r == '_' || *r == '.' || *r == '~') {
            *w++ = (char)*r;
        } else {
            *w++ = '%';
            *w++ = hex[*r >> 4];
            *w++ = hex[*r & 15];
        }
    }
    *w = '\0';
    return out;
}

static void parse_form(httpd_req *req)
{
    req->form_parsed = true;
    const char *ct = httpd_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 || !req->body.p)
        return;
    char *copy = xstrdup(req->body.p);
    char *save = NULL;
    for (char *tok = strtok_r(copy, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        if (eq)
            *eq = '\0';
        req->form = xrealloc(req->form, (req->nform + 1) * sizeof *req->form);
        req->form[req->nform].name = xstrdup(httpd_url_decode(tok, true));
        req->form[req->nform].value = xstrdup(eq ? httpd_url_decode(eq + 1, true) : "");
        req->nform++;
    }
    free(copy);
}

const char *httpd_req_form(httpd_req *req, const char *name)
{
    if (!req->form_parsed)
        parse_form(req);
    for (size_t i = 0; i < req->nform; i++)
        if (strcmp(req->form[i].name, name) == 0)
            return req->form[i].value;
    return NULL;
}

cJSON *httpd_req_json(httpd_req *req, char *errstr, size_t errstr_size)
{
    if (req->json)
        return req->json;
    if (req->body.len == 0) {
        snprintf(errstr, errstr_size, "body is empty: expected a JSON object");
        return NULL;
    }
    if (strlen(req->body.p) != req->body.len) {
        snprintf(errstr, errstr_size, "body is not valid JSON: it contains a NUL byte");
        return NULL;
    }
    size_t bad_at;
    if (!utf8_valid(req->body.p, req->body.len, &bad_at)) {
        snprintf(errstr, errstr_size, "body is not valid UTF-8 (byte %zu)", bad_at);
        return NULL;
    }
    const char *end = NULL;
    req->json = cJSON_ParseWithLengthOpts(req->body.p, req->body.len, &end, false);
    if (!req->json) {
        size_t at = end && end >= req->body.p ? (size_t)(end - req->body.p) : 0;
        snprintf(errstr, errstr_size, "body is not valid JSON (near byte %zu)", at);
        return NULL;
    }
    /* Trailing garbage after the value is an error too. */
    while (end && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
        end++;
    if (end && *end) {
        snprintf(errstr, errstr_size, "body is not valid JSON (unexpected text at byte %zu)",
                 (size_t)(end - req->body.p));
        cJSON_Delete(req->json);
        req->json = NULL;
        return NULL;
    }
    return req->json;
}

const char *httpd_req_client(httpd_req *req)
{
    if (req->client[0])
        return req->client;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(req->client, sizeof req->client, "unknown");
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, req->client,
                      sizeof req->client);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, req->client,
                      sizeof req->client);
    }
    return req->client;
}

/* ----------------------------------------------------------- responses */

void httpd_add_header(httpd_req *req, const char *name, const char *value)
{
    req->headers = xrealloc(req->headers, (req->nheaders + 1) * sizeof *req->headers);
    req->headers[req->nheaders].name = xstrdup(name);
    req->headers[req->nheaders].value = xstrdup(value);
    req->nheaders++;
}

void httpd_set_cookie(httpd_req *req, const char *name, const char *value, long max_age,
                      const char *samesite, bool secure)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s=%s; Path=/; HttpOnly; SameSite=%s", name, value,
                     samesite ? samesite : "Lax");
    if (max_age >= 0 && n > 0 && (size_t)n < sizeof buf)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "; Max-Age=%ld", max_age);
    if (secure && n > 0 && (size_t)n < sizeof buf)
        snprintf(buf + n, sizeof buf - (size_t)n, "; Secure");
    httpd_add_header(req, "Set-Cookie", buf);
}

void httpd_respond_owned(httpd_req *req, unsigned status, const char *content_type, char *body,
                         size_t len)
{
    if (req->responded) {
        LOG_WARN("httpd: %s %s answered twice; keeping the first answer", req->method, req->path);
        free(body);
        return;
    }
    req->responded = true;
    req->status = status;
    req->ctype = content_type ? xstrdup(content_type) : NULL;
    req->resp = body;
    req->resp_len = len;
}

void httpd_respond(httpd_req *req, unsigned status, const char *content_type, const char *body,
                   size_t len)
{
    char *copy = xmalloc(len + 1);
    if (len)
        memcpy(copy, body, len);
    copy[len] = '\0';
    httpd_respond_owned(req, status, content_type, copy, len);
}

void httpd_respond_text(httpd_req *req, unsigned status, const char *text)
{
    httpd_respond(req, status, "text/plain; charset=utf-8", text, strlen(text));
}

void httpd_respond_json(httpd_req *req, unsigned status, const cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    if (!text) {
        httpd_respond_text(req, 500, "cannot render JSON\n");
        return;
    }
    size_t len = strlen(text);
    /* cJSON allocates with malloc by default, so MHD may free it. */
    httpd_respond_owned(req, status, "application/json", text, len);
}

void httpd_respond_verror(httpd_req *req, unsigned status, const char *field, const char *fmt,
                          va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    if (field && *field)
        cJSON_AddStringToObject(o, "field", field);
    httpd_respond_json(req, status, o);
    cJSON_Delete(o);
}

void httpd_respond_error(httpd_req *req, unsigned status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    httpd_respond_verror(req, status, NULL, fmt, ap);
    va_end(ap);
}

void httpd_redirect(httpd_req *req, unsigned status, const char *location)
{
    httpd_add_header(req, "Location", location);
    httpd_respond_text(req, status ? status : 303, "");
}

bool httpd_responded(const httpd_req *req)
{
    return req->responded;
}
