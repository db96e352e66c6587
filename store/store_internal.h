#ifndef HERALD_STORE_INTERNAL_H
#define HERALD_STORE_INTERNAL_H

/*
 * Private to store/: the helpers every entity file (workspaces.c, targets.c,
 * deliveries.c, validation.c) runs its SQL and builds its errors with. Not
 * for callers outside store/ (they use store.h and the entity headers).
 * Implemented in store/store.c, except store_checks_normalise (validation.c).
 */

#include "store/store.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A timestamptz column as epoch milliseconds (NULL stays NULL). */
#define MS(col) "(floor(extract(epoch FROM " col ") * 1000))::int8"

/* A Slack team id's longest accepted length (workspaces and targets name one). */
#define MAX_TEAM_ID 64

/* Maps row `row` of r into *item (a store_workspace, store_target...). */
typedef void (*row_fn)(const PGresult *r, int row, void *item);

/*
 * Defines the public type_destroy(type *) and list_dispose(list *) of a
 * result type from its static dispose (which frees the members and zeroes the
 * struct); both accept NULL, and list_dispose leaves the list empty.
 */
#define DEFINE_DESTROY(type, list, dispose)                                                        \
    void type##_destroy(type *v)                                                                   \
    {                                                                                              \
        if (!v)                                                                                    \
            return;                                                                                \
        dispose(v);                                                                                \
        free(v);                                                                                   \
    }                                                                                              \
    void list##_dispose(list *l)                                                                   \
    {                                                                                              \
        if (!l)                                                                                    \
            return;                                                                                \
        for (size_t i = 0; i < l->n; i++)                                                          \
            dispose(&l->items[i]);                                                                 \
        free(l->items);                                                                            \
        l->items = NULL;                                                                           \
        l->n = 0;                                                                                  \
    }

/* How a result column becomes a struct member (store_col_map). */
typedef enum col_type {
    COL_SKIP, /* mapped by the caller */
    COL_STR,  /* char * (store_get_str: NULL stays NULL) */
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

/* Writes the formatted message into errstr and returns st. */
store_status store_fail(store_status st, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Quotes a user-supplied value for an error message: at most 60 characters,
 * made safe by utf8_safe (control characters, bidi overrides and bad bytes
 * shown as '?'), so one line stays one line and a terminal escape cannot ride
 * along. Never used on secrets.
 */
const char *store_quote(const char *v, char *buf, size_t size);

/* A database failure as one line (libpq's messages may span several). */
store_status store_db_fail(PGconn *conn, PGresult *res, const char *what, char *errstr,
                           size_t errstr_size);

/*
 * Runs a parameterised statement (text parameters and results). Returns the
 * result, or NULL with errstr set; sqlstate (may be NULL, 6 bytes) gets the
 * SQLSTATE of a failure.
 */
PGresult *store_run(PGconn *conn, const char *what, const char *sql, int n, const char *const *vals,
                    char sqlstate[6], char *errstr, size_t errstr_size);

/* Runs a statement whose result is not needed; *rows (may be NULL) gets how
 * many rows it returned (with RETURNING: how many it changed). */
store_status store_exec(PGconn *conn, const char *what, const char *sql, int n,
                        const char *const *vals, int *rows, char *errstr,
                        size_t errstr_size) STORE_MUST_CHECK;

store_status store_begin(PGconn *conn, const char *what, char *errstr,
                         size_t errstr_size) STORE_MUST_CHECK;
store_status store_commit(PGconn *conn, const char *what, char *errstr,
                          size_t errstr_size) STORE_MUST_CHECK;

/* Leaves an open (possibly failed) transaction; a no-op outside one. */
void store_rollback(PGconn *conn);

/*
 * Runs a query and maps every row into a new array of item_size-byte items:
 * *items (NULL when there are none; the caller frees it with the type's
 * _free functions) and *count.
 */
store_status store_query_rows(PGconn *conn, const char *what, const char *sql, int n,
                              const char *const *vals, row_fn map, size_t item_size, void **items,
                              size_t *count, char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/* store_query_rows for a lookup by key: *item is the one row (free it with the
 * type's _destroy), or STORE_NOT_FOUND with errstr set to the formatted
 * not_found message. */
store_status store_query_one(PGconn *conn, const char *what, const char *sql, int n,
                             const char *const *vals, row_fn map, size_t item_size, void **item,
                             char *errstr, size_t errstr_size, const char *not_found, ...)
    __attribute__((format(printf, 11, 12))) STORE_MUST_CHECK;

/*
 * store_run for a statement about one row (a lookup, or a change with
 * RETURNING): STORE_NOT_FOUND with errstr set to the formatted not_found
 * message when it returns no row. *out (NULL: the result is not needed)
 * gets the result, which the caller PQclears; it stays NULL on a failure.
 */
store_status store_run_row(PGconn *conn, const char *what, const char *sql, int n,
                           const char *const *vals, PGresult **out, char *errstr,
                           size_t errstr_size, const char *not_found, ...)
    __attribute__((format(printf, 9, 10))) STORE_MUST_CHECK;

/* Column values of a text-format result. */
char *store_get_str(const PGresult *r, int row, int column);   /* NULL stays NULL */
int64_t store_get_i64(const PGresult *r, int row, int column); /* NULL: 0 */
bool store_get_bool(const PGresult *r, int row, int column);   /* NULL: false */

/* Maps columns 0..n) of row `row` into the struct at item: cols[c] says
 * where column c goes, so the table lists the SELECT's columns in order. */
void store_col_map(const PGresult *r, int row, void *item, const col *cols, size_t n);

/* Frees the COL_STR members of the struct at item (and NULLs them): the
 * strings store_col_map allocates with the same table, so a type's dispose
 * cannot miss one its SELECT maps. */
void store_col_free(void *item, const col *cols, size_t n);

/* A bool as a text parameter. */
const char *store_bool_text(bool b);
void store_i64_text(int64_t v, char buf[24]);

bool store_is_blank(const char *s);

/* A required one-line text field: non-empty, no control characters, bounded. */
store_status store_check_text(const char *field, const char *v, size_t max, bool required,
                              char *errstr, size_t errstr_size);

/* A Slack team id (letters, digits, _ and -; at most MAX_TEAM_ID), named field. */
store_status store_check_team_id(const char *field, const char *t, char *errstr,
                                 size_t errstr_size);

/* Sorted, de-duplicated, validated copy of checks[0..n) (validation.c). */
store_status store_checks_normalise(const char *const *checks, size_t n, char ***out, size_t *nout,
                                    char *errstr, size_t errstr_size);

#endif
