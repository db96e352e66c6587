/*
 * herald-slack's engine: the consume loop, the per-channel dispatch, the
 * Slack requests over curl multi, the outcome bookkeeping in PostgreSQL and
 * the offsets. Overview and delivery semantics in sender.h.
 *
 * @locality: everything here runs on the thread that calls sender_run(),
 * except sender_stop() (any thread, signal-safe) and the metrics/health
 * callbacks (the HTTP server's thread; they only read metrics).
 */
#include "workers/slack/sender.h"

#include "common/backoff.h"
#include "common/crypto.h"
#include "common/db.h"
#include "workers/slack/dispatch.h"
#include "common/event.h"
#include "common/httpd.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "workers/slack/offsets.h"
#include "common/ratelimit.h"
#include "common/render.h"
#include "workers/slack/sender_db.h"
#include "common/slack.h"
#include "store/token_refresh.h"
#include "common/strmap.h"
#include "common/util.h"

#include <ctype.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* How long cached rows are trusted before being read again. */
#define WORKSPACE_TTL_MS 30000
#define REVOKED_TTL_MS   2000
#define TARGET_TTL_MS    30000
#define TEAMS_TTL_MS     10000
/* A token refresh that failed for now (Slack 5xx, network, database) is tried
 * again after this long at the earliest, so a Slack outage costs one blocking
 * attempt per workspace per period, not one per delivery. */
#define REFRESH_RETRY_MS 10000
/* Kafka messages handled per loop turn, so Slack answers are not starved. */
#define CONSUME_BATCH 500
/* Retries leased per poll. */
#define POLL_BATCH 200
/* A 429 on this many distinct channels of one workspace within the window
 * means the workspace-wide limit, not a channel's. */
#define WS429_CHANNELS  3
#define WS429_WINDOW_MS 2000

/* ==== metrics ============================================================================= */

typedef struct sender_metrics {
    metrics_counter *consumed, *deadlettered, *requests, *rate_limited, *retries, *deliveries,
        *digests, *folded, *revoked, *refreshes;
    metrics_histogram *latency;
    metrics_gauge *channels_waiting, *queued, *in_flight;
} sender_metrics;

static void metrics_init(sender_metrics *m)
{
    m->consumed = metrics_counter_new("herald_slack_messages_consumed_total",
                                      "Routed deliveries consumed from Kafka.", NULL);
    m->deadlettered = metrics_counter_new("herald_slack_deadlettered_total",
                                          "Routed deliveries sent to the dead-letter topic.", NULL);
    m->requests = metrics_counter_new("herald_slack_requests_total",
                                      "Slack Web API requests by method and outcome class.",
                                      "method,outcome");
    m->rate_limited = metrics_counter_new("herald_slack_rate_limited_total",
                                          "HTTP 429 answers from Slack, by paused scope.", "scope");
    m->retries =
        metrics_counter_new("herald_slack_retries_scheduled_total",
                            "Delivery retries scheduled in PostgreSQL, by cause.", "cause");
    m->deliveries = metrics_counter_new("herald_slack_deliveries_total",
                                        "Deliveries that reached a final state.", "state");
    m->digests =
        metrics_counter_new("herald_slack_digests_sent_total", "Digest messages posted.", NULL);
    m->folded = metrics_counter_new("herald_slack_deliveries_folded_total",
                                    "Deliveries sent folded into a digest.", NULL);
    m->revoked =
        metrics_counter_new("herald_slack_installations_revoked_total",
                            "Workspace installations marked unusable after a token error.", NULL);
    m->refreshes = metrics_counter_new(
        "herald_slack_token_refreshes_total",
        "Token rotation: bot token refreshes by outcome (refreshed: at Slack by this sender; "
        "reused: another process had refreshed it; failed_transient; failed_permanent).",
        "outcome");
    double b[14];
    metrics_buckets_exponential(0.05, 2.0, 14, b); /* 50 ms .. ~7 min */
    m->latency = metrics_histogram_new(
        "herald_slack_delivery_latency_seconds",
        "Time from routing (the event entering the pipeline) to Slack accepting the message.", NULL,
        b, 14);
    m->channels_waiting = metrics_gauge_new(
        "herald_slack_channels_waiting", "Channels with deliveries waiting for their turn.", NULL);
    m->queued = metrics_gauge_new("herald_slack_deliveries_queued",
                                  "Deliveries held in memory waiting for their channel.", NULL);
    m->in_flight = metrics_gauge_new("herald_slack_requests_in_flight",
                                     "Slack requests currently in flight.", NULL);
}

/* ==== state =============================================================================== */

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

    PGconn *db;
    atomic_bool db_down; /* also read by the /healthz thread */
    int64_t db_retry_ms;

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

/* ==== small helpers ======================================================================= */

static void id_key(int64_t id, char buf[24])
{
    snprintf(buf, 24, "%lld", (long long)id);
}

static char *lower_dup(const char *s)
{
    char *d = xstrdup(s);
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

/* The queue key of a destination: names and emails are case-insensitive in
 * Slack, ids are not. */
static char *channel_key(const char *destination)
{
    if (destination[0] == '#' || strchr(destination, '@'))
        return lower_dup(destination);
    return xstrdup(destination);
}

static bool needs_lookup(const job *j)
{
    return j->is_email && strchr(j->destination, '@') != NULL;
}

static void job_free(job *j)
{
    if (!j)
        return;
    free(j->tenant_id);
    free(j->team_id);
    free(j->destination);
    free(j->kind);
    free(j->event_json);
    event_destroy(j->ev);
    free(j);
}

static void user_entry_free(void *v)
{
    free(v);
}

static void target_entry_free(void *v)
{
    free(v);
}

static void ws_entry_free(void *v)
{
    ws_entry *w = v;
    if (!w)
        return;
    if (w->token) {
        crypto_wipe(w->token, strlen(w->token));
        free(w->token);
    }
    free(w->token_enc);
    free(w->team_id);
    free(w);
}

static void sender_wake(sender *s)
{
    char c = 's';
    ssize_t n = write(s->wake[1], &c, 1);
    (void)n; /* a full pipe already wakes the loop */
}

void sender_stop(sender *s)
{
    atomic_store(&s->stop, 1);
    sender_wake(s);
}

static bool stopping(sender *s)
{
    return atomic_load(&s->stop) || util_should_stop();
}

void sender_get_stats(const sender *s, sender_stats *out)
{
    *out = s->stats;
}

/* ==== database link ======================================================================= */

/* Notes a failed statement: a lost link stops claims and polls until it is back. */
static void db_failed(sender *s, const char *what, const char *err)
{
    if (db_connection_lost(s->db)) {
        if (!s->db_down)
            LOG_ERROR("database connection lost (%s): %s; holding work until it is back", what,
                      err);
        s->db_down = true;
    } else {
        LOG_ERROR("database: %s: %s", what, err);
    }
}

/* Reconnects at most once a second. True when the link is usable. */
static bool db_ready(sender *s)
{
    if (!s->db_down && !db_connection_lost(s->db))
        return true;
    s->db_down = true;
    int64_t now = util_now_mono_ms();
    if (now < s->db_retry_ms)
        return false;
    s->db_retry_ms = now + 1000;
    PQreset(s->db);
    if (PQstatus(s->db) != CONNECTION_OK)
        return false;
    PGresult *r = PQexec(s->db, "SET client_min_messages = warning");
    PQclear(r);
    LOG_INFO("database connection re-established");
    s->db_down = false;
    return true;
}

/* ==== caches: workspaces, targets, users ================================================== */

/* The workspace entry, loaded or refreshed from PostgreSQL when stale. NULL
 * only when the database cannot be read now. */
static ws_entry *workspace(sender *s, const char *team_id, int64_t now)
{
    ws_entry *w = strmap_get(s->workspaces, team_id);
    /* An unusable installation is looked at again soon: a reinstall should take
     * effect within seconds, and failing fast costs one query every few seconds. */
    int64_t ttl =
        w && (w->revoked || !w->found || w->key_error) ? REVOKED_TTL_MS : WORKSPACE_TTL_MS;
    if (w && w->fetched_ms && now - w->fetched_ms < ttl)
        return w;
    if (!w) {
        w = xcalloc(1, sizeof *w);
        w->team_id = xstrdup(team_id);
        ratelimit_init(&w->lookups, s->cfg.lookup_rate / 60.0, 5, now);
        strmap_put(s->workspaces, team_id, w);
    }
    if (!db_ready(s))
        return w->fetched_ms ? w : NULL;
    sender_db_workspace row;
    char err[512];
    if (sender_db_workspace_get(s->db, team_id, &row, err, sizeof err)) {
        db_failed(s, "reading the workspace", err);
        return w->fetched_ms ? w : NULL;
    }
    /* Same sealed token as before: keep the opened one (no decrypt per refresh). */
    bool same = w->token && row.token_enc && row.token_enc_len == w->token_enc_len &&
                !memcmp(row.token_enc, w->token_enc, row.token_enc_len);
    if (!same) {
        if (w->token) {
            crypto_wipe(w->token, strlen(w->token));
            free(w->token);
            w->token = NULL;
        }
        free(w->token_enc);
        w->token_gen++;
        w->token_enc = row.token_enc;
        w->token_enc_len = row.token_enc_len;
        row.token_enc = NULL;
        w->key_error = false;
        if (w->token_enc) {
            char cerr[256];
            if (crypto_open(s->key, w->token_enc, w->token_enc_len, &w->token, cerr, sizeof cerr)) {
                w->token = NULL;
                w->key_error = true;
                LOG_ERROR("workspace %s: the stored bot token cannot be opened: %s", team_id, cerr);
            }
        }
    }
    w->found = row.found;
    w->rotating = row.rotating;
    w->expires_at_ms = row.expires_at_ms;
    bool was_revoked = w->revoked;
    w->revoked = row.revoked || (row.found && !row.token_enc_len && !w->token_enc);
    snprintf(w->reason, sizeof w->reason, "%s", row.revoked_reason);
    if (was_revoked && !w->revoked)
        LOG_INFO("workspace %s is usable again (reinstalled)", team_id);
    w->fetched_ms = now;
    sender_db_workspace_dispose(&row);
    return w;
}

/* ==== token rotation ====================================================================== */

static bool rotation_ready(const sender *s)
{
    return s->client_id && *s->client_id && s->client_secret && *s->client_secret;
}

/* The token of w expires within the margin and may be refreshed now. */
static bool token_due(const sender *s, const ws_entry *w, int64_t now)
{
    return w->rotating && w->expires_at_ms > 0 && rotation_ready(s) &&
           w->expires_at_ms - util_now_wall_ms() <= s->cfg.token_refresh_margin_ms &&
           now >= w->refresh_retry_ms;
}

typedef enum refresh_outcome {
    REFRESH_OK,      /* w holds a usable token (refreshed here or by another process) */
    REFRESH_LATER,   /* failed for now (Slack, network, database): try again later */
    REFRESH_REVOKED, /* Slack refused for good: w is revoked (w->reason the code) */
    REFRESH_NONE     /* no rotation data or no client credentials: today's behaviour */
} refresh_outcome;

/*
 * Refreshes w's token through store_workspace_refresh (row lock: one process
 * refreshes an installation at a time; another sender instance, herald-api or
 * this one may already have done it, in which case the stored token is
 * reused). stale: the token Slack answered token_expired for, or NULL for a
 * token about to expire. Reloads w from PostgreSQL afterwards, so the cache
 * follows the new token and expiry.
 *
 * Synchronous on purpose, on the loop's thread: a refresh happens about once
 * per token lifetime (12 h at Slack) per workspace and costs one transaction
 * and one Slack request bounded by --request-timeout; waiting for another
 * process's refresh is bounded by the same timeout (lock_timeout). Stalling
 * the loop that rarely, that briefly, is cheaper than holding a row lock
 * across loop turns.
 */
static refresh_outcome refresh_token(sender *s, ws_entry *w, const char *stale, int64_t now)
{
    if (!w->rotating || !rotation_ready(s))
        return REFRESH_NONE;
    if (now < w->refresh_retry_ms || !db_ready(s))
        return REFRESH_LATER;
    store_slack_app app = {.api_base = s->cfg.common.slack_api_url,
                           .client_id = s->client_id,
                           .client_secret = s->client_secret,
                           .timeout_ms = (long)s->cfg.request_timeout_ms};
    store_token t;
    char err[512];
    store_status st =
        store_workspace_refresh(s->db, s->key, w->team_id, &app, s->cfg.token_refresh_margin_ms,
                                stale, &t, err, sizeof err);
    refresh_outcome out = REFRESH_OK;
    if (st == STORE_OK) {
        if (t.refreshed) {
            s->stats.token_refreshes++;
            metrics_counter_inc(s->m.refreshes, "refreshed");
        } else {
            metrics_counter_inc(s->m.refreshes, "reused");
        }
    } else if (st == STORE_CONFLICT && t.code[0] && !t.transient) {
        metrics_counter_inc(s->m.refreshes, "failed_permanent");
        metrics_counter_inc(s->m.revoked, NULL);
        LOG_ERROR("workspace %s: Slack refused to refresh the bot token (%s): installation marked "
                  "unusable; its deliveries fail until Herald is reinstalled",
                  w->team_id, t.code);
        out = REFRESH_REVOKED;
    } else {
        metrics_counter_inc(s->m.refreshes, "failed_transient");
        if (st == STORE_DB)
            db_failed(s, "refreshing the bot token", err);
        else
            LOG_WARN("%s", err); /* names the workspace and the code, never a token */
        w->refresh_retry_ms = now + REFRESH_RETRY_MS;
        out = REFRESH_LATER;
    }
    char code[64];
    snprintf(code, sizeof code, "%s", t.code[0] ? t.code : "token_expired");
    store_token_dispose(&t);
    if (out != REFRESH_LATER) {
        w->fetched_ms = 0; /* reload: the new token (sealed), its expiry, the revoked state */
        if (!workspace(s, w->team_id, now) && out == REFRESH_OK)
            out = REFRESH_LATER;
    }
    /* Still due after a successful call (PostgreSQL's clock and ours disagree
     * about the margin): do not ask again for every message. */
    if (out == REFRESH_OK && token_due(s, w, now))
        w->refresh_retry_ms = now + REFRESH_RETRY_MS;
    if (out == REFRESH_REVOKED && !w->revoked) { /* the reload failed: say it locally */
        w->revoked = true;
        snprintf(w->reason, sizeof w->reason, "%s", code);
    }
    return out;
}

/* The target's settings; NULL only when the database cannot be read now. */
static const sender_db_target *target(sender *s, int64_t target_id, int64_t now)
{
    char k[24];
    id_key(target_id, k);
    target_entry *t = strmap_get(s->targets, k);
    if (t && now - t->fetched_ms < TARGET_TTL_MS)
        return &t->t;
    if (!db_ready(s))
        return t ? &t->t : NULL;
    sender_db_target row;
    char err[512];
    if (sender_db_target_get(s->db, target_id, &row, err, sizeof err)) {
        db_failed(s, "reading the target", err);
        return t ? &t->t : NULL;
    }
    if (!t) {
        t = xcalloc(1, sizeof *t);
        strmap_put(s->targets, k, t);
    }
    t->t = row;
    t->fetched_ms = now;
    return &t->t;
}

static char *user_key(const char *team_id, const char *email)
{
    size_t n = strlen(team_id) + strlen(email) + 2;
    char *k = xmalloc(n);
    snprintf(k, n, "%s\x1f%s", team_id, email);
    for (char *p = k + strlen(team_id) + 1; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return k;
}

/* 1: known (user_id "" = no such user), 0: unknown (ask Slack), -1: database away. */
static int user_lookup_cached(sender *s, const char *team_id, const char *email, char *user_id,
                              size_t size, int64_t now)
{
    char *k = user_key(team_id, email);
    user_entry *u = strmap_get(s->users, k);
    if (u && now < u->expires_ms) {
        snprintf(user_id, size, "%s", u->user_id);
        free(k);
        return 1;
    }
    free(k);
    if (!db_ready(s))
        return -1;
    char err[512];
    int rc = sender_db_user_get(s->db, team_id, email, s->cfg.lookup_ttl_ms,
                                s->cfg.lookup_neg_ttl_ms, user_id, size, err, sizeof err);
    if (rc < 0) {
        db_failed(s, "reading the user cache", err);
        return -1;
    }
    if (rc == 1) {
        /* Remember it here for a while too (at most the shorter of the two TTLs). */
        char *k2 = user_key(team_id, email);
        user_entry *e = xcalloc(1, sizeof *e);
        snprintf(e->user_id, sizeof e->user_id, "%s", user_id);
        e->expires_ms = now + (s->cfg.lookup_neg_ttl_ms < 60000 ? s->cfg.lookup_neg_ttl_ms : 60000);
        free(strmap_put(s->users, k2, e));
        free(k2);
    }
    return rc;
}

static void user_remember(sender *s, const char *team_id, const char *email, const char *user_id,
                          int64_t now)
{
    char *k = user_key(team_id, email);
    user_entry *e = xcalloc(1, sizeof *e);
    snprintf(e->user_id, sizeof e->user_id, "%s", user_id ? user_id : "");
    e->expires_ms = now + (user_id && *user_id ? s->cfg.lookup_ttl_ms : s->cfg.lookup_neg_ttl_ms);
    free(strmap_put(s->users, k, e));
    free(k);
    char err[512];
    if (!s->db_down && sender_db_user_put(s->db, team_id, email, user_id, err, sizeof err))
        db_failed(s, "storing the user cache", err); /* only a cache: not fatal */
}

/* ==== jobs: finishing, offsets ============================================================ */

static void mark_offset_done(sender *s, const job *j)
{
    if (j->from_kafka)
        offsets_done(s->offs, TOPIC_DELIVERIES, j->partition, j->offset, j->generation);
}

/* The job's work is durable (or it was never ours): its offset may pass, it leaves memory. */
static void job_retire(sender *s, job *j)
{
    char k[24];
    id_key(j->id, k);
    if (strmap_get(s->inmem, k) == j)
        strmap_del(s->inmem, k);
    mark_offset_done(s, j);
    job_free(j);
}

/* Stores the storable offset of every partition whose offset moved. */
static void store_offsets(sender *s)
{
    rd_kafka_topic_partition_list_t *l = offsets_collect(s->offs, true);
    if (!l)
        return;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(s->rk, l);
    if (err && err != RD_KAFKA_RESP_ERR__STATE)
        LOG_WARN("storing offsets: %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

/* ==== outcomes ============================================================================ */

static const char **leases_of(job **jobs, size_t n)
{
    const char **v = xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = jobs[i]->lease;
    return v;
}

static int64_t *ids_of(job **jobs, size_t n)
{
    int64_t *v = xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = jobs[i]->id;
    return v;
}

/* Writes one outcome; true when it is in PostgreSQL. */
static bool outcome_write(sender *s, const outcome *o)
{
    if (!db_ready(s))
        return false;
    char err[512];
    int64_t *ids = ids_of(o->jobs, o->njobs);
    const char **leases = leases_of(o->jobs, o->njobs);
    int rc = 0;
    switch (o->kind) {
    case OUT_SENT:
        rc = sender_db_mark_sent(s->db, ids, o->njobs, o->channel, o->ts, o->thread_ts,
                                 o->digest_size, o->resolved, err, sizeof err);
        break;
    case OUT_RETRY:
        rc = sender_db_mark_retrying(s->db, ids, leases, o->due_ms, o->njobs, o->code, o->reason,
                                     err, sizeof err);
        break;
    case OUT_FAILED:
        rc = sender_db_mark_failed(s->db, ids, leases, o->njobs, o->code, o->reason, err,
                                   sizeof err);
        break;
    }
    free(ids);
    free(leases);
    if (rc < 0) {
        db_failed(s, "recording an outcome", err);
        return false;
    }
    return true;
}

static void outcome_free(outcome *o)
{
    free(o->jobs);
    free(o->due_ms);
    free(o->channel);
    free(o->ts);
    free(o->thread_ts);
    free(o->resolved);
    free(o->code);
    free(o->reason);
    free(o);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* Records the outcome for jobs[0..n): queued, and written by flush_pending at
 * the end of the loop turn (all 'sent' outcomes of the turn in one
 * statement), or when PostgreSQL is back; the jobs retire (offsets move) only
 * once it is written. Takes the jobs. */
static void record(sender *s, outcome_kind kind, job **jobs, size_t n, const int64_t *due_ms,
                   const char *channel, const char *ts, const char *thread_ts, const char *resolved,
                   const char *code, const char *reason, int digest_size)
{
    if (n == 0)
        return;
    outcome *o = xcalloc(1, sizeof *o);
    o->kind = kind;
    o->jobs = xmalloc(n * sizeof *o->jobs);
    memcpy(o->jobs, jobs, n * sizeof *jobs);
    o->njobs = n;
    if (due_ms) {
        o->due_ms = xmalloc(n * sizeof *o->due_ms);
        memcpy(o->due_ms, due_ms, n * sizeof *due_ms);
    }
    o->channel = dup_or_null(channel);
    o->ts = dup_or_null(ts);
    o->thread_ts = dup_or_null(thread_ts);
    o->resolved = dup_or_null(resolved);
    o->code = dup_or_null(code);
    o->reason = dup_or_null(reason);
    o->digest_size = digest_size;
    /* Order is kept: a later outcome never lands before an earlier one. */
    *s->pending_tail = o;
    s->pending_tail = &o->next;
}

/* Removes the first n outcomes of the queue, retiring their jobs. */
static void pending_done(sender *s, size_t n)
{
    while (n-- > 0 && s->pending) {
        outcome *o = s->pending;
        s->pending = o->next;
        if (!s->pending)
            s->pending_tail = &s->pending;
        for (size_t i = 0; i < o->njobs; i++)
            job_retire(s, o->jobs[i]);
        outcome_free(o);
    }
}

/* Writes the queued outcomes in order: runs of 'sent' as one statement each. */
static void flush_pending(sender *s)
{
    while (s->pending) {
        if (s->pending->kind != OUT_SENT) {
            if (!outcome_write(s, s->pending))
                return;
            pending_done(s, 1);
            continue;
        }
        size_t nout = 0, nrows = 0;
        for (outcome *o = s->pending; o && o->kind == OUT_SENT && nrows < 2000; o = o->next) {
            nout++;
            nrows += o->njobs;
        }
        sender_db_sent_row *rows = xmalloc(nrows * sizeof *rows);
        size_t k = 0, i = 0;
        for (outcome *o = s->pending; i < nout; o = o->next, i++)
            for (size_t j = 0; j < o->njobs; j++)
                rows[k++] = (sender_db_sent_row){o->jobs[j]->id, o->channel,  o->ts,
                                                 o->thread_ts,   o->resolved, o->digest_size};
        char err[512];
        int rc = db_ready(s) ? sender_db_mark_sent_rows(s->db, rows, nrows, err, sizeof err) : -1;
        free(rows);
        if (rc < 0) {
            if (!s->db_down)
                db_failed(s, "recording sent deliveries", err);
            return;
        }
        pending_done(s, nout);
    }
}

static void count_final(sender *s, const char *state, size_t n)
{
    metrics_counter_add(s->m.deliveries, state, (double)n);
    if (!strcmp(state, "sent"))
        s->stats.sent += (int64_t)n;
    else
        s->stats.failed += (int64_t)n;
}

/* Fails claimed jobs permanently with a Slack code and a readable reason. */
static void fail_jobs(sender *s, job **jobs, size_t n, const char *code, const char *reason)
{
    for (size_t i = 0; i < n; i++)
        LOG_INFO("delivery %lld target %lld -> %s: failed: %s (%s)", (long long)jobs[i]->id,
                 (long long)jobs[i]->target_id, jobs[i]->destination, code, reason);
    count_final(s, "failed", n);
    record(s, OUT_FAILED, jobs, n, NULL, NULL, NULL, NULL, NULL, code, reason, 0);
}

/* A retriable failure of claimed jobs: retrying with backoff (or at not_before_ms
 * when later, for a 429), or failed when their age is up. */
static void retry_jobs(sender *s, job **jobs, size_t n, const char *code, const char *reason,
                       const char *cause, int64_t not_before_wall_ms)
{
    int64_t now = util_now_wall_ms();
    job **again = xmalloc(n * sizeof *again), **give_up = xmalloc(n * sizeof *give_up);
    int64_t *due = xmalloc(n * sizeof *due);
    size_t na = 0, ng = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t d;
        if (backoff_next(&s->backoff, jobs[i]->attempts, jobs[i]->created_ms, now, backoff_random(),
                         &d)) {
            if (d < not_before_wall_ms)
                d = not_before_wall_ms;
            due[na] = d;
            again[na++] = jobs[i];
            LOG_INFO("delivery %lld target %lld -> %s: attempt %d: %s; retrying in %.1fs",
                     (long long)jobs[i]->id, (long long)jobs[i]->target_id, jobs[i]->destination,
                     jobs[i]->attempts, code, (double)(d - now) / 1000.0);
        } else {
            give_up[ng++] = jobs[i];
        }
    }
    if (na) {
        metrics_counter_add(s->m.retries, cause, (double)na);
        s->stats.retries_scheduled += (int64_t)na;
        record(s, OUT_RETRY, again, na, due, NULL, NULL, NULL, NULL, code, reason, 0);
    }
    if (ng) {
        char why[512];
        snprintf(why, sizeof why, "gave up after %d attempts over %.1f hours: %s",
                 give_up[0]->attempts, (double)s->backoff.max_age_ms / 3600000.0, reason);
        fail_jobs(s, give_up, ng, code, why);
    }
    free(again);
    free(give_up);
    free(due);
}

/* ==== claims ============================================================================== */

/* Jobs that could not be claimed: someone else's, already done, or bogus. */
static void drop_unclaimed(sender *s, job *j)
{
    sender_db_row_state st = SENDER_DB_ROW_DONE;
    char err[512];
    if (j->from_kafka && !s->db_down &&
        sender_db_row_state_of(s->db, j->id, j->event_id, j->target_id, &st, err, sizeof err)) {
        db_failed(s, "checking a delivery", err);
        st = SENDER_DB_ROW_DONE;
    }
    if (st == SENDER_DB_ROW_MISSING) {
        /* The router writes the row before publishing: a message without one is not
         * ours to post. Say so loudly; the message itself is already consumed. */
        LOG_ERROR("delivery %lld (event %s, target %lld): no such delivery row: not sent",
                  (long long)j->id, j->event_id, (long long)j->target_id);
    } else {
        LOG_DEBUG("delivery %lld: %s", (long long)j->id,
                  st == SENDER_DB_ROW_DONE ? "already sent or failed: skipped"
                                           : "owned by another sender or a due retry: skipped");
    }
    job_retire(s, j);
}

/*
 * Claims jobs[0..*n) (count_attempt: this is an attempt at Slack). Claimed
 * ones are compacted to the front and *n updated; the others are dropped.
 * Returns false when the database is away (nothing claimed, jobs untouched).
 */
static bool claim_jobs(sender *s, job **jobs, size_t *n, bool count_attempt)
{
    if (!db_ready(s))
        return false;
    sender_db_claim_req *reqs = xmalloc(*n * sizeof *reqs);
    sender_db_claim_res *res = xmalloc(*n * sizeof *res);
    for (size_t i = 0; i < *n; i++)
        reqs[i] = (sender_db_claim_req){jobs[i]->id, jobs[i]->event_id, jobs[i]->target_id,
                                        jobs[i]->lease};
    char err[512];
    int rc = sender_db_claim(s->db, reqs, *n, s->cfg.claim_lease_ms, count_attempt, res, err,
                             sizeof err);
    if (rc < 0) {
        db_failed(s, "claiming deliveries", err);
        free(reqs);
        free(res);
        return false;
    }
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        if (res[i].claimed) {
            jobs[i]->attempts = res[i].attempts;
            jobs[i]->created_ms = res[i].created_ms;
            snprintf(jobs[i]->lease, sizeof jobs[i]->lease, "%s", res[i].lease);
            jobs[k++] = jobs[i];
        } else {
            drop_unclaimed(s, jobs[i]);
        }
    }
    *n = k;
    free(reqs);
    free(res);
    return true;
}

/* Claims (without counting an attempt) and fails: for deliveries that must not
 * reach Slack (installation unusable, target removed, bad event). */
static bool fail_now(sender *s, job **jobs, size_t n, const char *code, const char *reason)
{
    if (!claim_jobs(s, jobs, &n, false))
        return false;
    fail_jobs(s, jobs, n, code, reason);
    return true;
}

/* ==== starting requests =================================================================== */

static event *job_event(job *j, char *err, size_t err_size)
{
    if (j->ev)
        return j->ev;
    event_kind k;
    if (!strcmp(j->kind, "check_result"))
        k = EVENT_CHECK_RESULT;
    else if (!strcmp(j->kind, "collection_event"))
        k = EVENT_COLLECTION;
    else {
        snprintf(err, err_size, "kind: unknown event kind '%s'", j->kind);
        return NULL;
    }
    if (!j->event_json) {
        snprintf(err, err_size, "event: missing");
        return NULL;
    }
    if (event_parse(j->event_json, strlen(j->event_json), k, &j->ev, err, err_size))
        return NULL;
    return j->ev;
}

static void flight_free(flight *f)
{
    slack_request_destroy(f->req);
    render_output_dispose(&f->msg);
    free(f->jobs);
    free(f);
}

static bool flight_add(sender *s, flight *f)
{
    CURL *easy = slack_request_easy(f->req);
    slack_request_set_timeouts(f->req, (long)s->cfg.connect_timeout_ms,
                               (long)s->cfg.request_timeout_ms);
    slack_request_set_user(f->req, f);
    CURLMcode mc = curl_multi_add_handle(s->multi, easy);
    if (mc != CURLM_OK) {
        LOG_ERROR("curl_multi_add_handle: %s", curl_multi_strerror(mc));
        return false;
    }
    return true;
}

/* Builds the chat.postMessage request of f (message already rendered). */
static bool flight_post(sender *s, flight *f)
{
    slack_request_destroy(f->req);
    f->req = slack_request_post_message(s->cfg.common.slack_api_url, f->ws->token, f->post_to,
                                        f->msg.text, f->msg.blocks_json,
                                        f->thread_ts[0] ? f->thread_ts : NULL);
    f->token_gen = f->ws->token_gen;
    f->stage = STAGE_POST;
    return f->req && flight_add(s, f);
}

/* Builds the users.lookupByEmail request of f. */
static bool flight_lookup(sender *s, flight *f)
{
    slack_request_destroy(f->req);
    const char *fields[] = {"email", f->email, NULL};
    f->req = slack_request_new_form(s->cfg.common.slack_api_url, "users.lookupByEmail",
                                    f->ws->token, fields);
    f->token_gen = f->ws->token_gen;
    f->stage = STAGE_LOOKUP;
    return f->req && flight_add(s, f);
}

/*
 * Renders the message for f's jobs: one delivery (a thread reply when its
 * target threads repeats and the streak goes on), or a digest. Jobs whose
 * event cannot be rendered are failed and removed. False when none is left.
 */
static bool flight_render(sender *s, flight *f, const sender_db_target *t)
{
    char err[512];
    size_t k = 0;
    for (size_t i = 0; i < f->njobs; i++) {
        job *j = f->jobs[i];
        if (!strcmp(j->kind, "test") || job_event(j, err, sizeof err)) {
            f->jobs[k++] = j;
        } else {
            char reason[600];
            snprintf(reason, sizeof reason, "the event could not be read: %s", err);
            fail_jobs(s, &j, 1, "invalid_event", reason);
        }
    }
    f->njobs = k;
    if (!k)
        return false;
    if (k > 1) {
        const event **evs = xmalloc(k * sizeof *evs);
        for (size_t i = 0; i < k; i++)
            evs[i] = f->jobs[i]->ev;
        int rc = render_digest(evs, k, &s->ropts, &f->msg);
        free(evs);
        return rc == 0;
    }
    job *j = f->jobs[0];
    if (!strcmp(j->kind, "test"))
        return render_test_message(t ? t->name : NULL, &s->ropts, &f->msg) == 0;
    /* Threads for repeats. */
    if (s->cfg.threads && t && t->thread_repeats && j->ev->kind == EVENT_CHECK_RESULT &&
        !s->db_down) {
        sender_db_thread th;
        char key_dest[256];
        snprintf(key_dest, sizeof key_dest, "%s", j->destination);
        if (sender_db_thread_get(s->db, j->target_id, j->ev->check_type, &th, err, sizeof err)) {
            db_failed(s, "reading thread state", err);
        } else {
            f->thread_track = true;
            bool same_dest = th.found && !strcasecmp(th.destination, key_dest);
            int64_t age = j->ev->evaluated_at_ms - th.last_run_ms;
            if (same_dest && age >= 0 && age <= s->cfg.thread_max_age_ms) {
                int passed = sender_db_check_passed_between(s->db, j->tenant_id, j->ev->check_type,
                                                            th.last_run_ms, j->ev->evaluated_at_ms,
                                                            err, sizeof err);
                if (passed < 0)
                    db_failed(s, "reading check history", err);
                if (passed == 0) {
                    f->thread_reply = true;
                    snprintf(f->thread_ts, sizeof f->thread_ts, "%s", th.thread_ts);
                    snprintf(f->post_to, sizeof f->post_to, "%s", th.channel);
                    return render_check_repeat(j->ev, th.last_failing_count, &s->ropts, &f->msg) ==
                           0;
                }
            }
        }
    }
    return render_event(j->ev, &s->ropts, &f->msg) == 0;
}

/* Whether a queued job may be folded into a digest with the channel's head. */
static bool foldable(sender *s, job *j, int64_t now)
{
    if (!strcmp(j->kind, "test"))
        return false;
    const sender_db_target *t = target(s, j->target_id, now);
    return t && t->found && t->digest_enabled && t->enabled && !t->deleted;
}

/*
 * The channel c may send one request now (its tokens are taken). Decides
 * what to send: fail-fast, an email lookup, one message, or a digest of the
 * backlog, and takes those jobs off the queue. Returns the planned flight
 * (claimed and launched by claim_and_launch), or NULL when nothing is to be
 * sent (the channel is then released at once).
 */
static flight *plan_channel(sender *s, dispatch_channel *c, int64_t now)
{
    job *head = dispatch_channel_peek(c, 0);
    char reason[512];

    ws_entry *w = workspace(s, head->team_id, now);
    if (!w || s->db_down) {
        dispatch_release(s->disp, c, false, now);
        dispatch_pause_channel(s->disp, c, now + 1000);
        return NULL;
    }
    /* Token rotation: a token about to expire is refreshed before it is used. A
     * refresh that fails for now leaves the current token (it may still work;
     * token_expired is handled on the answer); one Slack refuses revokes w. */
    if (w->found && !w->revoked && w->token && token_due(s, w, now))
        refresh_token(s, w, NULL, now);
    /* An unusable installation: fail fast, without calling Slack. */
    if (!w->found || w->revoked || (!w->token && !w->key_error)) {
        const char *code = !w->found      ? "workspace_not_installed"
                           : w->reason[0] ? w->reason
                                          : "token_revoked";
        if (!w->found)
            snprintf(reason, sizeof reason,
                     "Herald is not installed in Slack workspace %s: install it, then send again",
                     head->team_id);
        else
            snprintf(reason, sizeof reason,
                     "the Slack installation of workspace %s is unusable (%s): reinstall Herald "
                     "in this workspace; the message was not sent",
                     head->team_id, code);
        size_t n = dispatch_channel_len(c);
        job **all = xmalloc(n * sizeof *all);
        for (size_t i = 0; i < n; i++)
            all[i] = dispatch_channel_pop(s->disp, c);
        if (!fail_now(s, all, n, code, reason))
            for (size_t i = n; i-- > 0;) /* database away: put them back, in order */
                dispatch_push(s->disp, head->team_id, dispatch_channel_key(c), all[i], true, now,
                              NULL);
        free(all);
        dispatch_release(s->disp, c, false, now);
        return NULL;
    }
    const sender_db_target *t = target(s, head->target_id, now);
    if (!t) {
        dispatch_release(s->disp, c, false, now);
        dispatch_pause_channel(s->disp, c, now + 1000);
        return NULL;
    }
    if (!t->found || t->deleted || !t->enabled) {
        job *j = dispatch_channel_pop(s->disp, c);
        const char *code = !t->found || t->deleted ? "target_removed" : "target_disabled";
        snprintf(reason, sizeof reason, "target %lld was %s before the message was sent",
                 (long long)j->target_id, !t->found || t->deleted ? "removed" : "disabled");
        if (!fail_now(s, &j, 1, code, reason))
            dispatch_push(s->disp, j->team_id, dispatch_channel_key(c), j, true, now, NULL);
        dispatch_release(s->disp, c, false, now);
        return NULL;
    }

    flight *f = xcalloc(1, sizeof *f);
    f->chan = c;
    f->ws = w;
    snprintf(f->post_to, sizeof f->post_to, "%s", head->destination);

    /* Email destinations: the person's user id, from the cache or users.lookupByEmail. */
    bool lookup = false;
    if (needs_lookup(head) && !w->key_error) {
        char uid[64] = "";
        int rc = user_lookup_cached(s, head->team_id, head->destination, uid, sizeof uid, now);
        if (rc < 0) {
            free(f);
            dispatch_release(s->disp, c, false, now);
            dispatch_pause_channel(s->disp, c, now + 1000);
            return NULL;
        }
        if (rc == 1 && !uid[0]) {
            job *j = dispatch_channel_pop(s->disp, c);
            snprintf(reason, sizeof reason,
                     "no active member of Slack workspace %s has the email address %s "
                     "(users_not_found): check the target's address",
                     j->team_id, j->destination);
            if (!fail_now(s, &j, 1, "users_not_found", reason))
                dispatch_push(s->disp, j->team_id, dispatch_channel_key(c), j, true, now, NULL);
            free(f);
            dispatch_release(s->disp, c, false, now);
            return NULL;
        }
        if (rc == 1) {
            snprintf(f->post_to, sizeof f->post_to, "%s", uid);
            snprintf(f->resolved, sizeof f->resolved, "%s", uid);
        } else {
            int64_t wait = ratelimit_take(&w->lookups, now);
            if (wait > 0) {
                free(f);
                dispatch_release(s->disp, c, false, now);
                dispatch_pause_channel(s->disp, c, now + wait);
                return NULL;
            }
            lookup = true;
            snprintf(f->email, sizeof f->email, "%s", head->destination);
        }
    }

    /* Digest: more waiting than the pace can send within the window. */
    size_t waiting = dispatch_channel_len(c);
    size_t take = 1;
    if (s->cfg.digests && s->cfg.channel_rate > 0 && waiting >= (size_t)s->cfg.digest_min &&
        t->digest_enabled && strcmp(head->kind, "test")) {
        const ratelimit_bucket *b = dispatch_channel_bucket(c);
        double capacity =
            b->tokens + s->cfg.channel_rate * (double)s->cfg.digest_window_ms / 1000.0;
        if ((double)waiting > capacity)
            take = waiting < (size_t)s->cfg.digest_max ? waiting : (size_t)s->cfg.digest_max;
    }
    f->jobs = xmalloc(take * sizeof *f->jobs);
    f->jobs[f->njobs++] = dispatch_channel_pop(s->disp, c);
    for (size_t i = 0; f->njobs < take && i < dispatch_channel_len(c);) {
        job *j = dispatch_channel_peek(c, i);
        if (foldable(s, j, now))
            f->jobs[f->njobs++] = dispatch_channel_take(s->disp, c, i);
        else
            i++;
    }

    f->lookup = lookup;
    f->target = t;
    return f;
}

/* Puts a planned flight's jobs back at the front of its channel (database away). */
static void unplan(sender *s, flight *f, int64_t now)
{
    for (size_t i = f->njobs; i-- > 0;)
        dispatch_push(s->disp, f->jobs[i]->team_id, dispatch_channel_key(f->chan), f->jobs[i], true,
                      now, NULL);
    f->njobs = 0;
    if (f->lookup)
        ratelimit_refund(&f->ws->lookups, now);
    dispatch_release(s->disp, f->chan, false, now);
    dispatch_pause_channel(s->disp, f->chan, now + 1000);
    flight_free(f);
}

/* Starts the request of a planned flight whose jobs are claimed. */
static void launch(sender *s, flight *f, int64_t now)
{
    ws_entry *w = f->ws;
    dispatch_channel *c = f->chan;
    if (f->njobs == 0) {
        if (f->lookup)
            ratelimit_refund(&w->lookups, now);
        flight_free(f);
        dispatch_release(s->disp, c, false, now);
        return;
    }
    if (w->key_error) {
        /* Our HERALD_SECRET_KEY does not open this token: an operator problem that
         * a restart with the right key fixes, so retry rather than fail. */
        retry_jobs(s, f->jobs, f->njobs, "secret_key_mismatch",
                   "the stored bot token cannot be opened with this HERALD_SECRET_KEY", "transient",
                   0);
        flight_free(f);
        dispatch_release(s->disp, c, false, now);
        return;
    }
    if (!flight_render(s, f, f->target)) {
        if (f->njobs) {
            LOG_ERROR("rendering deliveries for %s failed: a rendering bug", f->post_to);
            fail_jobs(s, f->jobs, f->njobs, "render_failed",
                      "Herald could not render this message: a rendering bug");
        }
        flight_free(f);
        dispatch_release(s->disp, c, false, now);
        return;
    }
    if (!(f->lookup ? flight_lookup(s, f) : flight_post(s, f))) {
        retry_jobs(s, f->jobs, f->njobs, "curl_init_failed", "libcurl could not start a request",
                   "transient", 0);
        flight_free(f);
        dispatch_release(s->disp, c, false, now);
        return;
    }
    f->next = s->flights;
    if (s->flights)
        s->flights->prev = f;
    s->flights = f;
    s->in_flight++;
}

/*
 * Claims the jobs of several planned flights in ONE statement (a round trip
 * per loop turn rather than per message), then launches them. Unclaimable
 * jobs (already sent, someone else's) are dropped from their flights.
 */
static void claim_and_launch(sender *s, flight **plans, size_t np, int64_t now)
{
    size_t total = 0;
    for (size_t i = 0; i < np; i++)
        total += plans[i]->njobs;
    sender_db_claim_req *reqs = xmalloc(total * sizeof *reqs);
    sender_db_claim_res *res = xmalloc(total * sizeof *res);
    size_t k = 0;
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < plans[i]->njobs; j++) {
            job *jb = plans[i]->jobs[j];
            reqs[k++] = (sender_db_claim_req){jb->id, jb->event_id, jb->target_id, jb->lease};
        }
    char err[512];
    int rc = db_ready(s) ? sender_db_claim(s->db, reqs, total, s->cfg.claim_lease_ms, true, res,
                                           err, sizeof err)
                         : -1;
    if (rc < 0) {
        if (!s->db_down)
            db_failed(s, "claiming deliveries", err);
        for (size_t i = 0; i < np; i++)
            unplan(s, plans[i], now);
        free(reqs);
        free(res);
        return;
    }
    k = 0;
    for (size_t i = 0; i < np; i++) {
        flight *f = plans[i];
        size_t keep = 0;
        for (size_t j = 0; j < f->njobs; j++, k++) {
            job *jb = f->jobs[j];
            if (res[k].claimed) {
                jb->attempts = res[k].attempts;
                jb->created_ms = res[k].created_ms;
                snprintf(jb->lease, sizeof jb->lease, "%s", res[k].lease);
                f->jobs[keep++] = jb;
            } else {
                drop_unclaimed(s, jb);
            }
        }
        f->njobs = keep;
    }
    free(reqs);
    free(res);
    for (size_t i = 0; i < np; i++)
        launch(s, plans[i], now);
}

/* ==== finishing requests ================================================================== */

static void flight_unlink(sender *s, flight *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        s->flights = f->next;
    if (f->next)
        f->next->prev = f->prev;
    s->in_flight--;
}

/* A 429 on chat.postMessage pauses the channel; on several channels of the
 * workspace at once it is the workspace-wide limit: pause the workspace. */
static void handle_429(sender *s, flight *f, int retry_after_ms, int64_t now)
{
    int64_t until = now + retry_after_ms;
    ws_entry *w = f->ws;
    if (f->stage == STAGE_LOOKUP) {
        ratelimit_pause_until(&w->lookups, until);
        dispatch_pause_channel(s->disp, f->chan, until);
        metrics_counter_inc(s->m.rate_limited, "lookup");
        return;
    }
    dispatch_pause_channel(s->disp, f->chan, until);
    const char *key = dispatch_channel_key(f->chan);
    size_t slot = w->r429_next++ % ARRAY_LEN(w->r429_ms);
    w->r429_ms[slot] = now;
    snprintf(w->r429_chan[slot], sizeof w->r429_chan[slot], "%s", key);
    size_t distinct = 0;
    for (size_t i = 0; i < ARRAY_LEN(w->r429_ms); i++) {
        if (!w->r429_ms[i] || now - w->r429_ms[i] > WS429_WINDOW_MS)
            continue;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = w->r429_ms[k] && now - w->r429_ms[k] <= WS429_WINDOW_MS &&
                   !strcmp(w->r429_chan[k], w->r429_chan[i]);
        distinct += !seen;
    }
    if (distinct >= WS429_CHANNELS) {
        dispatch_pause_workspace(s->disp, w->team_id, until, now);
        metrics_counter_inc(s->m.rate_limited, "workspace");
        LOG_WARN("workspace %s: 429 on %zu channels at once: pausing the workspace for %.1fs",
                 w->team_id, distinct, retry_after_ms / 1000.0);
    } else {
        metrics_counter_inc(s->m.rate_limited, "channel");
        LOG_WARN("workspace %s channel %s: 429, pausing the channel for %.1fs", w->team_id, key,
                 retry_after_ms / 1000.0);
    }
}

static void on_sent(sender *s, flight *f, const slack_result *res, int64_t now_wall)
{
    const char *channel = res->channel[0] ? res->channel : f->post_to;
    const char *resolved = f->resolved[0] ? f->resolved : NULL;
    /* A #name destination resolves to the channel id Slack answered with. */
    if (!resolved && f->jobs[0]->destination[0] == '#' && res->channel[0])
        resolved = res->channel;
    for (size_t i = 0; i < f->njobs; i++) {
        job *j = f->jobs[i];
        if (j->routed_ms > 0)
            metrics_histogram_observe(s->m.latency, NULL,
                                      (double)(now_wall - j->routed_ms) / 1000.0);
        LOG_INFO("delivery %lld target %lld -> %s: sent (channel %s, ts %s, attempt %d%s%s)",
                 (long long)j->id, (long long)j->target_id, j->destination, channel, res->ts,
                 j->attempts, f->njobs > 1 ? ", in a digest" : "",
                 f->thread_reply ? ", in thread" : "");
    }
    if (f->njobs > 1) {
        metrics_counter_inc(s->m.digests, NULL);
        metrics_counter_add(s->m.folded, NULL, (double)f->njobs);
        s->stats.digests++;
        s->stats.folded += (int64_t)f->njobs;
    }
    if (f->thread_track && f->njobs == 1 && !s->db_down) {
        job *j = f->jobs[0];
        char err[512];
        /* A reply keeps the streak's root; a top-level message starts a new streak. */
        if (sender_db_thread_put(s->db, j->target_id, j->ev->check_type, j->destination, channel,
                                 f->thread_reply ? f->thread_ts : res->ts, j->ev->failing_count,
                                 j->event_id, j->ev->evaluated_at_ms, err, sizeof err))
            db_failed(s, "recording thread state", err);
    }
    count_final(s, "sent", f->njobs);
    record(s, OUT_SENT, f->jobs, f->njobs, NULL, channel, res->ts,
           f->thread_reply ? f->thread_ts : NULL, resolved, NULL, NULL, (int)f->njobs);
}

/* An installation error: the workspace is unusable until reinstalled. */
static void revoke_workspace(sender *s, ws_entry *w, const char *code)
{
    if (w->revoked)
        return;
    w->revoked = true;
    snprintf(w->reason, sizeof w->reason, "%s", code);
    metrics_counter_inc(s->m.revoked, NULL);
    char err[512];
    int rc = s->db_down ? 0
                        : sender_db_workspace_revoke(s->db, w->team_id, w->token_enc,
                                                     w->token_enc_len, code, err, sizeof err);
    if (rc < 0)
        db_failed(s, "marking the workspace revoked", err);
    LOG_ERROR("workspace %s: Slack says %s: installation marked unusable; its deliveries fail "
              "until Herald is reinstalled",
              w->team_id, code);
}

/*
 * Slack answered token_expired to f on a rotating installation: refresh the
 * token (unless the cache already moved on to a newer one) and send the same
 * request again, once. True when f is in flight again; otherwise its jobs
 * were retried (refresh failed for now) or failed (Slack refused the refresh:
 * the installation is revoked).
 */
static bool token_expired(sender *s, flight *f, int64_t now)
{
    ws_entry *w = f->ws;
    f->token_retried = true;
    refresh_outcome o = REFRESH_OK;
    if (w->token_gen == f->token_gen) {
        char *stale = xstrdup(w->token);
        o = refresh_token(s, w, stale, now);
        crypto_wipe(stale, strlen(stale));
        free(stale);
    } /* else: the cache holds a newer token already (refreshed for another flight) */
    if (o == REFRESH_OK && w->token && !w->revoked && !w->key_error) {
        LOG_INFO("workspace %s: the bot token expired; refreshed, sending delivery %lld again",
                 w->team_id, (long long)f->jobs[0]->id);
        if (f->stage == STAGE_LOOKUP ? flight_lookup(s, f) : flight_post(s, f))
            return true;
        retry_jobs(s, f->jobs, f->njobs, "curl_init_failed", "libcurl could not start a request",
                   "transient", 0);
        return false;
    }
    if (o == REFRESH_REVOKED || w->revoked) {
        char reason[512];
        snprintf(reason, sizeof reason,
                 "the bot token of workspace %s expired and Slack refused to refresh it (%s): "
                 "reinstall Herald in this workspace",
                 w->team_id, w->reason[0] ? w->reason : "token_expired");
        fail_jobs(s, f->jobs, f->njobs, w->reason[0] ? w->reason : "token_expired", reason);
        return false;
    }
    retry_jobs(s, f->jobs, f->njobs, "token_expired",
               "the bot token expired and could not be refreshed yet: retrying", "transient", 0);
    return false;
}

/* Handles the end of one transfer. */
static void flight_done(sender *s, flight *f, CURLcode code)
{
    int64_t now = util_now_mono_ms();
    slack_result res;
    slack_result_init(&res);
    slack_class cls = slack_request_result(f->req, code, &res);
    s->stats.requests++;
    char mlabel[160];
    snprintf(mlabel, sizeof mlabel, "%s|%s", slack_request_method(f->req), slack_class_name(cls));
    metrics_counter_inc(s->m.requests, mlabel);
    curl_multi_remove_handle(s->multi, slack_request_easy(f->req));

    if (f->stage == STAGE_LOOKUP && cls == SLACK_OK && res.user_id[0]) {
        user_remember(s, f->jobs[0]->team_id, f->email, res.user_id, now);
        snprintf(f->post_to, sizeof f->post_to, "%s", res.user_id);
        snprintf(f->resolved, sizeof f->resolved, "%s", res.user_id);
        slack_result_dispose(&res);
        if (flight_post(s, f))
            return; /* same flight, channel still busy */
        retry_jobs(s, f->jobs, f->njobs, "curl_init_failed", "libcurl could not start a request",
                   "transient", 0);
        goto release;
    }
    if (f->stage == STAGE_LOOKUP && !strcmp(res.error, "users_not_found")) {
        user_remember(s, f->jobs[0]->team_id, f->email, NULL, now);
        char reason[512];
        snprintf(reason, sizeof reason,
                 "no active member of Slack workspace %s has the email address %s "
                 "(users_not_found): check the target's address",
                 f->jobs[0]->team_id, f->email);
        fail_jobs(s, f->jobs, f->njobs, "users_not_found", reason);
        goto release;
    }

    switch (cls) {
    case SLACK_OK:
        on_sent(s, f, &res, util_now_wall_ms());
        break;
    case SLACK_RATE_LIMITED:
        s->stats.rate_limited++;
        handle_429(s, f, res.retry_after_ms > 0 ? res.retry_after_ms : 1000, now);
        retry_jobs(s, f->jobs, f->njobs, res.error, res.reason, "rate_limited",
                   util_now_wall_ms() + (res.retry_after_ms > 0 ? res.retry_after_ms : 1000));
        break;
    case SLACK_TRANSIENT:
        /* A Retry-After on a 503 is Slack asking for time: honour it as a floor. */
        retry_jobs(s, f->jobs, f->njobs, res.error, res.reason, "transient",
                   res.retry_after_ms > 0 ? util_now_wall_ms() + res.retry_after_ms : 0);
        break;
    case SLACK_INSTALLATION:
        if (!strcmp(res.error, "token_expired") && !f->token_retried && f->ws->rotating &&
            rotation_ready(s)) {
            if (token_expired(s, f, now)) {
                slack_result_dispose(&res);
                return; /* sent again with the new token: same flight, channel still busy */
            }
            break;
        }
        revoke_workspace(s, f->ws, res.error);
        fail_jobs(s, f->jobs, f->njobs, res.error, res.reason);
        break;
    case SLACK_PAYLOAD:
        LOG_ERROR("Slack rejected Herald's message for %s as %s: a rendering bug (delivery %lld)",
                  f->post_to, res.error, (long long)f->jobs[0]->id);
        fail_jobs(s, f->jobs, f->njobs, res.error, res.reason);
        break;
    case SLACK_DESTINATION: {
        /* Name the destination: the administrator reads this on the target. */
        char reason[600];
        snprintf(reason, sizeof reason, "%s %s: %s", f->jobs[0]->is_email ? "address" : "channel",
                 f->jobs[0]->destination, res.reason);
        fail_jobs(s, f->jobs, f->njobs, res.error, reason);
        break;
    }
    case SLACK_UNKNOWN_PERMANENT:
    default:
        fail_jobs(s, f->jobs, f->njobs, res.error, res.reason);
        break;
    }
release:
    slack_result_dispose(&res);
    dispatch_release(s->disp, f->chan, true, now);
    flight_unlink(s, f);
    flight_free(f);
}

static void drain_multi(sender *s)
{
    int running = 0;
    curl_multi_perform(s->multi, &running);
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(s->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        slack_request *req = slack_request_from_easy(msg->easy_handle);
        flight *f = req ? slack_request_user(req) : NULL;
        if (f)
            flight_done(s, f, msg->data.result);
    }
}

/* ==== intake: Kafka and the retry poller ================================================= */

/* Pacing across restarts: start a new channel's bucket as the sends recorded
 * in PostgreSQL left it, so a restart does not buy a fresh burst. */
static void seed_bucket(sender *s, dispatch_channel *c, const char *team_id, const char *key,
                        int64_t now)
{
    if (s->cfg.channel_rate <= 0 || s->db_down)
        return;
    ratelimit_bucket *b = dispatch_channel_bucket(c);
    int64_t window = (int64_t)(b->burst / b->rate * 1000.0) + 1000;
    int64_t ago[64];
    char err[512];
    int n =
        sender_db_recent_sends(s->db, team_id, key, window, ago, ARRAY_LEN(ago), err, sizeof err);
    if (n <= 0) {
        if (n < 0)
            db_failed(s, "reading recent sends", err);
        return;
    }
    /* Replay: full at the window's start, one token per recorded send. */
    double tokens = b->burst;
    int64_t t = now - window;
    for (int i = 0; i < n; i++) {
        int64_t at = now - ago[i];
        if (at > t) {
            tokens += (double)(at - t) * b->rate / 1000.0;
            if (tokens > b->burst)
                tokens = b->burst;
            t = at;
        }
        tokens = tokens >= 1 ? tokens - 1 : 0;
    }
    tokens += (double)(now - t) * b->rate / 1000.0;
    b->tokens = tokens > b->burst ? b->burst : tokens;
    b->last_ms = now;
}

static void enqueue(sender *s, job *j, bool front, int64_t now)
{
    char k[24];
    id_key(j->id, k);
    strmap_put(s->inmem, k, j);
    char *key = channel_key(j->destination);
    bool created = false;
    dispatch_channel *c = dispatch_push(s->disp, j->team_id, key, j, front, now, &created);
    if (created)
        seed_bucket(s, c, j->team_id, key, now);
    free(key);
}

static void deadletter(sender *s, const rd_kafka_message_t *m, const char *reason, job *track)
{
    metrics_counter_inc(s->m.deadlettered, NULL);
    s->stats.deadlettered++;
    if (kafka_deadletter(s->dlq, m, reason) == 0 &&
        rd_kafka_flush(s->dlq, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        offsets_done(s->offs, TOPIC_DELIVERIES, track->partition, track->offset, track->generation);
        return;
    }
    /* Not acknowledged: leave the offset unstored so a restart reads it again. */
    LOG_ERROR("dead-letter of %s [%d] @%lld not acknowledged: its offset is held back",
              TOPIC_DELIVERIES, (int)m->partition, (long long)m->offset);
}

static void handle_message(sender *s, rd_kafka_message_t *m, int64_t now)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            LOG_WARN("consumer: %s", rd_kafka_message_errstr(m));
        return;
    }
    metrics_counter_inc(s->m.consumed, NULL);
    s->stats.consumed++;
    job origin = {.from_kafka = true, .partition = m->partition, .offset = m->offset};
    origin.generation = offsets_track(s->offs, TOPIC_DELIVERIES, m->partition, m->offset);

    routed_delivery *d = NULL;
    char err[512];
    if (routed_delivery_decode(m->payload, m->len, &d, err, sizeof err)) {
        char reason[600];
        snprintf(reason, sizeof reason, "invalid routed delivery: %s", err);
        deadletter(s, m, reason, &origin);
        return;
    }
    char k[24];
    id_key(d->delivery_id, k);
    if (strmap_get(s->inmem, k)) {
        /* The same delivery is already queued or in flight here: this copy is redundant. */
        offsets_done(s->offs, TOPIC_DELIVERIES, m->partition, m->offset, origin.generation);
        routed_delivery_destroy(d);
        return;
    }
    job *j = xcalloc(1, sizeof *j);
    *j = origin;
    j->id = d->delivery_id;
    memcpy(j->event_id, d->event_id, sizeof j->event_id);
    j->target_id = d->target_id;
    j->tenant_id = d->tenant_id;
    j->team_id = d->team_id;
    j->destination = d->destination;
    j->is_email = d->destination_is_email;
    j->kind = xstrdup(event_kind_name(d->kind));
    j->event_json = d->event_json;
    j->routed_ms = d->routed_at_ms;
    d->tenant_id = d->team_id = d->destination = d->event_json = NULL;
    routed_delivery_destroy(d);
    enqueue(s, j, false, now);
}

static void pause_consuming(sender *s, bool pause)
{
    if (pause == s->consuming_paused)
        return;
    kafka_pause_assigned(s->rk, pause);
    s->consuming_paused = pause;
    LOG_INFO("%s consuming (%zu deliveries held in memory)", pause ? "pausing" : "resuming",
             dispatch_queued(s->disp));
}

static void consume(sender *s, int64_t now)
{
    char buf[64];
    while (read(s->wake[0], buf, sizeof buf) > 0) {
    }
    size_t queued = dispatch_queued(s->disp);
    if (queued >= (size_t)s->cfg.max_queued)
        pause_consuming(s, true);
    else if (s->consuming_paused && queued < (size_t)s->cfg.max_queued / 2)
        pause_consuming(s, false);
    s->kafka_more = false;
    for (int i = 0; i < CONSUME_BATCH; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, 0);
        if (!m)
            return;
        handle_message(s, m, now);
        rd_kafka_message_destroy(m);
        if (stopping(s))
            return;
    }
    s->kafka_more = true;
}

/* Which workspaces this instance owns: those whose team id the producer's
 * partitioner puts on a partition assigned to us. */
static void refresh_owned(sender *s, int64_t now)
{
    if (now - s->owned_at_ms < TEAMS_TTL_MS && s->owned_at_ms)
        return;
    s->owned_at_ms = now;
    for (size_t i = 0; i < s->nowned; i++)
        free(s->owned[i]);
    free(s->owned);
    s->owned = NULL;
    s->nowned = 0;
    if (!s->nassigned || s->npartitions <= 0 || !s->partitioner)
        return;
    char **teams = NULL;
    char err[512];
    int n = sender_db_team_ids(s->db, &teams, err, sizeof err);
    if (n < 0) {
        db_failed(s, "listing workspaces", err);
        return;
    }
    s->owned = xcalloc((size_t)n + 1, sizeof *s->owned);
    for (int i = 0; i < n; i++) {
        int32_t p = s->partitioner(s->rkt, teams[i], strlen(teams[i]), s->npartitions, NULL, NULL);
        bool mine = false;
        for (size_t k = 0; k < s->nassigned && !mine; k++)
            mine = s->assigned[k] == p;
        if (mine)
            s->owned[s->nowned++] = teams[i];
        else
            free(teams[i]);
    }
    free(teams);
}

/* Leases due retries (and deliveries whose sender died) back into the queues. */
static void poll_retries(sender *s, int64_t now)
{
    if (now < s->next_poll_ms || !db_ready(s))
        return;
    s->next_poll_ms = now + s->cfg.retry_poll_ms;
    if (dispatch_queued(s->disp) >= (size_t)s->cfg.max_queued)
        return;
    refresh_owned(s, now);
    sender_db_due *rows = NULL;
    char err[512];
    int n =
        sender_db_lease_due(s->db, POLL_BATCH, s->cfg.claim_lease_ms, (const char *const *)s->owned,
                            s->nowned, s->cfg.takeover_grace_ms, &rows, err, sizeof err);
    if (n < 0) {
        db_failed(s, "leasing due retries", err);
        return;
    }
    if (n == POLL_BATCH)
        s->next_poll_ms = now; /* more are due */
    /* Pushed at the front of their channels, so in reverse to keep their order. */
    for (int i = n - 1; i >= 0; i--) {
        sender_db_due *r = &rows[i];
        char k[24];
        id_key(r->id, k);
        job *have = strmap_get(s->inmem, k);
        if (have) {
            /* Already here (queued, or its own request still running): adopt the
             * new lease so the claim matches; nothing else to do. */
            if (!have->from_kafka || have->lease[0])
                snprintf(have->lease, sizeof have->lease, "%s", r->lease);
            sender_db_due_dispose(r);
            continue;
        }
        job *j = xcalloc(1, sizeof *j);
        j->id = r->id;
        memcpy(j->event_id, r->event_id, sizeof j->event_id);
        j->target_id = r->target_id;
        j->tenant_id = r->tenant_id;
        j->team_id = r->team_id;
        j->destination = r->destination;
        j->is_email = r->destination_is_email;
        j->kind = r->event_kind ? r->event_kind : xstrdup("unknown");
        j->event_json = r->payload;
        j->routed_ms = r->routed_ms;
        snprintf(j->lease, sizeof j->lease, "%s", r->lease);
        r->tenant_id = r->team_id = r->destination = r->event_kind = r->payload = NULL;
        sender_db_due_dispose(r);
        if (!j->event_json) {
            /* The event row is gone: nothing to render. */
            char k2[24];
            id_key(j->id, k2);
            strmap_put(s->inmem, k2, j);
            fail_now(s, &j, 1, "event_missing",
                     "the event of this delivery is no longer stored: it cannot be sent");
            continue;
        }
        enqueue(s, j, true, now);
    }
    free(rows);
}

/* ==== rebalances ========================================================================== */

typedef struct revoke_ctx {
    sender *s;
    const rd_kafka_topic_partition_list_t *parts;
} revoke_ctx;

static bool in_parts(void *v, void *arg)
{
    job *j = v;
    revoke_ctx *rc = arg;
    if (!j->from_kafka || j->lease[0])
        return false;
    for (int i = 0; i < rc->parts->cnt; i++)
        if (rc->parts->elems[i].partition == j->partition &&
            !strcmp(rc->parts->elems[i].topic, TOPIC_DELIVERIES))
            return true;
    return false;
}

static void drop_queued(void *v, void *arg)
{
    job *j = v;
    revoke_ctx *rc = arg;
    char k[24];
    id_key(j->id, k);
    strmap_del(rc->s->inmem, k);
    job_free(j); /* not done: the partition's new owner reads it again */
}

static void set_assigned(sender *s, const rd_kafka_topic_partition_list_t *parts, bool add)
{
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        size_t k = 0;
        while (k < s->nassigned && s->assigned[k] != p)
            k++;
        if (add && k == s->nassigned) {
            s->assigned = xrealloc(s->assigned, (s->nassigned + 1) * sizeof *s->assigned);
            s->assigned[s->nassigned++] = p;
        } else if (!add && k < s->nassigned) {
            s->assigned[k] = s->assigned[--s->nassigned];
        }
    }
    s->owned_at_ms = 0; /* recompute ownership */
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    sender *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        set_assigned(s, parts, true);
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, s->rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR && md) {
            if (md->topic_cnt == 1 && !md->topics[0].err)
                s->npartitions = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
        LOG_INFO("assigned %d partition(s) of %s (%d in all)", parts->cnt, TOPIC_DELIVERIES,
                 (int)s->npartitions);
        kafka_rebalance_apply(rk, parts, true, s->consuming_paused);
        return;
    }
    /* Revoked (or lost): queued deliveries of those partitions are dropped
     * unclaimed (the new owner reads them again); requests in flight finish
     * and record their outcome, which the new owner then sees in the row. */
    revoke_ctx rc = {s, parts};
    size_t dropped = dispatch_remove_if(s->disp, in_parts, drop_queued, &rc);
    bool lost = rd_kafka_assignment_lost(rk);
    if (!lost) {
        store_offsets(s);
        /* Asynchronously: with the brokers gone a synchronous commit waits a
         * whole group session timeout, stalling shutdown; a commit that does
         * not land only means a re-read, and claims make that harmless. */
        rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, NULL, 1);
        if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
            LOG_WARN("commit on revoke: %s", rd_kafka_err2str(cerr));
    }
    for (int i = 0; i < parts->cnt; i++)
        offsets_forget(s->offs, parts->elems[i].topic, parts->elems[i].partition);
    set_assigned(s, parts, false);
    LOG_INFO("%s %d partition(s); %zu queued deliveries handed back", lost ? "lost" : "revoked",
             parts->cnt, dropped);
    kafka_rebalance_apply(rk, parts, false, false);
}

/* ==== construction ======================================================================== */

static bool health(void *arg, char *reason, size_t reason_size)
{
    sender *s = arg;
    if (s->db_down) {
        snprintf(reason, reason_size, "database unreachable");
        return false;
    }
    return true;
}

typedef int32_t (*partitioner_fn)(const rd_kafka_topic_t *, const void *, size_t, int32_t, void *,
                                  void *);

/* The partitioner the router's producer uses (librdkafka's default unless
 * HERALD_KAFKA_PARTITIONER says otherwise). */
static partitioner_fn pick_partitioner(void)
{
    const char *p = getenv("HERALD_KAFKA_PARTITIONER");
    if (!p || !*p || !strcmp(p, "consistent_random"))
        return rd_kafka_msg_partitioner_consistent_random;
    if (!strcmp(p, "consistent"))
        return rd_kafka_msg_partitioner_consistent;
    if (!strcmp(p, "murmur2"))
        return rd_kafka_msg_partitioner_murmur2;
    if (!strcmp(p, "murmur2_random"))
        return rd_kafka_msg_partitioner_murmur2_random;
    if (!strcmp(p, "fnv1a"))
        return rd_kafka_msg_partitioner_fnv1a;
    if (!strcmp(p, "fnv1a_random"))
        return rd_kafka_msg_partitioner_fnv1a_random;
    return NULL; /* unknown: due retries are shared only after the takeover grace */
}

sender *sender_new(const sender_config *cfg, char *errstr, size_t errstr_size)
{
    sender *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    s->wake[0] = s->wake[1] = -1;
    s->pending_tail = &s->pending;
    backoff_policy_default(&s->backoff);
    s->backoff.base_ms = cfg->retry_base_ms;
    s->backoff.cap_ms = cfg->retry_cap_ms;
    s->backoff.max_age_ms = cfg->retry_max_age_ms;
    s->ropts.herald_url = cfg->console_url && *cfg->console_url ? cfg->console_url : NULL;
    if (cfg->client_id && *cfg->client_id && cfg->client_secret && *cfg->client_secret) {
        s->client_id = xstrdup(cfg->client_id);
        s->client_secret = xstrdup(cfg->client_secret);
    }
    s->cfg.client_secret = NULL; /* the copy above is the one kept */
    metrics_init(&s->m);

    if (!cfg->common.secret_key ||
        crypto_key_from_base64(cfg->common.secret_key, s->key, errstr, errstr_size)) {
        if (!cfg->common.secret_key)
            snprintf(errstr, errstr_size, "HERALD_SECRET_KEY: required");
        goto fail;
    }
    if (pipe(s->wake)) {
        snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
        goto fail;
    }
    for (int i = 0; i < 2; i++)
        fcntl(s->wake[i], F_SETFL, fcntl(s->wake[i], F_GETFL) | O_NONBLOCK);

    s->db = db_connect(cfg->common.database_url, errstr, errstr_size);
    if (!s->db)
        goto fail;

    dispatch_config dc = {.channel_rate = cfg->channel_rate,
                          .channel_burst = cfg->channel_burst,
                          .workspace_rate_per_min = cfg->workspace_rate,
                          .workspace_burst = cfg->workspace_burst,
                          .guard_ms = cfg->pace_guard_ms};
    s->disp = dispatch_new(&dc);
    s->offs = offsets_new();
    s->inmem = strmap_new();
    s->workspaces = strmap_new();
    s->targets = strmap_new();
    s->users = strmap_new();

    s->multi = curl_multi_init();
    if (!s->multi) {
        snprintf(errstr, errstr_size, "curl_multi_init failed");
        goto fail;
    }
    /* Keep-alive connections for every channel that can be in flight at once. */
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)cfg->max_in_flight + 4);

    /* The rebalance hook hands queued deliveries of revoked partitions back. */
    static const char *const topics[] = {TOPIC_DELIVERIES, NULL};
    s->rk = kafka_consumer_new(cfg->common.kafka_brokers, cfg->group, topics, NULL, on_rebalance, s,
                               errstr, errstr_size);
    if (!s->rk)
        goto fail;
    s->rkt = rd_kafka_topic_new(s->rk, TOPIC_DELIVERIES, NULL);
    s->partitioner = pick_partitioner();
    /* Served from the loop's polls only, so nothing arrives before this: the
     * wake-up pipe misses no message. */
    s->cq = rd_kafka_queue_get_consumer(s->rk);
    rd_kafka_queue_io_event_enable(s->cq, s->wake[1], "k", 1);
    s->dlq = kafka_producer_new(cfg->common.kafka_brokers, NULL, NULL, errstr, errstr_size);
    if (!s->dlq)
        goto fail;

    if (cfg->metrics_addr && *cfg->metrics_addr) {
        s->ops = httpd_start_ops(cfg->metrics_addr, metrics_default_registry(), health, s, errstr,
                                 errstr_size);
        if (!s->ops)
            goto fail;
        LOG_INFO("serving /metrics and /healthz on %s", cfg->metrics_addr);
    }
    return s;
fail:
    sender_destroy(s);
    return NULL;
}

static bool free_job_cb(const char *key, void *value, void *arg)
{
    (void)key, (void)arg;
    job_free(value);
    return true;
}

static void free_job_void(void *j)
{
    (void)j; /* queued jobs are owned through inmem */
}

void sender_destroy(sender *s)
{
    if (!s)
        return;
    httpd_destroy(s->ops);
    /* Kafka first: closing a consumer that sender_run did not close runs the
     * rebalance callback, which still needs the queues and offsets. */
    if (s->cq)
        rd_kafka_queue_destroy(s->cq);
    if (s->rkt)
        rd_kafka_topic_destroy(s->rkt);
    if (s->rk)
        rd_kafka_destroy(s->rk);
    if (s->dlq) {
        rd_kafka_flush(s->dlq, 5000);
        rd_kafka_destroy(s->dlq);
    }
    s->rk = NULL;
    while (s->flights) {
        flight *f = s->flights;
        curl_multi_remove_handle(s->multi, slack_request_easy(f->req));
        flight_unlink(s, f);
        flight_free(f); /* its jobs are in inmem */
    }
    while (s->pending) {
        outcome *o = s->pending;
        s->pending = o->next;
        outcome_free(o); /* its jobs are in inmem */
    }
    if (s->disp)
        dispatch_destroy(s->disp, free_job_void);
    if (s->inmem) {
        strmap_sweep(s->inmem, free_job_cb, NULL);
        strmap_destroy(s->inmem, NULL);
    }
    strmap_destroy(s->workspaces, ws_entry_free);
    strmap_destroy(s->targets, target_entry_free);
    strmap_destroy(s->users, user_entry_free);
    offsets_destroy(s->offs);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    if (s->db)
        PQfinish(s->db);
    for (size_t i = 0; i < s->nowned; i++)
        free(s->owned[i]);
    free(s->owned);
    free(s->assigned);
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0)
            close(s->wake[i]);
    crypto_wipe(s->key, sizeof s->key);
    free(s->client_id);
    if (s->client_secret) {
        crypto_wipe(s->client_secret, strlen(s->client_secret));
        free(s->client_secret);
    }
    free(s);
}

/* ==== the loop ============================================================================ */

static void update_gauges(sender *s)
{
    metrics_gauge_set(s->m.channels_waiting, NULL, (double)dispatch_channels_waiting(s->disp));
    metrics_gauge_set(s->m.queued, NULL, (double)dispatch_queued(s->disp));
    metrics_gauge_set(s->m.in_flight, NULL, (double)s->in_flight);
}

/* Hourly: forget the recorded passes no thread can be replied in across any
 * more (the oldest thread a reply may go into, plus the longest a delivery
 * may wait for its retries, plus a day). */
static void prune_check_passes(sender *s, int64_t now)
{
    if (now < s->next_prune_ms || s->db_down)
        return;
    s->next_prune_ms = now + 3600 * 1000;
    int64_t keep = s->cfg.thread_max_age_ms + s->cfg.retry_max_age_ms + 86400 * 1000LL;
    char err[512];
    long n = sender_db_prune_check_passes(s->db, keep, err, sizeof err);
    if (n < 0)
        db_failed(s, "pruning recorded check passes", err);
    else if (n > 0)
        LOG_DEBUG("pruned %ld recorded check pass(es)", n);
}

static void housekeeping(sender *s, int64_t now)
{
    if (now < s->next_housekeeping_ms)
        return;
    s->next_housekeeping_ms = now + 1000;
    dispatch_evict(s->disp, now);
    update_gauges(s);
    rd_kafka_poll(s->dlq, 0);
    prune_check_passes(s, now);
}

/* Starts every request the pacing allows now; returns ms until the next may go (-1: none). */
static int64_t dispatch_ready(sender *s, int64_t now)
{
    int64_t wait = -1;
    for (;;) {
        flight *plans[128];
        size_t np = 0;
        bool more = true;
        while (np < ARRAY_LEN(plans) && s->in_flight + np < (size_t)s->cfg.max_in_flight &&
               !s->db_down) {
            dispatch_channel *c = dispatch_next(s->disp, now, &wait);
            if (!c) {
                more = false;
                break;
            }
            flight *f = plan_channel(s, c, now);
            if (f)
                plans[np++] = f;
        }
        if (np)
            claim_and_launch(s, plans, np, now);
        if (!more || s->db_down || s->in_flight >= (size_t)s->cfg.max_in_flight)
            break;
    }
    return s->in_flight < (size_t)s->cfg.max_in_flight ? wait : -1;
}

typedef struct release_ctx {
    sender *s;
    int64_t *ids;
    const char **leases;
    size_t n, cap;
} release_ctx;

static bool all_jobs(void *v, void *arg)
{
    (void)v, (void)arg;
    return true;
}

static void collect_release(void *v, void *arg)
{
    job *j = v;
    release_ctx *rc = arg;
    if (j->lease[0]) {
        if (rc->n == rc->cap) {
            rc->cap = rc->cap ? rc->cap * 2 : 64;
            rc->ids = xrealloc(rc->ids, rc->cap * sizeof *rc->ids);
            rc->leases = xrealloc(rc->leases, rc->cap * sizeof *rc->leases);
        }
        rc->ids[rc->n] = j->id;
        rc->leases[rc->n++] = xstrdup(j->lease);
    }
    char k[24];
    id_key(j->id, k);
    strmap_del(rc->s->inmem, k);
    job_free(j); /* Kafka's: offset not done, read again after a restart */
}

/* Shutdown, step 1: nothing queued is started any more. Leased retries are
 * handed back (due now, for any sender); Kafka deliveries stay unstored. */
static void drop_all_queued(sender *s)
{
    release_ctx rc = {s, NULL, NULL, 0, 0};
    size_t n = dispatch_remove_if(s->disp, all_jobs, collect_release, &rc);
    if (rc.n && db_ready(s)) {
        char err[512];
        if (sender_db_release(s->db, rc.ids, rc.leases, rc.n, err, sizeof err) < 0)
            db_failed(s, "handing back leased retries", err);
    }
    for (size_t i = 0; i < rc.n; i++)
        free((char *)rc.leases[i]);
    free(rc.ids);
    free(rc.leases);
    if (n)
        LOG_INFO("shutdown: %zu queued deliveries left for the next run (%zu leased retries "
                 "handed back)",
                 n, rc.n);
}

/* Shutdown, step 3: requests still running after the timeout are cut; Slack
 * may have accepted them (the documented window), so they are retried. */
static void abort_flights(sender *s)
{
    while (s->flights) {
        flight *f = s->flights;
        curl_multi_remove_handle(s->multi, slack_request_easy(f->req));
        LOG_WARN("shutdown: cutting the request for delivery %lld (%zu deliveries): it may have "
                 "been posted; it will be retried",
                 (long long)f->jobs[0]->id, f->njobs);
        retry_jobs(s, f->jobs, f->njobs, "shutdown",
                   "the sender stopped before Slack answered (the message may have been posted)",
                   "transient", 0);
        dispatch_release(s->disp, f->chan, true, util_now_mono_ms());
        flight_unlink(s, f);
        flight_free(f);
    }
}

int sender_run(sender *s)
{
    LOG_INFO("herald-slack consuming %s as group %s; Slack API %s; pace %.3g/s burst %.3g per "
             "channel, %.3g/min per workspace",
             TOPIC_DELIVERIES, s->cfg.group, s->cfg.common.slack_api_url, s->cfg.channel_rate,
             s->cfg.channel_burst, s->cfg.workspace_rate);
    int64_t deadline = 0;
    bool drained = false;
    for (;;) {
        int64_t now = util_now_mono_ms();
        if (stopping(s) && !drained) {
            drained = true;
            deadline = now + s->cfg.shutdown_timeout_ms;
            LOG_INFO("stopping: intake closed, %zu request(s) in flight get up to %.1fs",
                     s->in_flight, s->cfg.shutdown_timeout_ms / 1000.0);
            drop_all_queued(s);
        }
        if (drained && (s->in_flight == 0 || now >= deadline))
            break;

        if (s->db_down)
            db_ready(s); /* reconnects at most once a second */
        if (!drained) {
            consume(s, now);
            poll_retries(s, now);
        }
        drain_multi(s);
        flush_pending(s);
        int64_t wait = drained ? -1 : dispatch_ready(s, now);
        store_offsets(s);
        housekeeping(s, now);

        /* Sleep until a socket, a Kafka message, a stop, the pacer or a timer. */
        int64_t timeout = 1000;
        if (wait >= 0 && wait < timeout)
            timeout = wait;
        if (!drained) {
            int64_t to_poll = s->next_poll_ms - now;
            if (to_poll < timeout)
                timeout = to_poll < 0 ? 0 : to_poll;
        }
        if (s->kafka_more)
            timeout = 0;
        if (s->pending || s->db_down)
            timeout = timeout < 200 ? timeout : 200;
        struct curl_waitfd extra = {.fd = s->wake[0], .events = CURL_WAIT_POLLIN};
        int numfds = 0;
        curl_multi_poll(s->multi, &extra, 1, (int)timeout, &numfds);
    }

    abort_flights(s);
    for (int i = 0; i < 50 && s->pending; i++) {
        flush_pending(s);
        if (s->pending)
            usleep(100 * 1000);
    }
    if (s->pending)
        LOG_ERROR("shutdown: some outcomes could not be recorded (database unreachable): those "
                  "deliveries will be attempted again and may appear twice");
    store_offsets(s);
    /* No synchronous rd_kafka_commit here: with the brokers gone it waits
     * forever. Closing the consumer commits the stored offsets (auto commit)
     * and gives up within its own timeouts. */
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(s->rk);
    if (err)
        LOG_WARN("consumer close: %s", rd_kafka_err2str(err));
    update_gauges(s);
    LOG_INFO("stopped: %lld consumed, %lld sent, %lld failed, %lld retries scheduled, %lld "
             "digests (%lld folded), %lld dead-lettered",
             (long long)s->stats.consumed, (long long)s->stats.sent, (long long)s->stats.failed,
             (long long)s->stats.retries_scheduled, (long long)s->stats.digests,
             (long long)s->stats.folded, (long long)s->stats.deadlettered);
    return 0;
}
