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
/* Renders f's message (one delivery, a thread reply or a digest). */
bool sender_flight_render(sender *s, flight *f, const sender_db_target *t);
/* Takes f out of the list of flights in flight. */
void sender_flight_unlink(sender *s, flight *f);
/* Runs curl multi and handles every finished transfer. */
void sender_drain_multi(sender *s);

#endif
