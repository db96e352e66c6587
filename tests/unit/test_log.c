/* Logging: the level filter, and one line per call whatever the data holds. */
#include "common/log.h"
#include "testlib.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/herald-test-log-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    static char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    unlink(path);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

static void forged(void)
{
    log_init("test");
    log_set_level(LOG_LEVEL_INFO);
    LOG_WARN("error from slack: %s", "bad\n2026-01-01T00:00:00Z INFO herald: forged\x1b[2J");
    LOG_DEBUG("not shown %d", 1);
}

START_TEST(one_line_per_call)
{
    const char *out = capture(forged);
    ck_assert_ptr_nonnull(strstr(out, " WARN test: error from slack: bad?2026-01-01"));
    ck_assert_ptr_nonnull(strstr(out, "forged?[2J\n"));
    ck_assert_ptr_null(strstr(out, "not shown"));
    ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1); /* exactly one line */
}
END_TEST

START_TEST(levels_parse)
{
    log_level l;
    ck_assert(log_level_parse("warn", &l));
    ck_assert_int_eq(l, LOG_LEVEL_WARN);
    ck_assert(!log_level_parse("loud", &l));
    ck_assert(!log_level_parse(NULL, &l));
}
END_TEST

TESTLIB_MAIN("log", "log", one_line_per_call, levels_parse)
