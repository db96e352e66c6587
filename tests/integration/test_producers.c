/*
 * herald-checks and herald-collect as a user runs them, against librdkafka's
 * mock cluster: valid lines arrive on their topic keyed by tenant id, invalid
 * ones are named by line and field and not published, the exit status tells
 * which happened. Also the publish.h C API in-process.
 */
#include "testlib.h"

#include "common/event.h"
#include "common/kafka.h"
#include "common/publish.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PARTITIONS 4

static testlib_kafka kafka;
static char tmpdir[256];

static void setup(void)
{
    testlib_kafka_start(&kafka, 1, PARTITIONS);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/herald-test-producers-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    testlib_kafka_destroy(&kafka);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) /* NOLINT(cert-env33-c): a fixed rm of our own temp dir */
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static const char *write_file(const char *name, const char *content)
{
    static char path[2][512];
    static int which;
    char *p = path[which++ % 2];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    fclose(f);
    return p;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

typedef struct run_result {
    int status; /* exit status, or 128 + signal */
    char *out;
    char *err;
} run_result;

static void run_result_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

/* Runs producers/<prog> with args (NULL-terminated), stdin from stdin_path
 * (NULL: /dev/null). */
static run_result run(const char *prog, const char *stdin_path, const char *const *args)
{
    char exe[512], outp[512], errp[512];
    testlib_program("producers", prog, exe, sizeof exe);
    snprintf(outp, sizeof outp, "%s/stdout", tmpdir);
    snprintf(errp, sizeof errp, "%s/stderr", tmpdir);
    char *argv[32];
    int n = 0;
    argv[n++] = exe;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
        int out = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0)
            _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        setenv("HERALD_LOG_LEVEL", "error", 1);
        unsetenv("HERALD_KAFKA_BROKERS");
        execv(exe, argv);
        _exit(127);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    run_result r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = slurp(outp);
    r.err = slurp(errp);
    return r;
}

/* The messages on a topic: key and value of each. */
typedef struct msgs {
    size_t n;
    char *key[64];
    char *value[64];
} msgs;

static void msgs_free(msgs *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->key[i]);
        free(m->value[i]);
    }
    m->n = 0;
}

/*
 * Reads every partition of topic from the beginning until `expect` messages
 * came (or 30 s passed), then a little longer to catch any extra one.
 */
static msgs consume(const char *topic, size_t expect)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    ck_assert_int_eq(
        rd_kafka_conf_set(conf, "bootstrap.servers", kafka.bootstraps, err, sizeof err),
        RD_KAFKA_CONF_OK);
    rd_kafka_conf_set(conf, "group.id", "test-producers-reader", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    ck_assert_msg(rk != NULL, "%s", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ck_assert_int_eq(rd_kafka_assign(rk, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);

    msgs m;
    memset(&m, 0, sizeof m);
    int idle_after_done = 0;
    for (int i = 0; i < 300 && idle_after_done < 10; i++) { /* 100 ms each */
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
        if (!msg) {
            if (m.n >= expect)
                idle_after_done++;
            continue;
        }
        if (!msg->err && m.n < 64) {
            m.key[m.n] = strndup(msg->key ? (const char *)msg->key : "", msg->key_len);
            m.value[m.n] = strndup((const char *)msg->payload, msg->len);
            m.n++;
        }
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return m;
}

/* Every message is a valid event of `kind` keyed by its tenant id; returns
 * how many carry event_id. */
static int count_event(const msgs *m, event_kind kind, const char *event_id)
{
    int found = 0;
    for (size_t i = 0; i < m->n; i++) {
        char err[256];
        event *ev = NULL;
        ck_assert_msg(event_parse(m->value[i], strlen(m->value[i]), kind, &ev, err, sizeof err) ==
                          0,
                      "message %zu: %s", i, err);
        ck_assert_str_eq(m->key[i], ev->tenant_id);
        found += !strcmp(ev->event_id, event_id);
        event_destroy(ev);
    }
    return found;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* A check result with the given id suffix and tenant. */
static char *check_line(int id, const char *tenant, int failing)
{
    char *s = malloc(1024);
    snprintf(s, 1024,
             "{\"schema\":\"herald.check_result.v1\",\"event_id\":"
             "\"00000000-0000-4000-8000-%012d\",\"tenant_id\":\"%s\",\"trigger\":\"manual\","
             "\"check\":{\"type\":\"weak_mfa\",\"name\":\"Weak MFA\",\"severity\":\"high\"},"
             "\"evaluated_at\":\"2026-11-28T09:00:00Z\",\"failing_count\":%d,"
             "\"total_count\":100,\"failing_users\":[]}",
             id, tenant, failing);
    return s;
}

static const char *uuid_of(int id)
{
    static char buf[4][37];
    static int which;
    char *b = buf[which++ % 4];
    snprintf(b, 37, "00000000-0000-4000-8000-%012d", id);
    return b;
}

/* ------------------------------------------------------------------------ */
/* herald-checks                                                             */
/* ------------------------------------------------------------------------ */

START_TEST(checks_good_and_bad_lines)
{
    char *l1 = check_line(1, "acme", 3), *l2 = check_line(2, "acme", -1),
         *l3 = check_line(3, "globex", 0), *l5 = check_line(5, "acme", 7);
    char content[8192];
    snprintf(content, sizeof content, "%s\n%s\n%s\n\n%s\n{\"schema\":\n", l1, l2, l3, l5);
    free(l1), free(l2), free(l3), free(l5);
    const char *path = write_file("mixed.jsonl", content);

    const char *args[] = {"--brokers", kafka.bootstraps, "publish", path, NULL};
    run_result r = run("herald-checks", NULL, args);
    ck_assert_msg(r.status == 1, "exit %d, stderr: %s", r.status, r.err);
    ck_assert_msg(strstr(r.err, "line 2: failing_count: must be a non-negative integer\n"), "%s",
                  r.err);
    ck_assert_msg(strstr(r.err, "line 6: (event): not valid JSON\n"), "%s", r.err);
    ck_assert_msg(strstr(r.err, "published 3, rejected 2\n"), "%s", r.err);
    ck_assert_msg(!strstr(r.err, "line 1:") && !strstr(r.err, "line 3:") &&
                      !strstr(r.err, "line 4:") && !strstr(r.err, "line 5:"),
                  "%s", r.err);
    run_result_free(&r);

    msgs m = consume(TOPIC_CHECKS, 3);
    ck_assert_uint_eq(m.n, 3);
    ck_assert_int_eq(count_event(&m, EVENT_CHECK_RESULT, uuid_of(1)), 1);
    ck_assert_int_eq(count_event(&m, EVENT_CHECK_RESULT, uuid_of(2)), 0);
    ck_assert_int_eq(count_event(&m, EVENT_CHECK_RESULT, uuid_of(3)), 1);
    ck_assert_int_eq(count_event(&m, EVENT_CHECK_RESULT, uuid_of(5)), 1);
    msgs_free(&m);
    /* nothing strayed onto the other topic */
    m = consume(TOPIC_COLLECTIONS, 0);
    ck_assert_uint_eq(m.n, 0);
}
END_TEST

START_TEST(checks_all_good_examples)
{
    const char *src = getenv("HERALD_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/examples/events/checks.jsonl", src ? src : "..");
    char *text = slurp(path);
    int lines = count_lines(text);
    ck_assert_int_ge(lines, 4);

    const char *args[] = {"publish", "--brokers", kafka.bootstraps, path, NULL};
    run_result r = run("herald-checks", NULL, args);
    ck_assert_msg(r.status == 0, "exit %d, stderr: %s", r.status, r.err);
    char want[64];
    snprintf(want, sizeof want, "published %d, rejected 0\n", lines);
    ck_assert_str_eq(r.err, want); /* the summary is all it says */
    run_result_free(&r);

    msgs m = consume(TOPIC_CHECKS, (size_t)lines);
    ck_assert_uint_eq(m.n, (size_t)lines);
    /* byte for byte what was in the file, keyed by tenant */
    char *save = NULL;
    int matched = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        for (size_t i = 0; i < m.n; i++)
            matched += !strcmp(m.value[i], line);
    }
    ck_assert_int_eq(matched, lines);
    ck_assert_int_eq(count_event(&m, EVENT_CHECK_RESULT, "-"), 0); /* checks keys */
    msgs_free(&m);
    free(text);
}
END_TEST

START_TEST(checks_from_stdin_crlf_and_oversized)
{
    char *l1 = check_line(11, "acme", 1), *l3 = check_line(13, "initech", 2);
    size_t big = EVENT_MAX_BYTES + 100;
    char *content = malloc(big + 4096);
    size_t off = (size_t)sprintf(content, "%s\r\n", l1);
    /* line 2: an event padded past the limit (the reader must not keep it) */
    off += (size_t)sprintf(content + off, "{\"pad\":\"");
    memset(content + off, 'x', big);
    off += big;
    off += (size_t)sprintf(content + off, "\"}\r\n%s\r\n   \r\n", l3);
    content[off] = '\0';
    free(l1), free(l3);
    const char *path = write_file("stdin.jsonl", content);
    free(content);

    const char *args[] = {"--brokers", kafka.bootstraps, "publish", "-", NULL};
    run_result r = run("herald-checks", path, args);
    ck_assert_msg(r.status == 1, "exit %d, stderr: %s", r.status, r.err);
    char want[128];
    snprintf(want, sizeof want, "line 2: (event): %zu bytes exceeds the 262144-byte limit\n",
             big + 10);
    ck_assert_msg(strstr(r.err, want), "want %s got %s", want, r.err);
    ck_assert_msg(strstr(r.err, "published 2, rejected 1\n"), "%s", r.err);
    run_result_free(&r);

    msgs m = consume(TOPIC_CHECKS, 2);
    ck_assert_uint_eq(m.n, 2);
    ck_assert_int_eq(count_event(&m, EVENT_CHECK_RESULT, uuid_of(11)), 1);
    ck_assert_int_eq(count_event(&m, EVENT_CHECK_RESULT, uuid_of(13)), 1);
    for (size_t i = 0; i < m.n; i++)
        ck_assert_ptr_null(strchr(m.value[i], '\r')); /* the CR is not part of the event */
    msgs_free(&m);

    /* no FILE at all also means standard input */
    const char *args2[] = {"--brokers", kafka.bootstraps, "publish", NULL};
    r = run("herald-checks", NULL, args2);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "published 0, rejected 0\n");
    run_result_free(&r);
}
END_TEST

START_TEST(checks_usage_errors)
{
    struct {
        const char *args[6];
        const char *needle;
    } cases[] = {
        {{"--bogus", "publish", NULL}, "--bogus"},
        {{"publish", "--nope=1", NULL}, "--nope"},
        {{NULL}, "missing subcommand"},
        {{"push", NULL}, "'push'"},
        {{"publish", "/nonexistent/events.jsonl", NULL}, "/nonexistent/events.jsonl"},
        {{"publish", "--timeout", "0", NULL}, "--timeout"},
        {{"publish", "a.jsonl", "b.jsonl", NULL}, "'b.jsonl'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_result r = run("herald-checks", NULL, cases[i].args);
        ck_assert_msg(r.status == 2, "case %zu: exit %d", i, r.status);
        ck_assert_msg(count_lines(r.err) == 1, "case %zu: not one line: %s", i, r.err);
        ck_assert_msg(strstr(r.err, cases[i].needle), "case %zu: %s", i, r.err);
        ck_assert_str_eq(r.out, "");
        run_result_free(&r);
    }
    const char *help[] = {"--help", NULL};
    run_result r = run("herald-checks", NULL, help);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "usage: herald-checks"));
    ck_assert_ptr_nonnull(strstr(r.out, "--brokers"));
    ck_assert_ptr_nonnull(strstr(r.out, "--timeout"));
    run_result_free(&r);
    r = run("herald-collect", NULL, help);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "usage: herald-collect"));
    run_result_free(&r);

    msgs m = consume(TOPIC_CHECKS, 0);
    ck_assert_uint_eq(m.n, 0);
}
END_TEST

START_TEST(checks_not_acknowledged)
{
    /* The only broker is down: nothing can be acknowledged in time. */
    rd_kafka_mock_broker_set_down(kafka.mc, 1);
    char *l1 = check_line(21, "acme", 1), *l2 = check_line(22, "acme", 1);
    char content[4096];
    snprintf(content, sizeof content, "%s\n%s\n", l1, l2);
    free(l1), free(l2);
    const char *path = write_file("down.jsonl", content);
    const char *args[] = {"--brokers", kafka.bootstraps, "--timeout", "2", "publish", path, NULL};
    run_result r = run("herald-checks", NULL, args);
    ck_assert_msg(r.status == 1, "exit %d, stderr: %s", r.status, r.err);
    ck_assert_msg(strstr(r.err, "line 1: not acknowledged: "), "%s", r.err);
    ck_assert_msg(strstr(r.err, "line 2: not acknowledged: "), "%s", r.err);
    ck_assert_msg(strstr(r.err, "published 0, rejected 0, not acknowledged 2\n"), "%s", r.err);
    run_result_free(&r);
}
END_TEST

START_TEST(validate_needs_no_broker)
{
    char *l1 = check_line(41, "acme", 3), *l2 = check_line(42, "acme", 101),
         *l3 = check_line(43, "globex", 0);
    char content[8192];
    snprintf(content, sizeof content, "%s\n%s\n%s\n[1,2]\n", l1, l2, l3);
    free(l1), free(l2), free(l3);
    const char *path = write_file("validate.jsonl", content);
    /* nothing listens there: validate must not need it */
    const char *args[] = {"validate", "--brokers", "127.0.0.1:1", path, NULL};
    run_result r = run("herald-checks", NULL, args);
    ck_assert_msg(r.status == 1, "exit %d, stderr: %s", r.status, r.err);
    ck_assert_str_eq(r.err, "line 2: failing_count: must not exceed total_count (101 > 100)\n"
                            "line 4: (event): must be a JSON object\n"
                            "valid 2, rejected 2\n");
    run_result_free(&r);
    msgs m = consume(TOPIC_CHECKS, 0);
    ck_assert_uint_eq(m.n, 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* herald-collect                                                            */
/* ------------------------------------------------------------------------ */

START_TEST(collect_publishes_to_collections_topic)
{
    const char *src = getenv("HERALD_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/examples/events/collections.jsonl", src ? src : "..");
    char *text = slurp(path);
    int lines = count_lines(text);
    /* and a check result, which is not a collection event */
    char *wrong = check_line(31, "acme", 1);
    size_t n = strlen(text) + strlen(wrong) + 2;
    char *content = malloc(n);
    snprintf(content, n, "%s%s\n", text, wrong);
    free(wrong);
    const char *file = write_file("collections.jsonl", content);
    free(content);

    /* flags may also come after the subcommand and FILE */
    const char *args[] = {"publish", file, "--brokers", kafka.bootstraps, NULL};
    run_result r = run("herald-collect", NULL, args);
    ck_assert_msg(r.status == 1, "exit %d, stderr: %s", r.status, r.err);
    char want[128];
    snprintf(want, sizeof want, "line %d: schema: must be herald.collection_event.v1\n", lines + 1);
    ck_assert_msg(strstr(r.err, want), "%s", r.err);
    snprintf(want, sizeof want, "published %d, rejected 1\n", lines);
    ck_assert_msg(strstr(r.err, want), "%s", r.err);
    run_result_free(&r);

    msgs m = consume(TOPIC_COLLECTIONS, (size_t)lines);
    ck_assert_uint_eq(m.n, (size_t)lines);
    ck_assert_int_eq(count_event(&m, EVENT_COLLECTION, "-"), 0); /* all valid, keyed by tenant */
    msgs_free(&m);
    m = consume(TOPIC_CHECKS, 0);
    ck_assert_uint_eq(m.n, 0);
    free(text);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The C API                                                                 */
/* ------------------------------------------------------------------------ */

static int failures_seen;
static uint64_t last_failed_tag;

static void on_failure(void *opaque, uint64_t tag, const char *reason)
{
    (void)opaque;
    ck_assert_ptr_nonnull(reason);
    failures_seen++;
    last_failed_tag = tag;
}

START_TEST(api_publish_and_flush)
{
    char err[512];
    publisher *p = publish_new(kafka.bootstraps, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    publish_on_failure(p, on_failure, NULL);
    for (int i = 0; i < 20; i++) {
        char *l = check_line(100 + i, i % 2 ? "acme" : "globex", i);
        ck_assert_int_eq(
            publish_line(p, EVENT_CHECK_RESULT, l, strlen(l), (uint64_t)i, err, sizeof err),
            PUBLISH_OK);
        free(l);
    }
    const char *bad = "{\"schema\":\"herald.check_result.v1\"}";
    ck_assert_int_eq(publish_line(p, EVENT_CHECK_RESULT, bad, strlen(bad), 99, err, sizeof err),
                     PUBLISH_INVALID);
    ck_assert_str_eq(err, "event_id: missing");
    publish_counts c;
    ck_assert_int_eq(publish_flush(p, 10000, &c), 0);
    ck_assert_uint_eq(c.produced, 20);
    ck_assert_uint_eq(c.acked, 20);
    ck_assert_uint_eq(c.failed, 0);
    ck_assert_int_eq(failures_seen, 0);
    publish_destroy(p);
    publish_destroy(NULL);

    msgs m = consume(TOPIC_CHECKS, 20);
    ck_assert_uint_eq(m.n, 20);
    ck_assert_int_eq(count_event(&m, EVENT_CHECK_RESULT, uuid_of(119)), 1);
    msgs_free(&m);
    ck_assert_str_eq(publish_topic(EVENT_COLLECTION), TOPIC_COLLECTIONS);
}
END_TEST

START_TEST(api_unacknowledged_are_counted)
{
    char err[512];
    publisher *p = publish_new(kafka.bootstraps, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    publish_on_failure(p, on_failure, NULL);
    rd_kafka_mock_broker_set_down(kafka.mc, 1);
    char *l = check_line(200, "acme", 1);
    ck_assert_int_eq(publish_line(p, EVENT_CHECK_RESULT, l, strlen(l), 7, err, sizeof err),
                     PUBLISH_OK);
    free(l);
    publish_counts c;
    ck_assert_int_eq(publish_flush(p, 1500, &c), -1);
    ck_assert_uint_eq(c.produced, 1);
    ck_assert_uint_eq(c.acked, 0);
    ck_assert_uint_eq(c.failed, 1);
    ck_assert_int_eq(failures_seen, 1);
    ck_assert_uint_eq(last_failed_tag, 7);
    publish_destroy(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("producers");
    TCase *tc = tcase_create("producers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, checks_good_and_bad_lines);
    tcase_add_test(tc, checks_all_good_examples);
    tcase_add_test(tc, checks_from_stdin_crlf_and_oversized);
    tcase_add_test(tc, checks_usage_errors);
    tcase_add_test(tc, checks_not_acknowledged);
    tcase_add_test(tc, validate_needs_no_broker);
    tcase_add_test(tc, collect_publishes_to_collections_topic);
    tcase_add_test(tc, api_publish_and_flush);
    tcase_add_test(tc, api_unacknowledged_are_counted);
    suite_add_tcase(s, tc);
    return testlib_run_suite(s);
}
