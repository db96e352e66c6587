/*
 * heraldctl: the real binary against PostgreSQL (and the fake Slack for
 * `test`): output, exit codes (0 done, 1 refused/database/Slack, 2 usage),
 * one-line errors naming the flag, and tokens never printed.
 */
#include "testlib.h"

#include "common/crypto.h"
#include "common/db.h"
#include "common/migrations.h"
#include "store/workspaces.h"

#include <cJSON.h>
#include <check.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char url[512];
static char ctl[1024];
static PGconn *conn;
static char err[512];

static const char *KEY_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/* ---------------------------------------------------------------- running heraldctl */

typedef struct run {
    int rc;
    char out[65536];
    char err[8192];
} run;

static void slurp(int fd, char *buf, size_t size)
{
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, size - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
}

/*
 * Runs heraldctl with args (NULL-terminated). env: NULL-terminated list of
 * "NAME=value" to set or "NAME" to unset, applied over the suite's defaults
 * (database URL, secret key, log level warn, no HERALD_SLACK_TOKEN). input:
 * standard input text, or NULL for /dev/null.
 */
static void ctl_run(run *r, const char *const *env, const char *input, const char *const *args)
{
    char outp[] = "/tmp/heraldctl-out-XXXXXX", errp[] = "/tmp/heraldctl-err-XXXXXX",
         inp[] = "/tmp/heraldctl-in-XXXXXX";
    int ofd = mkstemp(outp), efd = mkstemp(errp), ifd = mkstemp(inp);
    ck_assert(ofd >= 0 && efd >= 0 && ifd >= 0);
    unlink(outp);
    unlink(errp);
    unlink(inp);
    if (input)
        ck_assert_int_eq(write(ifd, input, strlen(input)), (ssize_t)strlen(input));
    lseek(ifd, 0, SEEK_SET);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("HERALD_DATABASE_URL", url, 1);
        setenv("HERALD_SECRET_KEY", KEY_B64, 1);
        setenv("HERALD_LOG_LEVEL", "warn", 1);
        unsetenv("HERALD_SLACK_TOKEN");
        unsetenv("HERALD_SLACK_REFRESH_TOKEN");
        for (const char *const *e = env; e && *e; e++) {
            const char *eq = strchr(*e, '=');
            if (eq) {
                char name[128];
                snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
                setenv(name, eq + 1, 1);
            } else {
                unsetenv(*e);
            }
        }
        dup2(ifd, 0);
        dup2(ofd, 1);
        dup2(efd, 2);
        const char *argv[64] = {ctl};
        size_t n = 1;
        for (const char *const *a = args; *a && n < 63; a++)
            argv[n++] = *a;
        argv[n] = NULL;
        execv(ctl, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    r->rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    slurp(ofd, r->out, sizeof r->out);
    slurp(efd, r->err, sizeof r->err);
    close(ifd);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Exit 2 with exactly one line on stderr containing needle, nothing on stdout. */
static void assert_usage_error(const run *r, const char *needle)
{
    ck_assert_msg(r->rc == 2, "exit %d, expected 2; stderr: %s", r->rc, r->err);
    ck_assert_msg(lines(r->err) == 1, "expected one stderr line: %s", r->err);
    ck_assert_msg(strstr(r->err, needle) != NULL, "'%s' not in: %s", needle, r->err);
    ck_assert_msg(r->out[0] == '\0', "stdout not empty: %s", r->out);
}

static void assert_ok(const run *r)
{
    ck_assert_msg(r->rc == 0, "exit %d; stderr: %s; stdout: %s", r->rc, r->err, r->out);
}

static void setup(void)
{
    conn = testlib_db_connect(url);
    testlib_db_truncate(conn, "deliveries, events, target_checks, targets, workspaces");
}

static void teardown(void)
{
    PQfinish(conn);
}

static void exec_ok(const char *sql)
{
    ck_assert_msg(db_exec(conn, sql, err, sizeof err) == 0, "%s: %s", sql, err);
}

static void add_workspace(const char *team, const char *token)
{
    char env[256];
    snprintf(env, sizeof env, "HERALD_SLACK_TOKEN=%s", token);
    run r;
    ctl_run(&r, ARGS(env), NULL, ARGS("workspace", "add", "--team-id", team, "--name", "Acme"));
    assert_ok(&r);
}

/* Runs `target add` with the given flags; returns the printed id. */
static long add_target(const char *const *args)
{
    const char *argv[32] = {"target", "add"};
    size_t n = 2;
    for (const char *const *a = args; *a; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    run r;
    ctl_run(&r, NULL, NULL, argv);
    assert_ok(&r);
    char *end = NULL;
    long id = strtol(r.out, &end, 10);
    ck_assert_msg(id > 0 && !strcmp(end, "\n"), "stdout is not just an id: '%s'", r.out);
    return id;
}

/* ---------------------------------------------------------------- help and usage */

START_TEST(help_on_every_command)
{
    const char *const *cmds[] = {
        ARGS("--help"),
        ARGS("migrate", "--help"),
        ARGS("workspace", "--help"),
        ARGS("workspace", "add", "--help"),
        ARGS("workspace", "list", "--help"),
        ARGS("workspace", "remove", "--help"),
        ARGS("workspace", "share", "--help"),
        ARGS("workspace", "unshare", "--help"),
        ARGS("target", "--help"),
        ARGS("target", "add", "--help"),
        ARGS("target", "list", "--help"),
        ARGS("target", "show", "--help"),
        ARGS("target", "update", "--help"),
        ARGS("target", "remove", "--help"),
        ARGS("deliveries", "--help"),
        ARGS("test", "--help"),
        ARGS("target", "show", "-h"),
        ARGS("token", "--help"),
        ARGS("token", "create", "--help"),
        ARGS("token", "list", "--help"),
        ARGS("token", "revoke", "--help"),
        ARGS("stats", "--help"),
        ARGS("stats", "rebuild", "--help"),
        ARGS("prune", "--help"),
        ARGS("silence", "--help"),
        ARGS("silence", "add", "--help"),
        ARGS("silence", "list", "--help"),
        ARGS("silence", "show", "--help"),
        ARGS("silence", "expire", "--help"),
    };
    /* --help needs no database: point it nowhere. */
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        run r;
        ctl_run(&r, ARGS("HERALD_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none"), NULL,
                cmds[i]);
        ck_assert_msg(r.rc == 0, "%s %s: exit %d: %s", cmds[i][0], cmds[i][1] ? cmds[i][1] : "",
                      r.rc, r.err);
        ck_assert_msg(!strncmp(r.out, "usage: heraldctl", 16), "no usage: %s", r.out);
        ck_assert_msg(r.err[0] == '\0', "stderr: %s", r.err);
    }
    run r;
    ctl_run(&r, NULL, NULL, ARGS("target", "add", "--help"));
    ck_assert_ptr_nonnull(strstr(r.out, "--channel"));
    ck_assert_ptr_nonnull(strstr(r.out, "--checks"));
    ctl_run(&r, NULL, NULL, ARGS("--help"));
    ck_assert_ptr_nonnull(strstr(r.out, "HERALD_SECRET_KEY"));
    ck_assert_ptr_nonnull(strstr(r.out, "deliveries"));
}
END_TEST

START_TEST(usage_errors_exit_2)
{
    run r;
    ctl_run(&r, NULL, NULL, ARGS("frob"));
    assert_usage_error(&r, "unknown command 'frob'");
    ctl_run(&r, NULL, NULL, ARGS("target", "frob"));
    assert_usage_error(&r, "unknown subcommand 'frob'");
    ctl_run(&r, NULL, NULL, ARGS("target"));
    assert_usage_error(&r, "missing subcommand");
    ctl_run(&r, NULL, NULL, ARGS("--bogus", "migrate"));
    assert_usage_error(&r, "--bogus");
    ctl_run(&r, NULL, NULL, ARGS("target", "list", "--bogus"));
    assert_usage_error(&r, "unknown flag '--bogus'");
    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--limit", "lots"));
    assert_usage_error(&r, "--limit: 'lots'");
    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--state", "done"));
    assert_usage_error(&r, "--state: 'done' is not a delivery state");
    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--since", "yesterday"));
    assert_usage_error(&r, "--since: 'yesterday'");
    ctl_run(&r, NULL, NULL, ARGS("target", "show", "abc"));
    assert_usage_error(&r, "'abc' is not a target id");
    ctl_run(&r, NULL, NULL, ARGS("target", "show"));
    assert_usage_error(&r, "missing target id");
    ctl_run(&r, NULL, NULL, ARGS("target", "show", "1", "2"));
    assert_usage_error(&r, "unexpected argument '2'");
    ctl_run(&r, NULL, NULL, ARGS("target", "add", "--workspace", "T1", "--name", "x"));
    assert_usage_error(&r, "--tenant is required");
    ctl_run(&r, NULL, NULL, ARGS("target", "list", "--tenant"));
    assert_usage_error(&r, "--tenant needs a value");
    ctl_run(&r, NULL, NULL, ARGS("target", "update", "1"));
    assert_usage_error(&r, "nothing to change");
    ctl_run(&r, NULL, NULL, ARGS("target", "update", "1", "--enable", "--disable"));
    assert_usage_error(&r, "--enable and --disable");
    ctl_run(&r, NULL, NULL, ARGS("target", "update", "1", "--checks", "a", "--all-checks"));
    assert_usage_error(&r, "--checks and --all-checks");
    ctl_run(&r, NULL, NULL, ARGS("--log-level", "loud", "target", "list"));
    assert_usage_error(&r, "--log-level");
}
END_TEST

START_TEST(database_errors_exit_1)
{
    run r;
    ctl_run(&r, ARGS("HERALD_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none"), NULL,
            ARGS("target", "list"));
    ck_assert_int_eq(r.rc, 1);
    ck_assert_int_eq(lines(r.err), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "database connection failed"));
    ctl_run(&r, NULL, NULL, ARGS("target", "show", "4242"));
    ck_assert_int_eq(r.rc, 1);
    ck_assert_int_eq(lines(r.err), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "no target 4242"));
}
END_TEST

START_TEST(migrate_twice)
{
    /* A database of its own, emptied, so the first run applies everything. */
    char murl[512];
    testlib_db_create("ctl_migrate", murl, sizeof murl);
    PGconn *m = testlib_db_connect(murl);
    ck_assert_int_eq(
        db_exec(m, "DROP SCHEMA public CASCADE; CREATE SCHEMA public", err, sizeof err), 0);
    PQfinish(m);
    int last = herald_migrations[herald_migrations_count - 1].version;
    char env[600], want[128];
    snprintf(env, sizeof env, "HERALD_DATABASE_URL=%s", murl);
    run r;
    ctl_run(&r, ARGS(env), NULL, ARGS("migrate"));
    assert_ok(&r);
    snprintf(want, sizeof want, "applied %zu migration%s (schema version %d)\n",
             herald_migrations_count, herald_migrations_count == 1 ? "" : "s", last);
    ck_assert_str_eq(r.out, want);
    ctl_run(&r, ARGS(env), NULL, ARGS("migrate"));
    assert_ok(&r);
    snprintf(want, sizeof want, "schema up to date (version %d)\n", last);
    ck_assert_str_eq(r.out, want);
    /* --database-url works as well as the variable. */
    ctl_run(&r, ARGS("HERALD_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none"), NULL,
            ARGS("--database-url", murl, "migrate"));
    assert_ok(&r);
    ck_assert_str_eq(r.out, want);
}
END_TEST

/* ---------------------------------------------------------------- workspaces */

START_TEST(workspace_token_never_printed)
{
    run r;
    ctl_run(
        &r, ARGS("HERALD_SLACK_TOKEN=xoxb-1-2-PLAINSECRET"), NULL,
        ARGS("workspace", "add", "--team-id", "T0001", "--name", "Acme", "--bot-user", "U0BOT"));
    assert_ok(&r);
    ck_assert_str_eq(r.out, "workspace T0001 (Acme) added\n");
    ck_assert_ptr_null(strstr(r.err, "PLAINSECRET"));
    /* Stored encrypted: the bytea holds no plaintext, and opens with the key. */
    ck_assert_int_eq(testlib_db_long(conn, "SELECT position('PLAINSECRET'::bytea IN token_enc) "
                                           "FROM workspaces"),
                     0);
    crypto_keyring key[1];
    testlib_keyring(key, KEY_B64, NULL);
    char *token = NULL;
    ck_assert_int_eq(store_workspace_token(conn, key, "T0001", &token, NULL, err, sizeof err),
                     STORE_OK);
    ck_assert_str_eq(token, "xoxb-1-2-PLAINSECRET");
    free(token);

    ctl_run(&r, NULL, NULL, ARGS("workspace", "list"));
    assert_ok(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "T0001"));
    ck_assert_ptr_nonnull(strstr(r.out, "U0BOT"));
    ck_assert_ptr_nonnull(strstr(r.out, "active"));
    ck_assert_ptr_null(strstr(r.out, "xoxb"));
    ctl_run(&r, NULL, NULL, ARGS("workspace", "list", "--json"));
    assert_ok(&r);
    ck_assert_ptr_null(strstr(r.out, "xoxb"));
    cJSON *j = cJSON_Parse(r.out);
    ck_assert(cJSON_IsArray(j));
    ck_assert_int_eq(cJSON_GetArraySize(j), 1);
    cJSON *w = cJSON_GetArrayItem(j, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(w, "team_id")->valuestring, "T0001");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(w, "revoked")));
    cJSON_Delete(j);

    /* Revoked, then reinstalled from stdin: revoked cleared, new token. */
    exec_ok("UPDATE workspaces SET revoked_at = now(), revoked_reason = 'token_revoked'");
    ctl_run(&r, NULL, NULL, ARGS("workspace", "list"));
    ck_assert_ptr_nonnull(strstr(r.out, "revoked (token_revoked)"));
    ctl_run(&r, NULL, "xoxb-STDINSECRET\n",
            ARGS("workspace", "add", "--team-id", "T0001", "--name", "Acme 2", "--token-stdin"));
    assert_ok(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "reinstalled"));
    ck_assert_ptr_null(strstr(r.out, "STDINSECRET"));
    ck_assert_ptr_null(strstr(r.err, "STDINSECRET"));
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM workspaces WHERE revoked_at IS "
                                           "NULL AND revoked_reason IS NULL AND team_name = "
                                           "'Acme 2'"),
                     1);
    ck_assert_int_eq(store_workspace_token(conn, key, "T0001", &token, NULL, err, sizeof err),
                     STORE_OK);
    ck_assert_str_eq(token, "xoxb-STDINSECRET");
    free(token);
}
END_TEST

/* Token rotation: the refresh token is stored sealed with its expiry, never
 * printed; without them a re-add clears both (a reinstall replaces all three). */
START_TEST(workspace_add_with_rotation)
{
    run r;
    ctl_run(&r,
            ARGS("HERALD_SLACK_TOKEN=xoxe.xoxb-1-ROTSECRET",
                 "HERALD_SLACK_REFRESH_TOKEN=xoxe-1-REFRESHSECRET"),
            NULL,
            ARGS("workspace", "add", "--team-id", "T0002", "--name", "Rot", "--token-expires-in",
                 "43200"));
    assert_ok(&r);
    ck_assert_ptr_null(strstr(r.out, "SECRET"));
    ck_assert_ptr_null(strstr(r.err, "SECRET"));
    ck_assert_int_eq(
        testlib_db_long(conn, "SELECT count(*) FROM workspaces WHERE team_id = 'T0002' AND "
                              "position('REFRESHSECRET'::bytea IN refresh_token_enc) = 0 AND "
                              "token_expires_at BETWEEN now() + interval '43000 seconds' AND "
                              "now() + interval '43400 seconds'"),
        1);
    unsigned char key[CRYPTO_KEY_LEN];
    ck_assert_int_eq(crypto_key_from_base64(KEY_B64, key, err, sizeof err), 0);
    char *rt = testlib_db_open_sealed(
        conn, key, "SELECT refresh_token_enc FROM workspaces WHERE team_id = 'T0002'");
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_eq(rt, "xoxe-1-REFRESHSECRET");
    free(rt);
    ctl_run(&r, NULL, NULL, ARGS("workspace", "list", "--json"));
    assert_ok(&r);
    ck_assert_ptr_null(strstr(r.out, "SECRET"));
    cJSON *j = cJSON_Parse(r.out);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "token_rotation")));
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "token_expires_at")));
    cJSON_Delete(j);
    ctl_run(&r, NULL, NULL, ARGS("workspace", "list"));
    assert_ok(&r);
    ck_assert_msg(strstr(r.out, "active (rotating, token expires ") != NULL, "%s", r.out);
    ck_assert_ptr_null(strstr(r.out, "SECRET"));
    /* One without the other is refused, naming both. */
    ctl_run(&r, ARGS("HERALD_SLACK_TOKEN=xoxb-x", "HERALD_SLACK_REFRESH_TOKEN=xoxe-ONLYSECRET"),
            NULL, ARGS("workspace", "add", "--team-id", "T0002", "--name", "Rot"));
    assert_usage_error(&r, "HERALD_SLACK_REFRESH_TOKEN and --token-expires-in");
    ck_assert_ptr_null(strstr(r.err, "ONLYSECRET"));
    /* A reinstall without rotation clears the refresh token and the expiry. */
    ctl_run(&r, ARGS("HERALD_SLACK_TOKEN=xoxb-plain"), NULL,
            ARGS("workspace", "add", "--team-id", "T0002", "--name", "Rot"));
    assert_ok(&r);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM workspaces WHERE team_id = "
                                           "'T0002' AND refresh_token_enc IS NULL AND "
                                           "token_expires_at IS NULL"),
                     1);
}
END_TEST

START_TEST(workspace_add_refusals)
{
    run r;
    /* No key: refused, naming the variable. */
    ctl_run(&r, ARGS("HERALD_SECRET_KEY", "HERALD_SLACK_TOKEN=xoxb-x"), NULL,
            ARGS("workspace", "add", "--team-id", "T1", "--name", "A"));
    assert_usage_error(&r, "HERALD_SECRET_KEY is not set");
    /* A bad key: named, never echoed. */
    ctl_run(&r, ARGS("HERALD_SECRET_KEY=c2hvcnQta2V5LXZhbHVl", "HERALD_SLACK_TOKEN=xoxb-x"), NULL,
            ARGS("workspace", "add", "--team-id", "T1", "--name", "A"));
    assert_usage_error(&r, "HERALD_SECRET_KEY");
    ck_assert_ptr_null(strstr(r.err, "c2hvcnQta2V5LXZhbHVl"));
    /* No token. */
    ctl_run(&r, NULL, NULL, ARGS("workspace", "add", "--team-id", "T1", "--name", "A"));
    assert_usage_error(&r, "HERALD_SLACK_TOKEN");
    ctl_run(&r, NULL, "",
            ARGS("workspace", "add", "--team-id", "T1", "--name", "A", "--token-stdin"));
    assert_usage_error(&r, "--token-stdin: no token");
    /* Missing flags and bad values name the flag; a bad token is never quoted. */
    ctl_run(&r, ARGS("HERALD_SLACK_TOKEN=xoxb-x"), NULL, ARGS("workspace", "add", "--name", "A"));
    assert_usage_error(&r, "--team-id is required");
    ctl_run(&r, ARGS("HERALD_SLACK_TOKEN=xoxb-x"), NULL,
            ARGS("workspace", "add", "--team-id", "T 1", "--name", "A"));
    assert_usage_error(&r, "--team-id: 'T 1' is not a Slack team id");
    ctl_run(&r, ARGS("HERALD_SLACK_TOKEN=xoxb-BAD TOKEN"), NULL,
            ARGS("workspace", "add", "--team-id", "T1", "--name", "A"));
    assert_usage_error(&r, "token: contains whitespace");
    ck_assert_ptr_null(strstr(r.err, "BAD"));
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM workspaces"), 0);
}
END_TEST

START_TEST(workspace_remove_cmd)
{
    add_workspace("T0001", "xoxb-a");
    long id = add_target(ARGS("--tenant", "acme", "--workspace", "T0001", "--name", "alerts",
                              "--channel", "C0001", "--uses", "failed_check"));
    run r;
    ctl_run(&r, NULL, NULL, ARGS("workspace", "remove", "T0001"));
    ck_assert_int_eq(r.rc, 1);
    ck_assert_int_eq(lines(r.err), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "used by 1 target"));
    ck_assert_ptr_nonnull(strstr(r.err, "'alerts'"));
    ck_assert_ptr_nonnull(strstr(r.err, "--force"));
    ctl_run(&r, NULL, NULL, ARGS("workspace", "remove", "T0001", "--force"));
    assert_ok(&r);
    ck_assert_str_eq(r.out, "workspace T0001 removed, with 1 target\n");
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%ld", id);
    ctl_run(&r, NULL, NULL, ARGS("target", "show", idbuf));
    ck_assert_int_eq(r.rc, 1);
    ctl_run(&r, NULL, NULL, ARGS("workspace", "remove", "T0001"));
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "no workspace 'T0001'"));
    ctl_run(&r, NULL, NULL, ARGS("workspace", "remove"));
    assert_usage_error(&r, "missing TEAM_ID");
}
END_TEST

/* ---------------------------------------------------------------- targets */

START_TEST(target_lifecycle)
{
    add_workspace("T0001", "xoxb-a");
    long id = add_target(ARGS("--tenant", "acme", "--workspace", "T0001", "--name",
                              "Security alerts", "--description", "SOC", "--channel", "#sec-alerts",
                              "--uses", "failed_check", "--checks", "weak_mfa,stale_admins"));
    long id2 =
        add_target(ARGS("--tenant", "beta", "--workspace", "T0001", "--name", "ops", "--channel",
                        "ops@example.com", "--uses", "data_collection,failed_check", "--disabled"));
    char ids[24], ids2[24];
    snprintf(ids, sizeof ids, "%ld", id);
    snprintf(ids2, sizeof ids2, "%ld", id2);

    run r;
    ctl_run(&r, NULL, NULL, ARGS("target", "list"));
    assert_ok(&r);
    ck_assert_int_eq(lines(r.out), 3); /* header + 2 */
    ck_assert_ptr_nonnull(strstr(r.out, "Security alerts"));
    ck_assert_ptr_nonnull(strstr(r.out, "stale_admins,weak_mfa"));
    ck_assert_ptr_nonnull(strstr(r.out, "disabled"));
    ctl_run(&r, NULL, NULL, ARGS("target", "list", "--tenant", "beta", "--json"));
    assert_ok(&r);
    cJSON *j = cJSON_Parse(r.out);
    ck_assert(cJSON_IsArray(j));
    ck_assert_int_eq(cJSON_GetArraySize(j), 1);
    cJSON *t = cJSON_GetArrayItem(j, 0);
    ck_assert_int_eq(cJSON_GetObjectItem(t, "id")->valueint, id2);
    ck_assert_str_eq(cJSON_GetObjectItem(t, "destination_kind")->valuestring, "email");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(t, "uses")), 2);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(t, "enabled")));
    cJSON_Delete(j);

    ctl_run(&r, NULL, NULL, ARGS("target", "show", ids));
    assert_ok(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "#sec-alerts (channel name)"));
    ck_assert_ptr_nonnull(strstr(r.out, "stale_admins,weak_mfa"));
    ck_assert_ptr_nonnull(strstr(r.out, "SOC"));
    ck_assert_ptr_nonnull(strstr(r.out, "last error:"));

    /* Flags after the id work too. */
    ctl_run(&r, NULL, NULL,
            ARGS("target", "update", ids, "--name", "Renamed", "--checks", "weak_mfa", "--channel",
                 "C0123ABC", "--disable"));
    assert_ok(&r);
    ck_assert_str_eq(r.out, "target 1 updated\n");
    ctl_run(&r, NULL, NULL, ARGS("target", "show", ids, "--json"));
    assert_ok(&r);
    j = cJSON_Parse(r.out);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "name")->valuestring, "Renamed");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "destination")->valuestring, "C0123ABC");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "description")->valuestring, "SOC");
    cJSON *checks = cJSON_GetObjectItem(j, "checks");
    ck_assert_int_eq(cJSON_GetArraySize(checks), 1);
    ck_assert_str_eq(cJSON_GetArrayItem(checks, 0)->valuestring, "weak_mfa");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "enabled")));
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(j, "health"));
    cJSON_Delete(j);

    /* Dropping failed_check while filtered is refused with a hint, then done with --all-checks. */
    ctl_run(&r, NULL, NULL, ARGS("target", "update", ids, "--uses", "data_collection"));
    assert_usage_error(&r, "--checks: target 1 is limited to 1 check type");
    ck_assert_ptr_nonnull(strstr(r.err, "--all-checks"));
    ctl_run(&r, NULL, NULL,
            ARGS("target", "update", ids, "--uses", "data_collection", "--all-checks", "--enable"));
    assert_ok(&r);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM target_checks"), 0);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets WHERE id = 1 AND enabled "
                                           "AND NOT use_failed_check AND use_data_collection"),
                     1);

    /* The sender's settings (migration 003). */
    ctl_run(&r, NULL, NULL, ARGS("target", "show", ids));
    ck_assert_ptr_nonnull(strstr(r.out, "digest:         on"));
    ck_assert_ptr_nonnull(strstr(r.out, "thread repeats: off"));
    ctl_run(&r, NULL, NULL,
            ARGS("target", "update", ids, "--digest", "off", "--thread-repeats", "on"));
    assert_ok(&r);
    ctl_run(&r, NULL, NULL, ARGS("target", "show", ids, "--json"));
    j = cJSON_Parse(r.out);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "digest")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "thread_repeats")));
    cJSON_Delete(j);
    ctl_run(&r, NULL, NULL, ARGS("target", "update", ids, "--digest", "maybe"));
    assert_usage_error(&r, "--digest: 'maybe' is not on or off");
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets WHERE NOT digest_enabled "
                                           "AND thread_repeats"),
                     1);
    long id3 = add_target(ARGS("--tenant", "acme", "--workspace", "T0001", "--name", "quiet",
                               "--channel", "C0003", "--uses", "failed_check", "--digest", "off"));
    char q[128];
    snprintf(q, sizeof q, "SELECT count(*) FROM targets WHERE id = %ld AND NOT digest_enabled",
             id3);
    ck_assert_int_eq(testlib_db_long(conn, q), 1);

    ctl_run(&r, NULL, NULL, ARGS("target", "remove", ids));
    assert_ok(&r);
    ck_assert_str_eq(r.out, "target 1 removed\n");
    ctl_run(&r, NULL, NULL, ARGS("target", "show", ids));
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "no target 1"));
    ctl_run(&r, NULL, NULL, ARGS("target", "remove", ids));
    ck_assert_int_eq(r.rc, 1);
    ctl_run(&r, NULL, NULL, ARGS("target", "list", "--tenant", "nobody"));
    assert_ok(&r);
    ck_assert_str_eq(r.out, "no targets\n");
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets WHERE deleted_at IS NOT "
                                           "NULL"),
                     1);
}
END_TEST

START_TEST(target_validation_errors)
{
    add_workspace("T0001", "xoxb-a");
    add_target(ARGS("--tenant", "acme", "--workspace", "T0001", "--name", "taken", "--channel",
                    "C0001", "--uses", "failed_check"));
    const struct {
        const char *const *args;
        const char *needle;
    } cases[] = {
        {ARGS("--uses", "failed_checks", "--channel", "C0002", "--name", "n"),
         "--uses: 'failed_checks' is not a use (failed_check, data_collection)"},
        {ARGS("--uses", "failed_check", "--channel", "foo bar", "--name", "n"),
         "--channel: 'foo bar' is not a channel id, #channel or email address"},
        {ARGS("--uses", "failed_check", "--channel", "#Has Spaces", "--name", "n"),
         "--channel: '#Has Spaces' is not"},
        {ARGS("--uses", "data_collection", "--channel", "C0002", "--name", "n", "--checks",
              "weak_mfa"),
         "--checks: a check filter needs the failed_check use (uses is data_collection)"},
        {ARGS("--uses", "failed_check", "--channel", "C0002", "--name", "n", "--checks", "a b"),
         "--checks: 'a b' is not a check type"},
        {ARGS("--uses", "failed_check", "--channel", "C0002", "--name", "taken"),
         "--name: 'taken' is already used by target 1 of tenant 'acme'"},
        {ARGS("--uses", "failed_check", "--channel", "C0002", "--name", ""),
         "--name: must not be empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[32] = {"target", "add", "--tenant", "acme", "--workspace", "T0001"};
        size_t n = 6;
        for (const char *const *a = cases[i].args; *a; a++)
            argv[n++] = *a;
        argv[n] = NULL;
        run r;
        ctl_run(&r, NULL, NULL, argv);
        assert_usage_error(&r, cases[i].needle);
    }
    run r;
    ctl_run(&r, NULL, NULL,
            ARGS("target", "add", "--tenant", "acme", "--workspace", "T0404", "--name", "n",
                 "--channel", "C0002", "--uses", "failed_check"));
    assert_usage_error(&r, "--workspace: no workspace 'T0404' is installed");
    ctl_run(&r, NULL, NULL, ARGS("target", "update", "1", "--channel", "nope"));
    assert_usage_error(&r, "--channel: 'nope' is not");
    ctl_run(&r, NULL, NULL, ARGS("target", "update", "99", "--name", "x"));
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "no target 99"));
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets"), 1);
}
END_TEST

/* ---------------------------------------------------------------- deliveries */

/* ---------------------------------------------------------------- quiet settings and silences */

START_TEST(target_quiet_flags)
{
    add_workspace("T0001", "xoxb-a");
    long id =
        add_target(ARGS("--tenant", "acme", "--workspace", "T0001", "--name", "q", "--channel",
                        "C0001", "--uses", "failed_check", "--min-severity", "high",
                        "--repeat-every", "4h", "--notify-resolved", "off", "--nudge", "on"));
    char ids[24];
    snprintf(ids, sizeof ids, "%ld", id);
    run r;
    ctl_run(&r, NULL, NULL, ARGS("target", "show", ids));
    assert_ok(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "min severity:   high\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "repeat:         interval, every 4h\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "notify resolved: off\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "nudge:          on\n"));
    ctl_run(&r, NULL, NULL, ARGS("target", "list", "--json"));
    assert_ok(&r);
    cJSON *j = cJSON_Parse(r.out);
    cJSON *t = cJSON_GetArrayItem(j, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(t, "min_severity")->valuestring, "high");
    ck_assert_str_eq(cJSON_GetObjectItem(t, "repeat_policy")->valuestring, "interval");
    ck_assert_int_eq(cJSON_GetObjectItem(t, "repeat_interval_seconds")->valueint, 14400);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(t, "notify_resolved")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(t, "nudge_enabled")));
    ck_assert(
        cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "health"), "suppressed_24h")));
    cJSON_Delete(j);

    /* Another policy drops the interval; each flag changes only itself. */
    ctl_run(&r, NULL, NULL,
            ARGS("target", "update", ids, "--repeat", "on_change", "--notify-resolved", "on"));
    assert_ok(&r);
    ctl_run(&r, NULL, NULL, ARGS("target", "show", ids, "--json"));
    j = cJSON_Parse(r.out);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "repeat_policy")->valuestring, "on_change");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "repeat_interval_seconds")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "notify_resolved")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "nudge_enabled")));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "min_severity")->valuestring, "high");
    cJSON_Delete(j);

    /* Bad values: exit 2, one line naming the flag and the value; nothing changed. */
    const struct {
        const char *const *args;
        const char *needle;
    } cases[] = {
        {ARGS("target", "update", ids, "--min-severity", "urgent"),
         "--min-severity: 'urgent': expected low, medium, high or critical"},
        {ARGS("target", "update", ids, "--repeat", "sometimes"),
         "--repeat: 'sometimes': expected every, on_change or interval"},
        {ARGS("target", "update", ids, "--repeat-every", "30s"),
         "--repeat-every: '30s': at least 1m"},
        {ARGS("target", "update", ids, "--repeat-every", "31d"),
         "--repeat-every: '31d': at most 30d"},
        {ARGS("target", "update", ids, "--repeat-every", "soon"), "--repeat-every: 'soon'"},
        {ARGS("target", "update", ids, "--repeat", "interval"),
         "--repeat-every: required with repeat_policy interval"},
        {ARGS("target", "update", ids, "--repeat", "every", "--repeat-every", "1h"),
         "--repeat-every: only with repeat_policy interval"},
        {ARGS("target", "update", ids, "--nudge", "yes"), "--nudge: 'yes' is not on or off"},
        {ARGS("target", "update", ids, "--notify-resolved", "1"),
         "--notify-resolved: '1' is not on or off"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ctl_run(&r, NULL, NULL, cases[i].args);
        assert_usage_error(&r, cases[i].needle);
    }
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets WHERE min_severity = "
                                           "'high' AND repeat_policy = 'on_change' AND "
                                           "nudge_enabled AND notify_resolved"),
                     1);
}
END_TEST

START_TEST(silence_commands)
{
    add_workspace("T0001", "xoxb-a");
    long id = add_target(ARGS("--tenant", "acme", "--workspace", "T0001", "--name", "q",
                              "--channel", "C0001", "--uses", "failed_check"));
    char ids[24];
    snprintf(ids, sizeof ids, "%ld", id);
    run r;
    ctl_run(&r, ARGS("USER=alice"), NULL,
            ARGS("silence", "add", "--tenant", "acme", "--check", "weak_mfa", "--target", ids,
                 "--for", "2h", "--reason", "maintenance window"));
    assert_ok(&r);
    long sid = strtol(r.out, NULL, 10);
    ck_assert_int_gt(sid, 0);
    char sids[24];
    snprintf(sids, sizeof sids, "%ld", sid);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM silences WHERE author = "
                                           "'cli:alice' AND ends_at - starts_at = interval "
                                           "'2 hours' AND check_type = 'weak_mfa'"),
                     1);
    ctl_run(&r, NULL, NULL,
            ARGS("silence", "add", "--tenant", "acme", "--workspace", "T0001", "--forever",
                 "--reason", "mute"));
    assert_ok(&r);
    ctl_run(&r, NULL, NULL,
            ARGS("silence", "add", "--tenant", "acme", "--check", "no_mfa", "--until",
                 "2099-12-07T10:00:00Z", "--reason", "later"));
    assert_ok(&r);

    ctl_run(&r, NULL, NULL, ARGS("silence", "list", "--tenant", "acme"));
    assert_ok(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "check weak_mfa, target 1 (q)"));
    ck_assert_ptr_nonnull(strstr(r.out, "never (mute)"));
    ck_assert_ptr_nonnull(strstr(r.out, "2099-12-07 10:00:00Z"));
    ck_assert_ptr_nonnull(strstr(r.out, "cli:alice"));
    ck_assert_int_eq(lines(r.out), 4);
    ctl_run(&r, NULL, NULL, ARGS("silence", "show", sids, "--json"));
    assert_ok(&r);
    cJSON *j = cJSON_Parse(r.out);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "tenant_id")->valuestring, "acme");
    ck_assert_int_eq(cJSON_GetObjectItem(j, "target_id")->valueint, id);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "reason")->valuestring, "maintenance window");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "active")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "expired_at")));
    cJSON_Delete(j);

    /* Expire, then again: it says so and changes nothing. */
    ctl_run(&r, ARGS("USER=bob"), NULL, ARGS("silence", "expire", sids));
    assert_ok(&r);
    ck_assert_str_eq(r.out, "silence 1 expired\n");
    ctl_run(&r, ARGS("USER=carol"), NULL, ARGS("silence", "expire", sids));
    assert_ok(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "silence 1 had already expired at "));
    ck_assert_ptr_nonnull(strstr(r.out, " by cli:bob\n"));
    ctl_run(&r, NULL, NULL, ARGS("silence", "list"));
    ck_assert_int_eq(lines(r.out), 3);
    ctl_run(&r, NULL, NULL, ARGS("silence", "list", "--all", "--json"));
    j = cJSON_Parse(r.out);
    ck_assert_int_eq(cJSON_GetArraySize(j), 3);
    cJSON_Delete(j);
    ctl_run(&r, NULL, NULL, ARGS("silence", "expire", "999"));
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "no silence 999"));

    const struct {
        const char *const *args;
        const char *needle;
    } cases[] = {
        {ARGS("silence", "add", "--tenant", "acme", "--check", "x", "--reason", "r"),
         "exactly one of --for DURATION, --until TIME or --forever"},
        {ARGS("silence", "add", "--tenant", "acme", "--check", "x", "--for", "1h", "--forever",
              "--reason", "r"),
         "exactly one of"},
        {ARGS("silence", "add", "--tenant", "acme", "--for", "1h", "--reason", "r"),
         "--check/--target/--workspace: give at least one"},
        {ARGS("silence", "add", "--tenant", "acme", "--check", "weak mfa", "--for", "1h",
              "--reason", "r"),
         "--check: 'weak mfa' is not a check type"},
        {ARGS("silence", "add", "--tenant", "acme", "--target", "999", "--for", "1h", "--reason",
              "r"),
         "--target: tenant 'acme' has no target 999"},
        {ARGS("silence", "add", "--tenant", "acme", "--workspace", "T0404", "--for", "1h",
              "--reason", "r"),
         "--workspace: workspace 'T0404' is not linked to tenant 'acme'"},
        {ARGS("silence", "add", "--tenant", "acme", "--check", "x", "--until",
              "2020-01-01T00:00:00Z", "--reason", "r"),
         "--until: 2020-01-01T00:00:00.000Z is not in the future"},
        {ARGS("silence", "add", "--tenant", "acme", "--check", "x", "--until", "tomorrow",
              "--reason", "r"),
         "--until: 'tomorrow' is not an RFC 3339 time"},
        {ARGS("silence", "add", "--tenant", "acme", "--check", "x", "--for", "1h"),
         "--reason is required"},
        {ARGS("silence", "add", "--tenant", "acme", "--check", "x", "--for", "1h", "--reason", ""),
         "--reason: must not be empty"},
        {ARGS("silence", "expire", "abc"), "'abc' is not a silence id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ctl_run(&r, NULL, NULL, cases[i].args);
        assert_usage_error(&r, cases[i].needle);
    }
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM silences"), 3);
}
END_TEST

START_TEST(deliveries_filtering)
{
    add_workspace("T0001", "xoxb-a");
    add_target(ARGS("--tenant", "acme", "--workspace", "T0001", "--name", "a1", "--channel",
                    "C0001", "--uses", "failed_check"));
    add_target(ARGS("--tenant", "beta", "--workspace", "T0001", "--name", "b1", "--channel",
                    "C0002", "--uses", "data_collection"));
    exec_ok("INSERT INTO events (event_id, tenant_id, kind, check_type, payload) VALUES "
            "('00000000-0000-4000-8000-000000000001', 'acme', 'check_result', 'weak_mfa', '{}'),"
            "('00000000-0000-4000-8000-000000000002', 'acme', 'check_result', 'stale_admins', "
            "'{}'),"
            "('00000000-0000-4000-8000-000000000003', 'beta', 'collection_event', NULL, "
            "'{\"integration\": {\"id\": \"okta\", \"name\": \"Okta\"}, \"status\": \"failed\"}')");
    exec_ok(
        "INSERT INTO deliveries (event_id, target_id, tenant_id, state, attempts, slack_channel, "
        "slack_ts, last_error_code, last_error, created_at) VALUES "
        "('00000000-0000-4000-8000-000000000001', 1, 'acme', 'sent', 1, 'C0001', '17.000100', "
        " NULL, NULL, now() - interval '3 hours'),"
        "('00000000-0000-4000-8000-000000000002', 1, 'acme', 'failed', 3, NULL, NULL, "
        " 'channel_not_found', 'the channel C0001 does not exist: point the target at a channel "
        "that exists, or recreate it (the reason is printed in full)', "
        " now() - interval '1 minute'),"
        "('00000000-0000-4000-8000-000000000003', 2, 'beta', 'pending', 0, NULL, NULL, NULL, "
        " NULL, now())");
    run r;
    ctl_run(&r, NULL, NULL, ARGS("deliveries"));
    assert_ok(&r);
    ck_assert_int_eq(lines(r.out), 4);
    /* Newest first: beta's pending one is on the first data line. */
    char *first = strchr(r.out, '\n') + 1;
    ck_assert_msg(!strncmp(first, "3 ", 2) && strstr(first, "pending"), "%s", r.out);
    ck_assert_ptr_nonnull(strstr(r.out, "collection Okta failed"));
    ck_assert_ptr_nonnull(strstr(r.out, "check weak_mfa"));
    ck_assert_ptr_nonnull(strstr(r.out, "C0001/17.000100"));
    ck_assert_ptr_nonnull(strstr(r.out, "channel_not_found: the channel C0001 does not exist"));
    /* Regression: the reason was cut at 70 characters, before what to do. */
    ck_assert_ptr_nonnull(strstr(r.out, "or recreate it (the reason is printed in full)\n"));

    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--tenant", "acme"));
    assert_ok(&r);
    ck_assert_int_eq(lines(r.out), 3);
    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--state", "failed"));
    assert_ok(&r);
    ck_assert_int_eq(lines(r.out), 2);
    ck_assert_ptr_nonnull(strstr(r.out, "channel_not_found"));
    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--target", "2"));
    assert_ok(&r);
    ck_assert_int_eq(lines(r.out), 2);
    ck_assert_ptr_nonnull(strstr(r.out, "2 b1"));
    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--since", "1h"));
    assert_ok(&r);
    ck_assert_int_eq(lines(r.out), 3);
    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--tenant", "nobody"));
    assert_ok(&r);
    ck_assert_str_eq(r.out, "no deliveries\n");

    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--limit", "2", "--json"));
    assert_ok(&r);
    cJSON *j = cJSON_Parse(r.out);
    ck_assert(cJSON_IsArray(j));
    ck_assert_int_eq(cJSON_GetArraySize(j), 2);
    cJSON *d = cJSON_GetArrayItem(j, 1);
    ck_assert_str_eq(cJSON_GetObjectItem(d, "state")->valuestring, "failed");
    ck_assert_str_eq(cJSON_GetObjectItem(d, "error_code")->valuestring, "channel_not_found");
    ck_assert_int_eq(cJSON_GetObjectItem(d, "attempts")->valueint, 3);
    ck_assert_str_eq(cJSON_GetObjectItem(d, "check_type")->valuestring, "stale_admins");
    cJSON_Delete(j);
    /* Keyset: older than delivery 2 is delivery 1 alone. */
    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--before", "2", "--json"));
    assert_ok(&r);
    j = cJSON_Parse(r.out);
    ck_assert_int_eq(cJSON_GetArraySize(j), 1);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "id")->valueint, 1);
    cJSON_Delete(j);
    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--limit", "1", "--offset", "2", "--json"));
    assert_ok(&r);
    j = cJSON_Parse(r.out);
    ck_assert_int_eq(cJSON_GetArraySize(j), 1);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "state")->valuestring, "sent");
    cJSON_Delete(j);

    /* Suppressed with its reason, and a resolve of the first notification (migration 010). */
    exec_ok("UPDATE deliveries SET state = 'suppressed', last_error_code = 'below_min_severity', "
            "last_error = 'severity medium is below the target''s floor high' WHERE id = 2");
    exec_ok("INSERT INTO events (event_id, tenant_id, kind, check_type, payload) VALUES "
            "('00000000-0000-4000-8000-000000000004', 'acme', 'check_result', 'weak_mfa', '{}')");
    exec_ok("INSERT INTO deliveries (event_id, target_id, tenant_id, state, kind, ref_event_id) "
            "VALUES ('00000000-0000-4000-8000-000000000004', 1, 'acme', 'pending', 'resolve', "
            "'00000000-0000-4000-8000-000000000001')");
    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--state", "suppressed"));
    assert_ok(&r);
    ck_assert_int_eq(lines(r.out), 2);
    ck_assert_ptr_nonnull(
        strstr(r.out, "below_min_severity: severity medium is below the target's floor high"));
    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--kind", "resolve"));
    assert_ok(&r);
    ck_assert_int_eq(lines(r.out), 2);
    ck_assert_ptr_nonnull(strstr(r.out, "resolve check weak_mfa of 00000000"));
    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--kind", "resolve", "--json"));
    j = cJSON_Parse(r.out);
    d = cJSON_GetArrayItem(j, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(d, "kind")->valuestring, "resolve");
    ck_assert_str_eq(cJSON_GetObjectItem(d, "ref_event_id")->valuestring,
                     "00000000-0000-4000-8000-000000000001");
    cJSON_Delete(j);
    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--state", "quiet"));
    assert_usage_error(&r, "--state: 'quiet' is not a delivery state (pending, sending, "
                           "retrying, sent, failed or suppressed)");
    ctl_run(&r, NULL, NULL, ARGS("deliveries", "--kind", "ping"));
    assert_usage_error(&r, "--kind: 'ping' is not a delivery kind");
}
END_TEST

/* ---------------------------------------------------------------- test (fake Slack) */

static testlib_fake_slack slack;

/* Starts tests/support/fake-slack with a state file of one workspace. */
static void fake_slack_start(void)
{
    char state[] = "/tmp/heraldctl-slack-XXXXXX";
    int sfd = mkstemp(state);
    ck_assert_int_ge(sfd, 0);
    const char *js =
        "{\"workspaces\": [{\"id\": \"T1\", \"name\": \"Acme\", \"tokens\": [\"xoxb-good\"],"
        "   \"revoked_tokens\": [\"xoxb-dead\"], \"bot_user_id\": \"UB1\", \"bot_id\": \"B1\"}],"
        " \"channels\": [{\"id\": \"C0001\", \"name\": \"alerts\", \"team\": \"T1\","
        "   \"private\": false, \"member\": true},"
        "  {\"id\": \"G0002\", \"name\": \"secret\", \"team\": \"T1\", \"private\": true,"
        "   \"member\": false}],"
        " \"users\": [{\"id\": \"U0ANN\", \"email\": \"ann@example.com\", \"name\": \"ann\","
        "   \"team\": \"T1\"}]}";
    ck_assert_int_eq(write(sfd, js, strlen(js)), (ssize_t)strlen(js));
    close(sfd);
    static const char *const quiet[] = {"--log-level", "warn", NULL};
    testlib_fake_slack_start(state, quiet, &slack);
    unlink(state);
}

static void fake_slack_stop(void)
{
    testlib_fake_slack_stop(&slack);
}

typedef struct sink {
    char *buf;
    size_t size, len;
} sink;

static size_t sink_write(char *data, size_t size, size_t nmemb, void *user)
{
    sink *k = user;
    size_t n = size * nmemb;
    if (k->len + n >= k->size)
        return 0;
    memcpy(k->buf + k->len, data, n);
    k->len += n;
    k->buf[k->len] = '\0';
    return n;
}

/* GETs url into buf (NUL-terminated); asserts HTTP 200. */
static void fetch(const char *url_, char *buf, size_t size)
{
    sink k = {buf, size, 0};
    buf[0] = '\0';
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    curl_easy_setopt(c, CURLOPT_URL, url_);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    ck_assert_int_eq(status, 200);
    curl_easy_cleanup(c);
}

static void test_target(run *r, long id)
{
    char env[300], ids[24];
    snprintf(env, sizeof env, "HERALD_SLACK_API_URL=%s", slack.api_url);
    snprintf(ids, sizeof ids, "%ld", id);
    ctl_run(r, ARGS(env), NULL, ARGS("test", ids));
}

START_TEST(test_command_against_fake_slack)
{
    fake_slack_start();
    add_workspace("T1", "xoxb-good");
    add_workspace("T2", "xoxb-dead");
    long by_id = add_target(ARGS("--tenant", "acme", "--workspace", "T1", "--name", "by id",
                                 "--channel", "C0001", "--uses", "failed_check"));
    long by_name = add_target(ARGS("--tenant", "acme", "--workspace", "T1", "--name", "by name",
                                   "--channel", "#alerts", "--uses", "failed_check"));
    long by_mail = add_target(ARGS("--tenant", "acme", "--workspace", "T1", "--name", "by mail",
                                   "--channel", "ann@example.com", "--uses", "failed_check"));
    long nobody = add_target(ARGS("--tenant", "acme", "--workspace", "T1", "--name", "nobody",
                                  "--channel", "nobody@example.com", "--uses", "failed_check"));
    long private_ch = add_target(ARGS("--tenant", "acme", "--workspace", "T1", "--name", "private",
                                      "--channel", "G0002", "--uses", "failed_check"));
    long unknown = add_target(ARGS("--tenant", "acme", "--workspace", "T1", "--name", "unknown",
                                   "--channel", "C0999", "--uses", "failed_check"));
    long dead = add_target(ARGS("--tenant", "acme", "--workspace", "T2", "--name", "dead",
                                "--channel", "C0001", "--uses", "failed_check"));
    run r;

    test_target(&r, by_id);
    assert_ok(&r);
    ck_assert_msg(!strncmp(r.out, "ok: ", 4) && strstr(r.out, "channel C0001, ts "), "%s", r.out);
    ck_assert_ptr_null(strstr(r.out, "xoxb"));
    ck_assert_ptr_null(strstr(r.err, "xoxb"));
    test_target(&r, by_name);
    assert_ok(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "channel C0001"));
    test_target(&r, by_mail);
    assert_ok(&r);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets WHERE name = 'by mail' "
                                           "AND destination_resolved = 'U0ANN'"),
                     1);
    /* Three sent deliveries of kind test, each with Slack's channel and ts. */
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM deliveries d JOIN events e USING "
                                           "(event_id) WHERE e.kind = 'test' AND d.state = 'sent' "
                                           "AND d.slack_ts IS NOT NULL AND d.attempts = 1"),
                     3);

    test_target(&r, nobody);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_msg(!strncmp(r.out, "error: users_not_found: ", 24), "%s", r.out);
    ck_assert_ptr_nonnull(strstr(r.out, "nobody@example.com"));
    test_target(&r, private_ch);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_msg(!strncmp(r.out, "error: not_in_channel: ", 23), "%s", r.out);
    test_target(&r, unknown);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_msg(!strncmp(r.out, "error: channel_not_found: ", 26), "%s", r.out);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM deliveries WHERE state = "
                                           "'failed' AND last_error_code IN ('users_not_found', "
                                           "'not_in_channel', 'channel_not_found') AND "
                                           "last_error <> ''"),
                     3);

    /* A dead token: Slack's code, the workspace is marked, the next test does not call Slack. */
    test_target(&r, dead);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_msg(!strncmp(r.out, "error: token_revoked: ", 22), "%s", r.out);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM workspaces WHERE team_id = 'T2' "
                                           "AND revoked_reason = 'token_revoked'"),
                     1);
    test_target(&r, dead);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_msg(!strncmp(r.out, "error: token_revoked: ", 22), "%s", r.out);

    /* What the fake Slack received: exactly the three accepted test messages. */
    char murl[512];
    snprintf(murl, sizeof murl, "%s/_fake/messages", slack.base_url);
    static char body[65536];
    fetch(murl, body, sizeof body);
    cJSON *msgs = cJSON_Parse(body);
    ck_assert_msg(msgs != NULL, "not JSON: %s", body);
    cJSON *arr = cJSON_IsArray(msgs) ? msgs : cJSON_GetObjectItem(msgs, "messages");
    ck_assert_int_eq(cJSON_GetArraySize(arr), 3);
    ck_assert_ptr_nonnull(strstr(body, "Test message from Herald"));
    cJSON_Delete(msgs);

    /* Usage: no key, not an id, unknown target. */
    ctl_run(&r, ARGS("HERALD_SECRET_KEY"), NULL, ARGS("test", "1"));
    assert_usage_error(&r, "HERALD_SECRET_KEY");
    ctl_run(&r, NULL, NULL, ARGS("test", "one"));
    assert_usage_error(&r, "'one' is not a target id");
    test_target(&r, 999);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "no target 999"));
    fake_slack_stop();
}
END_TEST

/* Token rotation: an expired rotating token is refreshed with the app's
 * credentials before the test; without them the test fails as token_expired
 * but the installation is not revoked (its refresh token still works). */
START_TEST(test_command_refreshes_a_rotating_token)
{
    fake_slack_start();
    char st[512];
    snprintf(st, sizeof st,
             "{\"workspaces\":[{\"id\":\"T1\",\"name\":\"Acme\",\"tokens\":[\"xoxb-rot\"],"
             "\"refresh_tokens\":[\"xoxe-rot\"],\"token_expiry\":{\"xoxb-rot\":%ld}}],"
             "\"oauth\":{\"client_id\":\"cid\",\"client_secret\":\"csecret\",\"rotation\":true}}",
             (long)time(NULL) - 5);
    cJSON_Delete(testlib_fake_slack_control(&slack, "/_fake/state", st));
    crypto_keyring key[1];
    testlib_keyring(key, KEY_B64, NULL);
    store_workspace_input in = {.team_id = "T1",
                                .team_name = "Acme",
                                .token = "xoxb-rot",
                                .refresh_token = "xoxe-rot",
                                .expires_in = 3600};
    ck_assert_int_eq(store_workspace_put(conn, key, &in, NULL, err, sizeof err), STORE_OK);
    long id = add_target(ARGS("--tenant", "acme", "--workspace", "T1", "--name", "rot", "--channel",
                              "C0001", "--uses", "failed_check"));
    char ids[24], env[300];
    snprintf(ids, sizeof ids, "%ld", id);
    snprintf(env, sizeof env, "HERALD_SLACK_API_URL=%s", slack.api_url);
    /* No client credentials: Slack's token_expired, and the workspace stays usable. */
    run r;
    ctl_run(&r, ARGS(env), NULL, ARGS("test", ids));
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.out, "error: token_expired: "));
    ck_assert_ptr_nonnull(strstr(r.out, "HERALD_SLACK_CLIENT_ID"));
    ck_assert_int_eq(
        testlib_db_long(conn, "SELECT count(*) FROM workspaces WHERE revoked_at IS NULL"), 1);
    /* The expiry is known now: refreshed first, then sent. */
    exec_ok("UPDATE workspaces SET token_expires_at = now() - interval '1 second'");
    ctl_run(&r, ARGS(env, "HERALD_SLACK_CLIENT_ID=cid", "HERALD_SLACK_CLIENT_SECRET=csecret"), NULL,
            ARGS("test", ids));
    ck_assert_msg(r.rc == 0, "%s %s", r.out, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "ok: "));
    ck_assert_ptr_null(strstr(r.out, "xox"));
    ck_assert_ptr_null(strstr(r.err, "xox"));
    ck_assert_ptr_null(strstr(r.err, "csecret"));
    char *rt =
        testlib_db_open_sealed(conn, key->current, "SELECT refresh_token_enc FROM workspaces");
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_ne(rt, "xoxe-rot");
    free(rt);
    fake_slack_stop();
}
END_TEST

/* Regression: a test right after a burst to the same channel failed with
 * "ratelimited: ... it will be retried later" (nothing retried it). Five
 * tests in a row all arrive, waiting out the 429s: the one fake Slack is told
 * to answer first (next_429), and any of its pacing (a message a second per
 * channel, a burst of three). */
START_TEST(test_command_waits_out_429)
{
    fake_slack_start();
    add_workspace("T1", "xoxb-good");
    long id = add_target(ARGS("--tenant", "acme", "--workspace", "T1", "--name", "busy",
                              "--channel", "C0001", "--uses", "failed_check"));
    cJSON_Delete(testlib_fake_slack_control(&slack, "/_fake/faults",
                                            "{\"next_429\":1,\"retry_after\":1,"
                                            "\"methods\":[\"chat.postMessage\"]}"));
    run r;
    bool waited = false;
    for (int i = 0; i < 5; i++) {
        test_target(&r, id);
        assert_ok(&r);
        ck_assert_msg(!strncmp(r.out, "ok: ", 4), "test %d: %s", i + 1, r.out);
        if (strstr(r.err, "rate-limited"))
            waited = true;
    }
    ck_assert_msg(waited, "no 429 was met: fake Slack's next_429 fault did not apply?");
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM deliveries WHERE state = 'sent'"),
                     5);
    char murl[512];
    snprintf(murl, sizeof murl, "%s/_fake/messages?channel=C0001", slack.base_url);
    static char body[65536];
    fetch(murl, body, sizeof body);
    cJSON *msgs = cJSON_Parse(body);
    ck_assert_msg(msgs != NULL, "not JSON: %s", body);
    ck_assert_int_eq(cJSON_GetArraySize(msgs), 5);
    cJSON_Delete(msgs);
    fake_slack_stop();
}
END_TEST

/* ---------------------------------------------------------------- stats rebuild, prune */

START_TEST(stats_rebuild_and_prune_cmds)
{
    add_workspace("T0001", "xoxb-a");
    add_target(ARGS("--tenant", "acme", "--workspace", "T0001", "--name", "a1", "--channel",
                    "C0001", "--uses", "failed_check"));
    /* 30 old deliveries (10 of them pending) and 5 recent, each with its event. */
    exec_ok("WITH g AS (SELECT i, gen_random_uuid() AS eid, CASE WHEN i <= 30 THEN now() - "
            "interval '100 days' ELSE now() END - i * interval '1 minute' AS at "
            "FROM generate_series(1, 35) i), "
            "e AS (INSERT INTO events (event_id, tenant_id, kind, payload, received_at) "
            "SELECT eid, 'acme', 'test', '{}', at FROM g) "
            "INSERT INTO deliveries (event_id, target_id, tenant_id, state, created_at) "
            "SELECT eid, 1, 'acme', CASE WHEN i <= 10 THEN 'pending' ELSE 'sent' END, at FROM g");
    exec_ok("INSERT INTO delivery_stats_hourly VALUES "
            "(1, date_trunc('hour', now() - interval '500 days'), 'sent', '', 7, 0)");
    run r;
    ctl_run(&r, NULL, NULL, ARGS("prune", "--dry-run"));
    assert_ok(&r);
    ck_assert_str_eq(r.out, "would delete 20 deliveries, 20 events, 1 stats rows, 0 slack "
                            "actions, 0 silences (retention 90d, stats retention 400d)\n");
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM deliveries"), 35);
    /* The environment sets the defaults. */
    ctl_run(&r, ARGS("HERALD_RETENTION=200d", "HERALD_STATS_RETENTION=600d"), NULL,
            ARGS("prune", "--dry-run"));
    assert_ok(&r);
    ck_assert_str_eq(r.out, "would delete 0 deliveries, 0 events, 0 stats rows, 0 slack "
                            "actions, 0 silences (retention 200d, stats retention 600d)\n");
    ctl_run(&r, NULL, NULL, ARGS("prune"));
    assert_ok(&r);
    ck_assert_msg(!strncmp(r.out,
                           "deleted 20 deliveries, 20 events, 1 stats rows, 0 slack actions, "
                           "0 silences (retention 90d, stats retention 400d) in ",
                           117),
                  "%s", r.out);
    ck_assert_int_eq(lines(r.out), 1);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM deliveries"), 15);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM events"), 15);
    ck_assert_int_eq(
        testlib_db_long(conn, "SELECT rows FROM maintenance_runs WHERE task = 'retention'"), 41);

    /* Rebuild after corrupting the rollups: the counts come back. */
    exec_ok("UPDATE delivery_stats_hourly SET n = n + 100");
    ctl_run(&r, NULL, NULL, ARGS("stats", "rebuild"));
    assert_ok(&r);
    ck_assert_msg(strstr(r.out, "rebuilt rollups from ") && strstr(r.out, " 5 deliveries counted"),
                  "%s", r.out);
    ck_assert_int_eq(lines(r.out), 1);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT sum(n) FROM delivery_stats_hourly "
                                           "WHERE hour > now() - interval '1 day'"),
                     5);
    ctl_run(&r, NULL, NULL, ARGS("stats", "rebuild", "--since", "2h"));
    assert_ok(&r);
    ck_assert_ptr_nonnull(strstr(r.out, " 5 deliveries counted"));
    ctl_run(&r, NULL, NULL, ARGS("stats", "rebuild", "--since", "2026-01-01T00:00:00Z"));
    assert_ok(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "rebuilt rollups from 2026-01-01 00:00:00Z"));

    /* Bad values: one line naming the flag, exit 2. */
    ctl_run(&r, NULL, NULL, ARGS("stats", "rebuild", "--since", "lately"));
    assert_usage_error(&r, "--since: 'lately'");
    ctl_run(&r, NULL, NULL, ARGS("stats", "rebuild", "--until", "2h"));
    assert_usage_error(&r, "--until");
    ctl_run(&r, NULL, NULL, ARGS("stats", "frobnicate"));
    assert_usage_error(&r, "frobnicate");
    ctl_run(&r, NULL, NULL, ARGS("prune", "--retention", "forever"));
    assert_usage_error(&r, "--retention: 'forever'");
    ctl_run(&r, ARGS("HERALD_RETENTION=soon"), NULL, ARGS("prune"));
    assert_usage_error(&r, "HERALD_RETENTION");
    ctl_run(&r, NULL, NULL, ARGS("prune", "--retention", "30d", "--stats-retention", "7d"));
    assert_usage_error(&r, "--stats-retention (7d) must not be shorter than --retention (30d)");

    /* Another prune holding the lock: refused, exit 1. */
    exec_ok("SELECT pg_advisory_lock(7522766424955663726)");
    ctl_run(&r, NULL, NULL, ARGS("prune"));
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(r.err, "heraldctl prune: another prune is running\n");
    exec_ok("SELECT pg_advisory_unlock(7522766424955663726)");
}
END_TEST

/* ---------------------------------------------------------------- remediation and tenant */

/* `remediation list --tenant acme --json` parsed; the caller cJSON_Deletes it. */
static cJSON *remediations_json(void)
{
    run r;
    ctl_run(&r, NULL, NULL, ARGS("remediation", "list", "--tenant", "acme", "--json"));
    assert_ok(&r);
    cJSON *j = cJSON_Parse(r.out);
    ck_assert_msg(cJSON_IsArray(j), "not a JSON array: %s", r.out);
    return j;
}

static const cJSON *remediation_item(const cJSON *list, const char *type)
{
    const cJSON *it;
    cJSON_ArrayForEach(
        it, list) if (!strcmp(cJSON_GetObjectItem(it, "check_type")->valuestring, type)) return it;
    ck_abort_msg("%s not listed", type);
    return NULL;
}

START_TEST(remediation_cmds)
{
    testlib_db_truncate(conn, "remediations, check_types");
    exec_ok("INSERT INTO check_types (tenant_id, check_type, check_name) VALUES "
            "('acme', 'weak_mfa', 'Weak MFA'), ('acme', 'odd_check', 'Odd')");
    run r;
    ctl_run(&r, NULL, NULL, ARGS("remediation", "list", "--tenant", "acme"));
    assert_ok(&r);
    ck_assert_msg(strstr(r.out, "CHECK_TYPE") && strstr(r.out, "weak_mfa") &&
                      strstr(r.out, "odd_check"),
                  "%s", r.out);
    ctl_run(&r, NULL, NULL,
            ARGS("remediation", "set", "--tenant", "acme", "--check", "weak_mfa", "--text",
                 "Use *Okta Verify*: https://help.acme.example/mfa_setup"));
    assert_ok(&r);
    ctl_run(&r, NULL, "Line one\nLine two\n\n",
            ARGS("remediation", "set", "--tenant", "acme", "--check", "odd_check", "--text-stdin"));
    assert_ok(&r);
    cJSON *j = remediations_json();
    const cJSON *w = remediation_item(j, "weak_mfa"), *o = remediation_item(j, "odd_check");
    ck_assert_str_eq(cJSON_GetObjectItem(w, "text")->valuestring,
                     "Use *Okta Verify*: https://help.acme.example/mfa_setup");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(w, "is_default")));
    ck_assert_msg(!strncmp(cJSON_GetObjectItem(w, "updated_by")->valuestring, "cli:", 4), "%s",
                  cJSON_GetObjectItem(w, "updated_by")->valuestring);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "text")->valuestring, "Line one\nLine two");
    cJSON_Delete(j);
    ctl_run(&r, NULL, NULL,
            ARGS("remediation", "reset", "--tenant", "acme", "--check", "weak_mfa"));
    assert_ok(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "reset to the default"));
    j = remediations_json();
    w = remediation_item(j, "weak_mfa");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(w, "is_default")));
    ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(w, "text")->valuestring, "authenticator"));
    cJSON_Delete(j);

    /* Bad values: exit 2, one line naming the flag, nothing stored. */
    ctl_run(&r, NULL, NULL, ARGS("remediation", "set", "--tenant", "acme", "--text", "x"));
    assert_usage_error(&r, "--check is required");
    ctl_run(&r, NULL, NULL, ARGS("remediation", "set", "--check", "weak_mfa", "--text", "x"));
    assert_usage_error(&r, "--tenant is required");
    ctl_run(&r, NULL, NULL,
            ARGS("remediation", "set", "--tenant", "acme", "--check", "bad type", "--text", "x"));
    assert_usage_error(&r, "--check: 'bad type' is not a check type");
    ctl_run(&r, NULL, NULL,
            ARGS("remediation", "set", "--tenant", "acme", "--check", "weak_mfa", "--text", " "));
    assert_usage_error(&r, "--text: must not be empty");
    ctl_run(&r, NULL, "x",
            ARGS("remediation", "set", "--tenant", "acme", "--check", "weak_mfa", "--text", "x",
                 "--text-stdin"));
    assert_usage_error(&r, "exactly one of --text and --text-stdin");
    ctl_run(&r, NULL, NULL, ARGS("remediation", "list", "--tenant", "a b"));
    assert_usage_error(&r, "--tenant: 'a b'");
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM remediations"), 1);
}
END_TEST

START_TEST(tenant_actions_cmds)
{
    testlib_db_truncate(conn, "tenant_settings");
    run r;
    const char *const *helps[] = {
        ARGS("remediation", "--help"),        ARGS("remediation", "list", "--help"),
        ARGS("remediation", "set", "--help"), ARGS("remediation", "reset", "--help"),
        ARGS("tenant", "actions", "--help"),  ARGS("tenant", "show", "--help"),
    };
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
        ctl_run(&r, ARGS("HERALD_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none"), NULL,
                helps[i]);
        ck_assert_msg(r.rc == 0 && !strncmp(r.out, "usage: heraldctl", 16), "%s %s: %d %s",
                      helps[i][0], helps[i][1], r.rc, r.out);
    }
    ctl_run(&r, NULL, NULL, ARGS("tenant", "show", "--tenant", "acme"));
    assert_ok(&r);
    ck_assert_msg(strstr(r.out, "slack actions:  channel (default)"), "%s", r.out);
    ctl_run(&r, NULL, NULL,
            ARGS("tenant", "actions", "--tenant", "acme", "--who", "listed", "--users",
                 "W0BBB,U0AAA", "--groups", "S0SEC"));
    assert_ok(&r);
    ctl_run(&r, NULL, NULL, ARGS("tenant", "show", "--tenant", "acme", "--json"));
    assert_ok(&r);
    cJSON *j = cJSON_Parse(r.out);
    ck_assert_msg(j != NULL, "%s", r.out);
    const cJSON *a = cJSON_GetObjectItem(j, "slack_actions");
    ck_assert_str_eq(cJSON_GetObjectItem(a, "who")->valuestring, "listed");
    char *users = cJSON_PrintUnformatted(cJSON_GetObjectItem(a, "users"));
    ck_assert_str_eq(users, "[\"U0AAA\",\"W0BBB\"]");
    free(users);
    ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "groups"), 0)->valuestring, "S0SEC");
    cJSON_Delete(j);

    ctl_run(&r, NULL, NULL, ARGS("tenant", "actions", "--tenant", "acme", "--who", "everyone"));
    assert_usage_error(&r, "--who: 'everyone' is not channel, listed or none");
    ctl_run(&r, NULL, NULL,
            ARGS("tenant", "actions", "--tenant", "acme", "--who", "listed", "--users", "u0aaa"));
    assert_usage_error(&r, "--users: 'u0aaa' is not a Slack user id");
    ctl_run(&r, NULL, NULL,
            ARGS("tenant", "actions", "--tenant", "acme", "--who", "listed", "--groups", "G0AB"));
    assert_usage_error(&r, "--groups: 'G0AB' is not a Slack user group id");
    ctl_run(&r, NULL, NULL, ARGS("tenant", "actions", "--tenant", "acme", "--who", "listed"));
    assert_usage_error(&r, "--who: listed needs at least one user or user group");
    ctl_run(&r, NULL, NULL,
            ARGS("tenant", "actions", "--tenant", "acme", "--who", "none", "--users", "U0AAA"));
    assert_usage_error(&r, "--users: only with who listed");
    ctl_run(&r, NULL, NULL, ARGS("tenant", "actions", "--who", "none"));
    assert_usage_error(&r, "--tenant is required");
    /* Still what was set last. */
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM tenant_settings WHERE "
                                           "slack_actions = 'listed' AND "
                                           "action_users = '{U0AAA,W0BBB}'"),
                     1);
    ctl_run(&r, NULL, NULL, ARGS("tenant", "actions", "--tenant", "acme", "--who", "none"));
    assert_ok(&r);
    ctl_run(&r, NULL, NULL, ARGS("tenant", "show", "--tenant", "acme"));
    assert_ok(&r);
    ck_assert_msg(strstr(r.out, "slack actions:  none\n") && strstr(r.out, "action users:   -"),
                  "%s", r.out);
}
END_TEST

/* `secrets rotate`: with the new key as HERALD_SECRET_KEY and the old one as
 * _PREVIOUS, every row (v1 or v2 under the old key) is re-sealed, then the
 * new key alone opens them; a row neither opens fails the run naming its
 * team id, never a value. `migrate` re-seals v1 rows too. Keys from files;
 * both a variable and its file: one line naming both. */
START_TEST(secrets_rotate_and_migrate)
{
    static const char *NEW_B64 = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    unsigned char old[CRYPTO_KEY_LEN], third[CRYPTO_KEY_LEN];
    ck_assert_int_eq(crypto_key_from_base64(KEY_B64, old, err, sizeof err), 0);
    ck_assert_int_eq(crypto_key_from_base64("AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=", third,
                                            err, sizeof err),
                     0);
    char *v1 = testlib_sealed_token_hex(old, "xoxb-ONESECRET");
    char *q = testlib_fmt("INSERT INTO workspaces (team_id, team_name, token_enc) VALUES "
                          "('T0001', 'One', '%s')",
                          v1);
    testlib_db_exec(conn, q);
    free(q);
    free(v1);
    run r;
    /* migrate with the (old) key: the v1 row becomes v2. */
    ctl_run(&r, NULL, NULL, ARGS("migrate"));
    ck_assert_msg(r.rc == 0, "%s %s", r.out, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "re-sealed 1 workspace under HERALD_SECRET_KEY"));
    ck_assert_int_eq(testlib_db_long(conn, "SELECT get_byte(token_enc, 0) FROM workspaces"), 2);

    /* Rotate to NEW, the old key as _PREVIOUS, given as files. */
    char newf[] = "/tmp/herald-newkey-XXXXXX", oldf[] = "/tmp/herald-oldkey-XXXXXX";
    int nfd = mkstemp(newf), ofd = mkstemp(oldf);
    ck_assert(nfd >= 0 && ofd >= 0);
    ck_assert_int_gt(write(nfd, NEW_B64, strlen(NEW_B64)), 0);
    ck_assert_int_gt(write(nfd, "\n", 1), 0);
    ck_assert_int_gt(write(ofd, KEY_B64, strlen(KEY_B64)), 0);
    close(nfd);
    close(ofd);
    char *envk = testlib_fmt("HERALD_SECRET_KEY_FILE=%s", newf);
    char *envp = testlib_fmt("HERALD_SECRET_KEY_PREVIOUS_FILE=%s", oldf);
    /* Both the variable and the file: one line naming both, no value. */
    ctl_run(&r, ARGS(envk), NULL, ARGS("secrets", "rotate"));
    assert_usage_error(&r, "HERALD_SECRET_KEY and HERALD_SECRET_KEY_FILE are both set");
    ck_assert_ptr_null(strstr(r.err, KEY_B64));

    ctl_run(&r, ARGS("HERALD_SECRET_KEY", envk, envp), NULL, ARGS("secrets", "rotate"));
    ck_assert_msg(r.rc == 0, "%s %s", r.out, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "re-sealed 1 workspace under HERALD_SECRET_KEY"));
    ck_assert_ptr_nonnull(strstr(r.out, "0 already current; 0 unreadable"));
    crypto_keyring fresh[1];
    testlib_keyring(fresh, NEW_B64, NULL);
    char *token = NULL;
    ck_assert_int_eq(store_workspace_token(conn, fresh, "T0001", &token, NULL, err, sizeof err),
                     STORE_OK);
    ck_assert_str_eq(token, "xoxb-ONESECRET");
    crypto_free_secret(token);

    /* A row sealed with a key nobody has: exit 1, its team id, no value. */
    char *lost = testlib_sealed_token_hex(third, "xoxb-LOSTSECRET");
    q = testlib_fmt("INSERT INTO workspaces (team_id, team_name, token_enc) VALUES "
                    "('T0009', 'Lost', '%s')",
                    lost);
    testlib_db_exec(conn, q);
    free(q);
    free(lost);
    char *envn = testlib_fmt("HERALD_SECRET_KEY=%s", NEW_B64);
    ctl_run(&r, ARGS(envn), NULL, ARGS("secrets", "rotate"));
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.out, "0 workspaces under"));
    ck_assert_ptr_nonnull(strstr(r.out, "1 already current; 1 unreadable"));
    ck_assert_ptr_nonnull(strstr(r.err, "workspace T0009: neither HERALD_SECRET_KEY"));
    ck_assert_ptr_null(strstr(r.out, "SECRET\n"));
    ck_assert_ptr_null(strstr(r.err, "LOSTSECRET"));
    ck_assert_ptr_null(strstr(r.out, NEW_B64));
    ck_assert_ptr_null(strstr(r.err, NEW_B64));
    /* A wrong length: the variable named, never the value. */
    ctl_run(&r, ARGS("HERALD_SECRET_KEY_PREVIOUS=c2hvcnQta2V5LXZhbHVl"), NULL,
            ARGS("secrets", "rotate"));
    assert_usage_error(&r, "HERALD_SECRET_KEY_PREVIOUS decodes to 15 bytes");
    ck_assert_ptr_null(strstr(r.err, "c2hvcnQta2V5LXZhbHVl"));
    unlink(newf);
    unlink(oldf);
    free(envk);
    free(envp);
    free(envn);
}
END_TEST

/* ---------------------------------------------------------------- issue 11: sharing */

/* Rows of workspace_tenants for team and tenant. */
static long links(const char *team, const char *tenant)
{
    const char *p[2] = {team, tenant};
    PGresult *r = PQexecParams(conn,
                               "SELECT count(*) FROM workspace_tenants WHERE team_id = $1 AND "
                               "tenant_id = $2",
                               2, NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

START_TEST(workspace_share_cmds)
{
    add_workspace("T0001", "xoxb-a");
    run r;
    ctl_run(&r, NULL, NULL, ARGS("workspace", "share", "T0001", "--tenant", "globex"));
    assert_ok(&r);
    ck_assert_str_eq(r.out, "workspace T0001 shared with tenant globex\n");
    ck_assert_int_eq(links("T0001", "globex"), 1);
    ctl_run(&r, NULL, NULL, ARGS("workspace", "share", "T0001", "--tenant", "globex"));
    assert_ok(&r); /* again: a no-op */
    add_target(ARGS("--tenant", "globex", "--workspace", "T0001", "--name", "g", "--channel",
                    "C0001", "--uses", "failed_check"));
    ctl_run(&r, NULL, NULL, ARGS("workspace", "unshare", "T0001", "--tenant", "globex"));
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "used by 1 target of tenant 'globex'"));
    ck_assert_ptr_nonnull(strstr(r.err, "--force"));
    ck_assert_int_eq(links("T0001", "globex"), 1);
    ctl_run(&r, NULL, NULL, ARGS("workspace", "unshare", "T0001", "--tenant", "globex", "--force"));
    assert_ok(&r);
    ck_assert_str_eq(r.out, "workspace T0001 unshared from tenant globex, with 1 target\n");
    ck_assert_int_eq(links("T0001", "globex"), 0);
    ctl_run(&r, NULL, NULL, ARGS("workspace", "unshare", "T0001", "--tenant", "globex"));
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "not linked"));
    ctl_run(&r, NULL, NULL, ARGS("workspace", "share", "T0NOPE", "--tenant", "globex"));
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "no workspace 'T0NOPE'"));
    ctl_run(&r, NULL, NULL, ARGS("workspace", "share", "T0001"));
    assert_usage_error(&r, "--tenant is required");
    ctl_run(&r, NULL, NULL, ARGS("workspace", "share", "T0001", "--tenant", "a b"));
    assert_usage_error(&r, "--tenant: 'a b' is not a tenant id");
    ctl_run(&r, NULL, NULL, ARGS("workspace", "share", "--tenant", "globex"));
    assert_usage_error(&r, "missing TEAM_ID");
}
END_TEST

int main(void)
{
    testlib_db_create("heraldctl", url, sizeof url);
    testlib_program("workers", "heraldctl", ctl, sizeof ctl);
    if (access(ctl, X_OK) != 0) {
        fprintf(stderr, "test_heraldctl: %s is not built\n", ctl);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("heraldctl");
    TCase *tc = tcase_create("heraldctl");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, help_on_every_command);
    tcase_add_test(tc, usage_errors_exit_2);
    tcase_add_test(tc, database_errors_exit_1);
    tcase_add_test(tc, migrate_twice);
    tcase_add_test(tc, workspace_token_never_printed);
    tcase_add_test(tc, workspace_add_refusals);
    tcase_add_test(tc, workspace_add_with_rotation);
    tcase_add_test(tc, workspace_remove_cmd);
    tcase_add_test(tc, target_lifecycle);
    tcase_add_test(tc, target_validation_errors);
    tcase_add_test(tc, target_quiet_flags);
    tcase_add_test(tc, silence_commands);
    tcase_add_test(tc, deliveries_filtering);
    tcase_add_test(tc, test_command_against_fake_slack);
    tcase_add_test(tc, test_command_waits_out_429);
    tcase_add_test(tc, test_command_refreshes_a_rotating_token);
    tcase_add_test(tc, stats_rebuild_and_prune_cmds);
    tcase_add_test(tc, remediation_cmds);
    tcase_add_test(tc, tenant_actions_cmds);
    tcase_add_test(tc, secrets_rotate_and_migrate);
    tcase_add_test(tc, workspace_share_cmds);
    suite_add_tcase(s, tc);
    int failed = testlib_run_suite(s) != EXIT_SUCCESS;
    fake_slack_stop();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
