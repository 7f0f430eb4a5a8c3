/*
 * chitin.h — write a Chitin tool plugin in C.
 *
 * A plugin implements two functions and gets everything else from this SDK:
 *
 *     #include "chitin.h"
 *
 *     void chitin_describe(chitin_tools *tools) {
 *         chitin_add_tool(tools, "shout", "Upper-cases `text`.",
 *             "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},"
 *             "\"required\":[\"text\"]}");
 *     }
 *
 *     bool chitin_call(const chitin_request *req, chitin_reply *reply) {
 *         if (strcmp(req->tool, "shout") != 0) return chitin_unknown_tool(reply, req->tool);
 *         char *text = chitin_arg_string(req, "text");
 *         if (!text) return chitin_invalid_arguments(reply, "`text` (a string) is required");
 *         for (char *c = text; *c; c++) *c = (char)toupper((unsigned char)*c);
 *         bool ok = chitin_reply_text(reply, text);
 *         free(text);
 *         return ok;
 *     }
 *
 * `chitin-build.sh` (next to this file) compiles it with the SDK (chitin.c) and the bindings
 * wit-bindgen generates for the `tool-plugin` world of chitin:plugin@0.2.0, and wraps the result
 * into a component; `chitin plugin pack` then embeds the manifest (plugin.toml).
 *
 * Conventions:
 *   - Strings in and out are NUL-terminated UTF-8. Functions that return `char *` return memory
 *     the caller owns (free() it); NULL means "none" (missing, unset, not found, or failed).
 *   - Functions that can fail take `char **error`: on failure they return false (or NULL) and, if
 *     `error` is not NULL, store a malloc'd message there. Pass NULL to ignore the message.
 *   - Every call runs in a fresh instance: nothing survives between calls except what you store
 *     with chitin_kv_set. Leaks end with the call, but the memory budget counts them until then.
 *   - The generated bindings (tool_plugin.h) stay available for anything not wrapped here.
 */
#ifndef CHITIN_H
#define CHITIN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tool_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The chitin:plugin version this SDK builds against: the `wit_version` of plugin.toml. */
#define CHITIN_WIT_VERSION "0.2.0"

#if defined(__GNUC__) || defined(__clang__)
#define CHITIN_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CHITIN_PRINTF(fmt, args)
#endif

/* ==== What the plugin implements ============================================================ */

/* The list `describe` returns; add to it with chitin_add_tool. */
typedef struct chitin_tools chitin_tools;

/* One tool call. Every string is NUL-terminated and valid until chitin_call returns. */
typedef struct chitin_request {
    const char *tool;        /* the tool's name, as given to chitin_add_tool */
    const char *arguments;   /* the arguments: JSON text (an object) */
    size_t arguments_len;
    const char *call_id;     /* unique per call; useful in logs */
    const char *agent_id;    /* NULL when the host did not say */
    const char *session_key; /* NULL when the host did not say */
} chitin_request;

/* Where chitin_call puts its answer: chitin_reply_* for a result, chitin_fail & co for an error. */
typedef struct chitin_reply chitin_reply;

/* Lists the plugin's tools (the `describe` export). */
void chitin_describe(chitin_tools *tools);

/* Runs one tool call (the `call` export). Return what the chitin_reply_* / chitin_fail functions
 * return: true for a result, false for an error. Returning without a reply gives an empty text
 * result (true) or a generic failure (false). */
bool chitin_call(const chitin_request *req, chitin_reply *reply);

/* ==== Describing tools ====================================================================== */

/* Adds a tool: a name (letters, digits, `_`, `-`), what it does (the model reads this) and the
 * JSON Schema of its arguments (an object schema, as JSON text). */
void chitin_add_tool(chitin_tools *tools, const char *name, const char *description,
                     const char *parameters_schema);

/* ==== Replying ============================================================================== */

/* A text/plain result. Returns true. */
bool chitin_reply_text(chitin_reply *reply, const char *text);
/* A text/plain result, printf-style. Returns true. */
bool chitin_reply_textf(chitin_reply *reply, const char *fmt, ...) CHITIN_PRINTF(2, 3);
/* A result of `len` bytes with a MIME type ("text/markdown", "application/json", ...). */
bool chitin_reply_content(chitin_reply *reply, const char *content, size_t len,
                          const char *content_type);

/* The tool ran and failed; the message is shown to the model. Returns false. */
bool chitin_fail(chitin_reply *reply, const char *fmt, ...) CHITIN_PRINTF(2, 3);
/* The arguments do not fit the schema; say what to change. Returns false. */
bool chitin_invalid_arguments(chitin_reply *reply, const char *fmt, ...) CHITIN_PRINTF(2, 3);
/* No tool of that name. Returns false. */
bool chitin_unknown_tool(chitin_reply *reply, const char *name);

/* ==== Building text ========================================================================= */

/* A growable byte buffer, always NUL-terminated once anything was appended. Start with
 * `chitin_buf b = {0};`, free with chitin_buf_free (or hand it to chitin_reply_buf). */
typedef struct chitin_buf {
    char *data;
    size_t len;
    size_t cap;
} chitin_buf;

void chitin_buf_append(chitin_buf *buf, const void *bytes, size_t len);
void chitin_buf_puts(chitin_buf *buf, const char *text);
void chitin_buf_printf(chitin_buf *buf, const char *fmt, ...) CHITIN_PRINTF(2, 3);
/* Appends `len` bytes of `text` as a JSON string literal, quotes included. */
void chitin_buf_json_string(chitin_buf *buf, const char *text, size_t len);
void chitin_buf_free(chitin_buf *buf);
/* Replies with the buffer's contents and frees it. Returns true. */
bool chitin_reply_buf(chitin_reply *reply, chitin_buf *buf, const char *content_type);

/* ==== Reading JSON ========================================================================== */

typedef enum chitin_json_type {
    CHITIN_JSON_MISSING, /* no such member or element */
    CHITIN_JSON_INVALID, /* not well-formed JSON */
    CHITIN_JSON_NULL,
    CHITIN_JSON_BOOL,
    CHITIN_JSON_NUMBER,
    CHITIN_JSON_STRING,
    CHITIN_JSON_ARRAY,
    CHITIN_JSON_OBJECT,
} chitin_json_type;

/* A JSON value: its type and where its text is (inside the document it came from, which must
 * outlive it). Nothing is copied or allocated until you ask for a string. */
typedef struct chitin_json {
    chitin_json_type type;
    const char *start;
    size_t len;
} chitin_json;

/* The whole document; CHITIN_JSON_INVALID unless it is exactly one well-formed JSON value. */
chitin_json chitin_json_parse(const char *text, size_t len);
/* The member `key` of an object (MISSING if absent or if `object` is not an object). */
chitin_json chitin_json_get(chitin_json object, const char *key);
/* Element `index` of an array (MISSING if out of range or not an array). */
chitin_json chitin_json_at(chitin_json array, size_t index);
/* Elements of an array or members of an object (0 for anything else). */
size_t chitin_json_count(chitin_json value);
/* The `index`th member's key of an object, decoded and malloc'd (NULL if out of range). */
char *chitin_json_key_at(chitin_json object, size_t index);
/* A string value decoded (escapes resolved, UTF-8) and malloc'd, or NULL if not a string.
 * `len` (may be NULL) receives its length, which matters if it contains \u0000. */
char *chitin_json_string(chitin_json value, size_t *len);
/* A number value; false if not a number. */
bool chitin_json_number(chitin_json value, double *out);
/* A boolean value; false if not a boolean. */
bool chitin_json_bool(chitin_json value, bool *out);

/* The call's arguments, parsed (an OBJECT, or INVALID). */
chitin_json chitin_args(const chitin_request *req);
/* Shortcuts for a top-level argument: NULL / false when absent or of another type. */
char *chitin_arg_string(const chitin_request *req, const char *key);
bool chitin_arg_number(const chitin_request *req, const char *key, double *out);
bool chitin_arg_bool(const chitin_request *req, const char *key, bool *out);

/* ==== Host: log ============================================================================= */

typedef enum chitin_level {
    CHITIN_TRACE = CHITIN_PLUGIN_LOG_LEVEL_TRACE,
    CHITIN_DEBUG = CHITIN_PLUGIN_LOG_LEVEL_DEBUG,
    CHITIN_INFO = CHITIN_PLUGIN_LOG_LEVEL_INFO,
    CHITIN_WARN = CHITIN_PLUGIN_LOG_LEVEL_WARN,
    CHITIN_ERROR = CHITIN_PLUGIN_LOG_LEVEL_ERROR,
} chitin_level;

/* One line into the host's log (rate-limited; lines over 4 KiB are cut; secrets redacted). */
void chitin_log(chitin_level level, const char *fmt, ...) CHITIN_PRINTF(2, 3);

/* ==== Host: config and secrets ============================================================== */

/* A config value the operator set ([plugins.<id>.grant.config]) for a key the manifest declares;
 * NULL when unset. */
char *chitin_config_get(const char *key);
/* Whether the secret `name` is available. Its value never enters the plugin: write
 * {{secret:NAME}} in a request's header, query, path or body and the host fills it in. */
bool chitin_secret_exists(const char *name);

/* ==== Host: key-value store ================================================================= */

/* The value stored under `key` (malloc'd, with a NUL after its `*len` bytes), or NULL: not found
 * (*error left NULL) or refused (*error set, e.g. no kv grant). */
char *chitin_kv_get(const char *key, size_t *len, char **error);
bool chitin_kv_set(const char *key, const void *value, size_t len, char **error);
bool chitin_kv_delete(const char *key, char **error);

/* ==== Host: outbound HTTP =================================================================== */

typedef struct chitin_http_request {
    const char *method;         /* NULL means "GET" */
    const char *url;
    const char *const *headers; /* NULL, or "Name: value" strings ending with a NULL entry */
    const void *body;           /* NULL for no body */
    size_t body_len;
    uint32_t timeout_ms;        /* 0: whatever is left of the call's time budget */
    bool no_redirects;          /* true: a 3xx response is returned instead of followed */
} chitin_http_request;

typedef struct chitin_http_response {
    uint16_t status;
    char *body;        /* NUL-terminated for convenience; body_len excludes the NUL */
    size_t body_len;
    char *final_url;   /* the URL that answered, after redirects */
    size_t header_count;
    char **header_names;
    char **header_values;
} chitin_http_response;

/* Sends a request through the host's egress policy (the operator's grant decides which hosts).
 * On success fills `response` (free it with chitin_http_response_free) whatever the status. */
bool chitin_http_fetch(const chitin_http_request *request, chitin_http_response *response,
                       char **error);
/* A GET that follows redirects. */
bool chitin_http_get(const char *url, chitin_http_response *response, char **error);
/* A response header's value (the first, names compared case-insensitively), or NULL. */
const char *chitin_http_header(const chitin_http_response *response, const char *name);
void chitin_http_response_free(chitin_http_response *response);

/* ==== Host: budget (chitin:plugin@0.2.0) ==================================================== */

/* Milliseconds until the host stops this call. Ask before each slow step of a long task and
 * return what you have while there is time. */
uint64_t chitin_remaining_ms(void);
/* Outbound HTTP requests this call may still make. */
uint32_t chitin_remaining_http_requests(void);

#ifdef __cplusplus
}
#endif

#endif /* CHITIN_H */
