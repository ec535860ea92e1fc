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

struct heap_node {
    int64_t deadline;
    int id;
};

struct heap {
    struct heap_node *nodes;
    int count;
    int size;
    int *position_of; /* indexed by id: index in nodes, or -1 */
    int position_size;
};

void heap_init(struct heap *h);
void heap_free(struct heap *h);
bool heap_contains(const struct heap *h, int id);
/* Room for one more node and for id's position: -ENOMEM or 0. After it,
 * heap_set() of id cannot fail. */
int  heap_reserve(struct heap *h, int id);
/* Insert id, or move it if it is already in: -ENOMEM or 0. */
int  heap_set(struct heap *h, int id, int64_t deadline);
void heap_remove(struct heap *h, int id);
/* The earliest node; the heap must not be empty. */
static inline const struct heap_node *heap_top(const struct heap *h)
{
    return &h->nodes[0];
}

#endif
