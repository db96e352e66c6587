/*
 * The sender's scheduler (workers/slack/dispatch.h) with an injected clock: burst
 * then the steady rate per channel, channels independent of each other, a
 * 429 pausing exactly one channel (or one workspace), the workspace limit,
 * one request in flight per channel, order within a channel.
 */
#include "workers/slack/dispatch.h"
#include "testlib.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int jobs[1000];

/* Picks every channel that may go at `now`, sends its head job and releases it
 * at once (a zero-latency Slack). Returns how many went; ids[] gets their job ids. */
static int send_all_ready(dispatch *d, int64_t now, int *ids, int max)
{
    int n = 0;
    int64_t wait;
    dispatch_channel *c;
    while (n < max && (c = dispatch_next(d, now, &wait))) {
        int *job = dispatch_channel_pop(d, c);
        ck_assert_ptr_nonnull(job);
        ids[n++] = *job;
        dispatch_release(d, c, true, now);
    }
    return n;
}

static dispatch *new_dispatch(double rate, double burst, double ws_per_min, double ws_burst)
{
    dispatch_config cfg = {.channel_rate = rate,
                           .channel_burst = burst,
                           .workspace_rate_per_min = ws_per_min,
                           .workspace_burst = ws_burst};
    return dispatch_new(&cfg);
}

START_TEST(burst_then_steady_rate)
{
    dispatch *d = new_dispatch(1.0, 3.0, 0, 1);
    for (int i = 0; i < 10; i++) {
        jobs[i] = i;
        dispatch_push(d, "T1", "C1", &jobs[i], false, 0, NULL);
    }
    int ids[16];
    /* t=0: the burst of three, in queue order. */
    ck_assert_int_eq(send_all_ready(d, 0, ids, 16), 3);
    ck_assert_int_eq(ids[0], 0);
    ck_assert_int_eq(ids[1], 1);
    ck_assert_int_eq(ids[2], 2);
    /* Nothing more until a token has grown: the scheduler says when. */
    int64_t wait = -2;
    ck_assert_ptr_null(dispatch_next(d, 0, &wait));
    ck_assert_int_eq(wait, 1000);
    ck_assert_int_eq(send_all_ready(d, 999, ids, 16), 0);
    /* Then exactly one per second. */
    for (int s = 1; s <= 7; s++) {
        ck_assert_int_eq(send_all_ready(d, s * 1000, ids, 16), 1);
        ck_assert_int_eq(ids[0], 2 + s);
        ck_assert_int_eq(send_all_ready(d, s * 1000 + 500, ids, 16), 0);
    }
    /* Queue empty: nothing waits. */
    ck_assert_ptr_null(dispatch_next(d, 100000, &wait));
    ck_assert_int_eq(wait, -1);
    dispatch_destroy(d, NULL);
}
END_TEST

START_TEST(one_in_flight_per_channel)
{
    dispatch *d = new_dispatch(0 /* unlimited */, 1, 0, 1);
    jobs[0] = 0;
    jobs[1] = 1;
    dispatch_push(d, "T1", "C1", &jobs[0], false, 0, NULL);
    dispatch_push(d, "T1", "C1", &jobs[1], false, 0, NULL);
    int64_t wait;
    dispatch_channel *c = dispatch_next(d, 0, &wait);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_eq(dispatch_channel_pop(d, c), &jobs[0]);
    /* Unlimited rate, but the channel is busy: the second job waits. */
    ck_assert_ptr_null(dispatch_next(d, 0, &wait));
    ck_assert_int_eq(wait, -1);
    ck_assert(dispatch_channel_busy(c));
    dispatch_release(d, c, true, 5);
    ck_assert_ptr_eq(dispatch_next(d, 5, &wait), c);
    ck_assert_ptr_eq(dispatch_channel_pop(d, c), &jobs[1]);
    dispatch_release(d, c, true, 6);
    dispatch_destroy(d, NULL);
}
END_TEST

START_TEST(channels_are_independent)
{
    dispatch *d = new_dispatch(1.0, 3.0, 0, 1);
    /* C1 drains its burst... */
    for (int i = 0; i < 6; i++) {
        jobs[i] = i;
        dispatch_push(d, "T1", "C1", &jobs[i], false, 0, NULL);
    }
    int ids[16];
    ck_assert_int_eq(send_all_ready(d, 0, ids, 16), 3);
    /* ...which does not slow C2 of the same workspace, nor C1 of another one. */
    for (int i = 10; i < 13; i++) {
        jobs[i] = i;
        dispatch_push(d, "T1", "C2", &jobs[i], false, 100, NULL);
    }
    for (int i = 20; i < 23; i++) {
        jobs[i] = i;
        dispatch_push(d, "T2", "C1", &jobs[i], false, 100, NULL);
    }
    ck_assert_int_eq(send_all_ready(d, 100, ids, 16), 6);
    for (int k = 0; k < 6; k++)
        ck_assert_int_ge(ids[k], 10);
    ck_assert_int_eq(send_all_ready(d, 1000, ids, 16), 1);
    ck_assert_int_eq(ids[0], 3);
    dispatch_destroy(d, NULL);
}
END_TEST

START_TEST(pause_one_channel_only)
{
    dispatch *d = new_dispatch(1.0, 3.0, 0, 1);
    for (int i = 0; i < 4; i++) {
        jobs[i] = i;
        jobs[10 + i] = 10 + i;
        dispatch_push(d, "T1", "C1", &jobs[i], false, 0, NULL);
        dispatch_push(d, "T1", "C2", &jobs[10 + i], false, 0, NULL);
    }
    int64_t wait;
    /* C1's first request draws a 429 with Retry-After: 30 s; the job goes back first. */
    dispatch_channel *c1 = NULL;
    dispatch_channel *c = dispatch_next(d, 0, &wait);
    int *job = dispatch_channel_pop(d, c);
    if (*job == 0) {
        c1 = c;
    } else {
        ck_assert_int_eq(*job, 10);
        dispatch_release(d, c, true, 0);
        c1 = dispatch_next(d, 0, &wait);
        job = dispatch_channel_pop(d, c1);
        ck_assert_int_eq(*job, 0);
    }
    dispatch_pause_channel(d, c1, 30000);
    dispatch_push(d, "T1", "C1", job, true, 0, NULL);
    dispatch_release(d, c1, true, 0);
    /* C2 carries on at its pace; C1 sends nothing for 30 s. */
    int ids[16];
    for (int64_t t = 0; t < 30000; t += 250) {
        int n = send_all_ready(d, t, ids, 16);
        for (int k = 0; k < n; k++)
            ck_assert_int_ge(ids[k], 10);
    }
    ck_assert_uint_eq(dispatch_channel_len(dispatch_find(d, "T1", "C2")), 0);
    ck_assert_ptr_null(dispatch_next(d, 29999, &wait));
    ck_assert_int_eq(wait, 1);
    /* At 30 s C1 resumes with ONE request (no burst after a 429), in order. */
    ck_assert_int_eq(send_all_ready(d, 30000, ids, 16), 1);
    ck_assert_int_eq(ids[0], 0);
    ck_assert_int_eq(send_all_ready(d, 30500, ids, 16), 0);
    ck_assert_int_eq(send_all_ready(d, 31000, ids, 16), 1);
    ck_assert_int_eq(ids[0], 1);
    dispatch_destroy(d, NULL);
}
END_TEST

START_TEST(pause_workspace)
{
    dispatch *d = new_dispatch(1.0, 3.0, 0, 1);
    for (int i = 0; i < 3; i++) {
        jobs[i] = i;
        dispatch_push(d, "T1", i == 0 ? "C1" : i == 1 ? "C2" : "C3", &jobs[i], false, 0, NULL);
    }
    jobs[3] = 3;
    dispatch_push(d, "T2", "C1", &jobs[3], false, 0, NULL);
    /* A workspace-wide 429 on T1 stops all of T1's channels, not T2's. */
    dispatch_pause_workspace(d, "T1", 5000, 0);
    int ids[16];
    ck_assert_int_eq(send_all_ready(d, 0, ids, 16), 1);
    ck_assert_int_eq(ids[0], 3);
    ck_assert_int_eq(send_all_ready(d, 4999, ids, 16), 0);
    /* At the end of the pause every channel of T1 goes (the workspace itself
     * is unlimited here; each channel has its own tokens). */
    ck_assert_int_eq(send_all_ready(d, 5000, ids, 16), 3);
    dispatch_destroy(d, NULL);

    /* With a workspace budget, its bucket resumes with ONE token after the pause. */
    d = new_dispatch(1.0, 3.0, 600.0, 10.0);
    for (int i = 0; i < 3; i++)
        dispatch_push(d, "T1", i == 0 ? "C1" : i == 1 ? "C2" : "C3", &jobs[i], false, 0, NULL);
    dispatch_pause_workspace(d, "T1", 5000, 0);
    ck_assert_int_eq(send_all_ready(d, 4999, ids, 16), 0);
    ck_assert_int_eq(send_all_ready(d, 5000, ids, 16), 1);
    ck_assert_int_eq(send_all_ready(d, 5099, ids, 16), 0);
    ck_assert_int_eq(send_all_ready(d, 5100, ids, 16), 1);
    dispatch_destroy(d, NULL);
}
END_TEST

START_TEST(workspace_limit)
{
    /* 60 per minute per workspace (1/s) with a burst of 5, channels unlimited:
     * ten channels together get 5 at once, then one per second in total. */
    dispatch *d = new_dispatch(0, 1, 60.0, 5.0);
    char key[16];
    for (int i = 0; i < 30; i++) {
        jobs[i] = i;
        snprintf(key, sizeof key, "C%d", i % 10);
        dispatch_push(d, "T1", key, &jobs[i], false, 0, NULL);
    }
    jobs[100] = 100;
    dispatch_push(d, "T9", "C1", &jobs[100], false, 0, NULL);
    int ids[64];
    int n = send_all_ready(d, 0, ids, 64);
    ck_assert_int_eq(n, 6); /* 5 of T1's burst + T9's own budget */
    int total = 5;
    for (int64_t t = 1000; t <= 10000; t += 1000) {
        n = send_all_ready(d, t, ids, 64);
        ck_assert_int_eq(n, 1);
        total += n;
        ck_assert_int_eq(send_all_ready(d, t + 999, ids, 64), 0);
    }
    ck_assert_int_eq(total, 15);
    dispatch_destroy(d, NULL);
}
END_TEST

START_TEST(round_robin_under_workspace_limit)
{
    /* Three channels share a workspace budget of 1/s: turns rotate, none starves. */
    dispatch *d = new_dispatch(0, 1, 60.0, 1.0);
    for (int i = 0; i < 30; i++) {
        jobs[i] = i;
        const char *k = i % 3 == 0 ? "A" : i % 3 == 1 ? "B" : "C";
        dispatch_push(d, "T1", k, &jobs[i], false, 0, NULL);
    }
    int seen[3] = {0, 0, 0}, ids[4];
    for (int64_t t = 0; t < 9000; t += 1000) {
        ck_assert_int_eq(send_all_ready(d, t, ids, 4), 1);
        seen[ids[0] % 3]++;
    }
    ck_assert_int_eq(seen[0], 3);
    ck_assert_int_eq(seen[1], 3);
    ck_assert_int_eq(seen[2], 3);
    dispatch_destroy(d, NULL);
}
END_TEST

START_TEST(unused_token_refunded)
{
    dispatch *d = new_dispatch(1.0, 1.0, 0, 1);
    jobs[0] = 0;
    jobs[1] = 1;
    dispatch_push(d, "T1", "C1", &jobs[0], false, 0, NULL);
    dispatch_push(d, "T1", "C1", &jobs[1], false, 0, NULL);
    int64_t wait;
    dispatch_channel *c = dispatch_next(d, 0, &wait);
    dispatch_channel_pop(d, c);
    /* The job turned out to be already sent: nothing went to Slack, the token returns. */
    dispatch_release(d, c, false, 0);
    ck_assert_ptr_eq(dispatch_next(d, 0, &wait), c);
    ck_assert_ptr_eq(dispatch_channel_pop(d, c), &jobs[1]);
    dispatch_release(d, c, true, 0);
    dispatch_destroy(d, NULL);
}
END_TEST

START_TEST(spacing_counts_from_the_answer)
{
    /* Burst 1: the next message may go one interval after the previous one's
     * ANSWER, so a request transmitted late (busy loop) or answered slowly
     * can never reach Slack closer than the configured spacing. */
    dispatch *d = new_dispatch(1.0, 1.0, 0, 1);
    jobs[0] = 0;
    jobs[1] = 1;
    dispatch_push(d, "T1", "C1", &jobs[0], false, 0, NULL);
    dispatch_push(d, "T1", "C1", &jobs[1], false, 0, NULL);
    int64_t wait;
    dispatch_channel *c = dispatch_next(d, 0, &wait);
    dispatch_channel_pop(d, c);
    dispatch_release(d, c, true, 300); /* answered after 300 ms */
    ck_assert_ptr_null(dispatch_next(d, 1000, &wait));
    ck_assert_int_eq(wait, 300);
    ck_assert_ptr_null(dispatch_next(d, 1299, &wait));
    ck_assert_ptr_eq(dispatch_next(d, 1300, &wait), c);
    dispatch_channel_pop(d, c);
    dispatch_release(d, c, true, 1300);
    dispatch_destroy(d, NULL);
}
END_TEST

START_TEST(guard_delays_steady_sends_only)
{
    dispatch_config cfg = {.channel_rate = 1.0,
                           .channel_burst = 3.0,
                           .workspace_rate_per_min = 0,
                           .workspace_burst = 1,
                           .guard_ms = 20};
    dispatch *d = dispatch_new(&cfg);
    for (int i = 0; i < 6; i++) {
        jobs[i] = i;
        dispatch_push(d, "T1", "C1", &jobs[i], false, 0, NULL);
    }
    int ids[8];
    /* the burst is not delayed */
    ck_assert_int_eq(send_all_ready(d, 0, ids, 8), 3);
    /* the fourth waits for its token plus the guard, and the guard does not add up */
    ck_assert_int_eq(send_all_ready(d, 1000, ids, 8), 0);
    ck_assert_int_eq(send_all_ready(d, 1019, ids, 8), 0);
    ck_assert_int_eq(send_all_ready(d, 1020, ids, 8), 1);
    ck_assert_int_eq(send_all_ready(d, 2019, ids, 8), 0);
    ck_assert_int_eq(send_all_ready(d, 2020, ids, 8), 1);
    ck_assert_int_eq(send_all_ready(d, 3020, ids, 8), 1);
    dispatch_destroy(d, NULL);
}
END_TEST

static bool is_odd(void *job, void *arg)
{
    (void)arg;
    return *(int *)job % 2;
}
static void count_drop(void *job, void *arg)
{
    (void)job;
    (*(int *)arg)++;
}

START_TEST(remove_evict_and_front)
{
    dispatch *d = new_dispatch(1.0, 3.0, 0, 1);
    for (int i = 0; i < 6; i++) {
        jobs[i] = i;
        dispatch_push(d, "T1", i < 3 ? "C1" : "C2", &jobs[i], false, 0, NULL);
    }
    jobs[7] = 7;
    dispatch_push(d, "T1", "C1", &jobs[7], true, 0, NULL); /* a retry goes first */
    ck_assert_ptr_eq(dispatch_channel_peek(dispatch_find(d, "T1", "C1"), 0), &jobs[7]);
    ck_assert_uint_eq(dispatch_queued(d), 7);
    ck_assert_uint_eq(dispatch_channels_waiting(d), 2);
    /* pred is asked about every queued job; drop gets the matching ones. */
    int dropped = 0;
    size_t removed = dispatch_remove_if(d, is_odd, count_drop, &dropped);
    ck_assert_uint_eq(removed, 4); /* 1, 3, 5, 7 */
    ck_assert_int_eq(dropped, 4);
    ck_assert_uint_eq(dispatch_queued(d), 3);
    dispatch_channel *c1 = dispatch_find(d, "T1", "C1");
    ck_assert_ptr_eq(dispatch_channel_peek(c1, 0), &jobs[0]);
    ck_assert_ptr_eq(dispatch_channel_peek(c1, 1), &jobs[2]);
    /* Take from the middle keeps the order of the rest. */
    ck_assert_ptr_eq(dispatch_channel_take(d, c1, 1), &jobs[2]);
    ck_assert_ptr_eq(dispatch_channel_peek(c1, 0), &jobs[0]);
    int ids[8];
    ck_assert_int_eq(send_all_ready(d, 0, ids, 8), 2);
    /* Used channels are kept until their buckets are full again, then forgotten. */
    ck_assert_uint_eq(dispatch_evict(d, 100), 0);
    ck_assert_uint_eq(dispatch_channels(d), 2);
    ck_assert_uint_eq(dispatch_evict(d, 3000), 3); /* two channels + the workspace */
    ck_assert_uint_eq(dispatch_channels(d), 0);
    dispatch_destroy(d, NULL);
}
END_TEST

TESTLIB_MAIN("pacing", "pacing", burst_then_steady_rate, one_in_flight_per_channel,
             channels_are_independent, pause_one_channel_only, pause_workspace, workspace_limit,
             round_robin_under_workspace_limit, unused_token_refunded,
             spacing_counts_from_the_answer, guard_delays_steady_sends_only, remove_evict_and_front)
