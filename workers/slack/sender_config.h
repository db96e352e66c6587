#ifndef HERALD_SENDER_CONFIG_H
#define HERALD_SENDER_CONFIG_H

/* herald-slack's configuration: its fields, defaults and option table
 * (sender_config.c). Part of the public API (sender.h includes it). */

#include "common/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sender_config {
    herald_common_config common; /* brokers, database, Slack API URL, secret key */
    char *group;                 /* consumer group (herald-slack) */
    char *instance_id;           /* this replica's stable id: group.instance.id and
                                    deliveries.claimed_by; NULL/"": the host name */

    double channel_rate;    /* messages/s per channel (1) */
    double channel_burst;   /* burst per channel (3) */
    double workspace_rate;  /* messages/min per workspace (300); <= 0 unlimited */
    double workspace_burst; /* burst per workspace (30) */
    int64_t pace_guard_ms;  /* extra spacing at the steady rate, for clock/network jitter (20) */
    double lookup_rate;     /* users.lookupByEmail per minute per workspace (40) */

    long max_in_flight; /* concurrent Slack requests (64) */
    long max_queued;    /* deliveries held in memory before consuming pauses (20000) */

    int64_t retry_base_ms;      /* first retry's ceiling (1 s) */
    int64_t retry_cap_ms;       /* ceiling cap (5 min) */
    int64_t retry_max_age_ms;   /* give up after (24 h) */
    int64_t retry_poll_ms;      /* how often due retries are looked for (500 ms) */
    int64_t takeover_grace_ms;  /* a due row of a workspace this instance does not own is taken
                                   after this much overdue (30 s) */
    int64_t reconcile_after_ms; /* a delivery 'pending' this long is taken from PostgreSQL,
                                   not waited for from Kafka (2 min) */

    int64_t connect_timeout_ms;  /* (5 s) */
    int64_t request_timeout_ms;  /* whole request (15 s) */
    int64_t claim_lease_ms;      /* a claimed row belongs to its sender this long (60 s) */
    int64_t shutdown_timeout_ms; /* in-flight requests get this long on SIGTERM (20 s) */

    bool digests;             /* fold backlogs into digests (targets may opt out) (true) */
    int64_t digest_window_ms; /* fold when more wait than the pace sends in this (5 s) */
    long digest_min;          /* never fold fewer than this (3) */
    long digest_max;          /* at most this many per digest (100) */

    bool threads;              /* honour targets' thread_repeats (true) */
    int64_t thread_max_age_ms; /* a streak older than this starts a new thread (7 d) */

    int64_t lookup_ttl_ms;     /* email -> user id cache (24 h) */
    int64_t lookup_neg_ttl_ms; /* users_not_found cache (10 min) */

    /* Token rotation: the Slack app's credentials refresh expiring bot tokens
     * (oauth.v2.access grant_type=refresh_token). Without them a rotating
     * token that expires fails its deliveries as token_expired, as before. */
    cfg_slack_app app;               /* the options, as herald-api reads them */
    char *client_id;                 /* NULL/"": no refresh */
    char *client_secret;             /* SECRET; set by sender_config_finish from app */
    int64_t token_refresh_margin_ms; /* refresh a token expiring within this (5 min) */

    char *metrics_addr; /* HOST:PORT for /metrics and /healthz; NULL/"" none */
    char *console_url;  /* Herald console base URL for links in messages; NULL none */

    /* What sender_config_finish turns into the fields above (the table points here). */
    struct {
        bool no_digests, no_threads;
        bool secret_owned; /* client_secret was malloc'd by sender_config_finish */
    } raw;
} sender_config;

/* Defaults (as above), for in-process use; strings point at literals. */
void sender_config_default(sender_config *cfg);

/* Maximum entries sender_config_table writes. */
#define SENDER_CONFIG_MAX_OPTS 52
/* The option table (common options first) pointing into cfg, for cfg_parse. */
size_t sender_config_table(sender_config *cfg, cfg_opt *out, size_t cap);
/*
 * After cfg_parse (which parsed the rates and the durations like 500ms, 5s,
 * 10m, 24h within their bounds): checks how options relate and that
 * HERALD_SECRET_KEY is usable. 0, or -1 with a one-line errstr naming the
 * flag or variable.
 */
int sender_config_finish(sender_config *cfg, char *errstr, size_t errstr_size);

/* Wipes and frees what sender_config_finish allocated (the client secret). */
void sender_config_dispose(sender_config *cfg);

#endif
