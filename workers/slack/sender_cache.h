#ifndef HERALD_SENDER_CACHE_H
#define HERALD_SENDER_CACHE_H

/*
 * herald-slack's caches: workspaces, targets, users (email -> id). Floor 5 of the
 * engine (map in sender_internal.h); calls sender_link.c.
 */

#include "workers/slack/sender_state.h"

/* The maps of the caches (workspaces, targets, users): made empty, destroyed with their rows. */
void sender_caches_init(sender *s);
void sender_caches_dispose(sender *s);
/* The workspace entry, loaded or refreshed when stale; NULL only when the
 * database cannot be read now. */
ws_entry *sender_workspace(sender *s, const char *team_id, int64_t now);
/* The target's settings; NULL only when the database cannot be read now. */
const sender_db_target *sender_target(sender *s, int64_t target_id, int64_t now);
/* 1: known (user_id "" = no such user), 0: unknown (ask Slack), -1: database away. */
int sender_user_cached(sender *s, const char *team_id, const char *email, char *user_id,
                       size_t size, int64_t now);
/* Remembers a users.lookupByEmail answer (user_id NULL: no such user). */
void sender_user_remember(sender *s, const char *team_id, const char *email, const char *user_id,
                          int64_t now);

#endif
