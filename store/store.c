#include "store/store.h"

#include "common/db.h"
#include "common/event.h"
#include "common/log.h"
#include "common/slack.h"
#include "common/util.h"

#include <cJSON.h>
#include <ctype.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ helpers */

/* A timestamptz column as epoch milliseconds (NULL stays NULL). */
#define MS(col)      "(floor(extract(epoch FROM " col ") * 1000))::int8"
#define MS_INSTALLED MS("w.installed_at")
#define MS_UPDATED   MS("w.updated_at")
#define MS_REVOKED   MS("w.revoked_at")
#define MS_EXPIRES   MS("w.token_expires_at")

/* store_workspace_refresh's read of the locked row ($2: the margin in ms). */
#define REFRESH_SELECT                                                                             \
    "SELECT w.token_enc, w.refresh_token_enc, " MS_EXPIRES ", "                                    \
    " w.token_expires_at IS NOT NULL AND "                                                         \
    " w.token_expires_at <= now() + $2::int8 * interval '1 millisecond', "                         \
    " w.revoked_at IS NOT NULL, COALESCE(w.revoked_reason, '') "                                   \
    "FROM workspaces w WHERE w.team_id = $1 AND w.removed_at IS NULL FOR UPDATE"

/* ... and its write of the new pair ($2, $3 sealed; $4 the lifetime in s, 0: none). */
#define REFRESH_UPDATE                                                                             \
    "UPDATE workspaces w SET token_enc = $2, refresh_token_enc = $3, "                             \
    " token_expires_at = CASE WHEN $4::int8 > 0 THEN now() + $4::int8 * interval '1 second' END, " \
    " updated_at = now() WHERE w.team_id = $1 RETURNING " MS_EXPIRES
#define MS_T_CREATED MS("t.created_at")
#define MS_T_UPDATED MS("t.updated_at")
#define MS_H_SUCCESS MS("h.last_success_at")
#define MS_H_ERROR   MS("h.last_error_at")
#define MS_D_NEXT    MS("d.next_attempt_at")
#define MS_D_CREATED MS("d.created_at")
#define MS_D_UPDATED MS("d.updated_at")
#define MS_D_SENT    MS("d.sent_at")

#define MAX_TEAM_ID   64
#define MAX_TEAM_NAME 200
#define MAX_TOKEN     4096
#define MAX_TENANT    200
#define MAX_DEST      254

const char *store_status_name(store_status s)
{
    switch (s) {
    case STORE_OK:
        return "ok";
    case STORE_INVALID:
        return "invalid";
    case STORE_NOT_FOUND:
        return "not_found";
    case STORE_CONFLICT:
        return "conflict";
    case STORE_DB:
        return "database";
    case STORE_CRYPTO:
        return "crypto";
    }
    return "unknown";
}

const char *store_invalid_field(const char *errstr, char *field, size_t field_size)
{
    if (field_size)
        field[0] = '\0';
    size_t i = 0;
    while (errstr[i] && (islower((unsigned char)errstr[i]) || errstr[i] == '_'))
        i++;
    if (i == 0 || errstr[i] != ':' || errstr[i + 1] != ' ')
        return errstr;
    snprintf(field, field_size, "%.*s", (int)i, errstr);
    return errstr + i + 2;
}

static store_status fail(store_status st, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static store_status fail(store_status st, char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
    return st;
}

/*
 * Quotes a user-supplied value for an error message: at most 60 characters,
 * control characters shown as '?', so one line stays one line and a terminal
 * escape cannot ride along. Never used on secrets.
 */
static const char *quote(const char *v, char *buf, size_t size)
{
    size_t o = 0, chars = 0;
    const size_t max_chars = 60;
    if (size < 8) {
        if (size)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '\'';
    for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
        bool cont = (*p & 0xC0) == 0x80; /* UTF-8 continuation byte */
        if (!cont && chars == max_chars) {
            if (o + 5 < size) {
                memcpy(buf + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (o + 3 >= size)
            break;
        buf[o++] = (*p < 0x20 || *p == 0x7f) ? '?' : (char)*p;
        if (!cont)
            chars++;
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

/* A database failure as one line (libpq's messages may span several). */
static store_status db_fail(PGconn *conn, PGresult *res, const char *what, char *errstr,
                            size_t errstr_size)
{
    char msg[512];
    db_error(conn, res, msg, sizeof msg);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    const char *m = msg;
    if (!strncmp(m, "ERROR:  ", 8))
        m += 8;
    /* A message too long for errstr is cut; using the length tells GCC so
     * (-O3 -Wformat-truncation otherwise fails the Release build). */
    if (snprintf(errstr, errstr_size, "database error while %s: %s", what, m) < 0 && errstr_size)
        errstr[0] = '\0';
    return STORE_DB;
}

/*
 * Runs a parameterised statement (text parameters and results). Returns the
 * result, or NULL with errstr set; sqlstate (may be NULL, 6 bytes) gets the
 * SQLSTATE of a failure.
 */
static PGresult *run(PGconn *conn, const char *what, const char *sql, int n,
                     const char *const *vals, char sqlstate[6], char *errstr, size_t errstr_size)
{
    if (sqlstate)
        sqlstate[0] = '\0';
    PGresult *r = PQexecParams(conn, sql, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (sqlstate && code)
        snprintf(sqlstate, 6, "%s", code);
    db_fail(conn, r, what, errstr, errstr_size);
    PQclear(r);
    return NULL;
}

/* Runs a statement whose result is not needed; *rows (may be NULL) gets how
 * many rows it returned (with RETURNING: how many it changed). */
static store_status exec_sql(PGconn *conn, const char *what, const char *sql, int n,
                             const char *const *vals, int *rows, char *errstr, size_t errstr_size)
{
    PGresult *r = run(conn, what, sql, n, vals, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    if (rows)
        *rows = PQntuples(r);
    PQclear(r);
    return STORE_OK;
}

static store_status begin(PGconn *conn, const char *what, char *errstr, size_t errstr_size)
{
    return exec_sql(conn, what, "BEGIN", 0, NULL, NULL, errstr, errstr_size);
}

static store_status commit(PGconn *conn, const char *what, char *errstr, size_t errstr_size)
{
    return exec_sql(conn, what, "COMMIT", 0, NULL, NULL, errstr, errstr_size);
}

/* Maps row `row` of r into *item (a store_workspace, store_target...). */
typedef void (*row_fn)(const PGresult *r, int row, void *item);

/*
 * Runs a query and maps every row into a new array of item_size-byte items:
 * *items (NULL when there are none; the caller frees it with the type's
 * _free functions) and *count.
 */
static store_status query_rows(PGconn *conn, const char *what, const char *sql, int n,
                               const char *const *vals, row_fn map, size_t item_size, void **items,
                               size_t *count, char *errstr, size_t errstr_size)
{
    *items = NULL;
    *count = 0;
    PGresult *r = run(conn, what, sql, n, vals, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    int rows = PQntuples(r);
    char *v = rows ? xcalloc((size_t)rows, item_size) : NULL;
    for (int i = 0; i < rows; i++)
        map(r, i, v + (size_t)i * item_size);
    PQclear(r);
    *items = v;
    *count = (size_t)rows;
    return STORE_OK;
}

/* query_rows for a lookup by key: *item is the one row (free it with the
 * type's _free), or STORE_NOT_FOUND with errstr set to not_found. */
static store_status query_one(PGconn *conn, const char *what, const char *sql, int n,
                              const char *const *vals, row_fn map, size_t item_size, void **item,
                              const char *not_found, char *errstr, size_t errstr_size)
{
    size_t count;
    store_status st =
        query_rows(conn, what, sql, n, vals, map, item_size, item, &count, errstr, errstr_size);
    if (st == STORE_OK && count == 0)
        return fail(STORE_NOT_FOUND, errstr, errstr_size, "%s", not_found);
    return st; /* the keys are unique: never more than one row */
}

/*
 * Defines the public type_free(type *) and list_free(list *) of a result
 * type from its static dispose (which frees the members and zeroes the
 * struct); both accept NULL, and list_free leaves the list empty.
 */
#define DEFINE_FREE(type, list, dispose)                                                           \
    void type##_free(type *v)                                                                      \
    {                                                                                              \
        if (!v)                                                                                    \
            return;                                                                                \
        dispose(v);                                                                                \
        free(v);                                                                                   \
    }                                                                                              \
    void list##_free(list *l)                                                                      \
    {                                                                                              \
        if (!l)                                                                                    \
            return;                                                                                \
        for (size_t i = 0; i < l->n; i++)                                                          \
            dispose(&l->items[i]);                                                                 \
        free(l->items);                                                                            \
        l->items = NULL;                                                                           \
        l->n = 0;                                                                                  \
    }

/* Leaves an open (possibly failed) transaction; a no-op outside one. */
static void rollback(PGconn *conn)
{
    if (PQtransactionStatus(conn) == PQTRANS_IDLE)
        return;
    PGresult *r = PQexec(conn, "ROLLBACK");
    PQclear(r);
}

static char *get_str(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

static int64_t get_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : (int64_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static bool get_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

/* STORE_USE_* bits from the boolean columns col (failed_check) and col + 1
 * (data_collection). */
static unsigned get_uses(const PGresult *r, int row, int col)
{
    return (get_bool(r, row, col) ? STORE_USE_FAILED_CHECK : 0) |
           (get_bool(r, row, col + 1) ? STORE_USE_DATA_COLLECTION : 0);
}

/* How a result column becomes a struct member (col_map). */
typedef enum col_type {
    COL_SKIP, /* mapped by the caller */
    COL_STR,  /* char * (get_str: NULL stays NULL) */
    COL_I64,  /* int64_t (NULL: 0) */
    COL_LONG, /* long */
    COL_INT,  /* int */
    COL_BOOL  /* bool */
} col_type;

typedef struct col {
    col_type type;
    size_t offset; /* of the member */
} col;

#define COL(stype, ctype, member)                                                                  \
    {                                                                                              \
        ctype, offsetof(stype, member)                                                             \
    }

/* Maps columns 0..n) of row `row` into the struct at item: cols[c] says
 * where column c goes, so the table lists the SELECT's columns in order. */
static void col_map(const PGresult *r, int row, void *item, const col *cols, size_t n)
{
    char *base = item;
    for (size_t c = 0; c < n; c++) {
        void *m = base + cols[c].offset;
        int ci = (int)c;
        switch (cols[c].type) {
        case COL_SKIP:
            break;
        case COL_STR:
            *(char **)m = get_str(r, row, ci);
            break;
        case COL_I64:
            *(int64_t *)m = get_i64(r, row, ci);
            break;
        case COL_LONG:
            *(long *)m = (long)get_i64(r, row, ci);
            break;
        case COL_INT:
            *(int *)m = (int)get_i64(r, row, ci);
            break;
        case COL_BOOL:
            *(bool *)m = get_bool(r, row, ci);
            break;
        }
    }
}

/* A bool as a text parameter. */
static const char *bool_text(bool b)
{
    return b ? "true" : "false";
}

static void i64_text(int64_t v, char buf[24])
{
    snprintf(buf, 24, "%" PRId64, v);
}

/* True when s has a byte below 0x20 or DEL. */
static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

static bool is_blank(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!isspace(*p))
            return false;
    return true;
}

/* A required one-line text field: non-empty, no control characters, bounded. */
static store_status check_text(const char *field, const char *v, size_t max, bool required,
                               char *errstr, size_t errstr_size)
{
    char q[96];
    if (!v || is_blank(v)) {
        if (!required && v && !*v)
            return STORE_OK;
        if (!required && !v)
            return STORE_OK;
        return fail(STORE_INVALID, errstr, errstr_size, "%s: must not be empty", field);
    }
    if (strlen(v) > max)
        return fail(STORE_INVALID, errstr, errstr_size, "%s: %s is longer than %zu bytes", field,
                    quote(v, q, sizeof q), max);
    if (has_control(v))
        return fail(STORE_INVALID, errstr, errstr_size, "%s: %s contains control characters", field,
                    quote(v, q, sizeof q));
    return STORE_OK;
}

/* ================================================================ validation */

const char *store_dest_kind_name(store_dest_kind k)
{
    switch (k) {
    case STORE_DEST_CHANNEL_ID:
        return "channel_id";
    case STORE_DEST_CHANNEL_NAME:
        return "channel_name";
    case STORE_DEST_EMAIL:
        return "email";
    }
    return "unknown";
}

/* Slack conversation ids: C (public or private) or G (older private), then
 * upper-case letters and digits. */
static bool is_channel_id(const char *s)
{
    if (s[0] != 'C' && s[0] != 'G')
        return false;
    size_t n = strlen(s);
    if (n < 3 || n > 32)
        return false;
    for (size_t i = 1; i < n; i++)
        if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* Slack channel names: at most 80 characters, lower-case letters, digits,
 * hyphens and underscores; non-ASCII letters are allowed by Slack too, so any
 * byte >= 0x80 is accepted and Slack has the last word. */
static bool is_channel_name(const char *s)
{
    if (s[0] != '#')
        return false;
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s + 1; *p; p++) {
        if (*p >= 0x80) {
            if ((*p & 0xC0) != 0x80)
                chars++;
            continue;
        }
        if (!islower(*p) && !isdigit(*p) && *p != '-' && *p != '_')
            return false;
        chars++;
    }
    return chars >= 1 && chars <= 80;
}

/* A pragmatic address check: one '@', a non-empty local part, a domain with a
 * dot that neither starts nor ends the domain, no spaces or control bytes.
 * Slack's users.lookupByEmail decides whether a member has it. */
static bool is_email(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > MAX_DEST)
        return false;
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@'))
        return false;
    const char *dom = at + 1;
    const char *dot = strchr(dom, '.');
    if (!dot || dom[0] == '.' || s[n - 1] == '.' || strstr(dom, ".."))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == ',' || *p == ';' || *p == '<' || *p == '>' ||
            *p == '"' || *p == '(' || *p == ')' || *p == '[' || *p == ']' || *p == '\\')
            return false;
    return true;
}

/* What to add to "is not a channel id, #channel or email address" for the
 * near misses people type or paste ("" when none fits). */
static const char *destination_hint(const char *dest, char *buf, size_t size)
{
    size_t n = strlen(dest);
    if (isspace((unsigned char)dest[0]) || isspace((unsigned char)dest[n - 1]))
        return ": remove the spaces around it";
    if (dest[0] == '#' && n < 256) {
        /* Slack keeps channel names in lower case: '#Sec-Alerts' is #sec-alerts. */
        char low[256];
        for (size_t i = 0; i <= n; i++)
            low[i] = dest[i] >= 'A' && dest[i] <= 'Z' ? (char)(dest[i] - 'A' + 'a') : dest[i];
        if (strcmp(low, dest) != 0 && is_channel_name(low)) {
            char q[96];
            snprintf(buf, size, ": Slack channel names are lower case (%s)",
                     quote(low, q, sizeof q));
            return buf;
        }
        return ": a channel name has lower-case letters, digits, - and _ (at most 80)";
    }
    if ((dest[0] == 'U' || dest[0] == 'W' || dest[0] == 'D') && n >= 3) {
        bool id = true;
        for (size_t i = 1; id && i < n; i++)
            id = isupper((unsigned char)dest[i]) || isdigit((unsigned char)dest[i]);
        if (id)
            return ": user and direct-message ids are not destinations: give the member's email "
                   "address";
    }
    return "";
}

store_status store_destination_parse(const char *dest, store_dest_kind *kind, char *errstr,
                                     size_t errstr_size)
{
    char q[96];
    if (!dest || !*dest)
        return fail(STORE_INVALID, errstr, errstr_size,
                    "destination: must not be empty: give a channel id (C0123ABC), #channel or "
                    "email address");
    if (is_channel_id(dest)) {
        *kind = STORE_DEST_CHANNEL_ID;
        return STORE_OK;
    }
    if (is_channel_name(dest)) {
        *kind = STORE_DEST_CHANNEL_NAME;
        return STORE_OK;
    }
    if (is_email(dest)) {
        *kind = STORE_DEST_EMAIL;
        return STORE_OK;
    }
    char hint[160];
    return fail(STORE_INVALID, errstr, errstr_size,
                "destination: %s is not a channel id, #channel or email address%s",
                quote(dest, q, sizeof q), destination_hint(dest, hint, sizeof hint));
}

/* Copies the comma-separated item starting at *p (trimmed) into buf and
 * advances *p past it; *p becomes NULL after the last item, so "a," yields
 * "a" then "" (an empty item is an error for the callers, not skipped). */
static bool next_item(const char **p, char *buf, size_t size, bool *too_long)
{
    const char *s = *p;
    if (!s)
        return false;
    const char *end = strchr(s, ',');
    size_t n = end ? (size_t)(end - s) : strlen(s);
    *p = end ? end + 1 : NULL;
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    *too_long = n >= size;
    if (*too_long)
        n = size - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

store_status store_uses_parse(const char *csv, unsigned *uses, char *errstr, size_t errstr_size)
{
    char item[64], q[96];
    unsigned u = 0;
    const char *p = csv ? csv : "";
    bool too_long = false;
    if (is_blank(p))
        return fail(STORE_INVALID, errstr, errstr_size,
                    "uses: must not be empty: give failed_check, data_collection or both");
    while (next_item(&p, item, sizeof item, &too_long)) {
        if (!too_long && !strcmp(item, "failed_check"))
            u |= STORE_USE_FAILED_CHECK;
        else if (!too_long && !strcmp(item, "data_collection"))
            u |= STORE_USE_DATA_COLLECTION;
        else
            return fail(STORE_INVALID, errstr, errstr_size,
                        "uses: %s is not a use (failed_check, data_collection)",
                        quote(item, q, sizeof q));
    }
    *uses = u;
    return STORE_OK;
}

const char *store_uses_format(unsigned uses, char *buf, size_t buf_size)
{
    snprintf(buf, buf_size, "%s%s%s", (uses & STORE_USE_FAILED_CHECK) ? "failed_check" : "",
             (uses & STORE_USE_FAILED_CHECK) && (uses & STORE_USE_DATA_COLLECTION) ? "," : "",
             (uses & STORE_USE_DATA_COLLECTION) ? "data_collection" : "");
    return buf;
}

static bool is_check_type(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > STORE_MAX_CHECK_TYPE)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != ':' && c != '-')
            return false;
    }
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void store_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Sorted, de-duplicated, validated copy of checks[0..n). */
static store_status checks_normalise(const char *const *checks, size_t n, char ***out, size_t *nout,
                                     char *errstr, size_t errstr_size)
{
    char q[96];
    *out = NULL;
    *nout = 0;
    if (n > STORE_MAX_CHECKS)
        return fail(STORE_INVALID, errstr, errstr_size, "checks: %zu check types; at most %d", n,
                    STORE_MAX_CHECKS);
    if (n == 0)
        return STORE_OK;
    char **v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        if (!checks[i] || !is_check_type(checks[i])) {
            store_strv_free(v, i);
            return fail(STORE_INVALID, errstr, errstr_size,
                        "checks: %s is not a check type (letters, digits, _ . : -)",
                        quote(checks[i], q, sizeof q));
        }
        v[i] = xstrdup(checks[i]);
    }
    qsort(v, n, sizeof *v, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && !strcmp(v[k - 1], v[i])) {
            free(v[i]);
            continue;
        }
        v[k++] = v[i];
    }
    *out = v;
    *nout = k;
    return STORE_OK;
}

store_status store_checks_parse(const char *csv, char ***checks, size_t *n, char *errstr,
                                size_t errstr_size)
{
    *checks = NULL;
    *n = 0;
    const char *p = csv ? csv : "";
    if (is_blank(p))
        return fail(STORE_INVALID, errstr, errstr_size,
                    "checks: must not be empty: give check types like weak_mfa,stale_admins");
    size_t cap = 8, cnt = 0;
    char **raw = xcalloc(cap, sizeof *raw);
    char item[STORE_MAX_CHECK_TYPE + 2], q[96];
    bool too_long = false;
    store_status st = STORE_OK;
    while (next_item(&p, item, sizeof item, &too_long)) {
        if (too_long || !is_check_type(item)) {
            st = fail(STORE_INVALID, errstr, errstr_size,
                      "checks: %s is not a check type (letters, digits, _ . : -)",
                      quote(item, q, sizeof q));
            goto out;
        }
        if (cnt == cap) {
            cap *= 2;
            raw = xrealloc(raw, cap * sizeof *raw);
        }
        raw[cnt++] = xstrdup(item);
        if (cnt > STORE_MAX_CHECKS)
            break;
    }
    st = checks_normalise((const char *const *)raw, cnt, checks, n, errstr, errstr_size);
out:
    store_strv_free(raw, cnt);
    return st;
}

/* checks joined with ',' for string_to_array($n, ','): check types cannot
 * contain a comma, so the split is exact. */
static char *checks_join(char *const *v, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    char *s = xmalloc(len), *o = s;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        size_t m = strlen(v[i]);
        memcpy(o, v[i], m);
        o += m;
    }
    *o = '\0';
    return s;
}

static store_status check_team_id(const char *field, const char *t, char *errstr,
                                  size_t errstr_size)
{
    char q[96];
    if (!t || !*t)
        return fail(STORE_INVALID, errstr, errstr_size, "%s: must not be empty", field);
    size_t n = strlen(t);
    bool ok = n <= MAX_TEAM_ID;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        ok = isalnum(c) || c == '_' || c == '-';
    }
    if (!ok)
        return fail(STORE_INVALID, errstr, errstr_size,
                    "%s: %s is not a Slack team id (like T0123ABCD)", field, quote(t, q, sizeof q));
    return STORE_OK;
}

/* ================================================================ workspaces */

static void workspace_dispose(store_workspace *w)
{
    free(w->team_id);
    free(w->team_name);
    free(w->bot_user_id);
    free(w->scopes);
    free(w->revoked_reason);
    memset(w, 0, sizeof *w);
}

DEFINE_FREE(store_workspace, store_workspaces, workspace_dispose)

#define WORKSPACE_SELECT                                                                           \
    "SELECT w.team_id, w.team_name, w.bot_user_id, w.scopes, " MS_INSTALLED ", " MS_UPDATED ", "   \
    " w.revoked_at IS NOT NULL, " MS_REVOKED ", w.revoked_reason, "                                \
    " (SELECT count(*) FROM targets t WHERE t.team_id = w.team_id AND t.deleted_at IS NULL), "     \
    " w.refresh_token_enc IS NOT NULL, " MS_EXPIRES " "                                            \
    "FROM workspaces w WHERE w.removed_at IS NULL "

#define W(ctype, member) COL(store_workspace, ctype, member)
/* WORKSPACE_SELECT's columns. */
static const col workspace_cols[] = {
    W(COL_STR, team_id),       W(COL_STR, team_name),       W(COL_STR, bot_user_id),
    W(COL_STR, scopes),        W(COL_I64, installed_at_ms), W(COL_I64, updated_at_ms),
    W(COL_BOOL, revoked),      W(COL_I64, revoked_at_ms),   W(COL_STR, revoked_reason),
    W(COL_LONG, target_count), W(COL_BOOL, rotating),       W(COL_I64, token_expires_at_ms),
};
#undef W

static void workspace_row(const PGresult *r, int i, void *item)
{
    col_map(r, i, item, workspace_cols, ARRAY_LEN(workspace_cols));
}

store_status store_workspace_put(PGconn *conn, const unsigned char key[CRYPTO_KEY_LEN],
                                 const store_workspace_input *in, bool *replaced, char *errstr,
                                 size_t errstr_size)
{
    store_status st;
    if ((st = check_team_id("team_id", in->team_id, errstr, errstr_size)) ||
        (st = check_text("team_name", in->team_name, MAX_TEAM_NAME, true, errstr, errstr_size)) ||
        (st =
             check_text("bot_user_id", in->bot_user_id, MAX_TEAM_ID, false, errstr, errstr_size)) ||
        (st = check_text("scopes", in->scopes, 2000, false, errstr, errstr_size)))
        return st;
    /* The token is never quoted, whatever is wrong with it. */
    if (!in->token || !*in->token)
        return fail(STORE_INVALID, errstr, errstr_size, "token: must not be empty");
    size_t tlen = strlen(in->token);
    if (tlen > MAX_TOKEN)
        return fail(STORE_INVALID, errstr, errstr_size,
                    "token: longer than %d bytes (value not shown)", MAX_TOKEN);
    for (size_t i = 0; i < tlen; i++) {
        unsigned char c = (unsigned char)in->token[i];
        if (c <= 0x20 || c == 0x7f)
            return fail(STORE_INVALID, errstr, errstr_size,
                        "token: contains whitespace or control characters (value not shown)");
    }

    /* Rotation comes as a pair: a refresh token and the token's lifetime. */
    bool rotating = in->refresh_token != NULL;
    size_t rlen = rotating ? strlen(in->refresh_token) : 0;
    if (rotating && (rlen == 0 || rlen > MAX_TOKEN))
        return fail(STORE_INVALID, errstr, errstr_size,
                    "refresh_token: empty or longer than %d bytes (value not shown)", MAX_TOKEN);
    for (size_t i = 0; i < rlen; i++) {
        unsigned char c = (unsigned char)in->refresh_token[i];
        if (c <= 0x20 || c == 0x7f)
            return fail(STORE_INVALID, errstr, errstr_size,
                        "refresh_token: contains whitespace or control characters (value not "
                        "shown)");
    }
    if (rotating != (in->expires_in > 0) || in->expires_in < 0 || in->expires_in > 1000000000L)
        return fail(STORE_INVALID, errstr, errstr_size,
                    "expires_in: %ld: a token lifetime comes with a refresh token, as a positive "
                    "number of seconds",
                    in->expires_in);

    unsigned char *sealed = NULL, *rsealed = NULL;
    size_t sealed_len = 0, rsealed_len = 0;
    if (crypto_seal(key, in->token, tlen, &sealed, &sealed_len))
        return fail(STORE_CRYPTO, errstr, errstr_size, "token: encryption failed");
    if (rotating && crypto_seal(key, in->refresh_token, rlen, &rsealed, &rsealed_len)) {
        crypto_wipe(sealed, sealed_len);
        free(sealed);
        return fail(STORE_CRYPTO, errstr, errstr_size, "refresh_token: encryption failed");
    }
    char expires[24];
    snprintf(expires, sizeof expires, "%ld", in->expires_in);

    const char *what = "storing the workspace";
    PGresult *r = NULL;
    if ((st = begin(conn, what, errstr, errstr_size)))
        goto out;
    const char *p1[1] = {in->team_id};
    r = run(conn, what, "SELECT removed_at IS NULL FROM workspaces WHERE team_id = $1 FOR UPDATE",
            1, p1, NULL, errstr, errstr_size);
    if (!r) {
        st = STORE_DB;
        goto out;
    }
    bool existed = PQntuples(r) > 0 && get_bool(r, 0, 0);
    PQclear(r);

    /* The token, its refresh token and its expiry are written together. */
    const char *vals[7] = {in->team_id,          in->team_name,         in->bot_user_id, in->scopes,
                           (const char *)sealed, (const char *)rsealed, expires};
    int lens[7] = {0, 0, 0, 0, (int)sealed_len, (int)rsealed_len, 0};
    int fmts[7] = {0, 0, 0, 0, 1, 1, 0}; /* the sealed tokens go as binary bytea */
    r = PQexecParams(conn,
                     "INSERT INTO workspaces (team_id, team_name, bot_user_id, scopes, token_enc, "
                     " refresh_token_enc, token_expires_at) "
                     "VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::int8 > 0 THEN now() + "
                     " $7::int8 * interval '1 second' END) "
                     "ON CONFLICT (team_id) DO UPDATE SET team_name = EXCLUDED.team_name, "
                     " bot_user_id = COALESCE(EXCLUDED.bot_user_id, workspaces.bot_user_id), "
                     " scopes = COALESCE(EXCLUDED.scopes, workspaces.scopes), "
                     " token_enc = EXCLUDED.token_enc, "
                     " refresh_token_enc = EXCLUDED.refresh_token_enc, "
                     " token_expires_at = EXCLUDED.token_expires_at, "
                     " installed_at = now(), updated_at = now(), "
                     " revoked_at = NULL, revoked_reason = NULL, removed_at = NULL",
                     7, NULL, vals, lens, fmts, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        st = db_fail(conn, r, what, errstr, errstr_size);
        PQclear(r);
        goto out;
    }
    PQclear(r);
    if ((st = commit(conn, what, errstr, errstr_size)))
        goto out;
    if (replaced)
        *replaced = existed;
out:
    if (st)
        rollback(conn);
    crypto_wipe(sealed, sealed_len);
    free(sealed);
    if (rsealed)
        crypto_wipe(rsealed, rsealed_len);
    free(rsealed);
    return st;
}

store_status store_workspace_list(PGconn *conn, store_workspaces *out, char *errstr,
                                  size_t errstr_size)
{
    void *items;
    store_status st =
        query_rows(conn, "listing workspaces", WORKSPACE_SELECT "ORDER BY w.team_id", 0, NULL,
                   workspace_row, sizeof *out->items, &items, &out->n, errstr, errstr_size);
    out->items = items;
    return st;
}

store_status store_workspace_get(PGconn *conn, const char *team_id, store_workspace **out,
                                 char *errstr, size_t errstr_size)
{
    char q[96], not_found[128];
    snprintf(not_found, sizeof not_found, "no workspace %s is installed",
             quote(team_id, q, sizeof q));
    const char *p[1] = {team_id ? team_id : ""};
    void *item;
    store_status st =
        query_one(conn, "reading the workspace", WORKSPACE_SELECT "AND w.team_id = $1", 1, p,
                  workspace_row, sizeof **out, &item, not_found, errstr, errstr_size);
    *out = item;
    return st;
}

store_status store_workspace_remove(PGconn *conn, const char *team_id, bool force,
                                    long *targets_removed, char *errstr, size_t errstr_size)
{
    const char *what = "removing the workspace";
    char q[96];
    store_status st;
    PGresult *r = NULL;
    if (targets_removed)
        *targets_removed = 0;
    if ((st = begin(conn, what, errstr, errstr_size)))
        return st;
    const char *p[1] = {team_id ? team_id : ""};
    int found = 0;
    if ((st = exec_sql(conn, what,
                       "SELECT 1 FROM workspaces WHERE team_id = $1 AND removed_at IS NULL "
                       "FOR UPDATE",
                       1, p, &found, errstr, errstr_size)))
        goto out;
    if (!found) {
        st = fail(STORE_NOT_FOUND, errstr, errstr_size, "no workspace %s is installed",
                  quote(team_id, q, sizeof q));
        goto out;
    }
    r = run(conn, what,
            "SELECT id, name FROM targets WHERE team_id = $1 AND deleted_at IS NULL ORDER BY id", 1,
            p, NULL, errstr, errstr_size);
    if (!r) {
        st = STORE_DB;
        goto out;
    }
    int nt = PQntuples(r);
    if (nt > 0 && !force) {
        char list[384] = "";
        size_t o = 0;
        for (int i = 0; i < nt && o < sizeof list; i++) {
            char qn[96];
            int w = snprintf(list + o, sizeof list - o, "%s%s %s", i ? ", " : "",
                             PQgetvalue(r, i, 0), quote(PQgetvalue(r, i, 1), qn, sizeof qn));
            if (w < 0)
                break;
            o += (size_t)w;
            if (i == 7 && nt > 8) {
                snprintf(list + (o < sizeof list ? o : sizeof list - 1),
                         o < sizeof list ? sizeof list - o : 1, ", and %d more", nt - 8);
                break;
            }
        }
        PQclear(r);
        st = fail(STORE_CONFLICT, errstr, errstr_size,
                  "workspace %s is used by %d target%s (%s): remove %s first or force the removal",
                  quote(team_id, q, sizeof q), nt, nt == 1 ? "" : "s", list,
                  nt == 1 ? "it" : "them");
        goto out;
    }
    PQclear(r);
    if (nt > 0) {
        if ((st = exec_sql(conn, what,
                           "UPDATE targets SET deleted_at = now(), enabled = false, "
                           "updated_at = now() WHERE team_id = $1 AND deleted_at IS NULL",
                           1, p, NULL, errstr, errstr_size)))
            goto out;
        if (targets_removed)
            *targets_removed = nt;
    }
    /* History (deliveries -> targets) keeps a referenced workspace as a
     * tombstone with its token destroyed; an unreferenced one goes. */
    if ((st = exec_sql(conn, what,
                       "WITH gone AS (DELETE FROM workspaces w WHERE w.team_id = $1 AND NOT "
                       " EXISTS (SELECT 1 FROM targets t WHERE t.team_id = w.team_id) RETURNING 1) "
                       "UPDATE workspaces SET removed_at = now(), token_enc = ''::bytea, "
                       " refresh_token_enc = NULL, token_expires_at = NULL, "
                       " revoked_at = COALESCE(revoked_at, now()), revoked_reason = 'removed', "
                       " updated_at = now() "
                       "WHERE team_id = $1 AND NOT EXISTS (SELECT 1 FROM gone)",
                       1, p, NULL, errstr, errstr_size)))
        goto out;
    st = commit(conn, what, errstr, errstr_size);
out:
    if (st)
        rollback(conn);
    return st;
}

store_status store_workspace_token(PGconn *conn, const unsigned char key[CRYPTO_KEY_LEN],
                                   const char *team_id, char **token, bool *revoked, char *errstr,
                                   size_t errstr_size)
{
    *token = NULL;
    if (revoked)
        *revoked = false;
    char q[96];
    const char *p[1] = {team_id ? team_id : ""};
    /* Binary results: the sealed bytes arrive as they are, no hex round trip. */
    PGresult *r = PQexecParams(conn,
                               "SELECT token_enc, revoked_at IS NOT NULL FROM workspaces "
                               "WHERE team_id = $1 AND removed_at IS NULL",
                               1, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        store_status st = db_fail(conn, r, "reading the workspace token", errstr, errstr_size);
        PQclear(r);
        return st;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        return fail(STORE_NOT_FOUND, errstr, errstr_size, "no workspace %s is installed",
                    quote(team_id, q, sizeof q));
    }
    const unsigned char *sealed = (const unsigned char *)PQgetvalue(r, 0, 0);
    size_t len = (size_t)PQgetlength(r, 0, 0);
    bool is_revoked = PQgetlength(r, 0, 1) == 1 && PQgetvalue(r, 0, 1)[0] != 0;
    char err[128];
    if (crypto_open(key, sealed, len, token, err, sizeof err)) {
        PQclear(r);
        return fail(STORE_CRYPTO, errstr, errstr_size, "workspace %s: %s",
                    quote(team_id, q, sizeof q), err);
    }
    PQclear(r);
    if (revoked)
        *revoked = is_revoked;
    return STORE_OK;
}

store_status store_workspace_mark_revoked(PGconn *conn, const char *team_id, const char *code)
{
    char errstr[512];
    const char *p[2] = {team_id ? team_id : "", code && *code ? code : "revoked"};
    store_status st = exec_sql(conn, "marking the workspace revoked",
                               "UPDATE workspaces SET revoked_at = COALESCE(revoked_at, now()), "
                               "revoked_reason = $2, updated_at = now() WHERE team_id = $1",
                               2, p, NULL, errstr, sizeof errstr);
    if (st)
        LOG_WARN("workspace %s: %s", p[0], errstr);
    return st;
}

/* ---- token rotation ------------------------------------------------------------------------ */

void store_token_dispose(store_token *t)
{
    if (!t)
        return;
    if (t->token) {
        crypto_wipe(t->token, strlen(t->token));
        free(t->token);
    }
    memset(t, 0, sizeof *t);
}

bool store_slack_app_ready(const store_slack_app *app)
{
    return app && app->client_id && *app->client_id && app->client_secret && *app->client_secret;
}

/* Opens a sealed bytea column of a text-format result into *out (malloc'd,
 * NULL for SQL NULL or an empty value). */
static int open_sealed_col(const PGresult *r, int column, const unsigned char key[CRYPTO_KEY_LEN],
                           char **out, char *err, size_t err_size)
{
    *out = NULL;
    if (PQgetisnull(r, 0, column))
        return 0;
    size_t len = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, column), &len);
    if (!raw) {
        snprintf(err, err_size, "cannot decode the stored value");
        return -1;
    }
    int rc = 0;
    if (len)
        rc = crypto_open(key, raw, len, out, err, err_size);
    crypto_wipe(raw, len);
    PQfreemem(raw);
    if (rc)
        *out = NULL;
    return rc;
}

/* A failed refresh: code and reason in out, one line in errstr. */
static store_status refresh_failed(store_token *out, const char *team_id, const char *code,
                                   const char *reason, bool transient, char *errstr,
                                   size_t errstr_size)
{
    char q[96];
    snprintf(out->code, sizeof out->code, "%s", code);
    snprintf(out->reason, sizeof out->reason, "%s", reason);
    out->transient = transient;
    return fail(STORE_CONFLICT, errstr, errstr_size,
                "workspace %s: refreshing the bot token failed: %s (%s)%s",
                quote(team_id, q, sizeof q), code, reason,
                transient ? ": will try again" : ": installation marked revoked");
}

store_status store_workspace_refresh(PGconn *conn, const unsigned char key[CRYPTO_KEY_LEN],
                                     const char *team_id, const store_slack_app *app,
                                     int64_t margin_ms, const char *stale_token, store_token *out,
                                     char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    const char *what = "refreshing the workspace token";
    char q[96], sqlstate[6], margin[24], lock_ms[24], cerr[128];
    long timeout_ms = app && app->timeout_ms > 0 ? app->timeout_ms : SLACK_DEFAULT_TIMEOUT_MS;
    snprintf(margin, sizeof margin, "%lld", (long long)(margin_ms > 0 ? margin_ms : 0));
    snprintf(lock_ms, sizeof lock_ms, "%ld", timeout_ms);
    char *refresh = NULL;
    unsigned char *sealed = NULL, *rsealed = NULL;
    size_t sealed_len = 0, rsealed_len = 0;
    slack_result res;
    slack_result_init(&res);
    PGresult *r = NULL;
    store_status st;

    if ((st = begin(conn, what, errstr, errstr_size)))
        return st;
    /* Another process refreshing this installation holds the row while it asks
     * Slack (at most its request timeout): wait that long, not longer. */
    const char *pl[1] = {lock_ms};
    if ((st = exec_sql(conn, what, "SELECT set_config('lock_timeout', $1 || 'ms', true)", 1, pl,
                       NULL, errstr, errstr_size)))
        goto out;
    const char *p[2] = {team_id ? team_id : "", margin};
    r = run(conn, what, REFRESH_SELECT, 2, p, sqlstate, errstr, errstr_size);
    if (!r) {
        if (!strcmp(sqlstate, "55P03")) { /* lock_not_available */
            rollback(conn);
            return refresh_failed(out, team_id, "refresh_in_progress",
                                  "another process is refreshing this installation's token", true,
                                  errstr, errstr_size);
        }
        st = STORE_DB;
        goto out;
    }
    if (PQntuples(r) == 0) {
        st = fail(STORE_NOT_FOUND, errstr, errstr_size, "no workspace %s is installed",
                  quote(team_id, q, sizeof q));
        goto out;
    }
    if (open_sealed_col(r, 0, key, &out->token, cerr, sizeof cerr) || !out->token ||
        open_sealed_col(r, 1, key, &refresh, cerr, sizeof cerr)) {
        st = fail(STORE_CRYPTO, errstr, errstr_size, "workspace %s: %s",
                  quote(team_id, q, sizeof q), out->token ? cerr : "no stored token");
        goto out;
    }
    out->rotating = refresh != NULL;
    out->expires_at_ms = get_i64(r, 0, 2);
    bool due = get_bool(r, 0, 3);
    out->revoked = get_bool(r, 0, 4);
    snprintf(out->revoked_reason, sizeof out->revoked_reason, "%s", PQgetvalue(r, 0, 5));
    PQclear(r);
    r = NULL;

    bool need = stale_token ? strcmp(out->token, stale_token) == 0 : due;
    if (!need || !out->rotating || out->revoked || !store_slack_app_ready(app)) {
        /* Nothing to do, or another process refreshed it already: release the row. */
        st = commit(conn, what, errstr, errstr_size);
        goto out;
    }

    slack_oauth_v2_refresh(app->api_base, app->client_id, app->client_secret, refresh, timeout_ms,
                           &res);
    const char *access = res.ok ? slack_result_access_token(&res) : NULL;
    const char *next = res.ok ? slack_result_refresh_token(&res) : NULL;
    if (!res.ok || !access || !*access || !next || !*next) {
        bool transient = !res.ok && slack_class_is_retriable(res.cls);
        const char *code = res.ok ? "invalid_response" : res.error[0] ? res.error : "unknown";
        const char *reason = res.ok          ? "Slack's answer had no new token pair"
                             : res.reason[0] ? res.reason
                                             : "Slack refused the refresh";
        /* Our app's credentials refused: a configuration error of this process
         * (HERALD_SLACK_CLIENT_ID / _SECRET), not of the installation, whose
         * refresh token is still good: never revoke for it, try again. */
        bool app_config = !res.ok && (!strcmp(res.error, "invalid_client_id") ||
                                      !strcmp(res.error, "bad_client_secret"));
        if (res.ok || app_config)
            transient = true; /* nothing was revoked that we know of: try again */
        if (app_config) {
            rollback(conn);
            LOG_ERROR("workspace %s: Slack refused this Slack app's credentials (%s): check "
                      "HERALD_SLACK_CLIENT_ID and HERALD_SLACK_CLIENT_SECRET; the token is "
                      "refreshed once they are right",
                      team_id, code);
        } else if (!transient) {
            /* Slack will not refresh this installation: unusable until reinstalled. */
            const char *pr[2] = {team_id, code};
            if ((st = exec_sql(conn, what,
                               "UPDATE workspaces SET revoked_at = COALESCE(revoked_at, now()), "
                               "revoked_reason = $2, updated_at = now() WHERE team_id = $1",
                               2, pr, NULL, errstr, errstr_size)) ||
                (st = commit(conn, what, errstr, errstr_size)))
                goto out;
            out->revoked = true;
            snprintf(out->revoked_reason, sizeof out->revoked_reason, "%s", code);
            crypto_wipe(out->token, strlen(out->token));
            free(out->token);
            out->token = NULL;
            LOG_WARN("workspace %s: Slack refused to refresh the bot token (%s): installation "
                     "marked revoked; reinstall Herald in this workspace",
                     team_id, code);
        } else {
            rollback(conn);
            LOG_WARN("workspace %s: refreshing the bot token failed for now (%s)", team_id, code);
        }
        st = refresh_failed(out, team_id, code, reason, transient, errstr, errstr_size);
        goto out;
    }
    if (crypto_seal(key, access, strlen(access), &sealed, &sealed_len) ||
        crypto_seal(key, next, strlen(next), &rsealed, &rsealed_len)) {
        /* Slack has revoked the old refresh token: losing the new one would strand the
         * installation, but there is nothing else to do than say so. */
        st = fail(STORE_CRYPTO, errstr, errstr_size,
                  "workspace %s: encrypting the new tokens failed", quote(team_id, q, sizeof q));
        goto out;
    }
    char expires[24];
    snprintf(expires, sizeof expires, "%ld", res.expires_in);
    const char *vals[4] = {team_id, (const char *)sealed, (const char *)rsealed, expires};
    int lens[4] = {0, (int)sealed_len, (int)rsealed_len, 0};
    int fmts[4] = {0, 1, 1, 0};
    r = PQexecParams(conn, REFRESH_UPDATE, 4, NULL, vals, lens, fmts, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st = db_fail(conn, r, what, errstr, errstr_size);
        goto out;
    }
    out->expires_at_ms = get_i64(r, 0, 0);
    PQclear(r);
    r = NULL;
    if ((st = commit(conn, what, errstr, errstr_size)))
        goto out;
    crypto_wipe(out->token, strlen(out->token));
    free(out->token);
    out->token = xstrdup(access);
    out->refreshed = true;
    LOG_INFO("workspace %s: bot token refreshed (token rotation; it lives %lds)", team_id,
             res.expires_in);
out:
    PQclear(r);
    if (st != STORE_OK && !(st == STORE_CONFLICT && out->code[0])) {
        rollback(conn);
        store_token_dispose(out);
    } else if (st != STORE_OK) {
        rollback(conn); /* no-op after the revoke's commit */
    }
    if (refresh) {
        crypto_wipe(refresh, strlen(refresh));
        free(refresh);
    }
    if (sealed)
        crypto_wipe(sealed, sealed_len);
    free(sealed);
    if (rsealed)
        crypto_wipe(rsealed, rsealed_len);
    free(rsealed);
    slack_result_dispose(&res);
    return st;
}

/* ================================================================ targets */

static void target_dispose(store_target *t)
{
    free(t->tenant_id);
    free(t->team_id);
    free(t->team_name);
    free(t->name);
    free(t->description);
    free(t->destination);
    free(t->destination_resolved);
    store_strv_free(t->checks, t->n_checks);
    free(t->health.last_error_code);
    free(t->health.last_error);
    memset(t, 0, sizeof *t);
}

DEFINE_FREE(store_target, store_targets, target_dispose)

/* $1: tenant or NULL. */
#define TARGET_SELECT                                                                              \
    "SELECT t.id, t.tenant_id, t.team_id, w.team_name, w.revoked_at IS NOT NULL, t.name, "         \
    " t.description, t.destination, t.destination_kind, t.destination_resolved, "                  \
    " t.use_failed_check, t.use_data_collection, t.enabled, "                                      \
    " t.digest_enabled, t.thread_repeats, "                                                        \
    " (SELECT string_agg(c.check_type, ',' ORDER BY c.check_type) FROM target_checks c "           \
    "   WHERE c.target_id = t.id), " MS_T_CREATED ", " MS_T_UPDATED ", "                           \
    " h.pending_24h, h.sending_24h, h.retrying_24h, h.sent_24h, h.failed_24h, "                    \
    " " MS_H_SUCCESS ", " MS_H_ERROR ", h.last_error_code, h.last_error "                          \
    "FROM targets t JOIN workspaces w ON w.team_id = t.team_id "                                   \
    "LEFT JOIN target_delivery_health h ON h.target_id = t.id "                                    \
                                                                                                   \
    "WHERE t.deleted_at IS NULL AND ($1::text IS NULL OR t.tenant_id = $1) "

static void split_checks(const char *csv, store_target *t)
{
    t->checks = NULL;
    t->n_checks = 0;
    if (!csv || !*csv)
        return;
    size_t n = 1;
    for (const char *p = csv; *p; p++)
        n += *p == ',';
    t->checks = xcalloc(n, sizeof *t->checks);
    const char *s = csv;
    for (size_t i = 0; i < n; i++) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        t->checks[i] = xmalloc(len + 1);
        memcpy(t->checks[i], s, len);
        t->checks[i][len] = '\0';
        s = e ? e + 1 : s + len;
    }
    t->n_checks = n;
}

#define T(ctype, member) COL(store_target, ctype, member)
/* TARGET_SELECT's columns; the skipped ones are mapped in target_row. */
static const col target_cols[] = {
    T(COL_I64, id),
    T(COL_STR, tenant_id),
    T(COL_STR, team_id),
    T(COL_STR, team_name),
    T(COL_BOOL, workspace_revoked),
    T(COL_STR, name),
    T(COL_STR, description),
    T(COL_STR, destination),
    T(COL_SKIP, destination_kind), /* 8 */
    T(COL_STR, destination_resolved),
    T(COL_SKIP, uses), /* 10, 11 */
    T(COL_SKIP, uses),
    T(COL_BOOL, enabled),
    T(COL_BOOL, digest_enabled),
    T(COL_BOOL, thread_repeats),
    T(COL_SKIP, checks), /* 15 */
    T(COL_I64, created_at_ms),
    T(COL_I64, updated_at_ms),
    T(COL_LONG, health.pending_24h),
    T(COL_LONG, health.sending_24h),
    T(COL_LONG, health.retrying_24h),
    T(COL_LONG, health.sent_24h),
    T(COL_LONG, health.failed_24h),
    T(COL_I64, health.last_success_at_ms),
    T(COL_I64, health.last_error_at_ms),
    T(COL_STR, health.last_error_code),
    T(COL_STR, health.last_error),
};
#undef T

static void target_row(const PGresult *r, int i, void *item)
{
    store_target *t = item;
    col_map(r, i, t, target_cols, ARRAY_LEN(target_cols));
    const char *kind = PQgetvalue(r, i, 8);
    if (!strcmp(kind, "email"))
        t->destination_kind = STORE_DEST_EMAIL;
    else if (t->destination[0] == '#')
        t->destination_kind = STORE_DEST_CHANNEL_NAME;
    else
        t->destination_kind = STORE_DEST_CHANNEL_ID;
    t->uses = get_uses(r, i, 10);
    split_checks(PQgetisnull(r, i, 15) ? NULL : PQgetvalue(r, i, 15), t);
}

store_status store_target_list(PGconn *conn, const char *tenant, store_targets *out, char *errstr,
                               size_t errstr_size)
{
    const char *p[1] = {tenant};
    void *items;
    store_status st =
        query_rows(conn, "listing targets", TARGET_SELECT "ORDER BY t.tenant_id, t.id", 1, p,
                   target_row, sizeof *out->items, &items, &out->n, errstr, errstr_size);
    out->items = items;
    return st;
}

store_status store_target_get(PGconn *conn, const char *tenant, int64_t id, store_target **out,
                              char *errstr, size_t errstr_size)
{
    char ids[24], not_found[40];
    i64_text(id, ids);
    snprintf(not_found, sizeof not_found, "no target %s", ids);
    const char *p[2] = {tenant, ids};
    void *item;
    store_status st = query_one(conn, "reading the target", TARGET_SELECT "AND t.id = $2", 2, p,
                                target_row, sizeof **out, &item, not_found, errstr, errstr_size);
    *out = item;
    return st;
}

/* Fails with "name: ... already used" when another live target of tenant has name. */
static store_status name_free(PGconn *conn, const char *tenant, const char *name, int64_t self,
                              char *errstr, size_t errstr_size)
{
    char ids[24], q[96], qt[96];
    i64_text(self, ids);
    const char *p[3] = {tenant, name, ids};
    PGresult *r = run(conn, "checking the target name",
                      "SELECT id FROM targets WHERE tenant_id = $1 AND name = $2 "
                      "AND deleted_at IS NULL AND id <> $3 LIMIT 1",
                      3, p, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    store_status st = STORE_OK;
    if (PQntuples(r) > 0)
        st = fail(STORE_INVALID, errstr, errstr_size,
                  "name: %s is already used by target %s of tenant %s", quote(name, q, sizeof q),
                  PQgetvalue(r, 0, 0), quote(tenant, qt, sizeof qt));
    PQclear(r);
    return st;
}

/* The same message when the unique index catches a race name_free missed. */
static store_status name_race(const char *tenant, const char *name, char *errstr,
                              size_t errstr_size)
{
    char q[96], qt[96];
    return fail(STORE_INVALID, errstr, errstr_size,
                "name: %s is already used by another target of tenant %s", quote(name, q, sizeof q),
                quote(tenant, qt, sizeof qt));
}

static store_status insert_checks(PGconn *conn, const char *what, int64_t id, char *const *checks,
                                  size_t n, char *errstr, size_t errstr_size)
{
    if (n == 0)
        return STORE_OK;
    char ids[24];
    i64_text(id, ids);
    char *joined = checks_join(checks, n);
    const char *p[2] = {ids, joined};
    store_status st = exec_sql(conn, what,
                               "INSERT INTO target_checks (target_id, check_type) "
                               "SELECT $1, unnest(string_to_array($2, ','))",
                               2, p, NULL, errstr, errstr_size);
    free(joined);
    return st;
}

/* The workspace must be installed and usable for a new target. */
static store_status workspace_usable(PGconn *conn, const char *team_id, char *errstr,
                                     size_t errstr_size)
{
    char q[96];
    const char *p[1] = {team_id};
    PGresult *r = run(conn, "checking the workspace",
                      "SELECT revoked_at IS NOT NULL, revoked_reason FROM workspaces "
                      "WHERE team_id = $1 AND removed_at IS NULL FOR SHARE",
                      1, p, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    store_status st = STORE_OK;
    if (PQntuples(r) == 0)
        st = fail(STORE_INVALID, errstr, errstr_size,
                  "workspace: no workspace %s is installed (add it first)",
                  quote(team_id, q, sizeof q));
    else if (get_bool(r, 0, 0))
        st = fail(STORE_INVALID, errstr, errstr_size,
                  "workspace: workspace %s is revoked (%s): reinstall it first",
                  quote(team_id, q, sizeof q),
                  PQgetisnull(r, 0, 1) ? "revoked" : PQgetvalue(r, 0, 1));
    PQclear(r);
    return st;
}

static store_status check_uses(unsigned uses, char *errstr, size_t errstr_size)
{
    if (uses == 0 || (uses & ~(STORE_USE_FAILED_CHECK | STORE_USE_DATA_COLLECTION)))
        return fail(STORE_INVALID, errstr, errstr_size,
                    "uses: must be failed_check, data_collection or both");
    return STORE_OK;
}

static store_status filter_needs_failed_check(unsigned uses, char *errstr, size_t errstr_size)
{
    char ub[64];
    return fail(STORE_INVALID, errstr, errstr_size,
                "checks: a check filter needs the failed_check use (uses is %s)",
                store_uses_format(uses, ub, sizeof ub));
}

/* A target's tenant must be one an event can carry, or it is never notified. */
static store_status check_tenant(const char *tenant, char *errstr, size_t errstr_size)
{
    if (event_is_identifier(tenant))
        return STORE_OK;
    char q[96];
    snprintf(errstr, errstr_size,
             "tenant: %s is not a tenant id events can carry (1 to %d of A-Z a-z 0-9 . _ : -)",
             quote(tenant, q, sizeof q), EVENT_MAX_IDENTIFIER);
    return STORE_INVALID;
}

store_status store_target_create(PGconn *conn, const store_target_input *in, int64_t *id,
                                 char *errstr, size_t errstr_size)
{
    store_status st;
    store_dest_kind kind;
    char **checks = NULL;
    size_t nchecks = 0;
    PGresult *r = NULL;
    const char *what = "creating the target";
    *id = 0;
    if ((st = check_text("tenant", in->tenant, MAX_TENANT, true, errstr, errstr_size)) ||
        (st = check_tenant(in->tenant, errstr, errstr_size)) ||
        (st = check_team_id("workspace", in->workspace, errstr, errstr_size)) ||
        (st = check_text("name", in->name, STORE_MAX_NAME, true, errstr, errstr_size)))
        return st;
    if (in->description && strlen(in->description) > STORE_MAX_DESCRIPTION)
        return fail(STORE_INVALID, errstr, errstr_size, "description: longer than %d bytes",
                    STORE_MAX_DESCRIPTION);
    if ((st = store_destination_parse(in->destination, &kind, errstr, errstr_size)) ||
        (st = check_uses(in->uses, errstr, errstr_size)) ||
        (st = checks_normalise(in->checks, in->n_checks, &checks, &nchecks, errstr, errstr_size)))
        return st;
    if (nchecks > 0 && !(in->uses & STORE_USE_FAILED_CHECK)) {
        st = filter_needs_failed_check(in->uses, errstr, errstr_size);
        goto out;
    }

    if ((st = begin(conn, what, errstr, errstr_size)) ||
        (st = workspace_usable(conn, in->workspace, errstr, errstr_size)) ||
        (st = name_free(conn, in->tenant, in->name, 0, errstr, errstr_size)))
        goto out;
    const char *p[12] = {
        in->tenant,
        in->workspace,
        in->name,
        in->description ? in->description : "",
        in->destination,
        kind == STORE_DEST_EMAIL ? "email" : "channel",
        /* A channel id needs no resolving; names and emails are Slack's to resolve. */
        kind == STORE_DEST_CHANNEL_ID ? in->destination : NULL,
        bool_text(in->uses & STORE_USE_FAILED_CHECK),
        bool_text(in->uses & STORE_USE_DATA_COLLECTION),
        bool_text(in->enabled != 0),
        bool_text(in->digest != STORE_OFF),
        bool_text(in->thread_repeats == STORE_ON),
    };
    char sqlstate[6];
    r = run(conn, what,
            "INSERT INTO targets (tenant_id, team_id, name, description, destination, "
            " destination_kind, destination_resolved, use_failed_check, use_data_collection, "
            " enabled, digest_enabled, thread_repeats) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            12, p, sqlstate, errstr, errstr_size);
    if (!r) {
        st = !strcmp(sqlstate, "23505") ? name_race(in->tenant, in->name, errstr, errstr_size)
                                        : STORE_DB;
        goto out;
    }
    int64_t new_id = get_i64(r, 0, 0);
    PQclear(r);
    if ((st = insert_checks(conn, what, new_id, checks, nchecks, errstr, errstr_size)) ||
        (st = commit(conn, what, errstr, errstr_size)))
        goto out;
    *id = new_id;
out:
    if (st)
        rollback(conn);
    store_strv_free(checks, nchecks);
    return st;
}

store_status store_target_update(PGconn *conn, const char *tenant, int64_t id,
                                 const store_target_input *in, char *errstr, size_t errstr_size)
{
    store_status st;
    store_dest_kind kind = STORE_DEST_CHANNEL_ID;
    char **checks = NULL;
    size_t nchecks = 0;
    PGresult *r = NULL;
    const char *what = "updating the target";
    char ids[24];
    i64_text(id, ids);

    if (in->name && (st = check_text("name", in->name, STORE_MAX_NAME, true, errstr, errstr_size)))
        return st;
    if (in->description && strlen(in->description) > STORE_MAX_DESCRIPTION)
        return fail(STORE_INVALID, errstr, errstr_size, "description: longer than %d bytes",
                    STORE_MAX_DESCRIPTION);
    if (in->destination &&
        (st = store_destination_parse(in->destination, &kind, errstr, errstr_size)))
        return st;
    if (in->uses && (st = check_uses(in->uses, errstr, errstr_size)))
        return st;
    if (in->set_checks &&
        (st = checks_normalise(in->checks, in->n_checks, &checks, &nchecks, errstr, errstr_size)))
        return st;

    if ((st = begin(conn, what, errstr, errstr_size)))
        goto out;
    const char *p2[2] = {tenant, ids};
    r = run(conn, what,
            "SELECT t.tenant_id, t.use_failed_check, t.use_data_collection, "
            " (SELECT count(*) FROM target_checks c WHERE c.target_id = t.id) "
            "FROM targets t WHERE t.id = $2 AND t.deleted_at IS NULL "
            " AND ($1::text IS NULL OR t.tenant_id = $1) FOR UPDATE",
            2, p2, NULL, errstr, errstr_size);
    if (!r) {
        st = STORE_DB;
        goto out;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        st = fail(STORE_NOT_FOUND, errstr, errstr_size, "no target %s", ids);
        goto out;
    }
    char *target_tenant = get_str(r, 0, 0);
    unsigned uses = get_uses(r, 0, 1);
    long existing_checks = (long)get_i64(r, 0, 3);
    PQclear(r);
    if (in->uses)
        uses = in->uses;
    long checks_after = in->set_checks ? (long)nchecks : existing_checks;
    if (checks_after > 0 && !(uses & STORE_USE_FAILED_CHECK)) {
        free(target_tenant);
        if (in->set_checks) {
            st = filter_needs_failed_check(uses, errstr, errstr_size);
        } else {
            char ub[64];
            st = fail(STORE_INVALID, errstr, errstr_size,
                      "checks: target %s is limited to %ld check type%s, which needs the "
                      "failed_check use (uses would be %s): clear the check filter too",
                      ids, existing_checks, existing_checks == 1 ? "" : "s",
                      store_uses_format(uses, ub, sizeof ub));
        }
        goto out;
    }
    if (in->name && (st = name_free(conn, target_tenant, in->name, id, errstr, errstr_size))) {
        free(target_tenant);
        goto out;
    }

    const char *p[12] = {
        ids,
        in->name,
        in->description,
        in->destination,
        in->destination ? (kind == STORE_DEST_EMAIL ? "email" : "channel") : NULL,
        in->destination && kind == STORE_DEST_CHANNEL_ID ? in->destination : NULL,
        in->uses ? bool_text(uses & STORE_USE_FAILED_CHECK) : NULL,
        in->uses ? bool_text(uses & STORE_USE_DATA_COLLECTION) : NULL,
        in->enabled >= 0 ? bool_text(in->enabled) : NULL,
        bool_text(in->destination),
        in->digest ? bool_text(in->digest == STORE_ON) : NULL,
        in->thread_repeats ? bool_text(in->thread_repeats == STORE_ON) : NULL,
    };
    char sqlstate[6];
    r = run(conn, what,
            "UPDATE targets SET name = COALESCE($2, name), "
            " description = COALESCE($3, description), "
            " destination = COALESCE($4, destination), "
            " destination_kind = COALESCE($5, destination_kind), "
            " destination_resolved = CASE WHEN $10::bool THEN $6 ELSE destination_resolved END, "
            " last_error_code = CASE WHEN $10::bool THEN NULL ELSE last_error_code END, "
            " last_error = CASE WHEN $10::bool THEN NULL ELSE last_error END, "
            " last_error_at = CASE WHEN $10::bool THEN NULL ELSE last_error_at END, "
            " use_failed_check = COALESCE($7::bool, use_failed_check), "
            " use_data_collection = COALESCE($8::bool, use_data_collection), "
            " enabled = COALESCE($9::bool, enabled), "
            " digest_enabled = COALESCE($11::bool, digest_enabled), "
            " thread_repeats = COALESCE($12::bool, thread_repeats), updated_at = now() "
            "WHERE id = $1",
            12, p, sqlstate, errstr, errstr_size);
    if (!r) {
        st = !strcmp(sqlstate, "23505") && in->name
                 ? name_race(target_tenant, in->name, errstr, errstr_size)
                 : STORE_DB;
        free(target_tenant);
        goto out;
    }
    free(target_tenant);
    PQclear(r);
    if (in->set_checks) {
        const char *p1[1] = {ids};
        if ((st = exec_sql(conn, what, "DELETE FROM target_checks WHERE target_id = $1", 1, p1,
                           NULL, errstr, errstr_size)) ||
            (st = insert_checks(conn, what, id, checks, nchecks, errstr, errstr_size)))
            goto out;
    }
    st = commit(conn, what, errstr, errstr_size);
out:
    if (st)
        rollback(conn);
    store_strv_free(checks, nchecks);
    return st;
}

store_status store_target_remove(PGconn *conn, const char *tenant, int64_t id, char *errstr,
                                 size_t errstr_size)
{
    char ids[24];
    i64_text(id, ids);
    const char *p[2] = {tenant, ids};
    int n = 0;
    store_status st =
        exec_sql(conn, "removing the target",
                 "UPDATE targets SET deleted_at = now(), enabled = false, updated_at = now() "
                 "WHERE id = $2 AND deleted_at IS NULL AND ($1::text IS NULL OR tenant_id = $1) "
                 "RETURNING id",
                 2, p, &n, errstr, errstr_size);
    if (st == STORE_OK && n == 0)
        st = fail(STORE_NOT_FOUND, errstr, errstr_size, "no target %s", ids);
    return st;
}

store_status store_target_set_resolved(PGconn *conn, int64_t id, const char *resolved, char *errstr,
                                       size_t errstr_size)
{
    char ids[24];
    i64_text(id, ids);
    const char *p[2] = {ids, resolved};
    int n = 0;
    store_status st =
        exec_sql(conn, "recording the resolved destination",
                 "UPDATE targets SET destination_resolved = $2 WHERE id = $1 RETURNING id", 2, p,
                 &n, errstr, errstr_size);
    if (st == STORE_OK && n == 0)
        st = fail(STORE_NOT_FOUND, errstr, errstr_size, "no target %s", ids);
    return st;
}

/* ================================================================ deliveries */

bool store_delivery_state_valid(const char *s)
{
    static const char *const states[] = {"pending", "sending", "retrying", "sent", "failed"};
    if (!s)
        return false;
    for (size_t i = 0; i < ARRAY_LEN(states); i++)
        if (!strcmp(s, states[i]))
            return true;
    return false;
}

static void delivery_dispose(store_delivery *d)
{
    free(d->event_id);
    free(d->target_name);
    free(d->tenant_id);
    free(d->event_kind);
    free(d->check_type);
    free(d->integration);
    free(d->collection_status);
    free(d->state);
    free(d->error_code);
    free(d->error);
    free(d->slack_channel);
    free(d->slack_ts);
    memset(d, 0, sizeof *d);
}

DEFINE_FREE(store_delivery, store_deliveries, delivery_dispose)

#define DELIVERY_SELECT                                                                            \
    "SELECT d.id, d.event_id, d.target_id, t.name, d.tenant_id, e.kind, "                          \
    " COALESCE(e.check_type, e.payload->'check'->>'type'), "                                       \
    " COALESCE(e.payload->'integration'->>'name', e.payload->'integration'->>'id'), "              \
    " CASE WHEN e.kind = 'collection_event' THEN e.payload->>'status' END, "                       \
    " d.state, d.attempts, " MS_D_NEXT ", d.last_error_code, d.last_error, "                       \
    " d.slack_channel, d.slack_ts, " MS_D_CREATED ", " MS_D_UPDATED ", " MS_D_SENT " "             \
    "FROM deliveries d JOIN targets t ON t.id = d.target_id "                                      \
    "LEFT JOIN events e ON e.event_id = d.event_id "

#define D(ctype, member) COL(store_delivery, ctype, member)
/* DELIVERY_SELECT's columns. */
static const col delivery_cols[] = {
    D(COL_I64, id),          D(COL_STR, event_id),      D(COL_I64, target_id),
    D(COL_STR, target_name), D(COL_STR, tenant_id),     D(COL_STR, event_kind),
    D(COL_STR, check_type),  D(COL_STR, integration),   D(COL_STR, collection_status),
    D(COL_STR, state),       D(COL_INT, attempts),      D(COL_I64, next_attempt_at_ms),
    D(COL_STR, error_code),  D(COL_STR, error),         D(COL_STR, slack_channel),
    D(COL_STR, slack_ts),    D(COL_I64, created_at_ms), D(COL_I64, updated_at_ms),
    D(COL_I64, sent_at_ms),
};
#undef D

static void delivery_row(const PGresult *r, int i, void *item)
{
    col_map(r, i, item, delivery_cols, ARRAY_LEN(delivery_cols));
}

store_status store_delivery_list(PGconn *conn, const store_delivery_filter *f,
                                 store_deliveries *out, char *errstr, size_t errstr_size)
{
    char q[96];
    out->items = NULL;
    out->n = 0;
    if (f->state && !store_delivery_state_valid(f->state))
        return fail(STORE_INVALID, errstr, errstr_size,
                    "state: %s is not a delivery state (pending, sending, retrying, sent, failed)",
                    quote(f->state, q, sizeof q));
    int limit = f->limit ? f->limit : STORE_DELIVERIES_DEFAULT_LIMIT;
    if (limit < 1 || limit > STORE_DELIVERIES_MAX_LIMIT)
        return fail(STORE_INVALID, errstr, errstr_size, "limit: %d is not from 1 to %d", f->limit,
                    STORE_DELIVERIES_MAX_LIMIT);
    if (f->offset < 0)
        return fail(STORE_INVALID, errstr, errstr_size, "offset: %d is negative", f->offset);

    char target_s[24], since_s[24], before_s[24], limit_s[16], offset_s[16];
    i64_text(f->target_id, target_s);
    i64_text(f->since_ms, since_s);
    i64_text(f->before_id, before_s);
    snprintf(limit_s, sizeof limit_s, "%d", limit);
    snprintf(offset_s, sizeof offset_s, "%d", f->offset);
    const char *p[7] = {
        f->tenant,
        f->target_id ? target_s : NULL,
        f->state,
        f->since_ms ? since_s : NULL,
        f->before_id ? before_s : NULL,
        limit_s,
        offset_s,
    };
    /* libpq's unnamed statements are planned with the actual values, so the
     * "$n IS NULL OR" arms fold away and the indexes still serve. The keyset
     * cursor ($5) need not exist: ids have gaps (the router's idempotent
     * inserts use up sequence values) and rows can be deleted, so the cursor is
     * the first delivery at or above it, and an id above every delivery means
     * all of them. */
    static const char sql[] = DELIVERY_SELECT
        "WHERE ($1::text IS NULL OR d.tenant_id = $1) "
        "AND ($2::int8 IS NULL OR d.target_id = $2) "
        "AND ($3::text IS NULL OR d.state = $3) "
        "AND ($4::int8 IS NULL OR d.created_at >= to_timestamp($4::int8 / 1000.0)) "
        "AND ($5::int8 IS NULL "
        "     OR NOT EXISTS (SELECT 1 FROM deliveries b WHERE b.id >= $5) "
        "     OR (d.created_at, d.id) < (SELECT b.created_at, b.id FROM deliveries b "
        "                                WHERE b.id >= $5 ORDER BY b.id LIMIT 1)) "
        "ORDER BY d.created_at DESC, d.id DESC LIMIT $6 OFFSET $7";
    void *items;
    store_status st = query_rows(conn, "listing deliveries", sql, 7, p, delivery_row,
                                 sizeof *out->items, &items, &out->n, errstr, errstr_size);
    out->items = items;
    return st;
}

store_status store_delivery_get(PGconn *conn, const char *tenant, int64_t id, store_delivery **out,
                                char *errstr, size_t errstr_size)
{
    char ids[24], not_found[40];
    i64_text(id, ids);
    snprintf(not_found, sizeof not_found, "no delivery %s", ids);
    const char *p[2] = {tenant, ids};
    void *item;
    store_status st =
        query_one(conn, "reading the delivery",
                  DELIVERY_SELECT "WHERE d.id = $2 AND ($1::text IS NULL OR d.tenant_id = $1)", 2,
                  p, delivery_row, sizeof **out, &item, not_found, errstr, errstr_size);
    *out = item;
    return st;
}

/* ================================================================ test deliveries */

store_status store_test_delivery_begin(PGconn *conn, const char *tenant, int64_t target_id,
                                       const char *source, int64_t *delivery_id, char event_id[37],
                                       char *errstr, size_t errstr_size)
{
    const char *what = "recording the test delivery";
    char ids[24], uuid[37];
    store_status st;
    PGresult *r = NULL;
    char *payload = NULL;
    *delivery_id = 0;
    i64_text(target_id, ids);
    if ((st = begin(conn, what, errstr, errstr_size)))
        return st;
    const char *p2[2] = {tenant, ids};
    r = run(conn, what,
            "SELECT tenant_id, name, team_id, destination FROM targets WHERE id = $2 "
            "AND deleted_at IS NULL AND ($1::text IS NULL OR tenant_id = $1) FOR SHARE",
            2, p2, NULL, errstr, errstr_size);
    if (!r) {
        st = STORE_DB;
        goto out;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        st = fail(STORE_NOT_FOUND, errstr, errstr_size, "no target %s", ids);
        goto out;
    }
    util_uuid4(uuid);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "schema", "herald.test.v1");
    cJSON_AddStringToObject(j, "event_id", uuid);
    cJSON_AddStringToObject(j, "tenant_id", PQgetvalue(r, 0, 0));
    cJSON_AddNumberToObject(j, "target_id", (double)target_id);
    cJSON_AddStringToObject(j, "target_name", PQgetvalue(r, 0, 1));
    cJSON_AddStringToObject(j, "team_id", PQgetvalue(r, 0, 2));
    cJSON_AddStringToObject(j, "destination", PQgetvalue(r, 0, 3));
    cJSON_AddStringToObject(j, "source", source ? source : "unknown");
    payload = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char *target_tenant = get_str(r, 0, 0);
    PQclear(r);

    const char *pe[3] = {uuid, target_tenant, payload};
    if ((st = exec_sql(conn, what,
                       "INSERT INTO events (event_id, tenant_id, kind, payload) "
                       "VALUES ($1, $2, 'test', $3)",
                       3, pe, NULL, errstr, errstr_size))) {
        free(target_tenant);
        goto out;
    }
    const char *pd[3] = {uuid, ids, target_tenant};
    r = run(conn, what,
            "INSERT INTO deliveries (event_id, target_id, tenant_id, state, attempts) "
            "VALUES ($1, $2, $3, 'sending', 1) RETURNING id",
            3, pd, NULL, errstr, errstr_size);
    free(target_tenant);
    if (!r) {
        st = STORE_DB;
        goto out;
    }
    int64_t did = get_i64(r, 0, 0);
    PQclear(r);
    if ((st = commit(conn, what, errstr, errstr_size)))
        goto out;
    *delivery_id = did;
    if (event_id)
        memcpy(event_id, uuid, 37);
out:
    if (st)
        rollback(conn);
    cJSON_free(payload);
    return st;
}

store_status store_test_delivery_finish(PGconn *conn, int64_t delivery_id,
                                        const store_delivery_outcome *o, char *errstr,
                                        size_t errstr_size)
{
    const char *what = "recording the test outcome";
    char ids[24];
    store_status st;
    i64_text(delivery_id, ids);
    if ((st = begin(conn, what, errstr, errstr_size)))
        return st;
    const char *p[6] = {
        ids,
        bool_text(o->ok),
        o->ok ? o->slack_channel : NULL,
        o->ok ? o->slack_ts : NULL,
        o->ok ? NULL : (o->error_code && *o->error_code ? o->error_code : "unknown_error"),
        o->ok ? NULL : (o->error ? o->error : ""),
    };
    PGresult *r =
        run(conn, what,
            "UPDATE deliveries SET state = CASE WHEN $2::bool THEN 'sent' ELSE 'failed' "
            "END, slack_channel = $3, slack_ts = $4, last_error_code = $5, "
            "last_error = $6, sent_at = CASE WHEN $2::bool THEN now() END, "
            "next_attempt_at = NULL, updated_at = now() WHERE id = $1 RETURNING target_id",
            6, p, NULL, errstr, errstr_size);
    if (!r) {
        st = STORE_DB;
        goto out;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        st = fail(STORE_NOT_FOUND, errstr, errstr_size, "no delivery %s", ids);
        goto out;
    }
    char *tid = get_str(r, 0, 0);
    PQclear(r);
    const char *pt[4] = {tid, p[1], p[4], p[5]};
    st = exec_sql(conn, what,
                  "UPDATE targets SET "
                  " last_success_at = CASE WHEN $2::bool THEN now() ELSE last_success_at END, "
                  " last_error_code = CASE WHEN $2::bool THEN last_error_code ELSE $3 END, "
                  " last_error = CASE WHEN $2::bool THEN last_error ELSE $4 END, "
                  " last_error_at = CASE WHEN $2::bool THEN last_error_at ELSE now() END "
                  "WHERE id = $1",
                  4, pt, NULL, errstr, errstr_size);
    free(tid);
    if (st == STORE_OK)
        st = commit(conn, what, errstr, errstr_size);
out:
    if (st)
        rollback(conn);
    return st;
}
