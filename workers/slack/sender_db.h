#ifndef HERALD_SENDER_DB_H
#define HERALD_SENDER_DB_H

/*
 * The Slack sender's PostgreSQL statements: claiming deliveries, recording
 * outcomes, leasing due retries, workspace tokens and revocation, target
 * settings, the email -> user cache, thread state and pacing history.
 *
 * Leases. A sender that claims a delivery sets state 'sending' and
 * next_attempt_at = now() + lease; the value written is the claim's lease
 * token (its text form, compared exactly). A 'sending' row whose lease ran
 * out belongs to a sender that died (or hung) mid-request and may be taken
 * over; a 'retrying' row is due at next_attempt_at. Every outcome other than
 * 'sent' is only written while the lease is still the writer's, so a slow
 * sender can never overwrite the work of the one that took over.
 *
 * Every statement is parameterised. Functions return 0 (or a count) on
 * success and -1 with errstr on a database error; the caller checks
 * db_connection_lost() to tell a dead link from a bad statement.
 * @locality: the sender's loop thread (one PGconn).
 */

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SENDER_DB_LEASE_LEN 48

/* One delivery to claim: the ids it must match, and for a row leased by the
 * retry poller its lease token ("" for a row met through Kafka). */
typedef struct sender_db_claim_req {
    int64_t id;
    const char *event_id;
    int64_t target_id;
    const char *lease; /* "" or a token from sender_db_lease_due */
} sender_db_claim_req;

typedef struct sender_db_claim_res {
    bool claimed;
    int attempts;       /* after this claim */
    int64_t created_ms; /* deliveries.created_at, epoch ms */
    char lease[SENDER_DB_LEASE_LEN];
} sender_db_claim_res;

/*
 * Claims n deliveries at once: 'sending', a new lease of lease_ms, claimed_by
 * (the claiming instance's id), and attempts+1 when count_attempt. A row met through Kafka is
 * claimable when 'pending', or 'sending' with an expired lease (its sender died); a leased retry
 * only while its lease is still the caller's. 'sent' and 'failed' rows are never claimed, so a
 * duplicate routed message is harmless. res[i] tells for each request. Returns the number claimed,
 * or -1.
 */
int sender_db_claim(PGconn *c, const sender_db_claim_req *reqs, size_t n, int64_t lease_ms,
                    bool count_attempt, const char *claimed_by, sender_db_claim_res *res,
                    char *errstr, size_t errstr_size);

/* Why a Kafka-met delivery could not be claimed. */
typedef enum sender_db_row_state {
    SENDER_DB_ROW_MISSING = 0, /* no such row, or event/target do not match */
    SENDER_DB_ROW_DONE,        /* 'sent' or 'failed' already */
    SENDER_DB_ROW_OWNED        /* 'retrying', or 'sending' under a live lease: someone else's */
} sender_db_row_state;
int sender_db_row_state_of(PGconn *c, int64_t id, const char *event_id, int64_t target_id,
                           sender_db_row_state *out, char *errstr, size_t errstr_size);

/*
 * Slack accepted: the deliveries ids[0..n) are 'sent' with channel and ts
 * (and thread_ts, digest_size when > 1), and their targets get
 * last_success_at (and destination_resolved when resolved is not NULL).
 * A row someone else already marked sent is left alone. Returns 0 or -1.
 */
int sender_db_mark_sent(PGconn *c, const int64_t *ids, size_t n, const char *channel,
                        const char *ts, const char *thread_ts, int digest_size,
                        const char *resolved, char *errstr, size_t errstr_size);

/* One row of sender_db_mark_sent_rows. Strings may be NULL (thread_ts, resolved). */
typedef struct sender_db_sent_row {
    int64_t id;
    const char *channel, *ts, *thread_ts, *resolved;
    int digest_size;
} sender_db_sent_row;

/* sender_db_mark_sent for many messages at once (one statement). Returns 0 or -1. */
int sender_db_mark_sent_rows(PGconn *c, const sender_db_sent_row *rows, size_t n, char *errstr,
                             size_t errstr_size);

/* A transient failure: 'retrying' due at due_ms[i] (epoch ms) with the error,
 * where the lease is still leases[i]. Returns the number of rows updated, or -1. */
int sender_db_mark_retrying(PGconn *c, const int64_t *ids, const char *const *leases,
                            const int64_t *due_ms, size_t n, const char *code, const char *reason,
                            char *errstr, size_t errstr_size);

/* A permanent failure (or retries exhausted): 'failed' with the code and the
 * readable reason, where the lease is still leases[i]; the targets get
 * last_error_code/last_error/last_error_at. Returns rows updated, or -1. */
int sender_db_mark_failed(PGconn *c, const int64_t *ids, const char *const *leases, size_t n,
                          const char *code, const char *reason, char *errstr, size_t errstr_size);

/* Gives back leases of retries that were taken but not attempted (shutdown,
 * partition handover): due now, for any sender; a row leased out of
 * 'pending' (reconciled or resumed, never attempted) is 'pending' again, as
 * it was. Returns rows, or -1. */
int sender_db_release(PGconn *c, const int64_t *ids, const char *const *leases, size_t n,
                      char *errstr, size_t errstr_size);

/* A due retry (or a 'sending' row whose sender died), leased for the caller. */
typedef struct sender_db_due {
    int64_t id;
    char event_id[37];
    int64_t target_id;
    char *tenant_id;
    char *team_id;
    char *destination; /* destination_resolved when known, else as entered */
    bool destination_is_email;
    char *event_kind;  /* events.kind: check_result, collection_event, test; NULL: event lost */
    char *payload;     /* events.payload as JSON text; NULL when the event row is missing */
    int64_t routed_ms; /* events.received_at, epoch ms (latency reference) */
    char lease[SENDER_DB_LEASE_LEN];
    bool reconciled;       /* it was 'pending' (reconcile_after old): now 'sending', leased */
    int64_t created_ms;    /* deliveries.created_at, epoch ms */
    char *delivery_kind;   /* deliveries.kind: notify, resolve, nudge */
    char ref_event_id[37]; /* resolve/nudge: the notification's event ("" otherwise) */
} sender_db_due;

void sender_db_due_dispose(sender_db_due *d);

/* What sender_db_lease_due takes. */
typedef struct sender_db_poll {
    size_t max;               /* rows of each kind (due, reconciled) at most */
    int64_t lease_ms;         /* the lease given to each row */
    const char *const *teams; /* the workspaces this instance owns */
    size_t nteams;
    int64_t grace_ms;           /* others' rows are taken after this much overdue */
    int64_t reconcile_after_ms; /* 'pending' rows older than this are taken (0: never) */
    const char *instance_id;    /* written to claimed_by; its own 'sending' rows are its own */
    bool pending_now;           /* 'pending' rows of teams are taken whatever their age (the
                                 * partitions resumed after a restart: nobody consumes them) */
} sender_db_poll;

/*
 * Leases rows for p->lease_ms, FOR UPDATE SKIP LOCKED so that several
 * senders share the work without waiting on each other and none takes a row
 * another has leased:
 *   - up to max due now: 'retrying' past next_attempt_at, or 'sending' past
 *     its lease (its sender died, or this instance's previous run: see
 *     sender_db_settle_own);
 *   - up to max 'pending' for longer than reconcile_after_ms (their routed
 *     Kafka message late or lost: PostgreSQL is the source of truth). They
 *     become 'sending' under the lease, so the Kafka path's claim (which
 *     wants 'pending' or an expired lease) skips them: posted once.
 * Only rows of workspaces in teams are taken (and a 'sending' row this
 * instance had claimed), unless overdue by more than grace_ms, so nothing
 * waits forever when no sender owns the workspace. claimed_by is set to
 * instance_id. *out (malloc'd array, caller disposes each and frees) gets
 * them. Returns the count, or -1.
 */
int sender_db_lease_due(PGconn *c, const sender_db_poll *p, sender_db_due **out, char *errstr,
                        size_t errstr_size);

/*
 * At start: this instance's previous run's claims ('sending', claimed_by =
 * instance_id, lease still running) are made due now, so the poller sends
 * them again at once instead of after their lease (a repeat only for a
 * request in flight at the crash). Returns the count, or -1.
 */
long sender_db_settle_own(PGconn *c, const char *instance_id, char *errstr, size_t errstr_size);

/* Age in ms of the oldest 'pending' delivery (0: none), through the partial
 * index deliveries_pending_created: one index entry read. -1 on error. */
int64_t sender_db_oldest_pending_ms(PGconn *c, char *errstr, size_t errstr_size);

/*
 * sender_instances: this instance's (of consumer group `group`) partitions of the deliveries topic
 * (of partition_count) and that it is alive now. Returns 0, or -1.
 */
int sender_db_instance_save(PGconn *c, const char *group, const char *instance_id,
                            const int32_t *parts, size_t n, int32_t partition_count, char *errstr,
                            size_t errstr_size);

/*
 * The partitions this instance's previous run held, if it was alive less than
 * max_age_ms ago: *parts (malloc'd, caller frees), *n, *partition_count.
 * Returns 1 when found, 0 when not (or too old), -1 on error.
 */
int sender_db_instance_load(PGconn *c, const char *group, const char *instance_id,
                            int64_t max_age_ms, int32_t **parts, size_t *n,
                            int32_t *partition_count, char *errstr, size_t errstr_size);

/* ---- resolves and nudges ------------------------------------------------------------------- */

/* A resolve that has nothing to edit (or a nudge-free ending): 'suppressed' with its reason,
 * where the lease is still leases[i]; the target is not flagged. Returns rows, or -1. */
int sender_db_mark_suppressed(PGconn *c, const int64_t *ids, const char *const *leases, size_t n,
                              const char *code, const char *reason, char *errstr,
                              size_t errstr_size);

/* The notify delivery (event_id, target_id) a resolve edits: its state and where it went. */
typedef struct sender_db_notification {
    bool found;
    char state[16];
    char channel[64];
    char ts[64];
    char thread_ts[64]; /* "" unless it was a thread reply */
    int digest_size;    /* > 1: folded into a digest */
} sender_db_notification;

int sender_db_notification_get(PGconn *c, const char *event_id, int64_t target_id,
                               sender_db_notification *out, char *errstr, size_t errstr_size);

/* How many nudges of the notification (ref_event_id, target_id) are not terminal yet, or -1. */
int sender_db_nudges_open(PGconn *c, const char *ref_event_id, int64_t target_id, char *errstr,
                          size_t errstr_size);

/* ---- workspaces ------------------------------------------------------------------------ */

typedef struct sender_db_workspace {
    bool found;
    unsigned char *token_enc; /* sealed token (malloc'd); NULL when empty */
    size_t token_enc_len;
    bool revoked;
    char revoked_reason[64];
    bool rotating;         /* token rotation: a refresh token is stored */
    int64_t expires_at_ms; /* when the token expires (wall clock); 0: it does not */
} sender_db_workspace;

void sender_db_workspace_dispose(sender_db_workspace *w);
int sender_db_workspace_get(PGconn *c, const char *team_id, sender_db_workspace *out, char *errstr,
                            size_t errstr_size);
/* Marks the installation unusable (revoked_at, revoked_reason = code) unless it
 * was reinstalled meanwhile (its sealed token no longer the one used). Returns
 * 1 when marked now, 0 when not (already, or reinstalled), -1 on error. */
int sender_db_workspace_revoke(PGconn *c, const char *team_id, const unsigned char *token_enc,
                               size_t token_enc_len, const char *code, char *errstr,
                               size_t errstr_size);

/* Every installed workspace's team id (malloc'd array of malloc'd strings). Count or -1. */
int sender_db_team_ids(PGconn *c, char ***out, char *errstr, size_t errstr_size);

/* ---- targets --------------------------------------------------------------------------- */

typedef struct sender_db_target {
    bool found;
    bool enabled;
    bool deleted;
    bool digest_enabled;
    bool thread_repeats;
    bool nudge_enabled; /* its check messages carry "Nudge failing users" */
    char name[256];
    char team_id[128];
} sender_db_target;

int sender_db_target_get(PGconn *c, int64_t target_id, sender_db_target *out, char *errstr,
                         size_t errstr_size);

/* ---- users.lookupByEmail cache ----------------------------------------------------------- */

/* 1 when cached and fresh (user_id "" means "no such user", fresh within
 * neg_ttl_ms), 0 when not, -1 on error. */
int sender_db_user_get(PGconn *c, const char *team_id, const char *email, int64_t ttl_ms,
                       int64_t neg_ttl_ms, char *user_id, size_t user_id_size, char *errstr,
                       size_t errstr_size);
/* Stores an answer; user_id NULL or "" records users_not_found. */
int sender_db_user_put(PGconn *c, const char *team_id, const char *email, const char *user_id,
                       char *errstr, size_t errstr_size);

/* ---- threads for repeats ----------------------------------------------------------------- */

typedef struct sender_db_thread {
    bool found;
    char destination[256];
    char channel[64];
    char thread_ts[64];
    int64_t last_failing_count;
    int64_t last_run_ms;
    char last_event_id[37];
} sender_db_thread;

int sender_db_thread_get(PGconn *c, int64_t target_id, const char *check_type,
                         sender_db_thread *out, char *errstr, size_t errstr_size);
/* Starts (or restarts) the streak at a new top-level message, or records a reply. */
int sender_db_thread_put(PGconn *c, int64_t target_id, const char *check_type,
                         const char *destination, const char *channel, const char *thread_ts,
                         int64_t failing_count, const char *event_id, int64_t run_ms, char *errstr,
                         size_t errstr_size);
/*
 * Whether the check passed for the tenant strictly between the thread's last
 * notification (evaluated at after_ms) and the new result (evaluated at
 * before_ms): the router records every passing result of a tenant with a
 * target that threads repeats (check_passes, migration 007). A check not
 * evaluated in between (a run of other checks) did not pass. 1 yes, 0 no,
 * -1 error.
 */
int sender_db_check_passed_between(PGconn *c, const char *tenant_id, const char *check_type,
                                   int64_t after_ms, int64_t before_ms, char *errstr,
                                   size_t errstr_size);
/* Deletes the passes evaluated more than keep_ms ago: no thread can still be
 * replied in across them. Returns the count deleted, or -1. */
long sender_db_prune_check_passes(PGconn *c, int64_t keep_ms, char *errstr, size_t errstr_size);

/* ---- pacing across restarts ---------------------------------------------------------------- */

/*
 * How long ago (ms, oldest first, at most max) messages were posted in the
 * last window_ms to the destination of team_id, as recorded by any sender
 * (a digest counts once): lets a fresh process start a channel's bucket
 * where the previous one left it. Returns the count, or -1.
 */
int sender_db_recent_sends(PGconn *c, const char *team_id, const char *destination,
                           int64_t window_ms, int64_t *ago_ms, size_t max, char *errstr,
                           size_t errstr_size);

#endif
