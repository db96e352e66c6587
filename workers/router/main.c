/*
 * herald-router: routes check results and collection events to notification
 * targets. The work is in workers/router/router.c, the command line in
 * workers/router/router_options.c; this runs the router until SIGTERM/SIGINT
 * and exits 0 after a clean stop.
 */
#include "common/log.h"
#include "common/util.h"
#include "workers/router/router.h"
#include "workers/router/router_options.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    log_init("herald-router");
    router_options o;
    router_config rc;
    int code = router_options_parse(&o, argc, argv, &rc);
    if (code >= 0)
        return code;

    util_signals_install();
    char err[512];
    router *r = router_new(&rc, err, sizeof err);
    if (!r) {
        fprintf(stderr, "herald-router: %s\n", err);
        router_options_dispose(&o);
        return 1;
    }
    int rv = router_run(r);
    router_destroy(r);
    router_options_dispose(&o);
    return rv == 0 ? 0 : 1;
}
