/*
 * herald-api: the HTTP admin API, the Slack "Add to Slack" install flow and
 * the web console (issue 5). The work is in common/api*.c; this reads the
 * configuration, serves until SIGTERM/SIGINT and stops gracefully (running
 * requests finish, the database pool closes).
 *
 * Prints the address it listens on (http://HOST:PORT) on stdout once ready.
 */
#include "common/api.h"
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

/* Reads the client secret from a file (first line, trailing whitespace
 * dropped). Returns a malloc'd string or NULL with errstr set. */
static char *read_secret_file(const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(errstr, errstr_size, "HERALD_SLACK_CLIENT_SECRET_FILE: cannot read '%s': %s", path,
                 strerror(errno));
        return NULL;
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *nl = strpbrk(buf, "\r\n");
    if (nl)
        *nl = '\0';
    n = strlen(buf);
    while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    if (!n) {
        snprintf(errstr, errstr_size, "HERALD_SLACK_CLIENT_SECRET_FILE: '%s' is empty", path);
        return NULL;
    }
    char *s = xstrdup(buf);
    crypto_wipe(buf, sizeof buf);
    return s;
}

static void drop_secret(char *secret)
{
    if (secret) {
        crypto_wipe(secret, strlen(secret));
        free(secret);
    }
}

int main(int argc, char **argv)
{
    log_init("herald-api");
    herald_common_config common = {0};
    char *listen = NULL, *public_url = NULL, *client_id = NULL, *client_secret = NULL,
         *secret_file = NULL, *authorize_url = NULL, *console_dir = NULL;
    long threads = 0, max_body = 0;
    bool migrate = false;

    /* herald-api never talks to Kafka: no --brokers. */
    cfg_opt opts[CFG_COMMON_COUNT + 10];
    size_t nopts =
        cfg_common_select(opts, &common, CFG_USE_DATABASE | CFG_USE_SLACK | CFG_USE_SECRET);
    const cfg_opt mine[] = {
        {"--listen", "HERALD_API_ADDR", CFG_STRING, API_DEFAULT_LISTEN, 0, 0, "HOST:PORT",
         "address to serve the API, the console, /metrics and /healthz on", &listen},
        {"--public-url", "HERALD_PUBLIC_URL", CFG_STRING, "", 0, 0, "URL",
         "how browsers reach herald-api (OAuth redirect, cookies; empty: http://LISTEN)",
         &public_url},
        {"--slack-client-id", "HERALD_SLACK_CLIENT_ID", CFG_STRING, "", 0, 0, "ID",
         "Slack app client id (empty: the install flow is off)", &client_id},
        {NULL, "HERALD_SLACK_CLIENT_SECRET", CFG_SECRET, NULL, 0, 0, "SECRET",
         "Slack app client secret", &client_secret},
        {"--slack-client-secret-file", "HERALD_SLACK_CLIENT_SECRET_FILE", CFG_STRING, "", 0, 0,
         "FILE", "read the client secret from this file instead", &secret_file},
        {"--slack-authorize-url", "HERALD_SLACK_AUTHORIZE_URL", CFG_STRING,
         API_DEFAULT_AUTHORIZE_URL, 0, 0, "URL", "Slack's OAuth v2 authorize page", &authorize_url},
        {"--console-dir", "HERALD_CONSOLE_DIR", CFG_STRING, "", 0, 0, "DIR",
         "serve the console files from DIR instead of the built-in copies (development)",
         &console_dir},
        {"--threads", "HERALD_API_THREADS", CFG_INT, "4", 1, 64, "N",
         "HTTP worker threads (one database connection each)", &threads},
        {"--max-body", "HERALD_API_MAX_BODY", CFG_INT, "65536", 1024, 16 * 1024 * 1024, "BYTES",
         "largest request body accepted (larger: 413)", &max_body},
        {"--migrate", "HERALD_API_MIGRATE", CFG_BOOL, "false", 0, 0, NULL,
         "apply pending database migrations at start", &migrate},
    };
    for (size_t i = 0; i < ARRAY_LEN(mine); i++)
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
    if (*secret_file) {
        secret = read_secret_file(secret_file, err, sizeof err);
        if (!secret) {
            fprintf(stderr, "herald-api: %s\n", err);
            return 2;
        }
    } else if (client_secret && *client_secret) {
        secret = xstrdup(client_secret);
    }
    api_config cfg;
    api_config_defaults(&cfg);
    cfg.listen = listen;
    cfg.database_url = common.database_url;
    cfg.slack_api_url = common.slack_api_url;
    cfg.secret_key = common.secret_key;
    cfg.public_url = public_url;
    cfg.client_id = client_id;
    cfg.client_secret = secret;
    cfg.authorize_url = authorize_url;
    cfg.console_dir = console_dir;
    cfg.threads = (unsigned)threads;
    cfg.max_body = (size_t)max_body;
    cfg.migrate = migrate;
    if (api_config_check(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "herald-api: %s\n", err);
        drop_secret(secret);
        return 2;
    }

    util_signals_install();
    api_server *s = api_server_new(&cfg, err, sizeof err); /* copies the secret */
    drop_secret(secret);
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
