/*
 * herald-router's option table (router_options.h) and the checks cfg_parse
 * cannot make (an empty group, a malformed metrics address).
 */
#include "workers/router/router_options.h"

#include "common/httpd.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

/* Longest retention accepted: 100 years, in ms. */
#define ROUTER_MAX_RETENTION_MS (100LL * 365 * 86400000)

int router_options_parse(router_options *o, int argc, char **argv, router_config *cfg)
{
    memset(o, 0, sizeof *o);
    router_config_defaults(cfg);

    cfg_opt opts[CFG_COMMON_COUNT + 12 + EVENT_LINK_OPTS];
    /* Kafka and PostgreSQL only: the router never calls Slack nor reads tokens. */
    size_t nopts = cfg_common_select(opts, &o->common, CFG_USE_KAFKA | CFG_USE_DATABASE);
    const cfg_opt mine[] = {
        {"--group", "HERALD_ROUTER_GROUP", CFG_STRING, "herald-router", 0, 0, "NAME",
         "Kafka consumer group shared by every router instance", &o->group},
        {"--instance-id", "HERALD_INSTANCE_ID", CFG_STRING, "", 0, 0, "ID",
         "this replica's stable id in the group (group.instance.id; each replica its own; "
         "default: the host name)",
         &o->instance_id},
        {"--batch-size", "HERALD_ROUTER_BATCH_SIZE", CFG_INT, "500", 1, 100000, "N",
         "most events routed per batch (one database round trip each)", &o->batch_size},
        {"--batch-wait-ms", "HERALD_ROUTER_BATCH_WAIT_MS", CFG_INT, "50", 0, 60000, "MS",
         "longest a batch waits to fill after its first event, while a statement runs or "
         "events keep coming (an idle router sends each event on at once)",
         &o->batch_wait_ms},
        {"--cache-refresh-seconds", "HERALD_ROUTER_CACHE_REFRESH_SECONDS", CFG_INT, "60", 0, 86400,
         "S", "full reload of the subscriptions cache as a backstop (0: never)", &o->refresh_s},
        {"--silence-refresh", "HERALD_ROUTER_SILENCE_REFRESH", CFG_DURATION, "30s", 0, 86400000,
         "D",
         "full reload of the live silences, so a silence whose end passed stops applying "
         "(changes apply at once through notifications; 0: never)",
         &o->silence_refresh_ms},
        {"--metrics-addr", "HERALD_METRICS_ADDR", CFG_STRING, "", 0, 0, "HOST:PORT",
         "serve Prometheus /metrics and /healthz here (empty: off)", &o->metrics_addr},
        {"--summary-seconds", "HERALD_ROUTER_SUMMARY_SECONDS", CFG_INT, "30", 0, 86400, "S",
         "period of the info-level activity summary (0: never)", &o->summary_s},
        {"--shutdown-timeout-ms", "HERALD_ROUTER_SHUTDOWN_TIMEOUT_MS", CFG_INT, "10000", 0, 600000,
         "MS", "longest wait for Kafka acknowledgements when stopping", &o->shutdown_ms},
        {"--retention", "HERALD_RETENTION", CFG_DURATION, "90d", 60000, ROUTER_MAX_RETENTION_MS,
         "D", "terminal deliveries and events older than this are deleted", &o->retention_ms},
        {"--stats-retention", "HERALD_STATS_RETENTION", CFG_DURATION, "400d", 60000,
         ROUTER_MAX_RETENTION_MS, "D",
         "hourly delivery rollups older than this are deleted (not shorter than --retention)",
         &o->stats_retention_ms},
        {"--prune-interval", "HERALD_PRUNE_INTERVAL", CFG_DURATION, "1h", 0, 30LL * 86400000, "D",
         "run retention this often, on its own thread and connection (0: never)",
         &o->prune_interval_ms},
    };
    for (size_t i = 0; i < ARRAY_LEN(mine); i++)
        opts[nopts++] = mine[i];
    event_link_opts(opts + nopts, &o->link);
    nopts += EVENT_LINK_OPTS;

    int argi = 1;
    int code = cfg_parse_or_exit_code("herald-router", "[OPTIONS]", opts, nopts, argc, argv, &argi);
    if (code >= 0)
        return code;
    if (argi < argc) {
        fprintf(stderr, "herald-router: unexpected argument '%s' (see --help)\n", argv[argi]);
        return 2;
    }
    if (!*o->group) {
        fprintf(stderr, "herald-router: --group: must not be empty\n");
        return 2;
    }
    if (o->stats_retention_ms < o->retention_ms) {
        fprintf(stderr,
                "herald-router: --stats-retention (%g days) must not be shorter than "
                "--retention (%g days)\n",
                o->stats_retention_ms / 86400000.0, o->retention_ms / 86400000.0);
        return 2;
    }
    if (*o->metrics_addr) {
        char host[256], err[256];
        uint16_t port;
        if (httpd_parse_addr(o->metrics_addr, host, sizeof host, &port, err, sizeof err)) {
            fprintf(stderr, "herald-router: --metrics-addr: %s\n", err);
            return 2;
        }
    }

    char lerr[512];
    if (event_link_hosts_init(&o->link_hosts, &o->link, lerr, sizeof lerr)) {
        fprintf(stderr, "herald-router: %s\n", lerr);
        return 2;
    }
    if (o->link_hosts.any)
        LOG_INFO("check.url may link to any host (set HERALD_LINK_HOSTS to restrict it)");
    else
        LOG_INFO("check.url may link to: %s", o->link_hosts.n ? o->link_hosts.text : "nowhere");

    cfg->brokers = o->common.kafka_brokers;
    cfg->database_url = o->common.database_url;
    cfg->group = o->group;
    cfg->instance_id = kafka_instance_id(o->instance_id, o->instance_buf, sizeof o->instance_buf);
    cfg->batch_size = o->batch_size;
    cfg->batch_wait_ms = o->batch_wait_ms;
    cfg->cache_refresh_seconds = o->refresh_s;
    cfg->silence_refresh_ms = o->silence_refresh_ms;
    cfg->summary_seconds = o->summary_s;
    cfg->shutdown_timeout_ms = o->shutdown_ms;
    cfg->metrics_addr = o->metrics_addr;
    cfg->retention_ms = o->retention_ms;
    cfg->stats_retention_ms = o->stats_retention_ms;
    cfg->prune_interval_ms = o->prune_interval_ms;
    cfg->link_hosts = &o->link_hosts;
    return -1;
}

void router_options_dispose(router_options *o)
{
    event_link_hosts_dispose(&o->link_hosts);
}
