/*
 * libFuzzer target: configuration values (common/config.c, common/httpd.c,
 * common/crypto.c). The first byte picks bounds; the rest, as a string, goes
 * to cfg_parse_duration (durations: "1.5s", "7d"), cfg_parse_long, and, split
 * at newlines into words, to cfg_parse and cfg_parse_command with a table
 * holding every option type (string, secret, int, bool, log level, duration,
 * rate) so their value parsing and errors run; httpd_parse_addr (HOST:PORT
 * listen addresses), httpd_url_encode / httpd_url_decode (must round-trip),
 * crypto_key_from_base64 (HERALD_SECRET_KEY) and crypto_open on the raw bytes
 * (a sealed token as read from the database). Asserts results within bounds.
 */
#include "tests/fuzz/fuzz.h"

#include "common/config.h"
#include "common/crypto.h"
#include "common/httpd.h"
#include "common/log.h"

#include <stdio.h>

#define MAX_WORDS 16

static const int64_t maxes[] = {0, 1, 1000, 60000, 86400000LL, INT64_MAX / 2, INT64_MAX};

static void durations(const char *s, uint8_t k)
{
    int64_t min = (k & 1) ? 1 : 0, max = maxes[(k >> 1) % 7], ms = -7;
    if (cfg_parse_duration(s, min, max, &ms) && (ms < min || ms > max)) {
        fprintf(stderr, "duration '%s' -> %lld outside [%lld, %lld]\n", s, (long long)ms,
                (long long)min, (long long)max);
        abort();
    }
    long l = -7;
    if (cfg_parse_long(s, -5, 5000, &l) && (l < -5 || l > 5000))
        abort();
}

static void options(char *text)
{
    char *words[MAX_WORDS + 1];
    int n = 0;
    words[n++] = "fuzz";
    for (char *save = NULL, *w = strtok_r(text, "\n", &save); w && n < MAX_WORDS;
         w = strtok_r(NULL, "\n", &save)) {
        if (strcmp(w, "--help") == 0 || strcmp(w, "-h") == 0)
            continue; /* prints the whole help: no parsing in it */
        words[n++] = w;
    }
    words[n] = NULL;
    char *str = NULL, *secret = NULL;
    long num = 0;
    bool flag = false;
    int64_t dur = 0;
    double rate = 0;
    const cfg_opt opts[] = {
        {"--name", NULL, CFG_STRING, "x", 0, 0, "NAME", "a string", &str},
        {"--secret", NULL, CFG_SECRET, NULL, 0, 0, "S", "a secret", &secret},
        {"--count", NULL, CFG_INT, "3", 1, 100, "N", "a number", &num},
        {"--flag", NULL, CFG_BOOL, "false", 0, 0, NULL, "a switch", &flag},
        {"--log-level", NULL, CFG_LOGLEVEL, "info", 0, 0, "LEVEL", "log level", NULL},
        {"--every", NULL, CFG_DURATION, "10s", 1000, 86400000L, "D", "a duration", &dur},
        {"--rate", NULL, CFG_RATE, "1", 0, 1000, "R", "a rate", &rate},
    };
    size_t nopts = sizeof opts / sizeof opts[0];
    char err[512];
    int argi = 1;
    if (cfg_parse("fuzz", "[OPTIONS]", opts, nopts, n, words, &argi, err, sizeof err) == CFG_OK) {
        if (num < 1 || num > 100 || dur < 1000 || dur > 86400000L || rate < 0 || rate > 1000 ||
            rate != rate || argi < 1 || argi > n)
            abort();
    }
    const cfg_command cmd = {"thing add", "[OPTIONS] NAME", "adds a thing"};
    const char *pos[2];
    size_t npos = 0;
    (void)cfg_parse_command("fuzz", &cmd, opts, nopts, n - 1, words + 1, pos, 2, &npos, err,
                            sizeof err);
    if (npos > 2)
        abort();
    log_set_level(LOG_LEVEL_ERROR); /* --log-level may have changed it */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t k = fuzz_byte(&data, &size);
    char *s = fuzz_cstr(data, size);
    durations(s, k);

    char host[256], err[512];
    uint16_t port;
    if (httpd_parse_addr(s, host, sizeof host, &port, err, sizeof err) == 0 &&
        !memchr(host, 0, 256))
        abort();

    char *enc = httpd_url_encode(s);
    if (!httpd_url_decode(enc, false) || strcmp(enc, s) != 0) {
        fprintf(stderr, "url encode/decode does not round-trip\n");
        abort();
    }
    free(enc);
    char *dec = fuzz_cstr(data, size);
    (void)httpd_url_decode(dec, k & 1);
    if (strlen(dec) > strlen(s))
        abort(); /* decoding never grows */
    free(dec);

    unsigned char key[CRYPTO_KEY_LEN] = {0};
    (void)crypto_key_from_base64(s, key, err, sizeof err);
    char *plain = NULL;
    if (crypto_open(key, data, size, &plain, err, sizeof err) == 0)
        crypto_free_secret(plain);

    if (size < 2048) {
        char *words = fuzz_cstr(data, size);
        options(words);
        free(words);
    }
    free(s);
    return 0;
}
