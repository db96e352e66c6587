#include "workers/router/route.h"

#include <stdio.h>
#include <stdlib.h>
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
    return route_event_wanted(ev) && route_concerns(ev, t);
}

bool route_concerns(const event *ev, const route_target *t)
{
    if (!ev || !t || !t->enabled || t->deleted)
        return false;
    if (!ev->tenant_id || !t->tenant_id || strcmp(ev->tenant_id, t->tenant_id) != 0)
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

int route_repeat_policy_parse(const char *s)
{
    if (s && !strcmp(s, "on_change"))
        return ROUTE_REPEAT_ON_CHANGE;
    if (s && !strcmp(s, "interval"))
        return ROUTE_REPEAT_INTERVAL;
    return ROUTE_REPEAT_EVERY;
}

const char *route_suppress_code(route_suppress s)
{
    static const char *const codes[ROUTE_SUPPRESS_COUNT] = {"", "below_min_severity", "silenced",
                                                            "repeat_on_change", "repeat_interval"};
    return (unsigned)s < ROUTE_SUPPRESS_COUNT ? codes[s] : "";
}

bool route_alert_key(const event *ev, char *out, size_t out_size)
{
    const char *id = ev->kind == EVENT_CHECK_RESULT ? ev->check_type : ev->integration_id;
    if (!id || !*id)
        return false;
    int n = snprintf(out, out_size, "%s:%s",
                     ev->kind == EVENT_CHECK_RESULT ? "check" : "collection", id);
    return n > 0 && (size_t)n < out_size;
}

int64_t route_event_time_ms(const event *ev)
{
    return ev->kind == EVENT_CHECK_RESULT ? ev->evaluated_at_ms : ev->finished_at_ms;
}

bool route_event_passes(const event *ev)
{
    return ev->kind == EVENT_CHECK_RESULT ? ev->failing_count == 0 : !ev->failed;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

uint64_t route_users_hash(const event *ev)
{
    uint64_t h = 14695981039346656037ULL;
    int64_t fc = ev->kind == EVENT_CHECK_RESULT ? ev->failing_count : 0;
    unsigned char be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (unsigned char)((uint64_t)fc >> (56 - 8 * i));
    h = fnv1a(h, be, sizeof be);
    if (ev->kind != EVENT_CHECK_RESULT || ev->nusers == 0)
        return h;
    /* The sample's order is the producer's: sort so a reordering is no change. */
    const char *ids[EVENT_MAX_SAMPLE_USERS];
    size_t n = 0;
    for (size_t i = 0; i < ev->nusers && n < EVENT_MAX_SAMPLE_USERS; i++)
        ids[n++] = ev->users[i].id ? ev->users[i].id : "";
    qsort(ids, n, sizeof *ids, cmp_str);
    for (size_t i = 0; i < n; i++)
        h = fnv1a(h, ids[i], strlen(ids[i]) + 1); /* the NUL separates ids */
    return h;
}

bool route_below_floor(const event *ev, const route_target *t)
{
    return ev->kind == EVENT_CHECK_RESULT && ev->severity < t->min_severity;
}

route_suppress route_repeat_decide(const route_target *t, const route_alert *st, const event *ev,
                                   int64_t ev_ms, uint64_t h)
{
    if (!st || !st->firing || ev_ms < st->last_result_ms || !st->last_notified_ms)
        return ROUTE_SUPPRESS_NONE;
    int64_t fc = ev->kind == EVENT_CHECK_RESULT ? ev->failing_count : 0;
    switch (t->repeat_policy) {
    case ROUTE_REPEAT_ON_CHANGE:
        /* Threads on: the sender posts the unchanged run as a reply. */
        if (!t->thread_repeats && st->users_hash == h && st->failing_count == fc)
            return ROUTE_SUPPRESS_ON_CHANGE;
        return ROUTE_SUPPRESS_NONE;
    case ROUTE_REPEAT_INTERVAL:
        if (t->repeat_interval_ms > 0 && ev_ms < st->last_notified_ms + t->repeat_interval_ms)
            return ROUTE_SUPPRESS_INTERVAL;
        return ROUTE_SUPPRESS_NONE;
    }
    return ROUTE_SUPPRESS_NONE;
}

bool route_alert_fail(route_alert *st, bool exists, const char *eid, int64_t ev_ms, uint64_t h,
                      int64_t failing_count, bool routed)
{
    if (exists && ev_ms < st->last_result_ms)
        return false;
    if (!exists || !st->firing) {
        /* a new streak: nothing of it was said yet */
        memset(st, 0, sizeof *st);
        st->firing = true;
        st->since_ms = ev_ms;
    }
    st->last_result_ms = ev_ms;
    if (routed) {
        snprintf(st->last_event_id, sizeof st->last_event_id, "%s", eid);
        st->last_notified_ms = ev_ms;
        st->users_hash = h;
        st->failing_count = failing_count;
    }
    return true;
}

bool route_alert_pass(route_alert *st, bool exists, const char *eid, int64_t ev_ms,
                      const char **ref)
{
    *ref = "";
    /* A pass of an alert that is not firing changes nothing worth a write. */
    if (!exists || !st->firing || ev_ms < st->last_result_ms)
        return false;
    st->firing = false;
    st->last_result_ms = ev_ms;
    snprintf(st->resolved_event_id, sizeof st->resolved_event_id, "%s", eid);
    st->resolved_ms = ev_ms;
    *ref = st->last_event_id;
    return true;
}

bool route_silence_matches(const route_silence *sil, const event *ev, const route_target *t,
                           int64_t now_ms)
{
    if (now_ms < sil->starts_ms || (sil->ends_ms && now_ms >= sil->ends_ms))
        return false;
    if (sil->check_type && (ev->kind != EVENT_CHECK_RESULT || !ev->check_type ||
                            strcmp(sil->check_type, ev->check_type) != 0))
        return false;
    if (sil->target_id && sil->target_id != t->id)
        return false;
    if (sil->team_id && (!t->team_id || strcmp(sil->team_id, t->team_id) != 0))
        return false;
    return true;
}

/* "4h", "90m", "2d", "75s": the largest unit that divides the interval. */
static void format_interval(int64_t ms, char *out, size_t n)
{
    int64_t s = ms / 1000;
    if (s > 0 && s % 86400 == 0)
        snprintf(out, n, "%lldd", (long long)(s / 86400));
    else if (s > 0 && s % 3600 == 0)
        snprintf(out, n, "%lldh", (long long)(s / 3600));
    else if (s > 0 && s % 60 == 0)
        snprintf(out, n, "%lldm", (long long)(s / 60));
    else
        snprintf(out, n, "%llds", (long long)s);
}

void route_suppress_text(route_suppress why, const event *ev, const route_target *t,
                         const route_alert *st, const route_silence *sil, char *out,
                         size_t out_size)
{
    char at[EVENT_TIME_LEN] = "";
    if (st && st->last_notified_ms)
        event_format_time(st->last_notified_ms, at);
    switch (why) {
    case ROUTE_SUPPRESS_FLOOR:
        snprintf(out, out_size, "severity %s is below the target's floor %s",
                 event_severity_name(ev->severity), event_severity_name(t->min_severity));
        return;
    case ROUTE_SUPPRESS_SILENCED:
        snprintf(out, out_size, "silence %lld (%s): %s", sil ? (long long)sil->id : 0LL,
                 sil ? sil->author : "", sil ? sil->reason : "");
        return;
    case ROUTE_SUPPRESS_ON_CHANGE:
        snprintf(out, out_size, "same %lld failing users as the message of %s",
                 (long long)(ev->kind == EVENT_CHECK_RESULT ? ev->failing_count : 0), at);
        return;
    case ROUTE_SUPPRESS_INTERVAL: {
        char every[32];
        format_interval(t->repeat_interval_ms, every, sizeof every);
        snprintf(out, out_size, "notified %s; repeat every %s", at, every);
        return;
    }
    case ROUTE_SUPPRESS_NONE:
    case ROUTE_SUPPRESS_COUNT:
        break;
    }
    if (out_size)
        out[0] = '\0';
}
