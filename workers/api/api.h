#ifndef HERALD_API_H
#define HERALD_API_H

/*
 * herald-api: the HTTP admin API, the Slack OAuth v2 install flow and the
 * web console, over common/httpd (libmicrohttpd), store/ (PostgreSQL)
 * and common/slack.
 *
 *   api_config cfg;  api_config_defaults(&cfg);  ...fill...
 *   api_server *s = api_server_new(&cfg, err, sizeof err);   // connects, checks the schema
 *   api_server_start(s, err, sizeof err);                     // listens
 *   while (!util_should_stop()) sleep...;
 *   api_server_destroy(s);                                    // graceful stop
 *
 * Module map: api_server.c (this header: configuration, lifecycle; registers
 * every module), api_http.c + api_http.h (the framework: routes,
 * authentication, answers, helpers), api_pool.c (database pool), one file
 * per resource: api_session.c, api_install.c (OAuth), api_workspaces.c,
 * api_targets.c, api_deliveries.c, api_checks.c, api_interact.c (Slack's
 * button presses), api_console.c (the console's files, console/). The endpoints are listed in the
 * README ("HTTP admin API") and schema/openapi.yaml.
 */
#include "common/httpd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct api_config {
    const char *listen;               /* "HOST:PORT" (--listen / HERALD_API_ADDR) */
    const char *metrics_addr;         /* "HOST:PORT" (--metrics-addr): /metrics and /healthz
                                         there and not on listen; "" or NULL: on listen */
    const char *database_url;         /* HERALD_DATABASE_URL */
    const char *slack_api_url;        /* HERALD_SLACK_API_URL: Web API base (…/api) */
    const char *secret_key;           /* HERALD_SECRET_KEY (base64 of 32 bytes): required */
    const char *public_url;           /* HERALD_PUBLIC_URL: how browsers reach us; "" derives
                                         http://HOST:PORT from listen */
    const char *client_id;            /* HERALD_SLACK_CLIENT_ID; "" disables the install flow */
    const char *client_secret;        /* HERALD_SLACK_CLIENT_SECRET (already read from the
                                         _FILE variant by the program) */
    const char *authorize_url;        /* HERALD_SLACK_AUTHORIZE_URL */
    const char *slack_signing_secret; /* HERALD_SLACK_SIGNING_SECRET: verifies the requests
                                         Slack sends to /slack/interactivity; "" answers 503
                                         there. SECRET */
    const char *console_dir;          /* HERALD_CONSOLE_DIR: serve console files from here
                                         instead of the embedded copies (development); "" off */
    unsigned threads;                 /* database connections (requests wait for one) */
    unsigned max_connections;         /* HTTP connections served at once, a thread each */
    size_t max_body;                  /* request body cap */
    bool migrate;                     /* apply pending migrations at start */
    unsigned slack_concurrency_per_tenant; /* Slack-bound requests running at once per tenant
                                              (more: 429); 0 no limit */
    int64_t channel_cache_ttl_ms;          /* how long a workspace's channel list is reused;
                                              0 no cache */
    unsigned auth_failures_per_minute;     /* failed sign-ins / bad bearer tokens per client
                                              address (burst as many; more: 429); 0 no limit */
    bool trust_proxy;                      /* the client address is X-Forwarded-For's last */
    metrics_registry *metrics;             /* NULL: the default registry */

    /* The rest of the keyring (crypto_keyring_load): HERALD_SECRET_KEY_FILE instead of
     * secret_key, and HERALD_SECRET_KEY_PREVIOUS[_FILE], which opens only (rotation). */
    const char *secret_key_file;
    const char *secret_key_previous;
    const char *secret_key_previous_file;
} api_config;

#define API_DEFAULT_LISTEN             "127.0.0.1:8080"
#define API_DEFAULT_AUTHORIZE_URL      "https://slack.com/oauth/v2/authorize"
#define API_DEFAULT_THREADS            4
#define API_DEFAULT_MAX_CONNECTIONS    128
#define API_DEFAULT_MAX_BODY           (64 * 1024)
#define API_DEFAULT_SLACK_PER_TENANT   2
#define API_DEFAULT_CHANNEL_TTL_MS     (60 * 1000)
#define API_DEFAULT_AUTH_FAILS_PER_MIN 10
/* The scopes Herald asks for when installed (slack-api.md); usergroups:read
 * lets /slack/interactivity check the user groups a tenant lists. */
#define API_SLACK_SCOPES                                                                           \
    "chat:write,chat:write.public,users:read,users:read.email,im:write,channels:read,"             \
    "groups:read,usergroups:read"

void api_config_defaults(api_config *cfg);

/* Checks cfg without connecting anywhere: the listen address, the secret
 * key, the public and authorize URLs, a client id without its secret.
 * 0, or -1 with errstr naming the flag or variable (a usage error). */
int api_config_check(const api_config *cfg, char *errstr, size_t errstr_size);

typedef struct api_server api_server;

/* Validates cfg (api_config_check), opens the database pool and
 * checks the schema (applying migrations when cfg->migrate). cfg's strings
 * are copied. NULL with errstr set. */
api_server *api_server_new(const api_config *cfg, char *errstr, size_t errstr_size);

/* Starts listening. 0, or -1 with errstr naming the address. */
int api_server_start(api_server *s, char *errstr, size_t errstr_size);

/* The bound port (after start). */
uint16_t api_server_port(const api_server *s);
/* The port of --metrics-addr (after start); 0 without one. */
uint16_t api_server_metrics_port(const api_server *s);

/* Stops accepting, finishes running requests, closes the pool and frees.
 * NULL does nothing. */
void api_server_destroy(api_server *s);

#endif
