/*
 * heraldctl remediation list | set | reset: the text a nudge sends a failing
 * user, per tenant and check type (store/remediations.h).
 */

#include "workers/heraldctl/ctl.h"
#include "workers/heraldctl/ctl_internal.h"

#include "common/util.h"
#include "store/remediations.h"
#include "store/tenantjson.h"
#include "workers/heraldctl/cli.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const ctl_flag_map remediation_flags[] = {
    {"tenant", "--tenant"},
    {"check_type", "--check"},
    {"text", "--text"},
    {NULL, NULL},
};

/* What --text-stdin reads at most: room for STORE_MAX_REMEDIATION characters
 * of four bytes and a trailing newline, so a longer text is refused by its
 * length, not cut. */
#define MAX_STDIN_TEXT (STORE_MAX_REMEDIATION * 4 + 64)

/* "cli:<login>" for updated_by: who ran the command, as the system knows
 * them (not $USER alone, which anyone can set). */
static void cli_author(char *buf, size_t size)
{
    const struct passwd *pw = getpwuid(geteuid());
    const char *name = pw && pw->pw_name ? pw->pw_name : getenv("USER");
    snprintf(buf, size, "cli:%s", name && *name ? name : "unknown");
}

/* --tenant is required by every remediation command. */
static int need_tenant(const char *cmd, const char *tenant)
{
    return tenant ? -1 : cli_usage_error(CTL_PROG, cmd, "--tenant is required");
}

int ctl_remediation_list(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {
        "remediation list", "--tenant T [--json]",
        "Lists the check types of a tenant (every one it has sent, and every one with a text of "
        "its own) with the text a nudge sends the failing users, and whether it is Herald's "
        "default."};
    char *tenant = NULL;
    bool json = false;
    const cfg_opt opts[] = {
        {"--tenant", NULL, CFG_STRING, NULL, 0, 0, "T", "tenant id (required)", &tenant},
        {"--json", NULL, CFG_BOOL, NULL, 0, 0, NULL, "print a JSON array", &json},
    };
    int rc = ctl_parse(&c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0);
    PGconn *conn;
    if (rc >= 0 || (rc = need_tenant(c.name, tenant)) >= 0 ||
        (rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    char err[512];
    store_remediations l = {0};
    store_status st = store_remediation_list(conn, tenant, &l, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, remediation_flags)) >= 0)
        return rc;
    if (json) {
        ctl_print_json(tenantjson_remediations(&l));
    } else if (l.n == 0) {
        printf("no check types for tenant %s yet\n", tenant);
    } else {
        static const char *const hdr[] = {"CHECK_TYPE", "NAME", "DEFAULT", "UPDATED_BY", "TEXT"};
        cli_table *t = cli_table_new(ARRAY_LEN(hdr), hdr);
        cli_table_set_max_width(t, 1, 32);
        cli_table_set_max_width(t, 4, 80);
        for (size_t i = 0; i < l.n; i++) {
            const store_remediation *x = &l.items[i];
            const char *row[] = {x->check_type, x->check_name, x->is_default ? "yes" : "no",
                                 x->updated_by, x->text};
            cli_table_add(t, row);
        }
        cli_table_print(t, stdout);
        cli_table_destroy(t);
    }
    store_remediations_dispose(&l);
    return 0;
}

/* Standard input as the text, without its trailing line ends; NULL (after
 * printing why) when it cannot be read or is too long to be a text. */
static char *read_stdin_text(const char *cmd)
{
    char *buf = xmalloc(MAX_STDIN_TEXT + 1);
    size_t n = fread(buf, 1, MAX_STDIN_TEXT + 1, stdin);
    if (ferror(stdin) || n > MAX_STDIN_TEXT) {
        free(buf);
        cli_usage_error(CTL_PROG, cmd, "--text-stdin: %s",
                        n > MAX_STDIN_TEXT ? "the text is too long (at most 2000 characters)"
                                           : "cannot read standard input");
        return NULL;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        free(buf);
        cli_usage_error(CTL_PROG, cmd, "--text-stdin: the text contains a NUL byte");
        return NULL;
    }
    return buf;
}

int ctl_remediation_set(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {
        "remediation set", "--tenant T --check TYPE (--text TEXT | --text-stdin)",
        "Sets the text a nudge about check TYPE sends the failing users of tenant T: plain text "
        "(Slack shows it as written), at most 2000 characters, newlines allowed."};
    char *tenant = NULL, *check = NULL, *text = NULL;
    bool from_stdin = false;
    const cfg_opt opts[] = {
        {"--tenant", NULL, CFG_STRING, NULL, 0, 0, "T", "tenant id (required)", &tenant},
        {"--check", NULL, CFG_STRING, NULL, 0, 0, "TYPE", "check type (required)", &check},
        {"--text", NULL, CFG_STRING, NULL, 0, 0, "TEXT", "the text", &text},
        {"--text-stdin", NULL, CFG_BOOL, NULL, 0, 0, NULL,
         "read the text from standard input (trailing newlines dropped)", &from_stdin},
    };
    int rc = ctl_parse(&c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0);
    if (rc >= 0 || (rc = need_tenant(c.name, tenant)) >= 0)
        return rc;
    if (!check)
        return cli_usage_error(CTL_PROG, c.name, "--check is required");
    if (!text == !from_stdin)
        return cli_usage_error(CTL_PROG, c.name, "give exactly one of --text and --text-stdin");
    char *owned = NULL;
    if (from_stdin && !(text = owned = read_stdin_text(c.name)))
        return 2;
    PGconn *conn;
    if ((rc = ctl_open(ctx, c.name, &conn)) >= 0) {
        free(owned);
        return rc;
    }
    char err[512], author[300];
    cli_author(author, sizeof author);
    store_status st = store_remediation_set(conn, tenant, check, text, author, err, sizeof err);
    free(owned);
    if ((rc = ctl_close(conn, c.name, st, err, remediation_flags)) >= 0)
        return rc;
    printf("remediation text for %s of tenant %s set\n", check, tenant);
    return 0;
}

int ctl_remediation_reset(void *ctx, int argc, char **argv)
{
    static const cfg_command c = {"remediation reset", "--tenant T --check TYPE",
                                  "Removes tenant T's own text for check TYPE: nudges send "
                                  "Herald's default text again."};
    char *tenant = NULL, *check = NULL;
    const cfg_opt opts[] = {
        {"--tenant", NULL, CFG_STRING, NULL, 0, 0, "T", "tenant id (required)", &tenant},
        {"--check", NULL, CFG_STRING, NULL, 0, 0, "TYPE", "check type (required)", &check},
    };
    int rc = ctl_parse(&c, opts, ARRAY_LEN(opts), argc, argv, NULL, 0);
    if (rc >= 0 || (rc = need_tenant(c.name, tenant)) >= 0)
        return rc;
    if (!check)
        return cli_usage_error(CTL_PROG, c.name, "--check is required");
    PGconn *conn;
    if ((rc = ctl_open(ctx, c.name, &conn)) >= 0)
        return rc;
    char err[512];
    bool removed = false;
    store_status st = store_remediation_reset(conn, tenant, check, &removed, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, remediation_flags)) >= 0)
        return rc;
    if (removed)
        printf("remediation text for %s of tenant %s reset to the default\n", check, tenant);
    else
        printf("tenant %s had no text of its own for %s: the default is in use\n", tenant, check);
    return 0;
}
