#ifndef HERALD_LOG_H
#define HERALD_LOG_H

#include <stdbool.h>

/* Levels in increasing severity; HERALD_LOG_LEVEL picks the threshold. */
typedef enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR
} log_level;

/* The threshold; read directly by the macros so a filtered-out line costs a compare. */
extern log_level log_threshold;

/* Sets the program name printed on every line (not copied: pass a literal). */
void log_init(const char *program);
/* Parses "debug", "info", "warn", "error"; returns false on anything else. */
bool log_level_parse(const char *s, log_level *out);
void log_set_level(log_level level);

/* One line to stderr: "2026-11-29T08:40:00.123Z INFO herald-router: ...".
 * Never pass a secret (token, client secret, OAuth code) to it. */
void log_write(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_AT(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) >= log_threshold)                                                                \
            log_write((lvl), __VA_ARGS__);                                                         \
    } while (0)
#define LOG_DEBUG(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define LOG_INFO(...)  LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_WARN(...)  LOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_ERROR(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
