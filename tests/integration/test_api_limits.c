/*
 * herald-api's availability limits (issue 11) against PostgreSQL and the fake
 * Slack made slow (its delay fault): no database connection is held while
 * Slack answers, one tenant's Slack-bound requests are limited (429) so
 * another tenant is still served, the channel list is cached, and failed
 * sign-ins and bad bearer tokens are limited per client address.
 * herald-api runs in this process, started by each test with its limits.
 */
#include "testlib.h"

#include "workers/api/api.h"

#include "common/crypto.h"
#include "common/metrics.h"
#include "store/apitoken.h"

#include <check.h>
#include <cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SECRET_KEY "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" /* 32 bytes, base64 */
#define SLOW_MS    4000 /* the fake's conversations.list delay: far longer than a query */

static char db_url[512];
static testlib_fake_slack slack;
static api_server *srv;
static metrics_registry *reg;
static char api_url[128];
static char tok_a[APITOKEN_TEXT_LEN + 1], tok_b[APITOKEN_TEXT_LEN + 1];

static const char *fake_state =
    "{\"workspaces\":[{\"id\":\"T1\",\"name\":\"Acme\",\"tokens\":[\"xoxb-t1\"]},"
    "{\"id\":\"T2\",\"name\":\"Globex\",\"tokens\":[\"xoxb-t2\"]}],"
    "\"channels\":[{\"id\":\"C1\",\"name\":\"sec\",\"team\":\"T1\",\"member\":true},"
    "{\"id\":\"C2\",\"name\":\"ops\",\"team\":\"T2\",\"member\":true}]}";

/* ================================================================ server */

static void api_start(unsigned threads, unsigned slack_per_tenant, int64_t channel_ttl_ms,
                      unsigned auth_per_min, bool trust_proxy)
{
    char err[512];
    reg = metrics_registry_new();
    api_config cfg;
    api_config_defaults(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.database_url = db_url;
    cfg.slack_api_url = slack.api_url;
    cfg.secret_key = SECRET_KEY;
    cfg.threads = threads;
    cfg.slack_concurrency_per_tenant = slack_per_tenant;
    cfg.channel_cache_ttl_ms = channel_ttl_ms;
    cfg.auth_failures_per_minute = auth_per_min;
    cfg.trust_proxy = trust_proxy;
    cfg.metrics = reg;
    srv = api_server_new(&cfg, err, sizeof err);
    ck_assert_msg(srv && api_server_start(srv, err, sizeof err) == 0, "herald-api: %s", err);
    snprintf(api_url, sizeof api_url, "http://127.0.0.1:%u", api_server_port(srv));
}

static void setup(void)
{
    cJSON_Delete(testlib_fake_slack_control(&slack, "/_fake/reset", "{}"));
}

static void teardown(void)
{
    cJSON_Delete(testlib_fake_slack_control(&slack, "/_fake/faults", "{\"clear\":true}"));
    api_server_destroy(srv); /* waits for running requests */
    srv = NULL;
    metrics_registry_destroy(reg);
    reg = NULL;
}

/* ================================================================ HTTP */

typedef struct answer {
    long status;
    char retry_after[32];
    char *body;
} answer;

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    answer *a = ud;
    size_t len = sz * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        const char *v = p + 12;
        while (*v == ' ')
            v++;
        snprintf(a->retry_after, sizeof a->retry_after, "%.*s", (int)strcspn(v, "\r\n"), v);
    }
    return len;
}

/* method path as token (NULL: none) with body (NULL: none) and an
 * X-Forwarded-For (NULL: none). */
static void request(const char *method, const char *path, const char *token, const char *body,
                    const char *xff, answer *a)
{
    memset(a, 0, sizeof *a);
    testlib_http_buf buf = {0};
    char url[512], h[512];
    snprintf(url, sizeof url, "%s%s", api_url, path);
    CURL *c = curl_easy_init();
    struct curl_slist *hs = NULL;
    if (token) {
        snprintf(h, sizeof h, "Authorization: Bearer %s", token);
        hs = curl_slist_append(hs, h);
    }
    if (xff) {
        snprintf(h, sizeof h, "X-Forwarded-For: %s", xff);
        hs = curl_slist_append(hs, h);
    }
    if (body) {
        hs = curl_slist_append(hs, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, testlib_http_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    a->body = buf.p ? buf.p : strdup("");
}

/* One request on a thread of its own (parallel requests). */
typedef struct inflight {
    const char *path;
    const char *token;
    answer a;
    volatile int done;
    pthread_t th;
} inflight;

static void *inflight_run(void *arg)
{
    inflight *f = arg;
    request("GET", f->path, f->token, NULL, NULL, &f->a);
    __atomic_store_n(&f->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void inflight_start(inflight *f, const char *path, const char *token)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    f->token = token;
    ck_assert_int_eq(pthread_create(&f->th, NULL, inflight_run, f), 0);
}

static int inflight_done(inflight *f)
{
    return __atomic_load_n(&f->done, __ATOMIC_SEQ_CST);
}

static void inflight_join(inflight *f)
{
    pthread_join(f->th, NULL);
}

/* ================================================================ observations */

static double fake_requests(const char *method)
{
    cJSON *st = testlib_fake_slack_control(&slack, "/_fake/stats", NULL);
    const cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "requests"), method);
    double v = cJSON_IsNumber(n) ? n->valuedouble : 0;
    cJSON_Delete(st);
    return v;
}

/* Waits (20 s at most) until the fake has been asked method n times. */
static void wait_fake_requests(const char *method, double n)
{
    for (int i = 0; i < 400 && fake_requests(method) < n; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(fake_requests(method) >= n, "the fake never got %g %s calls", n, method);
}

/* A series' value from /metrics (series as rendered); 0 when absent. */
static double metric(const char *series)
{
    answer a;
    request("GET", "/metrics", NULL, NULL, NULL, &a);
    ck_assert_int_eq(a.status, 200);
    double v = 0;
    size_t n = strlen(series);
    for (const char *p = a.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            v = strtod(p + n + 1, NULL);
    free(a.body);
    return v;
}

static void slow_channel_lists(void)
{
    char body[128];
    snprintf(body, sizeof body, "{\"delay_ms\":%d,\"methods\":[\"conversations.list\"]}", SLOW_MS);
    cJSON_Delete(testlib_fake_slack_control(&slack, "/_fake/faults", body));
}

/* ================================================================ connections */

/* While Slack is slow to list channels, the requests waiting for it hold no
 * database connection (before issue 11 each held one for its whole run, so
 * N slow lists took the whole pool). */
START_TEST(no_connection_held_while_slack_answers)
{
    api_start(4, 2, 0, 10, false);
    slow_channel_lists();
    inflight a1, a2;
    inflight_start(&a1, "/api/v1/workspaces/T1/channels", tok_a);
    inflight_start(&a2, "/api/v1/workspaces/T1/channels", tok_a);
    wait_fake_requests("conversations.list", 2);
    /* Both are inside the Slack call now (the fake counts before it sleeps). */
    ck_assert_msg(!inflight_done(&a1) && !inflight_done(&a2),
                  "the slow lists were not slow: %ld %s / %ld %s", a1.a.status,
                  a1.a.body ? a1.a.body : "", a2.a.status, a2.a.body ? a2.a.body : "");
    ck_assert_int_eq((int)metric("herald_api_db_connections_in_use"), 0);
    /* Tenant B is served meanwhile, from the database. */
    answer b;
    request("GET", "/api/v1/targets", tok_b, NULL, NULL, &b);
    ck_assert_msg(b.status == 200, "tenant B: %ld %s", b.status, b.body);
    ck_assert_msg(!inflight_done(&a1) && !inflight_done(&a2),
                  "tenant B was answered only after tenant A's slow requests");
    free(b.body);
    inflight_join(&a1);
    inflight_join(&a2);
    ck_assert_msg(a1.a.status == 200, "%ld %s", a1.a.status, a1.a.body);
    ck_assert_ptr_nonnull(strstr(a1.a.body, "\"C1\""));
    free(a1.a.body);
    free(a2.a.body);
}
END_TEST

/* With --threads N, N slow channel lists of tenant A: A's limit (2) runs and
 * the rest get 429 Retry-After: 1 at once, so tenant B still finds a free
 * thread (before issue 11 B waited behind A's Slack calls). */
START_TEST(one_tenant_cannot_take_every_thread)
{
    enum { N = 4 };
    api_start(N, 2, 0, 10, false);
    double limited = metric("herald_api_rate_limited_total{kind=\"slack_concurrency\"}");
    slow_channel_lists();
    inflight a[N];
    for (int i = 0; i < N; i++)
        inflight_start(&a[i], "/api/v1/workspaces/T1/channels?refresh=true", tok_a);
    wait_fake_requests("conversations.list", 2);
    /* The other two were refused at once. */
    for (int i = 0; i < 400; i++) {
        int done = 0;
        for (int k = 0; k < N; k++)
            done += inflight_done(&a[k]);
        if (done >= N - 2)
            break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    answer b;
    request("GET", "/api/v1/targets", tok_b, NULL, NULL, &b);
    ck_assert_msg(b.status == 200, "tenant B: %ld %s", b.status, b.body);
    free(b.body);
    int running = 0;
    for (int k = 0; k < N; k++)
        running += !inflight_done(&a[k]);
    ck_assert_msg(running == 2, "%d of tenant A's slow lists still running when B was answered",
                  running);
    /* B's own Slack-bound request is not A's to refuse. */
    answer bs;
    request("GET", "/api/v1/workspaces/T2", tok_b, NULL, NULL, &bs);
    ck_assert_msg(bs.status == 200, "tenant B's workspace: %ld %s", bs.status, bs.body);
    free(bs.body);
    int ok = 0, refused = 0;
    for (int k = 0; k < N; k++) {
        inflight_join(&a[k]);
        if (a[k].a.status == 200)
            ok++;
        if (a[k].a.status == 429) {
            refused++;
            ck_assert_str_eq(a[k].a.retry_after, "1");
        }
        free(a[k].a.body);
    }
    ck_assert_int_eq(ok, 2);
    ck_assert_int_eq(refused, N - 2);
    ck_assert_int_eq((int)fake_requests("conversations.list"), 2);
    ck_assert_int_eq(
        (int)(metric("herald_api_rate_limited_total{kind=\"slack_concurrency\"}") - limited),
        N - 2);
    /* The slots came back: A may list again. */
    answer again;
    request("GET", "/api/v1/workspaces/T1/channels?refresh=true", tok_a, NULL, NULL, &again);
    ck_assert_int_eq(again.status, 200);
    free(again.body);
}
END_TEST

/* ================================================================ cache */

START_TEST(channel_list_is_cached)
{
    api_start(2, 2, 60 * 1000, 10, false);
    answer a;
    request("GET", "/api/v1/workspaces/T1/channels", tok_a, NULL, NULL, &a);
    ck_assert_msg(a.status == 200, "%ld %s", a.status, a.body);
    ck_assert_ptr_nonnull(strstr(a.body, "\"can_post\":true"));
    char *first = a.body;
    request("GET", "/api/v1/workspaces/T1/channels", tok_a, NULL, NULL, &a);
    ck_assert_int_eq(a.status, 200);
    ck_assert_str_eq(a.body, first);
    free(a.body);
    free(first);
    ck_assert_int_eq((int)fake_requests("conversations.list"), 1);
    /* refresh=true asks Slack again; another tenant never sees T1's list. */
    request("GET", "/api/v1/workspaces/T1/channels?refresh=true", tok_a, NULL, NULL, &a);
    ck_assert_int_eq(a.status, 200);
    free(a.body);
    ck_assert_int_eq((int)fake_requests("conversations.list"), 2);
    request("GET", "/api/v1/workspaces/T1/channels", tok_b, NULL, NULL, &a);
    ck_assert_int_eq(a.status, 404);
    free(a.body);
}
END_TEST

START_TEST(channel_cache_off_with_ttl_0)
{
    api_start(2, 2, 0, 10, false);
    answer a;
    for (int i = 0; i < 2; i++) {
        request("GET", "/api/v1/workspaces/T1/channels", tok_a, NULL, NULL, &a);
        ck_assert_int_eq(a.status, 200);
        free(a.body);
    }
    ck_assert_int_eq((int)fake_requests("conversations.list"), 2);
}
END_TEST

/* ================================================================ authentication failures */

#define BAD_TOKEN "hrld_notavalidtokenatallnotavalidtokenatallnota"

START_TEST(bad_tokens_limited_per_address)
{
    api_start(2, 2, 0, 10, true);
    double before = metric("herald_api_rate_limited_total{kind=\"auth\"}");
    double fails = metric("herald_api_auth_failures_total{reason=\"bad_token\"}");
    answer a;
    for (int i = 0; i < 10; i++) {
        request("GET", "/api/v1/targets", BAD_TOKEN, NULL, "192.0.2.7", &a);
        ck_assert_msg(a.status == 401, "bad token #%d: %ld %s", i + 1, a.status, a.body);
        free(a.body);
    }
    request("GET", "/api/v1/targets", BAD_TOKEN, NULL, "192.0.2.7", &a);
    ck_assert_msg(a.status == 429, "the 11th bad token: %ld %s", a.status, a.body);
    long wait = strtol(a.retry_after, NULL, 10);
    ck_assert_msg(wait >= 1 && wait <= 60, "Retry-After: '%s'", a.retry_after);
    free(a.body);
    /* Even a good token is refused from that address: no oracle for guesses. */
    request("GET", "/api/v1/targets", tok_a, NULL, "192.0.2.7", &a);
    ck_assert_int_eq(a.status, 429);
    free(a.body);
    /* So are sign-ins. */
    char body[256];
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", BAD_TOKEN);
    request("POST", "/api/v1/session", NULL, body, "192.0.2.7", &a);
    ck_assert_int_eq(a.status, 429);
    free(a.body);
    /* Another address is unaffected. */
    request("GET", "/api/v1/targets", tok_b, NULL, "198.51.100.9", &a);
    ck_assert_msg(a.status == 200, "%ld %s", a.status, a.body);
    free(a.body);
    ck_assert_int_eq((int)(metric("herald_api_rate_limited_total{kind=\"auth\"}") - before), 3);
    ck_assert_int_eq((int)(metric("herald_api_auth_failures_total{reason=\"bad_token\"}") - fails),
                     10);
}
END_TEST

START_TEST(failed_sign_ins_limited_per_address)
{
    api_start(2, 2, 0, 3, false);
    char body[256];
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", BAD_TOKEN);
    answer a;
    for (int i = 0; i < 3; i++) {
        request("POST", "/api/v1/session", NULL, body, NULL, &a);
        ck_assert_msg(a.status == 401, "sign-in #%d: %ld %s", i + 1, a.status, a.body);
        free(a.body);
    }
    request("POST", "/api/v1/session", NULL, body, NULL, &a);
    ck_assert_msg(a.status == 429, "the 4th failed sign-in: %ld %s", a.status, a.body);
    ck_assert_msg(strtol(a.retry_after, NULL, 10) >= 1, "Retry-After: '%s'", a.retry_after);
    free(a.body);
    /* Without --trust-proxy, X-Forwarded-For does not make a new address. */
    request("POST", "/api/v1/session", NULL, body, "203.0.113.5", &a);
    ck_assert_int_eq(a.status, 429);
    free(a.body);
    ck_assert_int_eq((int)metric("herald_api_auth_failures_total{reason=\"bad_login\"}"), 3);
    ck_assert_int_eq((int)metric("herald_api_rate_limited_total{kind=\"auth\"}"), 2);
}
END_TEST

/* ================================================================ main */

static void seed(void)
{
    PGconn *c = testlib_db_connect(db_url);
    unsigned char key[CRYPTO_KEY_LEN];
    char err[512];
    int64_t id;
    if (crypto_key_from_base64(SECRET_KEY, key, err, sizeof err) != 0 ||
        apitoken_create(c, "acme", "acme admin", tok_a, &id, err, sizeof err) ||
        apitoken_create(c, "globex", "globex admin", tok_b, &id, err, sizeof err)) {
        fprintf(stderr, "setup: %s\n", err);
        exit(EXIT_FAILURE);
    }
    char *t1 = testlib_sealed_token_hex(key, "xoxb-t1"),
         *t2 = testlib_sealed_token_hex(key, "xoxb-t2");
    char *sql = testlib_fmt("INSERT INTO workspaces (team_id, team_name, token_enc) VALUES "
                            "('T1', 'Acme', '%s'), ('T2', 'Globex', '%s')",
                            t1, t2);
    testlib_db_exec(c, sql);
    free(sql);
    free(t1);
    free(t2);
    testlib_db_exec(c, "INSERT INTO workspace_tenants (team_id, tenant_id) VALUES "
                       "('T1', 'acme'), ('T2', 'globex')");
    PQfinish(c);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    testlib_db_create("api_limits", db_url, sizeof db_url);
    testlib_fake_slack_start_json(fake_state, (const char *const[]){"--rate", "0", NULL}, &slack);
    seed();
    Suite *s = suite_create("api_limits");
    TCase *tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 90);
    const TTest *tests[] = {
        no_connection_held_while_slack_answers,
        one_tenant_cannot_take_every_thread,
        channel_list_is_cached,
        channel_cache_off_with_ttl_0,
        bad_tokens_limited_per_address,
        failed_sign_ins_limited_per_address,
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        testlib_add_test(tc, tests[i], "API_LIMITS_TEST");
    suite_add_tcase(s, tc);
    int rc = testlib_run_suite(s);
    testlib_fake_slack_stop(&slack);
    curl_global_cleanup();
    return rc;
}
