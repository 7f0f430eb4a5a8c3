/*
 * chitin.c — the Chitin C SDK (see chitin.h). Compiled into every C plugin by chitin-build.sh,
 * next to the plugin's sources and the bindings wit-bindgen generates for the tool-plugin world.
 *
 * It implements the world's two exports (describe, call) on top of the plugin's chitin_describe
 * and chitin_call, and wraps the host imports in plain C strings. Ownership follows the canonical
 * ABI as wit-bindgen's C generator lays it out: export arguments belong to the callee (freed
 * here), export results are malloc'd here and freed by the generated post-return functions, and
 * import results belong to the caller (freed here once converted).
 */
#include "chitin.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Small helpers ========================================================================= */

/* Out of memory inside the memory budget: the host reports it as the plugin's memory limit. */
static void *xrealloc(void *ptr, size_t size) {
    void *p = realloc(ptr, size ? size : 1);
    if (!p) abort();
    return p;
}

static char *copy_n(const uint8_t *bytes, size_t len) {
    char *s = xrealloc(NULL, len + 1);
    if (len) memcpy(s, bytes, len);
    s[len] = '\0';
    return s;
}

static char *copy_wit(const tool_plugin_string_t *s) { return copy_n(s->ptr, s->len); }

/* A borrowed WIT string over a C string (for import arguments: the callee does not free). */
static tool_plugin_string_t borrow(const char *s) {
    tool_plugin_string_t out;
    tool_plugin_string_set(&out, s ? s : "");
    return out;
}

static char *vformat(const char *fmt, va_list args) {
    va_list again;
    va_copy(again, args);
    int n = vsnprintf(NULL, 0, fmt, args);
    if (n < 0) {
        va_end(again);
        return copy_n((const uint8_t *)fmt, strlen(fmt));
    }
    char *out = xrealloc(NULL, (size_t)n + 1);
    vsnprintf(out, (size_t)n + 1, fmt, again);
    va_end(again);
    return out;
}

static void set_error(char **error, char *message) {
    if (error) {
        *error = message;
    } else {
        free(message);
    }
}

static char *format_message(const char *fmt, ...) CHITIN_PRINTF(1, 2);
static char *format_message(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *out = vformat(fmt, args);
    va_end(args);
    return out;
}

/* ==== Exports =============================================================================== */

struct chitin_tools {
    exports_chitin_plugin_tool_list_tool_spec_t *list;
    size_t cap;
};

struct chitin_reply {
    bool set;
    bool is_error;
    exports_chitin_plugin_tool_tool_output_t *ok;
    exports_chitin_plugin_tool_tool_error_t *err;
};

void chitin_add_tool(chitin_tools *tools, const char *name, const char *description,
                     const char *parameters_schema) {
    exports_chitin_plugin_tool_list_tool_spec_t *list = tools->list;
    if (list->len == tools->cap) {
        tools->cap = tools->cap ? tools->cap * 2 : 8;
        list->ptr = xrealloc(list->ptr, tools->cap * sizeof *list->ptr);
    }
    exports_chitin_plugin_tool_tool_spec_t *spec = &list->ptr[list->len++];
    tool_plugin_string_dup(&spec->name, name);
    tool_plugin_string_dup(&spec->description, description ? description : "");
    tool_plugin_string_dup(&spec->parameters_schema,
                           parameters_schema ? parameters_schema : "{\"type\":\"object\"}");
}

void exports_chitin_plugin_tool_describe(exports_chitin_plugin_tool_list_tool_spec_t *ret) {
    ret->ptr = NULL;
    ret->len = 0;
    chitin_tools tools = {ret, 0};
    chitin_describe(&tools);
}

bool exports_chitin_plugin_tool_call(tool_plugin_string_t *name, tool_plugin_string_t *arguments,
                                     exports_chitin_plugin_tool_call_context_t *context,
                                     exports_chitin_plugin_tool_tool_output_t *ret,
                                     exports_chitin_plugin_tool_tool_error_t *err) {
    chitin_request req = {0};
    req.tool = copy_wit(name);
    req.arguments = copy_wit(arguments);
    req.arguments_len = arguments->len;
    req.call_id = copy_wit(&context->call_id);
    req.agent_id = context->agent_id.is_some ? copy_wit(&context->agent_id.val) : NULL;
    req.session_key = context->session_key.is_some ? copy_wit(&context->session_key.val) : NULL;
    /* The arguments were handed over to us; our copies are NUL-terminated. */
    tool_plugin_string_free(name);
    tool_plugin_string_free(arguments);
    tool_plugin_option_string_free(&context->agent_id);
    tool_plugin_option_string_free(&context->session_key);
    exports_chitin_plugin_tool_call_context_free(context);

    chitin_reply reply = {false, false, ret, err};
    bool ok = chitin_call(&req, &reply);
    if (!reply.set) {
        if (ok) {
            chitin_reply_text(&reply, "");
        } else {
            chitin_fail(&reply, "tool `%s` failed without saying why", req.tool);
        }
    }
    free((char *)req.tool);
    free((char *)req.arguments);
    free((char *)req.call_id);
    free((char *)req.agent_id);
    free((char *)req.session_key);
    return !reply.is_error;
}

/* Replaces an earlier reply of the same call (the last one counts). */
static void clear_reply(chitin_reply *reply) {
    if (!reply->set) return;
    if (reply->is_error) {
        exports_chitin_plugin_tool_tool_error_free(reply->err);
    } else {
        exports_chitin_plugin_tool_tool_output_free(reply->ok);
    }
    reply->set = false;
}

bool chitin_reply_content(chitin_reply *reply, const char *content, size_t len,
                          const char *content_type) {
    clear_reply(reply);
    tool_plugin_string_dup_n(&reply->ok->content, content ? content : "", content ? len : 0);
    tool_plugin_string_dup(&reply->ok->content_type, content_type ? content_type : "text/plain");
    reply->set = true;
    reply->is_error = false;
    return true;
}

bool chitin_reply_text(chitin_reply *reply, const char *text) {
    return chitin_reply_content(reply, text, text ? strlen(text) : 0, "text/plain");
}

bool chitin_reply_textf(chitin_reply *reply, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *text = vformat(fmt, args);
    va_end(args);
    clear_reply(reply);
    /* Hand the allocation over instead of copying it. */
    reply->ok->content.ptr = (uint8_t *)text;
    reply->ok->content.len = strlen(text);
    tool_plugin_string_dup(&reply->ok->content_type, "text/plain");
    reply->set = true;
    reply->is_error = false;
    return true;
}

static bool reply_error(chitin_reply *reply, uint8_t tag, char *message) {
    clear_reply(reply);
    reply->err->tag = tag;
    tool_plugin_string_t *slot = tag == EXPORTS_CHITIN_PLUGIN_TOOL_TOOL_ERROR_INVALID_ARGUMENTS
                                     ? &reply->err->val.invalid_arguments
                                 : tag == EXPORTS_CHITIN_PLUGIN_TOOL_TOOL_ERROR_UNKNOWN_TOOL
                                     ? &reply->err->val.unknown_tool
                                     : &reply->err->val.failed;
    slot->ptr = (uint8_t *)message;
    slot->len = strlen(message);
    reply->set = true;
    reply->is_error = true;
    return false;
}

bool chitin_fail(chitin_reply *reply, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *message = vformat(fmt, args);
    va_end(args);
    return reply_error(reply, EXPORTS_CHITIN_PLUGIN_TOOL_TOOL_ERROR_FAILED, message);
}

bool chitin_invalid_arguments(chitin_reply *reply, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *message = vformat(fmt, args);
    va_end(args);
    return reply_error(reply, EXPORTS_CHITIN_PLUGIN_TOOL_TOOL_ERROR_INVALID_ARGUMENTS, message);
}

bool chitin_unknown_tool(chitin_reply *reply, const char *name) {
    return reply_error(reply, EXPORTS_CHITIN_PLUGIN_TOOL_TOOL_ERROR_UNKNOWN_TOOL,
                       copy_n((const uint8_t *)name, strlen(name)));
}

/* ==== Buffers =============================================================================== */

void chitin_buf_append(chitin_buf *buf, const void *bytes, size_t len) {
    if (buf->len + len + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 64;
        while (cap < buf->len + len + 1) cap *= 2;
        buf->data = xrealloc(buf->data, cap);
        buf->cap = cap;
    }
    if (len) memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void chitin_buf_puts(chitin_buf *buf, const char *text) { chitin_buf_append(buf, text, strlen(text)); }

void chitin_buf_printf(chitin_buf *buf, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *text = vformat(fmt, args);
    va_end(args);
    chitin_buf_puts(buf, text);
    free(text);
}

void chitin_buf_json_string(chitin_buf *buf, const char *text, size_t len) {
    static const char hex[] = "0123456789abcdef";
    chitin_buf_append(buf, "\"", 1);
    size_t run = 0; /* bytes copied as they are, appended in one go */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        const char *escape = NULL;
        char unicode[7];
        switch (c) {
        case '"': escape = "\\\""; break;
        case '\\': escape = "\\\\"; break;
        case '\n': escape = "\\n"; break;
        case '\r': escape = "\\r"; break;
        case '\t': escape = "\\t"; break;
        case '\b': escape = "\\b"; break;
        case '\f': escape = "\\f"; break;
        default:
            if (c < 0x20) {
                memcpy(unicode, "\\u00", 4);
                unicode[4] = hex[c >> 4];
                unicode[5] = hex[c & 15];
                unicode[6] = '\0';
                escape = unicode;
            }
        }
        if (escape) {
            chitin_buf_append(buf, text + i - run, run);
            run = 0;
            chitin_buf_puts(buf, escape);
        } else {
            run++;
        }
    }
    chitin_buf_append(buf, text + len - run, run);
    chitin_buf_append(buf, "\"", 1);
}

void chitin_buf_free(chitin_buf *buf) {
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

bool chitin_reply_buf(chitin_reply *reply, chitin_buf *buf, const char *content_type) {
    clear_reply(reply);
    if (!buf->data) chitin_buf_append(buf, "", 0);
    reply->ok->content.ptr = (uint8_t *)buf->data;
    reply->ok->content.len = buf->len;
    tool_plugin_string_dup(&reply->ok->content_type, content_type ? content_type : "text/plain");
    buf->data = NULL;
    buf->len = buf->cap = 0;
    reply->set = true;
    reply->is_error = false;
    return true;
}

/* ==== JSON ================================================================================== */

/* Documents nest at most this deep (the reader recurses once per level). */
#define JSON_MAX_DEPTH 128

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(const char *p, const char *end, uint32_t *out) {
    if (end - p < 4) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p[i]);
        if (h < 0) return false;
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return true;
}

/* Scans a string starting at its opening quote. If `out` is not NULL, appends the decoded
 * bytes. Returns the position after the closing quote, or NULL if malformed. */
static const char *scan_string(const char *p, const char *end, chitin_buf *out) {
    p++; /* the opening quote */
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c < 0x20) return NULL;
        if (c != '\\') {
            const char *run = p;
            while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
            if (out) chitin_buf_append(out, run, (size_t)(p - run));
            continue;
        }
        if (++p >= end) return NULL;
        char decoded;
        switch (*p) {
        case '"': decoded = '"'; break;
        case '\\': decoded = '\\'; break;
        case '/': decoded = '/'; break;
        case 'b': decoded = '\b'; break;
        case 'f': decoded = '\f'; break;
        case 'n': decoded = '\n'; break;
        case 'r': decoded = '\r'; break;
        case 't': decoded = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (!read_hex4(p + 1, end, &cp)) return NULL;
            p += 5;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t low;
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !read_hex4(p + 2, end, &low) ||
                    low < 0xDC00 || low > 0xDFFF) {
                    return NULL;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                p += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return NULL;
            }
            if (out) {
                char utf8[4];
                size_t n;
                if (cp < 0x80) {
                    utf8[0] = (char)cp;
                    n = 1;
                } else if (cp < 0x800) {
                    utf8[0] = (char)(0xC0 | cp >> 6);
                    utf8[1] = (char)(0x80 | (cp & 0x3F));
                    n = 2;
                } else if (cp < 0x10000) {
                    utf8[0] = (char)(0xE0 | cp >> 12);
                    utf8[1] = (char)(0x80 | (cp >> 6 & 0x3F));
                    utf8[2] = (char)(0x80 | (cp & 0x3F));
                    n = 3;
                } else {
                    utf8[0] = (char)(0xF0 | cp >> 18);
                    utf8[1] = (char)(0x80 | (cp >> 12 & 0x3F));
                    utf8[2] = (char)(0x80 | (cp >> 6 & 0x3F));
                    utf8[3] = (char)(0x80 | (cp & 0x3F));
                    n = 4;
                }
                chitin_buf_append(out, utf8, n);
            }
            continue;
        }
        default: return NULL;
        }
        if (out) chitin_buf_append(out, &decoded, 1);
        p++;
    }
    return NULL;
}

static const char *scan_number(const char *p, const char *end) {
    if (p < end && *p == '-') p++;
    if (p >= end) return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && isdigit((unsigned char)*p)) p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !isdigit((unsigned char)*p)) return NULL;
        while (p < end && isdigit((unsigned char)*p)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || !isdigit((unsigned char)*p)) return NULL;
        while (p < end && isdigit((unsigned char)*p)) p++;
    }
    return p;
}

static const char *scan_literal(const char *p, const char *end, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(end - p) < n || memcmp(p, word, n) != 0) return NULL;
    return p + n;
}

/* Scans one value at `p` (no leading whitespace). Returns the position after it, or NULL if
 * malformed; `type` receives its type. */
static const char *scan_value(const char *p, const char *end, int depth, chitin_json_type *type) {
    if (p >= end || depth > JSON_MAX_DEPTH) return NULL;
    switch (*p) {
    case '"': *type = CHITIN_JSON_STRING; return scan_string(p, end, NULL);
    case 't': *type = CHITIN_JSON_BOOL; return scan_literal(p, end, "true");
    case 'f': *type = CHITIN_JSON_BOOL; return scan_literal(p, end, "false");
    case 'n': *type = CHITIN_JSON_NULL; return scan_literal(p, end, "null");
    case '[':
    case '{': {
        bool object = *p == '{';
        char close = object ? '}' : ']';
        *type = object ? CHITIN_JSON_OBJECT : CHITIN_JSON_ARRAY;
        p = skip_ws(p + 1, end);
        if (p < end && *p == close) return p + 1;
        for (;;) {
            chitin_json_type inner;
            if (object) {
                if (p >= end || *p != '"') return NULL;
                p = scan_string(p, end, NULL);
                if (!p) return NULL;
                p = skip_ws(p, end);
                if (p >= end || *p != ':') return NULL;
                p = skip_ws(p + 1, end);
            }
            p = scan_value(p, end, depth + 1, &inner);
            if (!p) return NULL;
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p = skip_ws(p + 1, end);
                continue;
            }
            if (p < end && *p == close) return p + 1;
            return NULL;
        }
    }
    default: *type = CHITIN_JSON_NUMBER; return scan_number(p, end);
    }
}

static const chitin_json MISSING = {CHITIN_JSON_MISSING, NULL, 0};

chitin_json chitin_json_parse(const char *text, size_t len) {
    chitin_json invalid = {CHITIN_JSON_INVALID, text, len};
    if (!text) return invalid;
    const char *end = text + len;
    const char *start = skip_ws(text, end);
    chitin_json_type type;
    const char *after = scan_value(start, end, 0, &type);
    if (!after || skip_ws(after, end) != end) return invalid;
    chitin_json value = {type, start, (size_t)(after - start)};
    return value;
}

/* Walks the members (or elements) of an already validated object (or array), calling `visit`
 * with each key's text, quotes included (NULL for arrays), and value until it returns true. */
typedef bool (*visit_fn)(const char *key, const char *key_end, chitin_json value, size_t index,
                         void *data);

static void walk(chitin_json container, visit_fn visit, void *data) {
    if (container.type != CHITIN_JSON_OBJECT && container.type != CHITIN_JSON_ARRAY) return;
    bool object = container.type == CHITIN_JSON_OBJECT;
    const char *end = container.start + container.len - 1; /* the closing bracket */
    const char *p = skip_ws(container.start + 1, end);
    for (size_t index = 0; p < end; index++) {
        const char *key = NULL, *key_end = NULL;
        if (object) {
            key = p;
            key_end = scan_string(p, end, NULL);
            p = skip_ws(key_end, end);
            p = skip_ws(p + 1, end); /* the colon */
        }
        chitin_json value;
        const char *after = scan_value(p, end, 1, &value.type);
        value.start = p;
        value.len = (size_t)(after - p);
        if (visit(key, key_end, value, index, data)) return;
        p = skip_ws(after, end);
        if (p < end && *p == ',') p = skip_ws(p + 1, end);
    }
}

struct find_key {
    const char *key;
    size_t key_len;
    chitin_json found;
};

static bool visit_find_key(const char *key, const char *key_end, chitin_json value, size_t index,
                           void *data) {
    (void)index;
    struct find_key *f = data;
    chitin_buf decoded = {0};
    scan_string(key, key_end, &decoded); /* validated: cannot fail */
    bool match = decoded.len == f->key_len && (f->key_len == 0 || memcmp(decoded.data, f->key, f->key_len) == 0);
    chitin_buf_free(&decoded);
    if (match) f->found = value;
    return match;
}

chitin_json chitin_json_get(chitin_json object, const char *key) {
    if (object.type != CHITIN_JSON_OBJECT || !key) return MISSING;
    struct find_key f = {key, strlen(key), MISSING};
    walk(object, visit_find_key, &f);
    return f.found;
}

struct find_index {
    size_t index;
    const char *key;
    const char *key_end;
    chitin_json found;
    size_t count;
};

static bool visit_find_index(const char *key, const char *key_end, chitin_json value,
                             size_t index, void *data) {
    struct find_index *f = data;
    f->count = index + 1;
    if (index == f->index) {
        f->found = value;
        f->key = key;
        f->key_end = key_end;
        return true;
    }
    return false;
}

chitin_json chitin_json_at(chitin_json array, size_t index) {
    if (array.type != CHITIN_JSON_ARRAY) return MISSING;
    struct find_index f = {index, NULL, NULL, MISSING, 0};
    walk(array, visit_find_index, &f);
    return f.found;
}

char *chitin_json_key_at(chitin_json object, size_t index) {
    if (object.type != CHITIN_JSON_OBJECT) return NULL;
    struct find_index f = {index, NULL, NULL, MISSING, 0};
    walk(object, visit_find_index, &f);
    if (!f.key) return NULL;
    chitin_buf decoded = {0};
    scan_string(f.key, f.key_end, &decoded);
    if (!decoded.data) chitin_buf_append(&decoded, "", 0);
    return decoded.data;
}

size_t chitin_json_count(chitin_json value) {
    struct find_index f = {(size_t)-1, NULL, NULL, MISSING, 0};
    walk(value, visit_find_index, &f);
    return f.count;
}

char *chitin_json_string(chitin_json value, size_t *len) {
    if (value.type != CHITIN_JSON_STRING) return NULL;
    chitin_buf decoded = {0};
    if (!scan_string(value.start, value.start + value.len, &decoded)) {
        chitin_buf_free(&decoded);
        return NULL;
    }
    if (!decoded.data) chitin_buf_append(&decoded, "", 0);
    if (len) *len = decoded.len;
    return decoded.data;
}

bool chitin_json_number(chitin_json value, double *out) {
    if (value.type != CHITIN_JSON_NUMBER) return false;
    char small[64];
    char *text = value.len < sizeof small ? small : xrealloc(NULL, value.len + 1);
    memcpy(text, value.start, value.len);
    text[value.len] = '\0';
    *out = strtod(text, NULL);
    if (text != small) free(text);
    return true;
}

bool chitin_json_bool(chitin_json value, bool *out) {
    if (value.type != CHITIN_JSON_BOOL) return false;
    *out = value.start[0] == 't';
    return true;
}

chitin_json chitin_args(const chitin_request *req) {
    return chitin_json_parse(req->arguments, req->arguments_len);
}

char *chitin_arg_string(const chitin_request *req, const char *key) {
    return chitin_json_string(chitin_json_get(chitin_args(req), key), NULL);
}

bool chitin_arg_number(const chitin_request *req, const char *key, double *out) {
    return chitin_json_number(chitin_json_get(chitin_args(req), key), out);
}

bool chitin_arg_bool(const chitin_request *req, const char *key, bool *out) {
    return chitin_json_bool(chitin_json_get(chitin_args(req), key), out);
}

/* ==== Host: log, config, secrets ============================================================ */

void chitin_log(chitin_level level, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *line = vformat(fmt, args);
    va_end(args);
    tool_plugin_string_t message = borrow(line);
    chitin_plugin_log_log((chitin_plugin_log_level_t)level, &message);
    free(line);
}

char *chitin_config_get(const char *key) {
    tool_plugin_string_t k = borrow(key);
    tool_plugin_string_t value;
    if (!chitin_plugin_config_get(&k, &value)) return NULL;
    char *out = copy_wit(&value);
    tool_plugin_string_free(&value);
    return out;
}

bool chitin_secret_exists(const char *name) {
    tool_plugin_string_t n = borrow(name);
    return chitin_plugin_secrets_exists(&n);
}

/* ==== Host: key-value store ================================================================= */

static char *describe_kv_error(chitin_plugin_kv_kv_error_t *err) {
    static const char *const kinds[] = {"denied", "quota exceeded", "too large", "kv error"};
    const char *kind = err->tag < 4 ? kinds[err->tag] : "kv error";
    tool_plugin_string_t *text = &err->val.other; /* every case carries a string */
    char *out = format_message("%s: %.*s", kind, (int)text->len, (const char *)text->ptr);
    chitin_plugin_kv_kv_error_free(err);
    return out;
}

char *chitin_kv_get(const char *key, size_t *len, char **error) {
    tool_plugin_string_t k = borrow(key);
    tool_plugin_option_list_u8_t value;
    chitin_plugin_kv_kv_error_t err;
    if (error) *error = NULL;
    if (!chitin_plugin_kv_get(&k, &value, &err)) {
        set_error(error, describe_kv_error(&err));
        return NULL;
    }
    if (!value.is_some) return NULL;
    char *out = copy_n(value.val.ptr, value.val.len);
    if (len) *len = value.val.len;
    tool_plugin_option_list_u8_free(&value);
    return out;
}

bool chitin_kv_set(const char *key, const void *value, size_t len, char **error) {
    tool_plugin_string_t k = borrow(key);
    tool_plugin_list_u8_t v = {(uint8_t *)value, len};
    chitin_plugin_kv_kv_error_t err;
    if (!chitin_plugin_kv_set(&k, &v, &err)) {
        set_error(error, describe_kv_error(&err));
        return false;
    }
    return true;
}

bool chitin_kv_delete(const char *key, char **error) {
    tool_plugin_string_t k = borrow(key);
    bool existed;
    chitin_plugin_kv_kv_error_t err;
    if (!chitin_plugin_kv_delete(&k, &existed, &err)) {
        set_error(error, describe_kv_error(&err));
        return false;
    }
    return true;
}

/* ==== Host: outbound HTTP =================================================================== */

static char *describe_http_error(chitin_plugin_http_http_error_t *err) {
    char *out;
    switch (err->tag) {
    case CHITIN_PLUGIN_HTTP_HTTP_ERROR_TIMEOUT: out = format_message("request timed out"); break;
    case CHITIN_PLUGIN_HTTP_HTTP_ERROR_TOO_LARGE:
        out = format_message("response larger than %llu bytes",
                             (unsigned long long)err->val.too_large);
        break;
    default: {
        const char *kind = err->tag == CHITIN_PLUGIN_HTTP_HTTP_ERROR_DENIED ? "request denied"
                           : err->tag == CHITIN_PLUGIN_HTTP_HTTP_ERROR_QUOTA_EXCEEDED
                               ? "request quota exceeded"
                           : err->tag == CHITIN_PLUGIN_HTTP_HTTP_ERROR_INVALID_REQUEST
                               ? "invalid request"
                               : "connection failed";
        tool_plugin_string_t *text = &err->val.denied; /* these cases carry a string */
        out = format_message("%s: %.*s", kind, (int)text->len, (const char *)text->ptr);
    }
    }
    chitin_plugin_http_http_error_free(err);
    return out;
}

bool chitin_http_fetch(const chitin_http_request *request, chitin_http_response *response,
                       char **error) {
    memset(response, 0, sizeof *response);
    chitin_plugin_http_request_t req;
    memset(&req, 0, sizeof req);
    req.method = borrow(request->method ? request->method : "GET");
    req.url = borrow(request->url);
    size_t header_count = 0;
    while (request->headers && request->headers[header_count]) header_count++;
    tool_plugin_tuple2_string_string_t *headers =
        header_count ? xrealloc(NULL, header_count * sizeof *headers) : NULL;
    for (size_t i = 0; i < header_count; i++) {
        const char *line = request->headers[i];
        const char *colon = strchr(line, ':');
        size_t name_len = colon ? (size_t)(colon - line) : strlen(line);
        const char *value = colon ? colon + 1 : "";
        while (*value == ' ' || *value == '\t') value++;
        headers[i].f0.ptr = (uint8_t *)line;
        headers[i].f0.len = name_len;
        headers[i].f1 = borrow(value);
    }
    req.headers.ptr = headers;
    req.headers.len = header_count;
    if (request->body) {
        req.body.is_some = true;
        req.body.val.ptr = (uint8_t *)request->body;
        req.body.val.len = request->body_len;
    }
    if (request->timeout_ms) {
        req.timeout_ms.is_some = true;
        req.timeout_ms.val = request->timeout_ms;
    }
    req.follow_redirects = !request->no_redirects;

    chitin_plugin_http_response_t resp;
    chitin_plugin_http_http_error_t err;
    bool ok = chitin_plugin_http_fetch(&req, &resp, &err);
    free(headers);
    if (!ok) {
        set_error(error, describe_http_error(&err));
        return false;
    }
    response->status = resp.status;
    response->body = copy_n(resp.body.ptr, resp.body.len);
    response->body_len = resp.body.len;
    response->final_url = copy_wit(&resp.final_url);
    response->header_count = resp.headers.len;
    if (resp.headers.len) {
        response->header_names = xrealloc(NULL, resp.headers.len * sizeof(char *));
        response->header_values = xrealloc(NULL, resp.headers.len * sizeof(char *));
        for (size_t i = 0; i < resp.headers.len; i++) {
            response->header_names[i] = copy_wit(&resp.headers.ptr[i].f0);
            response->header_values[i] = copy_wit(&resp.headers.ptr[i].f1);
        }
    }
    chitin_plugin_http_response_free(&resp);
    return true;
}

bool chitin_http_get(const char *url, chitin_http_response *response, char **error) {
    chitin_http_request request = {0};
    request.url = url;
    return chitin_http_fetch(&request, response, error);
}

const char *chitin_http_header(const chitin_http_response *response, const char *name) {
    for (size_t i = 0; i < response->header_count; i++) {
        const char *a = response->header_names[i];
        const char *b = name;
        while (*a && *b && tolower((unsigned char)*a) == tolower((unsigned char)*b)) {
            a++;
            b++;
        }
        if (!*a && !*b) return response->header_values[i];
    }
    return NULL;
}

void chitin_http_response_free(chitin_http_response *response) {
    for (size_t i = 0; i < response->header_count; i++) {
        free(response->header_names[i]);
        free(response->header_values[i]);
    }
    free(response->header_names);
    free(response->header_values);
    free(response->body);
    free(response->final_url);
    memset(response, 0, sizeof *response);
}

/* ==== Host: budget ========================================================================== */

uint64_t chitin_remaining_ms(void) { return chitin_plugin_budget_remaining_ms(); }

uint32_t chitin_remaining_http_requests(void) {
    return chitin_plugin_budget_remaining_http_requests();
}
