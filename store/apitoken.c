#include "store/apitoken.h"

#include "common/crypto.h"
#include "common/db.h"
#include "common/event.h"
#include "common/util.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- helpers */

int apitoken_random(char out[APITOKEN_RANDOM_LEN + 1])
{
    unsigned char b[32], enc[45]; /* base64 of 32 bytes: 43 characters, '=' and NUL */
    if (RAND_bytes(b, sizeof b) != 1)
        return -1;
    EVP_EncodeBlock(enc, b, sizeof b);
    /* base64url (RFC 4648 section 5) without the padding */
    for (size_t i = 0; i < APITOKEN_RANDOM_LEN; i++)
        out[i] = (char)(enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i]);
    out[APITOKEN_RANDOM_LEN] = '\0';
    crypto_wipe(b, sizeof b);
    crypto_wipe(enc, sizeof enc);
    return 0;
}

/* SHA-256 of s as 32 bytes. */
static void apitoken_sha256(const char *s, unsigned char out[32])
{
    unsigned int len = 32;
    EVP_Digest(s, strlen(s), out, &len, EVP_sha256(), NULL);
}

bool apitoken_equal(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

void apitoken_hash_param(const char *s, char out[APITOKEN_HASH_PARAM_LEN])
{
    unsigned char h[32];
    apitoken_sha256(s, h);
    static const char hex[] = "0123456789abcdef";
    out[0] = '\\';
    out[1] = 'x';
    for (int i = 0; i < 32; i++) {
        out[2 + 2 * i] = hex[h[i] >> 4];
        out[3 + 2 * i] = hex[h[i] & 15];
    }
    out[66] = '\0';
}

/* Tenants are the identifiers events carry (event.h): a token for any other
 * spelling could never see an event. "" is the operator (no tenant). */
static bool tenant_ok(const char *t, char *errstr, size_t errstr_size)
{
    if (!*t || event_is_identifier(t))
        return true;
    snprintf(errstr, errstr_size,
             "tenant: must be 1 to %d characters of A-Z a-z 0-9 . _ : - (as in events)",
             EVENT_MAX_IDENTIFIER);
    return false;
}

static PGresult *exec(PGconn *conn, const char *sql, int n, const char *const *vals,
                      ExecStatusType want, char *errstr, size_t errstr_size)
{
    PGresult *r = PQexecParams(conn, sql, n, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != want) {
        db_error(conn, r, errstr, errstr_size);
        PQclear(r);
        return NULL;
    }
    return r;
}

/* exec for a statement whose result is not needed: how many rows it
 * returned, or -1. */
static int run(PGconn *conn, const char *sql, int n, const char *const *vals, ExecStatusType want,
               char *errstr, size_t errstr_size)
{
    PGresult *r = exec(conn, sql, n, vals, want, errstr, errstr_size);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    PQclear(r);
    return rows;
}

/*
 * Runs a lookup of a token by the hash $1, with the columns id, tenant_id,
 * name (and, for a session, csrf): how many rows it found, or -1. *p is
 * filled when it found exactly one.
 */
static int find_principal(PGconn *conn, const char *sql, const char *hash, bool session,
                          apitoken_principal *p, char *errstr, size_t errstr_size)
{
    const char *vals[] = {hash};
    PGresult *r = exec(conn, sql, 1, vals, PGRES_TUPLES_OK, errstr, errstr_size);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    if (rows == 1) {
        memset(p, 0, sizeof *p);
        p->token_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        if (!PQgetisnull(r, 0, 1))
            snprintf(p->tenant, sizeof p->tenant, "%s", PQgetvalue(r, 0, 1));
        snprintf(p->name, sizeof p->name, "%s", PQgetvalue(r, 0, 2));
        if (session) {
            snprintf(p->csrf, sizeof p->csrf, "%s", PQgetvalue(r, 0, 3));
            p->via_session = true;
        }
    }
    PQclear(r);
    return rows;
}

/* -------------------------------------------------------------- tokens */

int apitoken_create(PGconn *conn, const char *tenant, const char *name,
                    char text[APITOKEN_TEXT_LEN + 1], int64_t *id, char *errstr, size_t errstr_size)
{
    if (tenant && !tenant_ok(tenant, errstr, errstr_size))
        return -1;
    char rnd[APITOKEN_RANDOM_LEN + 1];
    if (apitoken_random(rnd) != 0) {
        snprintf(errstr, errstr_size, "no randomness available for a token");
        return -1;
    }
    snprintf(text, APITOKEN_TEXT_LEN + 1, "%s%s", APITOKEN_PREFIX, rnd);
    crypto_wipe(rnd, sizeof rnd);
    char hash[67], prefix[16];
    apitoken_hash_param(text, hash);
    snprintf(prefix, sizeof prefix, "%.9s", text);
    const char *vals[] = {hash, prefix, tenant && *tenant ? tenant : NULL, name ? name : ""};
    PGresult *r = exec(conn,
                       "INSERT INTO api_tokens (token_hash, prefix, tenant_id, name) "
                       "VALUES ($1::bytea, $2, $3, $4) RETURNING id",
                       4, vals, PGRES_TUPLES_OK, errstr, errstr_size);
    if (!r) {
        crypto_wipe(text, APITOKEN_TEXT_LEN + 1);
        return -1;
    }
    if (id)
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int apitoken_verify(PGconn *conn, const char *text, apitoken_principal *p, char *errstr,
                    size_t errstr_size)
{
    if (!text || strncmp(text, APITOKEN_PREFIX, strlen(APITOKEN_PREFIX)) != 0 ||
        strlen(text) != APITOKEN_TEXT_LEN)
        return 0;
    char hash[67];
    apitoken_hash_param(text, hash);
    int rows = find_principal(
        conn,
        "UPDATE api_tokens SET last_used_at = now() "
        " WHERE token_hash = $1::bytea AND revoked_at IS NULL "
        "   AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') "
        "RETURNING id, tenant_id, name",
        hash, false, p, errstr, errstr_size);
    if (rows == 0) /* either unknown, revoked, or used within the last minute */
        rows = find_principal(conn,
                              "SELECT id, tenant_id, name FROM api_tokens "
                              " WHERE token_hash = $1::bytea AND revoked_at IS NULL",
                              hash, false, p, errstr, errstr_size);
    return rows < 0 ? -1 : rows == 1;
}

int apitoken_revoke(PGconn *conn, int64_t id, char *errstr, size_t errstr_size)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    const char *vals[] = {ids};
    int n = run(conn,
                "UPDATE api_tokens SET revoked_at = now() "
                " WHERE id = $1::bigint AND revoked_at IS NULL RETURNING id",
                1, vals, PGRES_TUPLES_OK, errstr, errstr_size);
    if (n < 0)
        return -1;
    /* Sessions of a revoked token are refused anyway; delete them too. */
    if (run(conn, "DELETE FROM api_sessions WHERE token_id = $1::bigint", 1, vals, PGRES_COMMAND_OK,
            errstr, errstr_size) < 0)
        return -1;
    return n == 1;
}

int apitoken_list_print(PGconn *conn, FILE *out, char *errstr, size_t errstr_size)
{
    PGresult *r =
        exec(conn,
             "SELECT id, prefix, coalesce(tenant_id, '*'), name, "
             "       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
             "       coalesce(to_char(last_used_at AT TIME ZONE 'UTC', "
             "                'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-'), "
             "       coalesce(to_char(revoked_at AT TIME ZONE 'UTC', "
             "                'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-') "
             "  FROM api_tokens ORDER BY id",
             0, NULL, PGRES_TUPLES_OK, errstr, errstr_size);
    if (!r)
        return -1;
    fprintf(out, "%-6s %-12s %-20s %-20s %-20s %-20s %s\n", "ID", "PREFIX", "TENANT", "NAME",
            "CREATED", "LAST_USED", "REVOKED");
    for (int i = 0; i < PQntuples(r); i++)
        fprintf(out, "%-6s %-12s %-20s %-20s %-20s %-20s %s\n", PQgetvalue(r, i, 0),
                PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                PQgetvalue(r, i, 3)[0] ? PQgetvalue(r, i, 3) : "-", PQgetvalue(r, i, 4),
                PQgetvalue(r, i, 5), PQgetvalue(r, i, 6));
    PQclear(r);
    return 0;
}

/* ------------------------------------------------------------ sessions */

int apitoken_session_create(PGconn *conn, apitoken_principal *p, char *sid, char *errstr,
                            size_t errstr_size)
{
    if (apitoken_random(sid) != 0 || apitoken_random(p->csrf) != 0) {
        snprintf(errstr, errstr_size, "no randomness available for a session");
        return -1;
    }
    if (run(conn,
            "WITH a AS (DELETE FROM api_sessions WHERE expires_at < now()), "
            "     b AS (DELETE FROM oauth_states WHERE expires_at < now() - "
            "           interval '1 day') SELECT 1",
            0, NULL, PGRES_TUPLES_OK, errstr, errstr_size) < 0)
        return -1;
    char hash[67], tid[32], ttl[32];
    apitoken_hash_param(sid, hash);
    snprintf(tid, sizeof tid, "%" PRId64, p->token_id);
    snprintf(ttl, sizeof ttl, "%d", APITOKEN_SESSION_TTL_S);
    const char *vals[] = {hash, tid, p->csrf, ttl};
    if (run(conn,
            "INSERT INTO api_sessions (id_hash, token_id, csrf, expires_at) "
            "VALUES ($1::bytea, $2::bigint, $3, now() + make_interval(secs => $4::int))",
            4, vals, PGRES_COMMAND_OK, errstr, errstr_size) < 0)
        return -1;
    p->via_session = true;
    return 0;
}

int apitoken_session_verify(PGconn *conn, const char *sid, apitoken_principal *p, char *errstr,
                            size_t errstr_size)
{
    if (!sid || strlen(sid) != APITOKEN_RANDOM_LEN)
        return 0;
    char hash[67];
    apitoken_hash_param(sid, hash);
    int rows = find_principal(conn,
                              "SELECT t.id, t.tenant_id, t.name, s.csrf "
                              "  FROM api_sessions s JOIN api_tokens t ON t.id = s.token_id "
                              " WHERE s.id_hash = $1::bytea AND s.expires_at > now() "
                              "   AND t.revoked_at IS NULL",
                              hash, true, p, errstr, errstr_size);
    return rows < 0 ? -1 : rows == 1;
}

int apitoken_session_delete(PGconn *conn, const char *sid, char *errstr, size_t errstr_size)
{
    if (!sid)
        return 0;
    char hash[67];
    apitoken_hash_param(sid, hash);
    const char *vals[] = {hash};
    if (run(conn, "DELETE FROM api_sessions WHERE id_hash = $1::bytea", 1, vals, PGRES_COMMAND_OK,
            errstr, errstr_size) < 0)
        return -1;
    return 0;
}
