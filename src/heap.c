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

int pollux_heap_grow(struct pollux_heap *h, int id)
{
    int err = pollux_grow_array_uninit((void **)&h->deadlines, &h->deadlines_size, h->count + 1,
                                       sizeof *h->deadlines);
    if (err == 0)
        err = pollux_grow_array_uninit((void **)&h->ids, &h->ids_size, h->count + 1, sizeof *h->ids);
    return err < 0 ? err : pollux_grow_index(&h->position_of, &h->position_size, id + 1);
}

void pollux_heap_refill(struct pollux_heap *h, int i)
{
    int last = h->count;
    pollux_heap_fix(h, i, h->deadlines[last], h->ids[last]);
}

/*
 * Remove the earliest node. The last node, which takes its place, is
 * usually among the latest, so instead of sifting it down from the top
 * (two compares per level: the children, then it), the hole goes down
 * to a leaf along the least children and the last node sifts up from
 * there, which is usually at once.
 */
void pollux_heap_pop(struct pollux_heap *h)
{
    int last = --h->count;
    if (last == 0)
        return;
    int i = 0;
    for (;;) {
        int first = i * POLLUX_HEAP_ARITY + 1;
        if (first >= last)
            break;
        int least = pollux_heap_least_child(h->deadlines, first, last);
        pollux_heap_place(h, i, h->deadlines[least], h->ids[least]);
        i = least;
    }
    pollux_heap_sift_up(h, i, h->deadlines[last], h->ids[last]);
}
