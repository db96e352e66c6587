/*
 * herald-slack's planning: for each channel the pacing lets go, what to send
 * (fail fast, an email lookup, one message or a digest of the backlog),
 * then one claim statement for all the planned requests and their launch.
 */
#include "workers/slack/sender_plan.h"

#include "workers/slack/sender_cache.h"
#include "workers/slack/sender_flight.h"
#include "workers/slack/sender_link.h"
#include "workers/slack/sender_outcome.h"
#include "workers/slack/sender_token.h"

#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

static bool needs_lookup(const job *j)
{
    /* A resolve edits a message already posted: no address to look up. */
    return j->dk != JOB_RESOLVE && j->is_email && strchr(j->destination, '@') != NULL;
}

/* Whether a queued job may be folded into a digest with the channel's head. */
static bool foldable(sender *s, job *j, int64_t now)
{
    if (!strcmp(j->kind, "test") || j->dk != JOB_NOTIFY)
        return false;
    const sender_db_target *t = sender_target(s, j->target_id, now);
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
    flight *f = NULL;
    /* Nothing to send now: >= 0 pauses the channel until then (the database or
     * the lookup budget is away for a while); -1 only releases it. */
    int64_t pause_until = -1;

    ws_entry *w = sender_workspace(s, head->team_id, now);
    if (!w || s->db_down) {
        pause_until = now + 1000;
        goto out;
    }
    /* Token rotation: a token about to expire is refreshed before it is used. A
     * refresh that fails for now leaves the current token (it may still work;
     * token_expired is handled on the answer); one Slack refuses revokes w. */
    if (w->found && !w->revoked && w->token && sender_token_due(s, w, now))
        sender_token_refresh(s, w, NULL, now);
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
        if (!sender_fail_now(s, all, n, code, reason))
            for (size_t i = n; i-- > 0;) /* database away: put them back, in order */
                dispatch_push(s->disp, head->team_id, dispatch_channel_key(c), all[i], true, now,
                              NULL);
        free(all);
        goto out;
    }
    const sender_db_target *t = sender_target(s, head->target_id, now);
    if (!t) {
        pause_until = now + 1000;
        goto out;
    }
    if (!t->found || t->deleted || !t->enabled) {
        job *j = dispatch_channel_pop(s->disp, c);
        const char *code = !t->found || t->deleted ? "target_removed" : "target_disabled";
        snprintf(reason, sizeof reason, "target %lld was %s before the message was sent",
                 (long long)j->target_id, !t->found || t->deleted ? "removed" : "disabled");
        if (!sender_fail_now(s, &j, 1, code, reason))
            dispatch_push(s->disp, j->team_id, dispatch_channel_key(c), j, true, now, NULL);
        goto out;
    }

    f = xcalloc(1, sizeof *f);
    f->chan = c;
    f->ws = w;
    snprintf(f->post_to, sizeof f->post_to, "%s", head->destination);

    /* Email destinations: the person's user id, from the cache or users.lookupByEmail. */
    bool lookup = false;
    if (needs_lookup(head) && !w->key_error) {
        char uid[64] = "";
        int rc = sender_user_cached(s, head->team_id, head->destination, uid, sizeof uid, now);
        if (rc < 0) {
            pause_until = now + 1000;
            goto out;
        }
        if (rc == 1 && !uid[0]) {
            job *j = dispatch_channel_pop(s->disp, c);
            sender_not_found_reason(j, j->destination, reason, sizeof reason);
            if (!sender_fail_now(s, &j, 1, "users_not_found", reason))
                dispatch_push(s->disp, j->team_id, dispatch_channel_key(c), j, true, now, NULL);
            goto out;
        }
        if (rc == 1) {
            snprintf(f->post_to, sizeof f->post_to, "%s", uid);
            snprintf(f->resolved, sizeof f->resolved, "%s", uid);
        } else {
            int64_t wait = ratelimit_take(&w->lookups, now);
            if (wait > 0) {
                pause_until = now + wait;
                goto out;
            }
            lookup = true;
            snprintf(f->email, sizeof f->email, "%s", head->destination);
        }
    }

    /* A resolve's chat.update takes the workspace's Tier 3 budget (its thread
     * reply, if any, rides on the channel's turn this flight holds). */
    if (head->dk == JOB_RESOLVE) {
        int64_t wait = ratelimit_take(&w->updates, now);
        if (wait > 0) {
            pause_until = now + wait;
            goto out;
        }
    }

    /* Digest: more waiting than the pace can send within the window. */
    size_t waiting = dispatch_channel_len(c);
    size_t take = 1;
    if (s->cfg.digests && s->cfg.channel_rate > 0 && waiting >= (size_t)s->cfg.digest_min &&
        t->digest_enabled && strcmp(head->kind, "test") && head->dk == JOB_NOTIFY) {
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
    f->update_token = head->dk == JOB_RESOLVE;
    f->target = t;
    return f;

out:
    free(f); /* planned nothing yet: it holds no jobs, no request */
    dispatch_release(s->disp, c, false, now);
    if (pause_until >= 0)
        dispatch_pause_channel(s->disp, c, pause_until);
    return NULL;
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
    if (f->update_token)
        ratelimit_refund(&f->ws->updates, now);
    dispatch_release(s->disp, f->chan, false, now);
    dispatch_pause_channel(s->disp, f->chan, now + 1000);
    sender_flight_destroy(f);
}

/* Starts the request of a planned flight whose jobs are claimed. */
static void launch(sender *s, flight *f, int64_t now)
{
    ws_entry *w = f->ws;
    dispatch_channel *c = f->chan;
    if (f->njobs == 0) {
        if (f->lookup)
            ratelimit_refund(&w->lookups, now);
        if (f->update_token)
            ratelimit_refund(&w->updates, now);
        sender_flight_destroy(f);
        dispatch_release(s->disp, c, false, now);
        return;
    }
    if (w->key_error) {
        /* Our HERALD_SECRET_KEY does not open this token: an operator problem that
         * a restart with the right key fixes, so retry rather than fail. */
        sender_retry_jobs(s, f->jobs, f->njobs, "secret_key_mismatch",
                          "the stored bot token cannot be opened with this HERALD_SECRET_KEY",
                          "transient", 0);
        sender_flight_destroy(f);
        dispatch_release(s->disp, c, false, now);
        return;
    }
    if (f->update_token) {
        resolve_plan rp = sender_flight_resolve(s, f, f->target);
        if (rp != RESOLVE_UPDATE)
            ratelimit_refund(&w->updates, now);
        bool started = rp == RESOLVE_UPDATE  ? sender_flight_update(s, f, STAGE_UPDATE)
                       : rp == RESOLVE_REPLY ? sender_flight_post(s, f)
                                             : false;
        if (!started) {
            if (rp != RESOLVE_DONE)
                sender_retry_jobs(s, f->jobs, f->njobs, "curl_init_failed",
                                  "libcurl could not start a request", "transient", 0);
            sender_flight_destroy(f);
            dispatch_release(s->disp, c, false, now);
            return;
        }
        sender_flight_track(s, f);
        return;
    }
    if (!sender_flight_render(s, f, f->target)) {
        if (f->njobs) {
            LOG_ERROR("rendering deliveries for %s failed: a rendering bug", f->post_to);
            sender_fail_jobs(s, f->jobs, f->njobs, "render_failed",
                             "Herald could not render this message: a rendering bug");
        }
        sender_flight_destroy(f);
        dispatch_release(s->disp, c, false, now);
        return;
    }
    if (!(f->lookup ? sender_flight_lookup(s, f) : sender_flight_post(s, f))) {
        sender_retry_jobs(s, f->jobs, f->njobs, "curl_init_failed",
                          "libcurl could not start a request", "transient", 0);
        sender_flight_destroy(f);
        dispatch_release(s->disp, c, false, now);
        return;
    }
    sender_flight_track(s, f);
}

/*
 * Messages whose nudges may all have ended (sender_refresh_request): once the
 * outcomes before are written, each one with no nudge left open is rendered
 * again with its marks ("Nudged N users ...") and edited with chat.update,
 * paced by its workspace's chat.update budget.
 */
void sender_refresh_ready(sender *s, int64_t now)
{
    if (!s->refreshes || s->pending || s->db_down)
        return;
    refresh_req *keep = NULL, *r = s->refreshes;
    s->refreshes = NULL;
    while (r) {
        refresh_req *next = r->next;
        PGconn *conn = s->in_flight < (size_t)s->cfg.max_in_flight ? sender_conn(s) : NULL;
        char err[512];
        int open =
            conn ? sender_db_nudges_open(conn, r->event_id, r->target_id, err, sizeof err) : -1;
        if (open < 0 && conn)
            sender_link_failed(s, "counting open nudges", err);
        if (open != 0) { /* later (database away), or another nudge will ask again */
            if (open < 0) {
                r->next = keep;
                keep = r;
            } else {
                free(r);
            }
            r = next;
            continue;
        }
        flight *f = xcalloc(1, sizeof *f);
        f->refresh_target_id = r->target_id;
        store_status st = message_update_prepare(conn, r->event_id, r->target_id, &s->ropts, 0,
                                                 &f->upd, err, sizeof err);
        ws_entry *w = st == STORE_OK ? sender_workspace(s, f->upd.team_id, now) : NULL;
        int64_t wait = w && w->token && !w->revoked ? ratelimit_take(&w->updates, now) : -1;
        if (st != STORE_OK || wait != 0) {
            if (st != STORE_OK && st != STORE_NOT_FOUND)
                sender_link_failed(s, "rendering a nudged message", err);
            if (wait > 0 || (st != STORE_OK && st != STORE_NOT_FOUND)) {
                r->next = keep; /* its turn comes (rate) or the database returns */
                keep = r;
            } else {
                free(r);
            }
            sender_flight_destroy(f);
            r = next;
            continue;
        }
        f->ws = w;
        if (sender_flight_update(s, f, STAGE_REFRESH))
            sender_flight_track(s, f);
        else
            sender_flight_destroy(f);
        free(r);
        r = next;
    }
    s->refreshes = keep;
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
    PGconn *conn = sender_conn(s);
    int rc = conn ? sender_db_claim(conn, reqs, total, s->cfg.claim_lease_ms, true, s->instance_id,
                                    res, err, sizeof err)
                  : -1;
    if (rc < 0) {
        if (conn)
            sender_link_failed(s, "claiming deliveries", err);
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
                sender_drop_unclaimed(s, jb);
            }
        }
        f->njobs = keep;
    }
    free(reqs);
    free(res);
    for (size_t i = 0; i < np; i++)
        launch(s, plans[i], now);
}

/* Starts every request the pacing allows now; returns ms until the next may go (-1: none). */
int64_t sender_dispatch_ready(sender *s, int64_t now)
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
