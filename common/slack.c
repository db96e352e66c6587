#include "common/slack.h"

#include "common/crypto.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ==== error classification ================================================================ */

typedef struct code_info {
    const char *code;
    slack_class cls;
    const char *reason;
} code_info;

/* The table of slack-api.md, plus OAuth codes (permanent, but worth a readable reason). */
static const code_info codes[] = {
    {"ratelimited", SLACK_RATE_LIMITED, "Slack rate-limited this call: it will be retried later"},
    {"rate_limited", SLACK_RATE_LIMITED, "Slack rate-limited this call: it will be retried later"},

    {"internal_error", SLACK_TRANSIENT,
     "Slack had an internal error (the message may have been posted anyway)"},
    {"fatal_error", SLACK_TRANSIENT,
     "Slack had a fatal error (the message may have been posted anyway)"},
    {"service_unavailable", SLACK_TRANSIENT, "Slack is temporarily unavailable"},
    {"request_timeout", SLACK_TRANSIENT, "Slack timed out handling the request"},
    {"team_added_to_org", SLACK_TRANSIENT,
     "the workspace is being migrated into an Enterprise Grid organisation: retry later"},

    {"invalid_auth", SLACK_INSTALLATION,
     "the bot token is not valid: reinstall Herald in this workspace"},
    {"not_authed", SLACK_INSTALLATION, "no bot token was sent: reinstall Herald in this workspace"},
    {"account_inactive", SLACK_INSTALLATION,
     "the bot's account or workspace was deactivated: reinstall Herald in this workspace"},
    {"token_revoked", SLACK_INSTALLATION,
     "the bot token was revoked: reinstall Herald in this workspace"},
    {"token_expired", SLACK_INSTALLATION,
     "the bot token expired: refresh it or reinstall Herald in this workspace"},
    {"invalid_refresh_token", SLACK_INSTALLATION,
     "Slack refused the installation's refresh token (already used or revoked): reinstall "
     "Herald in this workspace"},
    {"missing_scope", SLACK_INSTALLATION,
     "the bot lacks a permission (scope) it needs: reinstall Herald to grant it"},
    {"no_permission", SLACK_INSTALLATION,
     "the workspace does not let the bot do this: ask a Slack admin, then reinstall Herald"},
    {"access_denied", SLACK_INSTALLATION,
     "access was denied: a Slack admin must approve Herald for this workspace"},
    {"team_access_not_granted", SLACK_INSTALLATION,
     "the token was not granted access to this workspace: install Herald in it"},
    {"app_access_restricted", SLACK_INSTALLATION,
     "the workspace restricts this app: a Slack admin must allow Herald"},

    {"channel_not_found", SLACK_DESTINATION,
     "the channel was not found (deleted, renamed, or private without the bot): check the "
     "target's channel"},
    {"not_in_channel", SLACK_DESTINATION,
     "the bot is not a member of this channel: invite @Herald to it"},
    {"is_archived", SLACK_DESTINATION,
     "the channel is archived: unarchive it or point the target at another channel"},
    {"restricted_action", SLACK_DESTINATION,
     "the workspace does not allow the bot to post in this channel: ask a Slack admin or "
     "choose another channel"},
    {"messages_tab_disabled", SLACK_DESTINATION,
     "this person turned off the app's Messages tab: they must turn it on to get direct "
     "messages"},
    {"team_not_found", SLACK_DESTINATION, "the Slack workspace was not found"},
    {"users_not_found", SLACK_DESTINATION,
     "no active member of this workspace has that email address"},
    {"user_not_found", SLACK_DESTINATION, "the Slack user was not found in this workspace"},

    {"no_text", SLACK_PAYLOAD, "Herald sent a message without text: a rendering bug"},
    {"invalid_blocks", SLACK_PAYLOAD, "Slack rejected the message's blocks: a rendering bug"},
    {"invalid_blocks_format", SLACK_PAYLOAD,
     "Slack rejected the message's block format: a rendering bug"},
    {"msg_blocks_too_long", SLACK_PAYLOAD, "the message's blocks were too long: a rendering bug"},
    {"msg_too_long", SLACK_PAYLOAD, "the message text was too long: a rendering bug"},
    {"too_many_attachments", SLACK_PAYLOAD, "the message had too many attachments"},
    {"invalid_arguments", SLACK_PAYLOAD, "Slack rejected the request's arguments: a Herald bug"},
    {"invalid_charset", SLACK_PAYLOAD, "Slack rejected the request's character set: a Herald bug"},

    {"invalid_code", SLACK_UNKNOWN_PERMANENT,
     "the OAuth code is invalid or was already used: start the installation again"},
    {"bad_redirect_uri", SLACK_UNKNOWN_PERMANENT,
     "the OAuth redirect URI does not match the app's configuration"},
    {"invalid_client_id", SLACK_UNKNOWN_PERMANENT, "the Slack client id is not valid"},
    {"bad_client_secret", SLACK_UNKNOWN_PERMANENT, "the Slack client secret is wrong"},
};

static const code_info *find_code(const char *code)
{
    if (!code || !*code)
        return NULL;
    for (size_t i = 0; i < ARRAY_LEN(codes); i++)
        if (strcmp(codes[i].code, code) == 0)
            return &codes[i];
    /* restricted_action_read_only_channel, restricted_action_thread_only_channel, ... */
    if (strncmp(code, "restricted_action", 17) == 0)
        return find_code("restricted_action");
    return NULL;
}

slack_class slack_error_classify(const char *code)
{
    const code_info *ci = find_code(code);
    return ci ? ci->cls : SLACK_UNKNOWN_PERMANENT;
}

/* A readable reason for administrators for a known code ("the bot is not a
 * member of this channel: invite @Herald to it"), or NULL when unknown. */
static const char *error_reason(const char *code)
{
    const code_info *ci = find_code(code);
    return ci ? ci->reason : NULL;
}

const char *slack_class_name(slack_class c)
{
    switch (c) {
    case SLACK_OK:
        return "ok";
    case SLACK_RATE_LIMITED:
        return "rate_limited";
    case SLACK_TRANSIENT:
        return "transient";
    case SLACK_INSTALLATION:
        return "installation";
    case SLACK_DESTINATION:
        return "destination";
    case SLACK_PAYLOAD:
        return "payload";
    case SLACK_UNKNOWN_PERMANENT:
        return "permanent";
    }
    return "permanent";
}

bool slack_class_is_retriable(slack_class c)
{
    return c == SLACK_RATE_LIMITED || c == SLACK_TRANSIENT;
}

/* ==== results ============================================================================= */

void slack_result_init(slack_result *r)
{
    memset(r, 0, sizeof *r);
    r->is_private = r->is_archived = r->is_member = -1;
}

/* Overwrites every string under a key ending in "token" (access_token,
 * refresh_token, authed_user.access_token) so a freed answer leaves no
 * usable secret in the heap. */
static void wipe_tokens(cJSON *j)
{
    cJSON *c;
    cJSON_ArrayForEach(c, j)
    {
        size_t kl = c->string ? strlen(c->string) : 0;
        if (cJSON_IsString(c) && c->valuestring && kl >= 5 &&
            strcmp(c->string + kl - 5, "token") == 0)
            crypto_wipe(c->valuestring, strlen(c->valuestring));
        else if (cJSON_IsObject(c) || cJSON_IsArray(c))
            wipe_tokens(c);
    }
}

void slack_result_dispose(slack_result *r)
{
    if (!r)
        return;
    wipe_tokens(r->json);
    cJSON_Delete(r->json);
    r->json = NULL;
}

static const char *json_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int json_tristate(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : -1;
}

const char *slack_result_access_token(const slack_result *r)
{
    return r && r->json ? json_str(r->json, "access_token") : NULL;
}

const char *slack_result_refresh_token(const slack_result *r)
{
    return r && r->json ? json_str(r->json, "refresh_token") : NULL;
}

/* src into dst, cut (when too long) before a whole UTF-8 character: a team
 * or channel name cut mid-character is text PostgreSQL refuses. */
static void copy(char *dst, size_t size, const char *src)
{
    if (!src || !size)
        return;
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--; /* src[n], the first byte left out, must start a character */
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void append_warning(slack_result *r, const char *w)
{
    if (!w || !*w || strstr(r->warning, w))
        return;
    size_t n = strlen(r->warning);
    snprintf(r->warning + n, sizeof r->warning - n, "%s%s", n ? "," : "", w);
}

/* Picks the fields Herald's callers use out of any method's answer. */
static void parse_fields(slack_result *r, const cJSON *j)
{
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "channel");
    if (cJSON_IsString(ch)) {
        copy(r->channel, sizeof r->channel, ch->valuestring);
    } else if (cJSON_IsObject(ch)) {
        copy(r->channel, sizeof r->channel, json_str(ch, "id"));
        copy(r->channel_name, sizeof r->channel_name, json_str(ch, "name"));
        r->is_private = json_tristate(ch, "is_private");
        r->is_archived = json_tristate(ch, "is_archived");
        r->is_member = json_tristate(ch, "is_member");
    }
    copy(r->ts, sizeof r->ts, json_str(j, "ts"));
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(j, "user");
    if (cJSON_IsObject(user))
        copy(r->user_id, sizeof r->user_id, json_str(user, "id"));
    copy(r->user_id, sizeof r->user_id, json_str(j, "user_id"));
    copy(r->team_id, sizeof r->team_id, json_str(j, "team_id"));
    const cJSON *team = cJSON_GetObjectItemCaseSensitive(j, "team");
    if (cJSON_IsString(team)) {
        copy(r->team, sizeof r->team, team->valuestring);
    } else if (cJSON_IsObject(team)) {
        copy(r->team_id, sizeof r->team_id, json_str(team, "id"));
        copy(r->team, sizeof r->team, json_str(team, "name"));
    }
    copy(r->bot_id, sizeof r->bot_id, json_str(j, "bot_id"));
    copy(r->bot_user_id, sizeof r->bot_user_id, json_str(j, "bot_user_id"));
    copy(r->scope, sizeof r->scope, json_str(j, "scope"));
    /* A lifetime is a positive whole number of seconds; anything else is "none given". */
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
    if (cJSON_IsNumber(exp) && exp->valuedouble >= 1 && exp->valuedouble <= 1e9 &&
        exp->valuedouble == (double)(long)exp->valuedouble)
        r->expires_in = (long)exp->valuedouble;

    append_warning(r, json_str(j, "warning"));
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(j, "response_metadata");
    if (cJSON_IsObject(meta)) {
        copy(r->next_cursor, sizeof r->next_cursor, json_str(meta, "next_cursor"));
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(meta, "warnings");
        const cJSON *w;
        cJSON_ArrayForEach(w, ws)
        {
            if (cJSON_IsString(w))
                append_warning(r, w->valuestring);
        }
    }
}

/* Per-thread xorshift for jitter: no locking, no shared state. */
static int jitter_ms(int max)
{
    static _Thread_local uint64_t s;
    if (!s)
        s = (uint64_t)util_now_mono_ms() ^ ((uint64_t)(uintptr_t)&s << 16) ^ 0x9e3779b97f4a7c15ull;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return max > 0 ? (int)(s % (uint64_t)max) : 0;
}

/* ==== requests ============================================================================ */

struct slack_request {
    CURL *easy;
    struct curl_slist *headers;
    char method[64];
    char *body;
    size_t body_len;

    strbuf resp; /* capped: max is the response limit */
    bool resp_overflow;

    char retry_after[64]; /* raw Retry-After value of the last response, "" when none */

    void *user;
    char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLSH *global_share;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *u)
{
    (void)h, (void)access, (void)u;
    pthread_mutex_lock(&share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *u)
{
    (void)h, (void)u;
    pthread_mutex_unlock(&share_locks[data]);
}

/* curl_global_init is not thread-safe everywhere: run it exactly once. The shared
 * DNS/connection cache lets blocking calls reuse keep-alive connections. */
static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (size_t i = 0; i < ARRAY_LEN(share_locks); i++)
        pthread_mutex_init(&share_locks[i], NULL);
    global_share = curl_share_init();
    if (global_share) {
        curl_share_setopt(global_share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(global_share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(global_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(global_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        curl_share_setopt(global_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    slack_request *req = userdata;
    size_t n = size * nmemb;
    if (!strbuf_add(&req->resp, data, n)) {
        req->resp_overflow = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    slack_request *req = userdata;
    size_t n = size * nmemb;
    /* A new status line starts a new response (after 100-continue, say). */
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        req->retry_after[0] = '\0';
        return n;
    }
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        size_t vlen = n - (sizeof name - 1);
        if (vlen >= sizeof req->retry_after)
            vlen = sizeof req->retry_after - 1;
        memcpy(req->retry_after, data + sizeof name - 1, vlen);
        req->retry_after[vlen] = '\0';
    }
    return n;
}

/* Retry-After as ms (delta-seconds or an HTTP-date), capped at a day; -1 when absent/bad. */
static int64_t parse_retry_after(const char *v)
{
    if (!v)
        return -1;
    char buf[64];
    while (*v == ' ' || *v == '\t')
        v++;
    snprintf(buf, sizeof buf, "%s", v);
    size_t n = strlen(buf);
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    if (n == 0)
        return -1;
    long long s;
    if (strspn(buf, "0123456789") == n) {
        s = n > 6 ? 86400 : strtoll(buf, NULL, 10);
    } else {
        time_t when = curl_getdate(buf, NULL);
        if (when <= 0)
            return -1;
        s = (long long)when - (long long)(util_now_wall_ms() / 1000);
        if (s < 0)
            s = 0;
    }
    if (s > 86400)
        s = 86400;
    return (int64_t)s * 1000;
}

static slack_request *request_new(const char *api_base, const char *method)
{
    pthread_once(&global_once, global_init);
    CURL *easy = curl_easy_init();
    if (!easy)
        return NULL;
    slack_request *req = xcalloc(1, sizeof *req);
    req->easy = easy;
    strbuf_init(&req->resp, SLACK_MAX_RESPONSE_BYTES);
    snprintf(req->method, sizeof req->method, "%s", method);

    const char *base = api_base && *api_base ? api_base : SLACK_DEFAULT_API_BASE;
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    size_t ulen = blen + strlen(method) + 2;
    char *url = xmalloc(ulen);
    snprintf(url, ulen, "%.*s/%s", (int)blen, base, method);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    free(url);

    curl_easy_setopt(easy, CURLOPT_PRIVATE, req);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)SLACK_DEFAULT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)SLACK_DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, req);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "Herald/0.1 (+libcurl)");
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    return req;
}

/* The body and headers are set last, once both are known. The token lives only in
 * the header list, which is freed with the request. */
static void set_body(slack_request *req, const char *content_type, const char *token, char *body)
{
    char line[512];
    snprintf(line, sizeof line, "Content-Type: %s", content_type);
    req->headers = curl_slist_append(req->headers, line);
    req->headers = curl_slist_append(req->headers, "Accept: application/json");
    req->headers = curl_slist_append(req->headers, "Expect:");
    if (token && *token) {
        size_t n = strlen(token) + 32;
        char *auth = xmalloc(n);
        snprintf(auth, n, "Authorization: Bearer %s", token);
        req->headers = curl_slist_append(req->headers, auth);
        memset(auth, 0, n);
        free(auth);
    }
    curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);
    req->body = body;
    req->body_len = strlen(body);
    curl_easy_setopt(req->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
}

slack_request *slack_request_new(const char *api_base, const char *method, const char *token,
                                 const char *json_body)
{
    slack_request *req = request_new(api_base, method);
    if (!req)
        return NULL;
    set_body(req, "application/json; charset=utf-8", token, xstrdup(json_body ? json_body : "{}"));
    return req;
}

slack_request *slack_request_new_form(const char *api_base, const char *method, const char *token,
                                      const char *const *fields)
{
    slack_request *req = request_new(api_base, method);
    if (!req)
        return NULL;
    size_t cap = 256, len = 0;
    char *body = xmalloc(cap);
    body[0] = '\0';
    for (size_t i = 0; fields && fields[i]; i += 2) {
        const char *name = fields[i], *value = fields[i + 1];
        if (!value)
            continue;
        char *en = curl_easy_escape(req->easy, name, 0);
        char *ev = curl_easy_escape(req->easy, value, 0);
        if (!en || !ev)
            abort(); /* out of memory */
        size_t need = len + strlen(en) + strlen(ev) + 3;
        if (need > cap) {
            while (cap < need)
                cap *= 2;
            body = xrealloc(body, cap);
        }
        len += (size_t)snprintf(body + len, cap - len, "%s%s=%s", len ? "&" : "", en, ev);
        curl_free(en);
        curl_free(ev);
    }
    set_body(req, "application/x-www-form-urlencoded", token, body);
    return req;
}

void slack_request_destroy(slack_request *req)
{
    if (!req)
        return;
    curl_easy_cleanup(req->easy);
    /* The headers hold the bearer token, the body may carry an OAuth code and
     * the answer a bot token. */
    for (struct curl_slist *h = req->headers; h; h = h->next)
        crypto_wipe(h->data, strlen(h->data));
    curl_slist_free_all(req->headers);
    if (req->body)
        crypto_wipe(req->body, req->body_len);
    if (req->resp.p)
        crypto_wipe(req->resp.p, req->resp.len);
    free(req->body);
    strbuf_dispose(&req->resp);
    free(req);
}

void slack_request_set_timeouts(slack_request *req, long connect_ms, long total_ms)
{
    if (connect_ms > 0)
        curl_easy_setopt(req->easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    if (total_ms > 0)
        curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, total_ms);
}

/* HTTP Basic auth (oauth.v2.access client id/secret). Copied by libcurl; never logged. */
static void set_basic_auth(slack_request *req, const char *user, const char *password)
{
    curl_easy_setopt(req->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(req->easy, CURLOPT_USERNAME, user ? user : "");
    curl_easy_setopt(req->easy, CURLOPT_PASSWORD, password ? password : "");
}

void slack_request_set_user(slack_request *req, void *user)
{
    req->user = user;
}

void *slack_request_user(const slack_request *req)
{
    return req->user;
}

const char *slack_request_method(const slack_request *req)
{
    return req->method;
}

CURL *slack_request_easy(slack_request *req)
{
    return req->easy;
}

slack_request *slack_request_from_easy(CURL *easy)
{
    char *p = NULL;
    if (!easy || curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK)
        return NULL;
    return (slack_request *)(void *)p;
}

/* Clears the response buffer and captured headers so the same request can be sent again. */
static void rearm(slack_request *req)
{
    strbuf_reset(&req->resp);
    req->resp_overflow = false;
    req->retry_after[0] = '\0';
    req->errbuf[0] = '\0';
}

/* ==== classification of one finished transfer ============================================= */

static void set_error(slack_result *r, slack_class cls, const char *code, const char *reason)
{
    r->ok = false;
    r->cls = cls;
    snprintf(r->error, sizeof r->error, "%s", code);
    if (reason)
        snprintf(r->reason, sizeof r->reason, "%s", reason);
    else if (error_reason(code))
        snprintf(r->reason, sizeof r->reason, "%s", error_reason(code));
    else
        snprintf(r->reason, sizeof r->reason, "Slack answered %s", code);
}

slack_class slack_classify_curl(CURLcode code, const char *detail, size_t max_response,
                                slack_result *r)
{
    char reason[256];
    slack_result_dispose(r);
    slack_result_init(r);
    if (!detail || !*detail)
        detail = curl_easy_strerror(code);
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(reason, sizeof reason,
                 "Slack did not answer in time (the message may have been posted): %.160s", detail);
        set_error(r, SLACK_TRANSIENT, "timeout", reason);
        return r->cls;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        snprintf(reason, sizeof reason, "could not connect to Slack: %.160s", detail);
        set_error(r, SLACK_TRANSIENT, "connection_failed", reason);
        return r->cls;
    case CURLE_GOT_NOTHING:
        snprintf(reason, sizeof reason, "Slack closed the connection without answering");
        set_error(r, SLACK_TRANSIENT, "connection_closed", reason);
        return r->cls;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
        snprintf(reason, sizeof reason, "the connection to Slack failed mid-request: %.160s",
                 detail);
        set_error(r, SLACK_TRANSIENT, "connection_error", reason);
        return r->cls;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
        snprintf(reason, sizeof reason, "TLS with Slack failed: %.160s", detail);
        set_error(r, SLACK_TRANSIENT, "tls_error", reason);
        return r->cls;
    case CURLE_WRITE_ERROR:
        if (max_response) {
            snprintf(reason, sizeof reason, "Slack's answer exceeded %zu bytes", max_response);
            set_error(r, SLACK_UNKNOWN_PERMANENT, "response_too_large", reason);
            return r->cls;
        }
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        snprintf(reason, sizeof reason, "the Slack API URL is not usable: %.160s", detail);
        set_error(r, SLACK_UNKNOWN_PERMANENT, "bad_api_url", reason);
        return r->cls;
    default:
        break;
    }
    char err[64];
    snprintf(err, sizeof err, "curl_%d", (int)code);
    snprintf(reason, sizeof reason, "request to Slack failed: %.160s", detail);
    set_error(r, SLACK_TRANSIENT, err, reason);
    return r->cls;
}

slack_class slack_classify_response(long status, const char *retry_after, const char *body,
                                    size_t len, slack_result *out)
{
    slack_result_dispose(out);
    slack_result_init(out);
    out->http_status = status;
    int64_t ra = parse_retry_after(retry_after);
    if (ra >= 0)
        out->retry_after_ms = (int)ra;

    cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    if (j && !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        j = NULL;
    }
    out->json = j;
    const cJSON *okv = j ? cJSON_GetObjectItemCaseSensitive(j, "ok") : NULL;
    const char *code_s = j ? json_str(j, "error") : NULL;
    if (j)
        parse_fields(out, j);

    char buf[64];
    if (status == 429) {
        /* Whatever the body says, 429 means "wait": never treat it as permanent. */
        set_error(out, SLACK_RATE_LIMITED, "ratelimited", NULL);
        if (code_s && slack_error_classify(code_s) == SLACK_RATE_LIMITED)
            snprintf(out->error, sizeof out->error, "%s", code_s);
    } else if (status >= 500) {
        snprintf(buf, sizeof buf, "http_%ld", status);
        char reason[256];
        snprintf(reason, sizeof reason, "Slack answered HTTP %ld: a Slack-side problem", status);
        set_error(out, SLACK_TRANSIENT, buf, reason);
    } else if (cJSON_IsBool(okv)) {
        if (cJSON_IsTrue(okv) && status >= 200 && status < 300) {
            out->ok = true;
            out->cls = SLACK_OK;
        } else {
            set_error(out, SLACK_OK, code_s && *code_s ? code_s : "unknown_error", NULL);
            out->cls = slack_error_classify(out->error);
        }
    } else if (status == 408) {
        set_error(out, SLACK_TRANSIENT, "http_408", "Slack timed out reading the request");
    } else if (status != 200) {
        snprintf(buf, sizeof buf, "http_%ld", status);
        char reason[256];
        snprintf(reason, sizeof reason, "Slack answered HTTP %ld without a usable body", status);
        set_error(out, SLACK_UNKNOWN_PERMANENT, buf, reason);
    } else {
        /* HTTP 200 that is not Slack's JSON: a proxy or an incident. Retrying is the
         * defensive choice (the message may have been posted, like internal_error). */
        set_error(out, SLACK_TRANSIENT, "invalid_response",
                  "Slack's answer was not the expected JSON (the message may have been posted)");
    }

    /* A 429 says wait: a Retry-After of 0 or of a date already past (clock skew, a
     * proxy) would retry at once, so it waits as long as a missing one. */
    if (out->cls == SLACK_RATE_LIMITED && ra <= 0)
        out->retry_after_ms = 1000 + jitter_ms(1000);
    return out->cls;
}

slack_class slack_request_result(slack_request *req, CURLcode code, slack_result *out)
{
    long status = 0;
    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
    if (code != CURLE_OK) {
        slack_classify_curl(code, req->errbuf, req->resp_overflow ? req->resp.max : 0, out);
        out->http_status = status;
    } else {
        slack_classify_response(status, req->retry_after[0] ? req->retry_after : NULL, req->resp.p,
                                req->resp.len, out);
    }
    return out->cls;
}

slack_class slack_request_perform(slack_request *req, slack_result *out)
{
    if (global_share)
        curl_easy_setopt(req->easy, CURLOPT_SHARE, global_share);
    rearm(req);
    CURLcode code = curl_easy_perform(req->easy);
    slack_class cls = slack_request_result(req, code, out);
    curl_easy_setopt(req->easy, CURLOPT_SHARE, NULL);
    LOG_DEBUG("slack %s: http %ld, %s%s%s", req->method, out->http_status,
              out->ok ? "ok" : slack_class_name(cls), out->ok ? "" : " ",
              out->ok ? "" : out->error);
    return cls;
}

/* ==== method builders and blocking conveniences ============================================ */

/*
 * The body of a message method: channel, the fallback text and the blocks.
 * The blocks are parsed rather than spliced, so the body is always valid
 * JSON; text that is not JSON goes as a string: Slack answers
 * invalid_blocks_format (a payload error) instead of the blocks vanishing
 * silently.
 */
static cJSON *message_body(const char *channel, const char *text, const char *blocks_json)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "channel", channel ? channel : "");
    if (text)
        cJSON_AddStringToObject(o, "text", text);
    if (blocks_json && *blocks_json) {
        cJSON *blocks = cJSON_Parse(blocks_json);
        if (blocks)
            cJSON_AddItemToObject(o, "blocks", blocks);
        else
            cJSON_AddStringToObject(o, "blocks", blocks_json);
    }
    return o;
}

slack_request *slack_request_post_message(const char *api_base, const char *token,
                                          const char *channel, const char *text,
                                          const char *blocks_json, const char *thread_ts)
{
    cJSON *o = message_body(channel, text, blocks_json);
    if (thread_ts && *thread_ts)
        cJSON_AddStringToObject(o, "thread_ts", thread_ts);
    cJSON_AddBoolToObject(o, "unfurl_links", false);
    cJSON_AddBoolToObject(o, "unfurl_media", false);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!body)
        abort(); /* out of memory */
    slack_request *req = slack_request_new(api_base, "chat.postMessage", token, body);
    free(body);
    return req;
}

slack_request *slack_request_update_message(const char *api_base, const char *token,
                                            const char *channel, const char *ts, const char *text,
                                            const char *blocks_json)
{
    /* "[]" removes the blocks (an edit down to text); NULL keeps them. */
    cJSON *o = message_body(channel, text, blocks_json);
    cJSON_AddStringToObject(o, "ts", ts ? ts : "");
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!body)
        abort(); /* out of memory */
    slack_request *req = slack_request_new(api_base, "chat.update", token, body);
    free(body);
    return req;
}

/* Runs and destroys req; a NULL req (no curl handle) is a transient failure. */
static slack_class run(slack_request *req, slack_result *result)
{
    if (!req) {
        slack_result_dispose(result);
        slack_result_init(result);
        set_error(result, SLACK_TRANSIENT, "curl_init_failed", "libcurl could not make a handle");
        return result->cls;
    }
    slack_class cls = slack_request_perform(req, result);
    slack_request_destroy(req);
    return cls;
}

slack_class slack_post_message(const char *api_base, const char *token, const char *channel,
                               const char *text, const char *blocks_json, const char *thread_ts,
                               slack_result *result)
{
    return run(slack_request_post_message(api_base, token, channel, text, blocks_json, thread_ts),
               result);
}

slack_class slack_update_message(const char *api_base, const char *token, const char *channel,
                                 const char *ts, const char *text, const char *blocks_json,
                                 slack_result *result)
{
    return run(slack_request_update_message(api_base, token, channel, ts, text, blocks_json),
               result);
}

slack_class slack_usergroup_members(const char *api_base, const char *token, const char *usergroup,
                                    slack_result *result)
{
    const char *f[] = {"usergroup", usergroup ? usergroup : "", NULL};
    return run(slack_request_new_form(api_base, "usergroups.users.list", token, f), result);
}

slack_class slack_lookup_user_by_email(const char *api_base, const char *token, const char *email,
                                       slack_result *result)
{
    const char *f[] = {"email", email ? email : "", NULL};
    return run(slack_request_new_form(api_base, "users.lookupByEmail", token, f), result);
}

slack_class slack_auth_test(const char *api_base, const char *token, slack_result *result)
{
    const char *f[] = {NULL};
    return run(slack_request_new_form(api_base, "auth.test", token, f), result);
}

slack_class slack_conversations_info(const char *api_base, const char *token, const char *channel,
                                     slack_result *result)
{
    const char *f[] = {"channel", channel ? channel : "", NULL};
    return run(slack_request_new_form(api_base, "conversations.info", token, f), result);
}

slack_class slack_conversations_open(const char *api_base, const char *token, const char *user_id,
                                     slack_result *result)
{
    const char *f[] = {"users", user_id ? user_id : "", NULL};
    return run(slack_request_new_form(api_base, "conversations.open", token, f), result);
}

slack_class slack_conversations_list(const char *api_base, const char *token, const char *types,
                                     const char *cursor, int limit, slack_result *result)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit > 0 ? limit : 200);
    const char *f[] = {"types",
                       types && *types ? types : "public_channel,private_channel",
                       "exclude_archived",
                       "true",
                       "limit",
                       lim,
                       "cursor",
                       cursor && *cursor ? cursor : NULL,
                       NULL};
    return run(slack_request_new_form(api_base, "conversations.list", token, f), result);
}

slack_class slack_conversations_list_all(const char *api_base, const char *token, const char *types,
                                         int max_pages, cJSON **channels, slack_result *result)
{
    *channels = NULL;
    cJSON *all = cJSON_CreateArray();
    char cursor[512] = "";
    if (max_pages <= 0)
        max_pages = 50;
    for (int page = 0; page < max_pages; page++) {
        if (slack_conversations_list(api_base, token, types, cursor, 200, result) != SLACK_OK) {
            cJSON_Delete(all);
            return result->cls;
        }
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(result->json, "channels"))
        {
            const char *id = json_str(c, "id");
            if (!id || json_tristate(c, "is_archived") == 1)
                continue;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "id", id);
            const char *name = json_str(c, "name");
            cJSON_AddStringToObject(o, "name", name ? name : "");
            cJSON_AddBoolToObject(o, "is_private", json_tristate(c, "is_private") == 1);
            cJSON_AddBoolToObject(o, "is_member", json_tristate(c, "is_member") == 1);
            cJSON_AddItemToArray(all, o);
        }
        if (!result->next_cursor[0])
            break;
        snprintf(cursor, sizeof cursor, "%s", result->next_cursor);
    }
    *channels = all;
    return SLACK_OK;
}

slack_class slack_oauth_v2_access(const char *api_base, const char *client_id,
                                  const char *client_secret, const char *code,
                                  const char *redirect_uri, slack_result *result)
{
    const char *f[] = {"code", code ? code : "", "redirect_uri", redirect_uri, NULL};
    slack_request *req = slack_request_new_form(api_base, "oauth.v2.access", NULL, f);
    if (req)
        set_basic_auth(req, client_id, client_secret);
    return run(req, result);
}

slack_class slack_oauth_v2_refresh(const char *api_base, const char *client_id,
                                   const char *client_secret, const char *refresh_token,
                                   long timeout_ms, slack_result *result)
{
    const char *f[] = {"grant_type", "refresh_token", "refresh_token",
                       refresh_token ? refresh_token : "", NULL};
    slack_request *req = slack_request_new_form(api_base, "oauth.v2.access", NULL, f);
    if (req) {
        set_basic_auth(req, client_id, client_secret);
        if (timeout_ms > 0)
            slack_request_set_timeouts(req, 0, timeout_ms);
    }
    return run(req, result);
}
