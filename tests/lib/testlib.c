#include "testlib.h"

#include "common/db.h"
#include "common/kafka.h"

#include <poll.h>
#include <signal.h>
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
    char err[512];
    PGconn *c = db_connect(admin, err, sizeof err);
    if (!c)
        die(err, NULL);
    char db[128], sql[256];
    snprintf(db, sizeof db, "herald_t_%s_%ld", suite, (long)getpid());
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", db);
    db_exec(c, sql, err, sizeof err);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    if (db_exec(c, sql, err, sizeof err))
        die("create database", err);
    PQconninfoOption *opts = PQconninfoParse(admin, NULL);
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

void testlib_fake_slack_start(const char *state_file, const char *const *extra_args,
                              testlib_fake_slack *out)
{
    memset(out, 0, sizeof *out);
    char prog[1024];
    testlib_program("tests/support", "fake-slack", prog, sizeof prog);
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
