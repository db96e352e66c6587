/*
 * Remediation texts (store/remediations.h): Herald's built-in text per check
 * type, and the tenants' own texts in table remediations.
 */
#include "store/remediations.h"

#include "store/store_internal.h"
#include "store/tenant_settings.h"
#include "store/validation.h"

#include "common/strbuf.h"
#include "common/utf8.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ defaults */

/*
 * One text per family of checks, under every name our producers and the
 * identity providers' usual check names give it. Plain, addressed to the
 * failing user, saying what to do: a nudge is a direct message to them.
 */
static const struct {
    const char *const types[5]; /* NULL-terminated when shorter */
    const char *text;
} defaults[] = {
    {{"weak_mfa", "weak_second_factor", "sms_mfa"},
     "Your account uses a weak second factor (SMS, voice call or email codes). Please enrol an "
     "authenticator app or a security key, then remove the weak factor from your account."},
    {{"no_mfa", "mfa_not_enrolled", "users_without_mfa", "missing_mfa"},
     "Your account has no multi-factor authentication. Please enrol an authenticator app or a "
     "security key now: it takes a few minutes and protects your account if your password "
     "leaks."},
    {{"admins_without_mfa", "no_mfa_admins", "admin_without_mfa"},
     "You hold an administrator role but your account has no multi-factor authentication. Please "
     "enrol an authenticator app or a security key today, or ask for the role to be removed if "
     "you no longer need it."},
    {{"stale_accounts", "inactive_users", "dormant_users", "stale_users"},
     "Your account has not been used for a long time. If you still need it, sign in once to keep "
     "it active; if you do not, tell your IT team so it can be removed."},
    {{"inactive_guests", "stale_guests", "guest_access"},
     "Your guest access has not been used for a long time. If you still need it, sign in once; "
     "if you do not, tell your contact so the access can be removed."},
    {{"stale_admin", "stale_admins", "inactive_admins"},
     "You hold an administrator role you have not used for a long time. Please ask for it to be "
     "removed if you no longer need it: unused admin rights are a favourite target."},
    {{"password_never_expires", "password_not_expiring"},
     "Your password is set never to expire. Please change it now to a long, unique password (a "
     "password manager helps), and ask your IT team to turn expiry back on for your account."},
    {{"shared_secrets", "old_keys", "stale_api_keys", "old_access_keys"},
     "Your account holds an access key or secret that has not been rotated for a long time. "
     "Please rotate it, and delete it if nothing uses it any more."},
    {{"risky_apps", "risky_oauth_apps"},
     "You have granted access to an application flagged as risky. Please review the "
     "applications connected to your account and remove those you do not need."},
};

static const char *builtin(const char *check_type)
{
    for (size_t i = 0; check_type && i < ARRAY_LEN(defaults); i++)
        for (size_t k = 0; k < ARRAY_LEN(defaults[i].types) && defaults[i].types[k]; k++)
            if (!strcmp(defaults[i].types[k], check_type))
                return defaults[i].text;
    return NULL;
}

bool remediation_has_default(const char *check_type)
{
    return builtin(check_type) != NULL;
}

char *remediation_default(const char *check_type)
{
    const char *t = builtin(check_type);
    if (t)
        return xstrdup(t);
    strbuf b = {0};
    strbuf_addf(&b,
                "Your account was flagged by the security check \"%s\". Please review it and fix "
                "what it found, or ask your IT team if you are not sure what to do.",
                check_type && *check_type ? check_type : "unknown");
    return strbuf_take(&b);
}

/* ================================================================ validation */

static store_status check_type_ok(const char *type, char *errstr, size_t errstr_size)
{
    char q[96], e[256];
    if (!type || !*type)
        return store_fail(STORE_INVALID, errstr, errstr_size, "check_type: must not be empty");
    char **v = NULL;
    size_t n = 0;
    /* The one check-type rule (letters, digits, _ . : -), as target filters use it. */
    const char *const one[] = {type};
    store_status st = strlen(type) > STORE_MAX_CHECK_TYPE
                          ? STORE_INVALID
                          : store_checks_normalise(one, 1, &v, &n, e, sizeof e);
    store_strv_destroy(v, n);
    if (st != STORE_OK)
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "check_type: %s is not a check type (letters, digits, _ . : -; at most "
                          "%d)",
                          store_quote(type, q, sizeof q), STORE_MAX_CHECK_TYPE);
    return STORE_OK;
}

/* Plain text a person reads in a direct message: lines and tabs are fine;
 * other controls and bidi overrides would hide or reorder what is shown. */
static store_status check_text(const char *text, char *errstr, size_t errstr_size)
{
    if (!text || store_is_blank(text))
        return store_fail(STORE_INVALID, errstr, errstr_size, "text: must not be empty");
    size_t chars = 0, len = strlen(text);
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    while (p < end) {
        uint32_t cp;
        size_t n = utf8_decode(p, (size_t)(end - p), &cp);
        if (n == 0)
            return store_fail(STORE_INVALID, errstr, errstr_size,
                              "text: not valid UTF-8 (at byte %zu)",
                              (size_t)(p - (const unsigned char *)text));
        if (cp != '\n' && cp != '\t' && utf8_unsafe(cp))
            return store_fail(STORE_INVALID, errstr, errstr_size,
                              "text: contains a control character or a bidirectional override "
                              "(U+%04X at character %zu)",
                              (unsigned)cp, chars + 1);
        chars++;
        p += n;
    }
    if (chars > STORE_MAX_REMEDIATION)
        return store_fail(STORE_INVALID, errstr, errstr_size, "text: %zu characters; at most %d",
                          chars, STORE_MAX_REMEDIATION);
    return STORE_OK;
}

/* ================================================================ queries */

#define R(ctype, member) COL(store_remediation, ctype, member)
static const col remediation_cols[] = {
    R(COL_STR, check_type), R(COL_STR, check_name),    R(COL_STR, text),
    R(COL_STR, updated_by), R(COL_I64, updated_at_ms), R(COL_I64, last_seen_ms),
};
#undef R

static void remediation_row(const PGresult *r, int row, void *item)
{
    store_remediation *x = item;
    store_col_map(r, row, x, remediation_cols, ARRAY_LEN(remediation_cols));
    if (!x->text) { /* no custom text */
        x->is_default = true;
        x->text = remediation_default(x->check_type);
    }
}

void store_remediations_dispose(store_remediations *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        store_col_free(&l->items[i], remediation_cols, ARRAY_LEN(remediation_cols));
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

store_status store_remediation_list(PGconn *conn, const char *tenant, store_remediations *out,
                                    char *errstr, size_t errstr_size)
{
    out->items = NULL;
    out->n = 0;
    store_status st = store_tenant_check(tenant, errstr, errstr_size);
    if (st != STORE_OK)
        return st;
    const char *p[] = {tenant};
    void *items;
    st = store_query_rows(
        conn, "listing remediation texts",
        "SELECT coalesce(c.check_type, r.check_type), coalesce(c.check_name, ''), r.text, "
        "       r.updated_by, " MS("r.updated_at") ", " MS(
            "c.last_seen_at") "  FROM (SELECT check_type, check_name, last_seen_at FROM "
                              "check_types "
                              "         WHERE tenant_id = $1) c "
                              "  FULL JOIN (SELECT check_type, text, updated_by, updated_at FROM "
                              "remediations "
                              "              WHERE tenant_id = $1) r ON r.check_type = "
                              "c.check_type "
                              " ORDER BY 1",
        1, p, remediation_row, sizeof *out->items, &items, &out->n, errstr, errstr_size);
    out->items = items;
    return st;
}

store_status store_remediation_set(PGconn *conn, const char *tenant, const char *check_type,
                                   const char *text, const char *updated_by, char *errstr,
                                   size_t errstr_size)
{
    store_status st = store_tenant_check(tenant, errstr, errstr_size);
    if (st == STORE_OK)
        st = check_type_ok(check_type, errstr, errstr_size);
    if (st == STORE_OK)
        st = check_text(text, errstr, errstr_size);
    if (st != STORE_OK)
        return st;
    const char *p[] = {tenant, check_type, text,
                       updated_by && *updated_by ? updated_by : "unknown"};
    return store_exec(conn, "saving the remediation text",
                      "INSERT INTO remediations (tenant_id, check_type, text, updated_by) "
                      "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, check_type) DO UPDATE "
                      "SET text = EXCLUDED.text, updated_by = EXCLUDED.updated_by, "
                      "updated_at = now()",
                      4, p, NULL, errstr, errstr_size);
}

store_status store_remediation_reset(PGconn *conn, const char *tenant, const char *check_type,
                                     bool *removed, char *errstr, size_t errstr_size)
{
    if (removed)
        *removed = false;
    store_status st = store_tenant_check(tenant, errstr, errstr_size);
    if (st == STORE_OK)
        st = check_type_ok(check_type, errstr, errstr_size);
    if (st != STORE_OK)
        return st;
    const char *p[] = {tenant, check_type};
    int rows = 0;
    st = store_exec(conn, "resetting the remediation text",
                    "DELETE FROM remediations WHERE tenant_id = $1 AND check_type = $2 "
                    "RETURNING 1",
                    2, p, &rows, errstr, errstr_size);
    if (st == STORE_OK && removed)
        *removed = rows > 0;
    return st;
}

store_status remediation_text_for(PGconn *conn, const char *tenant, const char *check_type,
                                  char **text, bool *is_default, char *errstr, size_t errstr_size)
{
    *text = NULL;
    *is_default = false;
    const char *p[] = {tenant, check_type};
    PGresult *r = store_run(conn, "reading the remediation text",
                            "SELECT text FROM remediations WHERE tenant_id = $1 "
                            "AND check_type = $2",
                            2, p, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    if (PQntuples(r) == 1) {
        *text = store_get_str(r, 0, 0);
    } else {
        *text = remediation_default(check_type);
        *is_default = true;
    }
    PQclear(r);
    return STORE_OK;
}
