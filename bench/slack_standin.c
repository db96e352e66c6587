/*
 * slack_standin: an unlimited HTTP stand-in for Slack used by
 * bench/e2e_bench.sh. Unlike tests/support/fake-slack it keeps no Slack
 * state, paces nothing and answers every POST at once with
 * {"ok":true,...} (which both herald-slack's chat.postMessage and
 * Alertmanager's slack_configs accept), so it is not the bottleneck of an
 * end-to-end run. For each POST it records the receive time and the first
 * "pubus=<microseconds>" marker found in the body (the publish time the
 * benchmark wrote into the event), so latency is measured where Slack would
 * receive the message.
 *
 *   GET  /_stats      "posts N first_us F last_us L\n" (receive times, epoch us)
 *   GET  /_latencies  one "PUB_US RECV_US" line per POST that carried a marker
 *   POST /_reset      forget every record
 */
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_RECORDS 1000000

typedef struct {
    long long pub_us, recv_us;
} record;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static record *records;
static long n_records, n_posts;
static long long first_us, last_us;

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The body's marker: bodies are small JSON, scanned once as they arrive. */
static long long find_marker(const char *data, size_t len)
{
    static const char key[] = "pubus=";
    for (size_t i = 0; i + sizeof key - 1 < len; i++) {
        if (memcmp(data + i, key, sizeof key - 1) != 0)
            continue;
        long long v = 0;
        size_t j = i + sizeof key - 1;
        while (j < len && data[j] >= '0' && data[j] <= '9')
            v = v * 10 + (data[j++] - '0');
        if (v > 0)
            return v;
    }
    return 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, char *body,
                             enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, mode);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static char *dump_latencies(void)
{
    pthread_mutex_lock(&mu);
    size_t cap = (size_t)n_records * 42 + 1, off = 0;
    char *out = malloc(cap);
    if (out) {
        for (long i = 0; i < n_records; i++)
            off += (size_t)snprintf(out + off, cap - off, "%lld %lld\n", records[i].pub_us,
                                    records[i].recv_us);
        out[off] = '\0';
    }
    pthread_mutex_unlock(&mu);
    return out;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    (void)cls;
    (void)version;
    /* First call per request: only the headers have arrived. */
    if (!*state) {
        long long *marker = calloc(1, sizeof *marker);
        if (!marker)
            return MHD_NO;
        *state = marker;
        return MHD_YES;
    }
    long long *marker = *state;
    if (*upload_size) {
        if (!*marker)
            *marker = find_marker(upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") == 0 && strcmp(url, "/_stats") == 0) {
        char buf[160];
        pthread_mutex_lock(&mu);
        snprintf(buf, sizeof buf, "posts %ld first_us %lld last_us %lld\n", n_posts, first_us,
                 last_us);
        pthread_mutex_unlock(&mu);
        return reply(c, MHD_HTTP_OK, buf, MHD_RESPMEM_MUST_COPY);
    }
    if (strcmp(method, "GET") == 0 && strcmp(url, "/_latencies") == 0) {
        char *out = dump_latencies();
        return out ? reply(c, MHD_HTTP_OK, out, MHD_RESPMEM_MUST_FREE)
                   : reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "oom\n", MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(url, "/_reset") == 0) {
        pthread_mutex_lock(&mu);
        n_records = n_posts = 0;
        first_us = last_us = 0;
        pthread_mutex_unlock(&mu);
        return reply(c, MHD_HTTP_OK, "{\"ok\":true}\n", MHD_RESPMEM_PERSISTENT);
    }
    long long t = now_us();
    pthread_mutex_lock(&mu);
    if (!n_posts)
        first_us = t;
    last_us = t;
    n_posts++;
    if (*marker && n_records < MAX_RECORDS)
        records[n_records++] = (record){*marker, t};
    pthread_mutex_unlock(&mu);
    return reply(c, MHD_HTTP_OK,
                 "{\"ok\":true,\"channel\":\"C0STANDIN\",\"ts\":\"1700000000.000100\","
                 "\"message\":{\"ts\":\"1700000000.000100\"}}",
                 MHD_RESPMEM_PERSISTENT);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    free(*state);
    *state = NULL;
}

int main(int argc, char **argv)
{
    long port = 0, threads = 2;
    cfg_opt opts[] = {
        {"--port", NULL, CFG_INT, "0", 0, 65535, "PORT", "port on 127.0.0.1 (0: pick a free one)",
         &port},
        {"--threads", NULL, CFG_INT, "2", 1, 64, "N", "threads serving connections", &threads},
        {"--log-level", "HERALD_LOG_LEVEL", CFG_LOGLEVEL, "info", 0, 0, "LEVEL",
         "debug, info, warn or error", NULL},
    };
    int argi = 1;
    log_init("slack_standin");
    int rc = cfg_parse_or_exit_code("slack_standin", "[OPTIONS]", opts, ARRAY_LEN(opts), argc, argv,
                                    &argi);
    if (rc >= 0)
        return rc;
    if (argi < argc) {
        fprintf(stderr, "slack_standin: unexpected argument '%s'\n", argv[argi]);
        return 2;
    }
    records = calloc(MAX_RECORDS, sizeof *records);
    if (!records) {
        fprintf(stderr, "slack_standin: out of memory\n");
        return 1;
    }
    util_signals_install();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
        NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)4000,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "slack_standin: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("http://127.0.0.1:%u\n", info ? info->port : (unsigned)port);
    fflush(stdout);
    while (!util_should_stop())
        usleep(100000); /* a signal ends the sleep early */
    MHD_stop_daemon(d);
    free(records);
    return 0;
}
