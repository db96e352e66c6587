/*
 * libFuzzer target: the routed-delivery envelope between router and sender
 * (common/event.c): routed_delivery_decode on arbitrary bytes, then
 * routed_delivery_event on what it decoded (the event the sender renders).
 * A decoded delivery must survive routed_delivery_encode and decode again
 * unchanged (the router encodes, the sender decodes), event bytes included.
 */
#include "tests/fuzz/fuzz.h"

#include "common/event.h"

#include <stdio.h>

static void same_or_abort(const routed_delivery *a, const routed_delivery *b)
{
    if (a->delivery_id != b->delivery_id || a->target_id != b->target_id ||
        strcmp(a->event_id, b->event_id) != 0 || strcmp(a->tenant_id, b->tenant_id) != 0 ||
        strcmp(a->team_id, b->team_id) != 0 || strcmp(a->destination, b->destination) != 0 ||
        a->destination_is_email != b->destination_is_email || a->kind != b->kind ||
        a->delivery_kind != b->delivery_kind || strcmp(a->ref_event_id, b->ref_event_id) != 0 ||
        strcmp(a->event_json, b->event_json) != 0) {
        fprintf(stderr, "delivery changed across encode/decode\n");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    routed_delivery *d = NULL;
    if (routed_delivery_decode((const char *)data, size, &d, err, sizeof err) != 0) {
        if (!err[0])
            abort();
        return 0;
    }
    if (!d->event_json || !d->tenant_id || !d->team_id || !d->destination)
        abort();
    event *ev = NULL;
    if (routed_delivery_event(d, &ev, err, sizeof err) == 0) {
        if (ev->kind != d->kind)
            abort();
        event_destroy(ev);
    }
    /* routed_at is kept in ms; encode formats it, so compare after one trip. */
    char *s = routed_delivery_encode(d);
    if (!s) {
        fprintf(stderr, "a decoded delivery does not encode\n");
        abort();
    }
    routed_delivery *d2 = NULL;
    if (routed_delivery_decode(s, strlen(s), &d2, err, sizeof err) != 0) {
        fprintf(stderr, "re-encoded delivery refused: %s\n%s\n", err, s);
        abort();
    }
    same_or_abort(d, d2);
    if (d->routed_at_ms != d2->routed_at_ms)
        abort();
    routed_delivery_destroy(d2);
    free(s);
    routed_delivery_destroy(d);
    return 0;
}
