#ifndef HERALD_SENDER_INTERNAL_H
#define HERALD_SENDER_INTERNAL_H

/*
 * herald-slack's engine as sender.c, its top floor, sees it: every floor's
 * header (the public API is sender.h). Nothing else includes this: each file
 * below includes only the headers of the floors under it.
 *
 * The floors, top to bottom. A file calls only files on lower floors (or on
 * its own floor's other side: none do); nothing calls back up. What a lower
 * floor must make happen above it is left for the caller to do on return
 * (the loop in sender.c sequences every step).
 *
 *   1  sender.c          lifecycle: sender_new, sender_run (the loop, the drain), sender_destroy;
 *                        the only file that sequences the steps
 *   2  sender_intake.c   Kafka consume, dead letters, offsets, the retry poller, rebalances
 *      sender_plan.c     what each ready channel sends next (plan_channel), claims, launches
 *   3  sender_flight.c   the requests to Slack over curl multi and their answers (a token
 *                        Slack answered token_expired for: refreshed, the request sent again)
 *   4  sender_token.c    token rotation: refreshing expiring or expired bot tokens
 *      sender_outcome.c  recording outcomes (sent, retrying, failed), claims that fail, 429s,
 *                        revocations, the outcomes queued while the database is away
 *   5  sender_cache.c    workspace, target and user (email -> id) caches
 *   6  sender_link.c     the PostgreSQL link (a common/dblink.h db_link): statements' failures
 *      sender_metrics.c  the Prometheus metrics and the gauges
 *   7  sender_state.c    the shared state and types (sender_state.h: struct sender, job,
 *                        flight, outcome, cached rows); a job's lifetime, the stop flag
 *   8  sender_db.c       the sender's SQL (no engine types)
 *      dispatch.c        per-channel queues and pacing (no engine types)
 *      offsets.c         per-partition offsets that are safe to commit (no engine types)
 *      sender_config.c   the configuration table (sender_config.h; sender_stats.h: counters)
 *
 * @locality: everything runs on the thread that calls sender_run(), except
 * sender_stop() (any thread, signal-safe) and the metrics/health callbacks
 * (the HTTP server's thread; they only read metrics and db_down).
 */

#include "workers/slack/sender.h"
#include "workers/slack/sender_cache.h"
#include "workers/slack/sender_flight.h"
#include "workers/slack/sender_intake.h"
#include "workers/slack/sender_link.h"
#include "workers/slack/sender_metrics.h"
#include "workers/slack/sender_outcome.h"
#include "workers/slack/sender_plan.h"
#include "workers/slack/sender_state.h"

#endif
