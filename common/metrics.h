#ifndef HERALD_METRICS_H
#define HERALD_METRICS_H

/*
 * A small thread-safe Prometheus registry: counters, gauges and histograms,
 * each with an optional fixed set of label names, rendered in the text
 * exposition format 0.0.4 (served by httpd on GET /metrics).
 *
 * Labels. A metric is declared with its label names as one comma-separated
 * string ("topic", "method,outcome") or NULL/"" for none. Each update names
 * the series by its label VALUES in the same order, joined by '|':
 *
 *     metrics_counter *c = metrics_counter_new("herald_router_events_consumed_total",
 *                                              "Events consumed.", "topic");
 *     metrics_counter_inc(c, "herald.checks.v1");
 *     metrics_counter *r = metrics_counter_new("herald_slack_requests_total",
 *                                              "Slack Web API requests.", "method,outcome");
 *     metrics_counter_inc(r, "chat.postMessage|ok");
 *
 * The last label value takes the rest of the string, so the value of a
 * single-label metric may itself contain '|'. Passing fewer values than
 * label names fills the missing ones with "". NULL or "" means "no labels".
 * Values are escaped on output (backslash, double quote, newline).
 *
 * Threads: every function may be called from any thread. Each metric has its
 * own mutex and a hash of its series, so an update costs one lock, one hash
 * of the label string and one compare. Metrics live as long as their
 * registry; the default registry lives until exit.
 *
 * Programming errors (a bad metric or label name, the same name registered
 * again with another type or other labels) abort with a message: they are
 * caught the first time the program starts, never in production traffic.
 */
#include <stddef.h>

typedef struct metrics_registry metrics_registry;
typedef struct metrics_counter metrics_counter;
typedef struct metrics_gauge metrics_gauge;
typedef struct metrics_histogram metrics_histogram;

/* The process-wide registry the metrics_*_new functions register into. */
metrics_registry *metrics_default_registry(void);

/* A separate registry (tests, embedding). Destroy frees its metrics too. */
metrics_registry *metrics_registry_new(void);
void metrics_registry_destroy(metrics_registry *reg);

/*
 * Declares a metric in the default registry (the _in forms: in reg). Declaring
 * a name that already exists with the same type and label names returns the
 * existing metric, so two modules may share one.
 */
metrics_counter *metrics_counter_new(const char *name, const char *help, const char *labelnames);
metrics_gauge *metrics_gauge_new(const char *name, const char *help, const char *labelnames);
/* buckets: strictly increasing upper bounds (+Inf is implied); NULL/0 gives
 * the Prometheus defaults .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10. */
metrics_histogram *metrics_histogram_new(const char *name, const char *help, const char *labelnames,
                                         const double *buckets, size_t nbuckets);

metrics_counter *metrics_counter_new_in(metrics_registry *reg, const char *name, const char *help,
                                        const char *labelnames);
metrics_gauge *metrics_gauge_new_in(metrics_registry *reg, const char *name, const char *help,
                                    const char *labelnames);
metrics_histogram *metrics_histogram_new_in(metrics_registry *reg, const char *name,
                                            const char *help, const char *labelnames,
                                            const double *buckets, size_t nbuckets);

/* Fills out[0..count) with start, start*factor, ... (count <= 64). */
void metrics_buckets_exponential(double start, double factor, size_t count, double *out);

/* Counters only go up: a negative or NaN v is ignored. */
void metrics_counter_inc(metrics_counter *c, const char *labels);
void metrics_counter_add(metrics_counter *c, const char *labels, double v);
/* Current value of one series (0 when it does not exist): for tests and health. */
double metrics_counter_value(metrics_counter *c, const char *labels);

void metrics_gauge_set(metrics_gauge *g, const char *labels, double v);
void metrics_gauge_add(metrics_gauge *g, const char *labels, double v);
void metrics_gauge_dec(metrics_gauge *g, const char *labels);
double metrics_gauge_value(metrics_gauge *g, const char *labels);

void metrics_histogram_observe(metrics_histogram *h, const char *labels, double v);

/*
 * The whole registry in the text exposition format 0.0.4: metrics sorted by
 * name, each with # HELP and # TYPE, series sorted by their label values.
 * A metric without labels always shows its series (0 before any update).
 * Returns a malloc'd NUL-terminated string (caller frees); *len (may be
 * NULL) gets its length.
 */
char *metrics_render(metrics_registry *reg, size_t *len);

/* The Content-Type to serve the rendering with. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
