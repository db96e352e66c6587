#ifndef HERALD_STORE_H
#define HERALD_STORE_H

/*
 * Herald's admin data layer over PostgreSQL, shared by herald-api, heraldctl
 * and herald-slack: what every entity module shares (store_status and the
 * conventions below). The entities have their own headers, included by
 * whoever uses them (there is no umbrella header):
 *   store/workspaces.h   Slack workspace installations and their tokens
 *   store/targets.h      notification targets, their check filters and health
 *   store/validation.h   destination / uses / check-filter parsing
 *   store/deliveries.h   deliveries and test deliveries
 *   store/token_refresh.h  token rotation (calls Slack; above the SQL files)
 *   store/test_send.h    the one test send (herald-api and heraldctl)
 *   store/apitoken.h, store/storejson.h  API tokens; the JSON shapes
 * heraldctl is a thin CLI over it and the HTTP admin API serialises the same
 * structs (store/storejson.h).
 *
 * Conventions
 *   - Every query is parameterised (PQexecParams); no value is ever spliced
 *     into SQL text.
 *   - Functions return a store_status and, on failure, one line in errstr.
 *     For STORE_INVALID the line is "<field>: <reason>", where <field> is one
 *     of the field names listed with each input struct (a data-model name such
 *     as "destination"; the CLI maps it to its flag, the API to its JSON key)
 *     and the reason quotes the bad value ('foo bar'), except for secrets,
 *     which are never quoted.
 *   - Results are heap structs owned by the caller and released with the
 *     matching _free function (each accepts NULL). Strings documented "may be
 *     NULL" are NULL when the column is NULL; others are never NULL.
 *   - Times are milliseconds since the Unix epoch, 0 when absent.
 *   - A tenant argument, where there is one, scopes the call to that tenant
 *     (NULL: every tenant): a target of another tenant is STORE_NOT_FOUND.
 *     This is what a tenant-scoped API token maps onto.
 *   - Tokens are secrets: they are sealed with crypto_seal before they reach
 *     the database, never returned by list/get, and never put in errstr.
 *
 * @locality: any thread, one PGconn per thread at a time (libpq's rule). No
 * globals.
 */

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A result the caller must look at: a store call that failed and was not
 * checked is a bug (pgbouncer's _MUSTCHECK). */
#define STORE_MUST_CHECK __attribute__((warn_unused_result))

typedef enum store_status {
    STORE_OK = 0,
    STORE_INVALID = -1,   /* bad input: errstr is "<field>: <reason>" (CLI exit 2, HTTP 400) */
    STORE_NOT_FOUND = -2, /* no such workspace/target/delivery (HTTP 404) */
    STORE_CONFLICT = -3,  /* refused in the current state, e.g. workspace in use (HTTP 409) */
    STORE_DB = -4,        /* database failure; db_connection_lost(conn) says if it was the link */
    STORE_CRYPTO = -5     /* a stored token could not be opened (wrong HERALD_SECRET_KEY) */
} store_status;

/* "ok", "invalid", "not_found", "conflict", "database", "crypto". */
const char *store_status_name(store_status s);

/* Extracts the field of a STORE_INVALID message ("destination: ..." -> "destination")
 * into field (size field_size); returns a pointer to the reason after ": ", or
 * errstr itself when the message has no field prefix (field is then ""). */
const char *store_invalid_field(const char *errstr, char *field, size_t field_size);

#endif
