#include "testlib.h"

#include "common/db.h"
#include "common/kafka.h"
#include "common/util.h"

#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Environment problems are not test failures of the code: say so and stop. */
static void die(const char *what, const char *detail)
{
    fprintf(stderr, "testlib: %s%s%s\n", what, detail && *detail ? ": " : "", detail ? detail : "");
    exit(1);
}

void testlib_db_create(const char *suite, char *url, size_t url_size)
{
    const char *admin = getenv("HERALD_TEST_DATABASE_URL");
    if (!admin || !*admin)
        die("HERALD_TEST_DATABASE_URL is not set: run through tests/run.sh or start "
            "tests/support/pg.sh and export it",
            NULL);
    char db[128];
    snprintf(db, sizeof db, "herald_t_%s_%ld", suite, (long)getpid());
    testlib_db_create_at(admin, db, url, url_size);
}

void testlib_db_create_at(const char *admin_url, const char *db, char *url, size_t url_size)
{
    char err[512];
    PGconn *c = db_connect(admin_url, err, sizeof err);
    if (!c)
        die(err, NULL);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", db);
    db_exec(c, sql, err, sizeof err);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    if (db_exec(c, sql, err, sizeof err))
        die("create database", err);
    PQconninfoOption *opts = PQconninfoParse(admin_url, NULL);
    const char *host = "127.0.0.1", *port = "5432", *user = "herald";
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val)
            continue;
        if (!strcmp(o->keyword, "host"))
            host = o->val;
        else if (!strcmp(o->keyword, "port"))
            port = o->val;
        else if (!strcmp(o->keyword, "user"))
            user = o->val;
    }
    snprintf(url, url_size, "postgresql://%s@%s:%s/%s", user, host, port, db);
    PQconninfoFree(opts);
    PQfinish(c);
    PGconn *n = db_connect(url, err, sizeof err);
    if (!n)
        die(err, NULL);
    if (db_migrate(n, NULL, err, sizeof err))
        die("migrate", err);
    PQfinish(n);
}

PGconn *testlib_db_connect(const char *url)
{
    char err[512];
    PGconn *c = db_connect(url, err, sizeof err);
    if (!c)
        die(err, NULL);
    return c;
}

void testlib_db_truncate(PGconn *conn, const char *tables)
{
    char sql[1024], err[512];
    snprintf(sql, sizeof sql, "TRUNCATE %s RESTART IDENTITY CASCADE", tables);
    if (db_exec(conn, sql, err, sizeof err))
        die(sql, err);
    /* The rollups' change log (migration 012) has no foreign key to cascade
     * along: its rows would be folded into the next test's targets, whose
     * ids start again from 1. */
    if (strstr(tables, "deliveries") || strstr(tables, "targets")) {
        static const char log[] = "DO $$ BEGIN IF to_regclass('delivery_stats_delta') IS NOT NULL "
                                  "THEN TRUNCATE delivery_stats_delta; END IF; END $$";
        if (db_exec(conn, log, err, sizeof err))
            die(log, err);
    }
}

long testlib_db_long(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1)
        die(sql, PQresultErrorMessage(r));
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

void testlib_db_exec(PGconn *conn, const char *sql)
{
    char err[512];
    if (db_exec(conn, sql, err, sizeof err))
        ck_abort_msg("%s: %s", sql, err);
}

char *testlib_sealed_token_hex(const unsigned char key[CRYPTO_KEY_LEN], const char *token)
{
    unsigned char *sealed = NULL;
    size_t len = 0;
    if (crypto_seal(key, token, strlen(token), &sealed, &len))
        return NULL;
    char *hex = xmalloc(len * 2 + 3);
    strcpy(hex, "\\x");
    for (size_t i = 0; i < len; i++)
        sprintf(hex + 2 + i * 2, "%02x", sealed[i]);
    free(sealed);
    return hex;
}

char *testlib_db_open_sealed(PGconn *conn, const unsigned char key[CRYPTO_KEY_LEN], const char *sql)
{
    /* "SELECT <column> FROM workspaces ...": the value is bound to that column
     * and the row's team id, which the same query with team_id reads. */
    const char *col = sql + strlen("SELECT ");
    size_t col_len = strcspn(col, " ");
    char *column = testlib_fmt("workspaces.%.*s", (int)col_len, col);
    char *team_sql = testlib_fmt("SELECT team_id%s", col + col_len);
    PGresult *tr = PQexec(conn, team_sql);
    if (PQresultStatus(tr) != PGRES_TUPLES_OK)
        die(PQresultErrorMessage(tr), team_sql);
    char *team = xstrdup(PQntuples(tr) == 1 ? PQgetvalue(tr, 0, 0) : "");
    PQclear(tr);
    PGresult *r = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 1); /* binary: raw bytes */
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        die(PQresultErrorMessage(r), sql);
    char *plain = NULL;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        char err[256];
        crypto_keyring ring;
        crypto_keyring_set(&ring, key, NULL);
        if (crypto_open_bound(&ring, column, team, (const unsigned char *)PQgetvalue(r, 0, 0),
                              (size_t)PQgetlength(r, 0, 0), &plain, NULL, err, sizeof err))
            plain = NULL;
        crypto_wipe(&ring, sizeof ring);
    }
    PQclear(r);
    free(column);
    free(team_sql);
    free(team);
    return plain;
}

void testlib_keyring(crypto_keyring *ring, const char *current_b64, const char *previous_b64)
{
    unsigned char cur[CRYPTO_KEY_LEN], prev[CRYPTO_KEY_LEN];
    char err[256];
    if (crypto_key_from_base64(current_b64, cur, err, sizeof err) ||
        (previous_b64 && crypto_key_from_base64(previous_b64, prev, err, sizeof err)))
        ck_abort_msg("testlib_keyring: %s", err);
    crypto_keyring_set(ring, cur, previous_b64 ? prev : NULL);
}

void testlib_kafka_start(testlib_kafka *k, int brokers, int partitions)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!k->rk)
        die(err, NULL);
    k->mc = rd_kafka_mock_cluster_new(k->rk, brokers);
    if (!k->mc)
        die("mock cluster creation failed", NULL);
    const char *topics[] = {TOPIC_CHECKS, TOPIC_COLLECTIONS, TOPIC_DELIVERIES, TOPIC_DEADLETTER};
    for (size_t i = 0; i < 4; i++)
        rd_kafka_mock_topic_create(k->mc, topics[i], partitions, brokers < 3 ? brokers : 3);
    k->bootstraps = rd_kafka_mock_cluster_bootstraps(k->mc);
}

void testlib_kafka_destroy(testlib_kafka *k)
{
    if (k->mc)
        rd_kafka_mock_cluster_destroy(k->mc);
    if (k->rk)
        rd_kafka_destroy(k->rk);
    memset(k, 0, sizeof *k);
}

void testlib_program(const char *subdir, const char *name, char *out, size_t out_size)
{
    const char *b = getenv("HERALD_BUILD_DIR");
    snprintf(out, out_size, "%s/%s/%s", b && *b ? b : ".", subdir, name);
}

char *testlib_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void testlib_add_test(TCase *tc, const TTest *t, const char *only_env)
{
    const char *only = getenv(only_env);
    if (!only || strstr(t->name, only))
        tcase_add_test(tc, t);
}

/* ==== HTTP ================================================================== */

/* Past this a body is not a control answer nor a test page: stop reading. */
#define HTTP_BODY_MAX ((size_t)1 << 30)

size_t testlib_http_collect(char *data, size_t size, size_t nmemb, void *buf)
{
    testlib_http_buf *b = buf;
    size_t n = size * nmemb;
    if (n > HTTP_BODY_MAX - b->n)
        return 0; /* libcurl: CURLE_WRITE_ERROR */
    b->p = xrealloc(b->p, b->n + n + 1);
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

char *testlib_http_body(const char *url, const char *post_body, long *status, char *err,
                        size_t err_size)
{
    CURL *c = curl_easy_init();
    if (!c) {
        if (err)
            snprintf(err, err_size, "curl_easy_init failed");
        return NULL;
    }
    testlib_http_buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, testlib_http_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (post_body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        if (err)
            snprintf(err, err_size, "%s: %s", url, curl_easy_strerror(rc));
        curl_easy_cleanup(c);
        free(b.p);
        return NULL;
    }
    if (status)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    return b.p ? b.p : xstrdup("");
}

/* ==== fake-slack ============================================================ */

void testlib_fake_slack_start(const char *state_file, const char *const *extra_args,
                              testlib_fake_slack *out)
{
    char prog[1024];
    testlib_program("tests/support", "fake-slack", prog, sizeof prog);
    testlib_fake_slack_start_program(prog, state_file, extra_args, out);
}

void testlib_fake_slack_start_json(const char *state_json, const char *const *extra_args,
                                   testlib_fake_slack *out)
{
    char path[] = "/tmp/herald-fake-slack-state-XXXXXX";
    int fd = mkstemp(path);
    size_t len = strlen(state_json);
    if (fd < 0 || write(fd, state_json, len) != (ssize_t)len)
        die("fake-slack: cannot write the state file", path);
    close(fd);
    testlib_fake_slack_start(path, extra_args, out);
    unlink(path);
}

void testlib_fake_slack_start_program(const char *prog, const char *state_file,
                                      const char *const *extra_args, testlib_fake_slack *out)
{
    memset(out, 0, sizeof *out);
    if (access(prog, X_OK) != 0)
        die("fake-slack is not built", prog);
    const char *argv[64];
    size_t argc = 0;
    argv[argc++] = "fake-slack";
    argv[argc++] = "--port";
    argv[argc++] = "0";
    if (state_file) {
        argv[argc++] = "--state";
        argv[argc++] = state_file;
    }
    for (size_t i = 0; extra_args && extra_args[i]; i++) {
        if (argc == sizeof argv / sizeof *argv - 1)
            die("fake-slack: too many arguments", NULL);
        argv[argc++] = extra_args[i];
    }
    argv[argc] = NULL;

    int p[2];
    if (pipe(p) != 0)
        die("fake-slack: pipe failed", NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fake-slack: fork failed", NULL);
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        execv(prog, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    /* Its first line is the base URL; read byte by byte so nothing after it is
     * taken from the pipe, and give up when it exits or stays silent. */
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    size_t n = 0;
    for (;;) {
        if (n == sizeof out->base_url - 1 || poll(&pfd, 1, 10000) <= 0 ||
            read(p[0], out->base_url + n, 1) != 1) {
            kill(pid, SIGTERM);
            waitpid(pid, NULL, 0);
            die("fake-slack did not print its URL", prog);
        }
        if (out->base_url[n] == '\n')
            break;
        n++;
    }
    out->base_url[n] = '\0';
    close(p[0]);
    out->pid = pid;
    snprintf(out->api_url, sizeof out->api_url, "%s/api", out->base_url);
}

void testlib_fake_slack_stop(testlib_fake_slack *fs)
{
    if (fs->pid > 0) {
        kill(fs->pid, SIGTERM);
        waitpid(fs->pid, NULL, 0);
    }
    fs->pid = 0;
}

cJSON *testlib_fake_slack_request(const testlib_fake_slack *fs, const char *path, const char *body,
                                  char *err, size_t err_size)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", fs->base_url, path);
    char *text = testlib_http_body(url, body, NULL, err, err_size);
    if (!text)
        return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j && err)
        snprintf(err, err_size, "%s%s: the answer is not JSON", fs->base_url, path);
    return j;
}

cJSON *testlib_fake_slack_control(const testlib_fake_slack *fs, const char *path, const char *body)
{
    char err[1024];
    cJSON *j = testlib_fake_slack_request(fs, path, body, err, sizeof err);
    ck_assert_msg(j != NULL, "fake-slack control %s: %s", path, err);
    return j;
}

/* ==== workers on a thread =================================================== */

static void *router_thread_main(void *arg)
{
    testlib_router_thread *t = arg;
    t->rc = router_run(t->r);
    return NULL;
}

int testlib_router_thread_start(testlib_router_thread *t)
{
    t->rc = -1;
    return pthread_create(&t->th, NULL, router_thread_main, t);
}

int testlib_router_thread_stop(testlib_router_thread *t)
{
    router_stop(t->r);
    pthread_join(t->th, NULL);
    return t->rc;
}

static void *sender_thread_main(void *arg)
{
    testlib_sender_thread *t = arg;
    t->rc = sender_run(t->s);
    return NULL;
}

int testlib_sender_thread_start(testlib_sender_thread *t)
{
    t->rc = -1;
    return pthread_create(&t->th, NULL, sender_thread_main, t);
}

int testlib_sender_thread_stop(testlib_sender_thread *t)
{
    sender_stop(t->s);
    pthread_join(t->th, NULL);
    return t->rc;
}

int testlib_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int testlib_run_tests(const char *suite, const char *tcase, const TTest *const *tests, size_t n)
{
    Suite *s = suite_create(suite);
    TCase *tc = tcase_create(tcase);
    for (size_t i = 0; i < n; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    return testlib_run_suite(s);
}
