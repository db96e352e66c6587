#ifndef HERALD_EVENT_H
#define HERALD_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The event contract of design.md (schema/events/<kind>.schema.json): parsing and
 * validation of check results and collection events, and the routed delivery
 * the router hands to the sender.
 */

#define EVENT_MAX_BYTES        (256 * 1024) /* larger events are rejected as oversized */
#define EVENT_MAX_SAMPLE_USERS 100          /* failing_users is a sample of at most this */
#define EVENT_MAX_STATS        64           /* entries in a collection's stats object */
/* Identifiers (tenant_id, check.type, integration.kind, team_id) are 1 to this many
 * characters of A-Z a-z 0-9 . _ : -  (safe as Kafka keys, filter names and in logs). */
#define EVENT_MAX_IDENTIFIER 128
#define EVENT_MAX_URL        2048 /* check.url: an http(s) URL of at most this many bytes */
/* A routed delivery is the event plus a small envelope. */
#define ROUTED_DELIVERY_MAX_BYTES (EVENT_MAX_BYTES + 4096)

#define SCHEMA_CHECK_RESULT     "herald.check_result.v1"
#define SCHEMA_COLLECTION_EVENT "herald.collection_event.v1"
#define SCHEMA_ROUTED_DELIVERY  "herald.routed_delivery.v1"

typedef enum event_kind { EVENT_CHECK_RESULT = 0, EVENT_COLLECTION = 1 } event_kind;
typedef enum event_trigger { TRIGGER_MANUAL = 0, TRIGGER_SCHEDULED = 1 } event_trigger;
typedef enum event_severity { SEV_LOW = 0, SEV_MEDIUM, SEV_HIGH, SEV_CRITICAL } event_severity;

typedef struct event_user {
    char *id;           /* required */
    char *display_name; /* may be NULL */
    char *email;        /* may be NULL */
} event_user;

typedef struct event_stat {
    char *name; /* e.g. "users" */
    int64_t value;
} event_stat;

/* A parsed, validated event. Strings are owned by the event. */
typedef struct event {
    event_kind kind;
    char event_id[37];
    char *tenant_id;
    event_trigger trigger;

    /* check result (kind == EVENT_CHECK_RESULT) */
    char run_id[37];
    char *check_type;
    char *check_name;
    event_severity severity;
    char *check_url; /* may be NULL */
    int64_t evaluated_at_ms;
    int64_t failing_count;
    int64_t total_count;
    event_user *users; /* the sample, nusers <= EVENT_MAX_SAMPLE_USERS */
    size_t nusers;

    /* collection event (kind == EVENT_COLLECTION) */
    char *integration_id;
    char *integration_name;
    char *integration_kind;
    bool failed; /* status == "failed" */
    int64_t started_at_ms;
    int64_t finished_at_ms;
    event_stat *stats; /* may be empty */
    size_t nstats;
    char *error_code;    /* may be NULL; present when failed */
    char *error_message; /* may be NULL */
} event;

/*
 * Parses and validates one event of the given kind from len bytes (not
 * necessarily NUL-terminated). Unknown fields are ignored. On failure returns
 * -1 with errstr "<field>: <reason>" (e.g. "check.severity: must be one of
 * low, medium, high, critical"; "(event): not valid JSON"; "(event): 300000
 * bytes exceeds the 262144-byte limit") and *out untouched.
 */
int event_parse(const char *buf, size_t len, event_kind kind, event **out, char *errstr,
                size_t errstr_size);

/* Parses an event whose kind is told by its "schema" field. */
int event_parse_any(const char *buf, size_t len, event **out, char *errstr, size_t errstr_size);

void event_destroy(event *ev);

const char *event_kind_name(event_kind k);         /* "check_result", "collection_event" */
const char *event_trigger_name(event_trigger t);   /* "manual", "scheduled" */
const char *event_severity_name(event_severity s); /* "low", ... */

/* Parses RFC 3339 "2026-11-28T09:00:00Z" / "...09:00:00.123+02:00" to epoch ms. */
bool event_parse_time(const char *s, int64_t *out_ms);

/* Added by the events module (additions only; nothing above changed): */

#define EVENT_TIME_LEN 32
/* Formats epoch ms as RFC 3339 UTC with milliseconds: "2026-11-28T09:00:00.000Z". */
void event_format_time(int64_t ms, char out[EVENT_TIME_LEN]);
/* SCHEMA_CHECK_RESULT or SCHEMA_COLLECTION_EVENT. */
const char *event_schema_name(event_kind k);
/* True when s is an identifier as defined at EVENT_MAX_IDENTIFIER. */
bool event_is_identifier(const char *s);

/*
 * A routed delivery: one (event, target) pair, published by the router to
 * herald.deliveries.slack.v1 keyed by team_id. Carries the original event so
 * the sender needs no lookup to render it.
 */
typedef enum routed_delivery_kind { ROUTED_NOTIFY = 0, ROUTED_RESOLVE } routed_delivery_kind;

typedef struct routed_delivery {
    int64_t delivery_id; /* deliveries.id */
    char event_id[37];
    int64_t target_id;
    char *tenant_id;
    char *team_id;
    char *destination; /* channel id, #name, or email */
    bool destination_is_email;
    event_kind kind;
    char *event_json; /* the original event bytes, NUL-terminated */
    int64_t routed_at_ms;
    /* Optional on the wire ("delivery_kind", absent = notify): a resolve is the
     * passing result that edits the notification of ref_event_id (same target). */
    routed_delivery_kind delivery_kind;
    char ref_event_id[37]; /* "" unless a resolve */
} routed_delivery;

/* Serialises d as schema herald.routed_delivery.v1; returns a malloc'd string. */
char *routed_delivery_encode(const routed_delivery *d);
/* Parses and validates; on failure -1 with errstr "<field>: <reason>". */
int routed_delivery_decode(const char *buf, size_t len, routed_delivery **out, char *errstr,
                           size_t errstr_size);
void routed_delivery_destroy(routed_delivery *d);
/* Parses and validates the event a decoded delivery carries (kind d->kind):
 * what the sender renders. Same errors as event_parse. */
int routed_delivery_event(const routed_delivery *d, event **out, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------------------ */
/* Link hosts (issue 11): where check.url may point                          */
/* ------------------------------------------------------------------------ */

/*
 * check.url becomes a "View in Herald" button in Slack, so a producer could
 * otherwise turn it into a phishing link. The router and the producers check
 * each event's URL host against an allow-list after parsing
 * (event_check_link): HERALD_LINK_HOSTS (--link-hosts), comma-separated host
 * names, "*.acme.example" for every subdomain of acme.example, "*" for any
 * host; set but empty: no event may carry a link. Unset, it defaults to the
 * host of HERALD_CONSOLE_URL, else of HERALD_PUBLIC_URL; with none of the
 * three set every http(s) URL is accepted (as before issue 11).
 */
typedef struct event_link_hosts {
    bool any;     /* no restriction */
    char **hosts; /* lower case */
    size_t n;
    char *text; /* the list as shown in errors: "herald.acme.example, *.acme.example" */
} event_link_hosts;

/* Where the list comes from: strings point into argv/environ (cfg_parse). */
typedef struct event_link_config {
    char *link_hosts;  /* --link-hosts / HERALD_LINK_HOSTS; NULL: unset */
    char *console_url; /* HERALD_CONSOLE_URL; NULL: unset */
    char *public_url;  /* HERALD_PUBLIC_URL; NULL: unset */
} event_link_config;

#define EVENT_LINK_OPTS 3
struct cfg_opt;
/* Writes the EVENT_LINK_OPTS options above into out (a program's table). */
void event_link_opts(struct cfg_opt *out, event_link_config *c);

/* Builds the allow-list from c (rules above). 0, or -1 with errstr naming
 * the variable and the bad value (a usage error). */
int event_link_hosts_init(event_link_hosts *lh, const event_link_config *c, char *errstr,
                          size_t errstr_size);
void event_link_hosts_dispose(event_link_hosts *lh);

/* The host of an http(s) URL, lower case, without user info, port or a
 * trailing dot. False when there is none or it does not fit. */
bool event_url_host(const char *url, char *host, size_t host_size);

/* 0 when ev has no check.url or its host is allowed by lh (NULL: any);
 * else -1 with errstr "check.url: host 'evil.example' is not in
 * HERALD_LINK_HOSTS (herald.acme.example)". */
int event_check_link(const event *ev, const event_link_hosts *lh, char *errstr, size_t errstr_size);

#endif
