/*
 * heap.c - see heap.h. Four children per node halve the depth of a binary
 * heap, and the children's deadlines share a cache line, which is what
 * matters at a million timers.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "util.h"

void pollux_heap_init(struct pollux_heap *h)
{
    h->deadlines = NULL;
    h->deadlines_block = NULL;
    h->deadlines_offset = 0;
    h->ids = NULL;
    h->count = h->deadlines_size = h->ids_size = 0;
    h->position_of = NULL;
    h->position_size = 0;
}

void pollux_heap_free(struct pollux_heap *h)
{
    free(h->deadlines_block);
    free(h->ids);
    free(h->position_of);
    pollux_heap_init(h);
}

/* The first address in block whose slot 1 starts a 32-byte boundary. */
static int64_t *deadlines_in(char *block)
{
    uintptr_t children = ((uintptr_t)block + 8 + 31) & ~(uintptr_t)31;
    return (int64_t *)(void *)(block + (children - 8 - (uintptr_t)block));
}

/*
 * The deadlines start 8 bytes before a 32-byte boundary, so that the four
 * children of every node (4i+1 .. 4i+4) are 32 bytes within one cache
 * line: a reset, a sift or a pop reads one line per family, not two for
 * half of them. The block is grown by realloc() as any array (so that the
 * unused slack is not touched, and a large block is moved by the kernel
 * without a copy), with 32 bytes of room to move the deadlines to their
 * placement in the new block when it differs from the old one's.
 */
static int grow_deadlines(struct pollux_heap *h, int needed)
{
    if (needed <= h->deadlines_size)
        return 0;
    int size = h->deadlines_size ? h->deadlines_size : 64;
    while (size < needed) {
        if (size > INT_MAX / 2)
            return -ENOMEM; /* more nodes than an int counts */
        size *= 2;
    }
    size_t offset = h->deadlines_offset;
    char *block = realloc(h->deadlines_block, (size_t)size * sizeof *h->deadlines + 32);
    if (block == NULL)
        return -ENOMEM;
    int64_t *deadlines = deadlines_in(block);
    if (h->count > 0 && (char *)deadlines != block + offset)
        memmove(deadlines, block + offset, (size_t)h->count * sizeof *deadlines);
    h->deadlines_block = block;
    h->deadlines = deadlines;
    h->deadlines_offset = (size_t)((char *)deadlines - block);
    h->deadlines_size = size;
    return 0;
}

int pollux_heap_grow(struct pollux_heap *h, int id)
{
    int err = grow_deadlines(h, h->count + 1);
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
