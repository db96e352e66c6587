/*
 * heraldctl token create | list | revoke: API tokens for herald-api, over
 * store/apitoken.h. apitoken's calls answer 0 or -1 rather than a
 * store_status: a failure is the database's (exit 1).
 */

#include "workers/heraldctl/ctl.h"
#include "workers/heraldctl/ctl_internal.h"

#include "common/event.h"
#include "common/util.h"
#include "store/apitoken.h"

#include <inttypes.h>
#include <stdio.h>

/* ================================================================ token */

int ctl_token_create(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {
        "token create", "[--tenant T] [--name N]",
        "Creates an API token for herald-api and prints it on stdout, the only time it\n"
        "is shown (only its SHA-256 is stored). With --tenant the token sees and changes\n"
        "only that tenant; without, it is an operator token for every tenant."};
    char *tenant = NULL, *name = NULL;
    const cfg_opt opts[] = {
        {"--tenant", NULL, CFG_STRING, NULL, 0, 0, "T",
         "the tenant the token is for (default: every tenant)", &tenant},
        {"--name", NULL, CFG_STRING, NULL, 0, 0, "N", "what the token is for, shown in token list",
         &name},
    };
    int rc = ctl_parse(&c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0);
    if (rc >= 0)
        return rc;
    if (tenant && !*tenant)
        return cli_usage_error(CTL_PROG, c.name,
                               "--tenant: empty tenant (omit the flag for an operator token)");
    /* Checked before connecting, as apitoken_create would: a usage error. */
    if (tenant && !event_is_identifier(tenant))
        return cli_usage_error(CTL_PROG, c.name,
                               "--tenant: must be 1 to %d characters of A-Z a-z 0-9 . _ : - (as "
                               "in events)",
                               EVENT_MAX_IDENTIFIER);
    PGconn *conn;
    if ((rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    char err[512], text[APITOKEN_TEXT_LEN + 1];
    int64_t id = 0;
    store_status st =
        apitoken_create(conn, tenant, name, text, &id, err, sizeof err) ? STORE_DB : STORE_OK;
    if ((rc = ctl_close(conn, c.name, st, err, NULL)) >= 0)
        return rc;
    /* The token alone on stdout (scripts capture it); the rest on stderr. */
    printf("%s\n", text);
    fflush(stdout);
    crypto_wipe(text, sizeof text);
    fprintf(stderr, "token %" PRId64 " created for %s%s; it is shown only this once\n", id,
            tenant ? "tenant " : "every tenant (operator)", tenant ? tenant : "");
    return 0;
}

int ctl_token_list(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {"token list", "",
                                  "Lists API tokens: id, prefix, tenant ('*' for operator "
                                  "tokens), name, times. Never the token."};
    PGconn *conn;
    int rc = ctl_parse_open(ctx, &c, NULL, 0, argc, argv, &conn);
    if (rc >= 0)
        return rc;
    char err[512];
    store_status st = apitoken_list_print(conn, stdout, err, sizeof err) ? STORE_DB : STORE_OK;
    if ((rc = ctl_close(conn, c.name, st, err, NULL)) >= 0)
        return rc;
    return 0;
}

int ctl_token_revoke(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {"token revoke", "ID",
                                  "Revokes an API token; its console sessions end with it."};
    int64_t id;
    PGconn *conn;
    int rc = ctl_parse_id_command(&c, NULL, 0, argc, argv, "token id", &id);
    if (rc >= 0 || (rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    char err[512];
    int r = apitoken_revoke(conn, id, err, sizeof err);
    if (r == 0)
        snprintf(err, sizeof err, "no active token %" PRId64, id);
    store_status st = r == 1 ? STORE_OK : r == 0 ? STORE_NOT_FOUND : STORE_DB;
    if ((rc = ctl_close(conn, c.name, st, err, NULL)) >= 0)
        return rc;
    fprintf(stderr, "token %" PRId64 " revoked\n", id);
    return 0;
}
