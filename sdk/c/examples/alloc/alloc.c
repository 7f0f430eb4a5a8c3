/*
 * c-alloc: a tool that allocates 1 MiB blocks forever and keeps every one of them. The host
 * refuses to grow its memory past the budget and stops the call with a memory-limit error
 * (malloc never gets to return NULL: a refused growth traps).
 */
#include <stdlib.h>
#include <string.h>

#include "chitin.h"

struct block {
    struct block *next;
    char bytes[(1 << 20) - sizeof(struct block *)];
};

void chitin_describe(chitin_tools *tools) {
    chitin_add_tool(tools, "c_alloc", "Allocates memory until stopped.", "{\"type\":\"object\"}");
}

bool chitin_call(const chitin_request *req, chitin_reply *reply) {
    struct block *head = NULL;
    size_t count = 0;
    for (;;) {
        struct block *b = malloc(sizeof *b);
        if (!b) break;
        /* Touch and link every block so the optimizer cannot drop the allocations. */
        memset(b->bytes, (int)count, sizeof b->bytes);
        b->next = head;
        head = b;
        count++;
    }
    return chitin_fail(reply, "malloc returned NULL after %zu MiB", count);
}
