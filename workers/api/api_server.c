/*
 * herald-api's composition root: the configuration checks, the server's
 * lifecycle (new: copy the configuration, open the pool, check the schema,
 * register every module's routes; start; destroy) and the /healthz probe.
 * The modules (api_session.c, api_install.c, api_workspaces.c,
 * api_targets.c, api_deliveries.c, api_activity.c, api_checks.c,
 * api_interact.c, api_console.c) build on the framework (api_http.c) and never on each
 * other's registration.
 */
#include "workers/api/api.h"

#include "workers/api/api_activity.h"
#include "workers/api/api_checks.h"
#include "workers/api/api_console.h"
#include "workers/api/api_deliveries.h"
#include "workers/api/api_http.h"
#include "workers/api/api_install.h"
#include "workers/api/api_interact.h"
#include "workers/api/api_pool.h"
#include "workers/api/api_remediations.h"
#include "workers/api/api_session.h"
#include "workers/api/api_settings.h"
#include "workers/api/api_silences.h"
#include "workers/api/api_targets.h"
#include "workers/api/api_workspaces.h"

#include "common/crypto.h"
#include "common/db.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_config_defaults(api_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->listen = API_DEFAULT_LISTEN;
    cfg->authorize_url = API_DEFAULT_AUTHORIZE_URL;
    cfg->threads = API_DEFAULT_THREADS;
    cfg->max_connections = API_DEFAULT_MAX_CONNECTIONS;
    cfg->max_body = API_DEFAULT_MAX_BODY;
    cfg->slack_concurrency_per_tenant = API_DEFAULT_SLACK_PER_TENANT;
    cfg->channel_cache_ttl_ms = API_DEFAULT_CHANNEL_TTL_MS;
    cfg->auth_failures_per_minute = API_DEFAULT_AUTH_FAILS_PER_MIN;
}

/* ================================================================ health */

static bool health(void *arg, char *reason, size_t reason_size)
{
    api_server *s = arg;
    size_t slot;
    /* The answer is a reason code: PostgreSQL's text (host names, users,
     * versions) is for the log, not for whoever can reach /healthz. */
    PGconn *db = api_pool_acquire(&s->pool, &slot);
    if (!db) {
        LOG_WARN("api: /healthz: no database connection");
        snprintf(reason, reason_size, "database_unreachable");
        return false;
    }
    PGresult *r = PQexec(db, "SELECT 1");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) {
        char err[512];
        db_error(db, r, err, sizeof err);
        LOG_WARN("api: /healthz: %s", err);
        snprintf(reason, reason_size, "database_unreachable");
    }
    PQclear(r);
    api_pool_release(&s->pool, slot);
    return ok;
}

/* /metrics on the API port when --metrics-addr serves it elsewhere. */
static void not_here(httpd_req *req, void *arg)
{
    (void)arg;
    httpd_respond_error(req, 404, "no such resource: GET /metrics");
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

/* The keyring from the four secret key variables of cfg. */
static int load_keys(const api_config *cfg, crypto_keyring *ring, char *errstr, size_t errstr_size)
{
    const herald_common_config vars = {
        .secret_key = (char *)cfg->secret_key,
        .secret_key_file = (char *)cfg->secret_key_file,
        .secret_key_previous = (char *)cfg->secret_key_previous,
        .secret_key_previous_file = (char *)cfg->secret_key_previous_file,
    };
    return crypto_keyring_load(ring, &vars, errstr, errstr_size);
}

int api_config_check(const api_config *cfg, char *errstr, size_t errstr_size)
{
    char host[256], e[256];
    uint16_t port;
    if (httpd_parse_addr(cfg->listen, host, sizeof host, &port, e, sizeof e) != 0) {
        snprintf(errstr, errstr_size, "--listen: %s", e);
        return -1;
    }
    if (cfg->metrics_addr && *cfg->metrics_addr &&
        httpd_parse_addr(cfg->metrics_addr, host, sizeof host, &port, e, sizeof e) != 0) {
        snprintf(errstr, errstr_size, "--metrics-addr: %s", e);
        return -1;
    }
    if ((!cfg->secret_key || !*cfg->secret_key) &&
        (!cfg->secret_key_file || !*cfg->secret_key_file)) {
        snprintf(errstr, errstr_size,
                 "HERALD_SECRET_KEY is not set (32 random bytes, base64: it encrypts the Slack "
                 "bot tokens herald-api stores)");
        return -1;
    }
    crypto_keyring ring;
    int rc = load_keys(cfg, &ring, errstr, errstr_size);
    crypto_wipe(&ring, sizeof ring);
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
    s->cfg.metrics_addr = dup_or_empty(cfg->metrics_addr);
    s->cfg.database_url = dup_or_empty(cfg->database_url);
    s->cfg.slack_api_url = dup_or_empty(cfg->slack_api_url);
    s->cfg.secret_key = NULL; /* decoded below, not kept */
    s->cfg.secret_key_file = NULL;
    s->cfg.secret_key_previous = NULL;
    s->cfg.secret_key_previous_file = NULL;
    s->cfg.public_url = dup_or_empty(cfg->public_url);
    s->cfg.client_id = dup_or_empty(cfg->client_id);
    s->cfg.client_secret = dup_or_empty(cfg->client_secret);
    s->cfg.slack_signing_secret = dup_or_empty(cfg->slack_signing_secret);
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
        load_keys(cfg, s->key, errstr, errstr_size) != 0)
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
    s->session_cookie = s->secure_cookies ? API_SESSION_COOKIE_SECURE : API_SESSION_COOKIE;
    if (!s->secure_cookies)
        LOG_WARN("api: the public URL %s is not https: the session cookie is not Secure (behind "
                 "a TLS proxy, set HERALD_PUBLIC_URL to the https:// address browsers use)",
                 s->public_url);

    if (api_pool_init(&s->pool, s->cfg.database_url, s->cfg.threads, errstr, errstr_size) != 0)
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
    api_limits_init(s);

    /* With --metrics-addr, /metrics and /healthz are served there only (a
     * private address); requests to the API port are still counted. */
    bool ops_apart = *s->cfg.metrics_addr != '\0';
    httpd_config hc = {.addr = s->cfg.listen,
                       .max_body = s->cfg.max_body,
                       .max_connections = s->cfg.max_connections ? s->cfg.max_connections
                                                                 : API_DEFAULT_MAX_CONNECTIONS,
                       .metrics = s->metrics,
                       .health = ops_apart ? NULL : health,
                       .health_arg = s};
    s->http = httpd_new(&hc, errstr, errstr_size);
    if (!s->http)
        goto fail;
    if (ops_apart)
        httpd_route(s->http, "GET", "/metrics", not_here, NULL);
    /* Every module adds its routes; this is the one place that knows them all. */
    api_session_register(s);
    api_install_register(s);
    api_workspaces_register(s);
    api_targets_register(s);
    api_deliveries_register(s);
    api_activity_register(s);
    api_checks_register(s);
    api_remediations_register(s);
    api_settings_register(s);
    api_silences_register(s);
    api_interact_register(s);
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
    if (*s->cfg.metrics_addr) {
        char e[256];
        s->ops = httpd_start_ops(s->cfg.metrics_addr, s->metrics, health, s, e, sizeof e);
        if (!s->ops) {
            snprintf(errstr, errstr_size, "--metrics-addr: %s", e);
            return -1;
        }
        LOG_INFO("api: /metrics and /healthz on port %u", httpd_port(s->ops));
    }
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
    /* The install form's POST is redirected to Slack's authorize page: CSP's
     * form-action covers that redirect, so its origin is allowed (http only
     * for a test's fake Slack; https: is allowed anyway). */
    const char *az = s->cfg.authorize_url;
    const char *azp = strstr(az, "://");
    size_t al = azp ? strcspn(azp + 3, "/?#") + (size_t)(azp + 3 - az) : 0;
    snprintf(s->form_action, sizeof s->form_action, "'self' https:%s%.*s",
             al && strncmp(az, "https:", 6) != 0 ? " " : "",
             al && strncmp(az, "https:", 6) != 0 ? (int)al : 0, az);
    LOG_INFO("api: listening on port %u; console at %s/console/", httpd_port(s->http),
             s->public_url);
    return 0;
}

uint16_t api_server_port(const api_server *s)
{
    return s ? httpd_port(s->http) : 0;
}

uint16_t api_server_metrics_port(const api_server *s)
{
    return s && s->ops ? httpd_port(s->ops) : 0;
}

void api_server_destroy(api_server *s)
{
    if (!s)
        return;
    httpd_destroy(s->ops);
    s->ops = NULL;
    httpd_destroy(s->http); /* waits for running handlers */
    s->http = NULL;
    api_pool_dispose(&s->pool);
    api_limits_dispose(&s->limits);
    api_routes_dispose(s);
    crypto_wipe(s->key, sizeof s->key);
    free((char *)s->cfg.listen);
    free((char *)s->cfg.metrics_addr);
    free((char *)s->cfg.database_url);
    free((char *)s->cfg.slack_api_url);
    free((char *)s->cfg.public_url);
    free((char *)s->cfg.client_id);
    crypto_free_secret((char *)s->cfg.client_secret);
    crypto_free_secret((char *)s->cfg.slack_signing_secret);
    free((char *)s->cfg.authorize_url);
    free((char *)s->cfg.console_dir);
    free(s);
}
