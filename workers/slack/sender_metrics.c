/*
 * herald-slack's Prometheus metrics (served on --metrics-addr with /healthz).
 */
#include "workers/slack/sender_metrics.h"

void sender_metrics_init(sender_metrics *m)
{
    m->consumed = metrics_counter_new("herald_slack_messages_consumed_total",
                                      "Routed deliveries consumed from Kafka.", NULL);
    m->deadlettered = metrics_counter_new("herald_slack_deadlettered_total",
                                          "Routed deliveries sent to the dead-letter topic.", NULL);
    m->requests = metrics_counter_new("herald_slack_requests_total",
                                      "Slack Web API requests by method and outcome class.",
                                      "method,outcome");
    m->rate_limited = metrics_counter_new("herald_slack_rate_limited_total",
                                          "HTTP 429 answers from Slack, by paused scope.", "scope");
    m->retries =
        metrics_counter_new("herald_slack_retries_scheduled_total",
                            "Delivery retries scheduled in PostgreSQL, by cause.", "cause");
    m->deliveries = metrics_counter_new("herald_slack_deliveries_total",
                                        "Deliveries that reached a final state.", "state");
    m->digests =
        metrics_counter_new("herald_slack_digests_sent_total", "Digest messages posted.", NULL);
    m->folded = metrics_counter_new("herald_slack_deliveries_folded_total",
                                    "Deliveries sent folded into a digest.", NULL);
    m->revoked =
        metrics_counter_new("herald_slack_installations_revoked_total",
                            "Workspace installations marked unusable after a token error.", NULL);
    m->refreshes = metrics_counter_new(
        "herald_slack_token_refreshes_total",
        "Token rotation: bot token refreshes by outcome (refreshed: at Slack by this sender; "
        "reused: another process had refreshed it; failed_transient; failed_permanent).",
        "outcome");
    m->reconciled = metrics_counter_new(
        "herald_slack_reconciled_total",
        "Deliveries still pending after --reconcile-after, taken from PostgreSQL to be sent "
        "(their Kafka message late or lost).",
        NULL);
    m->resolves = metrics_counter_new(
        "herald_slack_resolves_total",
        "Resolve deliveries by outcome (updated, replied: a reply under a digest, waiting: the "
        "original not posted yet, nothing_to_resolve, failed).",
        "outcome");
    m->nudges = metrics_counter_new("herald_slack_nudges_total",
                                    "Nudge direct messages by outcome (sent, not_found, failed).",
                                    "outcome");
    m->updates = metrics_counter_new(
        "herald_slack_updates_total",
        "chat.update edits of posted messages by outcome (ok, not_found, rate_limited, error).",
        "outcome");
    double b[14];
    metrics_buckets_exponential(0.05, 2.0, 14, b); /* 50 ms .. ~7 min */
    m->latency = metrics_histogram_new(
        "herald_slack_delivery_latency_seconds",
        "Time from routing (the event entering the pipeline) to Slack accepting the message.", NULL,
        b, 14);
    m->channels_waiting = metrics_gauge_new(
        "herald_slack_channels_waiting", "Channels with deliveries waiting for their turn.", NULL);
    m->queued = metrics_gauge_new("herald_slack_deliveries_queued",
                                  "Deliveries held in memory waiting for their channel.", NULL);
    m->oldest_pending = metrics_gauge_new(
        "herald_slack_oldest_pending_seconds",
        "age of the oldest delivery still pending, any workspace (read from PostgreSQL every 10 s)",
        NULL);
    m->in_flight = metrics_gauge_new("herald_slack_requests_in_flight",
                                     "Slack requests currently in flight.", NULL);
}

void sender_update_gauges(sender *s)
{
    metrics_gauge_set(s->m.channels_waiting, NULL, (double)dispatch_channels_waiting(s->disp));
    metrics_gauge_set(s->m.queued, NULL, (double)dispatch_queued(s->disp));
    metrics_gauge_set(s->m.in_flight, NULL, (double)s->in_flight);
}
