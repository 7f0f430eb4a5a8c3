/*
 * {{name}}: a Chitin tool plugin in C. See chitin.h for the SDK (replies, JSON arguments, log,
 * config, key-value store, outbound HTTP, the call's remaining budget).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "chitin.h"

void chitin_describe(chitin_tools *tools) {
    chitin_add_tool(tools, "{{id}}", "Returns `text` upper-cased.",
                    "{\"type\":\"object\","
                    "\"properties\":{\"text\":{\"type\":\"string\",\"description\":\"Any text\"}},"
                    "\"required\":[\"text\"]}");
}

bool chitin_call(const chitin_request *req, chitin_reply *reply) {
    if (strcmp(req->tool, "{{id}}") != 0) return chitin_unknown_tool(reply, req->tool);
    char *text = chitin_arg_string(req, "text");
    if (!text) return chitin_invalid_arguments(reply, "`text` (a string) is required");
    for (char *c = text; *c; c++) *c = (char)toupper((unsigned char)*c);
    bool ok = chitin_reply_text(reply, text);
    free(text);
    return ok;
}
