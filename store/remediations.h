#ifndef HERALD_STORE_REMEDIATIONS_H
#define HERALD_STORE_REMEDIATIONS_H

/*
 * Remediation texts: what a nudge tells a failing user to do, per tenant and
 * check type (table remediations, migration 010). A check type without a
 * row uses Herald's built-in default for its type, or a generic text that
 * names the check. Texts are plain text (the renderer escapes them), at most
 * STORE_MAX_REMEDIATION characters; newlines are allowed. store/store.h has
 * the conventions.
 */

#include "store/store.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest text accepted, in characters (code points). */
#define STORE_MAX_REMEDIATION 2000

/*
 * The built-in text for check_type (malloc'd; the caller frees it): a text
 * of its own for the check types Herald's producers emit (weak_mfa, no_mfa /
 * mfa_not_enrolled, admins_without_mfa / no_mfa_admins, stale_accounts /
 * inactive_users, password_never_expires, ...), else a generic one naming
 * check_type. Never NULL.
 */
char *remediation_default(const char *check_type);

/* True when check_type has a built-in text of its own (not the generic one). */
bool remediation_has_default(const char *check_type);

/* One check type of a tenant and the text a nudge about it sends. */
typedef struct store_remediation {
    char *check_type;
    char *check_name;      /* "" when never seen (a custom text for a type not seen yet) */
    char *text;            /* the custom text, or the default */
    bool is_default;       /* no custom text: text is remediation_default's */
    char *updated_by;      /* NULL for a default */
    int64_t updated_at_ms; /* 0 for a default */
    int64_t last_seen_ms;  /* 0 when never seen */
} store_remediation;

typedef struct store_remediations {
    store_remediation *items; /* by check type */
    size_t n;
} store_remediations;

void store_remediations_dispose(store_remediations *l);

/*
 * Every check type the tenant has sent (check_types) and every one with a
 * custom text, by check type, each with the text a nudge would send.
 * STORE_INVALID "tenant: ..." for a tenant that is not an identifier.
 */
store_status store_remediation_list(PGconn *conn, const char *tenant, store_remediations *out,
                                    char *errstr, size_t errstr_size) STORE_MUST_CHECK;

/*
 * Sets tenant's custom text for check_type, recording updated_by ("cli:<login>",
 * "api:<token name>"). Fields: tenant, check_type (letters, digits, _ . : -,
 * at most STORE_MAX_CHECK_TYPE), text (not blank, valid UTF-8, at most
 * STORE_MAX_REMEDIATION characters, no control characters but newline and
 * tab).
 */
store_status store_remediation_set(PGconn *conn, const char *tenant, const char *check_type,
                                   const char *text, const char *updated_by, char *errstr,
                                   size_t errstr_size) STORE_MUST_CHECK;

/* Removes tenant's custom text for check_type (back to the default);
 * *removed (may be NULL) says whether there was one. Resetting a type
 * without a custom text is not an error. */
store_status store_remediation_reset(PGconn *conn, const char *tenant, const char *check_type,
                                     bool *removed, char *errstr,
                                     size_t errstr_size) STORE_MUST_CHECK;

/* The text a nudge about check_type sends for tenant: the custom text, else
 * the default (*is_default true). *text is malloc'd (the caller frees it);
 * NULL on a failure. */
store_status remediation_text_for(PGconn *conn, const char *tenant, const char *check_type,
                                  char **text, bool *is_default, char *errstr,
                                  size_t errstr_size) STORE_MUST_CHECK;

#endif
