/*
 * pacer: sends COUNT copies of a template at a steady RATE per second, each
 * stamped with the time it is sent, for bench/e2e_bench.sh's latency runs.
 *
 *   pacer --rate R --count N [--first SEQ] [--channels C] [--workspaces W]
 *         [--url URL] [--lead LINE [--lead-ms MS]] TEMPLATE
 *
 * In the template, {seq} is FIRST + i ({seq12}: zero-padded to 12 digits,
 * for a UUID's last group), {chan} is i % C, {ws} is
 * (i % C) % W and {pubus} the wall-clock time in microseconds taken just
 * before the copy is written. Without --url each copy is one line written
 * to stdout (for `herald-checks publish -`); with --url it is the body of a
 * POST (application/json) on one keep-alive connection (for Alertmanager's
 * /api/v2/alerts), the next copy waiting for the answer. The copies keep to
 * an absolute schedule (start + i / R); how far behind it the sender fell at
 * worst is printed on stderr at the end. --lead writes LINE first and waits
 * MS (default 1,000) before the schedule starts: a program reading stdout
 * (herald-checks) connects on its first line, as a long-running producer
 * has long done before the measured events. Stamping in C, right at the write,
 * keeps the shell's forks out of the measured latency.
 */
#include "common/config.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_until_us(long long t)
{
    struct timespec ts = {.tv_sec = t / 1000000, .tv_nsec = (t % 1000000) * 1000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        if (util_should_stop())
            return;
}

/* Appends the template with its placeholders replaced. */
static void expand(strbuf *out, const char *tpl, long long seq, long chan, long ws, long long pubus)
{
    const struct {
        const char *name;
        bool padded; /* to 12 digits */
        long long value;
    } marks[] = {{"{seq}", false, seq},
                 {"{seq12}", true, seq},
                 {"{chan}", false, chan},
                 {"{ws}", false, ws},
                 {"{pubus}", false, pubus}};
    for (const char *p = tpl; *p;) {
        size_t i = 0, len = 0;
        if (*p == '{')
            for (; i < ARRAY_LEN(marks); i++)
                if (!strncmp(p, marks[i].name, len = strlen(marks[i].name)))
                    break;
        if (*p == '{' && i < ARRAY_LEN(marks)) {
            (void)strbuf_addf(out, marks[i].padded ? "%012lld" : "%lld", marks[i].value);
            p += len;
        } else {
            (void)strbuf_add(out, p++, 1);
        }
    }
}

static size_t discard(char *ptr, size_t size, size_t n, void *arg)
{
    (void)ptr, (void)arg;
    return size * n;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long rate = 0, count = 0, first = 0, channels = 1, workspaces = 1;
    char *url = NULL, *lead = NULL;
    long lead_ms = 1000;
    cfg_opt opts[] = {
        {"--rate", NULL, CFG_INT, NULL, 1, 1000000, "N", "copies per second (required)", &rate},
        {"--count", NULL, CFG_INT, NULL, 1, 100000000, "N", "copies to send (required)", &count},
        {"--first", NULL, CFG_INT, "0", 0, 1000000000000L, "SEQ", "{seq} of the first copy",
         &first},
        {"--channels", NULL, CFG_INT, "1", 1, 1000000, "N", "{chan} cycles over 0..N-1", &channels},
        {"--workspaces", NULL, CFG_INT, "1", 1, 1000000, "N", "{ws} is {chan} modulo N",
         &workspaces},
        {"--url", NULL, CFG_STRING, NULL, 0, 0, "URL", "POST each copy there instead of stdout",
         &url},
        {"--lead", NULL, CFG_STRING, NULL, 0, 0, "LINE", "a line written before the schedule",
         &lead},
        {"--lead-ms", NULL, CFG_INT, "1000", 0, 60000, "MS", "pause after the --lead line",
         &lead_ms},
        {"--log-level", "HERALD_LOG_LEVEL", CFG_LOGLEVEL, "info", 0, 0, "LEVEL",
         "debug, info, warn or error", NULL},
    };
    int argi = 1;
    log_init("pacer");
    int rc = cfg_parse_or_exit_code("pacer", "[OPTIONS] TEMPLATE", opts, ARRAY_LEN(opts), argc,
                                    argv, &argi);
    if (rc >= 0)
        return rc;
    if (rate <= 0 || count <= 0) {
        fprintf(stderr, "pacer: --rate and --count are required\n");
        return 2;
    }
    if (argi != argc - 1) {
        fprintf(stderr, "pacer: expected one TEMPLATE argument (see --help)\n");
        return 2;
    }
    const char *tpl = argv[argi];
    util_signals_install();

    CURL *h = NULL;
    struct curl_slist *hdrs = NULL;
    if (url) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        h = curl_easy_init();
        hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    }
    strbuf sb = {0};
    if (lead) {
        if (url) {
            fprintf(stderr, "pacer: --lead is for stdout, not with --url\n");
            return 2;
        }
        (void)strbuf_adds(&sb, lead);
        (void)strbuf_add(&sb, "\n", 1);
        if (write_all(STDOUT_FILENO, sb.p, sb.len)) {
            fprintf(stderr, "pacer: writing the --lead line to stdout: %s\n", strerror(errno));
            return 1;
        }
        sleep_until_us(mono_us() + lead_ms * 1000);
    }
    long long period = 1000000 / rate, start = mono_us(), worst_lag = 0;
    int status = 0;
    for (long i = 0; i < count && !util_should_stop(); i++) {
        long long due = start + i * period;
        sleep_until_us(due);
        long long lag = mono_us() - due;
        if (lag > worst_lag)
            worst_lag = lag;
        strbuf_reset(&sb);
        long chan = i % channels;
        expand(&sb, tpl, first + i, chan, chan % workspaces, wall_us());
        if (!h) {
            strbuf_add(&sb, "\n", 1);
            if (write_all(STDOUT_FILENO, (sb.p ? sb.p : ""), sb.len)) {
                fprintf(stderr, "pacer: writing copy %ld to stdout: %s\n", i, strerror(errno));
                status = 1;
                break;
            }
            continue;
        }
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, (sb.p ? sb.p : ""));
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)sb.len);
        CURLcode cc = curl_easy_perform(h);
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (cc != CURLE_OK || code / 100 != 2) {
            fprintf(stderr, "pacer: POST %s (copy %ld): %s, HTTP %ld\n", url, i,
                    cc != CURLE_OK ? curl_easy_strerror(cc) : "not accepted", code);
            status = 1;
            break;
        }
    }
    fprintf(stderr, "pacer: %ld copies at %ld/s; at worst %.1f ms behind schedule\n", count, rate,
            worst_lag / 1000.0);
    strbuf_dispose(&sb);
    if (h) {
        curl_easy_cleanup(h);
        curl_slist_free_all(hdrs);
        curl_global_cleanup();
    }
    return status;
}
