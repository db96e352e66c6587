#include "common/render.h"

#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* Stub: replaced by the full renderer shortly (same API). */

void render_output_dispose(render_output *out)
{
    if (!out)
        return;
    free(out->blocks_json);
    free(out->text);
    memset(out, 0, sizeof *out);
}

static int simple(const char *text, render_output *out)
{
    memset(out, 0, sizeof *out);
    out->blocks_json = xstrdup("[]");
    out->text = xstrdup(text);
    return 0;
}

int render_check_result(const event *ev, const render_opts *opts, render_output *out)
{
    return ev->kind == EVENT_CHECK_RESULT ? simple("Check failing", out) : -1;
}

int render_check_repeat(const event *ev, int64_t previous_failing_count, const render_opts *opts,
                        render_output *out)
{
    return ev->kind == EVENT_CHECK_RESULT ? simple("Still failing", out) : -1;
}

int render_collection(const event *ev, const render_opts *opts, render_output *out)
{
    return ev->kind == EVENT_COLLECTION ? simple("Collection", out) : -1;
}

int render_event(const event *ev, const render_opts *opts, render_output *out)
{
    return ev->kind == EVENT_CHECK_RESULT ? render_check_result(ev, opts, out)
                                          : render_collection(ev, opts, out);
}

int render_test_message(const char *target_name, const render_opts *opts, render_output *out)
{
    return simple("Test message from Herald", out);
}

int render_digest(const event *const *evs, size_t n, const render_opts *opts, render_output *out)
{
    return n ? simple("Digest", out) : -1;
}

char *render_escape_mrkdwn(const char *s)
{
    return xstrdup(s ? s : "");
}

char *render_escape_entities(const char *s)
{
    return xstrdup(s ? s : "");
}

size_t render_text_units(const char *s)
{
    return s ? strlen(s) : 0;
}

size_t render_cut_point(const char *s, size_t max_units)
{
    size_t n = strlen(s);
    return n < max_units ? n : max_units;
}
