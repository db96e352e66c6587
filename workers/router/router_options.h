#ifndef HERALD_ROUTER_OPTIONS_H
#define HERALD_ROUTER_OPTIONS_H

/*
 * herald-router's command line: its flags and environment variables (one
 * table, common/config.h), checked and turned into a router_config.
 */

#include "common/config.h"
#include "workers/router/router.h"

/* The parsed values; the router_config filled from them points here, so it
 * lives as long as the router. */
typedef struct router_options {
    herald_common_config common;
    char *group, *metrics_addr;
    char *instance_id, instance_buf[256]; /* --instance-id; the resolved id (default: host) */
    long batch_size, batch_wait_ms, refresh_s, summary_s, shutdown_ms;
    int64_t silence_refresh_ms;
    int64_t retention_ms, stats_retention_ms, prune_interval_ms;
    event_link_config link;      /* --link-hosts and the URLs it defaults from */
    event_link_hosts link_hosts; /* what cfg->link_hosts points at; router_options_dispose */
} router_options;

/*
 * Parses argv (defaults, then the environment, then flags) into *o and fills
 * *cfg from it. Returns -1 to go on and run the router; otherwise the exit
 * code for main (0 after --help, 2 on a usage error, already printed on
 * stderr as "herald-router: ...").
 */
int router_options_parse(router_options *o, int argc, char **argv, router_config *cfg);

/* Frees what router_options_parse built (after router_destroy). */
void router_options_dispose(router_options *o);

#endif
