#ifndef HERALD_CRYPTO_H
#define HERALD_CRYPTO_H

#include <stddef.h>

/*
 * Bot tokens at rest: AES-256-GCM (OpenSSL EVP) with the 32-byte key from
 * HERALD_SECRET_KEY (base64). Sealed form: 12-byte random nonce || ciphertext
 * || 16-byte tag, stored as bytea. Error messages never contain key or
 * plaintext.
 */
#define CRYPTO_KEY_LEN 32

/* Decodes HERALD_SECRET_KEY; fails unless it is base64 of exactly 32 bytes.
 * Returns 0 or -1 with errstr naming HERALD_SECRET_KEY (never its value). */
int crypto_key_from_base64(const char *b64, unsigned char key[CRYPTO_KEY_LEN], char *errstr,
                           size_t errstr_size);

/* Encrypts len bytes; *out (malloc'd, caller frees) gets the sealed form. 0 or -1. */
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
