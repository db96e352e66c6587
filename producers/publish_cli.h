/*
 * The producers' command line, shared by herald-checks and herald-collect.
 */
#ifndef HERALD_PUBLISH_CLI_H
#define HERALD_PUBLISH_CLI_H

#include "common/event.h"

/*
 * The whole of `herald-checks` (kind EVENT_CHECK_RESULT) and `herald-collect`
 * (EVENT_COLLECTION): `publish [FILE]`, one event per line. Returns the exit
 * status: 0 all published, 1 a line rejected or not acknowledged, 2 usage.
 */
int publish_main(event_kind kind, int argc, char **argv);

#endif
