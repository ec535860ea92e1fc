/*
 * always_ready.c - descriptors the kernel will not watch but which are
 * always ready (regular files on epoll, files and directories on kqueue):
 * the core reports them itself, in turn, and notices when the number is
 * closed or names another file since (see always_ready.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "always_ready.h"
#include "fdtable.h"
#include "util.h"

/* Report fd as always ready, naming the file it names now. */
int pollux_always_ready_add(pollux *p, int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    int i = 0;
    while (i < p->always_ready_count && p->always_ready[i].fd != fd)
        i++;
    if (i == p->always_ready_count) {
        int err = pollux_grow_array((void **)&p->always_ready, &p->always_ready_size,
                             p->always_ready_count + 1, sizeof *p->always_ready);
        if (err < 0)
            return err;
        p->always_ready_count++;
    }
    p->always_ready[i] = (struct always_ready_file){ fd, st.st_dev, st.st_ino };
    p->fds[fd].entry.flags |= FD_ALWAYS_READY;
    return 0;
}

/* Whether the number still names the file pollux_always_ready_add() saw: being
 * open is not enough, it may have been closed and reused. */
static bool always_ready_same_file(const struct always_ready_file *f)
{
    struct stat st;
    return fstat(f->fd, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino;
}

void pollux_always_ready_remove(pollux *p, int fd)
{
    p->fds[fd].entry.flags &= ~FD_ALWAYS_READY & FD_FLAGS_ALL;
    for (int i = 0; i < p->always_ready_count; i++) {
        if (p->always_ready[i].fd == fd) {
            p->always_ready[i] = p->always_ready[--p->always_ready_count];
            return;
        }
    }
}

static bool always_ready_armed(const struct fd_entry *e)
{
    return !(e->flags & (FD_DISARMED | FD_CLOSED)) && (e->interest & (POLLUX_READ | POLLUX_WRITE));
}

bool pollux_always_ready_any_armed(const pollux *p)
{
    for (int i = 0; i < p->always_ready_count; i++)
        if (always_ready_armed(&p->fds[p->always_ready[i].fd].entry))
            return true;
    return false;
}

/* Report always-ready descriptors (regular files on epoll), in turn. */
int pollux_always_ready_collect(pollux *p, pollux_event *out, int max)
{
    int n = 0, count = p->always_ready_count;
    /* Read once: the loop moves always_ready_next past what it reported. */
    int start = pollux_rotation_start(p->always_ready_next, count);
    for (int k = 0; k < count && n < max; k++) {
        int i = pollux_rotation_at(start, k, count);
        int fd = p->always_ready[i].fd;
        struct fd_entry *e = &p->fds[fd].entry;
        if (!always_ready_armed(e))
            continue;
        if (!always_ready_same_file(&p->always_ready[i])) {
            /* Closed without unregistering, maybe reused for another file:
             * no kernel will say so, and a file reported ready forever
             * would make the caller spin. Not reported until modify,
             * unregister or after_fork, as epoll forgets a closed file;
             * FD_CLOSED, not FD_DISARMED, so that after_fork can tell it
             * from a fired ONESHOT. */
            e->flags |= FD_CLOSED;
            continue;
        }
        pollux_fdtable_event(p, fd, e->interest & (POLLUX_READ | POLLUX_WRITE), &out[n]);
        n++;
        /* A file never changes state, so an edge is reported only once. */
        if (e->interest & (POLLUX_ONESHOT | POLLUX_EDGE))
            e->flags |= FD_DISARMED;
        p->always_ready_next = (i + 1) % count;
    }
    return n;
}
