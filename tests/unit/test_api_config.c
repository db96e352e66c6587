/* api_config_check: herald-api's configuration errors, found before any
 * connection (herald-api exits 2 on them, naming the flag or variable). */
#include "workers/api/api.h"
#include "testlib.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define KEY "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

static void expect(const api_config *cfg, const char *prefix)
{
    char err[512] = "";
    int rc = api_config_check(cfg, err, sizeof err);
    if (!prefix) {
        ck_assert_msg(rc == 0, "unexpected error: %s", err);
        return;
    }
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "'%s' does not start with '%s'", err,
                  prefix);
}

START_TEST(each_error_names_its_setting)
{
    api_config c;
    api_config_defaults(&c);
    c.secret_key = KEY;
    expect(&c, NULL);
    c.listen = "nope";
    expect(&c, "--listen: bad listen address");
    c.listen = API_DEFAULT_LISTEN;
    c.secret_key = NULL;
    expect(&c, "HERALD_SECRET_KEY is not set");
    c.secret_key = "c2hvcnQ=";
    expect(&c, "HERALD_SECRET_KEY");
    c.secret_key = KEY;
    c.public_url = "ftp://example.com";
    expect(&c, "--public-url: 'ftp://example.com' is not an http");
    /* Regression: a long public URL was cut to 511 bytes silently, and the
     * OAuth redirect URI built on it with it. */
    char long_url[600];
    memset(long_url, 'a', sizeof long_url - 1);
    long_url[sizeof long_url - 1] = '\0';
    memcpy(long_url, "https://", 8);
    c.public_url = long_url;
    expect(&c, "--public-url: longer than 400");
    c.public_url = "https://herald.example.com/";
    expect(&c, NULL);
    /* Regression: a bad authorize URL was found only after connecting to
     * PostgreSQL, and herald-api exited 1 instead of 2. */
    c.authorize_url = "slack.com/oauth";
    expect(&c, "--slack-authorize-url:");
    c.authorize_url = API_DEFAULT_AUTHORIZE_URL;
    c.client_id = "123.456";
    expect(&c, "HERALD_SLACK_CLIENT_ID is set but no client secret");
    c.client_secret = "s3cret";
    expect(&c, NULL);
}
END_TEST

TESTLIB_MAIN("api_config", "check", each_error_names_its_setting)
