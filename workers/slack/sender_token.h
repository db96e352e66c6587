#ifndef HERALD_SENDER_TOKEN_H
#define HERALD_SENDER_TOKEN_H

/*
 * herald-slack's token rotation: refreshing expiring or expired bot tokens.
 * Floor 4 of the engine (map in sender_internal.h); calls sender_cache.c,
 * sender_link.c.
 */

#include "workers/slack/sender_state.h"

typedef enum refresh_outcome {
    REFRESH_OK,      /* w holds a usable token (refreshed here or by another process) */
    REFRESH_LATER,   /* failed for now (Slack, network, database): try again later */
    REFRESH_REVOKED, /* Slack refused for good: w is revoked (w->reason the code) */
    REFRESH_NONE     /* no rotation data or no client credentials: today's behaviour */
} refresh_outcome;

/* The Slack app's credentials are configured: tokens can be refreshed. */
bool sender_rotation_ready(const sender *s);
/* The token of w expires within the margin and may be refreshed now. */
bool sender_token_due(const sender *s, const ws_entry *w, int64_t now);
/* Refreshes w's token (stale: the token Slack refused, or NULL) and reloads w. */
refresh_outcome sender_token_refresh(sender *s, ws_entry *w, const char *stale, int64_t now);

#endif
