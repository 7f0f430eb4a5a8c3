/*
 * c-text-tools: an example Chitin tool plugin in C.
 *
 *   c_word_count  {"text": "..."}  -> {"words":N,"lines":N,"characters":N,"bytes":N} (JSON)
 *   c_page_title  {"url": "..."}   -> the page's <title>, fetched through the host
 *   c_budget      {}               -> {"remaining_ms":N,"remaining_http_requests":N} (JSON)
 *
 * Shows the SDK's pieces: describing tools, reading JSON arguments, JSON and text replies,
 * errors the model can act on, config, logging, outbound HTTP under the operator's grant, and the
 * call's remaining budget (chitin:plugin@0.2.0).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chitin.h"

void chitin_describe(chitin_tools *tools) {
    chitin_add_tool(tools, "c_word_count",
                    "Counts the words, lines, characters (Unicode code points) and bytes of `text`.",
                    "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\","
                    "\"description\":\"The text to count\"}},\"required\":[\"text\"]}");
    chitin_add_tool(tools, "c_page_title",
                    "Fetches the web page at `url` and returns its title.",
                    "{\"type\":\"object\",\"properties\":{\"url\":{\"type\":\"string\","
                    "\"description\":\"http(s) URL of the page\"}},\"required\":[\"url\"]}");
    chitin_add_tool(tools, "c_budget",
                    "Reports what is left of this call's time and HTTP request budgets.",
                    "{\"type\":\"object\"}");
}

static bool word_count(const chitin_request *req, chitin_reply *reply) {
    size_t len;
    char *text = chitin_json_string(chitin_json_get(chitin_args(req), "text"), &len);
    if (!text) return chitin_invalid_arguments(reply, "`text` (a string) is required");
    size_t words = 0, lines = 0, characters = 0;
    bool in_word = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c & 0xC0) != 0x80) characters++; /* not a UTF-8 continuation byte */
        if (c == '\n') lines++;
        bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
        if (!space && !in_word) words++;
        in_word = !space;
    }
    if (len > 0 && text[len - 1] != '\n') lines++;
    free(text);
    chitin_buf json = {0};
    chitin_buf_printf(&json, "{\"words\":%zu,\"lines\":%zu,\"characters\":%zu,\"bytes\":%zu}",
                      words, lines, characters, len);
    return chitin_reply_buf(reply, &json, "application/json");
}

/* Finds `needle` in `haystack` ignoring ASCII case. */
static const char *find_nocase(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    for (; *haystack; haystack++) {
        size_t i = 0;
        while (i < n && haystack[i] && tolower((unsigned char)haystack[i]) == needle[i]) i++;
        if (i == n) return haystack;
    }
    return NULL;
}

static bool page_title(const chitin_request *req, chitin_reply *reply) {
    char *url = chitin_arg_string(req, "url");
    if (!url) return chitin_invalid_arguments(reply, "`url` (a string) is required");
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        bool r = chitin_invalid_arguments(reply, "`url` must start with http:// or https://");
        free(url);
        return r;
    }
    /* Not worth starting a request that cannot finish: say so instead of being stopped. */
    uint64_t left = chitin_remaining_ms();
    if (chitin_remaining_http_requests() == 0 || left < 100) {
        bool r = chitin_fail(reply, "no time or requests left in this call (%llu ms left)",
                             (unsigned long long)left);
        free(url);
        return r;
    }
    char *agent = chitin_config_get("user_agent");
    char user_agent[256];
    snprintf(user_agent, sizeof user_agent, "User-Agent: %s", agent ? agent : "chitin-c-example");
    free(agent);
    const char *headers[] = {user_agent, "Accept: text/html", NULL};
    chitin_http_request request = {0};
    request.url = url;
    request.headers = headers;
    chitin_http_response response;
    char *error = NULL;
    chitin_log(CHITIN_INFO, "fetching %s (%llu ms left)", url, (unsigned long long)left);
    if (!chitin_http_fetch(&request, &response, &error)) {
        bool r = chitin_fail(reply, "could not fetch %s: %s", url, error);
        free(error);
        free(url);
        return r;
    }
    bool r;
    const char *open = find_nocase(response.body, "<title");
    const char *start = open ? strchr(open, '>') : NULL;
    const char *end = start ? find_nocase(start, "</title") : NULL;
    if (response.status >= 400) {
        r = chitin_fail(reply, "%s answered HTTP %u", response.final_url, response.status);
    } else if (!end) {
        r = chitin_fail(reply, "%s has no <title>", response.final_url);
    } else {
        start++;
        while (start < end && isspace((unsigned char)*start)) start++;
        while (end > start && isspace((unsigned char)end[-1])) end--;
        r = chitin_reply_content(reply, start, (size_t)(end - start), "text/plain");
    }
    chitin_http_response_free(&response);
    free(url);
    return r;
}

/* The budget interface of chitin:plugin@0.2.0: the limits as the operator granted them. */
static bool budget(chitin_reply *reply) {
    chitin_buf json = {0};
    chitin_buf_printf(&json, "{\"remaining_ms\":%llu,\"remaining_http_requests\":%u}",
                      (unsigned long long)chitin_remaining_ms(),
                      (unsigned)chitin_remaining_http_requests());
    return chitin_reply_buf(reply, &json, "application/json");
}

bool chitin_call(const chitin_request *req, chitin_reply *reply) {
    if (chitin_args(req).type != CHITIN_JSON_OBJECT) {
        return chitin_invalid_arguments(reply, "the arguments must be a JSON object");
    }
    if (strcmp(req->tool, "c_word_count") == 0) return word_count(req, reply);
    if (strcmp(req->tool, "c_page_title") == 0) return page_title(req, reply);
    if (strcmp(req->tool, "c_budget") == 0) return budget(reply);
    return chitin_unknown_tool(reply, req->tool);
}
