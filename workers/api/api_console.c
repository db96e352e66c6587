/*
 * herald-api: the web console's files. Static HTML, CSS and vanilla JS
 * (workers/api/console), embedded at build time; the pages call the JSON API with
 * the session cookie and the CSRF token from GET /api/v1/session.
 *
 * The pages other than login.html need a session: without one the browser is
 * sent to the sign-in page. HERALD_CONSOLE_DIR serves the files from a
 * directory instead (edit and reload while developing).
 */
#include "workers/api/api_console.h"

#include "workers/api/api_assets.h"
#include "workers/api/api_http.h"

#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const api_asset *find_asset(const char *name)
{
    for (size_t i = 0; i < api_assets_count; i++)
        if (api_assets[i].name && strcmp(api_assets[i].name, name) == 0)
            return &api_assets[i];
    return NULL;
}

/* Reads dir/name (name already checked to be a plain file name). */
static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) { /* a directory reads as "" */
        fclose(f);
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            if (cap >= 8 * 1024 * 1024)
                break;
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static void serve(api_call *c, const char *name)
{
    /* Only plain file names: nothing can climb out of the console. */
    if (!*name || strchr(name, '/') || strchr(name, '\\') || name[0] == '.') {
        api_error(c, 404, NULL, "no such page: %s", httpd_req_path(c->req));
        return;
    }
    const api_asset *a = find_asset(name);
    const char *dir = c->srv->cfg.console_dir;
    bool html = strlen(name) > 5 && strcmp(name + strlen(name) - 5, ".html") == 0;
    httpd_add_header(c->req, "Cache-Control", html ? "no-store" : "no-cache");
    if (dir && *dir) {
        size_t len = 0;
        char *body = read_file(dir, name, &len);
        if (body) {
            httpd_respond_owned(c->req, 200,
                                a      ? a->content_type
                                : html ? "text/html; charset=utf-8"
                                       : "application/octet-stream",
                                body, len);
            return;
        }
    }
    if (!a) {
        api_error(c, 404, NULL, "no such page: %s", httpd_req_path(c->req));
        return;
    }
    httpd_respond(c->req, 200, a->content_type, (const char *)a->data, a->len);
}

static void console_file(api_call *c)
{
    const char *rest = httpd_req_path_rest(c->req);
    serve(c, *rest ? rest : "index.html");
}

static void console_page(api_call *c)
{
    const char *path = httpd_req_path(c->req);
    const char *name = strrchr(path, '/') + 1;
    serve(c, *name ? name : "index.html");
}

static void to_console(api_call *c)
{
    httpd_redirect(c->req, 303, "/console/");
}

void api_console_register(api_server *s)
{
    static const char *const pages[] = {"/console/",
                                        "/console/index.html",
                                        "/console/new-target.html",
                                        "/console/target.html",
                                        "/console/checks.html",
                                        "/console/silences.html",
                                        "/console/remediations.html",
                                        "/console/settings.html"};
    for (size_t i = 0; i < ARRAY_LEN(pages); i++)
        api_route(s, "GET", pages[i], API_AUTH | API_PAGE, console_page);
    api_route_prefix(s, "GET", "/console/", API_PUBLIC | API_NODB, console_file);
    api_route(s, "GET", "/", API_PUBLIC | API_NODB, to_console);
    api_route(s, "GET", "/console", API_PUBLIC | API_NODB, to_console);
}
