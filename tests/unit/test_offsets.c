/* Offset tracking: out-of-order completion stores only what is safe. */
#include "workers/slack/offsets.h"
#include "testlib.h"

#include <check.h>
#include <stdlib.h>

#define T "herald.deliveries.slack.v1"

START_TEST(in_order)
{
    offsets *o = offsets_new();
    ck_assert_int_eq(offsets_storable(o, T, 0), -1);
    uint32_t g = offsets_track(o, T, 0, 10);
    offsets_track(o, T, 0, 11);
    ck_assert_int_eq(offsets_storable(o, T, 0), 10);
    ck_assert(offsets_done(o, T, 0, 10, g));
    ck_assert_int_eq(offsets_storable(o, T, 0), 11);
    ck_assert(offsets_done(o, T, 0, 11, g));
    ck_assert_int_eq(offsets_storable(o, T, 0), 12);
    ck_assert_int_eq(offsets_pending(o, T, 0), 0);
    offsets_destroy(o);
}
END_TEST

START_TEST(out_of_order)
{
    offsets *o = offsets_new();
    uint32_t g = 0;
    for (int64_t off = 100; off < 110; off++)
        g = offsets_track(o, T, 3, off);
    /* Later messages finish first (their channels were free): nothing moves. */
    int64_t order[] = {105, 109, 101, 102};
    for (size_t i = 0; i < 4; i++) {
        ck_assert(offsets_done(o, T, 3, order[i], g));
        ck_assert_int_eq(offsets_storable(o, T, 3), 100);
    }
    /* The oldest finishes: storable jumps over the finished run 100..102. */
    ck_assert(offsets_done(o, T, 3, 100, g));
    ck_assert_int_eq(offsets_storable(o, T, 3), 103);
    ck_assert(offsets_done(o, T, 3, 104, g));
    ck_assert_int_eq(offsets_storable(o, T, 3), 103);
    ck_assert(offsets_done(o, T, 3, 103, g));
    ck_assert_int_eq(offsets_storable(o, T, 3), 106); /* 103,104,105 done */
    ck_assert_int_eq(offsets_pending(o, T, 3), 3);    /* 106, 107, 108 */
    ck_assert(offsets_done(o, T, 3, 107, g));
    ck_assert(offsets_done(o, T, 3, 106, g));
    ck_assert(offsets_done(o, T, 3, 108, g));
    ck_assert_int_eq(offsets_storable(o, T, 3), 110);
    /* Done twice, or never tracked: refused, nothing changes. */
    ck_assert(!offsets_done(o, T, 3, 50, g));
    ck_assert(!offsets_done(o, T, 3, 200, g));
    ck_assert_int_eq(offsets_storable(o, T, 3), 110);
    offsets_destroy(o);
}
END_TEST

START_TEST(gaps_and_partitions)
{
    offsets *o = offsets_new();
    /* Offsets with gaps (compaction, transaction markers) and two partitions. */
    uint32_t g0 = offsets_track(o, T, 0, 5);
    offsets_track(o, T, 0, 9);
    uint32_t g1 = offsets_track(o, T, 1, 70);
    offsets_track(o, T, 0, 12);
    ck_assert(offsets_done(o, T, 0, 9, g0));
    ck_assert_int_eq(offsets_storable(o, T, 0), 5);
    ck_assert(offsets_done(o, T, 0, 5, g0));
    ck_assert_int_eq(offsets_storable(o, T, 0), 12);
    ck_assert_int_eq(offsets_storable(o, T, 1), 70);
    ck_assert(offsets_done(o, T, 1, 70, g1));
    ck_assert_int_eq(offsets_storable(o, T, 1), 71);

    /* collect: both partitions, then only those that moved. */
    rd_kafka_topic_partition_list_t *l = offsets_collect(o, true);
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(l->cnt, 2);
    rd_kafka_topic_partition_list_destroy(l);
    ck_assert_ptr_null(offsets_collect(o, true));
    ck_assert(offsets_done(o, T, 0, 12, g0));
    l = offsets_collect(o, true);
    ck_assert_int_eq(l->cnt, 1);
    ck_assert_int_eq(l->elems[0].partition, 0);
    ck_assert_int_eq(l->elems[0].offset, 13);
    rd_kafka_topic_partition_list_destroy(l);
    l = offsets_collect(o, false);
    ck_assert_int_eq(l->cnt, 2);
    rd_kafka_topic_partition_list_destroy(l);
    offsets_destroy(o);
}
END_TEST

START_TEST(forget_and_rewind)
{
    offsets *o = offsets_new();
    uint32_t g = offsets_track(o, T, 2, 40);
    offsets_track(o, T, 2, 41);
    /* Revoked: later completions are ignored. */
    offsets_forget(o, T, 2);
    ck_assert(!offsets_done(o, T, 2, 40, g));
    ck_assert_int_eq(offsets_storable(o, T, 2), -1);
    /* Reassigned and re-read from 40: a new generation; old completions ignored. */
    uint32_t g2 = offsets_track(o, T, 2, 40);
    ck_assert_uint_ne(g, g2);
    offsets_track(o, T, 2, 41);
    ck_assert(!offsets_done(o, T, 2, 41, g));
    ck_assert_int_eq(offsets_pending(o, T, 2), 2);
    /* Going back without a forget (offset reset) also starts over. */
    ck_assert(offsets_done(o, T, 2, 40, g2));
    uint32_t g3 = offsets_track(o, T, 2, 30);
    ck_assert_uint_ne(g2, g3);
    ck_assert_int_eq(offsets_storable(o, T, 2), 30);
    ck_assert(!offsets_done(o, T, 2, 41, g2));
    offsets_destroy(o);
}
END_TEST

START_TEST(many_grow_ring)
{
    offsets *o = offsets_new();
    uint32_t g = 0;
    for (int64_t i = 0; i < 5000; i++)
        g = offsets_track(o, T, 0, i);
    /* Finish the odd ones, then the even ones in reverse: only the last step frees all. */
    for (int64_t i = 1; i < 5000; i += 2)
        ck_assert(offsets_done(o, T, 0, i, g));
    ck_assert_int_eq(offsets_storable(o, T, 0), 0);
    for (int64_t i = 4998; i > 0; i -= 2)
        ck_assert(offsets_done(o, T, 0, i, g));
    ck_assert_int_eq(offsets_storable(o, T, 0), 0);
    ck_assert(offsets_done(o, T, 0, 0, g));
    ck_assert_int_eq(offsets_storable(o, T, 0), 5000);
    /* Tracking continues after the ring wrapped. */
    for (int64_t i = 5000; i < 5200; i++)
        offsets_track(o, T, 0, i);
    ck_assert(offsets_done(o, T, 0, 5000, g));
    ck_assert_int_eq(offsets_storable(o, T, 0), 5001);
    offsets_destroy(o);
}
END_TEST

TESTLIB_MAIN("offsets", "offsets", in_order, out_of_order, gaps_and_partitions, forget_and_rewind,
             many_grow_ring)
