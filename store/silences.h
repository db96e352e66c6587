#ifndef HERALD_STORE_SILENCES_H
#define HERALD_STORE_SILENCES_H

/*
 * The data layer's silences (store/store.h for the conventions; table
 * silences, migration 010): a tenant's notifications kept quiet for a while,
 * scoped by a check type, a target and/or a workspace. Adding, listing,
 * reading and expiring them; the routers read them on their own (they cache
 * them and reload on NOTIFY herald_silences).
 */

#include "store/store.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* The longest reason, in characters. */
#define STORE_SILENCE_MAX_REASON 500
/* How many silences a list with every state returns at most (the newest). */
#define STORE_SILENCES_MAX_LIST 1000

typedef struct store_silence {
    int64_t id;
    char *tenant_id;
    char *check_type;  /* may be NULL: any notification of the rest of the scope */
    int64_t target_id; /* 0: any target */
    char *target_name; /* may be NULL: no target, or it was removed */
    char *team_id;     /* may be NULL: any workspace */
    int64_t starts_at_ms;
    int64_t ends_at_ms; /* 0: no end (a mute, until expired) */
    char *author;       /* "cli:<login>", "api:<token>", "console:<token>", "slack:<team>/<user>" */
    char *reason;
    int64_t created_at_ms;
    int64_t expired_at_ms;       /* 0: not ended early */
    char *expired_by;            /* may be NULL */
    char *created_from_event_id; /* may be NULL: the Slack message's event it was made from */
    int64_t created_from_target_id;
    /* At the time of reading: "active" (in effect), "scheduled" (starts later),
     * "ended" (its end passed) or "expired" (ended early). */
    const char *state;
    bool active;
} store_silence;

typedef struct store_silences {
    store_silence *items;
    size_t n;
} store_silences;

void store_silence_destroy(store_silence *s);
void store_silences_dispose(store_silences *l);

/*
 * Input of store_silence_add. Fields (for STORE_INVALID, the API's keys):
 * tenant_id, check_type, target_id, team_id, scope (none of the three),
 * starts_at, ends_at, reason, author.
 * The end: ends_at_ms, or duration_ms after the start, or forever (a mute);
 * exactly one of them.
 */
typedef struct store_silence_input {
    const char *tenant;
    const char *check_type; /* NULL: any */
    int64_t target_id;      /* 0: any; else a live target of the tenant */
    const char *team_id;    /* NULL: any; else a workspace linked to the tenant */
    int64_t starts_at_ms;   /* 0: now */
    int64_t ends_at_ms;
    int64_t duration_ms;
    bool forever;
    const char *author;
    const char *reason; /* 1 to STORE_SILENCE_MAX_REASON characters, one line */
    /* The Slack message a button made it from (both or neither; may be NULL / 0). */
    const char *created_from_event_id;
    int64_t created_from_target_id;
} store_silence_input;

/*
 * Validates and adds a silence; *id gets its id. Each error names its field
 * and the bad value: the tenant is one events can carry; the check type has
 * the syntax of one; the target is a live target of the tenant (and in
 * team_id when both are given); the workspace is linked to the tenant
 * (store_workspace_visible); at least one of check type, target, workspace;
 * the end is in the future and after the start; a one-line reason.
 */
store_status store_silence_add(PGconn *conn, const store_silence_input *in, int64_t *id,
                               char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/* The silences of tenant (NULL: all). all false: the live ones (in effect or
 * scheduled: not expired, not ended), by start; all true: every state, the
 * newest STORE_SILENCES_MAX_LIST first. */
store_status store_silence_list(PGconn *conn, const char *tenant, bool all, store_silences *out,
                                char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/* One silence of tenant (NULL: any): another tenant's is STORE_NOT_FOUND. */
store_status store_silence_get(PGconn *conn, const char *tenant, int64_t id, store_silence **out,
                               char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/*
 * Ends silence id of tenant (NULL: any) now, recording who (by). Idempotent:
 * a silence that already expired or ended is left as it is and *already is
 * true (read it with store_silence_get to say when and by whom).
 */
store_status store_silence_expire(PGconn *conn, const char *tenant, int64_t id, const char *by,
                                  bool *already, char *errstr, size_t errstr_size) STORE_MUST_CHECK;

#endif
