/*
 * fake-slack: a Slack Web API stand-in for tests, the demo and benchmarks.
 *
 * Speaks the methods Herald uses with Slack's shapes and error codes
 * (chat.postMessage, users.lookupByEmail, conversations.info/list/open,
 * auth.test, oauth.v2.access and the /oauth/v2/authorize page, chat.update,
 * usergroups.users.list), paces each channel like Slack (token bucket; over the limit: HTTP 429 +
 * Retry-After), and injects faults (5xx with an HTML body, 429 + Retry-After on demand, dropped
 * connections, slow answers). Methods are served under /api/<method> (and /<method>); point
 * HERALD_SLACK_API_URL at http://127.0.0.1:PORT/api.
 *
 * Inspection and control under /_fake/: messages, stats, faults, state,
 * revoke, reset (see --help and usage() below); interact signs and sends a
 * button press to a Request URL as Slack does.
 *
 * Threading: libmicrohttpd runs a thread per connection (so a slow answer
 * delays only its own connection); all state is behind one mutex.
 * Nothing secret is printed: tokens and client secrets never reach stdout
 * or the log.
 */
#include "common/config.h"
#include "common/hmac.h"
#include "common/log.h"
#include "common/ratelimit.h"
#include "common/render.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "common/utf8.h"

#include <cJSON.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <ctype.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (2 * 1024 * 1024)

static const char usage_text[] =
    "[OPTIONS]\n"
    "\n"
    "A fake Slack Web API. Prints its base URL (http://127.0.0.1:PORT) on stdout once\n"
    "listening; Slack methods are served under BASE/api/<method>.\n"
    "\n"
    "State file (--state, JSON; without it a demo state is used):\n"
    "  {\"workspaces\": [{\"id\": \"T1\", \"name\": \"Acme\", \"tokens\": [\"xoxb-1\"],\n"
    "                   \"revoked_tokens\": [\"xoxb-old\"], \"inactive_tokens\": [],\n"
    "                   \"bot_user_id\": \"UB1\", \"bot_id\": \"B1\"}],\n"
    "   \"channels\": [{\"id\": \"C1\", \"name\": \"alerts\", \"team\": \"T1\", \"private\": "
    "false,\n"
    "                 \"member\": true, \"archived\": false, \"post_error\": null}],\n"
    "   \"users\": [{\"id\": \"U1\", \"email\": \"a@example.com\", \"name\": \"alice\", \"team\": "
    "\"T1\",\n"
    "              \"deleted\": false, \"messages_tab_disabled\": false}],\n"
    "   \"oauth\": {\"client_id\": \"cid\", \"client_secret\": \"secret\", \"team\": \"T1\",\n"
    "             \"deny\": false, \"rotation\": false, \"expires_in\": 43200},\n"
    "   \"usergroups\": [{\"id\": \"S1\", \"team\": \"T1\", \"users\": [\"U1\"]}],\n"
    "   \"auto_channels\": false}\n"
    "  Token rotation: with oauth.rotation the code exchange also answers refresh_token\n"
    "  and expires_in (oauth.expires_in seconds); oauth.v2.access with\n"
    "  grant_type=refresh_token trades a workspace's valid refresh token for a new pair\n"
    "  and revokes it (reusing it: invalid_refresh_token). A workspace may also list\n"
    "  \"refresh_tokens\": [...] and \"token_expiry\": {\"xoxb-...\": UNIX_SECONDS}: a bot\n"
    "  token past its expiry gets token_expired from every method.\n"
    "  A channel or user without \"team\" belongs to every workspace. With auto_channels\n"
    "  (or --auto-channels) an unknown C.../G... id is accepted as a public channel.\n"
    "\n"
    "Control endpoints:\n"
    "  GET  /_fake/messages[?channel=C&team=T]  accepted messages (JSON array)\n"
    "  GET  /_fake/updates[?channel=C&team=T]   chat.update edits, in order (JSON array)\n"
    "  GET  /_fake/stats                        requests per method, 429s, faults, per channel\n"
    "  GET|POST /_fake/faults                   fault injection (JSON: error_rate, error_status,\n"
    "       next_errors, error_retry_after, next_429, retry_after, drop_rate, next_drops,\n"
    "       next_drops_after_post, delay_ms, delay_rate, slack_error, next_slack_errors,\n"
    "       methods, clear); next_429: N calls answer HTTP 429 ratelimited with\n"
    "       Retry-After: retry_after seconds (default 1; 0: no header)\n"
    "  POST /_fake/state                        upsert workspaces/channels/users by id, oauth\n"
    "  POST /_fake/revoke                       {\"token\": T} or {\"team\": ID}: revoke tokens\n"
    "  POST /_fake/reset                        clear messages, stats, faults and rate limits\n"
    "  POST /_fake/interact                     sign and send a button press (block_actions):\n"
    "       {url, secret, team, user, user_name, channel, ts, action_id, value, age_seconds,\n"
    "       response_url}; answers {status, body, response_url} of the POST to url\n"
    "  GET  /_fake/responses                    what was posted to /_fake/respond/N (the\n"
    "       response_url of /_fake/interact's payloads)\n"
    "  GET  /_fake/healthz";

/* ==== configuration and state (all behind mu) ============================================= */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static struct {
    double rate, burst; /* per channel */
    double ws_per_min;  /* per workspace, messages a minute; 0: none */
    long max_messages;  /* kept for /_fake/messages */
    bool log_requests;
} opt;

static cJSON *state;        /* normalised: workspaces, channels, users, oauth, auto_channels */
static cJSON *messages;     /* array */
static cJSON *updates;      /* array: chat.update edits (m_update_message) */
static long messages_total; /* accepted since the last reset; the first max_messages are kept */
static cJSON *stats;
static ratelimit_table *channel_limits;
static ratelimit_table *workspace_limits;
static int64_t last_ts_us;
static long token_serial;

typedef struct faults {
    double error_rate;
    int error_status;
    long next_errors;
    long error_retry_after;
    long next_429;    /* the next calls answer HTTP 429 ratelimited, as pacing does */
    long retry_after; /* their Retry-After (seconds; 0: none) */
    double drop_rate;
    long next_drops;
    long next_drops_after_post;
    long delay_ms;
    double delay_rate;
    char slack_error[64];
    long next_slack_errors;
    cJSON *methods; /* array of method names, NULL = all */
} faults;
static faults flt;

typedef struct oauth_code {
    char code[48];
    char redirect_uri[512];
    char team[64];
    int64_t expires_ms;
    struct oauth_code *next;
} oauth_code;
static oauth_code *codes;

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static double rnd(void) /* under mu */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static void faults_clear(void)
{
    cJSON_Delete(flt.methods);
    memset(&flt, 0, sizeof flt);
    flt.error_status = 503;
    flt.retry_after = 1;
    flt.delay_rate = 1.0;
}

static cJSON *stat_obj(const char *name)
{
    cJSON *o = cJSON_GetObjectItemCaseSensitive(stats, name);
    if (!o)
        o = cJSON_AddObjectToObject(stats, name);
    return o;
}

static void bump(cJSON *obj, const char *name, double by)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v)
        cJSON_AddNumberToObject(obj, name, by);
    else
        cJSON_SetNumberValue(v, v->valuedouble + by);
}

static void stats_reset(void)
{
    cJSON_Delete(stats);
    stats = cJSON_CreateObject();
    cJSON_AddObjectToObject(stats, "requests");
    cJSON_AddNumberToObject(stats, "rate_limited", 0);
    cJSON_AddNumberToObject(stats, "messages", 0);
    cJSON_AddNumberToObject(stats, "pings", 0);
    cJSON_AddNumberToObject(stats, "connections", 0);
    cJSON_AddNumberToObject(stats, "connections_closed", 0);
    cJSON_AddNumberToObject(stats, "refreshes", 0); /* token rotation refreshes granted */
    cJSON *f = cJSON_AddObjectToObject(stats, "faults");
    cJSON_AddNumberToObject(f, "errors", 0);
    cJSON_AddNumberToObject(f, "drops", 0);
    cJSON_AddNumberToObject(f, "drops_after_post", 0);
    cJSON_AddNumberToObject(f, "delayed", 0);
    cJSON_AddNumberToObject(f, "slack_errors", 0);
    cJSON_AddNumberToObject(f, "rate_limited", 0); /* next_429's (also in rate_limited) */
    cJSON_AddObjectToObject(stats, "errors");
    cJSON_AddObjectToObject(stats, "channels");
}

static void limits_reset(void)
{
    ratelimit_table_destroy(channel_limits);
    ratelimit_table_destroy(workspace_limits);
    channel_limits = ratelimit_table_new(opt.rate, opt.burst, 0);
    double ws_rate = opt.ws_per_min > 0 ? opt.ws_per_min / 60.0 : 0;
    workspace_limits = ratelimit_table_new(ws_rate, ws_rate > 0 ? opt.ws_per_min / 6.0 : 1, 0);
}

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jbool(const cJSON *o, const char *name)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name));
}

static bool str_in(const cJSON *arr, const char *s)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, arr)
    {
        if (cJSON_IsString(v) && strcmp(v->valuestring, s) == 0)
            return true;
    }
    return false;
}

static cJSON *find_by(const char *list, const char *field, const char *value)
{
    cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(state, list))
    {
        const char *s = jstr(v, field);
        if (s && value && strcmp(s, value) == 0)
            return v;
    }
    return NULL;
}

/* An item of list "channels"/"users" is visible in team when it has no team or that one. */
static bool in_team(const cJSON *item, const char *team)
{
    const char *t = jstr(item, "team");
    return !t || strcmp(t, team) == 0;
}

static const char *default_state =
    "{\"workspaces\":[{\"id\":\"T0FAKE01\",\"name\":\"Fake Workspace\",\"domain\":\"fake\","
    "\"tokens\":[\"xoxb-fake-token\"],\"revoked_tokens\":[\"xoxb-revoked-token\"],"
    "\"bot_user_id\":\"U0HERALD\",\"bot_id\":\"B0HERALD\"}],"
    "\"channels\":["
    "{\"id\":\"C0GENERAL\",\"name\":\"general\",\"private\":false,\"member\":true},"
    "{\"id\":\"C0ALERTS\",\"name\":\"sec-alerts\",\"private\":false,\"member\":true},"
    "{\"id\":\"C0PUBLIC\",\"name\":\"random\",\"private\":false,\"member\":false},"
    "{\"id\":\"G0PRIVATE\",\"name\":\"secops\",\"private\":true,\"member\":true},"
    "{\"id\":\"G0NOTIN\",\"name\":\"hr-private\",\"private\":true,\"member\":false},"
    "{\"id\":\"C0ARCHIVED\",\"name\":\"old-alerts\",\"private\":false,\"member\":true,"
    "\"archived\":true}],"
    "\"users\":["
    "{\"id\":\"U0ALICE\",\"email\":\"alice@example.com\",\"name\":\"alice\",\"real_name\":"
    "\"Alice\"},"
    "{\"id\":\"U0BOB\",\"email\":\"bob@example.com\",\"name\":\"bob\",\"real_name\":\"Bob\"},"
    "{\"id\":\"U0GONE\",\"email\":\"gone@example.com\",\"name\":\"gone\",\"deleted\":true}],"
    "\"oauth\":{\"client_id\":\"fake-client-id\",\"client_secret\":\"fake-client-secret\","
    "\"team\":\"T0FAKE01\",\"deny\":false}}";

/* Checks the shape of a state document; returns a message or NULL. */
static const char *state_check(const cJSON *s)
{
    if (!cJSON_IsObject(s))
        return "state: not a JSON object";
    const char *lists[] = {"workspaces", "channels", "users", "usergroups"};
    for (size_t i = 0; i < ARRAY_LEN(lists); i++) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(s, lists[i]);
        if (l && !cJSON_IsArray(l))
            return "state: workspaces, channels, users and usergroups must be arrays";
        const cJSON *v;
        cJSON_ArrayForEach(v, l)
        {
            if (!cJSON_IsObject(v) || !jstr(v, "id"))
                return "state: every workspace, channel, user and usergroup needs a string \"id\"";
        }
    }
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(s, "oauth");
    if (o && !cJSON_IsObject(o))
        return "state: oauth must be an object";
    return NULL;
}

/* Upserts items of patch's lists by id, replaces oauth/auto_channels when given. */
static void state_merge(cJSON *patch)
{
    const char *lists[] = {"workspaces", "channels", "users", "usergroups"};
    for (size_t i = 0; i < ARRAY_LEN(lists); i++) {
        cJSON *dst = cJSON_GetObjectItemCaseSensitive(state, lists[i]);
        if (!dst)
            dst = cJSON_AddArrayToObject(state, lists[i]);
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(patch, lists[i]))
        {
            const char *id = jstr(v, "id");
            int idx = 0;
            bool replaced = false;
            cJSON *cur;
            cJSON_ArrayForEach(cur, dst)
            {
                const char *cid = jstr(cur, "id");
                if (cid && strcmp(cid, id) == 0) {
                    cJSON_ReplaceItemInArray(dst, idx, cJSON_Duplicate(v, 1));
                    replaced = true;
                    break;
                }
                idx++;
            }
            if (!replaced)
                cJSON_AddItemToArray(dst, cJSON_Duplicate(v, 1));
        }
    }
    const char *objs[] = {"oauth", "auto_channels"};
    for (size_t i = 0; i < ARRAY_LEN(objs); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(patch, objs[i]);
        if (v) {
            cJSON_DeleteItemFromObjectCaseSensitive(state, objs[i]);
            cJSON_AddItemToObject(state, objs[i], cJSON_Duplicate(v, 1));
        }
    }
}

/* ==== HTTP plumbing ======================================================================= */

typedef struct req_ctx {
    strbuf body; /* capped at MAX_BODY */
    bool too_big;
} req_ctx;

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    req_ctx *ctx = *con_cls;
    if (ctx) {
        strbuf_dispose(&ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *ctype,
                                 const char *body, const char *hname, const char *hvalue)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", ctype);
    if (hname)
        MHD_add_response_header(r, hname, hvalue);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends and frees j. */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, cJSON *j,
                                 const char *hname, const char *hvalue)
{
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    enum MHD_Result ret =
        send_text(c, status, "application/json; charset=utf-8", s ? s : "{}", hname, hvalue);
    free(s);
    return ret;
}

static cJSON *slack_error(const char *code)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "ok", false);
    cJSON_AddStringToObject(j, "error", code);
    return j;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes application/x-www-form-urlencoded in place. */
static void form_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '+') {
            *o++ = ' ';
        } else if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

static void parse_form(cJSON *args, const char *body)
{
    char *copy = xstrdup(body);
    char *save = NULL;
    for (char *pair = strtok_r(copy, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        const char *val = "";
        if (eq) {
            *eq = '\0';
            val = eq + 1;
        }
        char *k = xstrdup(pair), *v = xstrdup(val);
        form_decode(k);
        form_decode(v);
        cJSON_DeleteItemFromObjectCaseSensitive(args, k);
        cJSON_AddStringToObject(args, k, v);
        free(k);
        free(v);
    }
    free(copy);
}

static enum MHD_Result add_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    cJSON *args = cls;
    if (key && !cJSON_GetObjectItemCaseSensitive(args, key))
        cJSON_AddStringToObject(args, key, value ? value : "");
    return MHD_YES;
}

static bool has_charset(const char *ct)
{
    for (; *ct; ct++)
        if (strncasecmp(ct, "charset", 7) == 0)
            return true;
    return false;
}

/* Arguments of a Slack call: the JSON or form body, then query arguments. */
static cJSON *request_args(struct MHD_Connection *c, const req_ctx *ctx, bool *json_no_charset,
                           bool *bad_json)
{
    cJSON *args = NULL;
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    *json_no_charset = false;
    *bad_json = false;
    if (ct && strncasecmp(ct, "application/json", 16) == 0) {
        args = ctx->body.len ? cJSON_ParseWithLength(ctx->body.p, ctx->body.len)
                             : cJSON_CreateObject();
        if (!cJSON_IsObject(args)) {
            cJSON_Delete(args);
            *bad_json = true;
            args = cJSON_CreateObject();
        }
        *json_no_charset = !has_charset(ct);
    } else {
        args = cJSON_CreateObject();
        if (ctx->body.len)
            parse_form(args, ctx->body.p);
    }
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_query_arg, args);
    return args;
}

/* ==== Slack methods (called with mu held) ================================================= */

typedef struct call {
    struct MHD_Connection *conn;
    const char *method;
    cJSON *args;
    cJSON *ws; /* the caller's workspace, after auth */
    bool json_no_charset;
    /* out */
    unsigned status;
    cJSON *answer;
    char retry_after[24];
    bool drop_after;
} call;

/* Authenticates by bearer token (or a "token" argument). NULL answer when ok. */
static cJSON *authenticate(call *k)
{
    const char *auth = MHD_lookup_connection_value(k->conn, MHD_HEADER_KIND, "Authorization");
    const char *token = NULL;
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
        token = auth + 7;
    else
        token = jstr(k->args, "token");
    if (!token || !*token)
        return slack_error("not_authed");
    cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(state, "workspaces"))
    {
        if (str_in(cJSON_GetObjectItemCaseSensitive(w, "tokens"), token)) {
            /* Token rotation: an access token lives until its expiry (wall clock). */
            const cJSON *exp = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(w, "token_expiry"), token);
            if (cJSON_IsNumber(exp) && (double)util_now_wall_ms() / 1000.0 >= exp->valuedouble)
                return slack_error("token_expired");
            k->ws = w;
            return NULL;
        }
        if (str_in(cJSON_GetObjectItemCaseSensitive(w, "revoked_tokens"), token))
            return slack_error("token_revoked");
        if (str_in(cJSON_GetObjectItemCaseSensitive(w, "inactive_tokens"), token))
            return slack_error("account_inactive");
    }
    return slack_error("invalid_auth");
}

static const char *ws_id(const call *k)
{
    return jstr(k->ws, "id");
}

/* The channel object for id or #name/name visible to the caller's workspace, or NULL.
 * auto_channels turns an unknown C/G id into a public channel on the fly. */
static cJSON *resolve_channel(call *k, const char *ch)
{
    const char *team = ws_id(k);
    const char *name = ch[0] == '#' ? ch + 1 : ch;
    cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(state, "channels"))
    {
        if (!in_team(v, team))
            continue;
        const char *id = jstr(v, "id"), *n = jstr(v, "name");
        if (strcmp(id, ch) == 0 || (n && strcmp(n, name) == 0))
            return v;
    }
    if (ch[0] != '#' && (ch[0] == 'C' || ch[0] == 'G') && strlen(ch) >= 2 && strlen(ch) < 40 &&
        (jbool(state, "auto_channels"))) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "id", ch);
        cJSON_AddStringToObject(c, "name", ch);
        cJSON_AddStringToObject(c, "team", team);
        cJSON_AddBoolToObject(c, "private", false);
        cJSON_AddBoolToObject(c, "member", true);
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(state, "channels"), c);
        return c;
    }
    return NULL;
}

static cJSON *find_user(const char *team, const char *field, const char *value)
{
    cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(state, "users"))
    {
        const char *s = jstr(v, field);
        if (s && in_team(v, team) &&
            (strcmp(field, "email") == 0 ? strcasecmp(s, value) == 0 : strcmp(s, value) == 0))
            return v;
    }
    return NULL;
}

static void dm_id(char *out, size_t size, const char *user_id)
{
    snprintf(out, size, "D%s", user_id[0] == 'U' || user_id[0] == 'W' ? user_id + 1 : user_id);
}

/* Walks all strings of j: UTF-8 validity. */
static bool all_utf8(const cJSON *j)
{
    if (cJSON_IsString(j))
        return utf8_valid_str(j->valuestring);
    const cJSON *c;
    cJSON_ArrayForEach(c, j)
    {
        if (!all_utf8(c))
            return false;
    }
    return true;
}

static size_t text_of(const cJSON *textobj, const char **type)
{
    *type = jstr(textobj, "type");
    const char *t = jstr(textobj, "text");
    return t ? render_text_units(t) : (size_t)-1;
}

/* Slack's block limits, as far as Herald's renderer is concerned. Returns an error code. */
static const char *check_blocks(const cJSON *blocks, size_t *total)
{
    if (!cJSON_IsArray(blocks))
        return "invalid_blocks_format";
    if (cJSON_GetArraySize(blocks) > 50)
        return "invalid_blocks";
    const cJSON *b;
    cJSON_ArrayForEach(b, blocks)
    {
        const char *type = jstr(b, "type");
        if (!cJSON_IsObject(b) || !type)
            return "invalid_blocks";
        const char *tt = NULL;
        if (strcmp(type, "header") == 0) {
            size_t n = text_of(cJSON_GetObjectItemCaseSensitive(b, "text"), &tt);
            if (n == (size_t)-1 || n == 0 || n > 150 || !tt || strcmp(tt, "plain_text") != 0)
                return "invalid_blocks";
            *total += n;
        } else if (strcmp(type, "section") == 0) {
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(b, "text");
            const cJSON *fields = cJSON_GetObjectItemCaseSensitive(b, "fields");
            if (!text && !fields)
                return "invalid_blocks";
            if (text) {
                size_t n = text_of(text, &tt);
                if (n == (size_t)-1 || n == 0 || n > 3000)
                    return "invalid_blocks";
                *total += n;
            }
            if (fields) {
                if (!cJSON_IsArray(fields) || cJSON_GetArraySize(fields) > 10 ||
                    cJSON_GetArraySize(fields) == 0)
                    return "invalid_blocks";
                const cJSON *f;
                cJSON_ArrayForEach(f, fields)
                {
                    size_t n = text_of(f, &tt);
                    if (n == (size_t)-1 || n == 0 || n > 2000)
                        return "invalid_blocks";
                    *total += n;
                }
            }
        } else if (strcmp(type, "context") == 0) {
            const cJSON *els = cJSON_GetObjectItemCaseSensitive(b, "elements");
            if (!cJSON_IsArray(els) || cJSON_GetArraySize(els) == 0 || cJSON_GetArraySize(els) > 10)
                return "invalid_blocks";
            const cJSON *e;
            cJSON_ArrayForEach(e, els)
            {
                size_t n = text_of(e, &tt);
                if (n != (size_t)-1) {
                    if (n == 0 || n > 3000)
                        return "invalid_blocks";
                    *total += n;
                }
            }
        } else if (strcmp(type, "actions") == 0) {
            const cJSON *els = cJSON_GetObjectItemCaseSensitive(b, "elements");
            if (!cJSON_IsArray(els) || cJSON_GetArraySize(els) == 0 || cJSON_GetArraySize(els) > 25)
                return "invalid_blocks";
            const cJSON *e;
            cJSON_ArrayForEach(e, els)
            {
                size_t n = text_of(cJSON_GetObjectItemCaseSensitive(e, "text"), &tt);
                if (n == (size_t)-1 || n > 75)
                    return "invalid_blocks";
                const char *url = jstr(e, "url");
                if (url && strlen(url) > 3000)
                    return "invalid_blocks";
            }
        }
    }
    return NULL;
}

static bool pings(const char *s)
{
    return s && (strstr(s, "<!channel") || strstr(s, "<!here") || strstr(s, "<!everyone") ||
                 strstr(s, "<@") || strstr(s, "<!subteam"));
}

static bool any_ping(const cJSON *j)
{
    if (cJSON_IsString(j))
        return pings(j->valuestring);
    const cJSON *c;
    cJSON_ArrayForEach(c, j)
    {
        if (any_ping(c))
            return true;
    }
    return false;
}

static void next_ts(char *out, size_t size)
{
    int64_t us = util_now_wall_ms() * 1000;
    if (us <= last_ts_us)
        us = last_ts_us + 1;
    last_ts_us = us;
    snprintf(out, size, "%lld.%06lld", (long long)(us / 1000000), (long long)(us % 1000000));
}

static void chan_stat(const char *channel, const char *name)
{
    cJSON *chs = stat_obj("channels");
    cJSON *c = cJSON_GetObjectItemCaseSensitive(chs, channel);
    if (!c) {
        c = cJSON_AddObjectToObject(chs, channel);
        cJSON_AddNumberToObject(c, "messages", 0);
        cJSON_AddNumberToObject(c, "rate_limited", 0);
    }
    bump(c, name, 1);
}

static void m_post_message(call *k)
{
    const char *ch = jstr(k->args, "channel");
    if (!ch || !*ch) {
        k->answer = slack_error("channel_not_found");
        return;
    }
    char dm[64] = "";
    cJSON *chan = NULL;
    cJSON *user = NULL;
    if ((ch[0] == 'U' || ch[0] == 'W') && (user = find_user(ws_id(k), "id", ch))) {
        if (jbool(user, "deleted")) {
            k->answer = slack_error("user_not_found");
            return;
        }
        if (jbool(user, "messages_tab_disabled")) {
            k->answer = slack_error("messages_tab_disabled");
            return;
        }
        dm_id(dm, sizeof dm, ch);
    } else if (ch[0] == 'D') {
        /* A DM channel we handed out: D + user id suffix. */
        char uid[64];
        snprintf(uid, sizeof uid, "U%s", ch + 1);
        if (!(user = find_user(ws_id(k), "id", uid)) || jbool(user, "deleted")) {
            k->answer = slack_error("channel_not_found");
            return;
        }
        snprintf(dm, sizeof dm, "%s", ch);
    } else {
        chan = resolve_channel(k, ch);
        if (!chan) {
            k->answer = slack_error("channel_not_found");
            return;
        }
    }
    const char *channel_id = chan ? jstr(chan, "id") : dm;

    /* Pace like Slack: per channel, then per workspace. */
    char key[160];
    snprintf(key, sizeof key, "%s/%s", ws_id(k), channel_id);
    int64_t now = util_now_mono_ms();
    int64_t wait = ratelimit_table_peek(channel_limits, key, now);
    if (wait == 0)
        wait = ratelimit_table_peek(workspace_limits, ws_id(k), now);
    if (wait == 0) {
        ratelimit_table_take(channel_limits, key, now);
        ratelimit_table_take(workspace_limits, ws_id(k), now);
    } else {
        k->status = 429;
        snprintf(k->retry_after, sizeof k->retry_after, "%lld",
                 (long long)((wait + 999) / 1000 > 0 ? (wait + 999) / 1000 : 1));
        k->answer = slack_error("ratelimited");
        bump(stats, "rate_limited", 1);
        chan_stat(channel_id, "rate_limited");
        return;
    }

    if (chan) {
        if (jbool(chan, "archived")) {
            k->answer = slack_error("is_archived");
            return;
        }
        if (jbool(chan, "private") && !jbool(chan, "member")) {
            k->answer = slack_error("not_in_channel");
            return;
        }
        const char *pe = jstr(chan, "post_error");
        if (pe && *pe) {
            k->answer = slack_error(pe);
            return;
        }
    }

    const char *text = jstr(k->args, "text");
    cJSON *blocks = cJSON_GetObjectItemCaseSensitive(k->args, "blocks");
    cJSON *parsed_blocks = NULL;
    if (cJSON_IsString(blocks)) { /* form-encoded: blocks is JSON text */
        parsed_blocks = cJSON_Parse(blocks->valuestring);
        if (!parsed_blocks) {
            k->answer = slack_error("invalid_blocks_format");
            return;
        }
        blocks = parsed_blocks;
    }
    if ((!text || !*text) && (!blocks || cJSON_GetArraySize(blocks) == 0)) {
        cJSON_Delete(parsed_blocks);
        k->answer = slack_error("no_text");
        return;
    }
    if (!all_utf8(k->args) || (parsed_blocks && !all_utf8(parsed_blocks))) {
        cJSON_Delete(parsed_blocks);
        k->answer = slack_error("invalid_charset");
        return;
    }
    if (text && render_text_units(text) > 40000) {
        cJSON_Delete(parsed_blocks);
        k->answer = slack_error("msg_too_long");
        return;
    }
    if (blocks) {
        size_t total = 0;
        const char *err = check_blocks(blocks, &total);
        if (!err && total > 12000)
            err = "msg_blocks_too_long";
        if (err) {
            cJSON_Delete(parsed_blocks);
            k->answer = slack_error(err);
            return;
        }
    }

    char ts[40];
    next_ts(ts, sizeof ts);
    const char *thread_ts = jstr(k->args, "thread_ts");
    bool ping = pings(text) || (blocks && any_ping(blocks));

    messages_total++;
    bump(stats, "messages", 1);
    if (ping)
        bump(stats, "pings", 1);
    chan_stat(channel_id, "messages");
    if (messages_total <= opt.max_messages) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "channel", channel_id);
        cJSON_AddStringToObject(m, "ts", ts);
        cJSON_AddStringToObject(m, "team", ws_id(k));
        if (user)
            cJSON_AddStringToObject(m, "user", jstr(user, "id"));
        cJSON_AddStringToObject(m, "text", text ? text : "");
        cJSON_AddItemToObject(m, "blocks",
                              blocks ? cJSON_Duplicate(blocks, 1) : cJSON_CreateNull());
        if (thread_ts)
            cJSON_AddStringToObject(m, "thread_ts", thread_ts);
        else
            cJSON_AddNullToObject(m, "thread_ts");
        cJSON_AddNumberToObject(m, "time", (double)util_now_wall_ms());
        cJSON_AddBoolToObject(m, "pings", ping);
        cJSON_AddItemToArray(messages, m);
    }

    cJSON *a = cJSON_CreateObject();
    cJSON_AddBoolToObject(a, "ok", true);
    cJSON_AddStringToObject(a, "channel", channel_id);
    cJSON_AddStringToObject(a, "ts", ts);
    cJSON *msg = cJSON_AddObjectToObject(a, "message");
    cJSON_AddStringToObject(msg, "type", "message");
    cJSON_AddStringToObject(msg, "subtype", "bot_message");
    cJSON_AddStringToObject(msg, "text", text ? text : "");
    cJSON_AddStringToObject(msg, "user",
                            jstr(k->ws, "bot_user_id") ? jstr(k->ws, "bot_user_id") : "U0HERALD");
    cJSON_AddStringToObject(msg, "bot_id",
                            jstr(k->ws, "bot_id") ? jstr(k->ws, "bot_id") : "B0HERALD");
    cJSON_AddStringToObject(msg, "ts", ts);
    if (thread_ts)
        cJSON_AddStringToObject(msg, "thread_ts", thread_ts);
    if (blocks)
        cJSON_AddItemToObject(msg, "blocks", cJSON_Duplicate(blocks, 1));
    cJSON_Delete(parsed_blocks);
    if (k->json_no_charset) {
        cJSON_AddStringToObject(a, "warning", "missing_charset");
        cJSON *meta = cJSON_AddObjectToObject(a, "response_metadata");
        cJSON *ws = cJSON_AddArrayToObject(meta, "warnings");
        cJSON_AddItemToArray(ws, cJSON_CreateString("missing_charset"));
    }
    k->answer = a;
    if (flt.next_drops_after_post > 0) {
        flt.next_drops_after_post--;
        bump(stat_obj("faults"), "drops_after_post", 1);
        k->drop_after = true;
    }
}

/*
 * chat.update: edits a message this fake accepted (same channel and ts),
 * recording the edit for /_fake/updates; an unknown ts is message_not_found,
 * as Slack answers. Paced per workspace only (Slack's Tier 3), not per
 * channel.
 */
static void m_update_message(call *k)
{
    const char *ch = jstr(k->args, "channel"), *ts = jstr(k->args, "ts");
    if (!ch || !*ch) {
        k->answer = slack_error("channel_not_found");
        return;
    }
    if (!ts || !*ts) {
        k->answer = slack_error("message_not_found");
        return;
    }
    cJSON *m = NULL, *cur;
    cJSON_ArrayForEach(cur, messages)
    {
        if (!strcmp(jstr(cur, "channel"), ch) && !strcmp(jstr(cur, "ts"), ts) &&
            !strcmp(jstr(cur, "team"), ws_id(k))) {
            m = cur;
            break;
        }
    }
    if (!m) {
        k->answer = slack_error("message_not_found");
        return;
    }
    const char *text = jstr(k->args, "text");
    cJSON *blocks = cJSON_GetObjectItemCaseSensitive(k->args, "blocks");
    cJSON *parsed = NULL;
    if (cJSON_IsString(blocks)) {
        parsed = cJSON_Parse(blocks->valuestring);
        if (!parsed) {
            k->answer = slack_error("invalid_blocks_format");
            return;
        }
        blocks = parsed;
    }
    size_t total = 0;
    const char *err = blocks ? check_blocks(blocks, &total) : NULL;
    if (!err && total > 12000)
        err = "msg_blocks_too_long";
    if (err || (!blocks && (!text || !*text))) {
        cJSON_Delete(parsed);
        k->answer = slack_error(err ? err : "no_text");
        return;
    }
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "channel", ch);
    cJSON_AddStringToObject(u, "ts", ts);
    cJSON_AddStringToObject(u, "team", ws_id(k));
    cJSON_AddStringToObject(u, "text", text ? text : "");
    cJSON_AddItemToObject(u, "blocks", blocks ? cJSON_Duplicate(blocks, 1) : cJSON_CreateNull());
    cJSON_AddNumberToObject(u, "time", (double)util_now_wall_ms());
    cJSON_AddItemToArray(updates, u);
    bump(stats, "updates", 1);
    /* The stored message shows the edit, as Slack's history would. */
    cJSON_ReplaceItemInObjectCaseSensitive(m, "text", cJSON_CreateString(text ? text : ""));
    cJSON_ReplaceItemInObjectCaseSensitive(
        m, "blocks", blocks ? cJSON_Duplicate(blocks, 1) : cJSON_CreateNull());
    /* and how many times it was edited */
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(m, "updates");
    double count = cJSON_IsNumber(n) ? n->valuedouble + 1 : 1;
    cJSON_DeleteItemFromObjectCaseSensitive(m, "updates");
    cJSON_AddNumberToObject(m, "updates", count);
    cJSON_Delete(parsed);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddBoolToObject(a, "ok", true);
    cJSON_AddStringToObject(a, "channel", ch);
    cJSON_AddStringToObject(a, "ts", ts);
    cJSON_AddStringToObject(a, "text", text ? text : "");
    k->answer = a;
}

/* usergroups.users.list: the members of a configured user group of the workspace. */
static void m_usergroup_members(call *k)
{
    const char *id = jstr(k->args, "usergroup");
    const cJSON *g = id && *id ? find_by("usergroups", "id", id) : NULL;
    if (!g || !in_team(g, ws_id(k))) {
        k->answer = slack_error("no_such_subteam");
        return;
    }
    cJSON *a = cJSON_CreateObject();
    cJSON_AddBoolToObject(a, "ok", true);
    const cJSON *users = cJSON_GetObjectItemCaseSensitive(g, "users");
    cJSON_AddItemToObject(a, "users",
                          cJSON_IsArray(users) ? cJSON_Duplicate(users, 1) : cJSON_CreateArray());
    k->answer = a;
}

static cJSON *user_json(const cJSON *u, const char *team)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", jstr(u, "id"));
    cJSON_AddStringToObject(o, "team_id", team);
    cJSON_AddStringToObject(o, "name", jstr(u, "name") ? jstr(u, "name") : "");
    cJSON_AddStringToObject(o, "real_name", jstr(u, "real_name") ? jstr(u, "real_name") : "");
    cJSON_AddBoolToObject(o, "deleted", jbool(u, "deleted"));
    cJSON_AddBoolToObject(o, "is_bot", false);
    cJSON *p = cJSON_AddObjectToObject(o, "profile");
    cJSON_AddStringToObject(p, "email", jstr(u, "email") ? jstr(u, "email") : "");
    cJSON_AddStringToObject(p, "display_name", jstr(u, "name") ? jstr(u, "name") : "");
    return o;
}

static void m_lookup_by_email(call *k)
{
    const char *email = jstr(k->args, "email");
    if (!email || !*email) {
        k->answer = slack_error("invalid_arguments");
        return;
    }
    cJSON *u = find_user(ws_id(k), "email", email);
    if (!u || jbool(u, "deleted")) {
        k->answer = slack_error("users_not_found");
        return;
    }
    cJSON *a = cJSON_CreateObject();
    cJSON_AddBoolToObject(a, "ok", true);
    cJSON_AddItemToObject(a, "user", user_json(u, ws_id(k)));
    k->answer = a;
}

static cJSON *channel_json(const cJSON *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", jstr(c, "id"));
    cJSON_AddStringToObject(o, "name", jstr(c, "name") ? jstr(c, "name") : jstr(c, "id"));
    cJSON_AddBoolToObject(o, "is_channel", !jbool(c, "private"));
    cJSON_AddBoolToObject(o, "is_group", jbool(c, "private"));
    cJSON_AddBoolToObject(o, "is_im", false);
    cJSON_AddBoolToObject(o, "is_private", jbool(c, "private"));
    cJSON_AddBoolToObject(o, "is_archived", jbool(c, "archived"));
    cJSON_AddBoolToObject(o, "is_member", jbool(c, "member"));
    return o;
}

static void m_conversations_info(call *k)
{
    const char *ch = jstr(k->args, "channel");
    if (!ch || !*ch) {
        k->answer = slack_error("channel_not_found");
        return;
    }
    cJSON *a = cJSON_CreateObject();
    if (ch[0] == 'D') {
        char uid[64];
        snprintf(uid, sizeof uid, "U%s", ch + 1);
        cJSON *u = find_user(ws_id(k), "id", uid);
        if (!u) {
            cJSON_Delete(a);
            k->answer = slack_error("channel_not_found");
            return;
        }
        cJSON_AddBoolToObject(a, "ok", true);
        cJSON *o = cJSON_AddObjectToObject(a, "channel");
        cJSON_AddStringToObject(o, "id", ch);
        cJSON_AddBoolToObject(o, "is_im", true);
        cJSON_AddStringToObject(o, "user", uid);
        k->answer = a;
        return;
    }
    cJSON *c = resolve_channel(k, ch);
    /* Slack does not reveal private channels the bot is not in. */
    if (!c || (jbool(c, "private") && !jbool(c, "member"))) {
        cJSON_Delete(a);
        k->answer = slack_error("channel_not_found");
        return;
    }
    cJSON_AddBoolToObject(a, "ok", true);
    cJSON_AddItemToObject(a, "channel", channel_json(c));
    k->answer = a;
}

static void m_conversations_list(call *k)
{
    const char *types = jstr(k->args, "types");
    if (!types || !*types)
        types = "public_channel";
    bool want_pub = strstr(types, "public_channel") != NULL;
    bool want_priv = strstr(types, "private_channel") != NULL;
    const char *ex = jstr(k->args, "exclude_archived");
    bool exclude_archived = ex && (strcmp(ex, "true") == 0 || strcmp(ex, "1") == 0);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k->args, "exclude_archived")))
        exclude_archived = true;
    long limit = 100;
    const char *ls = jstr(k->args, "limit");
    const cJSON *ln = cJSON_GetObjectItemCaseSensitive(k->args, "limit");
    if (ls)
        limit = strtol(ls, NULL, 10);
    else if (cJSON_IsNumber(ln))
        limit = (long)ln->valuedouble;
    if (limit <= 0 || limit > 1000)
        limit = 100;
    long offset = 0;
    const char *cursor = jstr(k->args, "cursor");
    if (cursor && *cursor) {
        if (strncmp(cursor, "dGVhbTpD", 8) != 0 || (offset = strtol(cursor + 8, NULL, 10)) < 0) {
            k->answer = slack_error("invalid_cursor");
            return;
        }
    }
    cJSON *a = cJSON_CreateObject();
    cJSON_AddBoolToObject(a, "ok", true);
    cJSON *arr = cJSON_AddArrayToObject(a, "channels");
    long idx = 0, added = 0;
    bool more = false;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(state, "channels"))
    {
        if (!in_team(c, ws_id(k)))
            continue;
        bool priv = jbool(c, "private");
        if ((priv && (!want_priv || !jbool(c, "member"))) || (!priv && !want_pub))
            continue;
        if (exclude_archived && jbool(c, "archived"))
            continue;
        if (idx++ < offset)
            continue;
        if (added == limit) {
            more = true;
            break;
        }
        cJSON_AddItemToArray(arr, channel_json(c));
        added++;
    }
    cJSON *meta = cJSON_AddObjectToObject(a, "response_metadata");
    char next[64] = "";
    if (more)
        snprintf(next, sizeof next, "dGVhbTpD%ld", offset + added);
    cJSON_AddStringToObject(meta, "next_cursor", next);
    k->answer = a;
}

static void m_conversations_open(call *k)
{
    const char *users = jstr(k->args, "users");
    if (!users || !*users) {
        k->answer = slack_error("users_list_not_supplied");
        return;
    }
    if (strchr(users, ',')) {
        k->answer = slack_error("not_enough_users"); /* group DMs are not Herald's business */
        return;
    }
    cJSON *u = find_user(ws_id(k), "id", users);
    if (!u || jbool(u, "deleted")) {
        k->answer = slack_error("user_not_found");
        return;
    }
    char dm[64];
    dm_id(dm, sizeof dm, users);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddBoolToObject(a, "ok", true);
    cJSON *o = cJSON_AddObjectToObject(a, "channel");
    cJSON_AddStringToObject(o, "id", dm);
    k->answer = a;
}

static void m_auth_test(call *k)
{
    cJSON *a = cJSON_CreateObject();
    char url[256];
    const char *domain = jstr(k->ws, "domain");
    snprintf(url, sizeof url, "https://%s.slack.com/", domain ? domain : ws_id(k));
    cJSON_AddBoolToObject(a, "ok", true);
    cJSON_AddStringToObject(a, "url", url);
    cJSON_AddStringToObject(a, "team", jstr(k->ws, "name") ? jstr(k->ws, "name") : ws_id(k));
    cJSON_AddStringToObject(a, "user", "herald");
    cJSON_AddStringToObject(a, "team_id", ws_id(k));
    cJSON_AddStringToObject(a, "user_id",
                            jstr(k->ws, "bot_user_id") ? jstr(k->ws, "bot_user_id") : "U0HERALD");
    cJSON_AddStringToObject(a, "bot_id",
                            jstr(k->ws, "bot_id") ? jstr(k->ws, "bot_id") : "B0HERALD");
    cJSON_AddBoolToObject(a, "is_enterprise_install", false);
    k->answer = a;
}

static void random_hex(char *out, size_t nbytes)
{
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned)(rnd() * 256) & 0xff);
}

/* A new bot token of workspace ws, accepted from now on, into out. */
static void mint_token(cJSON *ws, char *out, size_t size)
{
    char hex[17];
    random_hex(hex, 8);
    snprintf(out, size, "xoxb-fake-%s-%ld-%s", jstr(ws, "id"), ++token_serial, hex);
    cJSON *tokens = cJSON_GetObjectItemCaseSensitive(ws, "tokens");
    if (!tokens)
        tokens = cJSON_AddArrayToObject(ws, "tokens");
    cJSON_AddItemToArray(tokens, cJSON_CreateString(out));
}

static cJSON *ws_obj(cJSON *ws, const char *name)
{
    cJSON *o = cJSON_GetObjectItemCaseSensitive(ws, name);
    if (!cJSON_IsObject(o)) {
        cJSON_DeleteItemFromObjectCaseSensitive(ws, name);
        o = cJSON_AddObjectToObject(ws, name);
    }
    return o;
}

static cJSON *ws_arr(cJSON *ws, const char *name)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(ws, name);
    if (!cJSON_IsArray(a)) {
        cJSON_DeleteItemFromObjectCaseSensitive(ws, name);
        a = cJSON_AddArrayToObject(ws, name);
    }
    return a;
}

/* Token rotation: token expires in oauth.expires_in seconds (12 h by default) and comes
 * with a new refresh token, both added to answer a. */
static void add_rotation(cJSON *a, cJSON *ws, const char *token, const cJSON *oauth)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(oauth, "expires_in");
    double expires_in = cJSON_IsNumber(e) && e->valuedouble > 0 ? e->valuedouble : 43200;
    char refresh[96], hex[17];
    random_hex(hex, 8);
    snprintf(refresh, sizeof refresh, "xoxe-1-fake-%s-%ld-%s", jstr(ws, "id"), ++token_serial, hex);
    cJSON_AddItemToArray(ws_arr(ws, "refresh_tokens"), cJSON_CreateString(refresh));
    cJSON *expiry = ws_obj(ws, "token_expiry");
    cJSON_DeleteItemFromObjectCaseSensitive(expiry, token);
    cJSON_AddNumberToObject(expiry, token, (double)util_now_wall_ms() / 1000.0 + expires_in);
    cJSON_AddStringToObject(a, "refresh_token", refresh);
    cJSON_AddNumberToObject(a, "expires_in", (double)(long)expires_in);
}

/* oauth.v2.access's answer for workspace ws: a new bot token minted for it,
 * with the rotation fields when rotating. */
static cJSON *oauth_answer(cJSON *ws, const cJSON *oauth, bool rotating)
{
    char token[96];
    mint_token(ws, token, sizeof token);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddBoolToObject(a, "ok", true);
    cJSON_AddStringToObject(a, "app_id", "A0FAKEAPP");
    cJSON_AddStringToObject(a, "scope",
                            jstr(oauth, "scope") ? jstr(oauth, "scope")
                                                 : "chat:write,chat:write.public,users:read,"
                                                   "users:read.email,im:write,channels:read,"
                                                   "groups:read");
    cJSON_AddStringToObject(a, "token_type", "bot");
    cJSON_AddStringToObject(a, "access_token", token);
    cJSON_AddStringToObject(a, "bot_user_id",
                            jstr(ws, "bot_user_id") ? jstr(ws, "bot_user_id") : "U0HERALD");
    cJSON *team = cJSON_AddObjectToObject(a, "team");
    cJSON_AddStringToObject(team, "id", jstr(ws, "id"));
    cJSON_AddStringToObject(team, "name", jstr(ws, "name") ? jstr(ws, "name") : jstr(ws, "id"));
    cJSON_AddNullToObject(a, "enterprise");
    cJSON_AddBoolToObject(a, "is_enterprise_install", false);
    if (rotating)
        add_rotation(a, ws, token, oauth);
    return a;
}

/* oauth.v2.access grant_type=refresh_token: a valid refresh token buys a new pair and is
 * revoked (the previous access token lives until its own expiry, as at Slack). */
static void oauth_refresh(call *k, const cJSON *oauth)
{
    const char *rt = jstr(k->args, "refresh_token");
    cJSON *w, *ws = NULL;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(state, "workspaces"))
    {
        cJSON *list = cJSON_GetObjectItemCaseSensitive(w, "refresh_tokens");
        for (int i = 0; rt && i < cJSON_GetArraySize(list); i++) {
            cJSON *t = cJSON_GetArrayItem(list, i);
            if (cJSON_IsString(t) && strcmp(t->valuestring, rt) == 0) {
                cJSON_AddItemToArray(ws_arr(w, "revoked_refresh_tokens"),
                                     cJSON_DetachItemFromArray(list, i));
                ws = w;
                break;
            }
        }
        if (ws)
            break;
    }
    if (!ws) {
        k->answer = slack_error("invalid_refresh_token");
        return;
    }
    cJSON *a = oauth_answer(ws, oauth, true);
    bump(stats, "refreshes", 1);
    k->answer = a;
}

static void m_oauth_access(call *k)
{
    const cJSON *oauth = cJSON_GetObjectItemCaseSensitive(state, "oauth");
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(k->conn, &pass);
    const char *cid = user ? user : jstr(k->args, "client_id");
    const char *secret = user ? pass : jstr(k->args, "client_secret");
    const char *want_id = jstr(oauth, "client_id"), *want_secret = jstr(oauth, "client_secret");
    if (!cid || !want_id || strcmp(cid, want_id) != 0) {
        k->answer = slack_error("invalid_client_id");
    } else if (!secret || !want_secret || strcmp(secret, want_secret) != 0) {
        k->answer = slack_error("bad_client_secret");
    }
    if (user)
        MHD_free(user);
    if (pass)
        MHD_free(pass);
    if (k->answer)
        return;
    const char *grant = jstr(k->args, "grant_type");
    if (grant && strcmp(grant, "refresh_token") == 0) {
        oauth_refresh(k, oauth);
        return;
    }
    const char *code = jstr(k->args, "code");
    const char *redirect = jstr(k->args, "redirect_uri");
    oauth_code **pp = &codes, *found = NULL;
    for (; *pp; pp = &(*pp)->next) {
        if (code && strcmp((*pp)->code, code) == 0) {
            found = *pp;
            *pp = found->next; /* single use, whatever happens next */
            break;
        }
    }
    if (!found || found->expires_ms < util_now_mono_ms()) {
        free(found);
        k->answer = slack_error("invalid_code");
        return;
    }
    if (found->redirect_uri[0] && (!redirect || strcmp(redirect, found->redirect_uri) != 0)) {
        free(found);
        k->answer = slack_error("bad_redirect_uri");
        return;
    }
    cJSON *ws = find_by("workspaces", "id", found->team);
    free(found);
    if (!ws) {
        k->answer = slack_error("team_not_found");
        return;
    }
    cJSON *a = oauth_answer(ws, oauth, jbool(oauth, "rotation"));
    cJSON *au = cJSON_AddObjectToObject(a, "authed_user");
    cJSON_AddStringToObject(au, "id", "U0INSTALLER");
    k->answer = a;
}

typedef struct method_entry {
    const char *name;
    void (*fn)(call *k);
    bool needs_auth;
} method_entry;

static const method_entry methods[] = {
    {"chat.postMessage", m_post_message, true},
    {"chat.update", m_update_message, true},
    {"usergroups.users.list", m_usergroup_members, true},
    {"users.lookupByEmail", m_lookup_by_email, true},
    {"conversations.info", m_conversations_info, true},
    {"conversations.list", m_conversations_list, true},
    {"conversations.open", m_conversations_open, true},
    {"auth.test", m_auth_test, true},
    {"oauth.v2.access", m_oauth_access, false},
};

/* Fault decision for one Slack call (under mu). */
typedef enum fault_kind { F_NONE, F_DROP, F_ERROR, F_RATE_LIMITED, F_SLACK_ERROR } fault_kind;

static bool fault_applies(const char *method)
{
    return !flt.methods || cJSON_GetArraySize(flt.methods) == 0 || str_in(flt.methods, method);
}

static fault_kind pick_fault(const char *method, long *delay_ms)
{
    *delay_ms = 0;
    if (!fault_applies(method))
        return F_NONE;
    if (flt.delay_ms > 0 && rnd() < flt.delay_rate) {
        *delay_ms = flt.delay_ms;
        bump(stat_obj("faults"), "delayed", 1);
    }
    if (flt.next_drops > 0) {
        flt.next_drops--;
        return F_DROP;
    }
    if (flt.drop_rate > 0 && rnd() < flt.drop_rate)
        return F_DROP;
    if (flt.next_errors > 0) {
        flt.next_errors--;
        return F_ERROR;
    }
    if (flt.error_rate > 0 && rnd() < flt.error_rate)
        return F_ERROR;
    if (flt.next_429 > 0) {
        flt.next_429--;
        return F_RATE_LIMITED;
    }
    if (flt.next_slack_errors > 0 && flt.slack_error[0]) {
        flt.next_slack_errors--;
        return F_SLACK_ERROR;
    }
    return F_NONE;
}

static void sleep_ms(long ms)
{
    while (ms > 0 && !util_should_stop()) {
        long step = ms > 50 ? 50 : ms;
        struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static enum MHD_Result serve_method(struct MHD_Connection *conn, const char *name, req_ctx *ctx)
{
    const method_entry *m = NULL;
    for (size_t i = 0; i < ARRAY_LEN(methods); i++)
        if (strcmp(methods[i].name, name) == 0)
            m = &methods[i];

    pthread_mutex_lock(&mu);
    bump(stat_obj("requests"), name, 1);
    long delay = 0;
    fault_kind fk = pick_fault(name, &delay);
    int status = flt.error_status;
    long retry_after = fk == F_RATE_LIMITED ? flt.retry_after : flt.error_retry_after;
    char slack_err[64];
    snprintf(slack_err, sizeof slack_err, "%s", flt.slack_error);
    if (fk == F_DROP)
        bump(stat_obj("faults"), "drops", 1);
    else if (fk == F_ERROR)
        bump(stat_obj("faults"), "errors", 1);
    else if (fk == F_SLACK_ERROR)
        bump(stat_obj("faults"), "slack_errors", 1);
    else if (fk == F_RATE_LIMITED) {
        /* counted as the pacing's 429s are, and as a fault */
        bump(stats, "rate_limited", 1);
        bump(stat_obj("errors"), "ratelimited", 1);
        bump(stat_obj("faults"), "rate_limited", 1);
    }
    pthread_mutex_unlock(&mu);

    if (delay > 0)
        sleep_ms(delay);
    if (opt.log_requests)
        LOG_INFO("%s%s", name,
                 fk == F_DROP           ? " (dropped)"
                 : fk == F_ERROR        ? " (5xx)"
                 : fk == F_RATE_LIMITED ? " (429)"
                                        : "");
    if (fk == F_DROP)
        return MHD_NO; /* closes the connection without an answer */
    if (fk == F_ERROR) {
        char body[256], ra[16];
        snprintf(body, sizeof body,
                 "<html><head><title>%d</title></head><body><h1>%d Service "
                 "Unavailable</h1></body></html>",
                 status, status);
        snprintf(ra, sizeof ra, "%ld", retry_after);
        return send_text(conn, (unsigned)status, "text/html", body,
                         retry_after > 0 ? "Retry-After" : NULL, ra);
    }
    if (fk == F_RATE_LIMITED) {
        /* Slack's 429: the JSON error body and the seconds to wait */
        char ra[24];
        snprintf(ra, sizeof ra, "%ld", retry_after);
        return send_json(conn, 429, slack_error("ratelimited"),
                         retry_after > 0 ? "Retry-After" : NULL, ra);
    }
    if (fk == F_SLACK_ERROR)
        return send_json(conn, 200, slack_error(slack_err), NULL, NULL);
    if (!m)
        return send_json(conn, 404, slack_error("unknown_method"), NULL, NULL);
    if (ctx->too_big)
        return send_json(conn, 413, slack_error("request_too_large"), NULL, NULL);

    call k = {.conn = conn, .method = name, .status = 200};
    bool bad_json = false;
    k.args = request_args(conn, ctx, &k.json_no_charset, &bad_json);
    if (bad_json) {
        cJSON_Delete(k.args);
        return send_json(conn, 200, slack_error("invalid_json"), NULL, NULL);
    }
    pthread_mutex_lock(&mu);
    if (m->needs_auth)
        k.answer = authenticate(&k);
    if (!k.answer)
        m->fn(&k);
    const char *err = jstr(k.answer, "error");
    if (err)
        bump(stat_obj("errors"), err, 1);
    pthread_mutex_unlock(&mu);
    cJSON_Delete(k.args);
    if (k.drop_after) {
        cJSON_Delete(k.answer);
        return MHD_NO;
    }
    return send_json(conn, k.status, k.answer, k.retry_after[0] ? "Retry-After" : NULL,
                     k.retry_after);
}

/* ==== OAuth authorize page ================================================================ */

static char *url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *o = xmalloc(n * 3 + 1), *p = o;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return o;
}

static enum MHD_Result serve_authorize(struct MHD_Connection *conn)
{
    const char *client_id = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "client_id");
    const char *redirect = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "redirect_uri");
    const char *st = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state");
    const char *team = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "team");
    pthread_mutex_lock(&mu);
    bump(stat_obj("requests"), "oauth/v2/authorize", 1);
    const cJSON *oauth = cJSON_GetObjectItemCaseSensitive(state, "oauth");
    const char *want = jstr(oauth, "client_id");
    if (!client_id || !want || strcmp(client_id, want) != 0 || !redirect || !*redirect) {
        pthread_mutex_unlock(&mu);
        return send_text(conn, 400, "text/html; charset=utf-8",
                         "<html><body><h1>Something went wrong</h1><p>invalid_client_id or "
                         "missing redirect_uri</p></body></html>",
                         NULL, NULL);
    }
    char *er = st ? url_escape(st) : NULL;
    size_t n = strlen(redirect) + 256 + (er ? strlen(er) : 0);
    char *loc = xmalloc(n);
    char sep = strchr(redirect, '?') ? '&' : '?';
    if (jbool(oauth, "deny")) {
        snprintf(loc, n, "%s%cerror=access_denied%s%s", redirect, sep, er ? "&state=" : "",
                 er ? er : "");
    } else {
        oauth_code *c = xcalloc(1, sizeof *c);
        char hex[33];
        random_hex(hex, 16);
        snprintf(c->code, sizeof c->code, "fake-%s", hex);
        snprintf(c->redirect_uri, sizeof c->redirect_uri, "%s", redirect);
        const char *t = team && *team ? team : jstr(oauth, "team");
        if (!t) {
            cJSON *w0 =
                cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(state, "workspaces"), 0);
            t = w0 ? jstr(w0, "id") : "";
        }
        snprintf(c->team, sizeof c->team, "%s", t);
        c->expires_ms = util_now_mono_ms() + 10 * 60 * 1000;
        c->next = codes;
        codes = c;
        snprintf(loc, n, "%s%ccode=%s%s%s", redirect, sep, c->code, er ? "&state=" : "",
                 er ? er : "");
    }
    pthread_mutex_unlock(&mu);
    free(er);
    enum MHD_Result r = send_text(conn, 302, "text/html; charset=utf-8",
                                  "<html><body>Redirecting...</body></html>", "Location", loc);
    free(loc);
    return r;
}

/* ==== /_fake/ control ====================================================================== */

static cJSON *faults_json(void)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "error_rate", flt.error_rate);
    cJSON_AddNumberToObject(f, "error_status", flt.error_status);
    cJSON_AddNumberToObject(f, "next_errors", (double)flt.next_errors);
    cJSON_AddNumberToObject(f, "error_retry_after", (double)flt.error_retry_after);
    cJSON_AddNumberToObject(f, "next_429", (double)flt.next_429);
    cJSON_AddNumberToObject(f, "retry_after", (double)flt.retry_after);
    cJSON_AddNumberToObject(f, "drop_rate", flt.drop_rate);
    cJSON_AddNumberToObject(f, "next_drops", (double)flt.next_drops);
    cJSON_AddNumberToObject(f, "next_drops_after_post", (double)flt.next_drops_after_post);
    cJSON_AddNumberToObject(f, "delay_ms", (double)flt.delay_ms);
    cJSON_AddNumberToObject(f, "delay_rate", flt.delay_rate);
    cJSON_AddStringToObject(f, "slack_error", flt.slack_error);
    cJSON_AddNumberToObject(f, "next_slack_errors", (double)flt.next_slack_errors);
    cJSON_AddItemToObject(f, "methods",
                          flt.methods ? cJSON_Duplicate(flt.methods, 1) : cJSON_CreateArray());
    return f;
}

/* Applies a faults document; returns an error message or NULL. Under mu. */
static const char *faults_apply(const cJSON *j)
{
    if (!cJSON_IsObject(j))
        return "faults: expected a JSON object";
    if (jbool(j, "clear"))
        faults_clear();
    const cJSON *v;
    cJSON_ArrayForEach(v, j)
    {
        const char *k = v->string;
        double d = v->valuedouble;
        if (strcmp(k, "clear") == 0)
            continue;
        if (strcmp(k, "slack_error") == 0) {
            if (!cJSON_IsString(v) && !cJSON_IsNull(v))
                return "faults: slack_error must be a string";
            snprintf(flt.slack_error, sizeof flt.slack_error, "%s",
                     cJSON_IsString(v) ? v->valuestring : "");
            continue;
        }
        if (strcmp(k, "methods") == 0) {
            if (!cJSON_IsArray(v) && !cJSON_IsNull(v))
                return "faults: methods must be an array of method names";
            cJSON_Delete(flt.methods);
            flt.methods = cJSON_IsArray(v) ? cJSON_Duplicate(v, 1) : NULL;
            continue;
        }
        if (!cJSON_IsNumber(v) || d < 0)
            return "faults: values must be non-negative numbers";
        if (strcmp(k, "error_rate") == 0 || strcmp(k, "drop_rate") == 0 ||
            strcmp(k, "delay_rate") == 0) {
            if (d > 1)
                return "faults: rates are fractions from 0 to 1";
            *(strcmp(k, "error_rate") == 0  ? &flt.error_rate
              : strcmp(k, "drop_rate") == 0 ? &flt.drop_rate
                                            : &flt.delay_rate) = d;
        } else if (strcmp(k, "error_status") == 0) {
            if (d < 500 || d > 599)
                return "faults: error_status must be from 500 to 599";
            flt.error_status = (int)d;
        } else if (strcmp(k, "next_errors") == 0) {
            flt.next_errors = (long)d;
        } else if (strcmp(k, "error_retry_after") == 0) {
            flt.error_retry_after = (long)d;
        } else if (strcmp(k, "next_429") == 0) {
            flt.next_429 = (long)d;
        } else if (strcmp(k, "retry_after") == 0) {
            flt.retry_after = (long)d;
        } else if (strcmp(k, "next_drops") == 0) {
            flt.next_drops = (long)d;
        } else if (strcmp(k, "next_drops_after_post") == 0) {
            flt.next_drops_after_post = (long)d;
        } else if (strcmp(k, "delay_ms") == 0) {
            flt.delay_ms = (long)d;
        } else if (strcmp(k, "next_slack_errors") == 0) {
            flt.next_slack_errors = (long)d;
        } else {
            return "faults: unknown field";
        }
    }
    return NULL;
}

static enum MHD_Result bad_request(struct MHD_Connection *c, const char *msg)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "ok", false);
    cJSON_AddStringToObject(j, "error", msg);
    return send_json(c, 400, j, NULL, NULL);
}

static enum MHD_Result ok_json(struct MHD_Connection *c)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "ok", true);
    return send_json(c, 200, j, NULL, NULL);
}

/* GET /_fake/updates[?channel=C&team=T] (under mu; unlocks it). */
static enum MHD_Result serve_updates(struct MHD_Connection *conn)
{
    const char *ch = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "channel");
    const char *team = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "team");
    cJSON *out = cJSON_CreateArray();
    const cJSON *u;
    cJSON_ArrayForEach(u, updates)
    {
        if ((ch && strcmp(jstr(u, "channel"), ch) != 0) ||
            (team && strcmp(jstr(u, "team"), team) != 0))
            continue;
        cJSON_AddItemToArray(out, cJSON_Duplicate(u, 1));
    }
    pthread_mutex_unlock(&mu);
    return send_json(conn, 200, out, NULL, NULL);
}

/* ==== interaction payloads (issue 10: Slack's button presses) =============================== */

static cJSON *responses; /* what was posted to /_fake/respond/..., under mu */

static size_t collect_answer(char *data, size_t size, size_t nmemb, void *ud)
{
    strbuf *b = ud;
    strbuf_add(b, data, size * nmemb); /* capped: the rest is dropped */
    return size * nmemb;
}

/*
 * POST /_fake/interact: builds a block_actions payload as Slack sends it for
 * a button press, signs it as Slack does (v0, HMAC-SHA256 with "secret" at
 * now - age_seconds) and POSTs it form-encoded to "url"; answers {"status":
 * HTTP status (0: no answer), "body": its body}. Called without mu: the
 * receiver calls back into this fake (chat.update) before it answers.
 */
static enum MHD_Result serve_interact(struct MHD_Connection *conn, const cJSON *b)
{
    const char *url = jstr(b, "url"), *secret = jstr(b, "secret");
    if (!url || !secret)
        return bad_request(conn, "interact: url and secret are required");
    const char *team = jstr(b, "team") ? jstr(b, "team") : "T0FAKE01";
    const char *user = jstr(b, "user") ? jstr(b, "user") : "U0ALICE";
    const char *channel = jstr(b, "channel"), *ts = jstr(b, "ts");
    const cJSON *age = cJSON_GetObjectItemCaseSensitive(b, "age_seconds");
    char resp_url[300];
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    static long presses;
    pthread_mutex_lock(&mu);
    long n = ++presses;
    pthread_mutex_unlock(&mu);
    snprintf(resp_url, sizeof resp_url, "http://%s/_fake/respond/%ld", host ? host : "127.0.0.1",
             n);

    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", jstr(b, "type") ? jstr(b, "type") : "block_actions");
    cJSON *t = cJSON_AddObjectToObject(p, "team");
    cJSON_AddStringToObject(t, "id", team);
    cJSON_AddStringToObject(t, "domain", "fake");
    cJSON *u = cJSON_AddObjectToObject(p, "user");
    cJSON_AddStringToObject(u, "id", user);
    cJSON_AddStringToObject(u, "username", jstr(b, "user_name") ? jstr(b, "user_name") : user);
    cJSON_AddStringToObject(u, "name", jstr(b, "user_name") ? jstr(b, "user_name") : user);
    cJSON_AddStringToObject(u, "team_id", team);
    cJSON_AddStringToObject(p, "api_app_id", "A0HERALD");
    cJSON_AddStringToObject(p, "token", "deprecated-verification-token");
    cJSON *c = cJSON_AddObjectToObject(p, "container");
    cJSON_AddStringToObject(c, "type", "message");
    if (ts)
        cJSON_AddStringToObject(c, "message_ts", ts);
    if (channel)
        cJSON_AddStringToObject(c, "channel_id", channel);
    cJSON_AddBoolToObject(c, "is_ephemeral", false);
    cJSON_AddStringToObject(p, "trigger_id", "1.2.fake");
    if (channel) {
        cJSON *ch = cJSON_AddObjectToObject(p, "channel");
        cJSON_AddStringToObject(ch, "id", channel);
        cJSON_AddStringToObject(ch, "name", channel);
    }
    if (ts) {
        cJSON *m = cJSON_AddObjectToObject(p, "message");
        cJSON_AddStringToObject(m, "type", "message");
        cJSON_AddStringToObject(m, "ts", ts);
    }
    cJSON_AddStringToObject(p, "response_url",
                            jstr(b, "response_url") ? jstr(b, "response_url") : resp_url);
    cJSON *acts = cJSON_AddArrayToObject(p, "actions");
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "type", "button");
    cJSON_AddStringToObject(a, "block_id", RENDER_ACTIONS_BLOCK);
    cJSON_AddStringToObject(a, "action_id", jstr(b, "action_id") ? jstr(b, "action_id") : "");
    if (jstr(b, "value"))
        cJSON_AddStringToObject(a, "value", jstr(b, "value"));
    cJSON_AddStringToObject(a, "action_ts", "1700000000.000001");
    cJSON_AddItemToArray(acts, a);
    char *json = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    char *enc = url_escape(json);
    free(json);
    char *form = xmalloc(strlen(enc) + 9);
    snprintf(form, strlen(enc) + 9, "payload=%s", enc);
    free(enc);

    char stamp[24], sig[SLACK_SIGNATURE_LEN + 1], h1[64], h2[128];
    snprintf(stamp, sizeof stamp, "%lld",
             (long long)(util_now_wall_ms() / 1000 - (cJSON_IsNumber(age) ? age->valueint : 0)));
    if (slack_signature(secret, stamp, form, strlen(form), sig) != 0) {
        free(form);
        return bad_request(conn, "interact: could not sign");
    }
    snprintf(h1, sizeof h1, "X-Slack-Request-Timestamp: %s", stamp);
    snprintf(h2, sizeof h2, "X-Slack-Signature: %s", sig);
    struct curl_slist *hs = curl_slist_append(NULL, h1);
    hs = curl_slist_append(hs, h2);
    hs = curl_slist_append(hs, "Content-Type: application/x-www-form-urlencoded");
    strbuf answer;
    strbuf_init(&answer, 64 * 1024);
    long status = 0;
    CURL *e = curl_easy_init();
    if (e) {
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, form);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hs);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect_answer);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &answer);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        if (curl_easy_perform(e) == CURLE_OK)
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(e);
    }
    curl_slist_free_all(hs);
    free(form);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "status", (double)status);
    cJSON_AddStringToObject(out, "body", answer.p ? answer.p : "");
    cJSON_AddStringToObject(out, "response_url", resp_url);
    strbuf_dispose(&answer);
    return send_json(conn, 200, out, NULL, NULL);
}

static enum MHD_Result serve_control(struct MHD_Connection *conn, const char *what,
                                     const char *method, req_ctx *ctx)
{
    bool post = strcmp(method, "POST") == 0;
    cJSON *body = NULL;
    if (post && ctx->body.len) {
        body = cJSON_ParseWithLength(ctx->body.p, ctx->body.len);
        if (!body)
            return bad_request(conn, "body: not valid JSON");
    }
    if (strcmp(what, "interact") == 0 && post) {
        enum MHD_Result ir = serve_interact(conn, body);
        cJSON_Delete(body);
        return ir;
    }
    enum MHD_Result r;
    pthread_mutex_lock(&mu);
    if (strncmp(what, "respond/", 8) == 0 && post) {
        /* A response_url post (an ephemeral note): kept for GET /_fake/responses. */
        cJSON *rec = cJSON_CreateObject();
        cJSON_AddStringToObject(rec, "id", what + 8);
        cJSON_AddItemToObject(rec, "body", body ? cJSON_Duplicate(body, 1) : cJSON_CreateNull());
        if (!responses)
            responses = cJSON_CreateArray();
        cJSON_AddItemToArray(responses, rec);
        pthread_mutex_unlock(&mu);
        r = ok_json(conn);
    } else if (strcmp(what, "responses") == 0 && !post) {
        cJSON *out = responses ? cJSON_Duplicate(responses, 1) : cJSON_CreateArray();
        pthread_mutex_unlock(&mu);
        r = send_json(conn, 200, out, NULL, NULL);
    } else if (strcmp(what, "messages") == 0 && !post) {
        const char *ch = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "channel");
        const char *team = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "team");
        cJSON *out = cJSON_CreateArray();
        const cJSON *m;
        cJSON_ArrayForEach(m, messages)
        {
            if ((ch && strcmp(jstr(m, "channel"), ch) != 0) ||
                (team && strcmp(jstr(m, "team"), team) != 0))
                continue;
            cJSON_AddItemToArray(out, cJSON_Duplicate(m, 1));
        }
        pthread_mutex_unlock(&mu);
        r = send_json(conn, 200, out, NULL, NULL);
    } else if (strcmp(what, "updates") == 0 && !post) {
        r = serve_updates(conn);
    } else if (strcmp(what, "stats") == 0 && !post) {
        cJSON *s = cJSON_Duplicate(stats, 1);
        cJSON_AddNumberToObject(s, "messages_total", (double)messages_total);
        pthread_mutex_unlock(&mu);
        r = send_json(conn, 200, s, NULL, NULL);
    } else if (strcmp(what, "faults") == 0) {
        const char *err = NULL;
        if (post)
            err = body ? faults_apply(body) : "faults: expected a JSON object";
        cJSON *f = faults_json();
        pthread_mutex_unlock(&mu);
        if (err) {
            cJSON_Delete(f);
            r = bad_request(conn, err);
        } else {
            r = send_json(conn, 200, f, NULL, NULL);
        }
    } else if (strcmp(what, "state") == 0 && post) {
        const char *err = body ? state_check(body) : "state: expected a JSON object";
        if (!err)
            state_merge(body);
        pthread_mutex_unlock(&mu);
        r = err ? bad_request(conn, err) : ok_json(conn);
    } else if (strcmp(what, "revoke") == 0 && post) {
        const char *token = jstr(body, "token"), *team = jstr(body, "team");
        int revoked = 0;
        cJSON *w;
        cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(state, "workspaces"))
        {
            cJSON *tokens = cJSON_GetObjectItemCaseSensitive(w, "tokens");
            cJSON *rev = cJSON_GetObjectItemCaseSensitive(w, "revoked_tokens");
            if (!rev)
                rev = cJSON_AddArrayToObject(w, "revoked_tokens");
            bool whole = team && strcmp(jstr(w, "id"), team) == 0;
            for (int i = cJSON_GetArraySize(tokens) - 1; i >= 0; i--) {
                cJSON *t = cJSON_GetArrayItem(tokens, i);
                if (whole || (token && cJSON_IsString(t) && strcmp(t->valuestring, token) == 0)) {
                    cJSON_AddItemToArray(rev, cJSON_DetachItemFromArray(tokens, i));
                    revoked++;
                }
            }
        }
        pthread_mutex_unlock(&mu);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ok", true);
        cJSON_AddNumberToObject(j, "revoked", revoked);
        r = send_json(conn, 200, j, NULL, NULL);
    } else if (strcmp(what, "reset") == 0 && post) {
        cJSON_Delete(responses);
        responses = NULL;
        cJSON_Delete(messages);
        messages = cJSON_CreateArray();
        cJSON_Delete(updates);
        updates = cJSON_CreateArray();
        messages_total = 0;
        stats_reset();
        faults_clear();
        limits_reset();
        pthread_mutex_unlock(&mu);
        r = ok_json(conn);
    } else if (strcmp(what, "healthz") == 0) {
        pthread_mutex_unlock(&mu);
        r = ok_json(conn);
    } else {
        pthread_mutex_unlock(&mu);
        r = send_json(conn, 404, slack_error("unknown_control_endpoint"), NULL, NULL);
    }
    cJSON_Delete(body);
    return r;
}

/* ==== dispatcher =========================================================================== */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls, (void)version;
    req_ctx *ctx = *con_cls;
    if (!ctx) {
        ctx = xcalloc(1, sizeof(req_ctx));
        strbuf_init(&ctx->body, MAX_BODY);
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!strbuf_add(&ctx->body, upload_data, *upload_data_size))
            ctx->too_big = true;
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (strncmp(url, "/_fake/", 7) == 0)
        return serve_control(conn, url + 7, method, ctx);
    if (strcmp(url, "/oauth/v2/authorize") == 0)
        return serve_authorize(conn);
    const char *name = url;
    if (strncmp(name, "/api/", 5) == 0)
        name += 5;
    else if (*name == '/')
        name++;
    if (!*name || strchr(name, '/'))
        return send_json(conn, 404, slack_error("unknown_method"), NULL, NULL);
    if (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0)
        return send_json(conn, 405, slack_error("method_not_allowed"), NULL, NULL);
    return serve_method(conn, name, ctx);
}

/* Counts TCP connections, so tests and benchmarks can see keep-alive at work. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls, (void)c, (void)socket_context;
    pthread_mutex_lock(&mu);
    bump(stats, toe == MHD_CONNECTION_NOTIFY_STARTED ? "connections" : "connections_closed", 1);
    pthread_mutex_unlock(&mu);
}

/* libmicrohttpd's own messages ("Application reported internal error" after a deliberate
 * drop, say) are debug noise for a fake. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (log_threshold > LOG_LEVEL_DEBUG)
        return;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    LOG_DEBUG("microhttpd: %s", line);
}

/* ==== main ================================================================================= */

static bool parse_double(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    double v = s && *s ? strtod(s, &end) : NAN;
    if (!end || *end || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

static char *read_file(const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsz, "cannot open %s", path);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap)
            buf = xrealloc(buf, cap *= 2);
        if (len > 64 * 1024 * 1024) {
            fclose(f);
            free(buf);
            snprintf(err, errsz, "%s is too large", path);
            return NULL;
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

int main(int argc, char **argv)
{
    long port = 0, max_messages = 100000, seed = 0;
    char *bind_addr = NULL, *state_path = NULL, *faults_path = NULL, *rate_s = NULL,
         *burst_s = NULL, *ws_s = NULL;
    bool auto_channels = false, log_requests = false;
    cfg_opt opts[] = {
        {"--port", NULL, CFG_INT, "0", 0, 65535, "PORT", "port to listen on (0: pick a free one)",
         &port},
        {"--bind", NULL, CFG_STRING, "127.0.0.1", 0, 0, "ADDR", "IPv4 address to listen on",
         &bind_addr},
        {"--state", NULL, CFG_STRING, NULL, 0, 0, "FILE",
         "workspaces, tokens, channels, users, oauth (JSON; default: a demo state)", &state_path},
        {"--rate", NULL, CFG_STRING, "1", 0, 0, "PER_SEC",
         "chat.postMessage per second per channel (0: unlimited)", &rate_s},
        {"--burst", NULL, CFG_STRING, "3", 0, 0, "N", "burst per channel", &burst_s},
        {"--workspace-rate", NULL, CFG_STRING, "0", 0, 0, "PER_MIN",
         "chat.postMessage per minute per workspace (0: unlimited)", &ws_s},
        {"--auto-channels", NULL, CFG_BOOL, NULL, 0, 0, NULL,
         "accept any unknown C.../G... id as a public channel the bot is in", &auto_channels},
        {"--faults", NULL, CFG_STRING, NULL, 0, 0, "FILE",
         "initial fault injection (JSON, as POST /_fake/faults)", &faults_path},
        {"--seed", NULL, CFG_INT, "0", 0, 2147483647L, "N",
         "seed for fault fractions (0: from the clock)", &seed},
        {"--max-messages", NULL, CFG_INT, "100000", 0, 100000000L, "N",
         "messages kept for /_fake/messages", &max_messages},
        {"--log-requests", NULL, CFG_BOOL, NULL, 0, 0, NULL, "log one line per Slack call",
         &log_requests},
        {"--log-level", "HERALD_LOG_LEVEL", CFG_LOGLEVEL, "info", 0, 0, "LEVEL",
         "debug, info, warn or error", NULL},
    };
    log_init("fake-slack");
    int argi = 1;
    int rc =
        cfg_parse_or_exit_code("fake-slack", usage_text, opts, ARRAY_LEN(opts), argc, argv, &argi);
    if (rc >= 0)
        return rc;
    if (argi < argc) {
        fprintf(stderr, "fake-slack: unexpected argument '%s'\n", argv[argi]);
        return 2;
    }
    if (!parse_double(rate_s, 0, 1e6, &opt.rate)) {
        fprintf(stderr, "fake-slack: --rate: invalid value '%s': expected a number >= 0\n", rate_s);
        return 2;
    }
    if (!parse_double(burst_s, 1, 1e6, &opt.burst)) {
        fprintf(stderr, "fake-slack: --burst: invalid value '%s': expected a number >= 1\n",
                burst_s);
        return 2;
    }
    if (!parse_double(ws_s, 0, 1e9, &opt.ws_per_min)) {
        fprintf(stderr,
                "fake-slack: --workspace-rate: invalid value '%s': expected a number >= 0\n", ws_s);
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "fake-slack: --bind: invalid value '%s': expected an IPv4 address\n",
                bind_addr);
        return 2;
    }
    opt.max_messages = max_messages;
    opt.log_requests = log_requests;
    rng_state ^= seed ? (uint64_t)seed * 0x9E3779B97F4A7C15ull
                      : (uint64_t)util_now_wall_ms() * 0x9E3779B97F4A7C15ull;
    if (!rng_state)
        rng_state = 1;

    char err[256];
    char *text = state_path ? read_file(state_path, err, sizeof err) : xstrdup(default_state);
    if (!text) {
        fprintf(stderr, "fake-slack: --state: %s\n", err);
        return 2;
    }
    cJSON *loaded = cJSON_Parse(text);
    free(text);
    const char *serr = loaded ? state_check(loaded) : "state: not valid JSON";
    if (serr) {
        fprintf(stderr, "fake-slack: --state: %s\n", serr);
        cJSON_Delete(loaded);
        return 2;
    }
    state = cJSON_CreateObject();
    cJSON_AddArrayToObject(state, "workspaces");
    cJSON_AddArrayToObject(state, "channels");
    cJSON_AddArrayToObject(state, "users");
    state_merge(loaded);
    cJSON_Delete(loaded);
    if (auto_channels) {
        cJSON_DeleteItemFromObjectCaseSensitive(state, "auto_channels");
        cJSON_AddBoolToObject(state, "auto_channels", true);
    }

    messages = cJSON_CreateArray();
    updates = cJSON_CreateArray();
    stats_reset();
    faults_clear();
    limits_reset();
    if (faults_path) {
        char *ft = read_file(faults_path, err, sizeof err);
        if (!ft) {
            fprintf(stderr, "fake-slack: --faults: %s\n", err);
            return 2;
        }
        cJSON *fj = cJSON_Parse(ft);
        free(ft);
        const char *ferr = fj ? faults_apply(fj) : "faults: not valid JSON";
        cJSON_Delete(fj);
        if (ferr) {
            fprintf(stderr, "fake-slack: --faults: %s\n", ferr);
            return 2;
        }
    }

    util_signals_install();
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
            MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)120, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "fake-slack: cannot listen on %s:%ld\n", bind_addr, port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned actual = info ? info->port : (unsigned)port;
    printf("http://%s:%u\n", bind_addr, actual);
    fflush(stdout);
    LOG_INFO("listening on http://%s:%u (API base http://%s:%u/api), %g msg/s per channel, "
             "burst %g",
             bind_addr, actual, bind_addr, actual, opt.rate, opt.burst);

    while (!util_should_stop())
        sleep_ms(100);
    LOG_INFO("stopping");
    MHD_stop_daemon(d);
    pthread_mutex_lock(&mu);
    cJSON_Delete(state);
    cJSON_Delete(messages);
    cJSON_Delete(updates);
    cJSON_Delete(stats);
    cJSON_Delete(flt.methods);
    ratelimit_table_destroy(channel_limits);
    ratelimit_table_destroy(workspace_limits);
    while (codes) {
        oauth_code *n = codes->next;
        free(codes);
        codes = n;
    }
    pthread_mutex_unlock(&mu);
    return 0;
}
