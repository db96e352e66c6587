#ifndef HERALD_TESTLIB_H
#define HERALD_TESTLIB_H

/*
 * Shared helpers for the Check suites.
 *
 * PostgreSQL: integration suites need HERALD_TEST_DATABASE_URL (set by
 * tests/run.sh, which starts a private server) pointing at a database the
 * test user may CREATE DATABASE from. testlib_db_create() makes a fresh,
 * migrated database for one suite so suites never see each other's rows.
 */
#include "common/crypto.h"
#include "workers/router/router.h"
#include "workers/slack/sender.h"

#include <cJSON.h>
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

/* Creates database herald_t_<suite>_<pid>, applies the migrations and writes
 * its connection URI into url (size url_size). Aborts the test run with a
 * clear message when HERALD_TEST_DATABASE_URL is missing or unusable. */
void testlib_db_create(const char *suite, char *url, size_t url_size);

/* Creates database db on the server admin_url points at (dropping one of
 * that name first), applies the migrations and writes its URI (admin_url's
 * host, port and user) into url. Aborts the run when the server refuses:
 * what testlib_db_create does after naming the database, for programs that
 * name their own (the benches). */
void testlib_db_create_at(const char *admin_url, const char *db, char *url, size_t url_size);

/* Connects to url or aborts. */
PGconn *testlib_db_connect(const char *url);

/* Empties tables (a comma-separated list), restarting their id sequences
 * (TRUNCATE ... RESTART IDENTITY CASCADE), or aborts. */
void testlib_db_truncate(PGconn *conn, const char *tables);

/* Runs SQL returning one value; returns it as a long (aborts on error). */
long testlib_db_long(PGconn *conn, const char *sql);

/* Runs SQL returning no rows; inside a test: a failure fails the running
 * test with the statement and the server's error (ck_abort_msg), it does not
 * abort the run. */
void testlib_db_exec(PGconn *conn, const char *sql);

/* token sealed with key (crypto_seal) as PostgreSQL's bytea input (\x and
 * the hex digits), what workspaces.token_enc holds; malloc'd, NULL when
 * sealing failed. */
char *testlib_sealed_token_hex(const unsigned char key[CRYPTO_KEY_LEN], const char *token);

/* Runs SQL ("SELECT token_enc|refresh_token_enc FROM workspaces ...", one
 * row) and opens the value sealed with key (either form, bound to that
 * column and the row's team id): the plaintext (malloc'd), or NULL when the
 * value is NULL or does not open. Aborts on a database error. */
char *testlib_db_open_sealed(PGconn *conn, const unsigned char key[CRYPTO_KEY_LEN],
                             const char *sql);

/* A keyring of base64 keys (previous_b64 may be NULL); aborts the test on a bad key. */
void testlib_keyring(crypto_keyring *ring, const char *current_b64, const char *previous_b64);

/* An in-process mock Kafka cluster with the Herald topics (partitions each).
 * *bootstraps points into the cluster; destroy with testlib_kafka_destroy. */
typedef struct testlib_kafka {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    const char *bootstraps;
} testlib_kafka;
void testlib_kafka_start(testlib_kafka *k, int brokers, int partitions);
void testlib_kafka_destroy(testlib_kafka *k);

/* Path of a built program ($HERALD_BUILD_DIR/<subdir>/<name>). */
void testlib_program(const char *subdir, const char *name, char *out, size_t out_size);

/* printf into a malloc'd string (aborts when out of memory, as xmalloc). */
char *testlib_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Adds t to tc unless the environment variable only_env (e.g. "ROUTER_TEST")
 * is set and t's name does not contain its value: running one test of a
 * long suite while debugging. */
void testlib_add_test(TCase *tc, const TTest *t, const char *only_env);

/* Runs every test of s (and frees it) as each suite's main() does; returns
 * EXIT_SUCCESS when none failed, else EXIT_FAILURE. */
int testlib_run_suite(Suite *s);

/* A suite with one test case holding the n tests, in order, run as above. */
int testlib_run_tests(const char *suite, const char *tcase, const TTest *const *tests, size_t n);

/* The whole main() of a suite made of one plain test case. */
#define TESTLIB_MAIN(suite, tcase, ...)                                                            \
    int main(void)                                                                                 \
    {                                                                                              \
        const TTest *const tests_[] = {__VA_ARGS__};                                               \
        return testlib_run_tests(suite, tcase, tests_, sizeof tests_ / sizeof tests_[0]);          \
    }

/* ==== HTTP (libcurl; the caller has run curl_global_init) ================== */

/* A response body growing as libcurl hands it over: CURLOPT_WRITEFUNCTION
 * testlib_http_collect, CURLOPT_WRITEDATA a zeroed testlib_http_buf. p is
 * NUL-terminated, NULL until a byte arrives; free(p) after. A body past
 * 1 GiB fails the transfer (CURLE_WRITE_ERROR). */
typedef struct testlib_http_buf {
    char *p;
    size_t n;
} testlib_http_buf;
size_t testlib_http_collect(char *data, size_t size, size_t nmemb, void *buf);

/* GET url, or POST post_body when not NULL (CURLOPT_POSTFIELDS, with
 * libcurl's default form Content-Type); returns the response body (malloc'd,
 * "" when empty) or NULL when the request failed (no answer: refused, timed
 * out, ...), with libcurl's reason in err unless NULL. *status (unless NULL)
 * gets the HTTP status. No assertions: usable outside a test. */
char *testlib_http_body(const char *url, const char *post_body, long *status, char *err,
                        size_t err_size);

/* A running tests/support/fake-slack (a child process). */
typedef struct testlib_fake_slack {
    pid_t pid;          /* 0 when not running */
    char base_url[128]; /* http://127.0.0.1:PORT: its /_fake/ control endpoints */
    char api_url[160];  /* base_url + "/api": what HERALD_SLACK_API_URL points at */
} testlib_fake_slack;

/*
 * Starts the built fake-slack on a free loopback port (--port 0), with
 * --state state_file unless NULL, then the NULL-terminated extra_args (may be
 * NULL), e.g. {"--rate", "1", NULL}; waits (10 s at most) for the base URL it
 * prints as its first line and fills *out. Its stderr is ours. Aborts the run
 * when it cannot be started: an environment problem, not a test failure.
 */
void testlib_fake_slack_start(const char *state_file, const char *const *extra_args,
                              testlib_fake_slack *out);

/* The same with the state given as JSON text: written to a temporary file
 * that is removed once fake-slack has read it (before it prints its URL). */
void testlib_fake_slack_start_json(const char *state_json, const char *const *extra_args,
                                   testlib_fake_slack *out);

/* The same as testlib_fake_slack_start with another fake-slack program (its
 * path), e.g. the one a bench was told about. */
void testlib_fake_slack_start_program(const char *program, const char *state_file,
                                      const char *const *extra_args, testlib_fake_slack *out);

/* SIGTERM and wait for it; does nothing when it is not running. */
void testlib_fake_slack_stop(testlib_fake_slack *fs);

/*
 * GET (body NULL) or POST body to fs's base URL + path, its /_fake/ control
 * endpoints (e.g. "/_fake/reset", "/_fake/messages?channel=C1"), and parses
 * the JSON answer. Returns it (the caller cJSON_Deletes it), or NULL with the
 * reason in err (unless NULL) when the request failed or the answer is not
 * JSON. No assertions: for programs outside Check (the benches).
 */
cJSON *testlib_fake_slack_request(const testlib_fake_slack *fs, const char *path, const char *body,
                                  char *err, size_t err_size);

/* testlib_fake_slack_request inside a test: a failed request or an answer
 * that is not JSON fails the running test; never returns NULL. */
cJSON *testlib_fake_slack_control(const testlib_fake_slack *fs, const char *path, const char *body);

/* ==== workers on a thread of this process =================================== */

/* A router (workers/router/router.h) made by the caller with router_new, run by
 * router_run on a thread of its own, as herald-router's main thread runs it;
 * the caller may read its stats meanwhile and router_destroys it after
 * testlib_router_thread_stop. */
typedef struct testlib_router_thread {
    router *r;
    pthread_t th;
    int rc; /* router_run's result once stopped */
} testlib_router_thread;

/* Starts router_run(t->r) on a new thread; returns pthread_create's result. */
int testlib_router_thread_start(testlib_router_thread *t);

/* router_stop, then waits for the thread; returns router_run's result. */
int testlib_router_thread_stop(testlib_router_thread *t);

/* The same for a sender (workers/slack/sender.h) made with sender_new. */
typedef struct testlib_sender_thread {
    sender *s;
    pthread_t th;
    int rc; /* sender_run's result once stopped */
} testlib_sender_thread;
int testlib_sender_thread_start(testlib_sender_thread *t);
int testlib_sender_thread_stop(testlib_sender_thread *t);

#endif
