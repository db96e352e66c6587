#ifndef HERALD_STORE_TENANT_SETTINGS_H
#define HERALD_STORE_TENANT_SETTINGS_H

/*
 * Per-tenant settings (table tenant_settings, migration 010): who may press
 * Herald's buttons in the tenant's Slack messages. 'channel': anyone who sees
 * the message (the default, also for a tenant without a row); 'listed': the
 * Slack user ids in users or the members of the user groups in groups;
 * 'none': no button acts. Read by herald-api's /slack/interactivity for every
 * press, written by `heraldctl tenant actions` and PUT
 * /api/v1/settings/slack-actions. store/store.h has the conventions.
 */

#include "store/store.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this many user ids and this many group ids per tenant. */
#define STORE_MAX_ACTION_IDS 200
/* A Slack user or user-group id's longest accepted length. */
#define STORE_MAX_SLACK_ID 32

typedef enum store_action_who {
    STORE_ACTIONS_CHANNEL = 0, /* anyone in the channel */
    STORE_ACTIONS_LISTED,      /* users[] or members of groups[] */
    STORE_ACTIONS_NONE         /* nobody: buttons answer "not allowed" */
} store_action_who;

/* "channel", "listed", "none". */
const char *store_action_who_name(store_action_who w);

/* "channel" | "listed" | "none" into *w; STORE_INVALID "who: ..." otherwise. */
store_status store_action_who_parse(const char *s, store_action_who *w, char *errstr,
                                    size_t errstr_size) STORE_MUST_CHECK;

/* A tenant's action settings. users and groups are sorted and without
 * duplicates; NULL when n_* is 0. */
typedef struct store_action_settings {
    char *tenant;
    store_action_who who;
    char **users; /* Slack user ids (U..., W...) */
    size_t n_users;
    char **groups; /* Slack user-group ids (S...) */
    size_t n_groups;
    bool stored;           /* false: no row, the defaults ('channel', nobody listed) */
    int64_t updated_at_ms; /* 0 when not stored */
} store_action_settings;

/* Frees the members and zeroes *s; NULL does nothing. */
void store_action_settings_dispose(store_action_settings *s);

/*
 * Loads tenant's settings into *out (dispose it after), the defaults when the
 * tenant has no row. STORE_INVALID "tenant: ..." for a tenant that is not an
 * identifier as events carry it.
 */
store_status store_action_settings_get(PGconn *conn, const char *tenant, store_action_settings *out,
                                       char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/* True when user_id may act under s without looking at groups: 'channel',
 * or 'listed' with user_id among users. The caller asks Slack for the
 * members of s->groups only when this is false, who is 'listed' and
 * n_groups > 0. */
bool store_action_user_listed(const store_action_settings *s, const char *user_id);

/*
 * Replaces tenant's settings with who, users[0..n_users) and
 * groups[0..n_groups) (stored sorted and de-duplicated). Validation, each
 * naming its field (tenant, who, users, groups) and the bad value: user ids
 * match ^[UW][A-Z0-9]{2,}$, group ids ^S[A-Z0-9]{2,}$ (at most
 * STORE_MAX_SLACK_ID characters and STORE_MAX_ACTION_IDS of each); 'listed'
 * needs at least one user or group; 'channel' and 'none' take neither.
 */
store_status store_action_settings_set(PGconn *conn, const char *tenant, store_action_who who,
                                       const char *const *users, size_t n_users,
                                       const char *const *groups, size_t n_groups, char *errstr,
                                       size_t errstr_size) STORE_MUST_CHECK;

/* Splits "U1,U2" (spaces around items allowed; "" is none) into a vector for
 * store_action_settings_set; free it with store_strv_destroy. Validates each
 * id as set does, naming field ("users" or "groups"). */
store_status store_action_ids_parse(const char *field, const char *csv, char ***ids, size_t *n,
                                    char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/* STORE_INVALID "tenant: ..." unless tenant is an identifier as events carry
 * it (1 to EVENT_MAX_IDENTIFIER characters of A-Z a-z 0-9 . _ : -). */
store_status store_tenant_check(const char *tenant, char *errstr,
                                size_t errstr_size) STORE_MUST_CHECK;

#endif
