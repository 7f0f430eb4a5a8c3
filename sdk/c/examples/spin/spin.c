/*
 * c-spin: a tool that never returns. The host stops it when its fuel (instructions) or its time
 * limit runs out, drops the instance and reports which budget it hit.
 */
#include "chitin.h"

void chitin_describe(chitin_tools *tools) {
    chitin_add_tool(tools, "c_spin", "Loops forever.", "{\"type\":\"object\"}");
}

bool chitin_call(const chitin_request *req, chitin_reply *reply) {
    /* volatile: the optimizer may not delete a loop whose every step is observable. */
    volatile unsigned long long counter = 0;
    for (;;) counter++;
    return chitin_reply_text(reply, "unreachable");
}
