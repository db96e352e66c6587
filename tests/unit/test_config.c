/* The configuration table: environment then flags, bounds, one-line errors,
 * and --help even when the environment holds a bad value. */
#include "common/config.h"
#include "common/log.h"
#include "testlib.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long n;
static bool b;
static char *s;
static const cfg_opt opts[] = {
    {"--count", "TEST_CFG_COUNT", CFG_INT, "5", 1, 10, "N", "a count", &n},
    {"--flag", NULL, CFG_BOOL, NULL, 0, 0, NULL, "a switch", &b},
    {"--name", "TEST_CFG_NAME", CFG_STRING, "x", 0, 0, "NAME", "a name", &s},
    {"--log-level", "HERALD_LOG_LEVEL", CFG_LOGLEVEL, "info", 0, 0, "LEVEL", "level", NULL},
};

static cfg_result parse(int argc, char **argv, int *argi, char *err, size_t errsz)
{
    *argi = 1;
    return cfg_parse("prog", NULL, opts, 4, argc, argv, argi, err, errsz);
}

START_TEST(env_then_flags)
{
    setenv("TEST_CFG_COUNT", "7", 1);
    setenv("TEST_CFG_NAME", "env", 1);
    char *argv[] = {"prog", "--name=flag", "--flag", "rest", NULL};
    char err[256];
    int argi;
    ck_assert_int_eq(parse(4, argv, &argi, err, sizeof err), CFG_OK);
    ck_assert_int_eq(n, 7);
    ck_assert_str_eq(s, "flag");
    ck_assert(b);
    ck_assert_int_eq(argi, 3);
    unsetenv("TEST_CFG_COUNT");
    unsetenv("TEST_CFG_NAME");
}
END_TEST

START_TEST(errors_name_the_flag)
{
    char err[256];
    int argi;
    char *a1[] = {"prog", "--count", "11", NULL};
    ck_assert_int_eq(parse(3, a1, &argi, err, sizeof err), CFG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "--count"));
    ck_assert_ptr_nonnull(strstr(err, "'11'"));
    char *a2[] = {"prog", "--bogus", NULL};
    ck_assert_int_eq(parse(2, a2, &argi, err, sizeof err), CFG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "'--bogus'"));
    char *a3[] = {"prog", "--name", NULL};
    ck_assert_int_eq(parse(2, a3, &argi, err, sizeof err), CFG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "--name needs a value"));
    setenv("TEST_CFG_COUNT", "abc", 1);
    char *a4[] = {"prog", NULL};
    ck_assert_int_eq(parse(1, a4, &argi, err, sizeof err), CFG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "TEST_CFG_COUNT"));
    unsetenv("TEST_CFG_COUNT");
    ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(help_wins_over_bad_environment)
{
    setenv("HERALD_LOG_LEVEL", "loud", 1);
    char err[256];
    int argi;
    char *argv[] = {"prog", "--name", "y", "--help", NULL};
    /* Help goes to stdout; silence it for the test. */
    ck_assert_ptr_nonnull(freopen("/dev/null", "w", stdout));
    ck_assert_int_eq(parse(4, argv, &argi, err, sizeof err), CFG_HELP);
    char *plain[] = {"prog", NULL};
    ck_assert_int_eq(parse(1, plain, &argi, err, sizeof err), CFG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "HERALD_LOG_LEVEL"));
    ck_assert_ptr_nonnull(strstr(err, "'loud'"));
    unsetenv("HERALD_LOG_LEVEL");
}
END_TEST

START_TEST(common_select_lists_only_what_is_read)
{
    herald_common_config cfg;
    cfg_opt out[CFG_COMMON_COUNT];
    size_t got = cfg_common_select(out, &cfg, CFG_USE_KAFKA | CFG_USE_SECRET);
    ck_assert_uint_eq(got, 6);
    ck_assert_str_eq(out[0].env, "HERALD_KAFKA_BROKERS");
    ck_assert_str_eq(out[1].env, "HERALD_SECRET_KEY");
    ck_assert_str_eq(out[2].env, "HERALD_SECRET_KEY_FILE");
    ck_assert_str_eq(out[3].env, "HERALD_SECRET_KEY_PREVIOUS");
    ck_assert_str_eq(out[4].env, "HERALD_SECRET_KEY_PREVIOUS_FILE");
    ck_assert_str_eq(out[5].env, "HERALD_LOG_LEVEL");
    /* Secrets never on a command line: the four are environment only. */
    for (size_t i = 1; i <= 4; i++)
        ck_assert_ptr_null(out[i].flag);
    ck_assert_uint_eq(cfg_common_select(out, &cfg, 0), 1);
    ck_assert_uint_eq(cfg_common_select(out, &cfg, ~0u), CFG_COMMON_COUNT);
}
END_TEST

/* The Slack app's options, shared by herald-api and herald-slack: same names,
 * the secret from the environment or the first line of a file. */
START_TEST(slack_app_options_and_secret_file)
{
    cfg_slack_app app = {0};
    cfg_opt o[CFG_SLACK_APP_COUNT];
    cfg_slack_app_opts(o, &app, "id help");
    ck_assert_str_eq(o[0].flag, "--slack-client-id");
    ck_assert_str_eq(o[0].env, "HERALD_SLACK_CLIENT_ID");
    ck_assert_ptr_null(o[1].flag); /* a secret never goes on a command line */
    ck_assert_str_eq(o[1].env, "HERALD_SLACK_CLIENT_SECRET");
    ck_assert_int_eq(o[1].type, CFG_SECRET);
    ck_assert_str_eq(o[2].flag, "--slack-client-secret-file");
    ck_assert_str_eq(o[2].env, "HERALD_SLACK_CLIENT_SECRET_FILE");

    char err[256], *secret = NULL;
    ck_assert_int_eq(cfg_slack_app_secret(&app, &secret, err, sizeof err), 0);
    ck_assert_ptr_null(secret);
    app.client_secret = "from-env";
    ck_assert_int_eq(cfg_slack_app_secret(&app, &secret, err, sizeof err), 0);
    ck_assert_str_eq(secret, "from-env");
    free(secret);

    char path[] = "/tmp/herald-test-secret-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("file-secret \t\nsecond line\n", f);
    fclose(f);
    app.client_secret_file = path; /* the file wins */
    ck_assert_int_eq(cfg_slack_app_secret(&app, &secret, err, sizeof err), 0);
    ck_assert_str_eq(secret, "file-secret");
    free(secret);
    f = fopen(path, "w");
    fclose(f);
    ck_assert_int_eq(cfg_slack_app_secret(&app, &secret, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "HERALD_SLACK_CLIENT_SECRET_FILE"));
    ck_assert_ptr_nonnull(strstr(err, "empty"));
    unlink(path);
    ck_assert_int_eq(cfg_slack_app_secret(&app, &secret, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot read"));
    ck_assert_ptr_null(strstr(err, "from-env"));
}
END_TEST

/* CFG_DURATION: a number and a unit (ms, s, m, h, d; bare: seconds) into ms,
 * within bounds; CFG_RATE: a decimal number within bounds. */
static int64_t wait_ms;
static double rate;
static const cfg_opt typed[] = {
    {"--wait", "TEST_CFG_WAIT", CFG_DURATION, "500ms", 10, 3600000, "DURATION", "a wait", &wait_ms},
    {"--rate", "TEST_CFG_RATE", CFG_RATE, "1", 0, 1000, "PER_SEC", "a rate", &rate},
};

static cfg_result parse_typed(int argc, char **argv, char *err, size_t errsz)
{
    int argi = 1;
    return cfg_parse("prog", NULL, typed, 2, argc, argv, &argi, err, errsz);
}

START_TEST(durations_and_rates)
{
    char err[256];
    char *none[] = {"prog", NULL};
    ck_assert_int_eq(parse_typed(1, none, err, sizeof err), CFG_OK);
    ck_assert_int_eq(wait_ms, 500); /* the defaults are parsed too */
    ck_assert(rate == 1.0);
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {{"500ms", 500}, {"7s", 7000}, {"5m", 300000}, {"1h", 3600000},
                {"1.5s", 1500}, {"2", 2000},  {"10ms", 10},   {"0.25m", 15000}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char *argv[] = {"prog", "--wait", (char *)good[i].text, NULL};
        ck_assert_msg(parse_typed(3, argv, err, sizeof err) == CFG_OK, "%s: %s", good[i].text, err);
        ck_assert_int_eq(wait_ms, good[i].ms);
    }
    char *r1[] = {"prog", "--rate=0.5", NULL};
    ck_assert_int_eq(parse_typed(2, r1, err, sizeof err), CFG_OK);
    ck_assert(rate == 0.5);
    char *r2[] = {"prog", "--rate", "1000", NULL};
    ck_assert_int_eq(parse_typed(3, r2, err, sizeof err), CFG_OK);
    ck_assert(rate == 1000.0);
    int64_t ms = 0;
    ck_assert(cfg_parse_duration("7d", 0, 30LL * 86400000, &ms));
    ck_assert_int_eq(ms, 7LL * 86400000);
}
END_TEST

START_TEST(bad_durations_and_rates_name_the_flag)
{
    char err[256];
    static const char *const bad_wait[] = {"", "5x", "ms", "-1s", "1 s", "5ms", "2h", "inf"};
    for (size_t i = 0; i < sizeof bad_wait / sizeof bad_wait[0]; i++) {
        char *argv[] = {"prog", "--wait", (char *)bad_wait[i], NULL};
        ck_assert_msg(parse_typed(3, argv, err, sizeof err) == CFG_ERROR, "accepted '%s'",
                      bad_wait[i]);
        char want[128];
        snprintf(want, sizeof want,
                 "--wait: invalid value '%s': expected a duration such as 500ms, 5s, 10m, 24h "
                 "(from 10ms to 3600000ms)",
                 bad_wait[i]);
        ck_assert_str_eq(err, want);
    }
    static const char *const bad_rate[] = {"", "fast", "1/s", "20/min", "-1", "1001", "2x"};
    for (size_t i = 0; i < sizeof bad_rate / sizeof bad_rate[0]; i++) {
        char *argv[] = {"prog", "--rate", (char *)bad_rate[i], NULL};
        ck_assert_msg(parse_typed(3, argv, err, sizeof err) == CFG_ERROR, "accepted '%s'",
                      bad_rate[i]);
        char want[128];
        snprintf(want, sizeof want, "--rate: invalid value '%s': expected a number from 0 to 1000",
                 bad_rate[i]);
        ck_assert_str_eq(err, want);
    }
    /* From the environment, the variable is named. */
    setenv("TEST_CFG_WAIT", "soon", 1);
    char *none[] = {"prog", NULL};
    ck_assert_int_eq(parse_typed(1, none, err, sizeof err), CFG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "TEST_CFG_WAIT: invalid value 'soon'"));
    unsetenv("TEST_CFG_WAIT");
    /* A subcommand's wording for the same table. */
    const char *pos[1];
    size_t npos;
    char *words[] = {"--wait", "5x"};
    ck_assert_int_eq(cfg_parse_command("prog", &(cfg_command){"do", "", "Does."}, typed, 2, 2,
                                       words, pos, 1, &npos, err, sizeof err),
                     CFG_ERROR);
    ck_assert_str_eq(err, "--wait: '5x' is not a duration such as 500ms, 5s, 10m, 24h (from 10ms "
                          "to 3600000ms)");
}
END_TEST

TESTLIB_MAIN("config", "config", env_then_flags, errors_name_the_flag,
             help_wins_over_bad_environment, common_select_lists_only_what_is_read,
             slack_app_options_and_secret_file, durations_and_rates,
             bad_durations_and_rates_name_the_flag)
