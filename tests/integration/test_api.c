/*
 * herald-api end to end over HTTP: the real herald-api binary, the fake Slack
 * (tests/support/fake_slack.c) and PostgreSQL. Covers the OAuth install flow
 * (and every way its state can be wrong), authentication on every endpoint,
 * CSRF, tenant isolation, target validation, bad bodies, test messages,
 * deliveries pagination, the checks page API, /metrics, /healthz and a
 * graceful stop.
 */
#include "testlib.h"

#include "store/apitoken.h"

#include <check.h>
#include <cJSON.h>
#include <curl/curl.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char db_url[512];
static testlib_fake_slack slack;
static char api_base[256];
static pid_t api_pid;
static char api_log[256]; /* herald-api's stderr, at debug level */
static char tok_acme[APITOKEN_TEXT_LEN + 1], tok_globex[APITOKEN_TEXT_LEN + 1],
    tok_op[APITOKEN_TEXT_LEN + 1], tok_initech[APITOKEN_TEXT_LEN + 1];
#define SECRET_KEY "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" /* 32 bytes, base64 */
#define MAX_BODY   4096

/* ================================================================ processes */

/* Outside a test (setup in main) ck_assert cannot report: say it and stop. */
static bool in_setup = true;
#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (in_setup) {                                                                            \
            if (!(cond)) {                                                                         \
                fprintf(stderr, "setup: " __VA_ARGS__);                                            \
                fputc('\n', stderr);                                                               \
                exit(EXIT_FAILURE);                                                                \
            }                                                                                      \
        } else {                                                                                   \
            ck_assert_msg(cond, __VA_ARGS__);                                                      \
        }                                                                                          \
    } while (0)

/* Starts prog with argv and extra environment (NAME=VALUE, NULL-terminated)
 * and its stderr appended to err_path (NULL: inherited); returns its pid and
 * the first line of its stdout in line. */
static pid_t spawn(const char *prog, char *const argv[], char *const env[], const char *err_path,
                   char *line, size_t line_size)
{
    int fds[2];
    REQUIRE(pipe(fds) == 0, "pipe");
    pid_t pid = fork();
    REQUIRE(pid >= 0, "fork");
    if (pid == 0) {
        dup2(fds[1], 1);
        if (err_path) {
            int fd = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (fd >= 0)
                dup2(fd, 2);
        }
        close(fds[0]);
        close(fds[1]);
        for (size_t i = 0; env && env[i]; i++)
            putenv(env[i]);
        execv(prog, argv);
        perror(prog);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    if (!fgets(line, (int)line_size, f)) {
        fprintf(stderr, "%s printed nothing (did it start?)\n", prog);
        abort();
    }
    line[strcspn(line, "\r\n")] = '\0';
    /* Keep reading in the background would need a thread; the programs
     * print one line only, so the pipe can simply stay open. */
    return pid;
}

static void start_all(void)
{
    static const char *const slack_args[] = {"--rate", "0", NULL};
    testlib_fake_slack_start(NULL, slack_args, &slack);

    static char e_db[600], e_api[400], e_auth[400];
    snprintf(e_db, sizeof e_db, "HERALD_DATABASE_URL=%s", db_url);
    snprintf(e_api, sizeof e_api, "HERALD_SLACK_API_URL=%s", slack.api_url);
    snprintf(e_auth, sizeof e_auth, "HERALD_SLACK_AUTHORIZE_URL=%s/oauth/v2/authorize",
             slack.base_url);
    char *env[] = {e_db,
                   e_api,
                   e_auth,
                   "HERALD_SECRET_KEY=" SECRET_KEY, /* NOLINT(bugprone-suspicious-missing-comma) */
                   "HERALD_SLACK_CLIENT_ID=fake-client-id",
                   "HERALD_SLACK_CLIENT_SECRET=fake-client-secret",
                   "HERALD_PUBLIC_URL=",
                   "HERALD_LOG_LEVEL=debug", /* everything it could say: see no_secrets_in_logs */
                   NULL};
    char prog[1024];
    testlib_program("workers", "herald-api", prog, sizeof prog);
    /* Every endpoint is tried with a bad token from this one address: the
     * per-address limit is test_api_limits.c's to check. */
    char *aargv[] = {prog,         "--listen", "127.0.0.1:0",
                     "--max-body", "4096",     "--auth-failures-per-minute",
                     "1000",       NULL};
    snprintf(api_log, sizeof api_log, "/tmp/herald-test-api-%ld.log", (long)getpid());
    unlink(api_log);
    printf("herald-api's log: %s\n", api_log);
    api_pid = spawn(prog, aargv, env, api_log, api_base, sizeof api_base);
}

/* ================================================================ HTTP */

typedef struct resp {
    long status;
    char *body;
    size_t len;
    char headers[16384];
    size_t hlen;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    r->body = realloc(r->body, r->len + sz * n + 1);
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = sz * n, room = sizeof r->headers - 1 - r->hlen;
    size_t take = len < room ? len : room;
    memcpy(r->headers + r->hlen, p, take);
    r->hlen += take;
    r->headers[r->hlen] = '\0';
    return len;
}

typedef struct req_opts {
    const char *token;   /* Authorization: Bearer */
    const char *cookies; /* Cookie: header value */
    const char *csrf;    /* X-CSRF-Token */
    const char *origin;  /* Origin */
    const char *ctype;   /* Content-Type (default application/json with a body) */
} req_opts;

static void http(const char *method, const char *url, const char *body, const req_opts *o, resp *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    struct curl_slist *hs = NULL;
    char h[1024];
    if (o && o->token) {
        snprintf(h, sizeof h, "Authorization: Bearer %s", o->token);
        hs = curl_slist_append(hs, h);
    }
    if (o && o->cookies)
        curl_easy_setopt(c, CURLOPT_COOKIE, o->cookies);
    if (o && o->csrf) {
        snprintf(h, sizeof h, "X-CSRF-Token: %s", o->csrf);
        hs = curl_slist_append(hs, h);
    }
    if (o && o->origin) {
        snprintf(h, sizeof h, "Origin: %s", o->origin);
        hs = curl_slist_append(hs, h);
    }
    if (body) {
        snprintf(h, sizeof h, "Content-Type: %s", o && o->ctype ? o->ctype : "application/json");
        hs = curl_slist_append(hs, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    CURLcode rc = curl_easy_perform(c);
    REQUIRE(rc == CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    if (!r->body)
        r->body = calloc(1, 1);
}

static void api(const char *method, const char *path, const char *body, const char *token, resp *r)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", api_base, path);
    req_opts o = {.token = token};
    http(method, url, body, &o, r);
}

static void resp_free(resp *r)
{
    free(r->body);
    r->body = NULL;
}

static cJSON *json_of(const resp *r)
{
    cJSON *j = cJSON_Parse(r->body);
    ck_assert_msg(j != NULL, "not JSON: %s", r->body);
    return j;
}

static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* A header's value (first occurrence) into out; false when absent. */
static bool header(const resp *r, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    for (const char *p = r->headers; (p = find_ci(p, name)) != NULL; p += nl) {
        if ((p != r->headers && p[-1] != '\n') || p[nl] != ':')
            continue;
        const char *v = p + nl + 1;
        while (*v == ' ')
            v++;
        size_t l = strcspn(v, "\r\n");
        snprintf(out, size, "%.*s", (int)l, v);
        return true;
    }
    return false;
}

/* The value a Set-Cookie gives name; false when not set. */
static bool set_cookie(const resp *r, const char *name, char *out, size_t size)
{
    char pat[128];
    snprintf(pat, sizeof pat, "Set-Cookie: %s=", name);
    const char *p = find_ci(r->headers, pat);
    if (!p)
        return false;
    p += strlen(pat);
    size_t l = strcspn(p, ";\r\n");
    snprintf(out, size, "%.*s", (int)l, p);
    return true;
}

/* ================================================================ helpers */

typedef struct session {
    char sid[128];
    char csrf[128];
} session;

static void login(const char *token, session *s)
{
    char url[512], body[256];
    snprintf(url, sizeof url, "%s/api/v1/session", api_base);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", token);
    resp r;
    http("POST", url, body, NULL, &r);
    REQUIRE(r.status == 200, "login: %ld %s", r.status, r.body);
    REQUIRE(set_cookie(&r, "herald_session", s->sid, sizeof s->sid), "no session cookie");
    REQUIRE(strstr(r.headers, "HttpOnly") != NULL, "cookie not HttpOnly");
    REQUIRE(strstr(r.headers, "SameSite=Lax") != NULL, "cookie not SameSite");
    cJSON *j = cJSON_Parse(r.body);
    REQUIRE(j && cJSON_IsString(cJSON_GetObjectItem(j, "csrf")), "login: no csrf: %s", r.body);
    snprintf(s->csrf, sizeof s->csrf, "%s", cJSON_GetObjectItem(j, "csrf")->valuestring);
    cJSON_Delete(j);
    resp_free(&r);
}

/* Runs /slack/install as the session; returns the callback URL the fake
 * Slack sends the browser to, and the browser-binding cookie. */
static void install_begin(const session *s, char *callback, size_t cb_size, char *oauth_cookie,
                          size_t oc_size)
{
    char url[512], cookies[512], loc[2048], form[256];
    snprintf(url, sizeof url, "%s/slack/install", api_base);
    snprintf(cookies, sizeof cookies, "herald_session=%s", s->sid);
    req_opts o = {.cookies = cookies};
    resp r;
    /* GET is the confirmation page; its form POSTs with the CSRF token. */
    http("GET", url, NULL, &o, &r);
    ck_assert_msg(r.status == 200, "confirmation page: %ld %s", r.status, r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "id=\"install-confirm\""));
    ck_assert_ptr_null(find_ci(r.headers, "Location:"));
    resp_free(&r);
    snprintf(form, sizeof form, "csrf=%s&tenant=", s->csrf);
    req_opts po = {
        .cookies = cookies, .origin = api_base, .ctype = "application/x-www-form-urlencoded"};
    http("POST", url, form, &po, &r);
    ck_assert_msg(r.status == 302, "install POST: %ld %s", r.status, r.body);
    ck_assert(header(&r, "Location", loc, sizeof loc));
    char want[512];
    snprintf(want, sizeof want,
             "%s/oauth/v2/authorize?client_id=fake-client-id&scope=chat%%3Awrite", slack.base_url);
    ck_assert_msg(strncmp(loc, want, strlen(want)) == 0, "authorize URL: %s", loc);
    ck_assert_ptr_nonnull(strstr(loc, "&redirect_uri=http%3A%2F%2F127.0.0.1%3A"));
    ck_assert_ptr_nonnull(strstr(loc, "&state="));
    ck_assert(set_cookie(&r, "herald_oauth", oauth_cookie, oc_size));
    ck_assert_ptr_nonnull(strstr(r.headers, "Max-Age=600"));
    resp_free(&r);
    /* The fake Slack's authorize page sends the browser straight back. */
    http("GET", loc, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 302);
    ck_assert(header(&r, "Location", callback, cb_size));
    resp_free(&r);
}

static void install_finish(const char *callback, const session *s, const char *oauth_cookie,
                           resp *r)
{
    char cookies[512];
    snprintf(cookies, sizeof cookies, "herald_session=%s; herald_oauth=%s", s->sid,
             oauth_cookie ? oauth_cookie : "");
    req_opts o = {.cookies = cookies};
    http("GET", callback, NULL, &o, r);
}

static void install_ok(const session *s)
{
    char cb[2048], oc[128];
    install_begin(s, cb, sizeof cb, oc, sizeof oc);
    resp r;
    install_finish(cb, s, oc, &r);
    ck_assert_msg(r.status == 303, "callback: %ld %s", r.status, r.body);
    char loc[512];
    ck_assert(header(&r, "Location", loc, sizeof loc));
    const char *want = "/console/new-target.html?workspace=T0FAKE01&installed=";
    ck_assert_msg(strncmp(loc, want, strlen(want)) == 0, "%s", loc);
    resp_free(&r);
}

static void fake_post(const char *path, const char *body)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", slack.base_url, path);
    resp r;
    http("POST", url, body, NULL, &r);
    ck_assert_msg(r.status == 200, "fake %s: %ld %s", path, r.status, r.body);
    resp_free(&r);
}

static PGconn *db(void)
{
    return testlib_db_connect(db_url);
}

static void sql(const char *q)
{
    PGconn *c = db();
    PGresult *r = PQexec(c, q);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", q, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* Creates a target as token; returns its id (asserts 201). */
static long create_target(const char *token, const char *body)
{
    resp r;
    api("POST", "/api/v1/targets", body, token, &r);
    ck_assert_msg(r.status == 201, "create: %ld %s", r.status, r.body);
    cJSON *j = json_of(&r);
    long id = (long)cJSON_GetObjectItem(j, "id")->valuedouble;
    cJSON_Delete(j);
    resp_free(&r);
    return id;
}

static void expect_error(const char *method, const char *path, const char *body, const char *token,
                         long status, const char *field, const char *text)
{
    resp r;
    api(method, path, body, token, &r);
    ck_assert_msg(r.status == status, "%s %s %s: want %ld, got %ld %s", method, path,
                  body ? body : "", status, r.status, r.body);
    cJSON *j = json_of(&r);
    const cJSON *e = cJSON_GetObjectItem(j, "error");
    ck_assert_msg(cJSON_IsString(e) && (!text || strstr(e->valuestring, text)),
                  "%s %s: error '%s' lacks '%s'", method, path, r.body, text ? text : "");
    if (field) {
        const cJSON *f = cJSON_GetObjectItem(j, "field");
        ck_assert_msg(cJSON_IsString(f) && strcmp(f->valuestring, field) == 0,
                      "%s %s: field is not %s: %s", method, path, field, r.body);
    }
    cJSON_Delete(j);
    resp_free(&r);
}

/* herald-api's log so far (malloc'd). */
static char *read_log(void)
{
    FILE *f = fopen(api_log, "r");
    ck_assert_msg(f != NULL, "cannot read %s", api_log);
    size_t cap = 1 << 20, n = 0, got;
    char *log = malloc(cap + 1);
    while ((got = fread(log + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(log, (cap *= 2) + 1);
            ck_assert_ptr_nonnull(bigger);
            log = bigger;
        }
    }
    log[n] = '\0';
    fclose(f);
    return log;
}

/* ================================================================ install flow */

static session acme_s;

START_TEST(install_flow_and_reinstall)
{
    install_ok(&acme_s);
    resp r;
    api("GET", "/api/v1/workspaces", NULL, tok_acme, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"team_id\":\"T0FAKE01\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\"team_name\":\"Fake Workspace\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\"revoked\":false"));
    ck_assert_ptr_null(strstr(r.body, "xoxb")); /* never a token */
    resp_free(&r);
    /* Show with health: auth.test runs against Slack. */
    api("GET", "/api/v1/workspaces/T0FAKE01", NULL, tok_acme, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"auth_test\":{\"ok\":true"));
    resp_free(&r);
    /* Reinstalling clears an earlier revoked state. */
    sql("UPDATE workspaces SET revoked_at = now(), revoked_reason = 'token_revoked'");
    api("GET", "/api/v1/workspaces", NULL, tok_acme, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"revoked\":true"));
    resp_free(&r);
    install_ok(&acme_s);
    api("GET", "/api/v1/workspaces", NULL, tok_acme, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"revoked\":false"));
    resp_free(&r);
}
END_TEST

static void expect_page(const resp *r, long status, const char *text)
{
    ck_assert_msg(r->status == status, "want %ld, got %ld: %s", status, r->status, r->body);
    ck_assert_ptr_nonnull(strstr(r->headers, "text/html"));
    ck_assert_msg(strstr(r->body, text) != NULL, "page lacks '%s': %s", text, r->body);
}

START_TEST(install_state_reused)
{
    char cb[2048], oc[128];
    install_begin(&acme_s, cb, sizeof cb, oc, sizeof oc);
    resp r;
    install_finish(cb, &acme_s, oc, &r);
    ck_assert_int_eq(r.status, 303);
    resp_free(&r);
    install_finish(cb, &acme_s, oc, &r);
    expect_page(&r, 400, "already used");
    resp_free(&r);
}
END_TEST

START_TEST(install_state_missing_or_unknown)
{
    char url[512];
    resp r;
    snprintf(url, sizeof url, "%s/slack/oauth/callback?code=abc", api_base);
    http("GET", url, NULL, NULL, &r);
    expect_page(&r, 400, "no state parameter");
    resp_free(&r);
    snprintf(url, sizeof url, "%s/slack/oauth/callback?code=abc&state=forged", api_base);
    http("GET", url, NULL, NULL, &r);
    expect_page(&r, 400, "not one Herald issued");
    resp_free(&r);
}
END_TEST

START_TEST(install_state_mismatched)
{
    char cb[2048], oc[128];
    install_begin(&acme_s, cb, sizeof cb, oc, sizeof oc);
    resp r;
    /* Another browser: its own binding cookie, or none at all. */
    install_finish(cb, &acme_s, "someone-elses-cookie", &r);
    expect_page(&r, 400, "another browser");
    resp_free(&r);
    install_begin(&acme_s, cb, sizeof cb, oc, sizeof oc);
    install_finish(cb, &acme_s, NULL, &r);
    expect_page(&r, 400, "another browser");
    resp_free(&r);
}
END_TEST

START_TEST(install_state_expired)
{
    char cb[2048], oc[128];
    install_begin(&acme_s, cb, sizeof cb, oc, sizeof oc);
    sql("UPDATE oauth_states SET expires_at = now() - interval '1 second' WHERE used_at IS NULL");
    resp r;
    install_finish(cb, &acme_s, oc, &r);
    expect_page(&r, 400, "more than 10 minutes old");
    resp_free(&r);
}
END_TEST

START_TEST(install_access_denied)
{
    fake_post("/_fake/state", "{\"oauth\":{\"client_id\":\"fake-client-id\",\"client_secret\":"
                              "\"fake-client-secret\",\"team\":\"T0FAKE01\",\"deny\":true}}");
    char cb[2048], oc[128];
    install_begin(&acme_s, cb, sizeof cb, oc, sizeof oc);
    ck_assert_ptr_nonnull(strstr(cb, "error=access_denied"));
    resp r;
    install_finish(cb, &acme_s, oc, &r);
    expect_page(&r, 400, "cancelled in Slack");
    resp_free(&r);
    fake_post("/_fake/state", "{\"oauth\":{\"client_id\":\"fake-client-id\",\"client_secret\":"
                              "\"fake-client-secret\",\"team\":\"T0FAKE01\",\"deny\":false}}");
}
END_TEST

/* Regression: the error Slack sends back (any text: the browser brings it)
 * was logged as is, so a newline in it forged a log line. */
START_TEST(install_error_cannot_forge_log_lines)
{
    char cb[2048], oc[128], url[2300];
    install_begin(&acme_s, cb, sizeof cb, oc, sizeof oc);
    snprintf(url, sizeof url,
             "%s&error=x%%0A2026-01-01T00:00:00Z%%20ERROR%%20herald-api:%%20FORGED", cb);
    resp r;
    install_finish(url, &acme_s, oc, &r);
    expect_page(&r, 400, "cancelled in Slack");
    resp_free(&r);
    char *log = read_log();
    ck_assert_ptr_null(strstr(log, "\n2026-01-01T00:00:00Z ERROR herald-api: FORGED"));
    ck_assert_ptr_nonnull(strstr(log, "(x?2026-01-01T00:00:00Z ERROR herald-api: FORGED)"));
    free(log);
}
END_TEST

START_TEST(install_needs_sign_in)
{
    char url[512], loc[512];
    snprintf(url, sizeof url, "%s/slack/install", api_base);
    resp r;
    http("GET", url, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 303);
    ck_assert(header(&r, "Location", loc, sizeof loc));
    ck_assert_str_eq(loc, "/console/login.html?next=%2Fslack%2Finstall");
    resp_free(&r);
}
END_TEST

/* ================================================================ auth */

START_TEST(auth_required_on_every_endpoint)
{
    static const char *const eps[][2] = {
        {"GET", "/api/v1/session"},
        {"DELETE", "/api/v1/session"},
        {"GET", "/api/v1/workspaces"},
        {"GET", "/api/v1/workspaces/T0FAKE01"},
        {"DELETE", "/api/v1/workspaces/T0FAKE01"},
        {"GET", "/api/v1/workspaces/T0FAKE01/channels"},
        {"GET", "/api/v1/targets"},
        {"POST", "/api/v1/targets"},
        {"GET", "/api/v1/targets/1"},
        {"PATCH", "/api/v1/targets/1"},
        {"DELETE", "/api/v1/targets/1"},
        {"POST", "/api/v1/targets/1/test"},
        {"GET", "/api/v1/targets/1/health"},
        {"GET", "/api/v1/targets/1/deliveries"},
        {"GET", "/api/v1/targets/1/activity"},
        {"GET", "/api/v1/activity"},
        {"GET", "/api/v1/deliveries"},
        {"GET", "/api/v1/deliveries/1"},
        {"GET", "/api/v1/health"},
        {"GET", "/api/v1/checks"},
        {"PUT", "/api/v1/checks/weak_mfa/targets"},
        {"GET", "/api/v1/silences"},
        {"POST", "/api/v1/silences"},
        {"GET", "/api/v1/silences/1"},
        {"POST", "/api/v1/silences/1/expire"},
    };
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
        resp r;
        const char *body =
            strcmp(eps[i][0], "GET") != 0 && strcmp(eps[i][0], "DELETE") != 0 ? "{}" : NULL;
        api(eps[i][0], eps[i][1], body, NULL, &r);
        ck_assert_msg(r.status == 401, "%s %s without auth: %ld", eps[i][0], eps[i][1], r.status);
        ck_assert_ptr_nonnull(strstr(r.body, "authentication required"));
        resp_free(&r);
        api(eps[i][0], eps[i][1], body, "hrld_notavalidtokenatallnotavalidtokenatallnota", &r);
        ck_assert_msg(r.status == 401, "%s %s with a bad token: %ld", eps[i][0], eps[i][1],
                      r.status);
        resp_free(&r);
    }
    /* Pages send the browser to sign in. */
    static const char *const pages[] = {"/console/", "/console/target.html", "/console/checks.html",
                                        "/console/new-target.html"};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        resp r;
        api("GET", pages[i], NULL, NULL, &r);
        ck_assert_msg(r.status == 303, "%s: %ld", pages[i], r.status);
        ck_assert_ptr_nonnull(strstr(r.headers, "Location: /console/login.html?next="));
        resp_free(&r);
    }
    /* The sign-in page and the static files are public. */
    resp r;
    api("GET", "/console/login.html", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "id=\"login-form\""));
    resp_free(&r);
    api("GET", "/console/app.js", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    api("GET", "/console/../../etc/passwd", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    resp_free(&r);
}
END_TEST

START_TEST(sessions_and_csrf)
{
    session s;
    login(tok_acme, &s);
    char url[512], cookies[256];
    snprintf(cookies, sizeof cookies, "herald_session=%s", s.sid);
    resp r;
    snprintf(url, sizeof url, "%s/api/v1/session", api_base);
    req_opts o = {.cookies = cookies};
    http("GET", url, NULL, &o, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"tenant\":\"acme\""));
    resp_free(&r);
    /* A state change by cookie needs the CSRF token... */
    snprintf(url, sizeof url, "%s/api/v1/targets", api_base);
    http("POST", url, "{}", &o, &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(r.body, "CSRF"));
    resp_free(&r);
    req_opts bad = {.cookies = cookies, .csrf = "wrong"};
    http("POST", url, "{}", &bad, &r);
    ck_assert_int_eq(r.status, 403);
    resp_free(&r);
    /* ...and must come from our own origin. */
    req_opts cross = {.cookies = cookies, .csrf = s.csrf, .origin = "https://evil.example"};
    http("POST", url, "{}", &cross, &r);
    ck_assert_int_eq(r.status, 403);
    resp_free(&r);
    req_opts good = {.cookies = cookies, .csrf = s.csrf, .origin = api_base};
    http("POST", url, "{}", &good, &r);
    ck_assert_int_eq(r.status, 400); /* past CSRF: now the body is judged */
    ck_assert_ptr_nonnull(strstr(r.body, "workspace: required"));
    resp_free(&r);
    /* Sign-in from another site is refused; a bad token is 401. */
    http("POST", url, NULL, NULL, &r);
    resp_free(&r);
    snprintf(url, sizeof url, "%s/api/v1/session", api_base);
    char body[128];
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", tok_acme);
    req_opts evil = {.origin = "https://evil.example"};
    http("POST", url, body, &evil, &r);
    ck_assert_int_eq(r.status, 403);
    resp_free(&r);
    http("POST", url, "{\"token\":\"hrld_nope\"}", NULL, &r);
    ck_assert_int_eq(r.status, 401);
    resp_free(&r);
    /* Sign out ends the session. */
    req_opts out = {.cookies = cookies, .csrf = s.csrf};
    http("DELETE", url, NULL, &out, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.headers, "herald_session=; Path=/; HttpOnly"));
    resp_free(&r);
    http("GET", url, NULL, &o, &r);
    ck_assert_int_eq(r.status, 401);
    resp_free(&r);
    /* A revoked token's sessions end with it. */
    PGconn *c = db();
    char tok[APITOKEN_TEXT_LEN + 1], err[256];
    int64_t id;
    ck_assert_int_eq(apitoken_create(c, "acme", "temp", tok, &id, err, sizeof err), 0);
    login(tok, &s);
    ck_assert_int_eq(apitoken_revoke(c, id, err, sizeof err), 1);
    PQfinish(c);
    snprintf(cookies, sizeof cookies, "herald_session=%s", s.sid);
    http("GET", url, NULL, &o, &r);
    ck_assert_int_eq(r.status, 401);
    resp_free(&r);
    api("GET", "/api/v1/targets", NULL, tok, &r);
    ck_assert_int_eq(r.status, 401);
    resp_free(&r);
}
END_TEST

/* ================================================================ targets */

START_TEST(target_crud_and_validation)
{
    const char *t = tok_acme;
    expect_error("POST", "/api/v1/targets", "{\"name\":\"x\"}", t, 400, "workspace", "required");
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"destination\":\"C0ALERTS\",\"uses\":"
                 "[\"failed_check\"]}",
                 t, 400, "name", "required");
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"name\":\"a\",\"destination\":\"C0ALERTS\","
                 "\"uses\":[\"bogus\"]}",
                 t, 400, "uses", "bogus");
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"name\":\"a\",\"destination\":\"C0ALERTS\","
                 "\"uses\":[\"failed_check\"],\"colour\":\"red\"}",
                 t, 400, "colour", "unknown field");
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"name\":5,\"destination\":\"C0ALERTS\","
                 "\"uses\":[\"failed_check\"]}",
                 t, 400, "name", "expected a string");
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"name\":\"a\",\"destination\":\"not a channel\","
                 "\"uses\":[\"failed_check\"]}",
                 t, 400, "destination", "not a channel");
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"name\":\"a\",\"destination\":\"C0NOPE\","
                 "\"uses\":[\"failed_check\"]}",
                 t, 400, "destination", "was not found");
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"name\":\"a\",\"destination\":\"G0NOTIN\","
                 "\"uses\":[\"failed_check\"]}",
                 t, 400, "destination", "invite");
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"name\":\"a\",\"destination\":\"C0ARCHIVED\","
                 "\"uses\":[\"failed_check\"]}",
                 t, 400, "destination", "archived");
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"name\":\"a\",\"destination\":\"#no-such\","
                 "\"uses\":[\"failed_check\"]}",
                 t, 400, "destination", "no channel named #no-such");
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"name\":\"a\",\"destination\":"
                 "\"nobody@example.com\",\"uses\":[\"failed_check\"]}",
                 t, 400, "destination", "nobody@example.com");
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0NOPE\",\"name\":\"a\",\"destination\":\"C0ALERTS\","
                 "\"uses\":[\"failed_check\"]}",
                 t, 400, "workspace", "T0NOPE");
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"name\":\"a\",\"destination\":\"C0ALERTS\","
                 "\"uses\":[\"data_collection\"],\"checks\":[\"weak_mfa\"]}",
                 t, 400, "checks", NULL);

    /* A channel by name is resolved to its id; an email to the member. */
    long id = create_target(t, "{\"workspace\":\"T0FAKE01\",\"name\":\"Sec alerts\","
                               "\"description\":\"the SOC\",\"destination\":\"#sec-alerts\","
                               "\"uses\":[\"failed_check\",\"data_collection\"]}");
    long id2 = create_target(t, "{\"workspace\":\"T0FAKE01\",\"name\":\"Alice\",\"destination\":"
                                "\"alice@example.com\",\"uses\":\"failed_check\",\"checks\":"
                                "[\"weak_mfa\"]}");
    char path[128];
    snprintf(path, sizeof path, "/api/v1/targets/%ld", id);
    resp r;
    api("GET", path, NULL, t, &r);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = json_of(&r);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "destination_resolved")->valuestring, "C0ALERTS");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "tenant")->valuestring, "acme");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "all_checks")));
    /* the message options' defaults: digests on, repeats not threaded */
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "digest")));
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "thread_repeats")));
    cJSON_Delete(j);
    resp_free(&r);
    /* both can be set, each alone, and are stored where the sender reads them */
    api("PATCH", path, "{\"thread_repeats\":true}", t, &r);
    ck_assert_msg(r.status == 200, "%s", r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "\"digest\":true,\"thread_repeats\":true"));
    resp_free(&r);
    api("PATCH", path, "{\"digest\":false}", t, &r);
    ck_assert_msg(r.status == 200, "%s", r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "\"digest\":false,\"thread_repeats\":true"));
    resp_free(&r);
    {
        char q[160];
        snprintf(q, sizeof q,
                 "SELECT count(*) FROM targets WHERE id = %ld AND NOT digest_enabled AND "
                 "thread_repeats",
                 id);
        PGconn *dc = db();
        ck_assert_int_eq(testlib_db_long(dc, q), 1);
        PQfinish(dc);
    }
    expect_error("PATCH", path, "{\"digest\":1}", t, 400, "digest", "true or false");
    snprintf(path, sizeof path, "/api/v1/targets/%ld", id2);
    api("GET", path, NULL, t, &r);
    j = json_of(&r);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "destination_resolved")->valuestring, "U0ALICE");
    ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "checks"), 0)->valuestring,
                     "weak_mfa");
    cJSON_Delete(j);
    resp_free(&r);

    /* Same name in the tenant: refused, naming the field. */
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"name\":\"Alice\",\"destination\":\"C0GENERAL\","
                 "\"uses\":[\"failed_check\"]}",
                 t, 400, "name", "Alice");

    /* Update: checks, enabled, destination (checked with Slack again). */
    api("PATCH", path, "{\"checks\":[\"weak_mfa\",\"stale_admins\"],\"enabled\":false}", t, &r);
    ck_assert_msg(r.status == 200, "%s", r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "\"checks\":[\"stale_admins\",\"weak_mfa\"]"));
    ck_assert_ptr_nonnull(strstr(r.body, "\"enabled\":false"));
    resp_free(&r);
    expect_error("PATCH", path, "{\"destination\":\"G0NOTIN\"}", t, 400, "destination", "invite");
    expect_error("PATCH", path, "{\"enabled\":\"yes\"}", t, 400, "enabled", NULL);
    expect_error("PATCH", path, "{\"workspace\":\"T0OTHER\"}", t, 400, "workspace", NULL);
    api("PATCH", path, "{\"destination\":\"G0PRIVATE\",\"checks\":[]}", t, &r);
    ck_assert_msg(r.status == 200, "%s", r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "\"destination_resolved\":\"G0PRIVATE\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\"all_checks\":true"));
    resp_free(&r);

    /* List, health, delete. */
    api("GET", "/api/v1/targets", NULL, t, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"name\":\"Sec alerts\""));
    resp_free(&r);
    api("GET", "/api/v1/health", NULL, t, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"name\":\"Alice\""));
    resp_free(&r);
    api("DELETE", path, NULL, t, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    expect_error("GET", path, NULL, t, 404, NULL, NULL);
    expect_error("GET", "/api/v1/targets/abc", NULL, t, 404, NULL, NULL);
}
END_TEST

START_TEST(bad_bodies_are_4xx)
{
    expect_error("POST", "/api/v1/targets", "{", tok_acme, 400, NULL, "not valid JSON");
    expect_error("POST", "/api/v1/targets", "[1,2]", tok_acme, 400, NULL, "JSON object");
    expect_error("POST", "/api/v1/targets", "", tok_acme, 400, NULL, "empty");
    expect_error("POST", "/api/v1/targets", "{\"name\":\"x\"} trailing", tok_acme, 400, NULL,
                 "unexpected text");
    char *big = malloc(MAX_BODY + 100);
    memset(big, ' ', MAX_BODY + 99);
    big[0] = '{';
    big[MAX_BODY + 98] = '}';
    big[MAX_BODY + 99] = '\0';
    expect_error("POST", "/api/v1/targets", big, tok_acme, 413, NULL, "limit");
    free(big);
    expect_error("PUT", "/api/v1/checks/weak_mfa/targets", "{\"target_ids\":\"x\"}", tok_acme, 400,
                 "target_ids", NULL);
    /* Regression: a JSON array body made herald-api strcmp a NULL member
     * name and crash (one request took the whole API down). */
    expect_error("PUT", "/api/v1/checks/weak_mfa/targets", "[1]", tok_acme, 400, NULL,
                 "JSON object");
    expect_error("PUT", "/api/v1/checks/weak_mfa/targets", "[{\"target_ids\":[]}]", tok_op, 400,
                 NULL, "JSON object");
    expect_error("POST", "/api/v1/session", "[\"hrld_x\"]", NULL, 400, NULL, "JSON object");
    /* Regression: an operator could make targets for tenants no event can
     * name ("acme corp"): they would never be notified. */
    expect_error("POST", "/api/v1/targets",
                 "{\"tenant\":\"acme corp\",\"workspace\":\"T0FAKE01\",\"name\":\"n\","
                 "\"destination\":\"#general\",\"uses\":[\"failed_check\"]}",
                 tok_op, 400, "tenant", "as in events");
    /* Regression: bytes that are not UTF-8 went on to PostgreSQL and came
     * back as 503 "database unavailable". */
    expect_error("GET", "/api/v1/workspaces/%FF", NULL, tok_acme, 400, NULL, "not valid UTF-8");
    expect_error("GET", "/api/v1/targets?tenant=%C0%AF", NULL, tok_op, 400, NULL,
                 "not valid UTF-8");
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"name\":\"caf\xe9\",\"destination\":\"#general\","
                 "\"uses\":[\"failed_check\"]}",
                 tok_acme, 400, NULL, "not valid UTF-8");
    resp r;
    api("GET", "/healthz", NULL, NULL, &r);
    ck_assert_msg(r.status == 200, "herald-api after non-object bodies: %ld", r.status);
    resp_free(&r);
    expect_error("GET", "/api/v1/deliveries?state=lost", NULL, tok_acme, 400, "state", "lost");
    expect_error("GET", "/api/v1/deliveries?limit=0", NULL, tok_acme, 400, "limit", NULL);
    expect_error("GET", "/api/v1/deliveries?since=yesterday", NULL, tok_acme, 400, "since", NULL);
}
END_TEST

/* ================================================================ isolation */

START_TEST(tenant_tokens_are_isolated)
{
    long id = create_target(tok_acme, "{\"workspace\":\"T0FAKE01\",\"name\":\"Iso\","
                                      "\"destination\":\"C0GENERAL\",\"uses\":[\"failed_check\"]}");
    char path[128], sub[160];
    snprintf(path, sizeof path, "/api/v1/targets/%ld", id);
    /* globex does not see acme's target, nor acme's workspace. */
    resp r;
    api("GET", "/api/v1/targets", NULL, tok_globex, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(strstr(r.body, "\"Iso\""));
    resp_free(&r);
    expect_error("GET", path, NULL, tok_globex, 404, NULL, NULL);
    expect_error("PATCH", path, "{\"name\":\"mine\"}", tok_globex, 404, NULL, NULL);
    expect_error("DELETE", path, NULL, tok_globex, 404, NULL, NULL);
    snprintf(sub, sizeof sub, "%s/test", path);
    expect_error("POST", sub, NULL, tok_globex, 404, NULL, NULL);
    snprintf(sub, sizeof sub, "%s/deliveries", path);
    expect_error("GET", sub, NULL, tok_globex, 404, NULL, NULL);
    snprintf(sub, sizeof sub, "/api/v1/deliveries?target_id=%ld", id);
    api("GET", sub, NULL, tok_globex, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"items\":[]"));
    resp_free(&r);
    expect_error("GET", "/api/v1/deliveries?tenant=acme", NULL, tok_globex, 403, "tenant", NULL);
    api("GET", "/api/v1/workspaces", NULL, tok_globex, &r);
    ck_assert_ptr_null(strstr(r.body, "T0FAKE01"));
    resp_free(&r);
    expect_error("GET", "/api/v1/workspaces/T0FAKE01", NULL, tok_globex, 404, NULL, NULL);
    expect_error("GET", "/api/v1/workspaces/T0FAKE01/channels", NULL, tok_globex, 404, NULL, NULL);
    expect_error("DELETE", "/api/v1/workspaces/T0FAKE01", NULL, tok_globex, 404, NULL, NULL);
    /* It cannot borrow acme's installation, nor create for acme. */
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"name\":\"Steal\",\"destination\":\"C0GENERAL\","
                 "\"uses\":[\"failed_check\"]}",
                 tok_globex, 400, "workspace", "not installed for tenant globex");
    expect_error("POST", "/api/v1/targets",
                 "{\"tenant\":\"acme\",\"workspace\":\"T0FAKE01\",\"name\":\"Steal\","
                 "\"destination\":\"C0GENERAL\",\"uses\":[\"failed_check\"]}",
                 tok_globex, 403, "tenant", NULL);
    api("GET", "/api/v1/checks", NULL, tok_globex, &r);
    ck_assert_ptr_null(strstr(r.body, "\"Iso\""));
    resp_free(&r);
    /* The operator sees every tenant; it must name one to create. */
    api("GET", path, NULL, tok_op, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    api("GET", "/api/v1/targets?tenant=globex", NULL, tok_op, &r);
    ck_assert_ptr_null(strstr(r.body, "\"Iso\""));
    resp_free(&r);
    expect_error("POST", "/api/v1/targets",
                 "{\"workspace\":\"T0FAKE01\",\"name\":\"Op\",\"destination\":\"C0GENERAL\","
                 "\"uses\":[\"failed_check\"]}",
                 tok_op, 400, "tenant", "required");
    /* acme itself still owns it. */
    api("GET", path, NULL, tok_acme, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
}
END_TEST

/* ================================================================ quiet settings and silences */

static long sql_long(const char *q);

START_TEST(target_quiet_settings_round_trip)
{
    long id = create_target(tok_acme, "{\"workspace\":\"T0FAKE01\",\"name\":\"Quiet\","
                                      "\"destination\":\"C0GENERAL\",\"uses\":[\"failed_check\"],"
                                      "\"min_severity\":\"high\",\"repeat_interval_seconds\":14400,"
                                      "\"notify_resolved\":false,\"nudge_enabled\":true}");
    char path[128];
    snprintf(path, sizeof path, "/api/v1/targets/%ld", id);
    resp r;
    api("GET", path, NULL, tok_acme, &r);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = json_of(&r);
    resp_free(&r);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "min_severity")->valuestring, "high");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "repeat_policy")->valuestring, "interval");
    ck_assert_int_eq(cJSON_GetObjectItem(j, "repeat_interval_seconds")->valueint, 14400);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "notify_resolved")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "nudge_enabled")));
    ck_assert(
        cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "health"), "suppressed_24h")));
    cJSON_Delete(j);

    api("PATCH", path, "{\"repeat_policy\":\"on_change\",\"min_severity\":\"medium\"}", tok_acme,
        &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    j = json_of(&r);
    resp_free(&r);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "repeat_policy")->valuestring, "on_change");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "repeat_interval_seconds")));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "min_severity")->valuestring, "medium");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "nudge_enabled")));
    cJSON_Delete(j);

    expect_error("PATCH", path, "{\"min_severity\":\"urgent\"}", tok_acme, 400, "min_severity",
                 "'urgent': expected low, medium, high or critical");
    expect_error("PATCH", path, "{\"repeat_policy\":\"sometimes\"}", tok_acme, 400, "repeat_policy",
                 "expected every, on_change or interval");
    expect_error("PATCH", path, "{\"repeat_interval_seconds\":30}", tok_acme, 400,
                 "repeat_interval_seconds", "at least 60");
    expect_error("PATCH", path, "{\"repeat_interval_seconds\":\"4h\"}", tok_acme, 400,
                 "repeat_interval_seconds", "whole number");
    expect_error("PATCH", path, "{\"repeat_policy\":\"interval\"}", tok_acme, 400,
                 "repeat_interval_seconds", "required");
    expect_error("PATCH", path, "{\"notify_resolved\":\"yes\"}", tok_acme, 400, "notify_resolved",
                 "true or false");
    expect_error("PATCH", path, "{\"nudge\":true}", tok_acme, 400, "nudge", "unknown field");
    ck_assert_int_eq(sql_long("SELECT count(*) FROM targets WHERE name = 'Quiet' AND "
                              "min_severity = 'medium' AND repeat_policy = 'on_change'"),
                     1);
}
END_TEST

START_TEST(silences_crud_and_isolation)
{
    long tid =
        create_target(tok_acme, "{\"workspace\":\"T0FAKE01\",\"name\":\"Hush\","
                                "\"destination\":\"C0GENERAL\",\"uses\":[\"failed_check\"]}");
    char body[512];
    snprintf(body, sizeof body,
             "{\"check_type\":\"weak_mfa\",\"target_id\":%ld,\"duration_seconds\":7200,"
             "\"reason\":\"maintenance\"}",
             tid);
    resp r;
    api("POST", "/api/v1/silences", body, tok_acme, &r);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    char loc[128];
    ck_assert(header(&r, "Location", loc, sizeof loc));
    cJSON *j = json_of(&r);
    resp_free(&r);
    long sid = (long)cJSON_GetObjectItem(j, "id")->valuedouble;
    ck_assert_str_eq(cJSON_GetObjectItem(j, "tenant_id")->valuestring, "acme");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "check_type")->valuestring, "weak_mfa");
    ck_assert_int_eq((long)cJSON_GetObjectItem(j, "target_id")->valuedouble, tid);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "team_id")));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "author")->valuestring, "api:acme admin");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "reason")->valuestring, "maintenance");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "active")));
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "starts_at")));
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "ends_at")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "expired_at")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "expired_by")));
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "created_at")));
    cJSON_Delete(j);
    char path[128], expire[160];
    snprintf(path, sizeof path, "/api/v1/silences/%ld", sid);
    snprintf(expire, sizeof expire, "%s/expire", path);
    ck_assert_str_eq(loc, path);

    /* A mute: ends_at null, said explicitly. */
    api("POST", "/api/v1/silences",
        "{\"team_id\":\"T0FAKE01\",\"ends_at\":null,\"reason\":\"noisy workspace\"}", tok_acme, &r);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    j = json_of(&r);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "ends_at")));
    cJSON_Delete(j);
    resp_free(&r);

    /* globex sees none of acme's silences and cannot expire them. */
    api("GET", "/api/v1/silences?state=all", NULL, tok_globex, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"items\":[]"));
    resp_free(&r);
    expect_error("GET", path, NULL, tok_globex, 404, NULL, "no silence");
    expect_error("POST", expire, NULL, tok_globex, 404, NULL, "no silence");
    expect_error("GET", "/api/v1/silences?tenant=acme", NULL, tok_globex, 403, "tenant", NULL);
    expect_error("POST", "/api/v1/silences",
                 "{\"tenant_id\":\"acme\",\"check_type\":\"x\",\"duration_seconds\":60,"
                 "\"reason\":\"r\"}",
                 tok_globex, 403, "tenant_id", NULL);
    /* ...nor silence acme's target or a workspace it is not linked to. */
    expect_error("POST", "/api/v1/silences", body, tok_globex, 400, "target_id", "has no target");
    expect_error("POST", "/api/v1/silences",
                 "{\"team_id\":\"T0FAKE01\",\"duration_seconds\":60,\"reason\":\"r\"}", tok_globex,
                 400, "team_id", "not linked to tenant 'globex'");

    api("GET", "/api/v1/silences", NULL, tok_acme, &r);
    j = json_of(&r);
    resp_free(&r);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 2);
    cJSON_Delete(j);

    /* Expire: once, then again says it already was. */
    api("POST", expire, NULL, tok_acme, &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    j = json_of(&r);
    resp_free(&r);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "already_expired")));
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "active")));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "state")->valuestring, "expired");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "expired_by")->valuestring, "api:acme admin");
    cJSON_Delete(j);
    api("POST", expire, NULL, tok_op, &r);
    ck_assert_int_eq(r.status, 200);
    j = json_of(&r);
    resp_free(&r);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "already_expired")));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "expired_by")->valuestring, "api:acme admin");
    cJSON_Delete(j);
    api("GET", "/api/v1/silences", NULL, tok_acme, &r);
    j = json_of(&r);
    resp_free(&r);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 1);
    cJSON_Delete(j);
    api("GET", "/api/v1/silences?state=all", NULL, tok_acme, &r);
    j = json_of(&r);
    resp_free(&r);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 2);
    cJSON_Delete(j);

    /* The operator names the tenant. */
    expect_error("POST", "/api/v1/silences",
                 "{\"check_type\":\"x\",\"duration_seconds\":60,\"reason\":\"r\"}", tok_op, 400,
                 "tenant_id", "required");
    api("POST", "/api/v1/silences",
        "{\"tenant_id\":\"globex\",\"check_type\":\"x\",\"duration_seconds\":60,"
        "\"reason\":\"r\"}",
        tok_op, &r);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "\"author\":\"api:operator\""));
    resp_free(&r);

    /* Input errors name the field. */
    expect_error("POST", "/api/v1/silences", "{\"check_type\":\"x\",\"reason\":\"r\"}", tok_acme,
                 400, "ends_at", "required");
    expect_error("POST", "/api/v1/silences",
                 "{\"check_type\":\"x\",\"ends_at\":\"2099-01-01T00:00:00Z\","
                 "\"duration_seconds\":60,\"reason\":\"r\"}",
                 tok_acme, 400, "ends_at", "not both");
    expect_error("POST", "/api/v1/silences",
                 "{\"check_type\":\"x\",\"ends_at\":\"2020-01-01T00:00:00Z\",\"reason\":\"r\"}",
                 tok_acme, 400, "ends_at", "not in the future");
    expect_error("POST", "/api/v1/silences",
                 "{\"check_type\":\"x\",\"ends_at\":\"soon\",\"reason\":\"r\"}", tok_acme, 400,
                 "ends_at", "RFC 3339");
    expect_error("POST", "/api/v1/silences", "{\"duration_seconds\":60,\"reason\":\"r\"}", tok_acme,
                 400, "scope", "at least one");
    expect_error("POST", "/api/v1/silences",
                 "{\"check_type\":\"a b\",\"duration_seconds\":60,\"reason\":\"r\"}", tok_acme, 400,
                 "check_type", "not a check type");
    expect_error("POST", "/api/v1/silences",
                 "{\"check_type\":\"x\",\"duration_seconds\":0,\"reason\":\"r\"}", tok_acme, 400,
                 "duration_seconds", "whole number");
    expect_error("POST", "/api/v1/silences", "{\"check_type\":\"x\",\"duration_seconds\":60}",
                 tok_acme, 400, "reason", "must not be empty");
    expect_error("POST", "/api/v1/silences",
                 "{\"check_type\":\"x\",\"duration_seconds\":60,\"reason\":\"r\",\"mute\":1}",
                 tok_acme, 400, "mute", "unknown field");
    expect_error("GET", "/api/v1/silences?state=old", NULL, tok_acme, 400, "state", NULL);
    expect_error("DELETE", path, NULL, tok_acme, 405, NULL, NULL);
}
END_TEST

/* ================================================================ test messages */

static long messages_in(const char *channel, const char *text)
{
    char url[512];
    snprintf(url, sizeof url, "%s/_fake/messages?channel=%s", slack.base_url, channel);
    resp r;
    http("GET", url, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = json_of(&r);
    long n = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, j)
    {
        char *s = cJSON_PrintUnformatted(m);
        if (!text || strstr(s, text))
            n++;
        free(s);
    }
    cJSON_Delete(j);
    resp_free(&r);
    return n;
}

START_TEST(test_message_arrives_and_is_listed)
{
    long id = create_target(tok_acme, "{\"workspace\":\"T0FAKE01\",\"name\":\"Tested\","
                                      "\"destination\":\"C0ALERTS\",\"uses\":[\"failed_check\"]}");
    long before = messages_in("C0ALERTS", "Tested");
    char path[128];
    snprintf(path, sizeof path, "/api/v1/targets/%ld/test", id);
    resp r;
    api("POST", path, NULL, tok_acme, &r);
    ck_assert_msg(r.status == 200, "%s", r.body);
    cJSON *j = json_of(&r);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "channel")->valuestring, "C0ALERTS");
    char ts[64];
    snprintf(ts, sizeof ts, "%s", cJSON_GetObjectItem(j, "ts")->valuestring);
    long did = (long)cJSON_GetObjectItem(j, "delivery_id")->valuedouble;
    cJSON_Delete(j);
    resp_free(&r);
    ck_assert_int_eq(messages_in("C0ALERTS", "Tested"), before + 1);

    char q[160];
    snprintf(q, sizeof q, "/api/v1/targets/%ld/deliveries", id);
    api("GET", q, NULL, tok_acme, &r);
    j = json_of(&r);
    const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "items"), 0);
    ck_assert_int_eq((long)cJSON_GetObjectItem(d, "id")->valuedouble, did);
    ck_assert_str_eq(cJSON_GetObjectItem(d, "state")->valuestring, "sent");
    ck_assert_str_eq(cJSON_GetObjectItem(d, "event_kind")->valuestring, "test");
    ck_assert_str_eq(cJSON_GetObjectItem(d, "slack_ts")->valuestring, ts);
    cJSON_Delete(j);
    resp_free(&r);
    snprintf(q, sizeof q, "/api/v1/deliveries/%ld", did);
    api("GET", q, NULL, tok_acme, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    snprintf(q, sizeof q, "/api/v1/targets/%ld/health", id);
    api("GET", q, NULL, tok_acme, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"ok\""));
    resp_free(&r);

    /* A destination that stopped working: Slack's answer comes back, the
     * delivery is failed with the reason, and the target shows it. */
    fake_post("/_fake/state", "{\"channels\":[{\"id\":\"C0ALERTS\",\"name\":\"sec-alerts\","
                              "\"archived\":true,\"member\":true}]}");
    snprintf(path, sizeof path, "/api/v1/targets/%ld/test", id);
    api("POST", path, NULL, tok_acme, &r);
    ck_assert_int_eq(r.status, 502);
    ck_assert_ptr_nonnull(strstr(r.body, "\"slack_error\":\"is_archived\""));
    resp_free(&r);
    fake_post("/_fake/state", "{\"channels\":[{\"id\":\"C0ALERTS\",\"name\":\"sec-alerts\","
                              "\"archived\":false,\"member\":true}]}");
    snprintf(q, sizeof q, "/api/v1/deliveries?target_id=%ld&state=failed", id);
    api("GET", q, NULL, tok_acme, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"error_code\":\"is_archived\""));
    resp_free(&r);
    snprintf(q, sizeof q, "/api/v1/targets/%ld/health", id);
    api("GET", q, NULL, tok_acme, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"failing\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\"last_error_code\":\"is_archived\""));
    resp_free(&r);
}
END_TEST

/* A test message whose workspace token cannot be opened (HERALD_SECRET_KEY
 * changed): a 500 naming the key, and the delivery row ends 'failed' with
 * the reason instead of staying 'sending'. */
START_TEST(test_message_with_unreadable_token_fails_cleanly)
{
    long id = create_target(tok_acme, "{\"workspace\":\"T0FAKE01\",\"name\":\"Unreadable\","
                                      "\"destination\":\"C0ALERTS\",\"uses\":[\"failed_check\"]}");
    /* one more byte: the AES-GCM tag no longer matches */
    sql("UPDATE workspaces SET token_enc = token_enc || '\\x00'::bytea WHERE team_id = 'T0FAKE01'");
    char path[128];
    snprintf(path, sizeof path, "/api/v1/targets/%ld/test", id);
    resp r;
    api("POST", path, NULL, tok_acme, &r);
    sql("UPDATE workspaces SET token_enc = substring(token_enc FROM 1 FOR length(token_enc) - 1) "
        "WHERE team_id = 'T0FAKE01'");
    ck_assert_msg(r.status == 500, "%ld %s", r.status, r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "HERALD_SECRET_KEY"));
    resp_free(&r);
    char q[160];
    snprintf(q, sizeof q, "/api/v1/deliveries?target_id=%ld", id);
    api("GET", q, NULL, tok_acme, &r);
    cJSON *j = json_of(&r);
    cJSON *items = cJSON_GetObjectItem(j, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    const cJSON *d = cJSON_GetArrayItem(items, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(d, "state")->valuestring, "failed");
    ck_assert_str_eq(cJSON_GetObjectItem(d, "error_code")->valuestring, "secret_key_mismatch");
    cJSON_Delete(j);
    resp_free(&r);
    /* the token opens again: the next test message goes out */
    api("POST", path, NULL, tok_acme, &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    resp_free(&r);
}
END_TEST

/* ================================================================ token rotation */

/* A counter of fake Slack's /_fake/stats: name, or name inside object obj. */
static double fake_stat(const char *obj, const char *name)
{
    cJSON *st = testlib_fake_slack_control(&slack, "/_fake/stats", NULL);
    const cJSON *n = cJSON_GetObjectItem(obj ? cJSON_GetObjectItem(st, obj) : st, name);
    double v = cJSON_IsNumber(n) ? n->valuedouble : -1;
    cJSON_Delete(st);
    return v;
}

static double fake_refreshes(void)
{
    return fake_stat(NULL, "refreshes");
}

/* The stored token or refresh token of T0FAKE01, opened with the key. */
static char *stored_secret(const char *column)
{
    unsigned char key[CRYPTO_KEY_LEN];
    char err[128];
    ck_assert_int_eq(crypto_key_from_base64(SECRET_KEY, key, err, sizeof err), 0);
    char *q = testlib_fmt("SELECT %s FROM workspaces WHERE team_id = 'T0FAKE01'", column);
    PGconn *c = db();
    char *v = testlib_db_open_sealed(c, key, q);
    PQfinish(c);
    free(q);
    return v;
}

static long sql_long(const char *q)
{
    PGconn *c = db();
    long v = testlib_db_long(c, q);
    PQfinish(c);
    return v;
}

/* An install with token rotation on stores the refresh token (sealed) and
 * the expiry with the token; a test message with the token expired refreshes
 * it first (once) and is sent. */
START_TEST(install_with_rotation_then_test_message_refreshes)
{
    fake_post("/_fake/state", "{\"oauth\":{\"client_id\":\"fake-client-id\",\"client_secret\":"
                              "\"fake-client-secret\",\"team\":\"T0FAKE01\",\"deny\":false,"
                              "\"rotation\":true,\"expires_in\":3600}}");
    install_ok(&acme_s);
    ck_assert_int_eq(
        sql_long("SELECT count(*) FROM workspaces WHERE team_id = 'T0FAKE01' AND "
                 "refresh_token_enc IS NOT NULL AND token_expires_at BETWEEN "
                 "now() + interval '3500 seconds' AND now() + interval '3700 seconds'"),
        1);
    /* Encrypted at rest: neither token is in the raw bytes. */
    ck_assert_int_eq(sql_long("SELECT count(*) FROM workspaces WHERE team_id = 'T0FAKE01' AND "
                              "position('xoxe-'::bytea IN refresh_token_enc) = 0 AND "
                              "position('xoxb-'::bytea IN token_enc) = 0"),
                     1);
    char *rt = stored_secret("refresh_token_enc");
    char *tok = stored_secret("token_enc");
    ck_assert_ptr_nonnull(rt);
    ck_assert_ptr_nonnull(tok);
    ck_assert_msg(strncmp(rt, "xoxe-1-fake-T0FAKE01-", 21) == 0, "refresh token shape");
    resp r;
    api("GET", "/api/v1/workspaces/T0FAKE01", NULL, tok_acme, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"token_rotation\":true"));
    ck_assert_ptr_null(strstr(r.body, "\"token_expires_at\":null"));
    ck_assert_ptr_null(strstr(r.body, "xox"));
    resp_free(&r);

    /* A target (its destination is checked with the token), then the token
     * expires (at Slack and in the database). */
    long id = create_target(tok_acme, "{\"workspace\":\"T0FAKE01\",\"name\":\"Rotated\","
                                      "\"destination\":\"C0ALERTS\",\"uses\":[\"failed_check\"]}");

    char *st = testlib_fmt(
        "{\"workspaces\":[{\"id\":\"T0FAKE01\",\"name\":\"Fake Workspace\",\"domain\":\"fake\","
        "\"tokens\":[\"%s\"],\"refresh_tokens\":[\"%s\"],\"token_expiry\":{\"%s\":%.3f},"
        "\"bot_user_id\":\"U0HERALD\",\"bot_id\":\"B0HERALD\"}]}",
        tok, rt, tok, (double)time(NULL) - 5);
    fake_post("/_fake/state", st);
    free(st);
    sql("UPDATE workspaces SET token_expires_at = now() - interval '5 seconds' "
        "WHERE team_id = 'T0FAKE01'");
    double before = fake_refreshes();
    char path[128];
    snprintf(path, sizeof path, "/api/v1/targets/%ld/test", id);
    api("POST", path, NULL, tok_acme, &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    resp_free(&r);
    ck_assert_int_eq((long)(fake_refreshes() - before), 1);
    char *rt2 = stored_secret("refresh_token_enc");
    char *tok2 = stored_secret("token_enc");
    ck_assert_ptr_nonnull(rt2);
    ck_assert_ptr_nonnull(tok2);
    ck_assert_str_ne(rt2, rt);
    ck_assert_str_ne(tok2, tok);
    ck_assert_int_eq(sql_long("SELECT count(*) FROM workspaces WHERE team_id = 'T0FAKE01' AND "
                              "revoked_at IS NULL AND token_expires_at > now() + interval "
                              "'3500 seconds'"),
                     1);
    /* Fresh now: workspace show's auth.test does not refresh again. */
    api("GET", "/api/v1/workspaces/T0FAKE01", NULL, tok_acme, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"auth_test\":{\"ok\":true"));
    resp_free(&r);
    ck_assert_int_eq((long)(fake_refreshes() - before), 1);
    /* An expiry we did not know of: Slack answers token_expired, the test message
     * refreshes and is sent once more. */
    st = testlib_fmt(
        "{\"workspaces\":[{\"id\":\"T0FAKE01\",\"name\":\"Fake Workspace\",\"domain\":\"fake\","
        "\"tokens\":[\"%s\"],\"refresh_tokens\":[\"%s\"],\"token_expiry\":{\"%s\":%.3f},"
        "\"bot_user_id\":\"U0HERALD\",\"bot_id\":\"B0HERALD\"}]}",
        tok2, rt2, tok2, (double)time(NULL) - 5);
    fake_post("/_fake/state", st);
    free(st);
    sql("UPDATE workspaces SET token_expires_at = NULL WHERE team_id = 'T0FAKE01'");
    long sent_before = messages_in("C0ALERTS", "Rotated");
    api("POST", path, NULL, tok_acme, &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    resp_free(&r);
    ck_assert_int_eq((long)(fake_refreshes() - before), 2);
    ck_assert_int_eq(messages_in("C0ALERTS", "Rotated"), sent_before + 1);
    ck_assert_int_eq(sql_long("SELECT count(*) FROM workspaces WHERE team_id = 'T0FAKE01' AND "
                              "revoked_at IS NULL AND token_expires_at IS NOT NULL"),
                     1);
    free(rt);
    free(tok);
    free(rt2);
    free(tok2);
    fake_post("/_fake/state", "{\"oauth\":{\"client_id\":\"fake-client-id\",\"client_secret\":"
                              "\"fake-client-secret\",\"team\":\"T0FAKE01\",\"deny\":false}}");
}
END_TEST

/* heraldctl test TARGET_ID against herald-api's database and fake Slack: its
 * exit code, and its stdout in out. */
static int heraldctl_test(long id, char *out, size_t size)
{
    char prog[1024];
    testlib_program("workers", "heraldctl", prog, sizeof prog);
    char *cmd = testlib_fmt("HERALD_DATABASE_URL='%s' HERALD_SECRET_KEY='%s' "
                            "HERALD_SLACK_API_URL='%s' HERALD_LOG_LEVEL=warn '%s' test %ld",
                            db_url, SECRET_KEY, slack.api_url, prog, id);
    FILE *p = popen(cmd, "r");
    free(cmd);
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* One test send behind POST /targets/{id}/test and `heraldctl test`
 * (store/test_send.c): the same target gets the same answer and error code
 * through both, recorded the same way. */
START_TEST(test_message_cli_and_api_agree)
{
    long id = create_target(tok_acme, "{\"workspace\":\"T0FAKE01\",\"name\":\"Agree\","
                                      "\"destination\":\"C0ALERTS\",\"uses\":[\"failed_check\"]}");
    char path[128], out[2048], q[256];
    snprintf(path, sizeof path, "/api/v1/targets/%ld/test", id);
    resp r;
    api("POST", path, NULL, tok_acme, &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    resp_free(&r);
    ck_assert_msg(heraldctl_test(id, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(!strncmp(out, "ok: ", 4), "%s", out);

    /* A revoked installation: token_revoked from both, Slack not called. */
    sql("UPDATE workspaces SET revoked_at = now(), revoked_reason = 'account_inactive' "
        "WHERE team_id = 'T0FAKE01'");
    long before = messages_in("C0ALERTS", "Agree");
    api("POST", path, NULL, tok_acme, &r);
    int rc = heraldctl_test(id, out, sizeof out);
    sql("UPDATE workspaces SET revoked_at = NULL, revoked_reason = NULL "
        "WHERE team_id = 'T0FAKE01'");
    ck_assert_msg(r.status == 502, "%ld %s", r.status, r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "\"slack_error\":\"token_revoked\""));
    resp_free(&r);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(!strncmp(out, "error: token_revoked: ", 22), "%s", out);
    ck_assert_int_eq(messages_in("C0ALERTS", "Agree"), before);
    snprintf(q, sizeof q,
             "SELECT count(*) FROM deliveries WHERE target_id = %ld AND state = 'failed' "
             "AND last_error_code = 'token_revoked'",
             id);
    ck_assert_int_eq(sql_long(q), 2);
}
END_TEST

/* Regression: only heraldctl waited out a 429; the API's test message failed
 * with ratelimited. Slack answers the post once with 429 and Retry-After: 1:
 * asked twice, the message is sent once and recorded sent. */
START_TEST(test_message_waits_out_429)
{
    long id = create_target(tok_acme, "{\"workspace\":\"T0FAKE01\",\"name\":\"Throttled\","
                                      "\"destination\":\"C0ALERTS\",\"uses\":[\"failed_check\"]}");
    char path[128], q[256];
    snprintf(path, sizeof path, "/api/v1/targets/%ld/test", id);
    double posts = fake_stat("requests", "chat.postMessage");
    double limited = fake_stat(NULL, "rate_limited");
    long before = messages_in("C0ALERTS", "Throttled");
    fake_post("/_fake/faults",
              "{\"next_429\":1,\"retry_after\":1,\"methods\":[\"chat.postMessage\"]}");
    resp r;
    api("POST", path, NULL, tok_acme, &r);
    fake_post("/_fake/faults", "{\"clear\":true}");
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    cJSON *j = json_of(&r);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")));
    long did = (long)cJSON_GetObjectItem(j, "delivery_id")->valuedouble;
    cJSON_Delete(j);
    resp_free(&r);
    ck_assert_int_eq((long)(fake_stat("requests", "chat.postMessage") - posts), 2);
    ck_assert_int_eq((long)(fake_stat(NULL, "rate_limited") - limited), 1);
    ck_assert_int_eq(messages_in("C0ALERTS", "Throttled"), before + 1);
    snprintf(q, sizeof q, "SELECT count(*) FROM deliveries WHERE id = %ld AND state = 'sent'", did);
    ck_assert_int_eq(sql_long(q), 1);
}
END_TEST

START_TEST(deliveries_pagination)
{
    long id = create_target(tok_acme, "{\"workspace\":\"T0FAKE01\",\"name\":\"Paged\","
                                      "\"destination\":\"C0GENERAL\",\"uses\":[\"failed_check\"]}");
    char path[128];
    snprintf(path, sizeof path, "/api/v1/targets/%ld/test", id);
    long ids[5];
    for (int i = 0; i < 5; i++) {
        resp r;
        api("POST", path, NULL, tok_acme, &r);
        ck_assert_msg(r.status == 200, "%s", r.body);
        cJSON *j = json_of(&r);
        ids[i] = (long)cJSON_GetObjectItem(j, "delivery_id")->valuedouble;
        cJSON_Delete(j);
        resp_free(&r);
    }
    /* Pages of 2, newest first, following next_before_id: 5 rows, no repeats. */
    long seen[16], n = 0, before = 0;
    for (int page = 0; page < 8; page++) {
        char q[200];
        if (before)
            snprintf(q, sizeof q, "/api/v1/deliveries?target_id=%ld&limit=2&before_id=%ld", id,
                     before);
        else
            snprintf(q, sizeof q, "/api/v1/deliveries?target_id=%ld&limit=2", id);
        resp r;
        api("GET", q, NULL, tok_acme, &r);
        ck_assert_int_eq(r.status, 200);
        cJSON *j = json_of(&r);
        const cJSON *d;
        cJSON_ArrayForEach(d, cJSON_GetObjectItem(j, "items")) seen[n++] =
            (long)cJSON_GetObjectItem(d, "id")->valuedouble;
        const cJSON *nb = cJSON_GetObjectItem(j, "next_before_id");
        before = cJSON_IsNumber(nb) ? (long)nb->valuedouble : 0;
        cJSON_Delete(j);
        resp_free(&r);
        if (!before)
            break;
    }
    ck_assert_int_eq(n, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(seen[i], ids[4 - i]);
    /* Offset paging too, and a time filter. */
    char q[200];
    snprintf(q, sizeof q, "/api/v1/deliveries?target_id=%ld&limit=2&offset=4", id);
    resp r;
    api("GET", q, NULL, tok_acme, &r);
    cJSON *j = json_of(&r);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 1);
    cJSON_Delete(j);
    resp_free(&r);
    snprintf(q, sizeof q, "/api/v1/deliveries?target_id=%ld&since=2999-01-01T00:00:00Z", id);
    api("GET", q, NULL, tok_acme, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"items\":[]"));
    resp_free(&r);
}
END_TEST

/* ================================================================ activity */

/* The hour `ago` hours before the current one in an activity answer, or NULL. */
static const cJSON *activity_hour(const cJSON *j, int ago)
{
    const cJSON *items = cJSON_GetObjectItem(j, "items");
    return cJSON_GetArrayItem(items, cJSON_GetArraySize(items) - 1 - ago);
}

static long num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", key);
    return (long)v->valuedouble;
}

START_TEST(activity_per_hour_and_isolated)
{
    long id = create_target(tok_acme, "{\"workspace\":\"T0FAKE01\",\"name\":\"Charted\","
                                      "\"destination\":\"C0GENERAL\",\"uses\":[\"failed_check\"]}");
    /* 100 hours ago: 7 sent, 3 failed, 2 retrying (not charted); the rollup
     * triggers count them, whoever inserts. */
    char q[1024];
    snprintf(q, sizeof q,
             "WITH e AS (INSERT INTO events (event_id, tenant_id, kind, check_type, payload) "
             "  SELECT gen_random_uuid(), 'acme', 'check_result', 'weak_mfa', '{}' "
             "  FROM generate_series(1, 12) RETURNING event_id), "
             "n AS (SELECT event_id, row_number() OVER () AS i FROM e) "
             "INSERT INTO deliveries (event_id, target_id, tenant_id, state, created_at) "
             "SELECT event_id, %ld, 'acme', CASE WHEN i <= 7 THEN 'sent' WHEN i <= 10 "
             "  THEN 'failed' ELSE 'retrying' END, "
             "  date_trunc('hour', now()) - interval '100 hours' + interval '5 minutes' FROM n",
             id);
    sql(q);

    char path[160];
    snprintf(path, sizeof path, "/api/v1/targets/%ld/activity", id);
    resp r;
    api("GET", path, NULL, tok_acme, &r);
    ck_assert_msg(r.status == 200, "%s: %ld %s", path, r.status, r.body);
    cJSON *j = json_of(&r);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 168);
    ck_assert_int_eq(num(j, "hours"), 168);
    ck_assert_int_eq(num(j, "sent"), 7);
    ck_assert_int_eq(num(j, "failed"), 3);
    const cJSON *h = activity_hour(j, 100);
    ck_assert_int_eq(num(h, "sent"), 7);
    ck_assert_int_eq(num(h, "failed"), 3);
    ck_assert_int_eq(num(activity_hour(j, 99), "sent"), 0);
    ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(h, "hour")->valuestring, ":00:00"));
    cJSON_Delete(j);
    resp_free(&r);

    /* A shorter range leaves that hour out. */
    snprintf(path, sizeof path, "/api/v1/targets/%ld/activity?hours=24", id);
    api("GET", path, NULL, tok_acme, &r);
    j = json_of(&r);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 24);
    ck_assert_int_eq(num(j, "sent"), 0);
    cJSON_Delete(j);
    resp_free(&r);
    expect_error("GET", "/api/v1/activity?hours=0", NULL, tok_acme, 400, "hours", NULL);
    expect_error("GET", "/api/v1/activity?hours=745", NULL, tok_acme, 400, "hours", NULL);

    /* All of acme's targets include it; globex sees neither the target nor its counts. */
    api("GET", "/api/v1/activity", NULL, tok_acme, &r);
    ck_assert_int_eq(r.status, 200);
    j = json_of(&r);
    ck_assert_int_ge(num(activity_hour(j, 100), "sent"), 7);
    cJSON_Delete(j);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/targets/%ld/activity", id);
    expect_error("GET", path, NULL, tok_globex, 404, NULL, NULL);
    api("GET", "/api/v1/activity", NULL, tok_globex, &r);
    ck_assert_int_eq(r.status, 200);
    j = json_of(&r);
    ck_assert_int_eq(num(activity_hour(j, 100), "sent"), 0);
    cJSON_Delete(j);
    resp_free(&r);
    /* The operator sees it, and per tenant when it names one. */
    api("GET", "/api/v1/activity?tenant=acme", NULL, tok_op, &r);
    j = json_of(&r);
    ck_assert_int_ge(num(activity_hour(j, 100), "sent"), 7);
    cJSON_Delete(j);
    resp_free(&r);
    api("GET", "/api/v1/activity?tenant=globex", NULL, tok_op, &r);
    j = json_of(&r);
    ck_assert_int_eq(num(activity_hour(j, 100), "sent"), 0);
    cJSON_Delete(j);
    resp_free(&r);
}
END_TEST

/* ================================================================ checks */

START_TEST(checks_seen_and_editable)
{
    /* A tenant of its own, so other tests' targets stay out of the way; its
     * workspace link is what an install by that tenant would leave. */
    sql("INSERT INTO workspace_tenants (team_id, tenant_id) VALUES ('T0FAKE01', 'initech')");
    /* Two check types seen for initech (the events trigger records them). */
    sql("INSERT INTO events (event_id, tenant_id, kind, check_type, payload) VALUES "
        "(gen_random_uuid(), 'initech', 'check_result', 'weak_mfa', "
        " '{\"check\":{\"type\":\"weak_mfa\",\"name\":\"Weak MFA Configured\"}}'), "
        "(gen_random_uuid(), 'initech', 'check_result', 'stale_admins', "
        " '{\"check\":{\"type\":\"stale_admins\",\"name\":\"Stale admins\"}}'), "
        "(gen_random_uuid(), 'globex', 'check_result', 'globex_only', '{}')");
    long id =
        create_target(tok_initech, "{\"workspace\":\"T0FAKE01\",\"name\":\"Checks\","
                                   "\"destination\":\"C0GENERAL\",\"uses\":[\"failed_check\"]}");
    resp r;
    api("GET", "/api/v1/checks", NULL, tok_initech, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"check_name\":\"Weak MFA Configured\""));
    ck_assert_ptr_null(strstr(r.body, "globex_only"));
    resp_free(&r);

    /* Untick it for weak_mfa: it keeps every other check seen. */
    char body[128], path[128];
    snprintf(body, sizeof body, "{\"target_ids\":[]}");
    api("PUT", "/api/v1/checks/weak_mfa/targets", body, tok_initech, &r);
    ck_assert_msg(r.status == 200, "%s", r.body);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/targets/%ld", id);
    api("GET", path, NULL, tok_initech, &r);
    ck_assert_msg(strstr(r.body, "\"checks\":[\"stale_admins\"]") != NULL, "%s", r.body);
    resp_free(&r);
    /* Tick it again. */
    snprintf(body, sizeof body, "{\"target_ids\":[%ld]}", id);
    api("PUT", "/api/v1/checks/weak_mfa/targets", body, tok_initech, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    api("GET", path, NULL, tok_initech, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"checks\":[\"stale_admins\",\"weak_mfa\"]"));
    resp_free(&r);
    /* Unticking its last check would mean "every check": refused. */
    api("PUT", "/api/v1/checks/stale_admins/targets", "{\"target_ids\":[]}", tok_initech, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    expect_error("PUT", "/api/v1/checks/weak_mfa/targets", "{\"target_ids\":[]}", tok_initech, 409,
                 "target_ids", "no check");
    /* The row lists the target under weak_mfa. */
    api("GET", "/api/v1/checks", NULL, tok_initech, &r);
    cJSON *j = json_of(&r);
    const cJSON *it;
    bool found = false;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "items"))
    {
        if (strcmp(cJSON_GetObjectItem(it, "check_type")->valuestring, "weak_mfa") != 0)
            continue;
        const cJSON *t;
        cJSON_ArrayForEach(
            t, cJSON_GetObjectItem(
                   it, "targets")) if ((long)cJSON_GetObjectItem(t, "id")->valuedouble == id)
            found = true;
    }
    ck_assert(found);
    cJSON_Delete(j);
    resp_free(&r);
    expect_error("PUT", "/api/v1/checks/weak_mfa/targets", "{\"target_ids\":[999999]}", tok_initech,
                 400, "target_ids", "999999");
    expect_error("PUT", "/api/v1/checks/bad%20type/targets", "{\"target_ids\":[]}", tok_initech,
                 400, "check_type", NULL);
}
END_TEST

/* ================================================================ operations */

START_TEST(metrics_and_healthz)
{
    resp r;
    api("GET", "/healthz", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ok\n");
    resp_free(&r);
    api("GET", "/metrics", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE herald_api_logins_total counter"));
    ck_assert_ptr_nonnull(strstr(r.body, "herald_http_requests_total{route=\"/healthz\""));
    ck_assert_ptr_null(strstr(r.body, "xoxb"));
    resp_free(&r);
    api("GET", "/", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 303);
    resp_free(&r);
}
END_TEST

/* ================================================================ secrets */

/* Whether the log holds "fake-" and 16 or more hex digits: an OAuth code of
 * the fake Slack ("fake-<hex>"), which must never be logged. */
static bool has_oauth_code(const char *log)
{
    for (const char *p = strstr(log, "fake-"); p; p = strstr(p + 1, "fake-")) {
        size_t n = strspn(p + 5, "0123456789abcdef");
        if (n >= 16)
            return true;
    }
    return false;
}

/* Runs last: every install, sign-in and test message above went through
 * herald-api at debug level. None of the secrets it handled may be in its
 * log: bot tokens, the client secret, OAuth codes, API tokens, session ids,
 * CSRF tokens. */
START_TEST(no_secrets_in_logs)
{
    char *log = read_log();
    /* The log is worth reading: the flows ran and debug lines are there. */
    ck_assert_msg(strstr(log, "DEBUG herald-api: slack oauth.v2.access: http 200") != NULL,
                  "no debug line for the token exchange in %s", api_log);
    ck_assert_ptr_nonnull(strstr(log, "console sign-in with token"));
    ck_assert_ptr_nonnull(strstr(log, "test message to target"));
    /* Token rotation ran too: its refresh tokens (xoxe-...) are checked below. */
    ck_assert_ptr_nonnull(strstr(log, "bot token refreshed"));
    const char *secrets[] = {"xoxb-",         "xoxe-",          "fake-client-secret",
                             APITOKEN_PREFIX, "refresh_token=", tok_acme + 5,
                             tok_op + 5,      acme_s.sid,       acme_s.csrf};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        ck_assert_msg(strstr(log, secrets[i]) == NULL, "secret #%zu (%.4s...) in %s", i, secrets[i],
                      api_log);
    ck_assert_msg(!has_oauth_code(log), "an OAuth code in %s", api_log);
    free(log);
}
END_TEST

/* SIGTERM: herald-api finishes and exits 0 promptly. Run from main() after
 * the suite (a forked test cannot wait for a process it did not start). */
static int graceful_stop(void)
{
    if (kill(api_pid, SIGTERM) != 0)
        return -1;
    int status = 0;
    pid_t got = 0;
    for (int i = 0; i < 300 && got == 0; i++) {
        got = waitpid(api_pid, &status, WNOHANG);
        if (!got) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    api_pid = 0;
    if (got <= 0) {
        fprintf(stderr, "graceful_stop: herald-api did not stop within 15 s of SIGTERM\n");
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "graceful_stop: herald-api exited with status %d\n", status);
        return -1;
    }
    printf("graceful_stop: herald-api exited 0 after SIGTERM\n");
    return 0;
}

/* ================================================================ tenant settings */

/* The item of check type in a GET /api/v1/remediations answer (NULL: absent). */
static const cJSON *remediation_in(const cJSON *j, const char *type)
{
    const cJSON *it;
    cJSON_ArrayForEach(
        it, cJSON_GetObjectItem(
                j, "items")) if (!strcmp(cJSON_GetObjectItem(it, "check_type")->valuestring,
                                         type)) return it;
    return NULL;
}

/* GET path as token: 200 and its JSON (the caller cJSON_Deletes it). */
static cJSON *get_json(const char *path, const char *token)
{
    resp r;
    api("GET", path, NULL, token, &r);
    ck_assert_msg(r.status == 200, "GET %s: %ld %s", path, r.status, r.body);
    cJSON *j = json_of(&r);
    resp_free(&r);
    return j;
}

START_TEST(remediations_api_isolated)
{
    sql("INSERT INTO check_types (tenant_id, check_type, check_name) VALUES "
        "('acme', 'rem_weak_mfa', 'Weak'), ('globex', 'rem_weak_mfa', 'Weak') "
        "ON CONFLICT DO NOTHING");
    expect_error("GET", "/api/v1/remediations", NULL, NULL, 401, NULL, "authentication required");
    resp r;
    api("PUT", "/api/v1/remediations/rem_weak_mfa", "{\"text\":\"Use the *app*.\\nThanks\"}",
        tok_acme, &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    cJSON *j = json_of(&r);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "text")->valuestring, "Use the *app*.\nThanks");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "is_default")));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "updated_by")->valuestring, "api:acme admin");
    cJSON_Delete(j);
    resp_free(&r);
    /* acme sees its text; globex the default; neither the other's. */
    j = get_json("/api/v1/remediations", tok_acme);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "tenant")->valuestring, "acme");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(remediation_in(j, "rem_weak_mfa"), "is_default")));
    cJSON_Delete(j);
    j = get_json("/api/v1/remediations", tok_globex);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(remediation_in(j, "rem_weak_mfa"), "is_default")));
    cJSON_Delete(j);
    expect_error("PUT", "/api/v1/remediations/rem_weak_mfa?tenant_id=acme", "{\"text\":\"x\"}",
                 tok_globex, 403, "tenant_id", "limited to tenant globex");
    expect_error("DELETE", "/api/v1/remediations/rem_weak_mfa?tenant_id=acme", NULL, tok_globex,
                 403, "tenant_id", NULL);
    /* The operator names the tenant. */
    expect_error("GET", "/api/v1/remediations", NULL, tok_op, 400, "tenant_id", "required");
    j = get_json("/api/v1/remediations?tenant_id=acme", tok_op);
    ck_assert_str_eq(cJSON_GetObjectItem(remediation_in(j, "rem_weak_mfa"), "text")->valuestring,
                     "Use the *app*.\nThanks");
    cJSON_Delete(j);
    /* Bad input names its field; nothing changes. */
    expect_error("PUT", "/api/v1/remediations/rem_weak_mfa", "{\"text\":\" \"}", tok_acme, 400,
                 "text", "empty");
    expect_error("PUT", "/api/v1/remediations/rem_weak_mfa", "{\"txt\":\"x\"}", tok_acme, 400,
                 "txt", "unknown field");
    expect_error("PUT", "/api/v1/remediations/rem_weak_mfa", "{\"text\":7}", tok_acme, 400, "text",
                 NULL);
    expect_error("PUT", "/api/v1/remediations/bad%20type", "{\"text\":\"x\"}", tok_acme, 400,
                 "check_type", NULL);
    expect_error("POST", "/api/v1/remediations/rem_weak_mfa", "{\"text\":\"x\"}", tok_acme, 405,
                 NULL, NULL);
    /* Reset: the default again, once. */
    api("DELETE", "/api/v1/remediations/rem_weak_mfa", NULL, tok_acme, &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    j = json_of(&r);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "reset")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "is_default")));
    cJSON_Delete(j);
    resp_free(&r);
    api("DELETE", "/api/v1/remediations/rem_weak_mfa", NULL, tok_acme, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"reset\":false"));
    resp_free(&r);
}
END_TEST

START_TEST(slack_actions_settings_api_isolated)
{
    expect_error("PUT", "/api/v1/settings/slack-actions", "{\"who\":\"none\"}", NULL, 401, NULL,
                 NULL);
    cJSON *j = get_json("/api/v1/settings/slack-actions", tok_globex);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "who")->valuestring, "channel");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "is_default")));
    cJSON_Delete(j);
    resp r;
    api("PUT", "/api/v1/settings/slack-actions",
        "{\"who\":\"listed\",\"users\":[\"W0BBB\",\"U0AAA\"],\"groups\":[\"S0SEC\"]}", tok_acme,
        &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    j = json_of(&r);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "who")->valuestring, "listed");
    ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "users"), 0)->valuestring, "U0AAA");
    cJSON_Delete(j);
    resp_free(&r);
    /* globex is untouched and cannot change acme's. */
    j = get_json("/api/v1/settings/slack-actions", tok_globex);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "who")->valuestring, "channel");
    cJSON_Delete(j);
    expect_error("PUT", "/api/v1/settings/slack-actions?tenant_id=acme", "{\"who\":\"none\"}",
                 tok_globex, 403, "tenant_id", NULL);
    j = get_json("/api/v1/settings/slack-actions?tenant_id=acme", tok_op);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "who")->valuestring, "listed");
    cJSON_Delete(j);
    expect_error("GET", "/api/v1/settings/slack-actions", NULL, tok_op, 400, "tenant_id", NULL);
    /* Validation names the field. */
    expect_error("PUT", "/api/v1/settings/slack-actions", "{\"who\":\"listed\"}", tok_acme, 400,
                 "who", "at least one");
    expect_error("PUT", "/api/v1/settings/slack-actions", "{\"who\":\"all\"}", tok_acme, 400, "who",
                 NULL);
    expect_error("PUT", "/api/v1/settings/slack-actions",
                 "{\"who\":\"listed\",\"users\":[\"u0aaa\"]}", tok_acme, 400, "users", "u0aaa");
    expect_error("PUT", "/api/v1/settings/slack-actions",
                 "{\"who\":\"listed\",\"groups\":\"S0SEC\"}", tok_acme, 400, "groups", NULL);
    expect_error("PUT", "/api/v1/settings/slack-actions",
                 "{\"who\":\"channel\",\"users\":[\"U0AAA\"]}", tok_acme, 400, "users",
                 "only with who listed");
    expect_error("PUT", "/api/v1/settings/slack-actions", "{\"who\":\"none\",\"extra\":1}",
                 tok_acme, 400, "extra", NULL);
    j = get_json("/api/v1/settings/slack-actions", tok_acme);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "who")->valuestring, "listed");
    cJSON_Delete(j);
}
END_TEST

/* ================================================================ issue 11: low items */

/* A second herald-api on the test database, with extra environment and
 * arguments (NULL-terminated); its base URL in base. Stopped by stop_other. */
static pid_t start_other(char *const *extra_env, char *const *extra_args, char *base,
                         size_t base_size)
{
    static char e_db[600];
    snprintf(e_db, sizeof e_db, "HERALD_DATABASE_URL=%s", db_url);
    char *env[16] = {e_db, "HERALD_SECRET_KEY=" SECRET_KEY, NULL};
    size_t ne = 2;
    for (size_t i = 0; extra_env && extra_env[i] && ne < 15; i++)
        env[ne++] = extra_env[i];
    env[ne] = NULL;
    char prog[1024];
    testlib_program("workers", "herald-api", prog, sizeof prog);
    char *argv[16] = {prog, "--listen", "127.0.0.1:0", NULL};
    size_t na = 3;
    for (size_t i = 0; extra_args && extra_args[i] && na < 15; i++)
        argv[na++] = extra_args[i];
    argv[na] = NULL;
    return spawn(prog, argv, env, api_log, base, base_size);
}

static void stop_other(pid_t pid)
{
    int status = 0;
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "herald-api exited %d", status);
}

/* A free TCP port on 127.0.0.1 (bound then released). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* --metrics-addr: /metrics and /healthz on a private address and not on the
 * API port; a failing /healthz answers a reason code, never PostgreSQL's
 * text (which goes to the log). */
START_TEST(metrics_on_a_separate_address)
{
    char ops[64], base[256], url[512];
    snprintf(ops, sizeof ops, "127.0.0.1:%d", free_port());
    PGconn *c = db();
    PGresult *t = PQexec(c, "SELECT now()");
    ck_assert_int_eq(PQresultStatus(t), PGRES_TUPLES_OK);
    char started[64];
    snprintf(started, sizeof started, "%s", PQgetvalue(t, 0, 0));
    PQclear(t);
    char *args[] = {"--metrics-addr", ops, "--threads", "1", NULL};
    pid_t pid = start_other(NULL, args, base, sizeof base);

    resp r;
    snprintf(url, sizeof url, "http://%s/metrics", ops);
    http("GET", url, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE herald_api_logins_total counter"));
    resp_free(&r);
    snprintf(url, sizeof url, "http://%s/healthz", ops);
    http("GET", url, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ok\n");
    resp_free(&r);
    snprintf(url, sizeof url, "%s/metrics", base);
    http("GET", url, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_null(strstr(r.body, "herald_api_logins_total"));
    resp_free(&r);
    snprintf(url, sizeof url, "%s/healthz", base);
    http("GET", url, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    resp_free(&r);

    /* Cut its one database connection: the next probe fails with a code. */
    char q[256];
    snprintf(q, sizeof q,
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
             "current_database() AND pid <> pg_backend_pid() AND backend_start > '%s'",
             started);
    t = PQexec(c, q);
    ck_assert_int_eq(PQresultStatus(t), PGRES_TUPLES_OK);
    ck_assert_int_ge(PQntuples(t), 1);
    PQclear(t);
    PQfinish(c);
    snprintf(url, sizeof url, "http://%s/healthz", ops);
    http("GET", url, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.body, "database_unreachable\n");
    resp_free(&r);
    stop_other(pid);
}
END_TEST

/* An https public URL: the session cookie is __Host-herald_session (Secure,
 * Path=/, no Domain) and every answer carries HSTS; an http one warns in the
 * log that cookies are not Secure. */
START_TEST(https_public_url_hardens_cookies)
{
    char base[256], url[512], body[256], sid[128], cookies[256];
    char *env[] = {"HERALD_PUBLIC_URL=https://herald.example.test", NULL};
    pid_t pid = start_other(env, NULL, base, sizeof base);

    snprintf(url, sizeof url, "%s/api/v1/session", base);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", tok_acme);
    req_opts o = {.origin = "https://herald.example.test"};
    resp r;
    http("POST", url, body, &o, &r);
    ck_assert_msg(r.status == 200, "login: %ld %s", r.status, r.body);
    ck_assert_msg(set_cookie(&r, "__Host-herald_session", sid, sizeof sid), "%s", r.headers);
    ck_assert_ptr_nonnull(strstr(r.headers, "; Secure"));
    ck_assert_ptr_nonnull(strstr(r.headers, "Path=/"));
    ck_assert_ptr_null(find_ci(r.headers, "Domain="));
    char hsts[128];
    ck_assert(header(&r, "Strict-Transport-Security", hsts, sizeof hsts));
    ck_assert_str_eq(hsts, "max-age=31536000");
    resp_free(&r);

    snprintf(cookies, sizeof cookies, "__Host-herald_session=%s", sid);
    req_opts with = {.cookies = cookies};
    http("GET", url, NULL, &with, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    /* the unprefixed name (what a plain-http page could set) is not a session */
    snprintf(cookies, sizeof cookies, "herald_session=%s", sid);
    http("GET", url, NULL, &with, &r);
    ck_assert_int_eq(r.status, 401);
    resp_free(&r);
    stop_other(pid);

    /* the suite's herald-api has an http public URL: no HSTS, a warning */
    api("GET", "/api/v1/session", NULL, tok_acme, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(!header(&r, "Strict-Transport-Security", hsts, sizeof hsts));
    resp_free(&r);
    char *log = read_log();
    ck_assert_ptr_nonnull(strstr(log, "the session cookie is not Secure"));
    free(log);
}
END_TEST

/* ================================================================ issue 11: install and tenancy */

/* GET /slack/install never leaves for Slack: a link (with any tenant in it)
 * only shows what would happen; the POST needs the session's CSRF token and
 * our own Origin. */
START_TEST(install_get_confirms_post_starts)
{
    session op;
    login(tok_op, &op);
    char url[512], cookies[256];
    snprintf(url, sizeof url, "%s/slack/install?tenant=evil", api_base);
    snprintf(cookies, sizeof cookies, "herald_session=%s", op.sid);
    req_opts o = {.cookies = cookies};
    resp r;
    http("GET", url, NULL, &o, &r);
    expect_page(&r, 200, "for tenant <strong id=\"install-tenant\">evil</strong>");
    ck_assert_ptr_null(find_ci(r.headers, "Location:"));
    ck_assert_ptr_nonnull(strstr(r.body, "method=\"post\" action=\"/slack/install\""));
    resp_free(&r);
    snprintf(url, sizeof url, "%s/slack/install?tenant=%%3Cscript%%3E", api_base);
    http("GET", url, NULL, &o, &r);
    expect_page(&r, 400, "not a tenant id");
    ck_assert_ptr_null(strstr(r.body, "<script>"));
    resp_free(&r);
    /* The POST: no CSRF token, a wrong one, another site's Origin, no Origin. */
    snprintf(url, sizeof url, "%s/slack/install", api_base);
    char form[256];
    snprintf(form, sizeof form, "csrf=%s&tenant=evil", op.csrf);
    const char *ct = "application/x-www-form-urlencoded";
    req_opts none = {.cookies = cookies, .origin = api_base, .ctype = ct};
    http("POST", url, "tenant=evil", &none, &r);
    ck_assert_int_eq(r.status, 403);
    resp_free(&r);
    req_opts cross = {.cookies = cookies, .origin = "https://evil.example", .ctype = ct};
    http("POST", url, form, &cross, &r);
    ck_assert_int_eq(r.status, 403);
    resp_free(&r);
    req_opts no_origin = {.cookies = cookies, .ctype = ct};
    http("POST", url, form, &no_origin, &r);
    expect_page(&r, 403, "Origin");
    resp_free(&r);
    ck_assert_int_eq(sql_long("SELECT count(*) FROM oauth_states WHERE tenant_id = 'evil'"), 0);
    req_opts good = {.cookies = cookies, .origin = api_base, .ctype = ct};
    http("POST", url, form, &good, &r);
    ck_assert_int_eq(r.status, 302);
    resp_free(&r);
    ck_assert_int_eq(sql_long("SELECT count(*) FROM oauth_states WHERE tenant_id = 'evil'"), 1);
}
END_TEST

/* The callback finds the session that started the install ended: refused. */
START_TEST(install_callback_rechecks_session)
{
    session s;
    login(tok_acme, &s);
    char cb[2048], oc[128], url[512], cookies[256];
    install_begin(&s, cb, sizeof cb, oc, sizeof oc);
    snprintf(url, sizeof url, "%s/api/v1/session", api_base);
    snprintf(cookies, sizeof cookies, "herald_session=%s", s.sid);
    req_opts out = {.cookies = cookies, .csrf = s.csrf};
    resp r;
    http("DELETE", url, NULL, &out, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    install_finish(cb, &s, oc, &r);
    expect_page(&r, 403, "session that started this installation has ended");
    resp_free(&r);
    /* Another live session of the same token is not the one that started it. */
    session s2, s3;
    login(tok_acme, &s2);
    login(tok_acme, &s3);
    install_begin(&s3, cb, sizeof cb, oc, sizeof oc);
    install_finish(cb, &s2, oc, &r);
    expect_page(&r, 400, "another browser");
    resp_free(&r);
}
END_TEST

/* The sealed token of T0FAKE01 as hex, to see it left alone. */
static char *token_hex(void)
{
    PGconn *c = db();
    PGresult *r =
        PQexec(c, "SELECT encode(token_enc, 'hex') FROM workspaces WHERE team_id = 'T0FAKE01'");
    ck_assert_int_eq(PQntuples(r), 1);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

START_TEST(install_cannot_take_another_tenants_workspace)
{
    /* T0FAKE01 is acme's (and initech's, linked by an earlier test); globex
     * holds nothing there. */
    sql("DELETE FROM workspace_tenants WHERE team_id = 'T0FAKE01' AND tenant_id = 'globex'");
    session g;
    login(tok_globex, &g);
    char *before = token_hex();
    char cb[2048], oc[128];
    install_begin(&g, cb, sizeof cb, oc, sizeof oc);
    resp r;
    install_finish(cb, &g, oc, &r);
    expect_page(&r, 403, "for another tenant");
    ck_assert_ptr_nonnull(strstr(r.body, "heraldctl workspace share T0FAKE01 --tenant globex"));
    resp_free(&r);
    char *after = token_hex();
    ck_assert_str_eq(before, after);
    free(after);
    ck_assert_int_eq(sql_long("SELECT count(*) FROM workspace_tenants WHERE tenant_id = 'globex'"),
                     0);
    expect_error("GET", "/api/v1/workspaces/T0FAKE01/channels", NULL, tok_globex, 404, NULL, NULL);
    /* Only an operator shares it. */
    expect_error("POST", "/api/v1/workspaces/T0FAKE01/tenants", "{\"tenant\":\"globex\"}", tok_acme,
                 403, NULL, "only an operator");
    expect_error("POST", "/api/v1/workspaces/T0FAKE01/tenants", "{\"tenant\":\"a b\"}", tok_op, 400,
                 "tenant", NULL);
    expect_error("POST", "/api/v1/workspaces/T0NOPE/tenants", "{\"tenant\":\"globex\"}", tok_op,
                 404, NULL, NULL);
    api("POST", "/api/v1/workspaces/T0FAKE01/tenants", "{\"tenant\":\"globex\"}", tok_op, &r);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    resp_free(&r);
    api("GET", "/api/v1/workspaces/T0FAKE01/channels", NULL, tok_globex, &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    resp_free(&r);
    /* Shared: a tenant's reinstall would replace the others' token. */
    install_begin(&g, cb, sizeof cb, oc, sizeof oc);
    install_finish(cb, &g, oc, &r);
    expect_page(&r, 403, "other tenants depend on its bot token");
    resp_free(&r);
    after = token_hex();
    ck_assert_str_eq(before, after);
    free(after);
    /* An operator's reinstall replaces it, as before. */
    session op;
    login(tok_op, &op);
    install_ok(&op);
    after = token_hex();
    ck_assert_str_ne(after, before);
    free(after);
    free(before);
    /* Unshare: globex loses it; the installation stays. */
    expect_error("DELETE", "/api/v1/workspaces/T0FAKE01/tenants/globex", NULL, tok_globex, 403,
                 NULL, NULL);
    api("DELETE", "/api/v1/workspaces/T0FAKE01/tenants/globex", NULL, tok_op, &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    resp_free(&r);
    expect_error("DELETE", "/api/v1/workspaces/T0FAKE01/tenants/globex", NULL, tok_op, 404, NULL,
                 "not linked");
    expect_error("GET", "/api/v1/workspaces/T0FAKE01", NULL, tok_globex, 404, NULL, NULL);
    ck_assert_int_eq(
        sql_long("SELECT count(*) FROM workspaces WHERE team_id = 'T0FAKE01' AND removed_at IS "
                 "NULL"),
        1);
}
END_TEST

/* target_count counts the caller's tenant's targets only. */
START_TEST(workspace_target_count_is_per_tenant)
{
    sql("INSERT INTO workspace_tenants (team_id, tenant_id) VALUES ('T0FAKE01', 'initech') "
        "ON CONFLICT DO NOTHING");
    create_target(tok_initech, "{\"workspace\":\"T0FAKE01\",\"name\":\"Count me\","
                               "\"destination\":\"C0GENERAL\",\"uses\":[\"failed_check\"]}");
    long mine = sql_long("SELECT count(*) FROM targets WHERE team_id = 'T0FAKE01' AND tenant_id = "
                         "'initech' AND deleted_at IS NULL");
    long all = sql_long("SELECT count(*) FROM targets WHERE team_id = 'T0FAKE01' AND deleted_at "
                        "IS NULL");
    ck_assert_int_lt(mine, all); /* acme has targets there too */
    const char *paths[] = {"/api/v1/workspaces", "/api/v1/workspaces/T0FAKE01"};
    for (size_t i = 0; i < 2; i++) {
        for (int who = 0; who < 2; who++) {
            cJSON *j = get_json(paths[i], who ? tok_op : tok_initech);
            const cJSON *w = i == 0 ? cJSON_GetArrayItem(cJSON_GetObjectItem(j, "items"), 0) : j;
            const cJSON *n = cJSON_GetObjectItem(w, "target_count");
            ck_assert_msg(cJSON_IsNumber(n), "no target_count");
            ck_assert_int_eq((long)n->valuedouble, who ? all : mine);
            cJSON_Delete(j);
        }
    }
}
END_TEST

/* before_id is looked up among the caller's deliveries only: another
 * tenant's id must not move the cursor to that delivery's time. */
START_TEST(deliveries_before_id_stays_in_tenant)
{
    sql("INSERT INTO workspace_tenants (team_id, tenant_id) VALUES ('T0FAKE01', 'initech') "
        "ON CONFLICT DO NOTHING");
    long ta = create_target(tok_acme, "{\"workspace\":\"T0FAKE01\",\"name\":\"Cursor A\","
                                      "\"destination\":\"C0GENERAL\",\"uses\":[\"failed_check\"]}");
    long tb =
        create_target(tok_initech, "{\"workspace\":\"T0FAKE01\",\"name\":\"Cursor B\","
                                   "\"destination\":\"C0GENERAL\",\"uses\":[\"failed_check\"]}");
    long d[3];
    long tgt[3] = {ta, tb, ta};
    const char *tok[3] = {tok_acme, tok_initech, tok_acme};
    for (int i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof path, "/api/v1/targets/%ld/test", tgt[i]);
        resp r;
        api("POST", path, NULL, tok[i], &r);
        ck_assert_msg(r.status == 200, "%s", r.body);
        cJSON *j = json_of(&r);
        d[i] = (long)cJSON_GetObjectItem(j, "delivery_id")->valuedouble;
        cJSON_Delete(j);
        resp_free(&r);
    }
    char q[256];
    /* initech's delivery is the oldest; acme's first one is between. */
    snprintf(q, sizeof q,
             "UPDATE deliveries SET created_at = now() - CASE id WHEN %ld THEN interval '30 min' "
             "WHEN %ld THEN interval '1 hour' ELSE interval '5 min' END WHERE id IN (%ld,%ld,%ld)",
             d[0], d[1], d[0], d[1], d[2]);
    sql(q);
    snprintf(q, sizeof q, "/api/v1/deliveries?target_id=%ld&before_id=%ld", ta, d[1]);
    cJSON *j = get_json(q, tok_acme);
    const cJSON *items = cJSON_GetObjectItem(j, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    ck_assert_int_eq((long)cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "id")->valuedouble,
                     d[0]);
    cJSON_Delete(j);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    testlib_db_create("api", db_url, sizeof db_url);
    PGconn *c = testlib_db_connect(db_url);
    char err[256];
    int64_t id;
    if (apitoken_create(c, "acme", "acme admin", tok_acme, &id, err, sizeof err) ||
        apitoken_create(c, "globex", "globex admin", tok_globex, &id, err, sizeof err) ||
        apitoken_create(c, NULL, "operator", tok_op, &id, err, sizeof err) ||
        apitoken_create(c, "initech", "initech admin", tok_initech, &id, err, sizeof err)) {
        fprintf(stderr, "creating tokens: %s\n", err);
        return EXIT_FAILURE;
    }
    PQfinish(c);
    start_all();
    login(tok_acme, &acme_s);
    in_setup = false;

    Suite *s = suite_create("api");
    TCase *tc = tcase_create("install");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, install_flow_and_reinstall);
    tcase_add_test(tc, install_state_reused);
    tcase_add_test(tc, install_state_missing_or_unknown);
    tcase_add_test(tc, install_state_mismatched);
    tcase_add_test(tc, install_state_expired);
    tcase_add_test(tc, install_access_denied);
    tcase_add_test(tc, install_error_cannot_forge_log_lines);
    tcase_add_test(tc, install_needs_sign_in);
    suite_add_tcase(s, tc);
    TCase *ta = tcase_create("api");
    tcase_set_timeout(ta, 120);
    tcase_add_test(ta, auth_required_on_every_endpoint);
    tcase_add_test(ta, sessions_and_csrf);
    tcase_add_test(ta, target_crud_and_validation);
    tcase_add_test(ta, bad_bodies_are_4xx);
    tcase_add_test(ta, tenant_tokens_are_isolated);
    tcase_add_test(ta, target_quiet_settings_round_trip);
    tcase_add_test(ta, silences_crud_and_isolation);
    tcase_add_test(ta, test_message_arrives_and_is_listed);
    tcase_add_test(ta, test_message_with_unreadable_token_fails_cleanly);
    tcase_add_test(ta, install_with_rotation_then_test_message_refreshes);
    tcase_add_test(ta, test_message_cli_and_api_agree);
    tcase_add_test(ta, test_message_waits_out_429);
    tcase_add_test(ta, deliveries_pagination);
    tcase_add_test(ta, activity_per_hour_and_isolated);
    tcase_add_test(ta, checks_seen_and_editable);
    tcase_add_test(ta, metrics_and_healthz);
    tcase_add_test(ta, remediations_api_isolated);
    tcase_add_test(ta, slack_actions_settings_api_isolated);
    tcase_add_test(ta, metrics_on_a_separate_address);
    tcase_add_test(ta, https_public_url_hardens_cookies);
    tcase_add_test(ta, install_get_confirms_post_starts);
    tcase_add_test(ta, install_callback_rechecks_session);
    tcase_add_test(ta, workspace_target_count_is_per_tenant);
    tcase_add_test(ta, deliveries_before_id_stays_in_tenant);
    tcase_add_test(ta, install_cannot_take_another_tenants_workspace);
    suite_add_tcase(s, ta);
    TCase *tl = tcase_create("logs");
    tcase_add_test(tl, no_secrets_in_logs);
    suite_add_tcase(s, tl);
    int failed = testlib_run_suite(s) != EXIT_SUCCESS;
    if (graceful_stop() != 0)
        failed++;
    testlib_fake_slack_stop(&slack);
    if (!failed)
        unlink(api_log); /* kept when something failed: the debug log says why */
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
