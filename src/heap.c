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

#define ARITY 4

void heap_init(struct heap *h)
{
    h->nodes = NULL;
    h->count = h->size = 0;
    h->position_of = NULL;
    h->position_size = 0;
}

void heap_free(struct heap *h)
{
    free(h->nodes);
    free(h->position_of);
    heap_init(h);
}

bool heap_contains(const struct heap *h, int id)
{
    return id < h->position_size && h->position_of[id] >= 0;
}

static void place(struct heap *h, int i, struct heap_node node)
{
    h->nodes[i] = node;
    h->position_of[node.id] = i;
}

static void sift_up(struct heap *h, int i)
{
    struct heap_node node = h->nodes[i];
    while (i > 0) {
        int parent = (i - 1) / ARITY;
        if (h->nodes[parent].deadline <= node.deadline)
            break;
        place(h, i, h->nodes[parent]);
        i = parent;
    }
    place(h, i, node);
}

static void sift_down(struct heap *h, int i)
{
    struct heap_node node = h->nodes[i];
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

int heap_reserve(struct heap *h, int id)
{
    if (h->count == h->size) {
        int size = h->size ? h->size * 2 : 64;
        struct heap_node *grown = realloc(h->nodes, (size_t)size * sizeof *grown);
        if (grown == NULL)
            return -ENOMEM;
        h->nodes = grown;
        h->size = size;
    }
    if (id >= h->position_size) {
        int size = h->position_size ? h->position_size : 64;
        while (size <= id)
            size *= 2;
        int *grown = realloc(h->position_of, (size_t)size * sizeof *grown);
        if (grown == NULL)
            return -ENOMEM;
        for (int i = h->position_size; i < size; i++)
            grown[i] = -1;
        h->position_of = grown;
        h->position_size = size;
    }
    return 0;
}

int heap_set(struct heap *h, int id, int64_t deadline)
{
    if (heap_contains(h, id)) {
        int i = h->position_of[id];
        int64_t old = h->nodes[i].deadline;
        h->nodes[i].deadline = deadline;
        if (deadline < old)
            sift_up(h, i);
        else
            sift_down(h, i);
        return 0;
    }
    int err = heap_reserve(h, id);
    if (err < 0)
        return err;
    int i = h->count++;
    h->nodes[i] = (struct heap_node){ .deadline = deadline, .id = id };
    sift_up(h, i);
    return 0;
}

void heap_remove(struct heap *h, int id)
{
    if (!heap_contains(h, id))
        return;
    int i = h->position_of[id];
    h->position_of[id] = -1;
    int last = --h->count;
    if (i == last)
        return;
    struct heap_node moved = h->nodes[last];
    place(h, i, moved);
    if (i > 0 && h->nodes[(i - 1) / ARITY].deadline > moved.deadline)
        sift_up(h, i);
    else
        sift_down(h, i);
}
