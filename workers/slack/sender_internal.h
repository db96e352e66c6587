#ifndef HERALD_SENDER_INTERNAL_H
#define HERALD_SENDER_INTERNAL_H

/*
 * herald-slack's engine, shared by its files only (the public API is
 * sender.h): the state (struct sender), a delivery in memory (job), a request
 * to Slack (flight), a queued outcome, the cached workspace/target/user rows,
 * and the functions one file of the engine calls in another. Nothing outside
 * workers/slack/ includes this.
 *
 * Where things are:
 *   sender.c          lifecycle: sender_new, sender_run (the loop, the drain), sender_destroy
 *   sender_intake.c   Kafka consume, dead letters, offsets, the retry poller, rebalances
 *   sender_plan.c     what each ready channel sends next (plan_channel), claims, launches
 *   sender_flight.c   the requests to Slack over curl multi and their answers
 *   sender_outcome.c  claims, recording outcomes (sent, retrying, failed), 429s, revocations
 *   sender_cache.c    workspace, target and user (email -> id) caches
 *   sender_token.c    token rotation: refreshing expiring or expired bot tokens
 *   sender_link.c     the PostgreSQL link (a common/dblink.h db_link): statements' failures
 *   sender_metrics.c  the Prometheus metrics
 *
 * @locality: everything runs on the thread that calls sender_run(), except
 * sender_stop() (any thread, signal-safe) and the metrics/health callbacks
 * (the HTTP server's thread; they only read metrics and db_down).
 */

#include "workers/slack/sender.h"

#include "common/backoff.h"
#include "common/crypto.h"
#include "common/db.h"
#include "common/dblink.h"
#include "common/event.h"
#include "common/httpd.h"
#include "common/kafka.h"
#include "common/metrics.h"
#include "common/ratelimit.h"
#include "common/render.h"
#include "common/slack.h"
#include "common/strmap.h"
#include "workers/slack/dispatch.h"
#include "workers/slack/offsets.h"
#include "workers/slack/sender_db.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A 429 on this many distinct channels of one workspace within the window
 * means the workspace-wide limit, not a channel's. */
#define WS429_CHANNELS  3
#define WS429_WINDOW_MS 2000

typedef struct sender_metrics {
    metrics_counter *consumed, *deadlettered, *requests, *rate_limited, *retries, *deliveries,
        *digests, *folded, *revoked, *refreshes;
    metrics_histogram *latency;
    metrics_gauge *channels_waiting, *queued, *in_flight;
} sender_metrics;

/* One delivery in memory. */
typedef struct job {
    int64_t id;
    char event_id[37];
    int64_t target_id;
    char *tenant_id;
    char *team_id;
    char *destination; /* as routed: channel id, #name, email or user id */
    bool is_email;     /* needs users.lookupByEmail before posting */
    char *kind;        /* check_result, collection_event, test */
    char *event_json;
    event *ev; /* parsed on first use */
    int64_t routed_ms;

    /* Where it came from: a Kafka message (offset to mark done) or the retry poller. */
    bool from_kafka;
    int32_t partition;
    int64_t offset;
    uint32_t generation;

    /* The lease: the poller's before the claim ("" for Kafka), the claim's after. */
    char lease[SENDER_DB_LEASE_LEN];
    int attempts;
    int64_t created_ms;
} job;

/* A workspace installation as the sender uses it. */
typedef struct ws_entry {
    char *team_id;
    int64_t fetched_ms; /* monotonic; 0: never */
    bool found;
    bool revoked;
    char reason[64];
    bool key_error; /* the stored token could not be opened with our key */
    char *token;    /* SECRET: never logged; wiped when freed */
    unsigned char *token_enc;
    size_t token_enc_len;
    unsigned token_gen;       /* bumped whenever token changes (a flight knows which it used) */
    bool rotating;            /* token rotation: a refresh token is stored */
    int64_t expires_at_ms;    /* wall clock; 0: the token does not expire */
    int64_t refresh_retry_ms; /* monotonic: no refresh attempt before (after a transient failure) */
    ratelimit_bucket lookups;
    /* Recent 429s: which channels, when (workspace-wide detection). */
    int64_t r429_ms[WS429_CHANNELS * 2];
    char r429_chan[WS429_CHANNELS * 2][96];
    size_t r429_next;
} ws_entry;

typedef struct target_entry {
    sender_db_target t;
    int64_t fetched_ms;
} target_entry;

typedef struct user_entry {
    char user_id[64]; /* "" = no such user */
    int64_t expires_ms;
} user_entry;

typedef enum flight_stage { STAGE_LOOKUP, STAGE_POST } flight_stage;

/* One request to Slack for one channel (one delivery, or a digest of many). */
typedef struct flight {
    struct flight *prev, *next;
    slack_request *req;
    dispatch_channel *chan;
    ws_entry *ws;
    job **jobs;
    size_t njobs;
    flight_stage stage;
    char email[256];    /* STAGE_LOOKUP: the address */
    char post_to[128];  /* chat.postMessage channel */
    char resolved[128]; /* for targets.destination_resolved */
    char thread_ts[64]; /* reply into this thread ("" top level) */
    bool thread_track;  /* update slack_threads on success */
    bool thread_reply;  /* this is a reply in an existing streak */
    bool lookup;        /* starts with users.lookupByEmail */
    unsigned token_gen; /* the ws_entry token_gen its request was built with */
    bool token_retried; /* token_expired was answered once: refreshed and sent again */
    const sender_db_target *target;
    render_output msg;
} flight;

/* An outcome whose PostgreSQL write failed (database away): retried until it lands. */
typedef enum outcome_kind { OUT_SENT, OUT_RETRY, OUT_FAILED } outcome_kind;
typedef struct outcome {
    struct outcome *next;
    outcome_kind kind;
    job **jobs;
    size_t njobs;
    int64_t *due_ms;
    char *channel, *ts, *thread_ts, *resolved, *code, *reason;
    int digest_size;
} outcome;

struct sender {
    sender_config cfg;
    unsigned char key[CRYPTO_KEY_LEN];
    backoff_policy backoff;
    atomic_int stop; /* lock-free: set from other threads or a signal handler */
    int wake[2];     /* librdkafka's queue events and sender_stop() write here */

    db_link *db;         /* owns the connection, reconnects with backoff (sender_link.c) */
    atomic_bool db_down; /* the link is down: mirrors db for the /healthz thread */
    char db_error[512];  /* the link's last failure (sender_link_open's error) */

    rd_kafka_t *rk;  /* consumer */
    rd_kafka_t *dlq; /* producer for the dead-letter topic */
    rd_kafka_topic_t *rkt;
    rd_kafka_queue_t *cq;
    bool consuming_paused;
    bool kafka_more; /* the last drain stopped at the batch limit */

    /* Partitions assigned to us and the topic's partition count: which
     * workspaces we own (the router keys deliveries by team id). */
    int32_t *assigned;
    size_t nassigned;
    int32_t npartitions;
    int32_t (*partitioner)(const rd_kafka_topic_t *, const void *, size_t, int32_t, void *, void *);
    char **owned; /* team ids we own */
    size_t nowned;
    int64_t owned_at_ms;

    CURLM *multi;
    dispatch *disp;
    offsets *offs;
    strmap *inmem;      /* delivery id -> job (queued or in flight) */
    strmap *workspaces; /* team id -> ws_entry */
    strmap *targets;    /* target id -> target_entry */
    strmap *users;      /* team '\x1f' email -> user_entry */

    flight *flights; /* in flight, for the shutdown */
    size_t in_flight;
    outcome *pending, **pending_tail;

    int64_t next_poll_ms;
    int64_t next_housekeeping_ms;
    int64_t next_prune_ms;
    render_opts ropts;

    httpd *ops;
    sender_metrics m;
    sender_stats stats;

    /* Token rotation: the Slack app's credentials (copies; the secret is wiped on destroy). */
    char *client_id;
    char *client_secret;
};

/* The decimal text of a delivery or target id (the key of the in-memory maps). */
static inline void id_key(int64_t id, char buf[24])
{
    snprintf(buf, 24, "%lld", (long long)id);
}

/* ---- sender.c ---------------------------------------------------------------------------- */

/* sender_stop() was called or a stop signal arrived. */
bool sender_stopping(sender *s);

/* ---- sender_link.c ----------------------------------------------------------------------- */

/* Creates the link and connects (a database down at startup is an error:
 * errstr as db_connect's). Returns 0 or -1. */
int sender_link_open(sender *s, const char *conninfo, char *errstr, size_t errstr_size);
/*
 * The connection for a statement now, or NULL while the database is away
 * (connects when the link's backoff allows; otherwise returns at once). Do
 * not keep it across anything that may call sender_link_failed: a lost
 * connection is closed there.
 */
PGconn *sender_conn(sender *s);
/* Notes a failed statement: a lost link stops claims and polls until it is
 * back (db_link_lost); an error of the statement's own is only logged. */
void sender_link_failed(sender *s, const char *what, const char *err);

/* ---- sender_metrics.c -------------------------------------------------------------------- */

void sender_metrics_init(sender_metrics *m);
/* The gauges: channels waiting, deliveries queued, requests in flight. */
void sender_update_gauges(sender *s);

/* ---- sender_cache.c ---------------------------------------------------------------------- */

/* The maps of the caches (workspaces, targets, users): made empty, destroyed with their rows. */
void sender_caches_init(sender *s);
void sender_caches_dispose(sender *s);
/* The workspace entry, loaded or refreshed when stale; NULL only when the
 * database cannot be read now. */
ws_entry *sender_workspace(sender *s, const char *team_id, int64_t now);
/* The target's settings; NULL only when the database cannot be read now. */
const sender_db_target *sender_target(sender *s, int64_t target_id, int64_t now);
/* 1: known (user_id "" = no such user), 0: unknown (ask Slack), -1: database away. */
int sender_user_cached(sender *s, const char *team_id, const char *email, char *user_id,
                       size_t size, int64_t now);
/* Remembers a users.lookupByEmail answer (user_id NULL: no such user). */
void sender_user_remember(sender *s, const char *team_id, const char *email, const char *user_id,
                          int64_t now);

/* ---- sender_token.c ---------------------------------------------------------------------- */

typedef enum refresh_outcome {
    REFRESH_OK,      /* w holds a usable token (refreshed here or by another process) */
    REFRESH_LATER,   /* failed for now (Slack, network, database): try again later */
    REFRESH_REVOKED, /* Slack refused for good: w is revoked (w->reason the code) */
    REFRESH_NONE     /* no rotation data or no client credentials: today's behaviour */
} refresh_outcome;

/* The Slack app's credentials are configured: tokens can be refreshed. */
bool sender_rotation_ready(const sender *s);
/* The token of w expires within the margin and may be refreshed now. */
bool sender_token_due(const sender *s, const ws_entry *w, int64_t now);
/* Refreshes w's token (stale: the token Slack refused, or NULL) and reloads w. */
refresh_outcome sender_token_refresh(sender *s, ws_entry *w, const char *stale, int64_t now);
/* Slack answered token_expired to f: refresh and send f again, once. True when
 * f is in flight again; otherwise its jobs are retried or failed. */
bool sender_token_expired(sender *s, flight *f, int64_t now);

/* ---- sender_intake.c --------------------------------------------------------------------- */

void sender_job_destroy(job *j); /* NULL-safe */
/* Stores the storable offset of every partition whose offset moved. */
void sender_store_offsets(sender *s);
/* Handles the Kafka messages waiting (at most a batch per loop turn). */
void sender_consume(sender *s, int64_t now);
/* Leases due retries (and deliveries whose sender died) back into the queues. */
void sender_poll_retries(sender *s, int64_t now);
/* librdkafka's rebalance callback (opaque: the sender). */
void sender_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);

/* ---- sender_plan.c ----------------------------------------------------------------------- */

/* Starts every request the pacing allows now; returns ms until the next may go (-1: none). */
int64_t sender_dispatch_ready(sender *s, int64_t now);

/* ---- sender_flight.c --------------------------------------------------------------------- */

void sender_flight_destroy(flight *f); /* NULL-safe; its jobs are not its to destroy */
/* Build f's chat.postMessage / users.lookupByEmail request and add it to curl multi. */
bool sender_flight_post(sender *s, flight *f);
bool sender_flight_lookup(sender *s, flight *f);
/* Renders f's message (one delivery, a thread reply or a digest). */
bool sender_flight_render(sender *s, flight *f, const sender_db_target *t);
/* Takes f out of the list of flights in flight. */
void sender_flight_unlink(sender *s, flight *f);
/* Runs curl multi and handles every finished transfer. */
void sender_drain_multi(sender *s);

/* ---- sender_outcome.c -------------------------------------------------------------------- */

void sender_outcome_destroy(outcome *o); /* NULL-safe; its jobs are not its to destroy */
/* Writes the queued outcomes in order. */
void sender_flush_pending(sender *s);
/* Fails claimed jobs permanently / retries them with backoff (or gives up). */
void sender_fail_jobs(sender *s, job **jobs, size_t n, const char *code, const char *reason);
void sender_retry_jobs(sender *s, job **jobs, size_t n, const char *code, const char *reason,
                       const char *cause, int64_t not_before_wall_ms);
/* Claims (without counting an attempt) and fails; false when the database is away. */
bool sender_fail_now(sender *s, job **jobs, size_t n, const char *code, const char *reason);
/* A job that could not be claimed: logged, and retired. */
void sender_drop_unclaimed(sender *s, job *j);
/* Reactions to Slack's answers: a 429, a message posted, an installation error. */
void sender_handle_429(sender *s, flight *f, int retry_after_ms, int64_t now);
void sender_on_sent(sender *s, flight *f, const slack_result *res, int64_t now_wall);
void sender_revoke_workspace(sender *s, ws_entry *w, const char *code);

#endif
