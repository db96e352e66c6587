#ifndef HERALD_UTIL_H
#define HERALD_UTIL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HERALD_MUSTCHECK __attribute__((warn_unused_result))
#define ARRAY_LEN(a)     (sizeof(a) / sizeof((a)[0]))

/* Milliseconds on CLOCK_MONOTONIC (for pacing and timeouts). */
int64_t util_now_mono_ms(void);
/* Milliseconds since the Unix epoch (wall clock). */
int64_t util_now_wall_ms(void);

/* Fills buf (>= 37 bytes) with a random version-4 UUID in lowercase text. */
void util_uuid4(char buf[37]);
/* True when s is a UUID in canonical 8-4-4-4-12 hex form. */
bool util_is_uuid(const char *s);

/* malloc-or-die helpers: out of memory is not a state a worker can continue from. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/*
 * Shutdown signalling: the handlers only set a flag. The first SIGTERM/SIGINT
 * asks the main loop to drain and exit; a second one exits at once (status
 * 130). SIGPIPE is ignored (libcurl and libpq sockets).
 */
void util_signals_install(void);
extern volatile sig_atomic_t util_stop_requested;
static inline bool util_should_stop(void)
{
    return util_stop_requested != 0;
}

#endif
