/*
 * heap.c - see heap.h. Four children per node halve the depth of a binary
 * heap, and the children's deadlines share a cache line, which is what
 * matters at a million timers.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdlib.h>

#include "heap.h"
#include "util.h"

#define ARITY 4

void pollux_heap_init(struct pollux_heap *h)
{
    h->deadlines = NULL;
    h->ids = NULL;
    h->count = h->deadlines_size = h->ids_size = 0;
    h->position_of = NULL;
    h->position_size = 0;
}

void pollux_heap_free(struct pollux_heap *h)
{
    free(h->deadlines);
    free(h->ids);
    free(h->position_of);
    pollux_heap_init(h);
}

static void place(struct pollux_heap *h, int i, int64_t deadline, int id)
{
    h->deadlines[i] = deadline;
    h->ids[i] = id;
    h->position_of[id] = i;
}

/* Move the hole at i up until deadline fits; place (deadline, id) there. */
static void sift_up(struct pollux_heap *h, int i, int64_t deadline, int id)
{
    while (i > 0) {
        int parent = (i - 1) / ARITY;
        if (h->deadlines[parent] <= deadline)
            break;
        place(h, i, h->deadlines[parent], h->ids[parent]);
        i = parent;
    }
    place(h, i, deadline, id);
}

/* The index of the earliest of the children first .. first+ARITY-1. */
static int least_child(const int64_t *d, int first, int count)
{
    if (first + ARITY <= count) {
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
static void sift_down(struct pollux_heap *h, int i, int64_t deadline, int id)
{
    for (;;) {
        int first = i * ARITY + 1;
        if (first >= h->count)
            break;
        int least = least_child(h->deadlines, first, h->count);
        if (deadline <= h->deadlines[least])
            break;
        place(h, i, h->deadlines[least], h->ids[least]);
        i = least;
    }
    place(h, i, deadline, id);
}

/* (deadline, id) goes to slot i, whose old content is gone: up or down. */
static void fix(struct pollux_heap *h, int i, int64_t deadline, int id)
{
    if (i > 0 && h->deadlines[(i - 1) / ARITY] > deadline)
        sift_up(h, i, deadline, id);
    else
        sift_down(h, i, deadline, id);
}

int pollux_heap_grow(struct pollux_heap *h, int id)
{
    int err = pollux_grow_array((void **)&h->deadlines, &h->deadlines_size, h->count + 1,
                                sizeof *h->deadlines);
    if (err == 0)
        err = pollux_grow_array((void **)&h->ids, &h->ids_size, h->count + 1, sizeof *h->ids);
    return err < 0 ? err : pollux_grow_index(&h->position_of, &h->position_size, id + 1);
}

void pollux_heap_insert(struct pollux_heap *h, int id, int64_t deadline)
{
    sift_up(h, h->count++, deadline, id);
}

void pollux_heap_update(struct pollux_heap *h, int id, int64_t deadline)
{
    fix(h, h->position_of[id], deadline, id);
}

void pollux_heap_remove(struct pollux_heap *h, int id)
{
    if (!pollux_heap_contains(h, id))
        return;
    int i = h->position_of[id];
    h->position_of[id] = -1;
    int last = --h->count;
    if (i != last)
        fix(h, i, h->deadlines[last], h->ids[last]);
}
