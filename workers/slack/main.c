/*
 * herald-slack: posts routed deliveries to Slack (chat.postMessage), paced per
 * channel and per workspace, with durable retries and digests under
 * pressure. The engine is workers/slack/sender.h; this is configuration and
 * lifecycle only.
 */
#include "common/config.h"
#include "common/log.h"
#include "workers/slack/sender.h"
#include "common/util.h"

#include <stdio.h>

static const char usage[] =
    "[OPTIONS]\n"
    "\n"
    "Consumes routed deliveries from herald.deliveries.slack.v1 and posts each to Slack,\n"
    "recording every attempt and outcome in PostgreSQL (table deliveries).\n"
    "HERALD_SECRET_KEY must be the key the bot tokens were stored with.\n"
    "Durations take a unit: 500ms, 5s, 10m, 24h, 7d (a bare number is seconds).";

int main(int argc, char **argv)
{
    log_init("herald-slack");
    sender_config cfg;
    cfg_opt opts[SENDER_CONFIG_MAX_OPTS];
    size_t n = sender_config_table(&cfg, opts, SENDER_CONFIG_MAX_OPTS);
    int argi = 1;
    int rc = cfg_parse_or_exit_code("herald-slack", usage, opts, n, argc, argv, &argi);
    if (rc >= 0)
        return rc;
    if (argi < argc) {
        fprintf(stderr, "herald-slack: unexpected argument '%s'\n", argv[argi]);
        return 2;
    }
    char err[512];
    if (sender_config_finish(&cfg, err, sizeof err)) {
        fprintf(stderr, "herald-slack: %s\n", err);
        sender_config_dispose(&cfg);
        return 2;
    }
    util_signals_install();
    sender *s = sender_new(&cfg, err, sizeof err); /* copies the client secret */
    sender_config_dispose(&cfg);
    if (!s) {
        fprintf(stderr, "herald-slack: %s\n", err);
        return 1;
    }
    rc = sender_run(s);
    sender_destroy(s);
    return rc;
}
