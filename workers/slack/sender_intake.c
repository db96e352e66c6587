/*
 * herald-slack's intake: routed deliveries from Kafka (decode, dead-letter,
 * queue per channel, pause when too many are held), the offsets it stores,
 * the retry poller that leases due rows back into the queues, and the
 * rebalance callback.
 */
#include "workers/slack/sender_intake.h"

#include "workers/slack/sender_link.h"
#include "workers/slack/sender_outcome.h"

#include "common/log.h"
#include "common/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long the list of the workspaces this instance owns is trusted. */
#define TEAMS_TTL_MS     10000
#define INSTANCE_SEEN_MS 5000  /* sender_instances.seen_at refreshed this often */
#define PENDING_READ_MS  10000 /* herald_slack_oldest_pending_seconds read this often */
/* Kafka messages handled per loop turn, so Slack answers are not starved. */
#define CONSUME_BATCH 500
/* Retries leased per poll. */
#define POLL_BATCH 200

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

/* Stores the storable offset of every partition whose offset moved. */
void sender_store_offsets(sender *s)
{
    rd_kafka_topic_partition_list_t *l = offsets_collect(s->offs, true);
    if (!l)
        return;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(s->rk, l);
    if (err && err != RD_KAFKA_RESP_ERR__STATE)
        LOG_WARN("storing offsets: %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

/* Pacing across restarts: start a new channel's bucket as the sends recorded
 * in PostgreSQL left it, so a restart does not buy a fresh burst. */
static void seed_bucket(sender *s, dispatch_channel *c, const char *team_id, const char *key,
                        int64_t now)
{
    PGconn *conn;
    if (s->cfg.channel_rate <= 0 || s->db_down || !(conn = sender_conn(s)))
        return;
    ratelimit_bucket *b = dispatch_channel_bucket(c);
    int64_t window = (int64_t)(b->burst / b->rate * 1000.0) + 1000;
    int64_t ago[64];
    char err[512];
    int n =
        sender_db_recent_sends(conn, team_id, key, window, ago, ARRAY_LEN(ago), err, sizeof err);
    if (n <= 0) {
        if (n < 0)
            sender_link_failed(s, "reading recent sends", err);
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
    j->dk = d->delivery_kind == ROUTED_RESOLVE ? JOB_RESOLVE : JOB_NOTIFY;
    memcpy(j->ref_event_id, d->ref_event_id, sizeof j->ref_event_id);
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

void sender_consume(sender *s, int64_t now)
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
        if (sender_stopping(s))
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
    PGconn *conn = sender_conn(s);
    if (!conn)
        return;
    char **teams = NULL;
    char err[512];
    int n = sender_db_team_ids(conn, &teams, err, sizeof err);
    if (n < 0) {
        sender_link_failed(s, "listing workspaces", err);
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

/* sender_instances: the assignment when it changed, and that we are alive
 * every INSTANCE_SEEN_MS, so that a restart of this instance resumes its
 * partitions (sender_resume_previous_run). Not while resumed: that is the
 * previous run's word, not Kafka's. */
static void save_instance(sender *s, int64_t now)
{
    if (s->resumed || s->npartitions <= 0 ||
        (s->assignment_saved && now - s->instance_seen_ms < INSTANCE_SEEN_MS))
        return;
    PGconn *conn = sender_conn(s);
    if (!conn)
        return;
    char err[512];
    if (sender_db_instance_save(conn, s->cfg.group, s->instance_id, s->assigned, s->nassigned,
                                s->npartitions, err, sizeof err) < 0) {
        sender_link_failed(s, "recording this instance's partitions", err);
        return;
    }
    s->assignment_saved = true;
    s->instance_seen_ms = now;
}

/* herald_slack_oldest_pending_seconds: alerts on deliveries stuck pending
 * read it (every sender reports the same figure; alert on the max). */
static void read_oldest_pending(sender *s, int64_t now)
{
    if (s->pending_read_ms && now - s->pending_read_ms < PENDING_READ_MS)
        return;
    PGconn *conn = sender_conn(s);
    if (!conn)
        return;
    s->pending_read_ms = now;
    char err[512];
    int64_t ms = sender_db_oldest_pending_ms(conn, err, sizeof err);
    if (ms < 0) {
        sender_link_failed(s, "reading the oldest pending delivery", err);
        return;
    }
    metrics_gauge_set(s->m.oldest_pending, NULL, (double)ms / 1000.0);
}

static void enqueue_leased(sender *s, sender_db_due *rows, int n, int64_t now);

/* Leases rows (p) into the queues; woken: for a herald_wake notification
 * (pending rows taken at once are not late: not counted as reconciled). */
static void lease_rows(sender *s, PGconn *conn, const sender_db_poll *p, bool woken, int64_t now)
{
    sender_db_due *rows = NULL;
    char err[512];
    int n = sender_db_lease_due(conn, p, &rows, err, sizeof err);
    if (n < 0) {
        sender_link_failed(s, "leasing due retries", err);
        return;
    }
    if (woken) {
        LOG_DEBUG("herald_wake: %d delivery(ies) leased at once", n);
        if (n >= POLL_BATCH)
            s->next_poll_ms = now;
        enqueue_leased(s, rows, n, now);
        return;
    }
    int reconciled = 0;
    int64_t oldest_ms = 0, wall = util_now_wall_ms();
    for (int i = 0; i < n; i++) {
        if (!rows[i].reconciled)
            continue;
        reconciled++;
        if (wall - rows[i].created_ms > oldest_ms)
            oldest_ms = wall - rows[i].created_ms;
    }
    if (reconciled && s->resumed) {
        metrics_counter_add(s->m.reconciled, NULL, (double)reconciled);
        s->stats.reconciled += reconciled;
        LOG_INFO("resuming %d pending delivery(ies) of the partitions this instance held before "
                 "its restart from PostgreSQL while Kafka hands them back (oldest %.0fs)",
                 reconciled, oldest_ms / 1000.0);
    } else if (reconciled) {
        metrics_counter_add(s->m.reconciled, NULL, (double)reconciled);
        s->stats.reconciled += reconciled;
        LOG_WARN("reconciling %d delivery(ies) still pending after %.0fs (oldest %.0fs): their "
                 "Kafka message is late or lost; sending them from PostgreSQL",
                 reconciled, s->cfg.reconcile_after_ms / 1000.0, oldest_ms / 1000.0);
    }
    if (n - reconciled >= POLL_BATCH || reconciled >= POLL_BATCH)
        s->next_poll_ms = now; /* more are due */
    enqueue_leased(s, rows, n, now);
}

/* Leases due retries (and deliveries whose sender died) back into the queues. */
void sender_poll_retries(sender *s, int64_t now)
{
    if (now < s->next_poll_ms || !sender_conn(s))
        return;
    s->next_poll_ms = now + s->cfg.retry_poll_ms;
    save_instance(s, now);
    read_oldest_pending(s, now);
    if (dispatch_queued(s->disp) >= (size_t)s->cfg.max_queued)
        return;
    refresh_owned(s, now);
    PGconn *conn = sender_conn(s); /* again: refresh_owned may have lost it */
    if (!conn)
        return;
    sender_db_poll p = {.max = POLL_BATCH,
                        .lease_ms = s->cfg.claim_lease_ms,
                        .teams = (const char *const *)s->owned,
                        .nteams = s->nowned,
                        .grace_ms = s->cfg.takeover_grace_ms,
                        .reconcile_after_ms = s->cfg.reconcile_after_ms,
                        .instance_id = s->instance_id,
                        .pending_now = s->resumed};
    lease_rows(s, conn, &p, false, now);
}

/*
 * herald_wake (LISTENed on the sender's connection): herald-api inserted
 * pending rows (nudges) for a workspace and asks its sender to take them now
 * rather than after --reconcile-after. Only workspaces this instance owns;
 * the others' senders hear the same notification.
 */
void sender_read_wakes(sender *s, int64_t now)
{
    PGconn *conn = s->db_down ? NULL : db_link_conn(s->db);
    if (!conn)
        return;
    PQconsumeInput(conn);
    PGnotify *nt;
    while ((nt = PQnotifies(conn))) {
        bool mine = false;
        for (size_t i = 0; i < s->nowned && !mine; i++)
            mine = !strcmp(s->owned[i], nt->extra);
        bool have = false;
        for (size_t i = 0; i < s->nwoken && !have; i++)
            have = !strcmp(s->woken[i], nt->extra);
        if (!strcmp(nt->relname, SENDER_WAKE_CHANNEL) && mine && !have) {
            s->woken = xrealloc(s->woken, (s->nwoken + 1) * sizeof *s->woken);
            s->woken[s->nwoken++] = xstrdup(nt->extra);
        }
        PQfreemem(nt);
    }
    if (!s->nwoken || dispatch_queued(s->disp) >= (size_t)s->cfg.max_queued)
        return;
    sender_db_poll p = {.max = POLL_BATCH,
                        .lease_ms = s->cfg.claim_lease_ms,
                        .teams = (const char *const *)s->woken,
                        .nteams = s->nwoken,
                        .grace_ms = s->cfg.takeover_grace_ms,
                        .instance_id = s->instance_id,
                        .pending_now = true};
    lease_rows(s, conn, &p, true, now);
    for (size_t i = 0; i < s->nwoken; i++)
        free(s->woken[i]);
    s->nwoken = 0;
}

/* Leased rows into the queues, at the front of their channels (in reverse to keep their order). */
static void enqueue_leased(sender *s, sender_db_due *rows, int n, int64_t now)
{
    for (int i = n - 1; i >= 0; i--) {
        sender_db_due *r = &rows[i];
        char k[24];
        id_key(r->id, k);
        job *have = strmap_get(s->inmem, k);
        if (have) {
            /* Already here (queued, or its own request still running): adopt the
             * new lease so the claim matches; nothing else to do. A reconciled
             * row is no longer 'pending': a queued Kafka copy claims it by the
             * lease too. */
            if (!have->from_kafka || have->lease[0] || r->reconciled)
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
        j->dk = !r->delivery_kind || !strcmp(r->delivery_kind, "notify") ? JOB_NOTIFY
                : !strcmp(r->delivery_kind, "resolve")                   ? JOB_RESOLVE
                                                                         : JOB_NUDGE;
        memcpy(j->ref_event_id, r->ref_event_id, sizeof j->ref_event_id);
        snprintf(j->lease, sizeof j->lease, "%s", r->lease);
        r->tenant_id = r->team_id = r->destination = r->event_kind = r->payload = NULL;
        sender_db_due_dispose(r);
        if (!j->destination) {
            /* A nudge without the user's email (or a target without destination). */
            char k2[24];
            id_key(j->id, k2);
            strmap_put(s->inmem, k2, j);
            sender_fail_now(s, &j, 1, "invalid_event",
                            "the delivery has no address to send to (a nudge without user.email)");
            continue;
        }
        if (!j->event_json) {
            /* The event row is gone: nothing to render. */
            char k2[24];
            id_key(j->id, k2);
            strmap_put(s->inmem, k2, j);
            sender_fail_now(s, &j, 1, "event_missing",
                            "the event of this delivery is no longer stored: it cannot be sent");
            continue;
        }
        enqueue(s, j, true, now);
    }
    free(rows);
}

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
    sender_job_destroy(j); /* not done: the partition's new owner reads it again */
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
    s->assignment_saved = false;
}

void sender_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    sender *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (s->resumed) { /* Kafka's word replaces the previous run's partitions */
            s->resumed = false;
            s->nassigned = 0;
        }
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
        sender_store_offsets(s);
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
