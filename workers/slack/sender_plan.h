#ifndef HERALD_SENDER_PLAN_H
#define HERALD_SENDER_PLAN_H

/*
 * herald-slack's planning: what each ready channel sends next, claims,
 * launches. Floor 2 of the engine (map in sender_internal.h); calls
 * sender_flight.c, sender_token.c, sender_outcome.c, sender_cache.c,
 * sender_link.c.
 */

#include "workers/slack/sender_state.h"

/* Starts every request the pacing allows now; returns ms until the next may go (-1: none). */
int64_t sender_dispatch_ready(sender *s, int64_t now);
/* Refreshes the messages whose nudges all ended (sender_refresh_request), once written. */
void sender_refresh_ready(sender *s, int64_t now);

#endif
