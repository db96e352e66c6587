/*
 * What the data layer's entity files share (store/store.h, store/store_internal.h):
 * store_status names, error messages, running parameterised statements and
 * transactions, mapping result rows into structs, and the field checks more
 * than one entity uses.
 */
#include "store/store_internal.h"

#include "common/db.h"
#include "common/utf8.h"
#include "common/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* store_fail with the arguments in ap. */
static store_status vfail(store_status st, char *errstr, size_t errstr_size, const char *fmt,
                          va_list ap) __attribute__((format(printf, 4, 0)));
static store_status vfail(store_status st, char *errstr, size_t errstr_size, const char *fmt,
                          va_list ap)
{
    vsnprintf(errstr, errstr_size, fmt, ap);
    return st;
}

store_status store_fail(store_status st, char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(st, errstr, errstr_size, fmt, ap);
    va_end(ap);
    return st;
}

/*
 * Quotes a user-supplied value for an error message: at most 60 characters,
 * control characters shown as '?', so one line stays one line and a terminal
 * escape cannot ride along. Never used on secrets.
 */
const char *store_quote(const char *v, char *buf, size_t size)
{
    if (size < 8) {
        if (size)
            buf[0] = '\0';
        return buf;
    }
    buf[0] = '\'';
    utf8_safe(v, 60, buf + 1, size - 2); /* room for the closing quote */
    size_t n = strlen(buf);
    buf[n] = '\'';
    buf[n + 1] = '\0';
    return buf;
}

/* A database failure as one line (libpq's messages may span several). */
store_status store_db_fail(PGconn *conn, PGresult *res, const char *what, char *errstr,
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
PGresult *store_run(PGconn *conn, const char *what, const char *sql, int n, const char *const *vals,
                    char sqlstate[6], char *errstr, size_t errstr_size)
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
    store_db_fail(conn, r, what, errstr, errstr_size);
    PQclear(r);
    return NULL;
}

/* Runs a statement whose result is not needed; *rows (may be NULL) gets how
 * many rows it returned (with RETURNING: how many it changed). */
store_status store_exec(PGconn *conn, const char *what, const char *sql, int n,
                        const char *const *vals, int *rows, char *errstr, size_t errstr_size)
{
    PGresult *r = store_run(conn, what, sql, n, vals, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    if (rows)
        *rows = PQntuples(r);
    PQclear(r);
    return STORE_OK;
}

store_status store_begin(PGconn *conn, const char *what, char *errstr, size_t errstr_size)
{
    return store_exec(conn, what, "BEGIN", 0, NULL, NULL, errstr, errstr_size);
}

store_status store_commit(PGconn *conn, const char *what, char *errstr, size_t errstr_size)
{
    return store_exec(conn, what, "COMMIT", 0, NULL, NULL, errstr, errstr_size);
}

/*
 * Runs a query and maps every row into a new array of item_size-byte items:
 * *items (NULL when there are none; the caller frees it with the type's
 * _free functions) and *count.
 */
store_status store_query_rows(PGconn *conn, const char *what, const char *sql, int n,
                              const char *const *vals, row_fn map, size_t item_size, void **items,
                              size_t *count, char *errstr, size_t errstr_size)
{
    *items = NULL;
    *count = 0;
    PGresult *r = store_run(conn, what, sql, n, vals, NULL, errstr, errstr_size);
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

/* store_query_rows for a lookup by key: *item is the one row (free it with the
 * type's _destroy), or STORE_NOT_FOUND with errstr set to not_found. */
store_status store_query_one(PGconn *conn, const char *what, const char *sql, int n,
                             const char *const *vals, row_fn map, size_t item_size, void **item,
                             char *errstr, size_t errstr_size, const char *not_found, ...)
{
    size_t count;
    store_status st = store_query_rows(conn, what, sql, n, vals, map, item_size, item, &count,
                                       errstr, errstr_size);
    if (st == STORE_OK && count == 0) {
        va_list ap;
        va_start(ap, not_found);
        st = vfail(STORE_NOT_FOUND, errstr, errstr_size, not_found, ap);
        va_end(ap);
    }
    return st; /* the keys are unique: never more than one row */
}

/* store_run for a statement about one row: STORE_NOT_FOUND when it returns none. */
store_status store_run_row(PGconn *conn, const char *what, const char *sql, int n,
                           const char *const *vals, PGresult **out, char *errstr,
                           size_t errstr_size, const char *not_found, ...)
{
    if (out)
        *out = NULL;
    PGresult *r = store_run(conn, what, sql, n, vals, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    if (PQntuples(r) == 0) {
        PQclear(r);
        va_list ap;
        va_start(ap, not_found);
        vfail(STORE_NOT_FOUND, errstr, errstr_size, not_found, ap);
        va_end(ap);
        return STORE_NOT_FOUND;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return STORE_OK;
}

/* Leaves an open (possibly failed) transaction; a no-op outside one. */
void store_rollback(PGconn *conn)
{
    if (PQtransactionStatus(conn) == PQTRANS_IDLE)
        return;
    PGresult *r = PQexec(conn, "ROLLBACK");
    PQclear(r);
}

char *store_get_str(const PGresult *r, int row, int column)
{
    return PQgetisnull(r, row, column) ? NULL : xstrdup(PQgetvalue(r, row, column));
}

int64_t store_get_i64(const PGresult *r, int row, int column)
{
    return PQgetisnull(r, row, column) ? 0 : (int64_t)strtoll(PQgetvalue(r, row, column), NULL, 10);
}

bool store_get_bool(const PGresult *r, int row, int column)
{
    return !PQgetisnull(r, row, column) && PQgetvalue(r, row, column)[0] == 't';
}

/* Maps columns 0..n) of row `row` into the struct at item: cols[c] says
 * where column c goes, so the table lists the SELECT's columns in order. */
void store_col_map(const PGresult *r, int row, void *item, const col *cols, size_t n)
{
    char *base = item;
    for (size_t c = 0; c < n; c++) {
        void *m = base + cols[c].offset;
        int ci = (int)c;
        switch (cols[c].type) {
        case COL_SKIP:
            break;
        case COL_STR:
            *(char **)m = store_get_str(r, row, ci);
            break;
        case COL_I64:
            *(int64_t *)m = store_get_i64(r, row, ci);
            break;
        case COL_LONG:
            *(long *)m = (long)store_get_i64(r, row, ci);
            break;
        case COL_INT:
            *(int *)m = (int)store_get_i64(r, row, ci);
            break;
        case COL_BOOL:
            *(bool *)m = store_get_bool(r, row, ci);
            break;
        }
    }
}

void store_col_free(void *item, const col *cols, size_t n)
{
    char *base = item;
    for (size_t c = 0; c < n; c++) {
        if (cols[c].type != COL_STR)
            continue;
        char **m = (char **)(void *)(base + cols[c].offset);
        free(*m);
        *m = NULL;
    }
}

/* A bool as a text parameter. */
const char *store_bool_text(bool b)
{
    return b ? "true" : "false";
}

void store_i64_text(int64_t v, char buf[24])
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

bool store_is_blank(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!isspace(*p))
            return false;
    return true;
}

/* A required one-line text field: non-empty, no control characters, bounded. */
store_status store_check_text(const char *field, const char *v, size_t max, bool required,
                              char *errstr, size_t errstr_size)
{
    char q[96];
    if (!v || store_is_blank(v)) {
        if (!required && v && !*v)
            return STORE_OK;
        if (!required && !v)
            return STORE_OK;
        return store_fail(STORE_INVALID, errstr, errstr_size, "%s: must not be empty", field);
    }
    if (strlen(v) > max)
        return store_fail(STORE_INVALID, errstr, errstr_size, "%s: %s is longer than %zu bytes",
                          field, store_quote(v, q, sizeof q), max);
    if (has_control(v))
        return store_fail(STORE_INVALID, errstr, errstr_size, "%s: %s contains control characters",
                          field, store_quote(v, q, sizeof q));
    return STORE_OK;
}

store_status store_check_team_id(const char *field, const char *t, char *errstr, size_t errstr_size)
{
    char q[96];
    if (!t || !*t)
        return store_fail(STORE_INVALID, errstr, errstr_size, "%s: must not be empty", field);
    size_t n = strlen(t);
    bool ok = n <= MAX_TEAM_ID;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        ok = isalnum(c) || c == '_' || c == '-';
    }
    if (!ok)
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "%s: %s is not a Slack team id (like T0123ABCD)", field,
                          store_quote(t, q, sizeof q));
    return STORE_OK;
}
