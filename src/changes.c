/*
 * changes.c - see changes.h. One entry per descriptor: where the backend
 * is (old_mask); where it is to go is read from the fd table when the
 * batch is made, so later changes of a queued fd coalesce for free.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <errno.h>
#include <string.h>

#include "always_ready.h"
#include "changes.h"
#include "util.h"

static uint32_t kind_of(uint32_t have, uint32_t wanted)
{
    if (have == 0)
        return POLLUX_BATCH_ADD;
    if (wanted == 0)
        return POLLUX_BATCH_DEL;
    if (have == wanted && !(wanted & (POLLUX_ONESHOT | POLLUX_EDGE)))
        return POLLUX_BATCH_RECHECK;
    return POLLUX_BATCH_MOD;
}

static int apply_now(pollux *p, int fd, uint32_t have, uint32_t wanted)
{
    if (wanted == 0) {
        if (have != 0)
            p->ops->del(p->backend, fd, have);
        return 0;
    }
    return have != 0 ? p->ops->mod(p->backend, fd, have, wanted)
                     : p->ops->add(p->backend, fd, wanted);
}

/* A queued change applied at once did not watch fd as the table says:
 * record what is true now, as the reports of a batch would have. */
static void settle(pollux *p, int fd, uint32_t old, int r)
{
    struct fd_entry *e = &p->fds[fd].entry;
    if (r < 0 && old != 0)
        p->ops->del(p->backend, fd, old); /* whatever is left of the old watch */
    e->kernel = 0;
    if (e->role != FD_USER)
        return;
    if (r == POLLUX_ADD_ALWAYS_READY)
        pollux_always_ready_add(p, fd);
    else if (r == -EBADF)
        e->flags |= FD_CLOSED;
}

static void unqueue_at(pollux *p, int i)
{
    p->fds[p->changes[i].fd].entry.queued = 0;
    p->changes[i] = p->changes[--p->changes_count];
}

/* A change of fd about to be applied at once comes after the one queued
 * for it, from old_mask to `have`. */
static void settle_queued(pollux *p, int fd, uint32_t have)
{
    int i = 0;
    while (i < p->changes_count && p->changes[i].fd != fd)
        i++;
    if (i == p->changes_count)
        return;
    uint32_t old = p->changes[i].old_mask;
    unqueue_at(p, i);
    /* A recheck: the modify or removal at once covers it. */
    if (old == have)
        return;
    int r = apply_now(p, fd, old, have);
    if (r != 0)
        settle(p, fd, old, r);
}

/* 0, or -ENOMEM: then the change is applied at once instead. */
static int queue(pollux *p, int fd, uint32_t have)
{
    if (p->changes_count == p->changes_size
        && pollux_grow_array((void **)&p->changes, &p->changes_size, p->changes_count + 1,
                             sizeof *p->changes) < 0)
        return -ENOMEM;
    p->changes[p->changes_count++] = (struct pollux_change){ .fd = fd, .old_mask = (uint16_t)have };
    p->fds[fd].entry.queued = 1;
    return 0;
}

int pollux_change(pollux *p, int fd, uint32_t have, uint32_t wanted)
{
    if (have == 0 && wanted == 0)
        return 0;
    uint32_t kind = kind_of(have, wanted);
    bool batched = (p->ops->batched & kind) && !p->nested;
    /* register says -EBADF now, not at the next wait. */
    if (batched && kind == POLLUX_BATCH_ADD && !pollux_fd_is_open(fd))
        return -EBADF;
    if (p->fds[fd].entry.queued) {
        if (batched)
            return POLLUX_ADD_WATCHED; /* the queued entry now leads to wanted */
        settle_queued(p, fd, have);
        have = p->fds[fd].entry.kernel;
    } else if (batched && queue(p, fd, have) == 0) {
        return POLLUX_ADD_WATCHED;
    }
    return apply_now(p, fd, have, wanted);
}

void pollux_changes_batch(pollux *p, struct pollux_batch *batch)
{
    int kept = 0;
    for (int i = 0; i < p->changes_count; i++) {
        struct pollux_change c = p->changes[i];
        c.new_mask = (uint16_t)p->fds[c.fd].entry.kernel;
        if (c.old_mask == 0 && c.new_mask == 0) {
            p->fds[c.fd].entry.queued = 0; /* added and removed again: nothing to do */
            continue;
        }
        p->changes[kept++] = c;
    }
    p->changes_count = kept;
    *batch = (struct pollux_batch){ .changes = p->changes, .count = kept };
}

void pollux_changes_done(pollux *p, const struct pollux_batch *batch)
{
    int taken = batch->taken;
    if (taken == 0)
        return;
    for (int i = 0; i < taken; i++)
        p->fds[p->changes[i].fd].entry.queued = 0;
    p->changes_count -= taken;
    memmove(p->changes, p->changes + taken, (size_t)p->changes_count * sizeof *p->changes);
}

void pollux_changes_flush(pollux *p)
{
    while (p->changes_count > 0) {
        struct pollux_change c = p->changes[p->changes_count - 1];
        uint32_t wanted = p->fds[c.fd].entry.kernel;
        unqueue_at(p, p->changes_count - 1);
        int r = apply_now(p, c.fd, c.old_mask, wanted);
        if (r != 0)
            settle(p, c.fd, c.old_mask, r);
    }
}

void pollux_changes_drop(pollux *p)
{
    while (p->changes_count > 0)
        unqueue_at(p, p->changes_count - 1);
}
