/*
 * heap.c - see heap.h. Four children per node halve the depth of a binary
 * heap, and the children share a cache line, which is what matters at a
 * million timers.
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
    h->nodes = NULL;
    h->count = h->size = 0;
    h->position_of = NULL;
    h->position_size = 0;
}

void pollux_heap_free(struct pollux_heap *h)
{
    free(h->nodes);
    free(h->position_of);
    pollux_heap_init(h);
}

bool pollux_heap_contains(const struct pollux_heap *h, int id)
{
    return id < h->position_size && h->position_of[id] >= 0;
}

static void place(struct pollux_heap *h, int i, struct pollux_heap_node node)
{
    h->nodes[i] = node;
    h->position_of[node.id] = i;
}

static void sift_up(struct pollux_heap *h, int i)
{
    struct pollux_heap_node node = h->nodes[i];
    while (i > 0) {
        int parent = (i - 1) / ARITY;
        if (h->nodes[parent].deadline <= node.deadline)
            break;
        place(h, i, h->nodes[parent]);
        i = parent;
    }
    place(h, i, node);
}

static void sift_down(struct pollux_heap *h, int i)
{
    struct pollux_heap_node node = h->nodes[i];
    for (;;) {
        int first = i * ARITY + 1;
        if (first >= h->count)
            break;
        int last = first + ARITY < h->count ? first + ARITY : h->count;
        int least = first;
        for (int c = first + 1; c < last; c++)
            if (h->nodes[c].deadline < h->nodes[least].deadline)
                least = c;
        if (node.deadline <= h->nodes[least].deadline)
            break;
        place(h, i, h->nodes[least]);
        i = least;
    }
    place(h, i, node);
}

int pollux_heap_reserve(struct pollux_heap *h, int id)
{
    int err = pollux_grow_array((void **)&h->nodes, &h->size, h->count + 1, sizeof *h->nodes);
    return err < 0 ? err : pollux_grow_index(&h->position_of, &h->position_size, id + 1);
}

int pollux_heap_set(struct pollux_heap *h, int id, int64_t deadline)
{
    if (pollux_heap_contains(h, id)) {
        int i = h->position_of[id];
        int64_t old = h->nodes[i].deadline;
        h->nodes[i].deadline = deadline;
        if (deadline < old)
            sift_up(h, i);
        else
            sift_down(h, i);
        return 0;
    }
    int err = pollux_heap_reserve(h, id);
    if (err < 0)
        return err;
    int i = h->count++;
    h->nodes[i] = (struct pollux_heap_node){ .deadline = deadline, .id = id };
    sift_up(h, i);
    return 0;
}

void pollux_heap_remove(struct pollux_heap *h, int id)
{
    if (!pollux_heap_contains(h, id))
        return;
    int i = h->position_of[id];
    h->position_of[id] = -1;
    int last = --h->count;
    if (i == last)
        return;
    struct pollux_heap_node moved = h->nodes[last];
    place(h, i, moved);
    if (i > 0 && h->nodes[(i - 1) / ARITY].deadline > moved.deadline)
        sift_up(h, i);
    else
        sift_down(h, i);
}
