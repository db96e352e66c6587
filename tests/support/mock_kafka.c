/*
 * mock-kafka: runs librdkafka's mock cluster (a Kafka protocol implementation
 * by the librdkafka authors, served over real TCP on loopback) so tests and
 * the demo can run producers and workers as separate processes without a
 * broker. Prints the bootstrap servers on stdout, then serves until SIGTERM.
 *
 * Commands read from the control FIFO (--control PATH), one per line, let
 * fault tests act on the cluster:  "down N", "up N" (broker id N).
 */
#include "common/config.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void handle_command(rd_kafka_mock_cluster_t *mc, char *line)
{
    int id;
    if (sscanf(line, "down %d", &id) == 1) {
        rd_kafka_mock_broker_set_down(mc, id);
        LOG_INFO("broker %d down", id);
    } else if (sscanf(line, "up %d", &id) == 1) {
        rd_kafka_mock_broker_set_up(mc, id);
        LOG_INFO("broker %d up", id);
    } else if (*line) {
        LOG_WARN("unknown control command '%s'", line);
    }
}

int main(int argc, char **argv)
{
    long brokers = 1, partitions = 4;
    char *bootstrap_file = NULL, *control = NULL;
    cfg_opt opts[] = {
        {"--brokers", NULL, CFG_INT, "1", 1, 9, "N", "number of mock brokers", &brokers},
        {"--partitions", NULL, CFG_INT, "4", 1, 256, "N", "partitions of each Herald topic",
         &partitions},
        {"--bootstrap-file", NULL, CFG_STRING, NULL, 0, 0, "PATH",
         "also write the bootstrap servers to PATH (atomically)", &bootstrap_file},
        {"--control", NULL, CFG_STRING, NULL, 0, 0, "PATH",
         "create a FIFO at PATH accepting 'down N' / 'up N'", &control},
        {"--log-level", "HERALD_LOG_LEVEL", CFG_LOGLEVEL, "info", 0, 0, "LEVEL",
         "debug, info, warn or error", NULL},
    };
    int argi = 1;
    log_init("mock-kafka");
    int rc =
        cfg_parse_or_exit_code("mock-kafka", "[OPTIONS]", opts, ARRAY_LEN(opts), argc, argv, &argi);
    if (rc >= 0)
        return rc;
    if (argi < argc) {
        fprintf(stderr, "mock-kafka: unexpected argument '%s'\n", argv[argi]);
        return 2;
    }
    util_signals_install();

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* A mock cluster needs a handle to live in; a producer that never produces does. */
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "mock-kafka: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, (int)brokers);
    if (!mc) {
        fprintf(stderr, "mock-kafka: could not create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    const char *topics[] = {TOPIC_CHECKS, TOPIC_COLLECTIONS, TOPIC_DELIVERIES, TOPIC_DEADLETTER};
    for (size_t i = 0; i < ARRAY_LEN(topics); i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, topics[i], (int)partitions,
                                                             (int)(brokers < 3 ? brokers : 3));
        if (err)
            LOG_WARN("create topic %s: %s", topics[i], rd_kafka_err2str(err));
    }
    const char *bs = rd_kafka_mock_cluster_bootstraps(mc);
    printf("%s\n", bs);
    fflush(stdout);
    if (bootstrap_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", bootstrap_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%s\n", bs) < 0 || fclose(f) != 0 || rename(tmp, bootstrap_file)) {
            fprintf(stderr, "mock-kafka: cannot write %s: %s\n", bootstrap_file, strerror(errno));
            return 1;
        }
    }
    LOG_INFO("mock cluster with %ld broker(s), %ld partitions per topic at %s", brokers, partitions,
             bs);

    int fd = -1;
    if (control) {
        unlink(control);
        if (mkfifo(control, 0600) || (fd = open(control, O_RDWR | O_NONBLOCK)) < 0) {
            fprintf(stderr, "mock-kafka: control fifo %s: %s\n", control, strerror(errno));
            return 1;
        }
    }
    char buf[256];
    size_t have = 0;
    while (!util_should_stop()) {
        if (fd < 0) {
            usleep(100 * 1000);
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0)
            continue;
        have += (size_t)n;
        buf[have] = '\0';
        char *nl;
        while ((nl = strchr(buf, '\n'))) {
            *nl = '\0';
            handle_command(mc, buf);
            have -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have + 1);
        }
        if (have == sizeof buf - 1)
            have = 0; /* a line that long is junk */
    }
    if (fd >= 0) {
        close(fd);
        unlink(control);
    }
    LOG_INFO("stopping");
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
