#ifndef HERALD_APITOKEN_H
#define HERALD_APITOKEN_H

/*
 * API tokens and console sessions for herald-api (schema 005_api.sql).
 *
 * A token is "hrld_" followed by 43 base64url characters (32 random bytes).
 * Only its SHA-256 is stored, so a database dump does not hand out access;
 * the text is shown once, when it is created. A token with no tenant is an
 * operator token (every tenant); a tenant token sees and changes only its
 * tenant.
 *
 * Sessions: a console sign-in trades a token for a random session id held in
 * an HttpOnly cookie (stored hashed) plus a CSRF token that forms and
 * scripts send back. Revoking the token ends its sessions.
 *
 * @locality: any thread, one PGconn per thread at a time. No globals.
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define APITOKEN_PREFIX     "hrld_"
#define APITOKEN_TEXT_LEN   48 /* "hrld_" + 43 characters */
#define APITOKEN_RANDOM_LEN 43 /* base64url of 32 random bytes (session ids, states, csrf) */

/* Who a request acts as once its token or session checked out. */
typedef struct apitoken_principal {
    int64_t token_id;
    char tenant[256]; /* "" for an operator token: every tenant */
    char name[256];
    char csrf[APITOKEN_RANDOM_LEN + 1]; /* sessions only; "" for bearer tokens */
    bool via_session;
} apitoken_principal;

/* 32 random bytes as base64url without padding (43 characters + NUL). Returns
 * 0, or -1 when the system has no randomness to give. */
int apitoken_random(char out[APITOKEN_RANDOM_LEN + 1]);

/* SHA-256 of s as a bytea text literal ("\\x" + 64 hex digits) for a
 * text-format query parameter cast with ::bytea. */
#define APITOKEN_HASH_PARAM_LEN 67
void apitoken_hash_param(const char *s, char out[APITOKEN_HASH_PARAM_LEN]);

/* Constant-time string equality (CSRF tokens, cookie bindings). */
bool apitoken_equal(const char *a, const char *b);

/*
 * Creates a token for tenant (NULL or "": operator token) named name (may be
 * NULL). text (APITOKEN_TEXT_LEN + 1 bytes) receives the token, the only time
 * it exists in clear; *id its id. Returns 0 or -1 with errstr (never the
 * token). A tenant is an identifier as events carry it (1 to
 * EVENT_MAX_IDENTIFIER characters of A-Z a-z 0-9 . _ : -): otherwise errstr
 * is "tenant: ...".
 */
int apitoken_create(PGconn *conn, const char *tenant, const char *name,
                    char text[APITOKEN_TEXT_LEN + 1], int64_t *id, char *errstr,
                    size_t errstr_size);

/* Looks a presented token up: 1 when valid (not revoked) with *p filled,
 * 0 when unknown or revoked, -1 on a database error (errstr). Updates
 * last_used_at at most once a minute. */
int apitoken_verify(PGconn *conn, const char *text, apitoken_principal *p, char *errstr,
                    size_t errstr_size);

/* Marks token id revoked (its sessions end with it). 1 revoked, 0 no such
 * token (or already revoked), -1 error. */
int apitoken_revoke(PGconn *conn, int64_t id, char *errstr, size_t errstr_size);

/* Writes one line per token to out: id, prefix, tenant ("*" for operator
 * tokens), name, created, last used, revoked. Never the token. 0 or -1. */
int apitoken_list_print(PGconn *conn, FILE *out, char *errstr, size_t errstr_size);

/* ---- sessions */

#define APITOKEN_SESSION_TTL_S (12 * 3600)

/* Starts a session for a verified principal: sid (APITOKEN_RANDOM_LEN + 1)
 * gets the cookie value and p->csrf the CSRF token. Also deletes expired
 * sessions and OAuth states. 0 or -1. */
int apitoken_session_create(PGconn *conn, apitoken_principal *p, char *sid, char *errstr,
                            size_t errstr_size);

/* 1 valid (p filled, via_session), 0 unknown/expired/token revoked, -1 error. */
int apitoken_session_verify(PGconn *conn, const char *sid, apitoken_principal *p, char *errstr,
                            size_t errstr_size);

/* Ends a session (sign out). 0 or -1. */
int apitoken_session_delete(PGconn *conn, const char *sid, char *errstr, size_t errstr_size);

#endif
