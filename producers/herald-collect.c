/*
 * herald-collect publish [FILE]: publishes collection events (herald.collection_event.v1) to
 * herald.collections.v1, one JSON event per line of FILE or standard input, keyed by tenant id, and
 * waits until the brokers acknowledged every one. Invalid lines are reported as "line N: <field>:
 * <reason>" and not published; the others still are.
 *
 * Exit status: 0 all published, 1 a line rejected or not acknowledged, 2 usage.
 * The logic is publish_main() in producers/publish_cli.c; an engine can instead
 * link the C API in common/publish.h.
 */
#include "producers/publish_cli.h"

int main(int argc, char **argv)
{
    return publish_main(EVENT_COLLECTION, argc, argv);
}
