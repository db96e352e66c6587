/*
 * herald-slack's requests to Slack: building a flight's request
 * (chat.postMessage, users.lookupByEmail), rendering its message, running
 * curl multi, and sorting each answer into an outcome (sender_outcome.c).
 */
#include "workers/slack/sender_flight.h"

#include "workers/slack/sender_cache.h"
#include "workers/slack/sender_link.h"
#include "workers/slack/sender_outcome.h"
#include "workers/slack/sender_token.h"

#include "common/log.h"
#include "common/util.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

void sender_flight_destroy(flight *f)
{
    if (!f)
        return;
    slack_request_destroy(f->req);
    render_output_dispose(&f->msg);
    message_update_dispose(&f->upd);
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
bool sender_flight_post(sender *s, flight *f)
{
    slack_request_destroy(f->req);
    f->req = slack_request_post_message(s->cfg.common.slack_api_url, f->ws->token, f->post_to,
                                        f->msg.text, f->msg.blocks_json,
                                        f->thread_ts[0] ? f->thread_ts : NULL);
    f->token_gen = f->ws->token_gen;
    f->stage = STAGE_POST;
    return f->req && flight_add(s, f);
}

bool sender_flight_update(sender *s, flight *f, flight_stage stage)
{
    slack_request_destroy(f->req);
    f->req = slack_request_update_message(s->cfg.common.slack_api_url, f->ws->token, f->upd.channel,
                                          f->upd.ts, f->upd.text, f->upd.blocks_json);
    f->token_gen = f->ws->token_gen;
    f->stage = stage;
    return f->req && flight_add(s, f);
}

void sender_flight_track(sender *s, flight *f)
{
    f->prev = NULL;
    f->next = s->flights;
    if (s->flights)
        s->flights->prev = f;
    s->flights = f;
    s->in_flight++;
}

/* Builds the users.lookupByEmail request of f. */
bool sender_flight_lookup(sender *s, flight *f)
{
    slack_request_destroy(f->req);
    const char *fields[] = {"email", f->email, NULL};
    f->req = slack_request_new_form(s->cfg.common.slack_api_url, "users.lookupByEmail",
                                    f->ws->token, fields);
    f->token_gen = f->ws->token_gen;
    f->stage = STAGE_LOOKUP;
    return f->req && flight_add(s, f);
}

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A nudge's direct message, from its events row (herald.nudge.v1). */
static bool render_nudge_job(sender *s, const job *j, render_output *out)
{
    cJSON *p = j->event_json ? cJSON_Parse(j->event_json) : NULL;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(p, "user");
    const char *sev = jstr(p, "severity");
    event_severity severity = SEV_LOW;
    for (int i = SEV_LOW; sev && i <= SEV_CRITICAL; i++)
        if (!strcmp(sev, event_severity_name((event_severity)i)))
            severity = (event_severity)i;
    const char *name = jstr(p, "check_name") ? jstr(p, "check_name") : jstr(p, "check_type");
    const char *text = jstr(p, "text");
    bool ok = p && text &&
              render_nudge(name, severity, jstr(u, "display_name"), text, &s->ropts, out) == 0;
    cJSON_Delete(p);
    return ok;
}

/*
 * Renders the message for f's jobs: one delivery (a thread reply when its
 * target threads repeats and the streak goes on), or a digest. Jobs whose
 * event cannot be rendered are failed and removed. False when none is left.
 */
bool sender_flight_render(sender *s, flight *f, const sender_db_target *t)
{
    char err[512];
    if (f->njobs == 1 && f->jobs[0]->dk == JOB_NUDGE) {
        if (render_nudge_job(s, f->jobs[0], &f->msg))
            return true;
        sender_fail_jobs(s, f->jobs, 1, "invalid_event",
                         "the nudge could not be read (herald.nudge.v1 without user or text)");
        f->njobs = 0;
        return false;
    }
    size_t k = 0;
    for (size_t i = 0; i < f->njobs; i++) {
        job *j = f->jobs[i];
        if (!strcmp(j->kind, "test") || job_event(j, err, sizeof err)) {
            f->jobs[k++] = j;
        } else {
            char reason[600];
            snprintf(reason, sizeof reason, "the event could not be read: %s", err);
            sender_fail_jobs(s, &j, 1, "invalid_event", reason);
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
    PGconn *conn = NULL;
    if (s->cfg.threads && t && t->thread_repeats && j->ev->kind == EVENT_CHECK_RESULT &&
        !s->db_down && (conn = sender_conn(s))) {
        sender_db_thread th;
        char key_dest[256];
        snprintf(key_dest, sizeof key_dest, "%s", j->destination);
        if (sender_db_thread_get(conn, j->target_id, j->ev->check_type, &th, err, sizeof err)) {
            sender_link_failed(s, "reading thread state", err);
        } else {
            f->thread_track = true;
            bool same_dest = th.found && !strcasecmp(th.destination, key_dest);
            int64_t age = j->ev->evaluated_at_ms - th.last_run_ms;
            if (same_dest && age >= 0 && age <= s->cfg.thread_max_age_ms) {
                int passed = sender_db_check_passed_between(conn, j->tenant_id, j->ev->check_type,
                                                            th.last_run_ms, j->ev->evaluated_at_ms,
                                                            err, sizeof err);
                if (passed < 0)
                    sender_link_failed(s, "reading check history", err);
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
    /* A check message of its own carries the action buttons (the contract's value). */
    render_opts o = s->ropts;
    char value[64];
    if (j->ev->kind == EVENT_CHECK_RESULT && j->dk == JOB_NOTIFY) {
        snprintf(value, sizeof value, "%s:%lld", j->event_id, (long long)j->target_id);
        o.action_value = value;
        o.nudge_button = t && t->nudge_enabled;
    }
    return render_event(j->ev, &o, &f->msg) == 0;
}

resolve_plan sender_flight_resolve(sender *s, flight *f, const sender_db_target *t)
{
    job *j = f->jobs[0];
    char err[512], reason[700];
    event *ev = job_event(j, err, sizeof err);
    if (!ev) {
        snprintf(reason, sizeof reason, "the passing result could not be read: %s", err);
        sender_fail_jobs(s, f->jobs, 1, "invalid_event", reason);
        return RESOLVE_DONE;
    }
    PGconn *conn = sender_conn(s);
    sender_db_notification n;
    if (!conn ||
        sender_db_notification_get(conn, j->ref_event_id[0] ? j->ref_event_id : j->event_id,
                                   j->target_id, &n, err, sizeof err)) {
        if (conn)
            sender_link_failed(s, "reading the notification to resolve", err);
        sender_retry_jobs(s, f->jobs, 1, "database_unavailable",
                          "the notification to resolve could not be read", "transient", 0);
        return RESOLVE_DONE;
    }
    if (n.found && (!strcmp(n.state, "pending") || !strcmp(n.state, "sending") ||
                    !strcmp(n.state, "retrying"))) {
        /* Edit it once it is posted: the resolve waits with backoff. */
        metrics_counter_inc(s->m.resolves, "waiting");
        snprintf(reason, sizeof reason,
                 "the notification %s it edits is not posted yet (%s): waiting for it",
                 j->ref_event_id, n.state);
        sender_retry_jobs(s, f->jobs, 1, "original_not_sent", reason, "original_not_sent", 0);
        return RESOLVE_DONE;
    }
    bool sent = n.found && !strcmp(n.state, "sent") && n.ts[0];
    if (!j->ref_event_id[0] || !sent) {
        snprintf(reason, sizeof reason,
                 "the notification %s was never posted (%s): nothing to edit",
                 j->ref_event_id[0] ? j->ref_event_id : "(none)", n.found ? n.state : "no row");
        sender_suppress_jobs(s, f->jobs, 1, "nothing_to_resolve", reason);
        return RESOLVE_DONE;
    }
    int64_t at = ev->kind == EVENT_CHECK_RESULT ? ev->evaluated_at_ms : ev->finished_at_ms;
    store_status st = STORE_NOT_FOUND;
    if (n.digest_size <= 1)
        st = message_update_prepare(conn, j->ref_event_id, j->target_id, &s->ropts,
                                    at > 0 ? at : util_now_wall_ms(), &f->upd, err, sizeof err);
    if (st == STORE_OK) {
        f->has_update = true;
        snprintf(f->sent_channel, sizeof f->sent_channel, "%s", f->upd.channel);
        snprintf(f->sent_ts, sizeof f->sent_ts, "%s", f->upd.ts);
        /* The thread reply: when threads are on for the target, or the message is a thread's. */
        f->reply_after = (s->cfg.threads && t && t->thread_repeats) || n.thread_ts[0];
        if (f->reply_after && render_resolved_reply(ev, &s->ropts, &f->msg) == 0) {
            snprintf(f->post_to, sizeof f->post_to, "%s", f->upd.channel);
            snprintf(f->thread_ts, sizeof f->thread_ts, "%s", f->upd.ts);
        } else {
            f->reply_after = false;
        }
        return RESOLVE_UPDATE;
    }
    if (st != STORE_NOT_FOUND) {
        sender_link_failed(s, "rendering the resolved message", err);
        sender_retry_jobs(s, f->jobs, 1, "database_unavailable",
                          "the message to edit could not be read", "transient", 0);
        return RESOLVE_DONE;
    }
    /* Folded into a digest (a digest is not rewritten for one line): a reply under it. */
    if (render_resolved_reply(ev, &s->ropts, &f->msg)) {
        sender_fail_jobs(s, f->jobs, 1, "render_failed",
                         "Herald could not render the resolved reply: a rendering bug");
        return RESOLVE_DONE;
    }
    snprintf(f->post_to, sizeof f->post_to, "%s", n.channel);
    snprintf(f->thread_ts, sizeof f->thread_ts, "%s", n.thread_ts[0] ? n.thread_ts : n.ts);
    snprintf(f->sent_channel, sizeof f->sent_channel, "%s", n.channel);
    snprintf(f->sent_ts, sizeof f->sent_ts, "%s", n.ts);
    return RESOLVE_REPLY;
}

void sender_flight_unlink(sender *s, flight *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        s->flights = f->next;
    if (f->next)
        f->next->prev = f->prev;
    s->in_flight--;
}

/*
 * Slack answered token_expired to f on a rotating installation: refresh the
 * token (unless the cache already moved on to a newer one) and send the same
 * request again, once. True when f is in flight again; otherwise its jobs
 * were retried (refresh failed for now) or failed (Slack refused the refresh:
 * the installation is revoked).
 */
static bool resend_with_new_token(sender *s, flight *f, int64_t now)
{
    ws_entry *w = f->ws;
    f->token_retried = true;
    refresh_outcome o = REFRESH_OK;
    if (w->token_gen == f->token_gen) {
        char *stale = xstrdup(w->token);
        o = sender_token_refresh(s, w, stale, now);
        crypto_free_secret(stale);
    } /* else: the cache holds a newer token already (refreshed for another flight) */
    if (o == REFRESH_OK && w->token && !w->revoked && !w->key_error) {
        LOG_INFO("workspace %s: the bot token expired; refreshed, sending delivery %lld again",
                 w->team_id, (long long)f->jobs[0]->id);
        if (f->stage == STAGE_LOOKUP   ? sender_flight_lookup(s, f)
            : f->stage == STAGE_UPDATE ? sender_flight_update(s, f, STAGE_UPDATE)
                                       : sender_flight_post(s, f))
            return true;
        sender_retry_jobs(s, f->jobs, f->njobs, "curl_init_failed",
                          "libcurl could not start a request", "transient", 0);
        return false;
    }
    if (o == REFRESH_REVOKED || w->revoked) {
        char reason[512];
        snprintf(reason, sizeof reason,
                 "the bot token of workspace %s expired and Slack refused to refresh it (%s): "
                 "reinstall Herald in this workspace",
                 w->team_id, w->reason[0] ? w->reason : "token_expired");
        sender_fail_jobs(s, f->jobs, f->njobs, w->reason[0] ? w->reason : "token_expired", reason);
        return false;
    }
    sender_retry_jobs(s, f->jobs, f->njobs, "token_expired",
                      "the bot token expired and could not be refreshed yet: retrying", "transient",
                      0);
    return false;
}

void sender_not_found_reason(const job *j, const char *email, char *out, size_t size)
{
    if (j->dk == JOB_NUDGE)
        snprintf(out, size,
                 "no active member of Slack workspace %s has the email address %s "
                 "(users_not_found): the failing user was not nudged",
                 j->team_id, email);
    else
        snprintf(out, size,
                 "no active member of Slack workspace %s has the email address %s "
                 "(users_not_found): check the target's address",
                 j->team_id, email);
}

/* The end of a message refresh (no jobs, no channel): counted and logged; a 429 tries again. */
static void refresh_done(sender *s, flight *f, slack_class cls, const slack_result *res,
                         int64_t now)
{
    const char *label = cls == SLACK_OK                            ? "ok"
                        : cls == SLACK_RATE_LIMITED                ? "rate_limited"
                        : !strcmp(res->error, "message_not_found") ? "not_found"
                                                                   : "error";
    metrics_counter_inc(s->m.updates, label);
    if (cls == SLACK_RATE_LIMITED) {
        int64_t until = now + (res->retry_after_ms > 0 ? res->retry_after_ms : 1000);
        ratelimit_pause_until(&f->ws->updates, until);
        sender_refresh_request(s, f->upd.event_id, f->refresh_target_id);
    } else if (cls == SLACK_OK) {
        LOG_INFO("message %s/%s of event %s refreshed (nudges done)", f->upd.channel, f->upd.ts,
                 f->upd.event_id);
    } else {
        LOG_WARN("refreshing message %s/%s of event %s: %s", f->upd.channel, f->upd.ts,
                 f->upd.event_id, res->error);
    }
    sender_flight_unlink(s, f);
    sender_flight_destroy(f);
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
    if (f->stage == STAGE_REFRESH) {
        refresh_done(s, f, cls, &res, now);
        slack_result_dispose(&res);
        return;
    }
    if (f->stage == STAGE_UPDATE) {
        bool gone = !strcmp(res.error, "message_not_found") ||
                    !strcmp(res.error, "cant_update_message") ||
                    !strcmp(res.error, "edit_window_closed");
        metrics_counter_inc(s->m.updates, cls == SLACK_OK             ? "ok"
                                          : cls == SLACK_RATE_LIMITED ? "rate_limited"
                                          : gone                      ? "not_found"
                                                                      : "error");
        if (gone) {
            char reason[600];
            snprintf(reason, sizeof reason,
                     "Slack cannot edit the message %s/%s (%s): nothing to resolve", f->upd.channel,
                     f->upd.ts, res.error);
            sender_suppress_jobs(s, f->jobs, f->njobs, "nothing_to_resolve", reason);
            goto release;
        }
        if (cls == SLACK_OK && f->reply_after) {
            slack_result_dispose(&res);
            if (sender_flight_post(s, f))
                return; /* the thread reply: same flight, channel still busy */
            sender_retry_jobs(s, f->jobs, f->njobs, "curl_init_failed",
                              "libcurl could not start a request", "transient", 0);
            goto release;
        }
    }

    if (f->stage == STAGE_LOOKUP && cls == SLACK_OK && res.user_id[0]) {
        sender_user_remember(s, f->jobs[0]->team_id, f->email, res.user_id, now);
        snprintf(f->post_to, sizeof f->post_to, "%s", res.user_id);
        snprintf(f->resolved, sizeof f->resolved, "%s", res.user_id);
        slack_result_dispose(&res);
        if (sender_flight_post(s, f))
            return; /* same flight, channel still busy */
        sender_retry_jobs(s, f->jobs, f->njobs, "curl_init_failed",
                          "libcurl could not start a request", "transient", 0);
        goto release;
    }
    if (f->stage == STAGE_LOOKUP && !strcmp(res.error, "users_not_found")) {
        sender_user_remember(s, f->jobs[0]->team_id, f->email, NULL, now);
        char reason[512];
        sender_not_found_reason(f->jobs[0], f->email, reason, sizeof reason);
        sender_fail_jobs(s, f->jobs, f->njobs, "users_not_found", reason);
        goto release;
    }

    switch (cls) {
    case SLACK_OK:
        sender_on_sent(s, f, &res, util_now_wall_ms());
        break;
    case SLACK_RATE_LIMITED:
        s->stats.rate_limited++;
        sender_handle_429(s, f, res.retry_after_ms > 0 ? res.retry_after_ms : 1000, now);
        sender_retry_jobs(s, f->jobs, f->njobs, res.error, res.reason, "rate_limited",
                          util_now_wall_ms() +
                              (res.retry_after_ms > 0 ? res.retry_after_ms : 1000));
        break;
    case SLACK_TRANSIENT:
        /* A Retry-After on a 503 is Slack asking for time: honour it as a floor. */
        sender_retry_jobs(s, f->jobs, f->njobs, res.error, res.reason, "transient",
                          res.retry_after_ms > 0 ? util_now_wall_ms() + res.retry_after_ms : 0);
        break;
    case SLACK_INSTALLATION:
        if (!strcmp(res.error, "token_expired") && !f->token_retried && f->ws->rotating &&
            sender_rotation_ready(s)) {
            if (resend_with_new_token(s, f, now)) {
                slack_result_dispose(&res);
                return; /* sent again with the new token: same flight, channel still busy */
            }
            break;
        }
        sender_revoke_workspace(s, f->ws, res.error);
        sender_fail_jobs(s, f->jobs, f->njobs, res.error, res.reason);
        break;
    case SLACK_PAYLOAD:
        LOG_ERROR("Slack rejected Herald's message for %s as %s: a rendering bug (delivery %lld)",
                  f->post_to, res.error, (long long)f->jobs[0]->id);
        sender_fail_jobs(s, f->jobs, f->njobs, res.error, res.reason);
        break;
    case SLACK_DESTINATION: {
        /* Name the destination: the administrator reads this on the target. */
        char reason[600];
        snprintf(reason, sizeof reason, "%s %s: %s", f->jobs[0]->is_email ? "address" : "channel",
                 f->jobs[0]->destination, res.reason);
        sender_fail_jobs(s, f->jobs, f->njobs, res.error, reason);
        break;
    }
    case SLACK_UNKNOWN_PERMANENT:
    default:
        sender_fail_jobs(s, f->jobs, f->njobs, res.error, res.reason);
        break;
    }
release:
    slack_result_dispose(&res);
    dispatch_release(s->disp, f->chan, true, now);
    sender_flight_unlink(s, f);
    sender_flight_destroy(f);
}

void sender_drain_multi(sender *s)
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
