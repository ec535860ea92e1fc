/*
 * lifecycle.c - the kernel state of a poller: opening it, closing it, and
 * building it again after fork() (see lifecycle.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "always_ready.h"
#include "changes.h"
#include "collect.h"
#include "fdtable.h"
#include "childwatch.h"
#include "lifecycle.h"
#include "sigwatch.h"
#include "timer.h"
#include "util.h"
#include "wake.h"

/* pollux_wake(): the backend's own wake-up, or the core's channel. */
int pollux_lifecycle_wake(pollux *p)
{
    if (p->ops->wake == NULL)
        return pollux_channel_signal(&p->wake);
    /* Coalesce as pollux_channel_signal() does; the wait clears the flag. */
    if (atomic_exchange(&p->wake.pending, 1) != 0)
        return 0;
    int saved_errno = errno;
    int err = p->ops->wake(p->backend);
    if (err < 0)
        atomic_store(&p->wake.pending, 0); /* nothing was sent: try again next time */
    errno = saved_errno;
    return err;
}

/* Create the kernel object and the wake channel, and watch the channel. */
int pollux_lifecycle_open(pollux *p)
{
    int err = p->ops->init(&p->backend);
    if (err < 0)
        return err;
    /* register and modify refuse the kernel object's number (-EBADF),
     * which the kernel refuses in its own set. */
    if (p->ops->kernel_fd != NULL)
        err = pollux_fdtable_claim(p, p->ops->kernel_fd(p->backend), FD_KERNEL);
    if (err < 0 || p->ops->wake != NULL)
        return err;
    err = pollux_channel_open(&p->wake);
    if (err == 0)
        err = pollux_fdtable_watch_internal(p, p->wake.read_fd, FD_WAKE);
    return err;
}

void pollux_lifecycle_close(pollux *p)
{
    pollux_channel_close(&p->wake);
    pollux_channel_close(&p->ready_flag);
    if (p->backend != NULL)
        p->ops->destroy(p->backend);
    p->backend = NULL;
    /* No room for reports either: the steady path of pollux_wait()
     * (collect.c) then never calls a backend that is gone, and the
     * general path says so. The next wait with a backend grows it again. */
    free(p->reports);
    p->reports = NULL;
    p->reports_size = 0;
}

/*
 * Drop what the table says about kernel state: internal descriptors go,
 * user registrations stay with no kernel watch. Numbers closed now must
 * not be watched again: the new kernel objects may be about to take them.
 */
static void forget_kernel_state(pollux *p)
{
    pollux_changes_drop(p);
    for (int fd = 0; fd < p->fds_size; fd++) {
        struct fd_entry *e = &p->fds[fd].entry;
        if (e->role != FD_USER && !e->closed_user) {
            *e = (struct fd_entry){ 0 };
            continue;
        }
        bool closed = e->closed_user || !pollux_fd_is_open(fd);
        struct fd_entry kept = { .interest = e->interest, .role = FD_USER, .flags = e->flags };
        *e = kept;
        if (closed) {
            if (e->flags & FD_ALWAYS_READY)
                pollux_always_ready_remove(p, fd);
            e->flags |= FD_CLOSED;
        } else {
            /* Open again since a wait saw it closed: like every open
             * number, watched again for the file it names now. */
            e->flags &= ~FD_CLOSED & FD_FLAGS_ALL;
        }
    }
}

/* Watch every registration again; the first failure, other than a number
 * closed meanwhile (left unwatched until modify), fails the whole call. */
static int rewatch_registrations(pollux *p)
{
    for (int fd = 0; fd < p->fds_size; fd++) {
        struct fd_entry *e = &p->fds[fd].entry;
        if (e->role != FD_USER || (e->flags & FD_CLOSED))
            continue; /* a closed number stays unwatched until modify */
        int err = pollux_fdtable_apply(p, fd, e, pollux_fdtable_wanted(p, e->interest, e->flags));
        if (err == -EBADF)
            e->flags |= FD_CLOSED;
        else if (err < 0)
            return err;
    }
    return 0;
}

/* A closed registered number the new kernel objects must not take. */
static bool to_hold(const pollux *p, int fd)
{
    const struct fd_entry *e = &p->fds[fd].entry;
    return e->role == FD_USER && (e->flags & FD_CLOSED) && !pollux_fd_is_open(fd);
}

/*
 * Hold every closed registered number with a placeholder while the new
 * kernel objects are made: neither the backend nor a kqueue implemented in
 * user space (libkqueue's epoll, pipe, eventfds, timerfds) can then take a
 * number the user registered (docs/decisions.md). F_DUPFD takes the number
 * only if it is still free, so nothing another thread opened is replaced.
 * Best effort: a number that cannot be held is handled as before (claim).
 * Returns the placeholders (the first is their source), or NULL.
 */
static int *hold_closed_numbers(pollux *p, int *count)
{
    int n = 1;
    for (int fd = 0; fd < p->fds_size; fd++)
        n += to_hold(p, fd);
    *count = 0;
    int *held = n > 1 ? malloc((size_t)n * sizeof *held) : NULL;
    int src = held != NULL ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
    if (src < 0) {
        free(held);
        return NULL;
    }
    held[(*count)++] = src; /* it may itself sit on the first such number */
    for (int fd = 0; fd < p->fds_size && *count < n; fd++) {
        if (fd == src || !to_hold(p, fd))
            continue;
        int h = fcntl(src, F_DUPFD_CLOEXEC, fd);
        if (h >= 0 && h != fd)
            close(h); /* taken meanwhile: nothing to hold */
        else if (h >= 0)
            held[(*count)++] = h;
    }
    return held;
}

static void release_closed_numbers(int *held, int count)
{
    for (int i = 0; i < count; i++)
        close(held[i]);
    free(held);
}

/* Everything after_fork builds on a new kernel object, in order. */
static int rebuild(pollux *p, bool wake_was_pending)
{
    int err = pollux_lifecycle_open(p);
    if (err < 0)
        return err;
    /* A wake the parent had not reported yet is still owed. */
    atomic_store(&p->wake.pending, 0);
    if (wake_was_pending && (err = pollux_lifecycle_wake(p)) < 0)
        return err;
    err = rewatch_registrations(p);
    if (err == 0)
        err = pollux_signals_rebuild(p);
    if (err == 0)
        err = pollux_children_rebuild(p);
    if (err == 0)
        err = pollux_timers_arm_sources(p); /* for pollux_fileno(), before any wait */
    if (err == 0)
        err = pollux_sync_ready_flag(p);
    return err;
}

/*
 * The kernel objects of a parent are shared with the child (epoll) or not
 * inherited at all (kqueue): build new ones and register everything again.
 * The old descriptors are only closed, never modified, so the parent's
 * poller is untouched. All or nothing: on failure the poller is left with
 * no kernel state (POLLUX_NO_KERNEL_STATE) and a pending wake is still owed, so
 * that a later call can succeed.
 */
int pollux_lifecycle_after_fork(pollux *p)
{
    bool wake_was_pending = atomic_load(&p->wake.pending) != 0;
    pollux_timers_before_rebuild(p);
    pollux_lifecycle_close(p);
    forget_kernel_state(p);
    int nheld;
    int *held = hold_closed_numbers(p, &nheld);
    int err = rebuild(p, wake_was_pending);
    release_closed_numbers(held, nheld);
    if (err < 0) {
        pollux_timers_before_rebuild(p);
        pollux_lifecycle_close(p);
        forget_kernel_state(p);
        atomic_store(&p->wake.pending, wake_was_pending);
    }
    return err;
}
