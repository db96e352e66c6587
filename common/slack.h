#ifndef HERALD_SLACK_H
#define HERALD_SLACK_H

/*
 * Slack Web API client over libcurl (facts in shared/slack-api.md).
 *
 * One request is one slack_request: build it, then either
 *   - run it blocking with slack_request_perform(), or
 *   - add slack_request_easy(req) to a curl multi handle, and when the multi
 *     reports it done (CURLMSG_DONE), call slack_request_result(req, code, &res).
 * slack_request_from_easy() finds the request back from the CURL * a multi
 * handle reports (CURLOPT_PRIVATE is reserved for it; use slack_request_set_user
 * for your own pointer).
 *
 * Every answer is classified into a slack_class that says what to do:
 * retry after Retry-After, retry with backoff, or fail (and why).
 *
 * Secrets: the bot token goes only into the Authorization header and client
 * secrets only into HTTP Basic auth; neither is ever logged, put in a URL or
 * copied into a slack_result. @locality: a request is used by one thread at a
 * time; different requests may run on different threads.
 */

#include <cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLACK_DEFAULT_API_BASE           "https://slack.com/api"
#define SLACK_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define SLACK_DEFAULT_TIMEOUT_MS         15000
#define SLACK_MAX_RESPONSE_BYTES         (8 * 1024 * 1024) /* bigger answers are cut off */

/* What an outcome means for the caller (table in slack-api.md). */
typedef enum slack_class {
    SLACK_OK = 0,
    SLACK_RATE_LIMITED,     /* wait retry_after_ms for that scope, then retry */
    SLACK_TRANSIENT,        /* retry with exponential backoff and jitter */
    SLACK_INSTALLATION,     /* permanent: the workspace's token is unusable until reinstalled */
    SLACK_DESTINATION,      /* permanent: the target's channel/person cannot receive */
    SLACK_PAYLOAD,          /* permanent: our message was malformed (a rendering bug) */
    SLACK_UNKNOWN_PERMANENT /* permanent: anything else, code recorded verbatim */
} slack_class;

/* "ok", "rate_limited", "transient", "installation", "destination", "payload", "permanent". */
const char *slack_class_name(slack_class c);
/* True for SLACK_RATE_LIMITED and SLACK_TRANSIENT. */
bool slack_class_is_retriable(slack_class c);

/* The class of a Slack error code ("not_in_channel" -> SLACK_DESTINATION); NULL or
 * "" -> SLACK_UNKNOWN_PERMANENT; codes not in the table -> SLACK_UNKNOWN_PERMANENT. */
slack_class slack_error_classify(const char *code);

/*
 * The outcome of one call. Initialise with slack_result_init (or = {0}) and
 * release with slack_result_dispose. Fields not given by the method are "".
 */
typedef struct slack_result {
    bool ok;            /* Slack said "ok": true */
    slack_class cls;    /* SLACK_OK when ok */
    long http_status;   /* 0 when no HTTP answer arrived */
    char error[64];     /* Slack's code, or "http_503", "timeout", "connection_failed",
                           "connection_closed", "invalid_response", "response_too_large" */
    char reason[256];   /* readable, for administrators; "" when ok */
    int retry_after_ms; /* RATE_LIMITED: Retry-After (missing: 1 s + jitter); else a
                           server hint if any, 0 otherwise */
    char warning[256];  /* "warning" and response_metadata.warnings, comma-joined */

    /* Parsed from the answer, where the method returns them: */
    char channel[64];       /* chat.postMessage channel; conversations.info/open channel.id */
    char ts[64];            /* chat.postMessage ts */
    char user_id[64];       /* users.lookupByEmail user.id; auth.test user_id */
    char team_id[64];       /* auth.test team_id; oauth.v2.access team.id */
    char team[256];         /* auth.test team; oauth.v2.access team.name */
    char bot_id[64];        /* auth.test bot_id */
    char bot_user_id[64];   /* oauth.v2.access bot_user_id */
    char scope[512];        /* oauth.v2.access scope */
    char channel_name[256]; /* conversations.info channel.name */
    int is_private;         /* conversations.info: 1/0, -1 when not given */
    int is_archived;        /* idem */
    int is_member;          /* idem */
    char next_cursor[512];  /* conversations.list response_metadata.next_cursor */
    long expires_in;        /* oauth.v2.access with token rotation: seconds the access token
                               lives (a positive whole number), 0 when not given */

    cJSON *json; /* the whole answer (NULL when not JSON); owned, freed by dispose.
                    May hold secrets (oauth access_token): never log it. */
} slack_result;

void slack_result_init(slack_result *r);
/* Frees r->json; r can be reused after slack_result_init. NULL-safe. */
void slack_result_dispose(slack_result *r);

/* oauth.v2.access: the bot token inside r->json, or NULL. Owned by r. SECRET. */
const char *slack_result_access_token(const slack_result *r);
/* oauth.v2.access with token rotation: refresh token, or NULL. SECRET. */
const char *slack_result_refresh_token(const slack_result *r);

/* ---- requests --------------------------------------------------------------------------- */

typedef struct slack_request slack_request;

/*
 * A POST of json_body (copied) to {api_base}/{method} with
 * Content-Type: application/json; charset=utf-8 and, when token is not NULL,
 * Authorization: Bearer token. api_base NULL -> SLACK_DEFAULT_API_BASE; a
 * trailing '/' is accepted. Returns NULL only when libcurl cannot make a handle.
 */
slack_request *slack_request_new(const char *api_base, const char *method, const char *token,
                                 const char *json_body);

/*
 * A form-encoded POST (application/x-www-form-urlencoded): fields is a
 * NULL-terminated list of name, value pairs, e.g.
 *   (const char *[]){"email", "a@b.c", NULL}
 * Values are escaped with curl_easy_escape; a pair whose value is NULL is skipped.
 * For the "GET-style" methods (users.lookupByEmail, conversations.info, ...).
 */
slack_request *slack_request_new_form(const char *api_base, const char *method, const char *token,
                                      const char *const *fields);

void slack_request_destroy(slack_request *req); /* NULL-safe; removes nothing from a multi */

/* Timeouts in ms (defaults 5000 connect, 15000 total); 0 keeps the current value. */
void slack_request_set_timeouts(slack_request *req, long connect_ms, long total_ms);

void slack_request_set_user(slack_request *req, void *user);
void *slack_request_user(const slack_request *req);
const char *slack_request_method(const slack_request *req); /* "chat.postMessage" */

/* The easy handle, to add to a curl multi handle. Owned by req. */
CURL *slack_request_easy(slack_request *req);
/* The request owning an easy handle made by this module, or NULL. */
slack_request *slack_request_from_easy(CURL *easy);

/*
 * Classifies a finished transfer. code is the CURLcode of the transfer (from
 * curl_easy_perform or the multi's CURLMSG_DONE). Fills *out (which must be
 * initialised; its previous content is disposed). Returns out->cls.
 */
slack_class slack_request_result(slack_request *req, CURLcode code, slack_result *out);

/*
 * The classification itself, pure (no I/O), for tests and other transports:
 * an HTTP answer with its status, raw Retry-After header value (NULL when
 * absent) and body; or a transfer that failed before any answer (detail: a
 * curl error text or NULL; max_response: non-zero when the answer was cut off
 * at that size). Both reset and fill *out and return out->cls.
 */
slack_class slack_classify_response(long status, const char *retry_after, const char *body,
                                    size_t len, slack_result *out);
slack_class slack_classify_curl(CURLcode code, const char *detail, size_t max_response,
                                slack_result *out);

/* Runs req blocking (curl_easy_perform, with a process-wide shared connection cache
 * unless a share was set) and classifies it. Returns out->cls. */
slack_class slack_request_perform(slack_request *req, slack_result *out);

/* ---- method builders (for the multi interface) ------------------------------------------ */

/*
 * chat.postMessage. channel: an id (C/G/D/U/W...) or #name. text: the fallback
 * (required in practice). blocks_json: a JSON array text or NULL. thread_ts: NULL
 * for a top-level message. Link and media unfurling are turned off.
 */
slack_request *slack_request_post_message(const char *api_base, const char *token,
                                          const char *channel, const char *text,
                                          const char *blocks_json, const char *thread_ts);

/*
 * chat.update of the message (channel id, ts): its text and blocks replaced.
 * blocks_json NULL keeps the message's blocks. Errors: message_not_found,
 * cant_update_message, edit_window_closed (permanent), as well as the usual.
 */
slack_request *slack_request_update_message(const char *api_base, const char *token,
                                            const char *channel, const char *ts, const char *text,
                                            const char *blocks_json);

/* ---- blocking conveniences (heraldctl, herald-api) -------------------------------------- */
/* Each fills *result (initialised by the caller, disposed by the caller) and returns its class. */

slack_class slack_post_message(const char *api_base, const char *token, const char *channel,
                               const char *text, const char *blocks_json, const char *thread_ts,
                               slack_result *result);
/* chat.update (see slack_request_update_message). */
slack_class slack_update_message(const char *api_base, const char *token, const char *channel,
                                 const char *ts, const char *text, const char *blocks_json,
                                 slack_result *result);
/* usergroups.users.list?usergroup=S...: result->json "users" is the member id array. */
slack_class slack_usergroup_members(const char *api_base, const char *token, const char *usergroup,
                                    slack_result *result);
/* users.lookupByEmail: result->user_id. Not found -> users_not_found (SLACK_DESTINATION). */
slack_class slack_lookup_user_by_email(const char *api_base, const char *token, const char *email,
                                       slack_result *result);
/* auth.test: team_id, team, user_id, bot_id. */
slack_class slack_auth_test(const char *api_base, const char *token, slack_result *result);
/* conversations.info: channel, channel_name, is_private, is_archived, is_member. */
slack_class slack_conversations_info(const char *api_base, const char *token, const char *channel,
                                     slack_result *result);
/* conversations.open with users=user_id: result->channel is the DM channel id. */
slack_class slack_conversations_open(const char *api_base, const char *token, const char *user_id,
                                     slack_result *result);
/*
 * conversations.list, one page: types NULL -> "public_channel,private_channel";
 * cursor NULL/"" -> first page; limit 0 -> 200. result->json "channels" holds the
 * page; result->next_cursor is "" on the last page.
 */
slack_class slack_conversations_list(const char *api_base, const char *token, const char *types,
                                     const char *cursor, int limit, slack_result *result);
/*
 * All pages (at most max_pages; 0 -> 50), excluding archived channels. On success
 * *channels is a new cJSON array of {"id","name","is_private","is_member"} owned by
 * the caller; on failure *channels is NULL and result says why.
 */
slack_class slack_conversations_list_all(const char *api_base, const char *token, const char *types,
                                         int max_pages, cJSON **channels, slack_result *result);
/*
 * oauth.v2.access: form-encoded code and redirect_uri, client id and secret by
 * HTTP Basic auth. On success: team_id, team, bot_user_id, scope, and the
 * token via slack_result_access_token(result).
 */
slack_class slack_oauth_v2_access(const char *api_base, const char *client_id,
                                  const char *client_secret, const char *code,
                                  const char *redirect_uri, slack_result *result);

/*
 * oauth.v2.access with grant_type=refresh_token (token rotation): form-encoded
 * refresh_token, client id and secret by HTTP Basic auth, as the code
 * exchange. On success: the new pair via slack_result_access_token and
 * slack_result_refresh_token (Slack revoked the refresh token sent), and
 * result->expires_in. timeout_ms 0: the default total timeout. Errors as
 * usual: invalid_refresh_token, invalid_client_id, bad_client_secret,
 * token_revoked... are permanent; 5xx, network and rate limits transient.
 */
slack_class slack_oauth_v2_refresh(const char *api_base, const char *client_id,
                                   const char *client_secret, const char *refresh_token,
                                   long timeout_ms, slack_result *result);

#endif
