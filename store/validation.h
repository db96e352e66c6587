#ifndef HERALD_STORE_VALIDATION_H
#define HERALD_STORE_VALIDATION_H

/*
 * Validation of what a target is made of, also used by the CLI and the API
 * before they call: destinations (channel id, #channel, email), uses and
 * check filters. No database.
 */

#include "store/store.h"

#include <stddef.h>

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

#endif
