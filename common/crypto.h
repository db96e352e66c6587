#ifndef HERALD_CRYPTO_H
#define HERALD_CRYPTO_H

#include "common/config.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * Secrets at rest (bot and refresh tokens): AES-256-GCM (OpenSSL EVP) with
 * the 32-byte key from HERALD_SECRET_KEY (base64). Two sealed forms, stored
 * as bytea:
 *   v2: 0x02 || key id (4) || nonce (12) || ciphertext || tag (16), with the
 *       associated data "herald:v2:<table>.<column>:<row key>", so a value
 *       copied into another row or column does not open; the key id (the
 *       first 4 bytes of SHA-256 of the key) says which key sealed it.
 *   v1: nonce (12) || ciphertext || tag (16), no associated data: what Herald
 *       wrote before issue 11; still read until re-sealed (heraldctl secrets
 *       rotate, heraldctl migrate).
 * Error messages never contain a key or a plaintext.
 */
#define CRYPTO_KEY_LEN    32
#define CRYPTO_KEY_ID_LEN 4
#define CRYPTO_V2         0x02

/*
 * The keys a program holds: the current one seals and opens, the previous
 * one (during a rotation) only opens. Loaded by crypto_keyring_load in
 * every program that reads secrets; never printed.
 */
typedef struct crypto_keyring {
    unsigned char current[CRYPTO_KEY_LEN];
    unsigned char previous[CRYPTO_KEY_LEN];
    bool has_previous;
} crypto_keyring;

/*
 * Reads the keyring from the common configuration: HERALD_SECRET_KEY or
 * HERALD_SECRET_KEY_FILE (required), HERALD_SECRET_KEY_PREVIOUS or
 * HERALD_SECRET_KEY_PREVIOUS_FILE (optional). 0, or -1 with one line naming
 * the variable at fault (both of a pair set, not set, bad base64 or length,
 * unreadable file), never a key.
 */
int crypto_keyring_load(crypto_keyring *ring, const herald_common_config *cfg, char *errstr,
                        size_t errstr_size);

/* A keyring of raw keys (tests, benches); previous may be NULL. */
void crypto_keyring_set(crypto_keyring *ring, const unsigned char current[CRYPTO_KEY_LEN],
                        const unsigned char *previous);

/* The key id of a key: the first 4 bytes of its SHA-256, as 8 hex digits
 * (out: 9 bytes), safe to print. */
void crypto_key_id_hex(const unsigned char key[CRYPTO_KEY_LEN],
                       char out[2 * CRYPTO_KEY_ID_LEN + 1]);

/* How a value opened by crypto_open_bound was sealed. */
typedef enum crypto_seal_state {
    CRYPTO_CURRENT = 0, /* v2 under the current key: nothing to do */
    CRYPTO_STALE        /* v1, or v2 under the previous key: re-seal it */
} crypto_seal_state;

/*
 * Seals len bytes in the v2 form under ring's current key, bound to column
 * ("workspaces.token_enc": table.column) and row (the row key: a team id).
 * *out (malloc'd, caller wipes and frees) gets the sealed form. 0 or -1.
 */
int crypto_seal_bound(const crypto_keyring *ring, const char *column, const char *row,
                      const char *plain, size_t len, unsigned char **out, size_t *out_len);

/*
 * Opens a value sealed for (column, row): v2 under the current or previous
 * key, else the v1 form under either. *plain is malloc'd and NUL-terminated;
 * *state (may be NULL) tells whether it needs re-sealing. 0, or -1 with a
 * line in errstr naming the variables to check (never a key or plaintext).
 */
int crypto_open_bound(const crypto_keyring *ring, const char *column, const char *row,
                      const unsigned char *sealed, size_t len, char **plain,
                      crypto_seal_state *state, char *errstr, size_t errstr_size);

/* Decodes HERALD_SECRET_KEY; fails unless it is base64 of exactly 32 bytes.
 * Returns 0 or -1 with errstr naming HERALD_SECRET_KEY (never its value). */
int crypto_key_from_base64(const char *b64, unsigned char key[CRYPTO_KEY_LEN], char *errstr,
                           size_t errstr_size);

/* The v1 form (no key id, no associated data): what Herald wrote before
 * issue 11, kept for tests that store such rows and for the fallback.
 * Encrypts len bytes; *out (malloc'd, caller frees) gets the sealed form. 0 or -1. */
int crypto_seal(const unsigned char key[CRYPTO_KEY_LEN], const char *plain, size_t len,
                unsigned char **out, size_t *out_len);

/* Decrypts and authenticates; *plain is malloc'd and NUL-terminated. 0, or -1
 * with errstr ("wrong HERALD_SECRET_KEY or corrupted token"). */
int crypto_open(const unsigned char key[CRYPTO_KEY_LEN], const unsigned char *sealed, size_t len,
                char **plain, char *errstr, size_t errstr_size);

/* Overwrites n bytes in a way the compiler may not elide (OPENSSL_cleanse). */
void crypto_wipe(void *p, size_t n);

/* Wipes and frees a NUL-terminated secret (a token, a client secret, a
 * session or sign-in token) that the caller owns; NULL does nothing. The one
 * way a secret string leaves memory. */
void crypto_free_secret(char *secret);

#endif
