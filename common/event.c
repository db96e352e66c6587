/*
 * The event contract (design.md, schema/events/<kind>.schema.json): validation
 * of check results and collection events, RFC 3339 time, and the routed
 * delivery envelope between router and sender.
 *
 * Speed matters here: the router validates every event it consumes (tens of
 * thousands a second in a burst). One pass checks UTF-8 and control bytes,
 * cJSON builds the tree once, and each field is read straight off it. Strings
 * are taken over from the tree instead of copied (see take_string).
 */
#include "common/event.h"

#include "common/config.h"
#include "common/utf8.h"
#include "common/util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Names                                                                     */
/* ------------------------------------------------------------------------ */

static const char *const kind_names[] = {"check_result", "collection_event"};
static const char *const trigger_names[] = {"manual", "scheduled"};
static const char *const severity_names[] = {"low", "medium", "high", "critical"};
static const char *const status_names[] = {"succeeded", "failed"};
static const char *const destination_kind_names[] = {"channel", "email"};
static const char *const delivery_kind_names[] = {"notify", "resolve"};

const char *event_kind_name(event_kind k)
{
    return (unsigned)k < ARRAY_LEN(kind_names) ? kind_names[k] : "unknown";
}

const char *event_trigger_name(event_trigger t)
{
    return (unsigned)t < ARRAY_LEN(trigger_names) ? trigger_names[t] : "unknown";
}

const char *event_severity_name(event_severity s)
{
    return (unsigned)s < ARRAY_LEN(severity_names) ? severity_names[s] : "unknown";
}

const char *event_schema_name(event_kind k)
{
    return k == EVENT_COLLECTION ? SCHEMA_COLLECTION_EVENT : SCHEMA_CHECK_RESULT;
}

bool event_is_identifier(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
        if (n >= EVENT_MAX_IDENTIFIER)
            return false;
    }
    return n > 0;
}

/* ------------------------------------------------------------------------ */
/* RFC 3339 time                                                             */
/* ------------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm:
 * exact for every year, no timegm and no TZ environment involved). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool event_parse_time(const char *s, int64_t *out_ms)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int Y, M, D, h, mi, sec;
    if (!s || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' ||
        !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return false;
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] + (M == 2 && is_leap(Y)) || h > 23 ||
        mi > 59 || sec > 60) /* 60: a leap second, as RFC 3339 allows */
        return false;
    const char *p = s + 19;
    int ms = 0;
    if (*p == '.') {
        int nd = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, nd++) {
            if (nd < 3)
                ms = ms * 10 + (*p - '0');
            else if (nd >= 9)
                return false; /* nanoseconds are the finest anyone writes (Go, Java) */
        }
        if (nd == 0)
            return false;
        for (; nd < 3; nd++) /* ".5" is 500 ms, ".05" is 50 ms */
            ms *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p != '\0')
        return false;
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
    *out_ms = secs * 1000 + ms;
    return true;
}

void event_format_time(int64_t ms, char out[EVENT_TIME_LEN])
{
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int frac = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) { /* not representable in RFC 3339 */
        y = y < 0 ? 0 : 9999;
    }
    /* The moduli bound every field for the compiler's truncation check. */
    snprintf(out, EVENT_TIME_LEN, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)y % 10000u,
             m % 100u, d % 100u, (unsigned)(rem / 3600) % 100u, (unsigned)(rem / 60 % 60),
             (unsigned)(rem % 60), (unsigned)frac % 1000u);
}

/* ------------------------------------------------------------------------ */
/* Errors and field access                                                   */
/* ------------------------------------------------------------------------ */

/* Where a field sits: "key", "obj.key" or "obj[idx].key". The path is only
 * formatted when something fails, so valid events pay nothing for it. */
typedef struct where {
    const char *obj; /* NULL at the top level */
    long idx;        /* -1: obj is not an array element */
} where;

static const where TOP = {NULL, -1};

typedef struct errbuf {
    char *s;
    size_t n;
} errbuf;

__attribute__((format(printf, 4, 5))) static int fail(errbuf *e, const where *w, const char *key,
                                                      const char *fmt, ...)
{
    if (!e->s || e->n == 0)
        return -1;
    int off;
    if (!w->obj)
        off = snprintf(e->s, e->n, "%s: ", key);
    else if (w->idx >= 0 && key)
        off = snprintf(e->s, e->n, "%s[%ld].%s: ", w->obj, w->idx, key);
    else if (w->idx >= 0)
        off = snprintf(e->s, e->n, "%s[%ld]: ", w->obj, w->idx);
    else if (key)
        off = snprintf(e->s, e->n, "%s.%s: ", w->obj, key);
    else
        off = snprintf(e->s, e->n, "%s: ", w->obj);
    if (off < 0 || (size_t)off >= e->n)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->s + off, e->n - (size_t)off, fmt, ap);
    va_end(ap);
    return -1;
}

/*
 * Takes the string out of a parsed tree so it outlives cJSON_Delete without a
 * copy. cJSON allocates with malloc unless cJSON_InitHooks is called, which
 * Herald never does, so the string is released with free() like any other.
 */
static char *take_string(cJSON *item)
{
    char *s = item->valuestring;
    item->valuestring = NULL;
    return s;
}

/* Required or optional member lookup. A JSON null counts as absent. */
static cJSON *member(const cJSON *obj, const char *key)
{
    cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return it && cJSON_IsNull(it) ? NULL : it;
}

static int need(errbuf *e, const where *w, const cJSON *obj, const char *key, cJSON **out)
{
    *out = member(obj, key);
    return *out ? 0 : fail(e, w, key, "missing");
}

/* A non-empty string (when required), or absent. */
static int get_text(errbuf *e, const where *w, const cJSON *obj, const char *key, bool required,
                    bool nonempty, char **out)
{
    cJSON *it = member(obj, key);
    *out = NULL;
    if (!it)
        return required ? fail(e, w, key, "missing") : 0;
    if (!cJSON_IsString(it) || !it->valuestring)
        return fail(e, w, key, "must be a string");
    if (nonempty && !it->valuestring[0])
        return fail(e, w, key, "must not be empty");
    *out = take_string(it);
    return 0;
}

static int get_ident(errbuf *e, const where *w, const cJSON *obj, const char *key, char **out)
{
    cJSON *it = member(obj, key);
    *out = NULL;
    if (!it)
        return fail(e, w, key, "missing");
    if (!cJSON_IsString(it) || !it->valuestring)
        return fail(e, w, key, "must be a string");
    if (!it->valuestring[0])
        return fail(e, w, key, "must not be empty");
    if (!event_is_identifier(it->valuestring))
        return fail(e, w, key, "must be at most %d characters of A-Z a-z 0-9 . _ : -",
                    EVENT_MAX_IDENTIFIER);
    *out = take_string(it);
    return 0;
}

static int get_uuid(errbuf *e, const where *w, const cJSON *obj, const char *key, bool required,
                    char out[37])
{
    cJSON *it = member(obj, key);
    out[0] = '\0';
    if (!it)
        return required ? fail(e, w, key, "missing") : 0;
    if (!cJSON_IsString(it) || !util_is_uuid(it->valuestring))
        return fail(e, w, key, "must be a UUID");
    /* Lowercase, so equal ids compare equal as C strings too. */
    for (int i = 0; i < 36; i++) {
        char c = it->valuestring[i];
        out[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    out[36] = '\0';
    return 0;
}

static int get_enum(errbuf *e, const where *w, const cJSON *obj, const char *key,
                    const char *const *names, size_t nnames, int *out)
{
    cJSON *it;
    if (need(e, w, obj, key, &it))
        return -1;
    if (cJSON_IsString(it)) {
        for (size_t i = 0; i < nnames; i++) {
            if (!strcmp(it->valuestring, names[i])) {
                *out = (int)i;
                return 0;
            }
        }
    }
    char list[128];
    size_t off = 0;
    for (size_t i = 0; i < nnames && off < sizeof list; i++) {
        int n = snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", names[i]);
        if (n < 0)
            break;
        off += (size_t)n;
    }
    return fail(e, w, key, "must be one of %s", list);
}

/* Integers are exact in a double up to 2^53; beyond that JSON numbers lose
 * digits in most parsers, so the contract stops there. */
#define EVENT_MAX_SAFE_INT 9007199254740991.0

static bool as_int(const cJSON *it, double min, int64_t *out)
{
    if (!cJSON_IsNumber(it))
        return false;
    double v = it->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < min || v > EVENT_MAX_SAFE_INT)
        return false;
    *out = (int64_t)v;
    return true;
}

static int get_count(errbuf *e, const where *w, const cJSON *obj, const char *key, int64_t *out)
{
    cJSON *it;
    if (need(e, w, obj, key, &it))
        return -1;
    if (!as_int(it, 0, out))
        return fail(e, w, key, "must be a non-negative integer");
    return 0;
}

static int get_time(errbuf *e, const where *w, const cJSON *obj, const char *key, int64_t *out)
{
    cJSON *it;
    if (need(e, w, obj, key, &it))
        return -1;
    if (!cJSON_IsString(it) || !event_parse_time(it->valuestring, out))
        return fail(e, w, key, "must be an RFC 3339 timestamp like 2026-11-28T09:00:00Z");
    return 0;
}

static int get_object(errbuf *e, const where *w, const cJSON *obj, const char *key, bool required,
                      cJSON **out)
{
    *out = member(obj, key);
    if (!*out)
        return required ? fail(e, w, key, "missing") : 0;
    if (!cJSON_IsObject(*out))
        return fail(e, w, key, "must be an object");
    return 0;
}

/* http(s) URL with no byte RFC 3986 forbids unencoded: the sender can put it
 * in a Slack link <url|text> without it breaking out. */
static bool is_web_url(const char *s)
{
    size_t n;
    if (!strncmp(s, "https://", 8))
        n = 8;
    else if (!strncmp(s, "http://", 7))
        n = 7;
    else
        return false;
    if (!s[n])
        return false;
    for (const unsigned char *p = (const unsigned char *)s + n; *p; p++) {
        if (*p <= 0x20 || *p == 0x7f || strchr("<>\"|{}\\^`", *p))
            return false;
    }
    return strlen(s) <= EVENT_MAX_URL;
}

/* ------------------------------------------------------------------------ */
/* Reading the bytes                                                         */
/* ------------------------------------------------------------------------ */

/*
 * One pass over the bytes before cJSON sees them: strict UTF-8 (no overlong
 * forms, no surrogates, nothing past U+10FFFF) and no raw control characters,
 * which JSON forbids inside strings and cJSON would otherwise accept, letting
 * a NUL cut a string short.
 */
static int check_bytes(const unsigned char *s, size_t len, const char *root, errbuf *e)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80) {
            i++;
            continue;
        }
        if (c < 0x20) {
            if (c == '\t' || c == '\n' || c == '\r') {
                i++;
                continue;
            }
            where w = TOP;
            return fail(e, &w, root, "not valid JSON (control character at byte %zu)", i);
        }
        uint32_t cp;
        size_t n = utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            where w = TOP;
            return fail(e, &w, root, "not valid UTF-8 (byte %zu)", i);
        }
        i += n;
    }
    return 0;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Parses buf into an object tree; `root` names the whole in errors. */
static cJSON *parse_object(const char *buf, size_t len, size_t limit, const char *root, errbuf *e)
{
    where w = TOP;
    if (!buf)
        len = 0;
    if (len > limit) {
        fail(e, &w, root, "%zu bytes exceeds the %zu-byte limit", len, limit);
        return NULL;
    }
    size_t a = 0, b = len;
    while (a < b && is_ws(buf[a]))
        a++;
    while (b > a && is_ws(buf[b - 1]))
        b--;
    if (a == b) {
        fail(e, &w, root, "empty");
        return NULL;
    }
    if (check_bytes((const unsigned char *)buf, len, root, e))
        return NULL;
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(buf + a, b - a, &end, 0);
    /* cJSON stops after the first value; anything but whitespace after it
     * (two objects on one line, a stray brace) makes the input invalid. */
    if (!doc || end != buf + b) {
        cJSON_Delete(doc);
        fail(e, &w, root, "not valid JSON");
        return NULL;
    }
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        fail(e, &w, root, "must be a JSON object");
        return NULL;
    }
    return doc;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                    */
/* ------------------------------------------------------------------------ */

void event_destroy(event *ev)
{
    if (!ev)
        return;
    free(ev->tenant_id);
    free(ev->check_type);
    free(ev->check_name);
    free(ev->check_url);
    for (size_t i = 0; i < ev->nusers; i++) {
        free(ev->users[i].id);
        free(ev->users[i].display_name);
        free(ev->users[i].email);
    }
    free(ev->users);
    free(ev->integration_id);
    free(ev->integration_name);
    free(ev->integration_kind);
    for (size_t i = 0; i < ev->nstats; i++)
        free(ev->stats[i].name);
    free(ev->stats);
    free(ev->error_code);
    free(ev->error_message);
    free(ev);
}

static int parse_user(errbuf *e, cJSON *u, long idx, event_user *out)
{
    where w = {"failing_users", idx};
    if (!cJSON_IsObject(u))
        return fail(e, &w, NULL, "must be an object");
    if (get_text(e, &w, u, "id", true, true, &out->id) ||
        get_text(e, &w, u, "display_name", false, false, &out->display_name) ||
        get_text(e, &w, u, "email", false, false, &out->email))
        return -1;
    return 0;
}

static int parse_check(cJSON *doc, event *ev, errbuf *e)
{
    const where *w = &TOP;
    int v = 0;
    cJSON *check, *users;
    if (get_uuid(e, w, doc, "run_id", false, ev->run_id))
        return -1;
    if (get_enum(e, w, doc, "trigger", trigger_names, ARRAY_LEN(trigger_names), &v))
        return -1;
    ev->trigger = (event_trigger)v;

    if (get_object(e, w, doc, "check", true, &check))
        return -1;
    where wc = {"check", -1};
    if (get_ident(e, &wc, check, "type", &ev->check_type) ||
        get_text(e, &wc, check, "name", true, true, &ev->check_name) ||
        get_enum(e, &wc, check, "severity", severity_names, ARRAY_LEN(severity_names), &v))
        return -1;
    ev->severity = (event_severity)v;
    cJSON *url = member(check, "url");
    if (url) {
        if (!cJSON_IsString(url) || !is_web_url(url->valuestring))
            return fail(e, &wc, "url", "must be an http or https URL of at most %d bytes",
                        EVENT_MAX_URL);
        ev->check_url = take_string(url);
    }

    if (get_time(e, w, doc, "evaluated_at", &ev->evaluated_at_ms) ||
        get_count(e, w, doc, "failing_count", &ev->failing_count) ||
        get_count(e, w, doc, "total_count", &ev->total_count))
        return -1;
    if (ev->failing_count > ev->total_count)
        return fail(e, w, "failing_count", "must not exceed total_count (%lld > %lld)",
                    (long long)ev->failing_count, (long long)ev->total_count);

    users = member(doc, "failing_users");
    if (users) {
        if (!cJSON_IsArray(users))
            return fail(e, w, "failing_users", "must be an array");
        size_t n = (size_t)cJSON_GetArraySize(users);
        if (n > EVENT_MAX_SAMPLE_USERS)
            return fail(e, w, "failing_users", "has %zu entries, at most %d are allowed", n,
                        EVENT_MAX_SAMPLE_USERS);
        if ((int64_t)n > ev->failing_count)
            return fail(e, w, "failing_users", "has %zu entries but failing_count is %lld", n,
                        (long long)ev->failing_count);
        if (n) {
            ev->users = xcalloc(n, sizeof *ev->users);
            long i = 0;
            for (cJSON *u = users->child; u; u = u->next, i++) {
                ev->nusers = (size_t)i + 1; /* so event_destroy frees what was taken */
                if (parse_user(e, u, i, &ev->users[i]))
                    return -1;
            }
        }
    }
    return 0;
}

static int parse_collection(cJSON *doc, event *ev, errbuf *e)
{
    const where *w = &TOP;
    int v = 0;
    cJSON *integ, *stats, *err;
    if (get_object(e, w, doc, "integration", true, &integ))
        return -1;
    where wi = {"integration", -1};
    if (get_text(e, &wi, integ, "id", true, true, &ev->integration_id) ||
        get_text(e, &wi, integ, "name", true, true, &ev->integration_name) ||
        get_ident(e, &wi, integ, "kind", &ev->integration_kind))
        return -1;
    if (get_enum(e, w, doc, "trigger", trigger_names, ARRAY_LEN(trigger_names), &v))
        return -1;
    ev->trigger = (event_trigger)v;
    if (get_enum(e, w, doc, "status", status_names, ARRAY_LEN(status_names), &v))
        return -1;
    ev->failed = v == 1;
    if (get_time(e, w, doc, "started_at", &ev->started_at_ms) ||
        get_time(e, w, doc, "finished_at", &ev->finished_at_ms))
        return -1;
    if (ev->finished_at_ms < ev->started_at_ms)
        return fail(e, w, "finished_at", "must not be before started_at");

    if (get_object(e, w, doc, "stats", false, &stats))
        return -1;
    if (stats) {
        size_t n = (size_t)cJSON_GetArraySize(stats);
        if (n > EVENT_MAX_STATS)
            return fail(e, w, "stats", "has %zu entries, at most %d are allowed", n,
                        EVENT_MAX_STATS);
        if (n) {
            ev->stats = xcalloc(n, sizeof *ev->stats);
            where ws = {"stats", -1};
            for (cJSON *s = stats->child; s; s = s->next) {
                if (!as_int(s, -EVENT_MAX_SAFE_INT, &ev->stats[ev->nstats].value))
                    return fail(e, &ws, s->string, "must be an integer");
                /* the key is cJSON's too: take it like a string value */
                ev->stats[ev->nstats].name = s->string;
                s->string = NULL;
                ev->nstats++;
            }
        }
    }

    if (ev->failed && !member(doc, "error"))
        return fail(e, w, "error", "missing (required when status is failed)");
    if (get_object(e, w, doc, "error", false, &err))
        return -1;
    if (err) {
        where we = {"error", -1};
        if (get_text(e, &we, err, "code", true, true, &ev->error_code) ||
            get_text(e, &we, err, "message", true, false, &ev->error_message))
            return -1;
    }
    return 0;
}

/* Validates the common head and the kind's body of an already parsed object. */
static int parse_tree(cJSON *doc, bool any, event_kind kind, event **out, errbuf *e)
{
    const where *w = &TOP;
    cJSON *schema = member(doc, "schema");
    if (!schema)
        return fail(e, w, "schema", "missing");
    if (!cJSON_IsString(schema))
        return fail(e, w, "schema", "must be a string");
    if (any) {
        if (!strcmp(schema->valuestring, SCHEMA_CHECK_RESULT))
            kind = EVENT_CHECK_RESULT;
        else if (!strcmp(schema->valuestring, SCHEMA_COLLECTION_EVENT))
            kind = EVENT_COLLECTION;
        else
            return fail(e, w, "schema", "must be one of %s, %s", SCHEMA_CHECK_RESULT,
                        SCHEMA_COLLECTION_EVENT);
    } else if (strcmp(schema->valuestring, event_schema_name(kind)) != 0) {
        return fail(e, w, "schema", "must be %s", event_schema_name(kind));
    }

    event *ev = xcalloc(1, sizeof *ev);
    ev->kind = kind;
    int rc = -1;
    if (get_uuid(e, w, doc, "event_id", true, ev->event_id) ||
        get_ident(e, w, doc, "tenant_id", &ev->tenant_id))
        goto out;
    if (kind == EVENT_CHECK_RESULT ? parse_check(doc, ev, e) : parse_collection(doc, ev, e))
        goto out;
    *out = ev;
    ev = NULL;
    rc = 0;
out:
    event_destroy(ev);
    return rc;
}

static int parse_bytes(const char *buf, size_t len, bool any, event_kind kind, event **out,
                       char *errstr, size_t errstr_size)
{
    errbuf e = {errstr, errstr_size};
    cJSON *doc = parse_object(buf, len, EVENT_MAX_BYTES, "(event)", &e);
    if (!doc)
        return -1;
    int rc = parse_tree(doc, any, kind, out, &e);
    cJSON_Delete(doc);
    return rc;
}

int event_parse(const char *buf, size_t len, event_kind kind, event **out, char *errstr,
                size_t errstr_size)
{
    return parse_bytes(buf, len, false, kind, out, errstr, errstr_size);
}

int event_parse_any(const char *buf, size_t len, event **out, char *errstr, size_t errstr_size)
{
    return parse_bytes(buf, len, true, EVENT_CHECK_RESULT, out, errstr, errstr_size);
}

/* ------------------------------------------------------------------------ */
/* Routed deliveries                                                         */
/* ------------------------------------------------------------------------ */

void routed_delivery_destroy(routed_delivery *d)
{
    if (!d)
        return;
    free(d->tenant_id);
    free(d->team_id);
    free(d->destination);
    free(d->event_json);
    free(d);
}

/* The event goes in verbatim (cJSON raw), so it is not parsed or printed
 * again on the router's hot path; it must be one JSON object. */
static bool looks_like_object(const char *s)
{
    if (!s)
        return false;
    size_t a = 0, b = strlen(s);
    while (a < b && is_ws(s[a]))
        a++;
    while (b > a && is_ws(s[b - 1]))
        b--;
    return b - a >= 2 && s[a] == '{' && s[b - 1] == '}';
}

char *routed_delivery_encode(const routed_delivery *d)
{
    if (!d || d->delivery_id < 1 || d->delivery_id > (int64_t)EVENT_MAX_SAFE_INT ||
        d->target_id < 1 || d->target_id > (int64_t)EVENT_MAX_SAFE_INT ||
        !util_is_uuid(d->event_id) || !d->tenant_id || !d->team_id || !d->destination ||
        !looks_like_object(d->event_json) || (unsigned)d->kind > EVENT_COLLECTION ||
        (d->delivery_kind == ROUTED_RESOLVE && !util_is_uuid(d->ref_event_id)))
        return NULL;
    char at[EVENT_TIME_LEN];
    event_format_time(d->routed_at_ms, at);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "schema", SCHEMA_ROUTED_DELIVERY);
    /* Ids as raw digits: cJSON prints numbers through a double with 15
     * significant digits and would round ids above 10^15. */
    char did[24], tid[24];
    snprintf(did, sizeof did, "%lld", (long long)d->delivery_id);
    snprintf(tid, sizeof tid, "%lld", (long long)d->target_id);
    cJSON_AddRawToObject(o, "delivery_id", did);
    cJSON_AddStringToObject(o, "event_id", d->event_id);
    cJSON_AddRawToObject(o, "target_id", tid);
    cJSON_AddStringToObject(o, "tenant_id", d->tenant_id);
    cJSON_AddStringToObject(o, "team_id", d->team_id);
    cJSON_AddStringToObject(o, "destination", d->destination);
    cJSON_AddStringToObject(o, "destination_kind",
                            destination_kind_names[d->destination_is_email ? 1 : 0]);
    cJSON_AddStringToObject(o, "kind", event_kind_name(d->kind));
    cJSON_AddRawToObject(o, "event", d->event_json);
    cJSON_AddStringToObject(o, "routed_at", at);
    if (d->delivery_kind == ROUTED_RESOLVE) {
        cJSON_AddStringToObject(o, "delivery_kind", "resolve");
        cJSON_AddStringToObject(o, "ref_event_id", d->ref_event_id);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return NULL;
    /* Hand back memory the caller can free() whatever cJSON's hooks are. */
    char *copy = xstrdup(s);
    cJSON_free(s);
    return copy;
}

/*
 * Scanning an already validated JSON text (cJSON accepted it), so only the
 * shapes of valid JSON occur. Used to hand the sender the event's original
 * bytes: printing the parsed tree again would cost time and round numbers
 * above 10^15 (cJSON prints through a double).
 */
static size_t skip_ws(const char *s, size_t i, size_t len)
{
    while (i < len && is_ws(s[i]))
        i++;
    return i;
}

static size_t skip_string(const char *s, size_t i, size_t len)
{
    for (i++; i < len && s[i] != '"'; i++) {
        if (s[i] == '\\')
            i++;
    }
    return i + 1;
}

static size_t skip_value(const char *s, size_t i, size_t len)
{
    if (s[i] == '"')
        return skip_string(s, i, len);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (i < len) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, i, len);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return i;
    }
    while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_ws(s[i]))
        i++;
    return i;
}

/* A copy of the text of top-level member `key` (spelt without escapes), the
 * first one like cJSON's lookup; NULL when not found. */
static char *member_text(const char *s, size_t len, const char *key)
{
    size_t klen = strlen(key);
    size_t i = skip_ws(s, 0, len);
    if (i >= len || s[i] != '{')
        return NULL;
    i++;
    for (;;) {
        i = skip_ws(s, i, len);
        if (i >= len || s[i] != '"')
            return NULL;
        size_t k0 = i + 1, k1 = skip_string(s, i, len) - 1;
        i = skip_ws(s, k1 + 1, len);
        if (i >= len || s[i] != ':')
            return NULL;
        i = skip_ws(s, i + 1, len);
        if (i >= len)
            return NULL;
        size_t v0 = i, v1 = skip_value(s, i, len);
        if (v1 > len) /* cannot happen on text cJSON accepted; never read past it */
            return NULL;
        if (k1 - k0 == klen && !memcmp(s + k0, key, klen)) {
            char *out = xmalloc(v1 - v0 + 1);
            memcpy(out, s + v0, v1 - v0);
            out[v1 - v0] = '\0';
            return out;
        }
        i = skip_ws(s, v1, len);
        if (i >= len || s[i] != ',')
            return NULL;
        i++;
    }
}

static int get_id(errbuf *e, const cJSON *obj, const char *key, int64_t *out)
{
    cJSON *it;
    if (need(e, &TOP, obj, key, &it))
        return -1;
    if (!as_int(it, 1, out))
        return fail(e, &TOP, key, "must be a positive integer");
    return 0;
}

int routed_delivery_decode(const char *buf, size_t len, routed_delivery **out, char *errstr,
                           size_t errstr_size)
{
    errbuf e = {errstr, errstr_size};
    const where *w = &TOP;
    cJSON *doc = parse_object(buf, len, ROUTED_DELIVERY_MAX_BYTES, "(delivery)", &e);
    if (!doc)
        return -1;
    routed_delivery *d = xcalloc(1, sizeof *d);
    int rc = -1, v;
    cJSON *schema = member(doc, "schema"), *ev;
    if (!schema) {
        fail(&e, w, "schema", "missing");
        goto out;
    }
    if (!cJSON_IsString(schema) || strcmp(schema->valuestring, SCHEMA_ROUTED_DELIVERY) != 0) {
        fail(&e, w, "schema", "must be %s", SCHEMA_ROUTED_DELIVERY);
        goto out;
    }
    if (get_id(&e, doc, "delivery_id", &d->delivery_id) ||
        get_uuid(&e, w, doc, "event_id", true, d->event_id) ||
        get_id(&e, doc, "target_id", &d->target_id) ||
        get_ident(&e, w, doc, "tenant_id", &d->tenant_id) ||
        get_ident(&e, w, doc, "team_id", &d->team_id) ||
        get_text(&e, w, doc, "destination", true, true, &d->destination) ||
        get_enum(&e, w, doc, "destination_kind", destination_kind_names,
                 ARRAY_LEN(destination_kind_names), &v))
        goto out;
    d->destination_is_email = v == 1;
    if (get_enum(&e, w, doc, "kind", kind_names, ARRAY_LEN(kind_names), &v))
        goto out;
    d->kind = (event_kind)v;
    if (get_object(&e, w, doc, "event", true, &ev))
        goto out;
    cJSON *evschema = member(ev, "schema");
    if (!cJSON_IsString(evschema) ||
        strcmp(evschema->valuestring, event_schema_name(d->kind)) != 0) {
        where we = {"event", -1};
        fail(&e, &we, "schema", "must be %s for kind %s", event_schema_name(d->kind),
             event_kind_name(d->kind));
        goto out;
    }
    if (get_time(&e, w, doc, "routed_at", &d->routed_at_ms))
        goto out;
    if (member(doc, "delivery_kind")) {
        if (get_enum(&e, w, doc, "delivery_kind", delivery_kind_names,
                     ARRAY_LEN(delivery_kind_names), &v))
            goto out;
        d->delivery_kind = (routed_delivery_kind)v;
    }
    if (d->delivery_kind == ROUTED_RESOLVE &&
        get_uuid(&e, w, doc, "ref_event_id", true, d->ref_event_id))
        goto out;
    d->event_json = member_text(buf, len, "event");
    if (!d->event_json) {
        /* The key was spelt with escapes: print the parsed value instead. */
        char *s = cJSON_PrintUnformatted(ev);
        if (!s) {
            fail(&e, w, "event", "could not be serialised");
            goto out;
        }
        d->event_json = xstrdup(s);
        cJSON_free(s);
    }
    *out = d;
    d = NULL;
    rc = 0;
out:
    routed_delivery_destroy(d);
    cJSON_Delete(doc);
    return rc;
}

int routed_delivery_event(const routed_delivery *d, event **out, char *errstr, size_t errstr_size)
{
    if (!d || !d->event_json) {
        snprintf(errstr, errstr_size, "event: missing");
        return -1;
    }
    return event_parse(d->event_json, strlen(d->event_json), d->kind, out, errstr, errstr_size);
}

/* ------------------------------------------------------------------------ */
/* Link hosts                                                                */
/* ------------------------------------------------------------------------ */

void event_link_opts(struct cfg_opt *out, event_link_config *c)
{
    const cfg_opt opts[EVENT_LINK_OPTS] = {
        {"--link-hosts", "HERALD_LINK_HOSTS", CFG_STRING, NULL, 0, 0, "HOSTS",
         "hosts an event's check.url may point at, comma-separated ('*.example.com': its "
         "subdomains; '*': any; empty: no links); events linking elsewhere are refused "
         "(default: the host of HERALD_CONSOLE_URL, else HERALD_PUBLIC_URL, else any)",
         &c->link_hosts},
        {NULL, "HERALD_CONSOLE_URL", CFG_STRING, NULL, 0, 0, "URL",
         "the console's URL: its host is the default of --link-hosts", &c->console_url},
        {NULL, "HERALD_PUBLIC_URL", CFG_STRING, NULL, 0, 0, "URL",
         "herald-api's public URL: its host is the default of --link-hosts when "
         "HERALD_CONSOLE_URL is unset",
         &c->public_url},
    };
    memcpy(out, opts, sizeof opts);
}

bool event_url_host(const char *url, char *host, size_t host_size)
{
    const char *p = strstr(url, "://");
    if (!p || host_size == 0)
        return false;
    p += 3;
    /* The authority ends at the path, query or fragment; browsers also end it
     * at a backslash (is_web_url refuses those anyway). */
    size_t alen = strcspn(p, "/?#\\");
    const char *end = p + alen;
    /* User info: "https://herald.acme.example@evil.example/" goes to evil. */
    for (const char *q = end; q > p; q--) {
        if (q[-1] == '@') {
            p = q;
            break;
        }
    }
    const char *hend = end;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close)
            return false;
        hend = close + 1;
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (colon)
            hend = colon;
    }
    if (hend > p && hend[-1] == '.')
        hend--; /* "acme.example." is acme.example */
    size_t n = (size_t)(hend - p);
    if (n == 0 || n >= host_size)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        host[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
    host[n] = '\0';
    return true;
}

/* An allow-list entry: a host name (letters, digits, '.', '-'), optionally
 * after "*."; IPv4 addresses pass as host names. */
static bool link_entry_ok(const char *s)
{
    if (!strncmp(s, "*.", 2))
        s += 2;
    if (!*s || *s == '.' || *s == '-')
        return false;
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

static void link_add(event_link_hosts *lh, const char *host, size_t len)
{
    lh->hosts = xrealloc(lh->hosts, (lh->n + 1) * sizeof *lh->hosts);
    char *h = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++)
        h[i] = host[i] >= 'A' && host[i] <= 'Z' ? (char)(host[i] - 'A' + 'a') : host[i];
    h[len] = '\0';
    lh->hosts[lh->n++] = h;
}

/* Each entry of a comma-separated list, blanks around it dropped. */
static int link_parse_list(event_link_hosts *lh, const char *list, char *errstr, size_t errstr_size)
{
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *s = p, *e = p + len;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e - s == 1 && *s == '*') {
            lh->any = true;
        } else if (e > s) {
            link_add(lh, s, (size_t)(e - s));
            if (!link_entry_ok(lh->hosts[lh->n - 1])) {
                snprintf(errstr, errstr_size,
                         "HERALD_LINK_HOSTS: '%.*s' is not a host name (expected e.g. "
                         "herald.example.com or *.example.com)",
                         (int)(e - s > 200 ? 200 : e - s), s);
                return -1;
            }
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

int event_link_hosts_init(event_link_hosts *lh, const event_link_config *c, char *errstr,
                          size_t errstr_size)
{
    memset(lh, 0, sizeof *lh);
    int rc = 0;
    if (c->link_hosts) {
        rc = link_parse_list(lh, c->link_hosts, errstr, errstr_size);
    } else {
        const char *var = NULL, *url = NULL;
        if (c->console_url && *c->console_url)
            var = "HERALD_CONSOLE_URL", url = c->console_url;
        else if (c->public_url && *c->public_url)
            var = "HERALD_PUBLIC_URL", url = c->public_url;
        char host[256];
        if (!url) {
            lh->any = true;
        } else if (!is_web_url(url) || !event_url_host(url, host, sizeof host)) {
            snprintf(errstr, errstr_size, "%s: '%.200s' is not an http:// or https:// URL", var,
                     url);
            rc = -1;
        } else {
            link_add(lh, host, strlen(host));
        }
    }
    if (rc) {
        event_link_hosts_dispose(lh);
        return -1;
    }
    size_t len = 1;
    for (size_t i = 0; i < lh->n; i++)
        len += strlen(lh->hosts[i]) + 2;
    lh->text = xcalloc(1, len);
    for (size_t i = 0; i < lh->n; i++) {
        if (i)
            strcat(lh->text, ", ");
        strcat(lh->text, lh->hosts[i]);
    }
    return 0;
}

void event_link_hosts_dispose(event_link_hosts *lh)
{
    for (size_t i = 0; i < lh->n; i++)
        free(lh->hosts[i]);
    free(lh->hosts);
    free(lh->text);
    memset(lh, 0, sizeof *lh);
}

static bool link_allowed(const event_link_hosts *lh, const char *host)
{
    size_t hl = strlen(host);
    for (size_t i = 0; i < lh->n; i++) {
        const char *a = lh->hosts[i];
        if (!strncmp(a, "*.", 2)) {
            size_t sl = strlen(a + 1); /* ".acme.example" */
            if (hl > sl && !strcmp(host + hl - sl, a + 1))
                return true;
        } else if (!strcmp(a, host)) {
            return true;
        }
    }
    return false;
}

int event_check_link(const event *ev, const event_link_hosts *lh, char *errstr, size_t errstr_size)
{
    if (!ev->check_url || !lh || lh->any)
        return 0;
    errbuf e = {errstr, errstr_size};
    where wc = {"check", -1};
    char host[256];
    if (!event_url_host(ev->check_url, host, sizeof host))
        return fail(&e, &wc, "url", "has no host name allowed by HERALD_LINK_HOSTS (%s)",
                    lh->n ? lh->text : "empty: no links");
    if (link_allowed(lh, host))
        return 0;
    if (!lh->n)
        return fail(&e, &wc, "url", "links are not allowed (HERALD_LINK_HOSTS is empty)");
    return fail(&e, &wc, "url", "host '%.200s' is not in HERALD_LINK_HOSTS (%s)", host, lh->text);
}
