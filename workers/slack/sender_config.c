/* herald-slack's configuration table and its parsing (see sender.h). */
#include "workers/slack/sender_config.h"

#include "common/crypto.h"
#include "common/httpd.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sender_config_default(sender_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->common.kafka_brokers = "localhost:9092";
    cfg->common.database_url = "";
    cfg->common.slack_api_url = "https://slack.com/api";
    cfg->group = "herald-slack";
    cfg->channel_rate = 1.0;
    cfg->channel_burst = 3.0;
    cfg->workspace_rate = 300.0;
    cfg->workspace_burst = 30.0;
    cfg->pace_guard_ms = 20;
    cfg->lookup_rate = 40.0;
    cfg->max_in_flight = 256;
    cfg->max_queued = 20000;
    cfg->retry_base_ms = 1000;
    cfg->retry_cap_ms = 5 * 60 * 1000;
    cfg->retry_max_age_ms = 24LL * 3600 * 1000;
    cfg->retry_poll_ms = 500;
    cfg->takeover_grace_ms = 30000;
    cfg->reconcile_after_ms = 2 * 60 * 1000;
    cfg->connect_timeout_ms = 5000;
    cfg->request_timeout_ms = 15000;
    cfg->claim_lease_ms = 60000;
    cfg->shutdown_timeout_ms = 20000;
    cfg->digests = true;
    cfg->digest_window_ms = 5000;
    cfg->digest_min = 3;
    cfg->digest_max = 100;
    cfg->threads = true;
    cfg->thread_max_age_ms = 7LL * 86400 * 1000;
    cfg->lookup_ttl_ms = 24LL * 3600 * 1000;
    cfg->lookup_neg_ttl_ms = 10 * 60 * 1000;
    cfg->token_refresh_margin_ms = 5 * 60 * 1000;
}

size_t sender_config_table(sender_config *cfg, cfg_opt *out, size_t cap)
{
    sender_config_default(cfg);
    const int64_t H = 3600LL * 1000, D = 24 * H; /* duration bounds, in ms */
    cfg_opt common[CFG_COMMON_COUNT];
    cfg_common_opts(common, &cfg->common);
    const cfg_opt own[] = {
        {"--group", "HERALD_SLACK_GROUP", CFG_STRING, "herald-slack", 0, 0, "NAME",
         "Kafka consumer group", &cfg->group},
        {"--instance-id", "HERALD_INSTANCE_ID", CFG_STRING, "", 0, 0, "ID",
         "this replica's stable id: its static group membership and the owner of its claims "
         "(each replica its own; default: the host name)",
         &cfg->instance_id},
        {"--channel-rate", "HERALD_SLACK_CHANNEL_RATE", CFG_RATE, "1", 0, 1000, "PER_SEC",
         "messages per second per channel (0: unlimited)", &cfg->channel_rate},
        {"--channel-burst", "HERALD_SLACK_CHANNEL_BURST", CFG_RATE, "3", 1, 1000, "N",
         "messages a channel may get at once before the rate applies", &cfg->channel_burst},
        {"--workspace-rate-per-minute", "HERALD_SLACK_WORKSPACE_RATE", CFG_RATE, "300", 0, 1000000,
         "PER_MIN", "messages per minute per workspace (0: unlimited)", &cfg->workspace_rate},
        {"--workspace-burst", "HERALD_SLACK_WORKSPACE_BURST", CFG_RATE, "30", 1, 100000, "N",
         "messages a workspace may get at once", &cfg->workspace_burst},
        {"--pace-guard", "HERALD_SLACK_PACE_GUARD", CFG_DURATION, "20ms", 0, 1000, "DURATION",
         "extra spacing between paced messages, absorbing network jitter", &cfg->pace_guard_ms},
        {"--lookup-rate-per-minute", "HERALD_SLACK_LOOKUP_RATE", CFG_RATE, "40", 1, 100000,
         "PER_MIN", "users.lookupByEmail calls per minute per workspace", &cfg->lookup_rate},
        {"--max-in-flight", "HERALD_SLACK_MAX_IN_FLIGHT", CFG_INT, "256", 1, 10000, "N",
         "Slack requests in flight at once (one per channel)", &cfg->max_in_flight},
        {"--max-queued", "HERALD_SLACK_MAX_QUEUED", CFG_INT, "20000", 10, 10000000, "N",
         "deliveries held in memory before consuming pauses", &cfg->max_queued},
        {"--retry-base", "HERALD_SLACK_RETRY_BASE", CFG_DURATION, "1s", 10, H, "DURATION",
         "ceiling of the first retry's random wait (doubles per retry)", &cfg->retry_base_ms},
        {"--retry-cap", "HERALD_SLACK_RETRY_CAP", CFG_DURATION, "5m", 10, D, "DURATION",
         "largest ceiling of a retry's random wait", &cfg->retry_cap_ms},
        {"--retry-max-age", "HERALD_SLACK_RETRY_MAX_AGE", CFG_DURATION, "24h", 1000, 30 * D,
         "DURATION", "a delivery still failing this long after it was routed fails for good",
         &cfg->retry_max_age_ms},
        {"--retry-poll", "HERALD_SLACK_RETRY_POLL", CFG_DURATION, "500ms", 10, 60000, "DURATION",
         "how often due retries are looked for in PostgreSQL", &cfg->retry_poll_ms},
        {"--takeover-grace", "HERALD_SLACK_TAKEOVER_GRACE", CFG_DURATION, "30s", 0, D, "DURATION",
         "a due retry of a workspace another instance owns is taken after this much overdue",
         &cfg->takeover_grace_ms},
        {"--reconcile-after", "HERALD_SLACK_RECONCILE_AFTER", CFG_DURATION, "2m", 1000, 30 * D,
         "DURATION",
         "a delivery still pending this long is sent from PostgreSQL (its Kafka message may "
         "be lost)",
         &cfg->reconcile_after_ms},
        {"--connect-timeout", "HERALD_SLACK_CONNECT_TIMEOUT", CFG_DURATION, "5s", 100, 600000,
         "DURATION", "connecting to Slack", &cfg->connect_timeout_ms},
        {"--request-timeout", "HERALD_SLACK_REQUEST_TIMEOUT", CFG_DURATION, "15s", 100, 600000,
         "DURATION", "a whole Slack request", &cfg->request_timeout_ms},
        {"--claim-lease", "HERALD_SLACK_CLAIM_LEASE", CFG_DURATION, "60s", 1000, D, "DURATION",
         "how long a claimed delivery belongs to its sender (> request timeout); after a "
         "crash it is retried when this runs out",
         &cfg->claim_lease_ms},
        {"--shutdown-timeout", "HERALD_SLACK_SHUTDOWN_TIMEOUT", CFG_DURATION, "20s", 0, 600000,
         "DURATION", "on SIGTERM, how long in-flight requests may finish",
         &cfg->shutdown_timeout_ms},
        {"--no-digests", "HERALD_SLACK_NO_DIGESTS", CFG_BOOL, NULL, 0, 0, NULL,
         "never fold a backlog into a digest (targets can also opt out)", &cfg->raw.no_digests},
        {"--digest-window", "HERALD_SLACK_DIGEST_WINDOW", CFG_DURATION, "5s", 0, H, "DURATION",
         "fold when more wait for a channel than its pace sends within this",
         &cfg->digest_window_ms},
        {"--digest-min", "HERALD_SLACK_DIGEST_MIN", CFG_INT, "3", 2, 1000, "N",
         "never fold fewer deliveries than this", &cfg->digest_min},
        {"--digest-max", "HERALD_SLACK_DIGEST_MAX", CFG_INT, "100", 2, 10000, "N",
         "deliveries folded into one digest at most", &cfg->digest_max},
        {"--no-threads", "HERALD_SLACK_NO_THREADS", CFG_BOOL, NULL, 0, 0, NULL,
         "ignore the targets' thread-repeats setting", &cfg->raw.no_threads},
        {"--thread-max-age", "HERALD_SLACK_THREAD_MAX_AGE", CFG_DURATION, "7d", 1000, 365 * D,
         "DURATION", "a failing streak older than this starts a new thread",
         &cfg->thread_max_age_ms},
        {"--lookup-ttl", "HERALD_SLACK_LOOKUP_TTL", CFG_DURATION, "24h", 0, 365 * D, "DURATION",
         "how long an email -> Slack user answer is reused", &cfg->lookup_ttl_ms},
        {"--lookup-negative-ttl", "HERALD_SLACK_LOOKUP_NEGATIVE_TTL", CFG_DURATION, "10m", 0,
         365 * D, "DURATION", "how long an unknown email is remembered as unknown",
         &cfg->lookup_neg_ttl_ms},
        {"--token-refresh-margin", "HERALD_SLACK_TOKEN_REFRESH_MARGIN", CFG_DURATION, "5m", 0,
         6 * H, "DURATION",
         "token rotation: refresh a bot token this long before it expires (needs the client id "
         "and secret)",
         &cfg->token_refresh_margin_ms},
        {"--metrics-addr", "HERALD_METRICS_ADDR", CFG_STRING, NULL, 0, 0, "HOST:PORT",
         "serve /metrics and /healthz here (default: off)", &cfg->metrics_addr},
        {"--console-url", "HERALD_CONSOLE_URL", CFG_STRING, NULL, 0, 0, "URL",
         "Herald console base URL, for links in messages", &cfg->console_url},
    };
    cfg_opt app[CFG_SLACK_APP_COUNT];
    cfg_slack_app_opts(app, &cfg->app,
                       "Slack app client id, to refresh rotating bot tokens (empty: never "
                       "refresh)");
    size_t n = 0;
    for (size_t i = 0; i < CFG_COMMON_COUNT && n < cap; i++)
        out[n++] = common[i];
    for (size_t i = 0; i < ARRAY_LEN(own) && n < cap; i++)
        out[n++] = own[i];
    for (size_t i = 0; i < CFG_SLACK_APP_COUNT && n < cap; i++)
        out[n++] = app[i];
    return n;
}

int sender_config_finish(sender_config *cfg, char *errstr, size_t errstr_size)
{
    if (cfg->raw.no_digests)
        cfg->digests = false;
    if (cfg->raw.no_threads)
        cfg->threads = false;
    if (cfg->retry_cap_ms < cfg->retry_base_ms) {
        snprintf(errstr, errstr_size, "--retry-cap: must be at least --retry-base");
        return -1;
    }
    if (cfg->claim_lease_ms <= cfg->request_timeout_ms) {
        snprintf(errstr, errstr_size,
                 "--claim-lease: must be longer than --request-timeout (a live request must "
                 "never lose its lease)");
        return -1;
    }
    if (!cfg->group || !*cfg->group) {
        snprintf(errstr, errstr_size, "--group: must not be empty");
        return -1;
    }
    if (cfg->metrics_addr && *cfg->metrics_addr) {
        char host[256], why[256];
        uint16_t port;
        if (httpd_parse_addr(cfg->metrics_addr, host, sizeof host, &port, why, sizeof why)) {
            snprintf(errstr, errstr_size, "--metrics-addr: %s", why);
            return -1;
        }
    }
    /* The Slack app's credentials (token rotation), read as herald-api reads them. */
    if (cfg->app.client_id || cfg->app.client_secret || cfg->app.client_secret_file) {
        char *secret = NULL;
        if (cfg_slack_app_secret(&cfg->app, &secret, errstr, errstr_size))
            return -1;
        cfg->client_id = cfg->app.client_id;
        if (secret) {
            cfg->client_secret = secret;
            cfg->raw.secret_owned = true;
        }
    }
    if (cfg->client_id && *cfg->client_id && (!cfg->client_secret || !*cfg->client_secret)) {
        snprintf(errstr, errstr_size,
                 "HERALD_SLACK_CLIENT_ID is set but no client secret: set "
                 "HERALD_SLACK_CLIENT_SECRET or HERALD_SLACK_CLIENT_SECRET_FILE");
        return -1;
    }
    if ((!cfg->common.secret_key || !*cfg->common.secret_key) &&
        (!cfg->common.secret_key_file || !*cfg->common.secret_key_file)) {
        snprintf(errstr, errstr_size,
                 "HERALD_SECRET_KEY: required (the key the bot tokens were stored with)");
        return -1;
    }
    crypto_keyring ring;
    int rc = crypto_keyring_load(&ring, &cfg->common, errstr, errstr_size);
    crypto_wipe(&ring, sizeof ring);
    return rc;
}

void sender_config_dispose(sender_config *cfg)
{
    if (cfg->raw.secret_owned && cfg->client_secret) {
        crypto_free_secret(cfg->client_secret);
    }
    cfg->client_secret = NULL;
    cfg->raw.secret_owned = false;
}
