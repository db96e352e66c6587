#include "workers/slack/offsets.h"

#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* One consumed message of a partition, in consumption (= offset) order. */
typedef struct slot {
    int64_t offset;
    bool done;
} slot;

/* A ring of slots; [head, head+count) are live, oldest first. */
typedef struct part {
    char *topic;
    int32_t partition;
    uint32_t generation;
    slot *ring;
    size_t cap, head, count;
    int64_t last_tracked; /* -1 before the first message */
    int64_t collected;    /* storable offset at the last offsets_collect, -1 none */
} part;

struct offsets {
    part *parts;
    size_t nparts, capparts;
    uint32_t next_generation;
};

offsets *offsets_new(void)
{
    offsets *o = xcalloc(1, sizeof *o);
    o->next_generation = 1;
    return o;
}

void offsets_destroy(offsets *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->nparts; i++) {
        free(o->parts[i].topic);
        free(o->parts[i].ring);
    }
    free(o->parts);
    free(o);
}

/* Few partitions per consumer: a linear scan beats a hash here. */
static part *find(const offsets *o, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < o->nparts; i++)
        if (o->parts[i].partition == partition && !strcmp(o->parts[i].topic, topic))
            return &o->parts[i];
    return NULL;
}

static slot *at(const part *p, size_t i)
{
    return &p->ring[(p->head + i) % p->cap];
}

static void restart(offsets *o, part *p)
{
    p->head = p->count = 0;
    p->last_tracked = -1;
    p->generation = o->next_generation++;
}

uint32_t offsets_track(offsets *o, const char *topic, int32_t partition, int64_t offset)
{
    part *p = find(o, topic, partition);
    if (!p) {
        if (o->nparts == o->capparts) {
            o->capparts = o->capparts ? o->capparts * 2 : 8;
            o->parts = xrealloc(o->parts, o->capparts * sizeof *o->parts);
        }
        p = &o->parts[o->nparts++];
        memset(p, 0, sizeof *p);
        p->topic = xstrdup(topic);
        p->partition = partition;
        p->collected = -1;
        restart(o, p);
    } else if (offset <= p->last_tracked) {
        restart(o, p);
    }
    if (p->count == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 64;
        slot *nr = xmalloc(ncap * sizeof *nr);
        for (size_t i = 0; i < p->count; i++)
            nr[i] = *at(p, i);
        free(p->ring);
        p->ring = nr;
        p->cap = ncap;
        p->head = 0;
    }
    *at(p, p->count) = (slot){.offset = offset, .done = false};
    p->count++;
    p->last_tracked = offset;
    return p->generation;
}

bool offsets_done(offsets *o, const char *topic, int32_t partition, int64_t offset,
                  uint32_t generation)
{
    part *p = find(o, topic, partition);
    if (!p || p->generation != generation || p->count == 0)
        return false;
    /* Offsets in the ring are strictly increasing: binary search. */
    size_t lo = 0, hi = p->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at(p, mid)->offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == p->count || at(p, lo)->offset != offset)
        return false;
    at(p, lo)->done = true;
    /* Retire the finished prefix; keep the newest slot so the storable offset
     * stays known even when everything is done. */
    while (p->count > 1 && at(p, 0)->done) {
        p->head = (p->head + 1) % p->cap;
        p->count--;
    }
    return true;
}

static int64_t storable(const part *p)
{
    if (p->last_tracked < 0)
        return -1;
    for (size_t i = 0; i < p->count; i++)
        if (!at(p, i)->done)
            return at(p, i)->offset;
    return p->last_tracked + 1;
}

int64_t offsets_storable(const offsets *o, const char *topic, int32_t partition)
{
    const part *p = find(o, topic, partition);
    return p ? storable(p) : -1;
}

size_t offsets_pending(const offsets *o, const char *topic, int32_t partition)
{
    const part *p = find(o, topic, partition);
    size_t n = 0;
    for (size_t i = 0; p && i < p->count; i++)
        n += !at(p, i)->done;
    return n;
}

rd_kafka_topic_partition_list_t *offsets_collect(offsets *o, bool only_changed)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    for (size_t i = 0; i < o->nparts; i++) {
        part *p = &o->parts[i];
        int64_t s = storable(p);
        if (s < 0 || (only_changed && s == p->collected))
            continue;
        if (!list)
            list = rd_kafka_topic_partition_list_new((int)o->nparts);
        rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset = s;
        p->collected = s;
    }
    return list;
}

void offsets_forget(offsets *o, const char *topic, int32_t partition)
{
    part *p = find(o, topic, partition);
    if (!p)
        return;
    free(p->topic);
    free(p->ring);
    *p = o->parts[--o->nparts];
}
