#ifndef HERALD_STORE_VALIDATION_H
#define HERALD_STORE_VALIDATION_H

/*
 * Validation of what a target is made of, also used by the CLI and the API
 * before they call: destinations (channel id, #channel, email), uses, check
 * filters, severity floor and repeat policy. No database.
 */

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_USE_FAILED_CHECK    0x1u
#define STORE_USE_DATA_COLLECTION 0x2u

#define STORE_MAX_NAME        200
#define STORE_MAX_DESCRIPTION 2000
#define STORE_MAX_CHECK_TYPE  128
#define STORE_MAX_CHECKS      500

typedef enum store_dest_kind {
    STORE_DEST_CHANNEL_ID = 0, /* C0123ABC / G0123ABC */
    STORE_DEST_CHANNEL_NAME,   /* #sec-alerts */
    STORE_DEST_EMAIL           /* someone@example.com: a direct message to that member */
} store_dest_kind;

/* "channel_id", "channel_name", "email". */
const char *store_dest_kind_name(store_dest_kind k);

/* Classifies a destination; STORE_INVALID "destination: 'x' is not a channel id,
 * #channel or email address" otherwise. */
store_status store_destination_parse(const char *dest, store_dest_kind *kind, char *errstr,
                                     size_t errstr_size) STORE_MUST_CHECK;

/* "failed_check", "data_collection" or both, comma-separated (spaces around
 * items allowed); STORE_INVALID with field "uses" otherwise. */
store_status store_uses_parse(const char *csv, unsigned *uses, char *errstr,
                              size_t errstr_size) STORE_MUST_CHECK;

/* "failed_check", "data_collection" or "failed_check,data_collection" into buf. */
const char *store_uses_format(unsigned uses, char *buf, size_t buf_size);

/* Splits "type1,type2" into a sorted, de-duplicated vector of check types
 * (letters, digits, _ . : -); field "checks". Free with store_strv_destroy. */
store_status store_checks_parse(const char *csv, char ***checks, size_t *n, char *errstr,
                                size_t errstr_size) STORE_MUST_CHECK;
void store_strv_destroy(char **v, size_t n);

/* A check type as events carry it: 1 to STORE_MAX_CHECK_TYPE letters, digits, _ . : - */
bool store_is_check_type(const char *s);

/* ---- what a target wants to hear (migration 010) */

/* A repeat interval's bounds in seconds (targets_repeat_interval_check). */
#define STORE_REPEAT_MIN_S 60
#define STORE_REPEAT_MAX_S 2592000

/* "low", "medium", "high", "critical"; STORE_INVALID "min_severity: 'x': expected low,
 * medium, high or critical" otherwise. */
store_status store_min_severity_check(const char *v, char *errstr,
                                      size_t errstr_size) STORE_MUST_CHECK;

/* "every", "on_change", "interval"; STORE_INVALID with field repeat_policy otherwise. */
store_status store_repeat_policy_check(const char *v, char *errstr,
                                       size_t errstr_size) STORE_MUST_CHECK;

/* seconds within STORE_REPEAT_MIN_S..STORE_REPEAT_MAX_S; STORE_INVALID with field
 * repeat_interval_seconds ("at least 1m") otherwise. */
store_status store_repeat_interval_check(int64_t seconds, char *errstr,
                                         size_t errstr_size) STORE_MUST_CHECK;

/*
 * The repeat policy and interval a target ends up with: policy (NULL: not
 * given) and interval_s (0: not given) applied over the current ones
 * (cur_policy, cur_interval_s; a new target: "every", 0). An interval alone
 * implies the policy interval; the policy interval keeps the current interval
 * or needs one; another policy drops it (*out_interval_s 0). Fields
 * repeat_policy, repeat_interval_seconds.
 */
store_status store_repeat_resolve(const char *policy, int64_t interval_s, const char *cur_policy,
                                  int64_t cur_interval_s, const char **out_policy,
                                  int64_t *out_interval_s, char *errstr,
                                  size_t errstr_size) STORE_MUST_CHECK;

/* A whole number of seconds as people write it: "4h", "90m", "1d", "45s". */
const char *store_duration_text(int64_t seconds, char *buf, size_t size);

#endif
