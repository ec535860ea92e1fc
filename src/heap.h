/*
 * heap.h - a 4-ary min-heap of (deadline, id) pairs with O(log n) push,
 * remove and update by id. The timer queue keeps one per clock.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_HEAP_H
#define POLLUX_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deadlines and ids in two parallel arrays: a sift compares deadlines
 * only, so four siblings are 32 contiguous bytes, and a pair costs 12
 * bytes instead of a padded 16-byte struct. */
struct pollux_heap {
    int64_t *deadlines; /* deadlines_offset bytes into deadlines_block: see heap.c */
    void *deadlines_block;
    size_t deadlines_offset;
    int *ids;
    int count;
    int deadlines_size, ids_size;
    int *position_of; /* indexed by id: its index in the arrays while in the heap */
    int position_size;
};

void pollux_heap_init(struct pollux_heap *h);
void pollux_heap_free(struct pollux_heap *h);
int pollux_heap_grow(struct pollux_heap *h, int id);
/* Room for one more node and for id's position: -ENOMEM or 0. After it,
 * pollux_heap_insert() of id cannot fail. */
static inline bool pollux_heap_has_room(const struct pollux_heap *h, int id)
{
    return h->count < h->deadlines_size && h->count < h->ids_size && id < h->position_size;
}
static inline int pollux_heap_reserve(struct pollux_heap *h, int id)
{
    if (pollux_heap_has_room(h, id))
        return 0; /* the common case, kept inline */
    return pollux_heap_grow(h, id);
}
/* The sifts are inline: a reset or an expiry is then one function with no
 * call and no spill in its hot path. */
#define POLLUX_HEAP_ARITY 4

static inline void pollux_heap_place(struct pollux_heap *h, int i, int64_t deadline, int id)
{
    h->deadlines[i] = deadline;
    h->ids[i] = id;
    h->position_of[id] = i;
}

/* Move the hole at i up until deadline fits; place (deadline, id) there. */
static inline void pollux_heap_sift_up(struct pollux_heap *h, int i, int64_t deadline, int id)
{
    while (i > 0) {
        int parent = (i - 1) / POLLUX_HEAP_ARITY;
        if (h->deadlines[parent] <= deadline)
            break;
        pollux_heap_place(h, i, h->deadlines[parent], h->ids[parent]);
        i = parent;
    }
    pollux_heap_place(h, i, deadline, id);
}

/* The index of the earliest of the children first .. first+POLLUX_HEAP_ARITY-1. */
static inline int pollux_heap_least_child(const int64_t *d, int first, int count)
{
    if (first + POLLUX_HEAP_ARITY <= count) {
        /* A full family, the common case: a tournament of 3 compares. */
        int a = d[first + 1] < d[first] ? first + 1 : first;
        int b = d[first + 3] < d[first + 2] ? first + 3 : first + 2;
        return d[b] < d[a] ? b : a;
    }
    int least = first;
    for (int c = first + 1; c < count; c++)
        if (d[c] < d[least])
            least = c;
    return least;
}

/* Move the hole at i down until deadline fits; place (deadline, id) there. */
static inline void pollux_heap_sift_down(struct pollux_heap *h, int i, int64_t deadline, int id)
{
    for (;;) {
        int first = i * POLLUX_HEAP_ARITY + 1;
        if (first >= h->count)
            break;
        int least = pollux_heap_least_child(h->deadlines, first, h->count);
        if (deadline <= h->deadlines[least])
            break;
        pollux_heap_place(h, i, h->deadlines[least], h->ids[least]);
        i = least;
    }
    pollux_heap_place(h, i, deadline, id);
}

/* (deadline, id) goes to slot i, whose old content is gone: up or down. */
static inline void pollux_heap_fix(struct pollux_heap *h, int i, int64_t deadline, int id)
{
    if (i > 0 && h->deadlines[(i - 1) / POLLUX_HEAP_ARITY] > deadline)
        pollux_heap_sift_up(h, i, deadline, id);
    else
        pollux_heap_sift_down(h, i, deadline, id);
}

/* Insert id, which is not in the heap, after pollux_heap_reserve(). */
static inline void pollux_heap_insert(struct pollux_heap *h, int id, int64_t deadline)
{
    pollux_heap_sift_up(h, h->count++, deadline, id);
}

/* The common case of an insert, which moves no node: the new node is not
 * before its parent. Returns false, having changed nothing, when a sift
 * may be needed. */
static inline bool pollux_heap_insert_in_place(struct pollux_heap *h, int id, int64_t deadline)
{
    int i = h->count;
    if (!pollux_heap_has_room(h, id)
        || (i > 0 && h->deadlines[(i - 1) / POLLUX_HEAP_ARITY] > deadline))
        return false;
    h->count = i + 1;
    pollux_heap_place(h, i, deadline, id);
    return true;
}

/* Change the deadline of id, which is in the heap, in place: a sift up or
 * down from its slot, no removal. Returns whether it moved earlier. */
static inline bool pollux_heap_update(struct pollux_heap *h, int id, int64_t deadline)
{
    int i = h->position_of[id];
    if (deadline < h->deadlines[i]) {
        pollux_heap_sift_up(h, i, deadline, id);
        return true;
    }
    /* Later than before (a keepalive reset): only the children can be out
     * of order. Most nodes of a 4-ary heap are leaves, or stay before
     * their children: then only the deadline changes. */
    int first = i * POLLUX_HEAP_ARITY + 1;
    if (first >= h->count
        || deadline <= h->deadlines[pollux_heap_least_child(h->deadlines, first, h->count)])
        h->deadlines[i] = deadline;
    else
        pollux_heap_sift_down(h, i, deadline, id);
    return false;
}

/* Fill slot i, whose node was removed, with the last node. */
void pollux_heap_refill(struct pollux_heap *h, int i);
/* Remove id, which is in the heap. Removing the last node (the only one,
 * or the latest timer added) is only the count going down. */
static inline void pollux_heap_remove(struct pollux_heap *h, int id)
{
    int i = h->position_of[id];
    if (i != --h->count)
        pollux_heap_refill(h, i);
}
/* Remove the earliest node; the heap must not be empty. */
void pollux_heap_pop(struct pollux_heap *h);
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
