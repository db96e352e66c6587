/*
 * herald-slack's outcomes: claiming delivery rows before their request,
 * recording what happened (sent, retrying with backoff, failed) in order and
 * in batches, retiring jobs once their outcome is durable (their offsets may
 * then pass), and the reactions to Slack's answers that change state: a 429
 * pauses a channel or a workspace, an installation error revokes a workspace.
 */
#include "workers/slack/sender_outcome.h"

#include "workers/slack/sender_link.h"

#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

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
    sender_job_destroy(j);
}

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
    PGconn *conn = sender_conn(s);
    if (!conn)
        return false;
    char err[512];
    int64_t *ids = ids_of(o->jobs, o->njobs);
    const char **leases = leases_of(o->jobs, o->njobs);
    int rc = 0;
    switch (o->kind) {
    case OUT_SENT:
        rc = sender_db_mark_sent(conn, ids, o->njobs, o->channel, o->ts, o->thread_ts,
                                 o->digest_size, o->resolved, err, sizeof err);
        break;
    case OUT_RETRY:
        rc = sender_db_mark_retrying(conn, ids, leases, o->due_ms, o->njobs, o->code, o->reason,
                                     err, sizeof err);
        break;
    case OUT_FAILED:
        rc =
            sender_db_mark_failed(conn, ids, leases, o->njobs, o->code, o->reason, err, sizeof err);
        break;
    case OUT_SUPPRESSED:
        rc = sender_db_mark_suppressed(conn, ids, leases, o->njobs, o->code, o->reason, err,
                                       sizeof err);
        break;
    }
    free(ids);
    free(leases);
    if (rc < 0) {
        sender_link_failed(s, "recording an outcome", err);
        return false;
    }
    return true;
}

void sender_outcome_destroy(outcome *o)
{
    if (!o)
        return;
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

/* Records the outcome for jobs[0..n): queued, and written by sender_flush_pending at
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
    /* A nudge that ended may be its notification's last: refresh the message
     * (sender_refresh_ready, once this outcome is written). */
    if (kind == OUT_SENT || kind == OUT_FAILED)
        for (size_t i = 0; i < n; i++)
            if (jobs[i]->dk == JOB_NUDGE && jobs[i]->ref_event_id[0])
                sender_refresh_request(s, jobs[i]->ref_event_id, jobs[i]->target_id);
}

void sender_refresh_request(sender *s, const char *event_id, int64_t target_id)
{
    for (refresh_req *r = s->refreshes; r; r = r->next)
        if (r->target_id == target_id && !strcmp(r->event_id, event_id))
            return;
    refresh_req *r = xcalloc(1, sizeof *r);
    snprintf(r->event_id, sizeof r->event_id, "%s", event_id);
    r->target_id = target_id;
    r->next = s->refreshes;
    s->refreshes = r;
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
        sender_outcome_destroy(o);
    }
}

/* Writes the queued outcomes in order: runs of 'sent' as one statement each. */
void sender_flush_pending(sender *s)
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
        PGconn *conn = sender_conn(s);
        int rc = conn ? sender_db_mark_sent_rows(conn, rows, nrows, err, sizeof err) : -1;
        free(rows);
        if (rc < 0) {
            if (conn)
                sender_link_failed(s, "recording sent deliveries", err);
            return;
        }
        pending_done(s, nout);
    }
}

/* herald_slack_nudges_total / herald_slack_resolves_total for jobs reaching an outcome. */
static void count_kinds(sender *s, job **jobs, size_t n, const char *nudge, const char *resolve)
{
    for (size_t i = 0; i < n; i++) {
        if (jobs[i]->dk == JOB_NUDGE && nudge)
            metrics_counter_inc(s->m.nudges, nudge);
        else if (jobs[i]->dk == JOB_RESOLVE && resolve)
            metrics_counter_inc(s->m.resolves, resolve);
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
void sender_fail_jobs(sender *s, job **jobs, size_t n, const char *code, const char *reason)
{
    for (size_t i = 0; i < n; i++)
        LOG_INFO("delivery %lld target %lld -> %s: failed: %s (%s)", (long long)jobs[i]->id,
                 (long long)jobs[i]->target_id, jobs[i]->destination, code, reason);
    count_final(s, "failed", n);
    count_kinds(s, jobs, n, !strcmp(code, "users_not_found") ? "not_found" : "failed", "failed");
    record(s, OUT_FAILED, jobs, n, NULL, NULL, NULL, NULL, NULL, code, reason, 0);
}

void sender_suppress_jobs(sender *s, job **jobs, size_t n, const char *code, const char *reason)
{
    for (size_t i = 0; i < n; i++)
        LOG_INFO("delivery %lld target %lld: suppressed: %s (%s)", (long long)jobs[i]->id,
                 (long long)jobs[i]->target_id, code, reason);
    metrics_counter_add(s->m.deliveries, "suppressed", (double)n);
    count_kinds(s, jobs, n, NULL, code);
    record(s, OUT_SUPPRESSED, jobs, n, NULL, NULL, NULL, NULL, NULL, code, reason, 0);
}

/* A retriable failure of claimed jobs: retrying with backoff (or at not_before_ms
 * when later, for a 429), or failed when their age is up. */
void sender_retry_jobs(sender *s, job **jobs, size_t n, const char *code, const char *reason,
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
        sender_fail_jobs(s, give_up, ng, code, why);
    }
    free(again);
    free(give_up);
    free(due);
}

/* Jobs that could not be claimed: someone else's, already done, or bogus. */
void sender_drop_unclaimed(sender *s, job *j)
{
    sender_db_row_state st = SENDER_DB_ROW_DONE;
    char err[512];
    PGconn *conn = j->from_kafka && !s->db_down ? sender_conn(s) : NULL;
    if (conn &&
        sender_db_row_state_of(conn, j->id, j->event_id, j->target_id, &st, err, sizeof err)) {
        sender_link_failed(s, "checking a delivery", err);
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
    PGconn *conn = sender_conn(s);
    if (!conn)
        return false;
    sender_db_claim_req *reqs = xmalloc(*n * sizeof *reqs);
    sender_db_claim_res *res = xmalloc(*n * sizeof *res);
    for (size_t i = 0; i < *n; i++)
        reqs[i] = (sender_db_claim_req){jobs[i]->id, jobs[i]->event_id, jobs[i]->target_id,
                                        jobs[i]->lease};
    char err[512];
    int rc = sender_db_claim(conn, reqs, *n, s->cfg.claim_lease_ms, count_attempt, s->instance_id,
                             res, err, sizeof err);
    if (rc < 0) {
        sender_link_failed(s, "claiming deliveries", err);
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
            sender_drop_unclaimed(s, jobs[i]);
        }
    }
    *n = k;
    free(reqs);
    free(res);
    return true;
}

/* Claims (without counting an attempt) and fails: for deliveries that must not
 * reach Slack (installation unusable, target removed, bad event). */
bool sender_fail_now(sender *s, job **jobs, size_t n, const char *code, const char *reason)
{
    if (!claim_jobs(s, jobs, &n, false))
        return false;
    sender_fail_jobs(s, jobs, n, code, reason);
    return true;
}

/* A 429 on chat.postMessage pauses the channel; on several channels of the
 * workspace at once it is the workspace-wide limit: pause the workspace. */
void sender_handle_429(sender *s, flight *f, int retry_after_ms, int64_t now)
{
    int64_t until = now + retry_after_ms;
    ws_entry *w = f->ws;
    if (f->stage == STAGE_UPDATE) { /* chat.update: the workspace's Tier 3 budget */
        ratelimit_pause_until(&w->updates, until);
        dispatch_pause_channel(s->disp, f->chan, until);
        metrics_counter_inc(s->m.rate_limited, "update");
        return;
    }
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

void sender_on_sent(sender *s, flight *f, const slack_result *res, int64_t now_wall)
{
    if (f->sent_ts[0]) {
        /* A resolve: recorded as the message it edited (or the digest it replied under). */
        for (size_t i = 0; i < f->njobs; i++)
            LOG_INFO("delivery %lld target %lld: resolve done (channel %s, ts %s%s)",
                     (long long)f->jobs[i]->id, (long long)f->jobs[i]->target_id, f->sent_channel,
                     f->sent_ts,
                     f->has_update ? (f->reply_after ? ", edited and replied" : ", edited")
                                   : ", replied under the digest");
        count_final(s, "sent", f->njobs);
        count_kinds(s, f->jobs, f->njobs, NULL, f->has_update ? "updated" : "replied");
        record(s, OUT_SENT, f->jobs, f->njobs, NULL, f->sent_channel, f->sent_ts, NULL, NULL, NULL,
               NULL, 1);
        return;
    }
    count_kinds(s, f->jobs, f->njobs, "sent", NULL);
    const char *channel = res->channel[0] ? res->channel : f->post_to;
    const char *resolved = f->resolved[0] && f->jobs[0]->dk == JOB_NOTIFY ? f->resolved : NULL;
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
    PGconn *conn = f->thread_track && f->njobs == 1 && !s->db_down ? sender_conn(s) : NULL;
    if (conn) {
        job *j = f->jobs[0];
        char err[512];
        /* A reply keeps the streak's root; a top-level message starts a new streak. */
        if (sender_db_thread_put(conn, j->target_id, j->ev->check_type, j->destination, channel,
                                 f->thread_reply ? f->thread_ts : res->ts, j->ev->failing_count,
                                 j->event_id, j->ev->evaluated_at_ms, err, sizeof err))
            sender_link_failed(s, "recording thread state", err);
    }
    count_final(s, "sent", f->njobs);
    record(s, OUT_SENT, f->jobs, f->njobs, NULL, channel, res->ts,
           f->thread_reply ? f->thread_ts : NULL, resolved, NULL, NULL, (int)f->njobs);
}

/* An installation error: the workspace is unusable until reinstalled. */
void sender_revoke_workspace(sender *s, ws_entry *w, const char *code)
{
    if (w->revoked)
        return;
    w->revoked = true;
    snprintf(w->reason, sizeof w->reason, "%s", code);
    metrics_counter_inc(s->m.revoked, NULL);
    char err[512];
    PGconn *conn = s->db_down ? NULL : sender_conn(s);
    int rc = !conn ? 0
                   : sender_db_workspace_revoke(conn, w->team_id, w->token_enc, w->token_enc_len,
                                                code, err, sizeof err);
    if (rc < 0)
        sender_link_failed(s, "marking the workspace revoked", err);
    LOG_ERROR("workspace %s: Slack says %s: installation marked unusable; its deliveries fail "
              "until Herald is reinstalled",
              w->team_id, code);
}
