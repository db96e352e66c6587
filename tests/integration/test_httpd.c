/* httpd: a real server on loopback, driven with libcurl. */
#include "common/httpd.h"
#include "common/metrics.h"
#include "testlib.h"

#include <check.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct resp {
    long status;
    char body[1 << 16];
    size_t len;
    char headers[8192];
    size_t hlen;
    CURLcode rc;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = sz * n;
    size_t room = sizeof r->body - 1 - r->len;
    size_t take = len < room ? len : room;
    memcpy(r->body + r->len, p, take);
    r->len += take;
    r->body[r->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = sz * n;
    size_t room = sizeof r->headers - 1 - r->hlen;
    size_t take = len < room ? len : room;
    memcpy(r->headers + r->hlen, p, take);
    r->hlen += take;
    r->headers[r->hlen] = '\0';
    return len;
}

/* One request. body may be NULL; extra_header may be NULL. chunked sends the
 * body without Content-Length. */
static void request(uint16_t port, const char *method, const char *path, const char *body,
                    size_t body_len, const char *extra_header, bool chunked, resp *r)
{
    memset(r, 0, sizeof *r);
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    struct curl_slist *hs = NULL;
    if (extra_header)
        hs = curl_slist_append(hs, extra_header);
    if (chunked)
        hs = curl_slist_append(hs, "Transfer-Encoding: chunked");
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        if (!chunked)
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (hs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    r->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
}

static void get(uint16_t port, const char *path, resp *r)
{
    request(port, "GET", path, NULL, 0, NULL, false, r);
}

/* ------------------------------------------------------------ handlers */

static atomic_bool healthy = true;

static bool health(void *arg, char *reason, size_t size)
{
    if (atomic_load(&healthy))
        return true;
    snprintf(reason, size, "database unreachable: %s", (const char *)arg);
    return false;
}

static void h_echo(httpd_req *req, void *arg)
{
    size_t len;
    const char *body = httpd_req_body(req, &len);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", httpd_req_method(req));
    cJSON_AddStringToObject(o, "path", httpd_req_path(req));
    cJSON_AddStringToObject(o, "rest", httpd_req_path_rest(req));
    cJSON_AddNumberToObject(o, "len", (double)len);
    cJSON_AddStringToObject(o, "body", body);
    const char *q = httpd_req_query(req, "q");
    cJSON_AddStringToObject(o, "q", q ? q : "(none)");
    const char *hv = httpd_req_header(req, "x-herald-test");
    cJSON_AddStringToObject(o, "hdr", hv ? hv : "(none)");
    const char *ck = httpd_req_cookie(req, "sid");
    cJSON_AddStringToObject(o, "cookie", ck ? ck : "(none)");
    const char *f = httpd_req_form(req, "name");
    cJSON_AddStringToObject(o, "form", f ? f : "(none)");
    cJSON_AddStringToObject(o, "tag", (const char *)arg);
    cJSON_AddStringToObject(o, "client", httpd_req_client(req));
    httpd_set_cookie(req, "sid", "abc", 3600, "Strict", false);
    httpd_respond_json(req, 200, o);
    cJSON_Delete(o);
}

static void h_json(httpd_req *req, void *arg)
{
    char err[256];
    cJSON *j = httpd_req_json(req, err, sizeof err);
    if (!j) {
        httpd_respond_error(req, 400, "%s", err);
        return;
    }
    cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (!cJSON_IsString(name)) {
        httpd_respond_error(req, 422, "name: expected a string");
        return;
    }
    httpd_respond_text(req, 201, name->valuestring);
}

static void h_silent(httpd_req *req, void *arg) {}

static void h_redirect(httpd_req *req, void *arg)
{
    httpd_redirect(req, 303, "/elsewhere?x=1");
}

/* -------------------------------------------------------------- fixture */

static httpd *srv;
static metrics_registry *reg;
static uint16_t port;

static void setup(void)
{
    atomic_store(&healthy, true);
    reg = metrics_registry_new();
    metrics_counter *c = metrics_counter_new_in(reg, "herald_test_things_total", "Things.", "kind");
    metrics_counter_inc(c, "a\"b");
    httpd_config cfg = {.addr = "127.0.0.1:0",
                        .max_body = 1000,
                        .threads = 2,
                        .metrics = reg,
                        .health = health,
                        .health_arg = "connection refused"};
    char err[256];
    srv = httpd_new(&cfg, err, sizeof err);
    ck_assert_msg(srv != NULL, "%s", err);
    httpd_route(srv, "POST", "/echo", h_echo, "exact");
    httpd_route(srv, "GET", "/echo", h_echo, "exact-get");
    httpd_route_prefix(srv, NULL, "/things/", h_echo, "prefix");
    httpd_route_prefix(srv, "GET", "/things/special/", h_echo, "longer-prefix");
    httpd_route(srv, "POST", "/json", h_json, NULL);
    httpd_route(srv, "GET", "/silent", h_silent, NULL);
    httpd_route(srv, "GET", "/redirect", h_redirect, NULL);
    ck_assert_msg(httpd_start(srv, err, sizeof err) == 0, "%s", err);
    port = httpd_port(srv);
    ck_assert_uint_gt(port, 0);
}

static void teardown(void)
{
    httpd_destroy(srv);
    srv = NULL;
    metrics_registry_destroy(reg);
}

/* ---------------------------------------------------------------- tests */

START_TEST(metrics_endpoint)
{
    resp r;
    get(port, "/healthz", &r); /* counted below */
    get(port, "/metrics", &r);
    ck_assert_int_eq(r.rc, CURLE_OK);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.headers, "text/plain; version=0.0.4"));
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE herald_test_things_total counter\n"
                                         "herald_test_things_total{kind=\"a\\\"b\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(r.body, "herald_http_requests_total{route=\"/healthz\",code=\"200\"} 1\n"));
    get(port, "/nope", &r);
    get(port, "/metrics", &r);
    ck_assert_ptr_nonnull(
        strstr(r.body, "herald_http_requests_total{route=\"/metrics\",code=\"200\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(r.body, "herald_http_requests_total{route=\"unmatched\",code=\"404\"} 1\n"));
}
END_TEST

START_TEST(healthz_ok_and_unhealthy)
{
    resp r;
    get(port, "/healthz", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ok\n");
    atomic_store(&healthy, false);
    get(port, "/healthz", &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.body, "database unreachable: connection refused\n");
}
END_TEST

START_TEST(not_found_and_method_not_allowed)
{
    resp r;
    get(port, "/nope", &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(strstr(r.headers, "application/json"));
    ck_assert_str_eq(r.body, "{\"error\":\"no such resource: GET /nope\"}");
    request(port, "DELETE", "/echo", NULL, 0, NULL, false, &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert_ptr_nonnull(strstr(r.headers, "Allow: POST, GET"));
    request(port, "POST", "/metrics", "x", 1, NULL, false, &r);
    ck_assert_int_eq(r.status, 404);
}
END_TEST

START_TEST(exact_and_prefix_routes)
{
    resp r;
    get(port, "/things/12?q=a%20b", &r);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "tag")->valuestring, "prefix");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "rest")->valuestring, "12");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "path")->valuestring, "/things/12");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "q")->valuestring, "a b");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "client")->valuestring, "127.0.0.1");
    cJSON_Delete(j);

    get(port, "/things/special/x", &r);
    j = cJSON_Parse(r.body);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "tag")->valuestring, "longer-prefix");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "rest")->valuestring, "x");
    cJSON_Delete(j);

    /* The longer prefix is GET only: a DELETE falls back to the shorter one. */
    request(port, "DELETE", "/things/special/x", NULL, 0, NULL, false, &r);
    j = cJSON_Parse(r.body);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "tag")->valuestring, "prefix");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "method")->valuestring, "DELETE");
    cJSON_Delete(j);

    get(port, "/echo", &r);
    j = cJSON_Parse(r.body);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "tag")->valuestring, "exact-get");
    cJSON_Delete(j);
}
END_TEST

START_TEST(body_headers_cookies_form)
{
    resp r;
    const char *form = "name=J%C3%BCrgen+M&other=1";
    request(port, "POST", "/echo", form, strlen(form),
            "Content-Type: application/x-www-form-urlencoded", false, &r);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "form")->valuestring, "J\xc3\xbcrgen M");
    ck_assert_int_eq(cJSON_GetObjectItem(j, "len")->valueint, (int)strlen(form));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "body")->valuestring, form);
    cJSON_Delete(j);
    ck_assert_ptr_nonnull(
        strstr(r.headers, "Set-Cookie: sid=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600"));

    request(port, "POST", "/echo", "x", 1, "X-Herald-Test: hello", false, &r);
    j = cJSON_Parse(r.body);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "hdr")->valuestring, "hello");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "form")->valuestring, "(none)");
    cJSON_Delete(j);

    request(port, "POST", "/echo", "x", 1, "Cookie: other=1; sid=s3cr3t", false, &r);
    j = cJSON_Parse(r.body);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "cookie")->valuestring, "s3cr3t");
    cJSON_Delete(j);
}
END_TEST

START_TEST(json_bodies)
{
    resp r;
    const char *ok = "{\"name\": \"weak_mfa\"}";
    request(port, "POST", "/json", ok, strlen(ok), "Content-Type: application/json", false, &r);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(r.body, "weak_mfa");

    const char *bad = "{\"name\": ";
    request(port, "POST", "/json", bad, strlen(bad), NULL, false, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "not valid JSON"));

    const char *trailing = "{\"name\": \"x\"} garbage";
    request(port, "POST", "/json", trailing, strlen(trailing), NULL, false, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "unexpected text at byte 14"));

    request(port, "POST", "/json", "", 0, NULL, false, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "body is empty"));

    const char *nul = "{\"name\":\"a\0b\"}";
    request(port, "POST", "/json", nul, 15, NULL, false, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "NUL"));

    /* Regression: bytes that are not UTF-8 reached PostgreSQL through
     * herald-api and came back as a database error (503). */
    const char *latin1 = "{\"name\": \"caf\xe9\"}";
    request(port, "POST", "/json", latin1, strlen(latin1), NULL, false, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "not valid UTF-8 (byte 13)"));
    const char *overlong = "{\"name\": \"\xc0\xaf\"}";
    request(port, "POST", "/json", overlong, strlen(overlong), NULL, false, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "not valid UTF-8"));

    const char *wrong = "{\"name\": 5}";
    request(port, "POST", "/json", wrong, strlen(wrong), NULL, false, &r);
    ck_assert_int_eq(r.status, 422);
    ck_assert_str_eq(r.body, "{\"error\":\"name: expected a string\"}");
}
END_TEST

START_TEST(urls_that_are_not_utf8_get_400)
{
    resp r;
    get(port, "/things/caf%E9", &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(r.body, "{\"error\":\"the request URL is not valid UTF-8\"}");
    get(port, "/echo?q=%C0%AF", &r);
    ck_assert_int_eq(r.status, 400);
    get(port, "/echo?%FF=1", &r);
    ck_assert_int_eq(r.status, 400);
    const char *body = "name=x";
    request(port, "POST", "/things/%ED%A0%80", body, strlen(body), NULL, false, &r);
    ck_assert_int_eq(r.status, 400);
    /* UTF-8 in the path and the query is fine. */
    get(port, "/things/caf%C3%A9?q=%E2%9C%93", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"rest\":\"caf\xc3\xa9\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\"q\":\"\xe2\x9c\x93\""));
    /* Counted under one label, whatever the path was. */
    get(port, "/metrics", &r);
    ck_assert_ptr_nonnull(strstr(r.body, "route=\"bad_request\",code=\"400\"} 4"));
}
END_TEST

START_TEST(oversized_bodies_get_413)
{
    char *big = malloc(200001);
    memset(big, 'a', 200000);
    big[200000] = '\0';
    resp r;
    /* Content-Length over the cap: answered before the body is read. */
    request(port, "POST", "/echo", big, 200000, NULL, false, &r);
    ck_assert_int_eq(r.status, 413);
    ck_assert_ptr_nonnull(strstr(r.body, "the limit is 1000"));
    /* Just over the cap. */
    request(port, "POST", "/echo", big, 1001, NULL, false, &r);
    ck_assert_int_eq(r.status, 413);
    /* At the cap: fine. */
    request(port, "POST", "/echo", big, 1000, NULL, false, &r);
    ck_assert_int_eq(r.status, 200);
    /* Chunked (no Content-Length) and over the cap: read, dropped, 413. */
    big[5000] = '\0';
    request(port, "POST", "/echo", big, 5000, NULL, true, &r);
    ck_assert_int_eq(r.status, 413);
    ck_assert_ptr_nonnull(strstr(r.body, "larger than the limit of 1000"));
    /* The server still serves afterwards. */
    get(port, "/healthz", &r);
    ck_assert_int_eq(r.status, 200);
    free(big);
}
END_TEST

START_TEST(handler_without_answer_is_500_and_redirects)
{
    resp r;
    get(port, "/silent", &r);
    ck_assert_int_eq(r.status, 500);
    get(port, "/redirect", &r);
    ck_assert_int_eq(r.status, 303);
    ck_assert_ptr_nonnull(strstr(r.headers, "Location: /elsewhere?x=1"));
}
END_TEST

START_TEST(bad_addresses_are_named)
{
    const char *bad[] = {"nonsense", "127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:80x",
                         "::1:80",   "[::1]80",         "ho st:80",   ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        httpd_config cfg = {.addr = bad[i]};
        httpd *h = httpd_new(&cfg, err, sizeof err);
        ck_assert_msg(h == NULL, "%s accepted", bad[i]);
        char want[64];
        snprintf(want, sizeof want, "\"%s\"", bad[i]);
        ck_assert_msg(strstr(err, want) != NULL, "error for %s does not name it: %s", bad[i], err);
    }
    char host[64], err[256];
    uint16_t p;
    ck_assert_int_eq(httpd_parse_addr(":9100", host, sizeof host, &p, err, sizeof err), 0);
    ck_assert_str_eq(host, "");
    ck_assert_uint_eq(p, 9100);
    ck_assert_int_eq(httpd_parse_addr("[::1]:80", host, sizeof host, &p, err, sizeof err), 0);
    ck_assert_str_eq(host, "::1");
    ck_assert_int_eq(httpd_parse_addr("localhost:0", host, sizeof host, &p, err, sizeof err), 0);
    ck_assert_str_eq(host, "localhost");
}
END_TEST

START_TEST(unusable_addresses_fail_to_start)
{
    char addr[64], err[256] = "";
    /* The fixture's port is taken. */
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    httpd *h = httpd_start_ops(addr, NULL, NULL, NULL, err, sizeof err);
    ck_assert_ptr_null(h);
    ck_assert_msg(strstr(err, addr) && strstr(err, "in use"), "%s", err);
    /* A host that cannot be resolved. */
    h = httpd_start_ops("no-such-host.invalid:0", NULL, NULL, NULL, err, sizeof err);
    ck_assert_ptr_null(h);
    ck_assert_msg(strstr(err, "no-such-host.invalid"), "%s", err);
}
END_TEST

START_TEST(ops_server_and_clean_stop)
{
    char err[256];
    metrics_registry *r2 = metrics_registry_new();
    httpd *h = httpd_start_ops("localhost:0", r2, NULL, NULL, err, sizeof err);
    ck_assert_msg(h != NULL, "%s", err);
    uint16_t p = httpd_port(h);
    resp r;
    get(p, "/metrics", &r);
    ck_assert_int_eq(r.status, 200);
    get(p, "/healthz", &r); /* no health callback: not served */
    ck_assert_int_eq(r.status, 404);
    httpd_stop(h);
    httpd_stop(h); /* twice is fine */
    ck_assert_uint_eq(httpd_port(h), 0);
    get(p, "/metrics", &r);
    ck_assert_int_ne(r.rc, CURLE_OK); /* nobody listens any more */
    httpd_destroy(h);
    httpd_destroy(NULL);
    metrics_registry_destroy(r2);
}
END_TEST

START_TEST(url_codec)
{
    char s[] = "a%20b+c%2Fd%zz";
    ck_assert_str_eq(httpd_url_decode(s, true), "a b c/d%zz");
    char *e = httpd_url_encode("a b/c?d=é");
    ck_assert_str_eq(e, "a%20b%2Fc%3Fd%3D%C3%A9");
    free(e);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("httpd");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, metrics_endpoint);
    tcase_add_test(tc, healthz_ok_and_unhealthy);
    tcase_add_test(tc, not_found_and_method_not_allowed);
    tcase_add_test(tc, exact_and_prefix_routes);
    tcase_add_test(tc, body_headers_cookies_form);
    tcase_add_test(tc, json_bodies);
    tcase_add_test(tc, urls_that_are_not_utf8_get_400);
    tcase_add_test(tc, oversized_bodies_get_413);
    tcase_add_test(tc, handler_without_answer_is_500_and_redirects);
    tcase_add_test(tc, unusable_addresses_fail_to_start);
    suite_add_tcase(s, tc);
    TCase *tc2 = tcase_create("standalone");
    tcase_set_timeout(tc2, 60);
    tcase_add_test(tc2, bad_addresses_are_named);
    tcase_add_test(tc2, ops_server_and_clean_stop);
    tcase_add_test(tc2, url_codec);
    suite_add_tcase(s, tc2);
    int failed = testlib_run_suite(s) != EXIT_SUCCESS;
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
