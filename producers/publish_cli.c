/*
 * The producers' command line: `herald-checks publish [FILE]` and
 * `herald-collect publish [FILE]`, one JSON event per line, over the C API
 * in common/publish.h.
 */
#include "producers/publish_cli.h"

#include "common/config.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/publish.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Reading lines with a bounded buffer                                       */
/* ------------------------------------------------------------------------ */

/*
 * One line at a time from a file descriptor, never holding more than one
 * event's worth: the rest of an oversized line is counted and skipped. read()
 * directly (not stdio) so a SIGTERM interrupts a blocked read of a pipe.
 */
typedef struct line_reader {
    int fd;
    char chunk[64 * 1024];
    size_t clen, cpos;
    bool eof;
    char *line;   /* the line, when it fits: EVENT_MAX_BYTES plus a CR */
    size_t llen;  /* bytes kept in line */
    size_t total; /* the line's full length, kept or not */
    char last;    /* its last byte */
} line_reader;

#define LINE_CAP (EVENT_MAX_BYTES + 1)

enum { LINE_EOF = 0, LINE_OK = 1, LINE_ERROR = -1, LINE_STOPPED = -2 };

static int line_next(line_reader *r)
{
    bool any = false;
    r->llen = 0;
    r->total = 0;
    r->last = '\0';
    for (;;) {
        if (r->cpos == r->clen) {
            if (r->eof)
                return any ? LINE_OK : LINE_EOF;
            if (util_should_stop())
                return LINE_STOPPED;
            ssize_t n = read(r->fd, r->chunk, sizeof r->chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return LINE_ERROR;
            if (n == 0)
                r->eof = true;
            r->clen = (size_t)n;
            r->cpos = 0;
            continue;
        }
        any = true;
        char *start = r->chunk + r->cpos;
        size_t avail = r->clen - r->cpos;
        char *nl = memchr(start, '\n', avail);
        size_t seg = nl ? (size_t)(nl - start) : avail;
        if (r->total + seg <= LINE_CAP) {
            memcpy(r->line + r->llen, start, seg);
            r->llen += seg;
        }
        r->total += seg;
        if (seg)
            r->last = start[seg - 1];
        r->cpos += seg + (nl ? 1 : 0);
        if (nl)
            return LINE_OK;
    }
}

/* ------------------------------------------------------------------------ */
/* herald-checks / herald-collect                                            */
/* ------------------------------------------------------------------------ */

static void report_unacked(void *opaque, uint64_t tag, const char *reason)
{
    (void)opaque;
    fprintf(stderr, "line %llu: not acknowledged: %s\n", (unsigned long long)tag, reason);
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    }
    return true;
}

/*
 * Flags may come before or after the subcommand and FILE (git style), while
 * cfg_parse stops at the first positional argument: take each positional out
 * and parse again until only flags are left. Every pass applies defaults,
 * environment and all flags afresh, so the last pass holds the result. Up to
 * max positionals land in pos (*npos may exceed max: the caller complains).
 * Returns -1 to go on, or the exit status (0 after --help, 2 on a bad flag).
 */
static int parse_args(const char *prog, const char *usage, const cfg_opt *opts, size_t nopts,
                      int argc, char **argv, const char **pos, int max, int *npos)
{
    char **args = xcalloc((size_t)argc + 1, sizeof *args);
    memcpy(args, argv, (size_t)argc * sizeof *args);
    int n = argc, rc;
    *npos = 0;
    for (;;) {
        int i = 1;
        rc = cfg_parse_or_exit_code(prog, usage, opts, nopts, n, args, &i);
        if (rc >= 0 || i >= n)
            break;
        bool rest = i >= 2 && !strcmp(args[i - 1], "--"); /* all after "--" is positional */
        int take = rest ? n - i : 1;
        for (int k = 0; k < take; k++, (*npos)++) {
            if (*npos < max)
                pos[*npos] = args[i + k];
        }
        memmove(args + i, args + i + take, (size_t)(n - i - take) * sizeof *args);
        n -= take;
        if (rest)
            break;
    }
    free(args);
    return rc;
}

/* Opens FILE ("-": standard input); -1 after saying why. */
static int open_input(const char *prog, const char *path)
{
    if (!strcmp(path, "-"))
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot open '%s': %s\n", prog, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: cannot read '%s': is a directory\n", prog, path);
        close(fd);
        return -1;
    }
    return fd;
}

int publish_main(event_kind kind, int argc, char **argv)
{
    const bool coll = kind == EVENT_COLLECTION;
    const char *prog = coll ? "herald-collect" : "herald-checks";
    char usage[1024];
    snprintf(usage, sizeof usage,
             "[OPTIONS] publish|validate [FILE]\n\n"
             "publish   reads %s (%s), one JSON object per\n"
             "          line of FILE or standard input (FILE '-' or absent), publishes\n"
             "          each valid one to %s keyed by tenant_id, and waits\n"
             "          until the brokers acknowledged every one. Invalid lines are\n"
             "          reported as 'line N: <field>: <reason>' and not published.\n"
             "validate  only checks the lines, publishing nothing (needs no broker).\n\n"
             "Exit status: 0 all published (valid), 1 a line rejected or not acknowledged,\n"
             "2 usage error (bad flag or value, subcommand, unreadable FILE).",
             coll ? "collection events" : "check results", event_schema_name(kind),
             publish_topic(kind));
    log_init(prog);

    herald_common_config common;
    memset(&common, 0, sizeof common);
    long timeout_s = 30;
    event_link_config link = {0};
    cfg_opt opts[CFG_COMMON_COUNT + 1 + EVENT_LINK_OPTS];
    size_t nopts = cfg_common_select(opts, &common, CFG_USE_KAFKA);
    opts[nopts++] =
        (cfg_opt){"--timeout", "HERALD_PUBLISH_TIMEOUT",
                  CFG_INT,     "30",
                  1,           86400,
                  "SECONDS",   "how long to wait for the brokers to acknowledge every event",
                  &timeout_s};
    event_link_opts(opts + nopts, &link);
    nopts += EVENT_LINK_OPTS;

    const char *pos[3];
    int npos = 0;
    int rc = parse_args(prog, usage, opts, nopts, argc, argv, pos, 3, &npos);
    if (rc >= 0)
        return rc;
    if (npos == 0) {
        fprintf(stderr, "%s: missing subcommand: expected 'publish' or 'validate' (see --help)\n",
                prog);
        return 2;
    }
    const bool publishing = !strcmp(pos[0], "publish");
    if (!publishing && strcmp(pos[0], "validate") != 0) {
        fprintf(stderr,
                "%s: unknown subcommand '%s': expected 'publish' or 'validate' (see --help)\n",
                prog, pos[0]);
        return 2;
    }
    if (npos > 2) {
        fprintf(stderr, "%s: unexpected argument '%s' (one FILE at most)\n", prog, pos[2]);
        return 2;
    }
    char err[512];
    event_link_hosts links;
    if (event_link_hosts_init(&links, &link, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 2;
    }
    const char *path = npos > 1 ? pos[1] : "-";
    int fd = open_input(prog, path);
    if (fd < 0) {
        event_link_hosts_dispose(&links);
        return 2;
    }

    publisher *p = NULL;
    if (publishing) {
        p = publish_new(common.kafka_brokers, err, sizeof err);
        if (!p) {
            fprintf(stderr, "%s: %s\n", prog, err); /* names the bad HERALD_KAFKA_* variable */
            if (fd > 0)
                close(fd);
            event_link_hosts_dispose(&links);
            return 2;
        }
        publish_on_failure(p, report_unacked, NULL);
        publish_set_link_hosts(p, &links);
    }
    util_signals_install();

    line_reader *r = xcalloc(1, sizeof *r);
    r->fd = fd;
    r->line = xmalloc(LINE_CAP);
    uint64_t lineno = 0, valid = 0, rejected = 0, refused = 0;
    int status = 0, got;
    while ((got = line_next(r)) == LINE_OK) {
        lineno++;
        size_t n = r->llen;
        if (r->total > LINE_CAP) { /* too long to have been kept */
            fprintf(stderr, "line %llu: (event): %zu bytes exceeds the %d-byte limit\n",
                    (unsigned long long)lineno, r->total - (r->last == '\r'), EVENT_MAX_BYTES);
            rejected++;
            continue;
        }
        if (n && r->line[n - 1] == '\r')
            n--; /* CRLF files */
        if (blank(r->line, n))
            continue;
        publish_result res;
        if (publishing) {
            res = publish_line(p, kind, r->line, n, lineno, err, sizeof err);
        } else {
            event *ev = NULL;
            res = event_parse(r->line, n, kind, &ev, err, sizeof err) ||
                          event_check_link(ev, &links, err, sizeof err)
                      ? PUBLISH_INVALID
                      : PUBLISH_OK;
            event_destroy(ev);
        }
        if (res != PUBLISH_OK)
            fprintf(stderr, "line %llu: %s\n", (unsigned long long)lineno, err);
        valid += res == PUBLISH_OK;
        rejected += res == PUBLISH_INVALID;
        refused += res == PUBLISH_ERROR;
    }
    if (got == LINE_ERROR) {
        fprintf(stderr, "%s: cannot read '%s' after line %llu: %s\n", prog, path,
                (unsigned long long)lineno, strerror(errno));
        status = 2;
    } else if (got == LINE_STOPPED) {
        fprintf(stderr, "%s: stopped by a signal after line %llu; the rest was not read\n", prog,
                (unsigned long long)lineno);
        status = 1;
    }

    uint64_t unacked = 0;
    if (publishing) {
        publish_counts c;
        publish_flush(p, (int)timeout_s * 1000, &c);
        unacked = c.failed + refused;
        if (unacked)
            fprintf(stderr, "published %llu, rejected %llu, not acknowledged %llu\n",
                    (unsigned long long)c.acked, (unsigned long long)rejected,
                    (unsigned long long)unacked);
        else
            fprintf(stderr, "published %llu, rejected %llu\n", (unsigned long long)c.acked,
                    (unsigned long long)rejected);
        publish_destroy(p);
    } else {
        fprintf(stderr, "valid %llu, rejected %llu\n", (unsigned long long)valid,
                (unsigned long long)rejected);
    }
    if (!status && (rejected || unacked))
        status = 1;

    free(r->line);
    free(r);
    if (fd > 0)
        close(fd);
    event_link_hosts_dispose(&links);
    return status;
}
