#ifndef HERALD_SENDER_METRICS_H
#define HERALD_SENDER_METRICS_H

/*
 * herald-slack's Prometheus metrics and gauges. Floor 6 of the engine (map in
 * sender_internal.h).
 */

#include "workers/slack/sender_state.h"

void sender_metrics_init(sender_metrics *m);
/* The gauges: channels waiting, deliveries queued, requests in flight. */
void sender_update_gauges(sender *s);

#endif
