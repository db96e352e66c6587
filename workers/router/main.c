/*
 * herald-router: routes check results and collection events to notification
 * targets. The work is in workers/router/router.c; this reads the configuration,
 * runs the router until SIGTERM/SIGINT and exits 0 after a clean stop.
 */
#include "common/config.h"
#include "common/httpd.h"
#include "common/log.h"
#include "workers/router/router.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    log_init("herald-router");
    herald_common_config common = {0};
    router_config rc;
    router_config_defaults(&rc);
    char *group = NULL, *metrics_addr = NULL;
    long batch_size = 0, batch_wait_ms = 0, refresh_s = 0, summary_s = 0, shutdown_ms = 0;

    cfg_opt opts[CFG_COMMON_COUNT + 7];
    /* Kafka and PostgreSQL only: the router never calls Slack nor reads tokens. */
    size_t nopts = cfg_common_select(opts, &common, CFG_USE_KAFKA | CFG_USE_DATABASE);
    const cfg_opt mine[] = {
        {"--group", "HERALD_ROUTER_GROUP", CFG_STRING, "herald-router", 0, 0, "NAME",
         "Kafka consumer group shared by every router instance", &group},
        {"--batch-size", "HERALD_ROUTER_BATCH_SIZE", CFG_INT, "500", 1, 100000, "N",
         "most events routed per batch (one database round trip each)", &batch_size},
        {"--batch-wait-ms", "HERALD_ROUTER_BATCH_WAIT_MS", CFG_INT, "50", 0, 60000, "MS",
         "longest a batch waits to fill after its first event, while a statement runs or "
         "events keep coming (an idle router sends each event on at once)",
         &batch_wait_ms},
        {"--cache-refresh-seconds", "HERALD_ROUTER_CACHE_REFRESH_SECONDS", CFG_INT, "60", 0, 86400,
         "S", "full reload of the subscriptions cache as a backstop (0: never)", &refresh_s},
        {"--metrics-addr", "HERALD_METRICS_ADDR", CFG_STRING, "", 0, 0, "HOST:PORT",
         "serve Prometheus /metrics and /healthz here (empty: off)", &metrics_addr},
        {"--summary-seconds", "HERALD_ROUTER_SUMMARY_SECONDS", CFG_INT, "30", 0, 86400, "S",
         "period of the info-level activity summary (0: never)", &summary_s},
        {"--shutdown-timeout-ms", "HERALD_ROUTER_SHUTDOWN_TIMEOUT_MS", CFG_INT, "10000", 0, 600000,
         "MS", "longest wait for Kafka acknowledgements when stopping", &shutdown_ms},
    };
    for (size_t i = 0; i < ARRAY_LEN(mine); i++)
        opts[nopts++] = mine[i];

    int argi = 1;
    int code = cfg_parse_or_exit_code("herald-router", "[OPTIONS]", opts, nopts, argc, argv, &argi);
    if (code >= 0)
        return code;
    if (argi < argc) {
        fprintf(stderr, "herald-router: unexpected argument '%s' (see --help)\n", argv[argi]);
        return 2;
    }
    if (!*group) {
        fprintf(stderr, "herald-router: --group: must not be empty\n");
        return 2;
    }
    if (*metrics_addr) {
        char host[256], err[256];
        uint16_t port;
        if (httpd_parse_addr(metrics_addr, host, sizeof host, &port, err, sizeof err)) {
            fprintf(stderr, "herald-router: --metrics-addr: %s\n", err);
            return 2;
        }
    }

    rc.brokers = common.kafka_brokers;
    rc.database_url = common.database_url;
    rc.group = group;
    rc.batch_size = batch_size;
    rc.batch_wait_ms = batch_wait_ms;
    rc.cache_refresh_seconds = refresh_s;
    rc.summary_seconds = summary_s;
    rc.shutdown_timeout_ms = shutdown_ms;
    rc.metrics_addr = metrics_addr;

    util_signals_install();
    char err[512];
    router *r = router_new(&rc, err, sizeof err);
    if (!r) {
        fprintf(stderr, "herald-router: %s\n", err);
        return 1;
    }
    int rv = router_run(r);
    router_destroy(r);
    return rv == 0 ? 0 : 1;
}
