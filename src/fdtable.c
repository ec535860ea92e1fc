/*
 * fdtable.c - the per-number table: what the user registered, what the
 * backend has been given, and the poller's own descriptors (see fdtable.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "always_ready.h"
#include "changes.h"
#include "fdtable.h"

/*
 * Grow by an eighth, or to the next 256 past fd: little slack, while the
 * number of reallocations stays logarithmic.
 */
int pollux_fdtable_reserve(pollux *p, int fd)
{
    if (fd < p->fds_size)
        return 0;
    int64_t size = p->fds_size + p->fds_size / 8;
    int64_t needed = ((int64_t)fd + 256) / 256 * 256;
    if (size < needed)
        size = needed;
    if (size > INT_MAX)
        size = INT_MAX;
    struct fd_slot *slots = realloc(p->fds, (size_t)size * sizeof *slots);
    if (slots == NULL)
        return -ENOMEM;
    p->fds = slots;
    memset(slots + p->fds_size, 0, (size_t)(size - p->fds_size) * sizeof *slots);
    p->fds_size = (int)size;
    return 0;
}

/* The user's registration of fd, also one shadowed by an internal
 * descriptor (closed_user), or NULL. */
struct fd_entry *pollux_fdtable_user(pollux *p, int fd)
{
    if (fd >= p->fds_size)
        return NULL;
    struct fd_entry *e = &p->fds[fd].entry;
    return e->role == FD_USER || e->closed_user ? e : NULL;
}

/* Whether fd's registration is still the one with this serial: also one
 * shadowed by an internal descriptor, which unregister still removes. */
bool pollux_fdtable_current(const pollux *p, int fd, uint64_t serial)
{
    if (fd < 0 || fd >= p->fds_size || p->fds[fd].serial != serial)
        return false;
    const struct fd_entry *e = &p->fds[fd].entry;
    return e->role == FD_USER || e->closed_user;
}

/* The mask the kernel should have for an entry: 0 means "not watched". */
uint32_t pollux_fdtable_wanted(const pollux *p, uint32_t interest, uint8_t flags)
{
    if ((flags & FD_DISARMED) || !(interest & BACKEND_EVENT_BITS))
        return 0;
    return (interest & BACKEND_EVENT_BITS) | (interest & p->ops->native_modes);
}

/*
 * Give the kernel the mask `wanted` for fd, whatever it has now. Updates
 * e->kernel and the always-ready list to what is true afterwards, also
 * when it fails.
 */
int pollux_fdtable_apply(pollux *p, int fd, struct fd_entry *e, uint32_t wanted)
{
    uint32_t have = e->kernel;
    int r = 0;

    if (wanted == 0) {
        pollux_change(p, fd, have, 0);
        e->kernel = 0;
        return 0;
    }
    r = pollux_change(p, fd, have, wanted);
    if (r < 0) {
        /* A failed mod leaves the old watch; a failed add leaves none. */
        if (have == 0)
            e->kernel = 0;
        return r;
    }
    if (r == POLLUX_ADD_ALWAYS_READY) {
        e->kernel = 0;
        return pollux_always_ready_add(p, fd); /* or names the file it names now */
    }
    e->kernel = wanted;
    if (e->flags & FD_ALWAYS_READY)
        pollux_always_ready_remove(p, fd); /* the number now names a pollable file */
    return 0;
}

/*
 * Record fd as one of the poller's own descriptors. The kernel may have
 * handed out a number the user closed without unregistering: stop
 * watching it for them, and keep the registration shadowed (closed_user).
 */
int pollux_fdtable_claim(pollux *p, int fd, enum fd_role role)
{
    int err = pollux_fdtable_reserve(p, fd);
    if (err < 0)
        return err;
    struct fd_entry *e = &p->fds[fd].entry;
    if (e->role == FD_USER) {
        pollux_change(p, fd, e->kernel, 0);
        if (e->flags & FD_ALWAYS_READY)
            pollux_always_ready_remove(p, fd);
        e->kernel = 0;
        e->flags = FD_CLOSED;
    } else if (e->role != FD_UNUSED) {
        return -EEXIST;
    }
    e->closed_user = e->role == FD_USER;
    e->role = role;
    return 0;
}

/* Undo pollux_fdtable_claim() of an internal descriptor the backend refused. */
static void release_own(pollux *p, int fd)
{
    struct fd_entry *e = &p->fds[fd].entry;
    e->role = e->closed_user ? FD_USER : FD_UNUSED;
    e->closed_user = 0;
}

int pollux_fdtable_watch_internal(pollux *p, int fd, enum fd_role role)
{
    int err = pollux_fdtable_claim(p, fd, role);
    if (err < 0)
        return err;
    err = pollux_change(p, fd, 0, POLLUX_READ);
    if (err != 0) {
        release_own(p, fd);
        return err < 0 ? err : -EINVAL; /* an internal source must be pollable */
    }
    p->fds[fd].entry.kernel = POLLUX_READ;
    return 0;
}
