/*
 * The worker binaries (herald-router, herald-slack) as separate processes
 * under faults: regression tests for commit c4cd979.
 *
 * 1. A router that paused consumption because PostgreSQL went away, then lost
 *    its partitions in a rebalance and got them back, must read them again
 *    (librdkafka keeps a partition's pause flag across unassign/assign: the
 *    partitions stayed paused for good and their events were never routed).
 * 2. herald-slack and herald-router must stop on SIGTERM, exit 0, in bounded
 *    time, when Kafka has vanished while they held stored offsets not yet
 *    committed (herald-slack blocked forever in a synchronous commit).
 *
 * The suite starts its own PostgreSQL (tests/support/pg.sh) so it can stop
 * and restart it; it does not need HERALD_TEST_DATABASE_URL. Each test has
 * its own mock Kafka cluster, in the test process, served over loopback TCP
 * to the workers. HERALD_TEST_PG_PORT_BASE=P makes the server take the first
 * free port of P..P+9 (for machines where port ranges are shared out);
 * otherwise the kernel picks one.
 *
 * Every worker is killed when the test process dies (PR_SET_PDEATHSIG), and
 * killed by the teardown and at exit otherwise; the server is stopped and
 * the temporary directory removed at exit, pass or fail.
 */
#include "testlib.h"

#include "common/db.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* 32 bytes, base64: only has to be a well-formed key (no token is opened). */
#define SECRET_KEY "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

/* Set by main before the suite runs (inherited by Check's forked tests). */
static char tmp_dir[64];    /* mkdtemp: logs here, the server's data in pg/ */
static char pg_dir[128];    /* tests/support/pg.sh DIR */
static int pg_port;         /* its port */
static char dburl[256];     /* postgresql://herald@127.0.0.1:PORT/herald */
static char closed_url[64]; /* a loopback URL nothing listens on */

static testlib_kafka K;

/* ==== processes ============================================================================ */

enum { MAX_PROCS = 16 };
static pid_t procs[MAX_PROCS];

static void forget_proc(pid_t pid)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i] == pid)
            procs[i] = 0;
}

/* SIGKILLs and reaps every worker still running (teardown, exit, failures). */
static void kill_all(void)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        if (procs[i] > 0) {
            kill(procs[i], SIGKILL);
            waitpid(procs[i], NULL, 0);
        }
        procs[i] = 0;
    }
}

/*
 * Starts workers/<name> with args (NULL-terminated), the environment plus
 * env's NAME=VALUE overrides, and stdout and stderr appended to log. The
 * child dies with the test process.
 */
static pid_t spawn(const char *name, const char *const *args, const char *const *env,
                   const char *log)
{
    char prog[512];
    testlib_program("workers", name, prog, sizeof prog);
    ck_assert_msg(access(prog, X_OK) == 0, "%s: not built (HERALD_BUILD_DIR?)", prog);

    /* Everything the child needs is built before fork (the test process runs
     * librdkafka's threads; the child only calls async-signal-safe code). */
    const char *argv[32] = {prog};
    int na = 1;
    for (int i = 0; args[i] && na < 31; i++)
        argv[na++] = args[i];
    argv[na] = NULL;
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    size_t nover = 0;
    while (env[nover])
        nover++;
    const char **envp = xcalloc(nenv + nover + 1, sizeof *envp);
    size_t ne = 0;
    for (size_t i = 0; i < nenv; i++) {
        bool overridden = false;
        for (size_t j = 0; j < nover && !overridden; j++) {
            size_t klen = (size_t)(strchr(env[j], '=') - env[j]);
            overridden = !strncmp(environ[i], env[j], klen + 1);
        }
        if (!overridden)
            envp[ne++] = environ[i];
    }
    for (size_t j = 0; j < nover; j++)
        envp[ne++] = env[j];
    envp[ne] = NULL;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ck_assert_msg(fd >= 0, "%s: %s", log, strerror(errno));

    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execve(prog, (char *const *)argv, (char *const *)envp);
        _exit(127);
    }
    close(fd);
    free(envp);
    for (int i = 0; i < MAX_PROCS; i++) {
        if (procs[i] == 0) {
            procs[i] = pid;
            break;
        }
    }
    return pid;
}

/* Waits up to timeout_ms for pid to exit; true with *status when it did. */
static bool wait_exit(pid_t pid, int timeout_ms, int *status)
{
    int64_t end = util_now_mono_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) {
            forget_proc(pid);
            return true;
        }
        if (util_now_mono_ms() >= end)
            return false;
        usleep(50 * 1000);
    }
}

/* ==== logs ================================================================================= */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return xstrdup("");
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static int log_count(const char *path, const char *needle)
{
    char *text = read_file(path);
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(text);
    return n;
}

/* The end of a worker's log on stderr, to explain a failure. */
static void dump_log(const char *what, const char *path)
{
    char *text = read_file(path);
    size_t len = strlen(text);
    const char *from = len > 6000 ? text + len - 6000 : text;
    fprintf(stderr, "---- %s (%s), last %zu bytes:\n%s---- end of %s\n", what, path, strlen(from),
            from, what);
    free(text);
}

/* Waits up to timeout_ms until log holds needle at least `times` times. */
static bool wait_log(const char *path, const char *needle, int times, int timeout_ms)
{
    int64_t end = util_now_mono_ms() + timeout_ms;
    while (log_count(path, needle) < times) {
        if (util_now_mono_ms() >= end)
            return false;
        usleep(100 * 1000);
    }
    return true;
}

static void log_path(char *out, size_t out_size, const char *name)
{
    snprintf(out, out_size, "%s/%s-%ld.log", tmp_dir, name, (long)getpid());
    unlink(out);
}

/* ==== PostgreSQL =========================================================================== */

static int pg_sh(const char *cmd)
{
    const char *src = getenv("HERALD_SOURCE_DIR");
    char line[1024];
    snprintf(line, sizeof line, "bash '%s/tests/support/pg.sh' %s '%s' %d >/dev/null",
             src && *src ? src : ".", cmd, pg_dir, pg_port);
    int rc = system(line);
    if (rc != 0)
        fprintf(stderr, "test_worker_faults: %s: exit status %d\n", line, rc);
    return rc;
}

static bool pg_up(void)
{
    char info[320];
    snprintf(info, sizeof info, "%s?connect_timeout=2", dburl);
    return PQping(info) == PQPING_OK;
}

static void sql(const char *q)
{
    PGconn *c = testlib_db_connect(dburl);
    char err[512];
    int rc = db_exec(c, q, err, sizeof err);
    PQfinish(c);
    ck_assert_msg(rc == 0, "%s: %s", q, err);
}

/* A single value, or -1 when the server cannot be reached (it may be down). */
static long sql_long(const char *q)
{
    char info[320];
    snprintf(info, sizeof info, "%s?connect_timeout=2", dburl);
    PGconn *c = PQconnectdb(info);
    long v = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, q);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    PQfinish(c);
    return v;
}

/* Waits up to timeout_ms until q's value is at least want; returns the last value. */
static long wait_value(const char *q, long want, int timeout_ms)
{
    int64_t end = util_now_mono_ms() + timeout_ms;
    long v;
    while ((v = sql_long(q)) < want && util_now_mono_ms() < end)
        usleep(200 * 1000);
    return v;
}

/* ==== Kafka ================================================================================ */

static rd_kafka_t *producer(void)
{
    char err[512];
    rd_kafka_t *p = kafka_producer_new(K.bootstraps, NULL, NULL, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    return p;
}

/* Produces value to topic's partition and waits for the acknowledgement. */
static void produce(rd_kafka_t *p, const char *topic, int partition, const char *key,
                    const char *value)
{
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, strlen(value)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    ck_assert_msg(!err, "produce: %s", rd_kafka_err2str(err));
    ck_assert_int_eq(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void check_event(char *out, size_t out_size, const char *tenant, const char *eid)
{
    snprintf(out, out_size,
             "{\"schema\":\"herald.check_result.v1\",\"event_id\":\"%s\",\"tenant_id\":\"%s\","
             "\"run_id\":\"0b8e8f4e-2f7e-4a51-9a0b-3c1d2e4f5a6b\",\"trigger\":\"scheduled\","
             "\"check\":{\"type\":\"weak_mfa\",\"name\":\"Weak MFA Configured\","
             "\"severity\":\"high\"},\"evaluated_at\":\"2026-11-28T09:00:00Z\","
             "\"failing_count\":3,\"total_count\":480,\"failing_users\":[]}",
             eid, tenant);
}

/* How many records the dead-letter topic holds, read from the beginning for
 * up to timeout_ms or until want were seen. */
static size_t deadletters(size_t want, int timeout_ms)
{
    char err[512];
    rd_kafka_conf_t *conf = kafka_conf_new(K.bootstraps, err, sizeof err);
    ck_assert_msg(conf != NULL, "%s", err);
    char gid[64];
    snprintf(gid, sizeof gid, "dlq-reader-%ld-%lld", (long)getpid(), (long long)util_now_mono_ms());
    ck_assert_int_eq(kafka_conf_set(conf, "group.id", gid, err, sizeof err), 0);
    ck_assert_int_eq(kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err), 0);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    for (int p = 0; p < 4; p++)
        rd_kafka_topic_partition_list_add(l, TOPIC_DEADLETTER, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    ck_assert_int_eq(rd_kafka_assign(c, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    size_t n = 0;
    int64_t end = util_now_mono_ms() + timeout_ms;
    while (n < want && util_now_mono_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m && !m->err)
            n++;
        if (m)
            rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

/* ==== fixture ============================================================================== */

static void setup(void)
{
    /* A previous test that failed mid-outage may have left the server down. */
    if (!pg_up())
        ck_assert_int_eq(pg_sh("start"), 0);
    sql("TRUNCATE delivery_stats_delta, deliveries, events, target_checks, targets, workspaces "
        "CASCADE");
    testlib_kafka_start(&K, 1, 4);
}

static void teardown(void)
{
    kill_all();
    testlib_kafka_destroy(&K);
}

/* Lines "partitions assigned: N" with N > 0 in a router's log. */
static int router_assignments(const char *path)
{
    static const char tag[] = "partitions assigned: ";
    char *text = read_file(path);
    int n = 0;
    for (const char *p = text; (p = strstr(p, tag)) != NULL;) {
        p += strlen(tag);
        n += strtol(p, NULL, 10) > 0;
    }
    free(text);
    return n;
}

static bool wait_router_assignments(const char *path, int times, int timeout_ms)
{
    int64_t end = util_now_mono_ms() + timeout_ms;
    while (router_assignments(path) < times) {
        if (util_now_mono_ms() >= end)
            return false;
        usleep(100 * 1000);
    }
    return true;
}

/* ==== 1. router: partitions handed back while paused ======================================= */

/*
 * Router A owns every partition. PostgreSQL stops; 9 check results arrive,
 * spread over the partitions of herald.checks.v1; A cannot store them and
 * pauses consumption. Router B joins the group and takes partitions from A:
 * A hands back what it held from them and, holding nothing any more, resumes
 * the partitions it kept. B is stopped while the database is still down (so
 * B routes nothing) and A gets those partitions back. PostgreSQL returns: A
 * must route all 9. Before c4cd979 a partition A got back kept librdkafka's
 * pause flag from before the rebalance and was never read again.
 *
 * Run with both rebalance protocols:
 * - _i == 0: the default cooperative-sticky. With A holding both topics' 8
 *   partitions, librdkafka's sticky assignor moves the first 4 in topic order,
 *   herald.checks.v1 [0..3], to B, so every event sits on a partition that
 *   leaves A and comes back.
 * - _i == 1: eager (HERALD_KAFKA_PARTITION_ASSIGNMENT_STRATEGY=range): every
 *   rebalance revokes everything, whichever partitions the assignor picks.
 */
START_TEST(router_reads_partitions_reassigned_while_paused)
{
    bool eager = _i == 1;
    sql("INSERT INTO workspaces (team_id, team_name, token_enc) VALUES ('T1', 'One', '\\x00')");
    sql("INSERT INTO targets (tenant_id, team_id, name, destination, destination_kind,"
        " use_failed_check) VALUES ('acme', 'T1', 'alerts', 'C0001', 'channel', true)");
    char log_a[256], log_b[256], brokers[256], db_env[320];
    log_path(log_a, sizeof log_a, eager ? "router-a-eager" : "router-a");
    log_path(log_b, sizeof log_b, eager ? "router-b-eager" : "router-b");
    snprintf(brokers, sizeof brokers, "HERALD_KAFKA_BROKERS=%s", K.bootstraps);
    snprintf(db_env, sizeof db_env, "HERALD_DATABASE_URL=%s", dburl);
    /* Short group timeouts: a rebalance takes seconds, not 45 s. */
    const char *env[] = {brokers,
                         "HERALD_KAFKA_SESSION_TIMEOUT_MS=6000",
                         "HERALD_KAFKA_HEARTBEAT_INTERVAL_MS=1000",
                         db_env,
                         "HERALD_LOG_LEVEL=info",
                         eager ? "HERALD_KAFKA_PARTITION_ASSIGNMENT_STRATEGY=range" : NULL,
                         NULL};
    const char *args[] = {"--group",
                          eager ? "g-paused-eager" : "g-paused",
                          "--batch-size",
                          "20",
                          "--summary-seconds",
                          "0",
                          NULL};

    pid_t a = spawn("herald-router", args, env, log_a);
    if (!wait_router_assignments(log_a, 1, 30000)) {
        dump_log("router A", log_a);
        ck_abort_msg("router A was not assigned partitions within 30 s");
    }
    /* A routes while the database is up. */
    rd_kafka_t *p = producer();
    char eid[37], json[1024];
    util_uuid4(eid);
    check_event(json, sizeof json, "acme", eid);
    produce(p, TOPIC_CHECKS, 0, "acme", json);
    if (wait_value("SELECT count(*) FROM deliveries", 1, 30000) != 1) {
        dump_log("router A", log_a);
        ck_abort_msg("router A did not route the first event within 30 s");
    }

    /* The database goes away; 9 check results on every partition. */
    ck_assert_int_eq(pg_sh("stop"), 0);
    for (int i = 0; i < 9; i++) {
        util_uuid4(eid);
        check_event(json, sizeof json, "acme", eid);
        produce(p, TOPIC_CHECKS, i % 4, "acme", json);
    }
    rd_kafka_destroy(p);
    if (!wait_log(log_a, "consumption paused", 1, 30000)) {
        dump_log("router A", log_a);
        ck_abort_msg("router A did not pause consumption with the database down");
    }

    /* B joins and takes partitions from A. */
    pid_t b = spawn("herald-router", args, env, log_b);
    if (!wait_router_assignments(log_b, 1, 40000)) {
        dump_log("router A", log_a);
        dump_log("router B", log_b);
        ck_abort_msg("router B was not given partitions within 40 s");
    }
    int a_assignments = router_assignments(log_a);

    /* B leaves with the database still down: A gets those partitions back. */
    kill(b, SIGTERM);
    int st;
    if (!wait_exit(b, 30000, &st)) {
        dump_log("router B", log_b);
        ck_abort_msg("router B did not stop within 30 s of SIGTERM");
    }
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "router B: exit status 0x%x", st);
    if (!wait_router_assignments(log_a, a_assignments + 1, 40000)) {
        dump_log("router A", log_a);
        dump_log("router B", log_b);
        ck_abort_msg("router A did not get router B's partitions back within 40 s");
    }

    /* The database is back: A routes everything. */
    ck_assert_int_eq(pg_sh("start"), 0);
    long events = wait_value("SELECT count(DISTINCT event_id) FROM deliveries", 10, 45000);
    if (events != 10) {
        dump_log("router A", log_a);
        dump_log("router B", log_b);
    }
    ck_assert_msg(events == 10,
                  "%ld of 10 events routed 45 s after the database came back (%s): partitions "
                  "router A got back while paused were not read again",
                  events, eager ? "eager" : "cooperative");
    ck_assert_int_eq(sql_long("SELECT count(*) FROM deliveries"), 10);

    kill(a, SIGTERM);
    ck_assert_msg(wait_exit(a, 30000, &st), "router A did not stop within 30 s of SIGTERM");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "router A: exit status 0x%x", st);
}
END_TEST

/* ==== 2. SIGTERM with Kafka gone =========================================================== */

/*
 * herald-slack and herald-router each consume one bad message, dead-letter it
 * and store its offset; auto commit is slowed to a minute so the offset is
 * still uncommitted when the cluster vanishes (as it is for work done just
 * before an outage). On SIGTERM each must exit 0 within 30 s.
 *
 * Why a 20 s session timeout: both workers still commit synchronously in
 * their revoke callback, which rd_kafka_consumer_close runs; with the
 * coordinator gone that commit returns only when the group session times
 * out, so today's shutdown takes one session timeout (20 s here). Before
 * c4cd979 herald-slack also committed synchronously before closing and took
 * two session timeouts or more (over 40 s here; with the default 45 s it was
 * still running after 90 s), which the 30 s bound catches.
 */
START_TEST(workers_stop_without_kafka)
{
    char log_s[256], log_r[256], brokers[256], db_env[320], api[128];
    log_path(log_s, sizeof log_s, "herald-slack");
    log_path(log_r, sizeof log_r, "herald-router");
    snprintf(brokers, sizeof brokers, "HERALD_KAFKA_BROKERS=%s", K.bootstraps);
    snprintf(db_env, sizeof db_env, "HERALD_DATABASE_URL=%s", dburl);
    snprintf(api, sizeof api, "HERALD_SLACK_API_URL=%s", closed_url);
    const char *env[] = {brokers,
                         "HERALD_KAFKA_SESSION_TIMEOUT_MS=20000",
                         "HERALD_KAFKA_HEARTBEAT_INTERVAL_MS=1000",
                         "HERALD_KAFKA_AUTO_COMMIT_INTERVAL_MS=60000",
                         db_env,
                         api,
                         "HERALD_SECRET_KEY=" SECRET_KEY,
                         "HERALD_LOG_LEVEL=info",
                         NULL};
    const char *sender_args[] = {"--group", "g-slack-nokafka", "--shutdown-timeout", "5s", NULL};
    const char *router_args[] = {"--group", "g-router-nokafka", "--shutdown-timeout-ms", "5000",
                                 NULL};
    struct {
        const char *name, *log;
        pid_t pid;
        int status;
        double secs;
        bool exited;
    } w[2] = {{"herald-slack", log_s, 0, 0, 0, false}, {"herald-router", log_r, 0, 0, 0, false}};
    w[0].pid = spawn(w[0].name, sender_args, env, log_s);
    w[1].pid = spawn(w[1].name, router_args, env, log_r);

    rd_kafka_t *p = producer();
    produce(p, TOPIC_DELIVERIES, 0, "T1", "{ not a routed delivery");
    produce(p, TOPIC_CHECKS, 0, "acme", "{ not an event");
    rd_kafka_destroy(p);
    size_t n = deadletters(2, 40000);
    if (n != 2) {
        dump_log(w[0].name, log_s);
        dump_log(w[1].name, log_r);
        ck_abort_msg("%zu of 2 bad messages dead-lettered within 40 s", n);
    }
    usleep(500 * 1000); /* the offsets are stored right after the acknowledgements */

    testlib_kafka_destroy(&K); /* every broker gone: connections are refused */
    int64_t t0 = util_now_mono_ms();
    kill(w[0].pid, SIGTERM);
    kill(w[1].pid, SIGTERM);
    /* Both are watched together, so each exit is timed on its own. */
    while (!(w[0].exited && w[1].exited) && util_now_mono_ms() - t0 < 30000) {
        for (int i = 0; i < 2; i++) {
            if (!w[i].exited && waitpid(w[i].pid, &w[i].status, WNOHANG) == w[i].pid) {
                forget_proc(w[i].pid);
                w[i].exited = true;
                w[i].secs = (double)(util_now_mono_ms() - t0) / 1000.0;
                fprintf(stderr, "test_worker_faults: %s exited %.1f s after SIGTERM, Kafka gone\n",
                        w[i].name, w[i].secs);
            }
        }
        usleep(50 * 1000);
    }
    for (int i = 0; i < 2; i++)
        if (!w[i].exited || !WIFEXITED(w[i].status) || WEXITSTATUS(w[i].status) != 0)
            dump_log(w[i].name, w[i].log);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(w[i].exited, "%s did not exit within 30 s of SIGTERM with Kafka gone",
                      w[i].name);
        ck_assert_msg(WIFEXITED(w[i].status) && WEXITSTATUS(w[i].status) == 0,
                      "%s: exit status 0x%x", w[i].name, w[i].status);
    }
}
END_TEST

/* ==== main ================================================================================= */

static bool port_free(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0)
        close(s);
    return ok;
}

/* The kernel's choice of a free loopback port (0 on failure). */
static int any_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = 0;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

static int pick_pg_port(void)
{
    const char *base = getenv("HERALD_TEST_PG_PORT_BASE");
    if (base && *base) {
        int b = atoi(base);
        for (int p = b; p > 0 && p < b + 10 && p < 65536; p++)
            if (port_free(p))
                return p;
        return 0;
    }
    return any_free_port();
}

static void cleanup(void)
{
    kill_all();
    if (pg_dir[0])
        pg_sh("stop");
    if (tmp_dir[0]) {
        char rm[128];
        snprintf(rm, sizeof rm, "rm -rf '%s'", tmp_dir);
        if (system(rm) != 0)
            fprintf(stderr, "test_worker_faults: could not remove %s\n", tmp_dir);
    }
}

int main(void)
{
    log_init("test_worker_faults");
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/herald-faults-XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    chmod(tmp_dir, 0755); /* the server runs as postgres below it */
    snprintf(pg_dir, sizeof pg_dir, "%s/pg", tmp_dir);
    pg_port = pick_pg_port();
    int api_port = any_free_port(); /* closed again: connections to it are refused */
    if (!pg_port || !api_port) {
        fprintf(stderr, "test_worker_faults: no free loopback port\n");
        cleanup();
        return EXIT_FAILURE;
    }
    snprintf(dburl, sizeof dburl, "postgresql://herald@127.0.0.1:%d/herald", pg_port);
    snprintf(closed_url, sizeof closed_url, "http://127.0.0.1:%d/api", api_port);
    if (pg_sh("start") != 0) {
        pg_dir[0] = '\0';
        cleanup();
        return EXIT_FAILURE;
    }
    PGconn *c = testlib_db_connect(dburl);
    char err[512];
    if (db_migrate(c, NULL, err, sizeof err)) {
        fprintf(stderr, "test_worker_faults: migrate: %s\n", err);
        PQfinish(c);
        cleanup();
        return EXIT_FAILURE;
    }
    PQfinish(c);

    Suite *s = suite_create("worker_faults");
    TCase *tc = tcase_create("worker_faults");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 150);
    tcase_add_loop_test(tc, router_reads_partitions_reassigned_while_paused, 0, 2);
    tcase_add_test(tc, workers_stop_without_kafka);
    suite_add_tcase(s, tc);
    int failed = testlib_run_suite(s) != EXIT_SUCCESS;
    cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
