#ifndef HERALD_ROUTER_INT_H
#define HERALD_ROUTER_INT_H

/*
 * The router library's private header: the pipeline's types and the
 * functions its files share. Only the router library's files include it; the
 * engine's interface is router.h.
 *
 * Files, in layers: a file calls only the files of the layers below it (and,
 * within the stage layer, only the files after it), never one above; where a
 * lower file must reach up (the rebalance callback draining the pipeline), it
 * calls a function pointer the upper file registered (router_revoke_fn).
 *   1. router.c: lifetime, the pipeline and its run loop, the only file that
 *      sequences the stages.
 *   2. the stages, in this order: router_intake.c (collecting and parsing a
 *      batch; asks router_stage.c whether a statement is done), router_stage.c
 *      (routing a batch and its database stage), router_output.c (producing,
 *      acknowledgements, offsets; uses router_kafka.c), router_kafka.c (the
 *      consumer and the producer); beside them router_metrics.c
 *      (housekeeping, summary, Prometheus, /healthz).
 *   3. router_batch.c (a batch's lifetime: emptying, freeing, handing back),
 *      router_db.c (the batch statement's SQL).
 *   4. router_stats.c (stopping, the statistics under their mutex).
 * router_options.c (the command line) stands apart, above router.c's
 * router_config_defaults.
 */

#include "common/dblink.h"
#include "common/event.h"
#include "common/httpd.h"
#include "common/metrics.h"
#include "common/strbuf.h"
#include "workers/router/alerts.h"
#include "workers/router/route.h"
#include "workers/router/router.h"
#include "workers/router/router_db.h"
#include "workers/router/silences.h"
#include "workers/router/subscriptions.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Pipeline. Up to three batches are alive, each in its own stage:
 *   r->cur   is being collected from the consumer;
 *   r->stmt  has its statement running in PostgreSQL (sent asynchronously);
 *   r->fly   has its messages produced and awaits Kafka's acknowledgements.
 * While PostgreSQL writes batch n, batch n+1 is read and parsed; while batch
 * n's messages are encoded, produced and acknowledged, batch n+1's statement
 * runs. Batches complete (their offsets are stored) strictly in consumption
 * order, each only after everything before it is durable.
 *
 * When the database fails, the pipeline collapses: the batch that needed it
 * is retained in r->stmt (retained = true), consumption is paused, and that
 * batch is retried synchronously until the database is back.
 */

/* Bytes of event payload one batch may hold: bounds the memory a batch and
 * its statement take, whatever batch_size says. */
#define BATCH_MAX_BYTES (32u * 1024 * 1024)

/* One consumed message of a batch. */
typedef struct bmsg {
    rd_kafka_message_t *m;
    event *ev;                  /* parsed event, NULL when it is to be dead-lettered */
    char *reason;               /* dead-letter reason (malloc'd) when ev is NULL */
    char *json;                 /* NUL-terminated copy of the payload, made when routed */
    char eid[37];               /* event_id in lower case (as PostgreSQL prints uuids) */
    bool dup;                   /* same event_id earlier in this batch: nothing to do */
    bool pass;                  /* a passing check to record (route_records_pass) */
    size_t first_write, nwrite; /* this attempt's alert writes: r->writes[...] */
    size_t first, nmatch;       /* this attempt's matches: r->matches[first..first+nmatch) */
} bmsg;

/* One (event, target) pair of an attempt and what was decided for it. */
typedef struct match {
    size_t bi;             /* index in the batch */
    const route_target *t; /* borrowed from the cache for one attempt */
    route_suppress why;    /* NONE: routed (pending, published) */
    bool resolve;          /* kind 'resolve' (ref: the notification's event) */
    char ref[37];
    size_t why_off; /* suppressed: the readable reason in r->why (NUL-terminated) */
} match;

/* One alert_states row to write, as computed after event bi. A later write
 * of the same (target, key) in the batch supersedes it (the batch statement
 * upserts each row once); run alone, an event writes its own. */
typedef struct alert_write {
    size_t bi;
    int64_t target_id;
    char key[ROUTE_ALERT_KEY_MAX];
    route_alert st;
    bool superseded;
} alert_write;

struct batch;

/* One message the batch produces: a routed delivery, or a dead letter. The
 * routed payload belongs to us until its delivery report (produced without
 * COPY or FREE), so a failed one can be produced again as is. */
typedef struct outmsg {
    struct batch *owner;
    int kind;      /* OUT_ROUTED, OUT_DEADLETTER */
    int state;     /* OUT_UNSENT ... */
    size_t bi;     /* the batch message it carries */
    char *payload; /* routed: the encoded delivery, made by batch_produce */
    size_t len;
    /* routed: what the row and the target said, copied so the cache may be
     * reloaded before the delivery is encoded */
    char *key; /* the team id */
    char *destination;
    bool destination_is_email;
    int64_t delivery_id, target_id;
    bool resolve;          /* delivery_kind "resolve" */
    char ref_event_id[37]; /* resolve: the notification's event */
} outmsg;
enum { OUT_ROUTED = 0, OUT_DEADLETTER };
enum { OUT_UNSENT = 0, OUT_INFLIGHT, OUT_ACKED, OUT_FAILED };

typedef struct batch_counts {
    uint64_t routed, created, republished, published, not_notifiable, no_target, dead_lettered,
        duplicates, passes;
    uint64_t suppressed[ROUTE_SUPPRESS_COUNT]; /* pairs kept quiet, by reason */
    uint64_t resolves;                         /* resolve deliveries made */
} batch_counts;

typedef struct batch {
    bmsg *b;
    size_t nb, capb;
    size_t bytes;
    bool retained; /* the database stage failed: kept, consumption paused */
    bool sent;     /* its statement was sent: a result is owed */
    int64_t started_ms;
    outmsg *outs;
    size_t nouts, capouts;
    size_t outstanding; /* produced, no delivery report yet */
    size_t failed;      /* reports with an error since the last (re)produce */
    batch_counts bc;
} batch;

_Static_assert(ROUTE_SUPPRESS_COUNT == ARRAY_LEN(((router_stats *)0)->suppressed),
               "router_stats.suppressed holds every reason");

/* Result of one database stage. */
enum { STAGE_OK = 0, STAGE_RETRY };

/* Prometheus metrics (common/metrics.h, default registry). Counters are
 * exported from router_stats deltas in housekeeping, so the hot path takes no
 * extra lock; the histograms are observed once per batch. */
typedef struct router_metrics {
    metrics_counter *consumed; /* {topic} */
    metrics_counter *routed;
    metrics_counter *created;
    metrics_counter *republished;
    metrics_counter *published;
    metrics_counter *no_target; /* {reason} */
    metrics_counter *dead_lettered;
    metrics_counter *duplicates;
    metrics_counter *passes;
    metrics_counter *suppressed; /* {reason} */
    metrics_counter *resolves;
    metrics_counter *db_errors;
    metrics_counter *abandoned;
    metrics_counter *cache_loads; /* {kind} */
    metrics_histogram *batch_size;
    metrics_histogram *batch_seconds;
    metrics_gauge *lag; /* {topic} */
    metrics_gauge *db_up;
    metrics_gauge *cache_targets;
    metrics_gauge *cache_tenants;
    metrics_gauge *partitions;
} router_metrics;

/* Called by the consumer's rebalance callback (router_kafka.c) when
 * partitions are revoked (parts), or all of them when a rebalance failed
 * (parts NULL): the pipeline (router.c) finishes what is past the database
 * and hands back the rest. Registered by router_consumer_new. */
typedef void (*router_revoke_fn)(router *r, const rd_kafka_topic_partition_list_t *parts);

struct router {
    router_config cfg;
    char *brokers, *database_url, *group, *metrics_addr;

    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    router_revoke_fn on_revoke;
    atomic_int stop;

    /* database */
    db_link *db; /* reconnects with backoff; set up by on_db_connect (router.c) */
    int64_t last_idle_sync_ms;

    subs *subs;
    silences *sils;
    alerts *alerts;

    struct router_retention *retention; /* its own thread and connection, or NULL */

    /* the pipeline */
    batch slots[3];
    batch *cur;  /* being collected */
    batch *stmt; /* statement running, or retained while the database is away; or NULL */
    batch *fly;  /* awaiting acknowledgements, or NULL */
    bool paused;

    /* scratch of one database stage */
    match *matches;
    size_t nmatches, capmatches;
    size_t npasses; /* passing checks to record */
    alert_write *writes;
    size_t nwrites, capwrites;
    strbuf why;            /* readable reasons of the suppressed pairs */
    uint64_t route_serial; /* routings done: tags the alert entries' marks */
    char **load_tenants;   /* tenants whose alert states a stage loads */
    size_t nload_tenants, cap_load_tenants;
    int64_t *load_targets;
    size_t nload_targets, cap_load_targets;
    size_t *route_idx;
    size_t cap_route_idx;
    uint32_t *eid_slots; /* open-addressing map event_id -> batch index + 1 */
    size_t neid_slots;
    strbuf params[ROUTE_NPARAMS];

    /* statistics */
    pthread_mutex_t stats_mu;
    router_stats stats;
    router_stats last_summary;
    router_stats last_export;
    subs_stats last_subs_export;
    router_metrics m;
    httpd *http;
    int64_t lag_by_topic[2]; /* checks, collections */
    int partitions;
    int64_t next_summary_ms;
    int64_t next_lag_ms;
    int64_t next_fold_ms;      /* the rollups' change log (store_stats_fold) */
    int64_t dl_log_window_end; /* dead-letter log lines: at most 20 per 10 s */
    int dl_log_count;
    uint64_t dl_log_suppressed;
};

/* ==== router_intake.c ==== */

void router_batch_add(router *r, batch *b, rd_kafka_message_t *m);
void router_batch_collect(router *r);

/* ==== router_stage.c ==== */

int router_stage_begin(router *r, batch *b);
bool router_stage_ready(router *r, const batch *b);
int router_stage_finish(router *r, batch *b);
int router_stage_sync(router *r, batch *b);

/* ==== router_output.c ==== */

void router_batch_produce(router *r, batch *b);
int router_batch_complete(router *r, batch *b);

/* ==== router_kafka.c ==== */

rd_kafka_t *router_consumer_new(router *r, const char *const *extra, router_revoke_fn on_revoke,
                                char *errstr, size_t errstr_size);
rd_kafka_t *router_producer_new(router *r, char *errstr, size_t errstr_size);
void router_set_paused(router *r, bool pause);
void router_producer_replace(router *r);
void router_store_offsets(router *r, batch *b);

/* ==== router_metrics.c ==== */

void router_metrics_init(router_metrics *m);
void router_metrics_export(router *r);
void router_log_summary(router *r, bool force);
bool router_health(void *arg, char *reason, size_t reason_size);
/* Copies the database and cache state into the statistics. */
void router_note_db_state(router *r);
void router_housekeeping(router *r);

/* ==== router_batch.c ==== */

void router_outs_clear(batch *b);
void router_batch_reset(batch *b);
void router_batch_destroy(batch *b);
void router_batch_drop_partitions(router *r, batch *b,
                                  const rd_kafka_topic_partition_list_t *parts);

/* ==== router_stats.c ==== */

bool router_stopping(router *r);
/* Applies fn to the statistics under their mutex (read from other threads). */
void router_stats_add(router *r, void (*fn)(router_stats *, const void *), const void *arg);

#endif
