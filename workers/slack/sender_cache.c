/*
 * herald-slack's caches of PostgreSQL rows: workspace installations (with
 * the opened bot token), targets, and users.lookupByEmail answers. Rows are
 * trusted for a few seconds, then read again.
 */
#include "workers/slack/sender_cache.h"

#include "workers/slack/sender_link.h"

#include "store/workspaces.h"

#include "common/log.h"
#include "common/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* How long cached rows are trusted before being read again. */
#define WORKSPACE_TTL_MS 30000
#define REVOKED_TTL_MS   2000
#define TARGET_TTL_MS    30000

static void user_entry_destroy(void *v)
{
    free(v);
}

static void target_entry_destroy(void *v)
{
    free(v);
}

static void ws_entry_destroy(void *v)
{
    ws_entry *w = v;
    if (!w)
        return;
    crypto_free_secret(w->token);
    free(w->token_enc);
    free(w->team_id);
    free(w);
}

void sender_caches_init(sender *s)
{
    s->workspaces = strmap_new();
    s->targets = strmap_new();
    s->users = strmap_new();
}

void sender_caches_dispose(sender *s)
{
    strmap_destroy(s->workspaces, ws_entry_destroy);
    strmap_destroy(s->targets, target_entry_destroy);
    strmap_destroy(s->users, user_entry_destroy);
}

/* The workspace entry, loaded or refreshed from PostgreSQL when stale. NULL
 * only when the database cannot be read now. */
ws_entry *sender_workspace(sender *s, const char *team_id, int64_t now)
{
    ws_entry *w = strmap_get(s->workspaces, team_id);
    /* An unusable installation is looked at again soon: a reinstall should take
     * effect within seconds, and failing fast costs one query every few seconds. */
    int64_t ttl =
        w && (w->revoked || !w->found || w->key_error) ? REVOKED_TTL_MS : WORKSPACE_TTL_MS;
    if (w && w->fetched_ms && now - w->fetched_ms < ttl)
        return w;
    if (!w) {
        w = xcalloc(1, sizeof *w);
        w->team_id = xstrdup(team_id);
        ratelimit_init(&w->lookups, s->cfg.lookup_rate / 60.0, 5, now);
        /* chat.update is Slack's Tier 3 (50+ per minute per workspace). */
        ratelimit_init(&w->updates, 50.0 / 60.0, 5, now);
        strmap_put(s->workspaces, team_id, w);
    }
    PGconn *conn = sender_conn(s);
    if (!conn)
        return w->fetched_ms ? w : NULL;
    sender_db_workspace row;
    char err[512];
    if (sender_db_workspace_get(conn, team_id, &row, err, sizeof err)) {
        sender_link_failed(s, "reading the workspace", err);
        return w->fetched_ms ? w : NULL;
    }
    /* Same sealed token as before: keep the opened one (no decrypt per refresh). */
    bool same = w->token && row.token_enc && row.token_enc_len == w->token_enc_len &&
                !memcmp(row.token_enc, w->token_enc, row.token_enc_len);
    if (!same) {
        if (w->token) {
            crypto_free_secret(w->token);
            w->token = NULL;
        }
        free(w->token_enc);
        w->token_gen++;
        w->token_enc = row.token_enc;
        w->token_enc_len = row.token_enc_len;
        row.token_enc = NULL;
        w->key_error = false;
        if (w->token_enc) {
            char cerr[256];
            if (crypto_open_bound(s->key, STORE_TOKEN_COLUMN, team_id, w->token_enc,
                                  w->token_enc_len, &w->token, NULL, cerr, sizeof cerr)) {
                w->token = NULL;
                w->key_error = true;
                LOG_ERROR("workspace %s: the stored bot token cannot be opened: %s", team_id, cerr);
            }
        }
    }
    w->found = row.found;
    w->rotating = row.rotating;
    w->expires_at_ms = row.expires_at_ms;
    bool was_revoked = w->revoked;
    w->revoked = row.revoked || (row.found && !row.token_enc_len && !w->token_enc);
    snprintf(w->reason, sizeof w->reason, "%s", row.revoked_reason);
    if (was_revoked && !w->revoked)
        LOG_INFO("workspace %s is usable again (reinstalled)", team_id);
    w->fetched_ms = now;
    sender_db_workspace_dispose(&row);
    return w;
}

/* The target's settings; NULL only when the database cannot be read now. */
const sender_db_target *sender_target(sender *s, int64_t target_id, int64_t now)
{
    char k[24];
    id_key(target_id, k);
    target_entry *t = strmap_get(s->targets, k);
    if (t && now - t->fetched_ms < TARGET_TTL_MS)
        return &t->t;
    PGconn *conn = sender_conn(s);
    if (!conn)
        return t ? &t->t : NULL;
    sender_db_target row;
    char err[512];
    if (sender_db_target_get(conn, target_id, &row, err, sizeof err)) {
        sender_link_failed(s, "reading the target", err);
        return t ? &t->t : NULL;
    }
    if (!t) {
        t = xcalloc(1, sizeof *t);
        strmap_put(s->targets, k, t);
    }
    t->t = row;
    t->fetched_ms = now;
    return &t->t;
}

static char *user_key(const char *team_id, const char *email)
{
    size_t n = strlen(team_id) + strlen(email) + 2;
    char *k = xmalloc(n);
    snprintf(k, n, "%s\x1f%s", team_id, email);
    for (char *p = k + strlen(team_id) + 1; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return k;
}

/* 1: known (user_id "" = no such user), 0: unknown (ask Slack), -1: database away. */
int sender_user_cached(sender *s, const char *team_id, const char *email, char *user_id,
                       size_t size, int64_t now)
{
    char *k = user_key(team_id, email);
    user_entry *u = strmap_get(s->users, k);
    if (u && now < u->expires_ms) {
        snprintf(user_id, size, "%s", u->user_id);
        free(k);
        return 1;
    }
    free(k);
    PGconn *conn = sender_conn(s);
    if (!conn)
        return -1;
    char err[512];
    int rc = sender_db_user_get(conn, team_id, email, s->cfg.lookup_ttl_ms,
                                s->cfg.lookup_neg_ttl_ms, user_id, size, err, sizeof err);
    if (rc < 0) {
        sender_link_failed(s, "reading the user cache", err);
        return -1;
    }
    if (rc == 1) {
        /* Remember it here for a while too (at most the shorter of the two TTLs). */
        char *k2 = user_key(team_id, email);
        user_entry *e = xcalloc(1, sizeof *e);
        snprintf(e->user_id, sizeof e->user_id, "%s", user_id);
        e->expires_ms = now + (s->cfg.lookup_neg_ttl_ms < 60000 ? s->cfg.lookup_neg_ttl_ms : 60000);
        free(strmap_put(s->users, k2, e));
        free(k2);
    }
    return rc;
}

void sender_user_remember(sender *s, const char *team_id, const char *email, const char *user_id,
                          int64_t now)
{
    char *k = user_key(team_id, email);
    user_entry *e = xcalloc(1, sizeof *e);
    snprintf(e->user_id, sizeof e->user_id, "%s", user_id ? user_id : "");
    e->expires_ms = now + (user_id && *user_id ? s->cfg.lookup_ttl_ms : s->cfg.lookup_neg_ttl_ms);
    free(strmap_put(s->users, k, e));
    free(k);
    char err[512];
    PGconn *conn = s->db_down ? NULL : sender_conn(s);
    if (conn && sender_db_user_put(conn, team_id, email, user_id, err, sizeof err))
        sender_link_failed(s, "storing the user cache", err); /* only a cache: not fatal */
}
