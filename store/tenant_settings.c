/*
 * Who may act from Slack, per tenant (store/tenant_settings.h): the
 * tenant_settings row, its validation and the id lists' parsing.
 */
#include "store/tenant_settings.h"

#include "store/store_internal.h"
#include "store/validation.h"

#include "common/event.h"
#include "common/pgarray.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const who_names[] = {"channel", "listed", "none"};

const char *store_action_who_name(store_action_who w)
{
    return (unsigned)w < ARRAY_LEN(who_names) ? who_names[w] : "channel";
}

store_status store_action_who_parse(const char *s, store_action_who *w, char *errstr,
                                    size_t errstr_size)
{
    for (size_t i = 0; s && i < ARRAY_LEN(who_names); i++) {
        if (!strcmp(s, who_names[i])) {
            *w = (store_action_who)i;
            return STORE_OK;
        }
    }
    char q[96];
    return store_fail(STORE_INVALID, errstr, errstr_size, "who: %s is not channel, listed or none",
                      store_quote(s, q, sizeof q));
}

store_status store_tenant_check(const char *tenant, char *errstr, size_t errstr_size)
{
    if (!tenant || !*tenant)
        return store_fail(STORE_INVALID, errstr, errstr_size, "tenant: must not be empty");
    char q[96];
    if (!event_is_identifier(tenant))
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "tenant: %s must be 1 to %d characters of A-Z a-z 0-9 . _ : - (as in "
                          "events)",
                          store_quote(tenant, q, sizeof q), EVENT_MAX_IDENTIFIER);
    return STORE_OK;
}

/* A Slack id: one of the leading letters in first, then at least two of
 * A-Z 0-9 (Slack's ids are upper case), at most STORE_MAX_SLACK_ID. */
static bool is_slack_id(const char *s, const char *first)
{
    size_t n = strlen(s);
    if (n < 3 || n > STORE_MAX_SLACK_ID || !strchr(first, s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* field "users" takes U/W ids, "groups" S ids. */
static store_status check_ids(const char *field, const char *const *ids, size_t n, char *errstr,
                              size_t errstr_size)
{
    bool users = !strcmp(field, "users");
    if (n > STORE_MAX_ACTION_IDS)
        return store_fail(STORE_INVALID, errstr, errstr_size, "%s: %zu ids; at most %d", field, n,
                          STORE_MAX_ACTION_IDS);
    for (size_t i = 0; i < n; i++) {
        if (!ids[i] || !is_slack_id(ids[i], users ? "UW" : "S")) {
            char q[96];
            return store_fail(STORE_INVALID, errstr, errstr_size,
                              "%s: %s is not a Slack %s id (like %s)", field,
                              store_quote(ids[i], q, sizeof q), users ? "user" : "user group",
                              users ? "U0123ABCD" : "S0123ABCD");
        }
    }
    return STORE_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A sorted, de-duplicated copy of ids[0..n) (NULL when n is 0). */
static char **sorted_unique(const char *const *ids, size_t n, size_t *nout)
{
    *nout = 0;
    if (n == 0)
        return NULL;
    char **v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = xstrdup(ids[i]);
    qsort(v, n, sizeof *v, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && !strcmp(v[k - 1], v[i]))
            free(v[i]);
        else
            v[k++] = v[i];
    }
    *nout = k;
    return v;
}

store_status store_action_ids_parse(const char *field, const char *csv, char ***ids, size_t *n,
                                    char *errstr, size_t errstr_size)
{
    *ids = NULL;
    *n = 0;
    const char *p = csv ? csv : "";
    size_t cap = 1;
    for (const char *s = p; *s; s++)
        cap += *s == ',';
    char **raw = xcalloc(cap, sizeof *raw);
    size_t cnt = 0;
    for (;;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, ",");
        size_t end = len;
        while (end > 0 && p[end - 1] == ' ')
            end--;
        if (end > 0) {
            raw[cnt] = xmalloc(end + 1);
            memcpy(raw[cnt], p, end);
            raw[cnt++][end] = '\0';
        } else if (p[len] == ',' || cnt > 0) {
            store_strv_destroy(raw, cnt);
            return store_fail(STORE_INVALID, errstr, errstr_size, "%s: empty id in the list",
                              field);
        }
        if (!p[len])
            break;
        p += len + 1;
    }
    store_status st = check_ids(field, (const char *const *)raw, cnt, errstr, errstr_size);
    if (st == STORE_OK)
        *ids = sorted_unique((const char *const *)raw, cnt, n);
    store_strv_destroy(raw, cnt);
    return st;
}

void store_action_settings_dispose(store_action_settings *s)
{
    if (!s)
        return;
    free(s->tenant);
    store_strv_destroy(s->users, s->n_users);
    store_strv_destroy(s->groups, s->n_groups);
    memset(s, 0, sizeof *s);
}

/* "a,b" (ids never hold a comma) into a vector; NULL for "" or NULL. */
static char **split_ids(const char *csv, size_t *n)
{
    *n = 0;
    if (!csv || !*csv)
        return NULL;
    size_t cap = 1;
    for (const char *s = csv; *s; s++)
        cap += *s == ',';
    char **v = xcalloc(cap, sizeof *v);
    for (const char *s = csv;;) {
        size_t len = strcspn(s, ",");
        v[*n] = xmalloc(len + 1);
        memcpy(v[*n], s, len);
        v[(*n)++][len] = '\0';
        if (!s[len])
            break;
        s += len + 1;
    }
    return v;
}

store_status store_action_settings_get(PGconn *conn, const char *tenant, store_action_settings *out,
                                       char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    store_status st = store_tenant_check(tenant, errstr, errstr_size);
    if (st != STORE_OK)
        return st;
    const char *p[] = {tenant};
    PGresult *r = store_run(conn, "reading the tenant's action settings",
                            "SELECT slack_actions, array_to_string(action_users, ','), "
                            "array_to_string(action_groups, ','), " MS(
                                "updated_at") " FROM tenant_settings WHERE tenant_id = $1",
                            1, p, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    out->tenant = xstrdup(tenant);
    if (PQntuples(r) == 1) {
        char e[128];
        /* The CHECK constraint keeps the column to the three names. */
        if (store_action_who_parse(PQgetvalue(r, 0, 0), &out->who, e, sizeof e) != STORE_OK)
            out->who = STORE_ACTIONS_NONE;
        out->users = split_ids(PQgetvalue(r, 0, 1), &out->n_users);
        out->groups = split_ids(PQgetvalue(r, 0, 2), &out->n_groups);
        out->stored = true;
        out->updated_at_ms = store_get_i64(r, 0, 3);
    }
    PQclear(r);
    return STORE_OK;
}

bool store_action_user_listed(const store_action_settings *s, const char *user_id)
{
    if (s->who == STORE_ACTIONS_CHANNEL)
        return true;
    if (s->who != STORE_ACTIONS_LISTED || !user_id)
        return false;
    for (size_t i = 0; i < s->n_users; i++)
        if (!strcmp(s->users[i], user_id))
            return true;
    return false;
}

store_status store_action_settings_set(PGconn *conn, const char *tenant, store_action_who who,
                                       const char *const *users, size_t n_users,
                                       const char *const *groups, size_t n_groups, char *errstr,
                                       size_t errstr_size)
{
    store_status st = store_tenant_check(tenant, errstr, errstr_size);
    if (st == STORE_OK && (unsigned)who >= ARRAY_LEN(who_names))
        st = store_fail(STORE_INVALID, errstr, errstr_size, "who: unknown setting %d", (int)who);
    if (st == STORE_OK)
        st = check_ids("users", users, n_users, errstr, errstr_size);
    if (st == STORE_OK)
        st = check_ids("groups", groups, n_groups, errstr, errstr_size);
    if (st != STORE_OK)
        return st;
    if (who == STORE_ACTIONS_LISTED && n_users + n_groups == 0)
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "who: listed needs at least one user or user group");
    /* A list with 'channel' or 'none' would be silently ignored: refused so
     * nobody believes it restricts anything. */
    if (who != STORE_ACTIONS_LISTED && (n_users || n_groups))
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "%s: only with who listed (who is %s)", n_users ? "users" : "groups",
                          store_action_who_name(who));
    size_t nu, ng;
    char **u = sorted_unique(users, n_users, &nu), **g = sorted_unique(groups, n_groups, &ng);
    char *ua = pgarray_of_text((const char *const *)u, nu, false);
    char *ga = pgarray_of_text((const char *const *)g, ng, false);
    const char *p[] = {tenant, store_action_who_name(who), ua, ga};
    st = store_exec(conn, "saving the tenant's action settings",
                    "INSERT INTO tenant_settings (tenant_id, slack_actions, action_users, "
                    "action_groups, updated_at) VALUES ($1, $2, $3::text[], $4::text[], now()) "
                    "ON CONFLICT (tenant_id) DO UPDATE SET slack_actions = EXCLUDED.slack_actions, "
                    "action_users = EXCLUDED.action_users, action_groups = EXCLUDED.action_groups, "
                    "updated_at = now()",
                    4, p, NULL, errstr, errstr_size);
    free(ua);
    free(ga);
    store_strv_destroy(u, nu);
    store_strv_destroy(g, ng);
    return st;
}
