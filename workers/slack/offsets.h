#ifndef HERALD_OFFSETS_H
#define HERALD_OFFSETS_H

/*
 * Which Kafka offset may be stored when work on one partition completes out
 * of order (many channels in flight at once).
 *
 * rd_kafka_offsets_store() takes the next offset to read, and committing it
 * says "everything before this is done". So for each partition we keep the
 * consumed offsets in order with a done flag; the storable offset is the
 * lowest offset not yet done (or last consumed + 1 when all are). A message
 * finished early waits behind an older one still in flight; a crash
 * redelivers from the oldest unfinished one, and the deliveries table makes
 * re-reading finished ones harmless.
 *
 * @locality: one thread (the consumer loop). Kafka-independent apart from
 * offsets_collect(), so the logic is testable alone.
 */

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct offsets offsets;

offsets *offsets_new(void);
void offsets_destroy(offsets *o); /* NULL-safe */

/*
 * Records a consumed message. Offsets of one partition normally grow; an
 * offset at or below the last one tracked means the consumer went back
 * (reassignment, offset reset): the partition starts over from it and a new
 * generation begins, so completions of the previous generation are ignored.
 * Returns the generation to pass to offsets_done().
 */
uint32_t offsets_track(offsets *o, const char *topic, int32_t partition, int64_t offset);

/*
 * Marks a tracked offset done (its work is durable). Returns false when the
 * offset is not tracked in that generation (partition forgotten or restarted
 * since): nothing changes then.
 */
bool offsets_done(offsets *o, const char *topic, int32_t partition, int64_t offset,
                  uint32_t generation);

/* The offset to store for a partition (next to read), or -1 when nothing was
 * ever tracked for it. */
int64_t offsets_storable(const offsets *o, const char *topic, int32_t partition);

/* How many tracked offsets of the partition are not done yet. */
size_t offsets_pending(const offsets *o, const char *topic, int32_t partition);

/*
 * A new list holding, for each tracked partition (all, or only those whose
 * storable offset moved since the last collect), its storable offset; NULL
 * when the list would be empty. Caller destroys it.
 */
rd_kafka_topic_partition_list_t *offsets_collect(offsets *o, bool only_changed);

/* Drops a partition (revoked or lost): later completions for it are ignored. */
void offsets_forget(offsets *o, const char *topic, int32_t partition);

#endif
