#ifndef HERALD_UTF8_H
#define HERALD_UTF8_H

/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800..DFFF),
 * nothing past U+10FFFF. One decoder for everything that must not pass bad
 * bytes on: event validation, Slack rendering, the HTTP edge (a byte
 * PostgreSQL refuses must be a 400, not a database error), the fake Slack.
 *
 * Pure functions, no state: any thread.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the sequence at s, which has avail readable bytes: returns its
 * length (1..4) with *cp set, or 0 when it is not valid UTF-8 (truncated
 * included). Reads no byte past the first that does not fit, so a
 * NUL-terminated string may be passed with avail = SIZE_MAX. */
size_t utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp);

/* True when the len bytes at s are valid UTF-8 (NUL bytes count as valid
 * characters here); otherwise false with *bad_at (may be NULL) set to the
 * offset of the first bad sequence. */
bool utf8_valid(const char *s, size_t len, size_t *bad_at);

/* utf8_valid for a NUL-terminated string; NULL is valid. */
bool utf8_valid_str(const char *s);

/* True for the code points that must not reach a terminal, a log line or a
 * reader as they are: C0 and C1 controls and DEL (escape sequences; U+009B is
 * a CSI on some terminals, a newline would forge a log line), and the
 * bidirectional overrides and isolates, which reorder what is shown after them
 * ("trojan source"). */
bool utf8_unsafe(uint32_t cp);

/* True for the invisible bidirectional formatting characters: the embeddings
 * and overrides (U+202A..202E), the isolates (U+2066..2069) and the marks
 * U+200E, U+200F and U+061C. Text shown to a reader (a Slack message) drops
 * them: they reorder or hide what follows without being seen themselves. */
bool utf8_bidi_control(uint32_t cp);

/*
 * The one text sanitiser, for user or request text shown on one line of a
 * terminal, a log or an error message (never for secrets): copies s (NULL as
 * "") into buf of size bytes, each invalid byte and each utf8_unsafe
 * character replaced by one '?'. At most max_chars characters (0: no limit;
 * a cut is marked "..." when it fits); never cuts inside a UTF-8 sequence.
 * Always NUL-terminates when size > 0. Returns buf.
 */
const char *utf8_safe(const char *s, size_t max_chars, char *buf, size_t size);

#endif
