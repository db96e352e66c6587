/*
 * herald-api: the HTTP admin API, the Slack "Add to Slack" install flow and
 * the web console (issue 5). The work is in workers/api/api*.c; this reads the
 * configuration, serves until SIGTERM/SIGINT and stops gracefully (running
 * requests finish, the database pool closes).
 *
 * Prints the address it listens on (http://HOST:PORT) on stdout once ready.
 */
#include "workers/api/api.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    log_init("herald-api");
    herald_common_config common = {0};
    char *listen = NULL, *metrics_addr = NULL, *public_url = NULL, *authorize_url = NULL,
         *console_dir = NULL;
    char *signing_secret = NULL;
    cfg_slack_app app = {0};
    long threads = 0, max_conns = 0, max_body = 0, slack_per_tenant = 0, auth_per_min = 0;
    int64_t channel_ttl = 0;
    bool migrate = false, trust_proxy = false;

    /* herald-api never talks to Kafka: no --brokers. */
    cfg_opt opts[CFG_COMMON_COUNT + CFG_SLACK_APP_COUNT + 14];
    size_t nopts =
        cfg_common_select(opts, &common, CFG_USE_DATABASE | CFG_USE_SLACK | CFG_USE_SECRET);
    const cfg_opt mine[] = {
        {"--listen", "HERALD_API_ADDR", CFG_STRING, API_DEFAULT_LISTEN, 0, 0, "HOST:PORT",
         "address to serve the API, the console, /metrics and /healthz on", &listen},
        {"--metrics-addr", "HERALD_API_METRICS_ADDR", CFG_STRING, "", 0, 0, "HOST:PORT",
         "serve /metrics and /healthz here instead of on --listen (e.g. a private "
         "127.0.0.1:9102; empty: on --listen)",
         &metrics_addr},
        {"--public-url", "HERALD_PUBLIC_URL", CFG_STRING, "", 0, 0, "URL",
         "how browsers reach herald-api (OAuth redirect, cookies; empty: http://LISTEN)",
         &public_url},
        {"--slack-authorize-url", "HERALD_SLACK_AUTHORIZE_URL", CFG_STRING,
         API_DEFAULT_AUTHORIZE_URL, 0, 0, "URL", "Slack's OAuth v2 authorize page", &authorize_url},
        /* Environment only: a secret never goes on a command line. */
        {NULL, "HERALD_SLACK_SIGNING_SECRET", CFG_SECRET, NULL, 0, 0, "SECRET",
         "the Slack app's signing secret: verifies the button presses Slack sends to "
         "/slack/interactivity (unset: that endpoint answers 503)",
         &signing_secret},
        {"--console-dir", "HERALD_CONSOLE_DIR", CFG_STRING, "", 0, 0, "DIR",
         "serve the console files from DIR instead of the built-in copies (development)",
         &console_dir},
        {"--threads", "HERALD_API_THREADS", CFG_INT, "4", 1, 64, "N",
         "database connections; a request waits for a free one (5 s, then 503)", &threads},
        {"--max-connections", "HERALD_API_MAX_CONNECTIONS", CFG_INT, "128", 4, 4096, "N",
         "HTTP connections served at once, each on its own thread (one waiting on Slack holds "
         "only itself)",
         &max_conns},
        {"--max-body", "HERALD_API_MAX_BODY", CFG_INT, "65536", 1024, 16 * 1024 * 1024, "BYTES",
         "largest request body accepted (larger: 413)", &max_body},
        {"--migrate", "HERALD_API_MIGRATE", CFG_BOOL, "false", 0, 0, NULL,
         "apply pending database migrations at start", &migrate},
        {"--slack-concurrency-per-tenant", "HERALD_API_SLACK_CONCURRENCY_PER_TENANT", CFG_INT, "2",
         0, 64, "N",
         "requests of one tenant calling Slack at once (channel lists, checks, test sends; "
         "more: 429; 0: no limit)",
         &slack_per_tenant},
        {"--channel-cache-ttl", "HERALD_API_CHANNEL_CACHE_TTL", CFG_DURATION, "60s", 0,
         24L * 3600 * 1000, "DURATION",
         "reuse a workspace's channel list this long (?refresh=true fetches anew; 0: no cache)",
         &channel_ttl},
        {"--auth-failures-per-minute", "HERALD_API_AUTH_FAILURES_PER_MINUTE", CFG_INT, "10", 0,
         100000, "N",
         "failed sign-ins and bad bearer tokens allowed per client address (burst N, then N a "
         "minute; more: 429; 0: no limit)",
         &auth_per_min},
        {"--trust-proxy", "HERALD_API_TRUST_PROXY", CFG_BOOL, "false", 0, 0, NULL,
         "take the client address from X-Forwarded-For's last entry (behind a reverse proxy)",
         &trust_proxy},
    };
    /* The Slack app's options come right after --public-url, as they always did. */
    opts[nopts++] = mine[0];
    opts[nopts++] = mine[1];
    opts[nopts++] = mine[2];
    cfg_slack_app_opts(opts + nopts, &app, "Slack app client id (empty: the install flow is off)");
    nopts += CFG_SLACK_APP_COUNT;
    for (size_t i = 3; i < ARRAY_LEN(mine); i++)
        opts[nopts++] = mine[i];

    int argi = 1;
    int code = cfg_parse_or_exit_code("herald-api", "[OPTIONS]", opts, nopts, argc, argv, &argi);
    if (code >= 0)
        return code;
    if (argi < argc) {
        fprintf(stderr, "herald-api: unexpected argument '%s' (see --help)\n", argv[argi]);
        return 2;
    }

    /* Configuration errors are usage errors (exit 2), each naming its value. */
    char err[512];
    char *secret = NULL;
    if (cfg_slack_app_secret(&app, &secret, err, sizeof err)) {
        fprintf(stderr, "herald-api: %s\n", err);
        return 2;
    }
    api_config cfg;
    api_config_defaults(&cfg);
    cfg.listen = listen;
    cfg.metrics_addr = metrics_addr;
    cfg.database_url = common.database_url;
    cfg.slack_api_url = common.slack_api_url;
    cfg.secret_key = common.secret_key;
    cfg.secret_key_file = common.secret_key_file;
    cfg.secret_key_previous = common.secret_key_previous;
    cfg.secret_key_previous_file = common.secret_key_previous_file;
    cfg.public_url = public_url;
    cfg.client_id = app.client_id;
    cfg.client_secret = secret;
    cfg.authorize_url = authorize_url;
    cfg.slack_signing_secret = signing_secret;
    cfg.console_dir = console_dir;
    cfg.threads = (unsigned)threads;
    cfg.max_connections = (unsigned)max_conns;
    cfg.max_body = (size_t)max_body;
    cfg.migrate = migrate;
    cfg.slack_concurrency_per_tenant = (unsigned)slack_per_tenant;
    cfg.channel_cache_ttl_ms = channel_ttl;
    cfg.auth_failures_per_minute = (unsigned)auth_per_min;
    cfg.trust_proxy = trust_proxy;
    if (api_config_check(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "herald-api: %s\n", err);
        crypto_free_secret(secret);
        return 2;
    }

    util_signals_install();
    api_server *s = api_server_new(&cfg, err, sizeof err); /* copies the secret */
    crypto_free_secret(secret);
    if (!s) {
        fprintf(stderr, "herald-api: %s\n", err);
        return 1;
    }
    if (api_server_start(s, err, sizeof err) != 0) {
        fprintf(stderr, "herald-api: %s\n", err);
        api_server_destroy(s);
        return 1;
    }
    char host[256];
    uint16_t port;
    if (httpd_parse_addr(listen, host, sizeof host, &port, err, sizeof err) != 0)
        host[0] = '\0'; /* checked above */
    printf("http://%s:%u\n", !*host || strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host,
           api_server_port(s));
    fflush(stdout);

    while (!util_should_stop()) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    LOG_INFO("api: stopping: finishing running requests");
    api_server_destroy(s);
    LOG_INFO("api: stopped");
    return 0;
}
