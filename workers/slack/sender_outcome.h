#ifndef HERALD_SENDER_OUTCOME_H
#define HERALD_SENDER_OUTCOME_H

/*
 * herald-slack's outcomes: recording sent, retrying and failed, claims that
 * fail, 429s, revocations. Floor 4 of the engine (map in sender_internal.h);
 * calls sender_link.c.
 */

#include "workers/slack/sender_state.h"

void sender_outcome_destroy(outcome *o); /* NULL-safe; its jobs are not its to destroy */
/* Writes the queued outcomes in order. */
void sender_flush_pending(sender *s);
/* Fails claimed jobs permanently / retries them with backoff (or gives up). */
void sender_fail_jobs(sender *s, job **jobs, size_t n, const char *code, const char *reason);
void sender_retry_jobs(sender *s, job **jobs, size_t n, const char *code, const char *reason,
                       const char *cause, int64_t not_before_wall_ms);
/* Claims (without counting an attempt) and fails; false when the database is away. */
/* A resolve with nothing to edit: 'suppressed' with its reason (the target is not flagged). */
void sender_suppress_jobs(sender *s, job **jobs, size_t n, const char *code, const char *reason);
/* The message of notification (event_id, target_id) is to be refreshed once its nudges ended. */
void sender_refresh_request(sender *s, const char *event_id, int64_t target_id);
bool sender_fail_now(sender *s, job **jobs, size_t n, const char *code, const char *reason);
/* A job that could not be claimed: logged, and retired. */
void sender_drop_unclaimed(sender *s, job *j);
/* Reactions to Slack's answers: a 429, a message posted, an installation error. */
void sender_handle_429(sender *s, flight *f, int retry_after_ms, int64_t now);
void sender_on_sent(sender *s, flight *f, const slack_result *res, int64_t now_wall);
void sender_revoke_workspace(sender *s, ws_entry *w, const char *code);

#endif
