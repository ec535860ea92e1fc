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

/* Deadlines and ids in two parallel arrays: a sift compares deadlines
 * only, so four siblings are 32 contiguous bytes, and a pair costs 12
 * bytes instead of a padded 16-byte struct. */
struct pollux_heap {
    int64_t *deadlines;
    int *ids;
    int count;
    int deadlines_size, ids_size;
    int *position_of; /* indexed by id: index in the arrays, or -1 */
    int position_size;
};

void pollux_heap_init(struct pollux_heap *h);
void pollux_heap_free(struct pollux_heap *h);
static inline bool pollux_heap_contains(const struct pollux_heap *h, int id)
{
    return id < h->position_size && h->position_of[id] >= 0;
}
int pollux_heap_grow(struct pollux_heap *h, int id);
/* Room for one more node and for id's position: -ENOMEM or 0. After it,
 * pollux_heap_insert() of id cannot fail. */
static inline int pollux_heap_reserve(struct pollux_heap *h, int id)
{
    if (h->count < h->deadlines_size && h->count < h->ids_size && id < h->position_size)
        return 0; /* the common case, kept inline */
    return pollux_heap_grow(h, id);
}
/* Insert id, which is not in the heap, after pollux_heap_reserve(). */
void pollux_heap_insert(struct pollux_heap *h, int id, int64_t deadline);
/* Change the deadline of id, which is in the heap, in place: a sift up or
 * down from its slot, no removal. */
void pollux_heap_update(struct pollux_heap *h, int id, int64_t deadline);
void pollux_heap_remove(struct pollux_heap *h, int id);
/* The earliest node; the heap must not be empty. */
static inline int64_t pollux_heap_top_deadline(const struct pollux_heap *h)
{
    return h->deadlines[0];
}
static inline int pollux_heap_top_id(const struct pollux_heap *h)
{
    return h->ids[0];
}
/* The deadline of id, which must be in the heap. */
static inline int64_t pollux_heap_deadline_of(const struct pollux_heap *h, int id)
{
    return h->deadlines[h->position_of[id]];
}

#endif
