/* cli: subcommand flag parsing and dispatch, safe aligned tables, time formats. */
#include "workers/heraldctl/cli.h"
#include "testlib.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cfg_command cmd = {"thing do", "ID [--name N]", "Does the thing."};

START_TEST(flags_anywhere)
{
    char *name = NULL;
    bool force = false;
    long n = 7;
    const cfg_opt opts[] = {
        {"--name", NULL, CFG_STRING, NULL, 0, 0, "N", "a name", &name},
        {"--force", NULL, CFG_BOOL, NULL, 0, 0, NULL, "force it", &force},
        {"--n", NULL, CFG_INT, NULL, 1, 10, "N", "a number", &n},
    };
    char *argv[] = {"42", "--name", "x y", "--force", "--n=3", "--", "--not-a-flag"};
    const char *pos[2];
    size_t npos = 0;
    char err[256];
    ck_assert_int_eq(cli_parse("prog", &cmd, opts, 3, 7, argv, pos, 2, &npos, err, sizeof err),
                     CFG_OK);
    ck_assert_uint_eq(npos, 2);
    ck_assert_str_eq(pos[0], "42");
    ck_assert_str_eq(pos[1], "--not-a-flag");
    ck_assert_str_eq(name, "x y");
    ck_assert(force);
    ck_assert_int_eq(n, 3);
}
END_TEST

START_TEST(flag_errors)
{
    char *name = NULL;
    bool force = false;
    long n = 0;
    const cfg_opt opts[] = {
        {"--name", NULL, CFG_STRING, NULL, 0, 0, "N", "a name", &name},
        {"--force", NULL, CFG_BOOL, NULL, 0, 0, NULL, "force it", &force},
        {"--n", NULL, CFG_INT, NULL, 1, 10, "N", "a number", &n},
    };
    struct {
        char *argv[4];
        int argc;
        const char *want;
    } cases[] = {
        {{"--bogus"}, 1, "unknown flag '--bogus'"},
        {{"--bogus=1"}, 1, "unknown flag '--bogus'"},
        {{"--name"}, 1, "--name needs a value (N)"},
        {{"--name", "a", "--name", "b"}, 4, "--name given more than once"},
        {{"--force=yes"}, 1, "--force takes no value"},
        {{"--n", "11"}, 2, "--n: '11' is not a whole number from 1 to 10"},
        {{"--n", "x\033[31m"}, 2, "--n: 'x?[31m'"},
        {{"1", "2"}, 2, "unexpected argument '2'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *pos[1];
        size_t npos;
        char err[256] = "";
        name = NULL;
        ck_assert_int_eq(cli_parse("prog", &cmd, opts, 3, cases[i].argc, cases[i].argv, pos, 1,
                                   &npos, err, sizeof err),
                         CFG_ERROR);
        ck_assert_msg(strstr(err, cases[i].want) != NULL, "case %zu: %s", i, err);
    }
}
END_TEST

START_TEST(help_from_table)
{
    char *name = NULL;
    const cfg_opt opts[] = {{"--name", NULL, CFG_STRING, NULL, 0, 0, "N", "a name", &name}};
    char buf[2048] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    cfg_print_command_help(f, "prog", &cmd, opts, 1);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "usage: prog thing do ID [--name N]"));
    ck_assert_ptr_nonnull(strstr(buf, "Does the thing."));
    ck_assert_ptr_nonnull(strstr(buf, "--name N"));
    ck_assert_ptr_nonnull(strstr(buf, "--help"));
}
END_TEST

START_TEST(table_aligned_and_safe)
{
    const char *hdr[] = {"ID", "NAME", "NOTE"};
    cli_table *t = cli_table_new(3, hdr);
    cli_table_set_max_width(t, 2, 10);
    const char *r1[] = {"1", "Zoë", "short"};
    const char *r2[] = {"22", "bad\nname\033", "a note that is far too long"};
    const char *r3[] = {"3", NULL, ""};
    cli_table_add(t, r1);
    cli_table_add(t, r2);
    cli_table_add(t, r3);
    ck_assert_uint_eq(cli_table_rows(t), 3);
    char buf[1024] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    cli_table_print(t, f);
    fclose(f);
    cli_table_destroy(t);
    cli_table_destroy(NULL);
    ck_assert_str_eq(buf, "ID  NAME       NOTE\n"
                          "1   Zoë        short\n"
                          "22  bad?name?  a note ...\n"
                          "3   -          -\n");
}
END_TEST

/* Regression: widths were counted in code points, so a name with an emoji or
 * CJK (two columns) or a combining accent (none) pushed its row's columns
 * out of line. */
START_TEST(table_wide_characters)
{
    const char *hdr[] = {"NAME", "X"};
    cli_table *t = cli_table_new(2, hdr);
    cli_table_set_max_width(t, 0, 8);
    const char *r1[] = {"Owl \xf0\x9f\xa6\x89", "a"};     /* "Owl 🦉": 6 columns */
    const char *r2[] = {"\xe4\xb8\xad\xe6\x96\x87", "b"}; /* "中文": 4 columns */
    const char *r3[] = {"e\xcc\x81t\xc3\xa9", "c"};       /* "étè" decomposed: 3 */
    const char *r4[] = {"\xe4\xb8\xad\xe6\x96\x87\xe4\xb8\xad\xe6\x96\x87x", "d"}; /* 9 > 8 */
    cli_table_add(t, r1);
    cli_table_add(t, r2);
    cli_table_add(t, r3);
    cli_table_add(t, r4);
    char buf[512] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    cli_table_print(t, f);
    fclose(f);
    cli_table_destroy(t);
    ck_assert_str_eq(buf, "NAME     X\n"
                          "Owl \xf0\x9f\xa6\x89   a\n"
                          "\xe4\xb8\xad\xe6\x96\x87     b\n"
                          "e\xcc\x81t\xc3\xa9      c\n"
                          "\xe4\xb8\xad\xe6\x96\x87...  d\n");
}
END_TEST

START_TEST(times)
{
    char buf[40];
    ck_assert_str_eq(cli_time_format(0, buf, sizeof buf), "-");
    ck_assert_str_eq(cli_time_format(1795942202387LL, buf, sizeof buf), "2026-11-29 08:50:02Z");
    int64_t now = 1795942202000LL, out = 0;
    ck_assert(cli_parse_since("90s", now, &out));
    ck_assert_int_eq(out, now - 90000);
    ck_assert(cli_parse_since("15m", now, &out));
    ck_assert_int_eq(out, now - 15 * 60000);
    ck_assert(cli_parse_since("24h", now, &out));
    ck_assert_int_eq(out, now - 24 * 3600000LL);
    ck_assert(cli_parse_since("7d", now, &out));
    ck_assert_int_eq(out, now - 7 * 86400000LL);
    ck_assert(cli_parse_since("2026-11-28", now, &out));
    ck_assert_int_eq(out, 1795824000000LL);
    ck_assert(cli_parse_since("2026-11-29T08:50:02Z", now, &out));
    ck_assert_int_eq(out, 1795942202000LL);
    const char *bad[] = {
        "", "h", "5", "5w", "-5m", "1.5h", "yesterday", "2026-13-01", "99999999999999999999d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!cli_parse_since(bad[i], now, &out), "accepted '%s'", bad[i]);
}
END_TEST

/* What the last command run by cli_dispatch got. */
static const char *ran;
static int ran_argc;
static char **ran_argv;

static int run_add(void *ctx, int argc, char **argv)
{
    ck_assert_ptr_eq(ctx, &ran);
    ran = "target add", ran_argc = argc, ran_argv = argv;
    return 7;
}
static int run_list(void *ctx, int argc, char **argv)
{
    ck_assert_ptr_eq(ctx, &ran);
    ran = "target list", ran_argc = argc, ran_argv = argv;
    return 0;
}
static int run_migrate(void *ctx, int argc, char **argv)
{
    ck_assert_ptr_eq(ctx, &ran);
    ran = "migrate", ran_argc = argc, ran_argv = argv;
    return 3;
}

START_TEST(dispatch)
{
    static const cli_subcommand cmds[] = {
        {NULL, "migrate", run_migrate, "migrate", "apply migrations"},
        {"target", "add", run_add, "target add", "add one"},
        {"target", "list", run_list, "target list", "list them"},
    };
    const size_t n = sizeof cmds / sizeof cmds[0];
    char *a1[] = {"migrate", "--x", NULL};
    ck_assert_int_eq(cli_dispatch("prog", cmds, n, &ran, 2, a1), 3);
    ck_assert_str_eq(ran, "migrate");
    ck_assert_int_eq(ran_argc, 1);
    ck_assert_str_eq(ran_argv[0], "--x");

    char *a2[] = {"target", "add", "--name", "n", NULL};
    ck_assert_int_eq(cli_dispatch("prog", cmds, n, &ran, 4, a2), 7);
    ck_assert_str_eq(ran, "target add");
    ck_assert_int_eq(ran_argc, 2);
    ck_assert_str_eq(ran_argv[1], "n");

    /* A group word is not a command, a subcommand is not top level. */
    ran = NULL;
    char *a3[] = {"target", NULL};
    ck_assert_int_eq(cli_dispatch("prog", cmds, n, &ran, 1, a3), 2);
    char *a4[] = {"target", "remove", NULL};
    ck_assert_int_eq(cli_dispatch("prog", cmds, n, &ran, 2, a4), 2);
    char *a5[] = {"add", NULL};
    ck_assert_int_eq(cli_dispatch("prog", cmds, n, &ran, 1, a5), 2);
    char *a6[] = {"target", "--help", NULL};
    ck_assert_int_eq(cli_dispatch("prog", cmds, n, &ran, 2, a6), 0);
    ck_assert_int_eq(cli_dispatch("prog", cmds, n, &ran, 0, a6), 2);
    ck_assert_ptr_null(ran);

    /* Usage errors: one line, exit 2. */
    ck_assert_int_eq(cli_usage_error("prog", "target add", "--name is required"), 2);
    const char *pos[1];
    size_t npos;
    char *a7[] = {"--nope", NULL};
    ck_assert_int_eq(cli_parse_or_exit("prog", &cmd, NULL, 0, 1, a7, pos, 1, &npos), 2);
    char *a8[] = {"5", NULL};
    ck_assert_int_eq(cli_parse_or_exit("prog", &cmd, NULL, 0, 1, a8, pos, 1, &npos), -1);
    ck_assert_str_eq(pos[0], "5");
}
END_TEST

TESTLIB_MAIN("cli", "cli", flags_anywhere, flag_errors, help_from_table, table_aligned_and_safe,
             table_wide_characters, times, dispatch)
