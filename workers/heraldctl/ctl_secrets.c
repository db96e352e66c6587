/* heraldctl secrets rotate, and the re-sealing `migrate` does when a key is set. */

#include "workers/heraldctl/ctl.h"
#include "workers/heraldctl/ctl_internal.h"

#include "common/config.h"
#include "common/crypto.h"
#include "store/secrets.h"

#include <stdio.h>

/* ================================================================ secrets */

/* Prints the counts of a re-sealing (stdout) and one line per unreadable
 * row (stderr: team ids, never values); returns the number of unreadable rows. */
static long report(const char *cmd, const crypto_keyring *keys, const store_reseal_counts *n)
{
    char id[2 * CRYPTO_KEY_ID_LEN + 1];
    crypto_key_id_hex(keys->current, id);
    printf("re-sealed %ld workspace%s under HERALD_SECRET_KEY (key id %s); %ld already current; "
           "%ld unreadable\n",
           n->resealed, n->resealed == 1 ? "" : "s", id, n->current, n->unreadable);
    for (long i = 0; i < n->unreadable && i < STORE_RESEAL_MAX_LISTED; i++)
        fprintf(stderr,
                "%s %s: workspace %s: neither HERALD_SECRET_KEY nor HERALD_SECRET_KEY_PREVIOUS "
                "opens its stored token (left as it is)\n",
                CTL_PROG, cmd, n->unreadable_ids[i]);
    if (n->unreadable > STORE_RESEAL_MAX_LISTED)
        fprintf(stderr, "%s %s: and %ld more unreadable workspaces\n", CTL_PROG, cmd,
                n->unreadable - STORE_RESEAL_MAX_LISTED);
    return n->unreadable;
}

int ctl_secrets_rotate(void *ctx, int argc, char **argv)
{
    const herald_common_config *cfg = ctx;
    static const cfg_command c = {
        "secrets rotate", "",
        "Re-seals every stored secret (bot and refresh tokens) under HERALD_SECRET_KEY: those "
        "sealed with HERALD_SECRET_KEY_PREVIOUS or in the format before issue 11. Safe while "
        "Herald runs and to repeat. Prints the counts; exit 1 when a row opens with neither "
        "key (named by team id). After it, HERALD_SECRET_KEY_PREVIOUS is no longer needed."};
    int rc = ctl_parse(&c, NULL, 0, argc, argv, NULL, 0);
    if (rc >= 0)
        return rc;
    crypto_keyring keys[1];
    if ((rc = ctl_load_key(cfg, c.name, "re-sealing the stored tokens needs it", keys)))
        return rc;
    PGconn *conn;
    if ((rc = ctl_open(cfg, c.name, &conn)) >= 0) {
        crypto_wipe(keys, sizeof keys);
        return rc;
    }
    char err[512];
    store_reseal_counts n;
    store_status st = store_secrets_reseal(conn, keys, &n, err, sizeof err);
    if ((rc = ctl_close(conn, c.name, st, err, NULL)) < 0)
        rc = report(c.name, keys, &n) ? 1 : 0;
    crypto_wipe(keys, sizeof keys);
    return rc;
}

int ctl_secrets_after_migrate(const herald_common_config *cfg, PGconn *conn)
{
    bool set =
        (cfg->secret_key && *cfg->secret_key) || (cfg->secret_key_file && *cfg->secret_key_file);
    if (!set)
        return -1;
    crypto_keyring keys[1];
    int rc = ctl_load_key(cfg, "migrate", "re-sealing the stored tokens needs it", keys);
    if (rc)
        return rc;
    char err[512];
    store_reseal_counts n;
    if (store_secrets_reseal(conn, keys, &n, err, sizeof err)) {
        crypto_wipe(keys, sizeof keys);
        return ctl_report("migrate", STORE_DB, err, NULL);
    }
    /* The schema is migrated: an unreadable row is reported, and `secrets
     * rotate` is where it fails the run. Nothing to say when nothing was stale. */
    if (n.resealed || n.unreadable)
        report("migrate", keys, &n);
    crypto_wipe(keys, sizeof keys);
    return -1;
}
