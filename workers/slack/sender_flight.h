#ifndef HERALD_SENDER_FLIGHT_H
#define HERALD_SENDER_FLIGHT_H

/*
 * herald-slack's requests to Slack over curl multi and their answers. Floor 3 of
 * the engine (map in sender_internal.h); calls sender_token.c, sender_outcome.c,
 * sender_cache.c, sender_link.c.
 */

#include "workers/slack/sender_state.h"

void sender_flight_destroy(flight *f); /* NULL-safe; its jobs are not its to destroy */
/* Build f's chat.postMessage / users.lookupByEmail request and add it to curl multi. */
bool sender_flight_post(sender *s, flight *f);
bool sender_flight_lookup(sender *s, flight *f);
/* Builds f's chat.update request of f->upd (stage: STAGE_UPDATE or STAGE_REFRESH). */
bool sender_flight_update(sender *s, flight *f, flight_stage stage);
/* The readable reason of a users_not_found failure, by what the address was for. */
void sender_not_found_reason(const job *j, const char *email, char *out, size_t size);
/* Adds a started flight to the list of flights in flight. */
void sender_flight_track(sender *s, flight *f);

/* What a resolve does (sender_flight_resolve). */
typedef enum resolve_plan {
    RESOLVE_UPDATE, /* chat.update of f->upd (then the reply in f->msg when f->reply_after) */
    RESOLVE_REPLY,  /* the original was folded into a digest: a reply under it (f->msg) */
    RESOLVE_DONE    /* nothing to send: its outcome is recorded (suppressed, waiting, failed) */
} resolve_plan;
/* Decides and prepares a claimed resolve (f->jobs[0]) from its notification's row. */
resolve_plan sender_flight_resolve(sender *s, flight *f, const sender_db_target *t);
/* Renders f's message (one delivery, a thread reply, a digest, or a nudge). */
bool sender_flight_render(sender *s, flight *f, const sender_db_target *t);
/* Takes f out of the list of flights in flight. */
void sender_flight_unlink(sender *s, flight *f);
/* Runs curl multi and handles every finished transfer. */
void sender_drain_multi(sender *s);

#endif
