/*
 * heap.h - a 4-ary min-heap of (deadline, id) pairs with O(log n) push,
 * remove and update by id. The timer queue keeps one per clock.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_HEAP_H
#define POLLUX_HEAP_H

#include <stdbool.h>
#include <stdint.h>

struct pollux_heap_node {
    int64_t deadline;
    int id;
};

struct pollux_heap {
    struct pollux_heap_node *nodes;
    int count;
    int size;
    int *position_of; /* indexed by id: index in nodes, or -1 */
    int position_size;
};

void pollux_heap_init(struct pollux_heap *h);
void pollux_heap_free(struct pollux_heap *h);
bool pollux_heap_contains(const struct pollux_heap *h, int id);
/* Room for one more node and for id's position: -ENOMEM or 0. After it,
 * pollux_heap_set() of id cannot fail. */
int  pollux_heap_reserve(struct pollux_heap *h, int id);
/* Insert id, or move it if it is already in: -ENOMEM or 0. */
int  pollux_heap_set(struct pollux_heap *h, int id, int64_t deadline);
void pollux_heap_remove(struct pollux_heap *h, int id);
/* The earliest node; the heap must not be empty. */
static inline const struct pollux_heap_node *pollux_heap_top(const struct pollux_heap *h)
{
    return &h->nodes[0];
}

#endif
