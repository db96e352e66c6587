#include "workers/router/route.h"

#include <string.h>

bool route_event_wanted(const event *ev)
{
    if (!ev)
        return false;
    switch (ev->kind) {
    case EVENT_CHECK_RESULT:
        /* A check nobody fails is good news: design.md sends nothing. */
        return ev->failing_count > 0;
    case EVENT_COLLECTION:
        /* Manual runs are answered either way; scheduled ones only when they fail. */
        return ev->trigger == TRIGGER_MANUAL || ev->failed;
    }
    return false;
}

/* Binary search in the sorted filter: filters are short, but a tenant may
 * narrow a target to many check types. */
static bool filter_has(const route_target *t, const char *type)
{
    size_t lo = 0, hi = t->ncheck_types;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->check_types[mid], type);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

bool route_matches(const event *ev, const route_target *t)
{
    if (!ev || !t || !t->enabled || t->deleted)
        return false;
    if (!ev->tenant_id || !t->tenant_id || strcmp(ev->tenant_id, t->tenant_id) != 0)
        return false;
    if (!route_event_wanted(ev))
        return false;
    switch (ev->kind) {
    case EVENT_CHECK_RESULT:
        if (!t->use_failed_check)
            return false;
        if (t->ncheck_types == 0)
            return true;
        return ev->check_type && filter_has(t, ev->check_type);
    case EVENT_COLLECTION:
        /* The check filter narrows failed_check only: it never silences a
         * collection failure. */
        return t->use_data_collection;
    }
    return false;
}

bool route_records_pass(const event *ev, const route_target *targets, size_t ntargets)
{
    if (!ev || ev->kind != EVENT_CHECK_RESULT || ev->failing_count != 0 || !ev->check_type ||
        !*ev->check_type)
        return false;
    for (size_t i = 0; i < ntargets; i++) {
        const route_target *t = &targets[i];
        if (t->thread_repeats && t->use_failed_check && t->enabled && !t->deleted && t->tenant_id &&
            ev->tenant_id && !strcmp(t->tenant_id, ev->tenant_id))
            return true;
    }
    return false;
}

size_t route_event(const event *ev, const route_target *targets, size_t ntargets, size_t *out)
{
    size_t n = 0;
    if (!route_event_wanted(ev))
        return 0;
    for (size_t i = 0; i < ntargets; i++) {
        if (route_matches(ev, &targets[i]))
            out[n++] = i;
    }
    return n;
}
