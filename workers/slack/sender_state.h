#ifndef HERALD_SENDER_STATE_H
#define HERALD_SENDER_STATE_H

/*
 * herald-slack's shared state, the bottom floor of the engine (the map of the
 * floors is in sender_internal.h): the sender (struct sender), a delivery in
 * memory (job), a request to Slack (flight), a queued outcome, the cached
 * workspace/target/user rows, and the few helpers every floor uses (a job's
 * lifetime, the stop flag, the id keys). It calls no other file of the engine.
 */

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
#include "workers/slack/sender_config.h"
#include "workers/slack/sender_db.h"
#include "workers/slack/sender_stats.h"

#include "store/messages.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sender sender;

/* NOTIFY channel herald-api uses when it inserts pending rows (nudges); payload: team id. */
#define SENDER_WAKE_CHANNEL "herald_wake"

/* A 429 on this many distinct channels of one workspace within the window
 * means the workspace-wide limit, not a channel's. */
#define WS429_CHANNELS  3
#define WS429_WINDOW_MS 2000

typedef struct sender_metrics {
    metrics_counter *consumed, *deadlettered, *requests, *rate_limited, *retries, *deliveries,
        *digests, *folded, *revoked, *refreshes, *reconciled, *resolves, *nudges, *updates;
    metrics_histogram *latency;
    metrics_gauge *channels_waiting, *queued, *in_flight, *oldest_pending;
} sender_metrics;

/* What a delivery does (deliveries.kind): a message of its own (or a thread reply,
 * or a line of a digest); the edit of the notification a passing result resolves;
 * a direct message nudging one failing user. */
typedef enum job_dkind { JOB_NOTIFY = 0, JOB_RESOLVE, JOB_NUDGE } job_dkind;

/* One delivery in memory. */
typedef struct job {
    int64_t id;
    char event_id[37];
    int64_t target_id;
    char *tenant_id;
    char *team_id;
    char *destination; /* as routed: channel id, #name, email or user id */
    bool is_email;     /* needs users.lookupByEmail before posting */
    char *kind;        /* events.kind: check_result, collection_event, test, nudge */
    job_dkind dk;
    char ref_event_id[37]; /* resolve, nudge: the notification's event */
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
    ratelimit_bucket updates; /* chat.update (Tier 3): resolves and message refreshes */
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

/* STAGE_UPDATE: a resolve's chat.update (then maybe its thread reply, STAGE_POST);
 * STAGE_REFRESH: a message refresh after its nudges ended (no jobs, no channel). */
typedef enum flight_stage { STAGE_LOOKUP, STAGE_POST, STAGE_UPDATE, STAGE_REFRESH } flight_stage;

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
    /* A resolve: the edit (chat.update of upd), then the resolved reply in msg when
     * reply_after; sent_channel/sent_ts: recorded on the resolve delivery. */
    message_update upd;
    bool has_update;
    bool update_token; /* planning took a token of ws->updates (a resolve) */
    bool reply_after;
    char sent_channel[64];
    char sent_ts[64];
    int64_t refresh_target_id; /* STAGE_REFRESH: the notification's target */
} flight;

/* A notification whose nudges may all be done: its message is refreshed. */
typedef struct refresh_req {
    struct refresh_req *next;
    char event_id[37];
    int64_t target_id;
    int64_t not_before_ms; /* monotonic: rate-limited until */
} refresh_req;

/* An outcome whose PostgreSQL write failed (database away): retried until it lands. */
typedef enum outcome_kind { OUT_SENT, OUT_RETRY, OUT_FAILED, OUT_SUPPRESSED } outcome_kind;
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
    char instance_id[256]; /* --instance-id, or the host name: group.instance.id, claimed_by */
    crypto_keyring key[1]; /* an array of one: `s->key` is the keyring pointer */
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
    /* assigned holds the previous run's partitions (sender_instances) until
     * Kafka's first assignment: their pending deliveries come from PostgreSQL. */
    bool resumed;
    bool assignment_saved;    /* sender_instances has the current assignment */
    int64_t instance_seen_ms; /* when sender_instances was last refreshed */
    int64_t pending_read_ms;  /* when the oldest pending delivery's age was last read */

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
    refresh_req *refreshes; /* messages to refresh once the outcomes before are written */

    /* LISTEN herald_wake: workspaces whose pending rows are to be leased at once. */
    char **woken;
    size_t nwoken;

    int64_t next_poll_ms;
    int64_t next_housekeeping_ms;
    int64_t next_prune_ms;
    int64_t next_fold_ms; /* the rollups' change log (store_stats_fold) */
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

/* sender_stop() was called or a stop signal arrived. */
bool sender_stopping(sender *s);

void sender_job_destroy(job *j); /* NULL-safe */

#endif
