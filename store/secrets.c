/*
 * The stored secrets as a whole (store/secrets.h): re-sealing every sealed
 * column under the current key, row by row.
 */
#include "store/secrets.h"
#include "store/store_internal.h"
#include "store/workspaces.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHAT        "re-sealing the stored secrets"
#define BATCH       100
#define MAX_RETRIES 5

/* One sealed column of a row: its stored bytes and, opened, what it needs. */
typedef struct sealed_col {
    const char *name; /* STORE_TOKEN_COLUMN... */
    const unsigned char *old;
    int old_len; /* -1: SQL NULL */
    unsigned char *fresh;
    size_t fresh_len;
} sealed_col;

/* Opens c (a NULL or empty value needs nothing) and, when stale, seals it
 * again. 0: current, 1: re-sealed into c->fresh, -1: neither key opens it. */
static int reseal_col(const crypto_keyring *keys, const char *team_id, sealed_col *c)
{
    if (c->old_len <= 0)
        return 0;
    char *plain = NULL, err[256];
    crypto_seal_state state;
    if (crypto_open_bound(keys, c->name, team_id, c->old, (size_t)c->old_len, &plain, &state, err,
                          sizeof err))
        return -1;
    int rc = 0;
    if (state == CRYPTO_STALE)
        rc = crypto_seal_bound(keys, c->name, team_id, plain, strlen(plain), &c->fresh,
                               &c->fresh_len)
                 ? -1
                 : 1;
    crypto_free_secret(plain);
    return rc;
}

static void col_dispose(sealed_col *c)
{
    if (c->fresh)
        crypto_wipe(c->fresh, c->fresh_len);
    free(c->fresh);
    c->fresh = NULL;
}

typedef enum row_outcome { ROW_CURRENT, ROW_RESEALED, ROW_UNREADABLE, ROW_CHANGED } row_outcome;

/* One attempt at a row: reads it, re-seals its stale columns and writes them
 * back if the row still holds the bytes read. STORE_OK with *outcome, or STORE_DB. */
static store_status reseal_once(PGconn *conn, const crypto_keyring *keys, const char *team_id,
                                row_outcome *outcome, char *errstr, size_t errstr_size)
{
    const char *p1[1] = {team_id};
    /* Binary results: the sealed bytes as they are. */
    PGresult *r = PQexecParams(conn,
                               "SELECT token_enc, refresh_token_enc FROM workspaces "
                               "WHERE team_id = $1 AND length(token_enc) > 0",
                               1, NULL, p1, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        store_status st = store_db_fail(conn, r, WHAT, errstr, errstr_size);
        PQclear(r);
        return st;
    }
    *outcome = ROW_CURRENT;
    if (PQntuples(r) == 0) { /* removed meanwhile: nothing left to seal */
        PQclear(r);
        return STORE_OK;
    }
    sealed_col cols[2] = {{STORE_TOKEN_COLUMN, NULL, -1, NULL, 0},
                          {STORE_REFRESH_COLUMN, NULL, -1, NULL, 0}};
    int changed = 0;
    for (int i = 0; i < 2; i++) {
        if (!PQgetisnull(r, 0, i)) {
            cols[i].old = (const unsigned char *)PQgetvalue(r, 0, i);
            cols[i].old_len = PQgetlength(r, 0, i);
        }
        int rc = reseal_col(keys, team_id, &cols[i]);
        if (rc < 0) {
            *outcome = ROW_UNREADABLE;
            goto out;
        }
        changed += rc;
    }
    if (!changed)
        goto out;
    /* The new bytes where a column was stale, the old ones elsewhere; written
     * only if the row still holds what was read (a refresh may have run). */
    const char *vals[5];
    int lens[5], fmts[5] = {0, 1, 1, 1, 1};
    vals[0] = team_id;
    lens[0] = 0;
    for (int i = 0; i < 2; i++) {
        bool fresh = cols[i].fresh != NULL;
        vals[1 + i] = fresh ? (const char *)cols[i].fresh : (const char *)cols[i].old;
        lens[1 + i] = fresh ? (int)cols[i].fresh_len : cols[i].old_len < 0 ? 0 : cols[i].old_len;
        vals[3 + i] = (const char *)cols[i].old;
        lens[3 + i] = cols[i].old_len < 0 ? 0 : cols[i].old_len;
    }
    PGresult *u = PQexecParams(conn,
                               "UPDATE workspaces SET token_enc = $2, refresh_token_enc = $3 "
                               "WHERE team_id = $1 AND token_enc = $4 "
                               "AND refresh_token_enc IS NOT DISTINCT FROM $5",
                               5, NULL, vals, lens, fmts, 0);
    if (PQresultStatus(u) != PGRES_COMMAND_OK) {
        store_status st = store_db_fail(conn, u, WHAT, errstr, errstr_size);
        PQclear(u);
        for (int i = 0; i < 2; i++)
            col_dispose(&cols[i]);
        PQclear(r);
        return st;
    }
    *outcome = !strcmp(PQcmdTuples(u), "1") ? ROW_RESEALED : ROW_CHANGED;
    PQclear(u);
out:
    for (int i = 0; i < 2; i++)
        col_dispose(&cols[i]);
    PQclear(r);
    return STORE_OK;
}

store_status store_secrets_reseal(PGconn *conn, const crypto_keyring *keys,
                                  store_reseal_counts *counts, char *errstr, size_t errstr_size)
{
    memset(counts, 0, sizeof *counts);
    char last[MAX_TEAM_ID + 1] = "", limit[16];
    snprintf(limit, sizeof limit, "%d", BATCH);
    for (;;) {
        const char *p[2] = {last, limit};
        PGresult *r = store_run(conn, WHAT,
                                "SELECT team_id FROM workspaces WHERE team_id > $1 "
                                "AND length(token_enc) > 0 ORDER BY team_id LIMIT $2::int",
                                2, p, NULL, errstr, errstr_size);
        if (!r)
            return STORE_DB;
        int n = PQntuples(r);
        for (int i = 0; i < n; i++) {
            const char *team = PQgetvalue(r, i, 0);
            row_outcome o = ROW_CHANGED;
            store_status st = STORE_OK;
            for (int a = 0; a < MAX_RETRIES && o == ROW_CHANGED && !st; a++)
                st = reseal_once(conn, keys, team, &o, errstr, errstr_size);
            if (st) {
                PQclear(r);
                return st;
            }
            if (o == ROW_RESEALED)
                counts->resealed++;
            else if (o == ROW_CURRENT || o == ROW_CHANGED) /* changed: by a writer with the key */
                counts->current++;
            else if (counts->unreadable++ < STORE_RESEAL_MAX_LISTED)
                snprintf(counts->unreadable_ids[counts->unreadable - 1],
                         sizeof counts->unreadable_ids[0], "%s", team);
        }
        if (n > 0)
            snprintf(last, sizeof last, "%s", PQgetvalue(r, n - 1, 0));
        PQclear(r);
        if (n < BATCH)
            return STORE_OK;
    }
}
