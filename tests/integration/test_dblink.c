/* Database link supervision (common/dblink.h) against the test PostgreSQL: a
 * dropped connection comes back after the backoff with its session set up
 * again, an unreachable server is retried on a doubling, capped schedule
 * without spinning, and an outage is logged once. */
#include "testlib.h"

#include "common/db.h"
#include "common/dblink.h"
#include "common/log.h"
#include "common/util.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char url[512];

/* A server nobody listens on: connecting is refused at once. */
#define UNREACHABLE "postgresql://herald@127.0.0.1:1/herald"

typedef struct counts {
    int connects; /* on_connect calls */
    int errors;   /* on_error calls */
    int fail_setups;
    char last_what[64];
} counts;

/* Prepares a statement, as a caller with prepared statements does. */
static int on_connect(void *arg, PGconn *conn, const char **what, char *detail, size_t detail_size)
{
    counts *c = arg;
    c->connects++;
    if (c->fail_setups > 0) {
        c->fail_setups--;
        *what = "prepare";
        snprintf(detail, detail_size, "refused on purpose");
        return -1;
    }
    PGresult *r = PQprepare(conn, "herald_one", "SELECT 1", 0, NULL);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        *what = "prepare";
        db_error(conn, r, detail, detail_size);
    }
    PQclear(r);
    if (!ok)
        return -1;
    snprintf(detail, detail_size, "setup %d", c->connects);
    return 0;
}

static void on_error(void *arg, const char *what, const char *why)
{
    counts *c = arg;
    (void)why;
    c->errors++;
    snprintf(c->last_what, sizeof c->last_what, "%s", what);
}

static db_link *link_new(const char *conninfo, counts *c, int64_t base_ms, int64_t cap_ms)
{
    db_link_config cfg = {.conninfo = conninfo,
                          .base_ms = base_ms,
                          .cap_ms = cap_ms,
                          .on_connect = on_connect,
                          .on_error = on_error,
                          .arg = c};
    char err[256];
    db_link *l = db_link_new(&cfg, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    return l;
}

static bool prepared_runs(PGconn *conn)
{
    PGresult *r = PQexecPrepared(conn, "herald_one", 0, NULL, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
}

START_TEST(connects_once_and_sets_up)
{
    counts c = {0};
    db_link *l = link_new(url, &c, 0, 0);
    ck_assert_uint_eq(db_link_generation(l), 0);
    ck_assert(!db_link_up(l));
    PGconn *conn = db_link_get(l);
    ck_assert_ptr_nonnull(conn);
    ck_assert(db_link_up(l));
    ck_assert_ptr_eq(db_link_conn(l), conn);
    ck_assert_uint_eq(db_link_generation(l), 1);
    ck_assert(prepared_runs(conn));
    /* A healthy link is handed out as is: no new connection, no setup. */
    ck_assert_ptr_eq(db_link_get(l), conn);
    ck_assert_int_eq(c.connects, 1);
    ck_assert_int_eq(c.errors, 0);
    db_link_destroy(l);
    db_link_destroy(NULL);
}
END_TEST

/* The server drops the connection: after db_link_lost the link waits out
 * the backoff (returning NULL at once meanwhile), then reconnects and
 * prepares its statements again. */
START_TEST(dropped_connection_reconnects_after_backoff)
{
    counts c = {0};
    db_link *l = link_new(url, &c, 0, 0);
    PGconn *conn = db_link_get(l);
    ck_assert_ptr_nonnull(conn);

    PGconn *admin = testlib_db_connect(url);
    char q[128];
    snprintf(q, sizeof q, "SELECT pg_terminate_backend(%d)::int", PQbackendPID(conn));
    ck_assert_int_eq(testlib_db_long(admin, q), 1);
    PQfinish(admin);

    ck_assert(!prepared_runs(conn));
    ck_assert(db_connection_lost(conn));
    char msg[512];
    db_error(conn, NULL, msg, sizeof msg);
    int64_t lost_at = util_now_mono_ms();
    db_link_lost(l, "test", msg);
    ck_assert_int_eq(c.errors, 1);
    ck_assert_str_eq(c.last_what, "test");
    ck_assert_ptr_null(db_link_conn(l));
    ck_assert(!db_link_up(l));
    /* The first wait: 100 ms plus up to a quarter of jitter. */
    int64_t wait = db_link_next_attempt_ms(l) - lost_at;
    ck_assert_int_ge(wait, DB_LINK_DEFAULT_BASE_MS);
    ck_assert_int_le(wait, DB_LINK_DEFAULT_BASE_MS * 5 / 4 + 5);
    ck_assert_ptr_null(db_link_get(l));
    ck_assert_int_eq(c.connects, 1);

    while (util_now_mono_ms() < db_link_next_attempt_ms(l))
        usleep(2000);
    conn = db_link_get(l);
    ck_assert_ptr_nonnull(conn);
    ck_assert_uint_eq(db_link_generation(l), 2);
    ck_assert_int_eq(c.connects, 2);
    ck_assert(prepared_runs(conn)); /* prepared again on the new connection */
    ck_assert_int_eq(c.errors, 1);

    /* A recovery resets the schedule: the next loss waits the base again. */
    lost_at = util_now_mono_ms();
    db_link_lost(l, "test", "again");
    wait = db_link_next_attempt_ms(l) - lost_at;
    ck_assert_int_le(wait, DB_LINK_DEFAULT_BASE_MS * 5 / 4 + 5);
    db_link_destroy(l);
}
END_TEST

/* An unreachable server: every attempt fails, each wait doubles up to the
 * cap (plus at most a quarter of jitter), and calls in between do not
 * connect. */
START_TEST(unreachable_backs_off_without_spinning)
{
    counts c = {0};
    const int64_t base = 20, cap = 80;
    db_link *l = link_new(UNREACHABLE, &c, base, cap);
    int64_t ceiling = base;
    int calls = 0;
    for (int attempt = 1; attempt <= 7; attempt++) {
        int64_t before = util_now_mono_ms();
        ck_assert_ptr_null(db_link_get(l));
        calls++;
        ck_assert_int_eq(c.errors, attempt);
        ck_assert_str_eq(c.last_what, "connect");
        int64_t wait = db_link_next_attempt_ms(l) - before;
        ck_assert_msg(wait >= ceiling && wait <= ceiling * 5 / 4 + 50,
                      "attempt %d waits %lld ms, ceiling %lld", attempt, (long long)wait,
                      (long long)ceiling);
        /* Meanwhile: NULL at once, no connect attempt. */
        while (util_now_mono_ms() < db_link_next_attempt_ms(l)) {
            ck_assert_ptr_null(db_link_get(l));
            calls++;
            usleep(1000);
        }
        ck_assert_int_eq(c.errors, attempt);
        ceiling = ceiling * 2 > cap ? cap : ceiling * 2;
    }
    ck_assert_int_gt(calls, 7 * 5);
    ck_assert_int_eq(c.connects, 0); /* on_connect only runs on a connection */
    ck_assert_uint_eq(db_link_generation(l), 0);
    db_link_destroy(l);
}
END_TEST

/* A shutdown drain does not wait out a long backoff: hurry makes the next get
 * try at once, and a failed try keeps growing the backoff. */
START_TEST(hurry_tries_at_once)
{
    counts c = {0};
    db_link *l = link_new(UNREACHABLE, &c, 2000, 8000);
    ck_assert_ptr_null(db_link_get(l));
    ck_assert_int_eq(c.errors, 1);
    ck_assert_ptr_null(db_link_get(l)); /* backing off: no attempt */
    ck_assert_int_eq(c.errors, 1);
    int64_t before = util_now_mono_ms();
    db_link_hurry(l);
    ck_assert_ptr_null(db_link_get(l));
    ck_assert_int_eq(c.errors, 2); /* tried at once */
    ck_assert_int_ge(db_link_next_attempt_ms(l) - before, 4000);
    db_link_destroy(l);
}
END_TEST

/* A connection whose setup fails is not handed out; it is retried like a
 * failed connect. */
START_TEST(failed_setup_is_retried)
{
    counts c = {.fail_setups = 1};
    db_link *l = link_new(url, &c, 10, 10);
    ck_assert_ptr_null(db_link_get(l));
    ck_assert_int_eq(c.connects, 1);
    ck_assert_int_eq(c.errors, 1);
    ck_assert_str_eq(c.last_what, "prepare");
    ck_assert_ptr_null(db_link_conn(l));
    ck_assert_uint_eq(db_link_generation(l), 0);
    while (util_now_mono_ms() < db_link_next_attempt_ms(l))
        usleep(1000);
    PGconn *conn = db_link_get(l);
    ck_assert_ptr_nonnull(conn);
    ck_assert(prepared_runs(conn));
    ck_assert_uint_eq(db_link_generation(l), 1);
    db_link_destroy(l);
}
END_TEST

START_TEST(bad_conninfo_is_refused)
{
    db_link_config cfg = {.conninfo = "host = = nonsense"};
    char err[256] = "";
    ck_assert_ptr_null(db_link_new(&cfg, err, sizeof err));
    ck_assert_msg(!strncmp(err, "database URL: ", 14), "%s", err);
    ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

/* Runs fn with stderr in a temporary file; returns what was written. */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/herald-dblink-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    char *out = calloc(1, (size_t)n + 1);
    ck_assert(pread(fd, out, (size_t)n, 0) == n);
    close(fd);
    return out;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void outage_and_recovery(void)
{
    counts c = {.fail_setups = 2};
    db_link_config cfg = {.conninfo = url,
                          .base_ms = 5,
                          .cap_ms = 5,
                          .on_loss = "holding work",
                          .on_connect = on_connect,
                          .arg = &c};
    char err[256];
    db_link *l = db_link_new(&cfg, err, sizeof err);
    while (!db_link_get(l))
        usleep(1000);
    db_link_lost(l, "route", "server closed the connection");
    while (!db_link_get(l))
        usleep(1000);
    db_link_destroy(l);
}

/* One WARN line per outage, however many attempts fail; one INFO line per
 * connection, with the setup's detail. */
START_TEST(outage_logged_once)
{
    log_set_level(LOG_LEVEL_INFO);
    char *log = capture_stderr(outage_and_recovery);
    ck_assert_int_eq(count_of(log, "WARN"), 2);
    ck_assert_int_eq(
        count_of(log, "database unavailable (prepare: refused on purpose): holding work\n"), 1);
    ck_assert_int_eq(
        count_of(log, "database unavailable (route: server closed the connection): holding work\n"),
        1);
    ck_assert_int_eq(count_of(log, "still unavailable"), 0); /* DEBUG */
    ck_assert_int_eq(count_of(log, "INFO"), 2);
    ck_assert_int_eq(count_of(log, "database connected; setup 3\n"), 1);
    ck_assert_int_eq(count_of(log, "database connected; setup 4\n"), 1);
    free(log);
}
END_TEST

int main(void)
{
    log_init("test_dblink");
    testlib_db_create("dblink", url, sizeof url);
    Suite *s = suite_create("dblink");
    TCase *tc = tcase_create("dblink");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, connects_once_and_sets_up);
    tcase_add_test(tc, dropped_connection_reconnects_after_backoff);
    tcase_add_test(tc, unreachable_backs_off_without_spinning);
    tcase_add_test(tc, hurry_tries_at_once);
    tcase_add_test(tc, failed_setup_is_retried);
    tcase_add_test(tc, bad_conninfo_is_refused);
    tcase_add_test(tc, outage_logged_once);
    suite_add_tcase(s, tc);
    return testlib_run_suite(s);
}
