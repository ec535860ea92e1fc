/*
 * pollux.c - the public functions: each checks its arguments once, then
 * hands over to the job that does it (registry, fdtable, lifecycle,
 * collect, timer). Backends only talk to the kernel (backend.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "always_ready.h"
#include "changes.h"
#include "childwatch.h"
#include "collect.h"
#include "fdtable.h"
#include "internal.h"
#include "lifecycle.h"
#include "registry.h"
#include "sigwatch.h"
#include "timer.h"
#include "util.h"

POLLUX_API const char *pollux_version(void)
{
    return POLLUX_VERSION_STRING;
}

POLLUX_API const char *pollux_backend_name(pollux_backend b)
{
    return pollux_registry_name(b);
}

POLLUX_API unsigned pollux_backends(void)
{
    return pollux_registry_usable();
}

/* ---- registration ---------------------------------------------------- */

static int check_interest(const pollux *p, uint32_t events)
{
    if (events & ~POLLUX_INTEREST_BITS)
        return -EINVAL; /* unknown bits, TIMER, WAKE */
    /* epoll refuses these pairs; refusing them everywhere keeps one contract. */
    if ((events & POLLUX_EXCLUSIVE) && (events & (POLLUX_ONESHOT | POLLUX_RDHUP | POLLUX_PRI)))
        return -EINVAL;
    if ((events & POLLUX_EDGE) && !(p->ops->native_modes & POLLUX_EDGE))
        return -ENOTSUP;
    if (events & BACKEND_EVENT_BITS & ~p->ops->events)
        return -ENOTSUP; /* e.g. PRI on kqueue */
    return 0;
}

/* The checks register and modify share, in the contract's order. */
static int check_call(const pollux *p, int fd, uint32_t events)
{
    if (p == NULL)
        return -EINVAL;
    if (p->backend == NULL)
        return POLLUX_NO_KERNEL_STATE;
    if (fd < 0)
        return -EBADF;
    return check_interest(p, events);
}

POLLUX_API int pollux_register(pollux *p, int fd, uint32_t events, void *data)
{
    int err = check_call(p, fd, events);
    if (err < 0)
        return err;
    if (fd < p->fds_size && p->fds[fd].entry.role != FD_UNUSED) {
        const struct fd_entry *e = &p->fds[fd].entry;
        /* The poller's own descriptors are not the caller's to watch. */
        return e->role == FD_USER || e->closed_user ? -EEXIST : -EBADF;
    }
    /* The backend's add says -EBADF for a closed number, but a paused
     * registration makes no backend call, and growing the table for a
     * number that is not open would waste memory (or fail with -ENOMEM for
     * INT_MAX). Both are rare enough for one fcntl. */
    uint32_t wanted = pollux_fdtable_wanted(p, events, 0);
    if ((wanted == 0 || fd >= p->fds_size) && !pollux_fd_is_open(fd))
        return -EBADF;
    err = pollux_fdtable_reserve(p, fd);
    if (err < 0)
        return err;

    struct fd_entry *e = &p->fds[fd].entry;
    pollux_fdtable_reset(e, (struct fd_entry){ .interest = events });
    err = pollux_fdtable_apply(p, fd, e, wanted);
    if (err < 0) {
        pollux_fdtable_reset(e, (struct fd_entry){ 0 });
        return err;
    }
    e->role = FD_USER;
    p->fds[fd].data = data;
    /* A new registration: events of the number's older ones are stale. */
    p->fds[fd].serial = pollux_next_serial(p->fds[fd].serial);
    if (e->flags & FD_ALWAYS_READY)
        pollux_sync_ready_flag(p);
    return 0;
}

POLLUX_API int pollux_modify(pollux *p, int fd, uint32_t events, void *data)
{
    int err = check_call(p, fd, events);
    if (err < 0)
        return err;
    struct fd_entry *e = pollux_fdtable_user(p, fd);
    if (e == NULL)
        return -ENOENT;
    if (e->closed_user)
        return -EBADF; /* the number is the poller's own descriptor now */

    /* The common case, a watched registration keeping its mask (a loop
     * re-registering its watchers): one backend call, nothing to undo. */
    uint32_t wanted = pollux_fdtable_wanted(p, events, 0);
    if (e->flags == 0 && e->kernel != 0 && e->kernel == wanted) {
        err = pollux_change(p, fd, wanted, wanted);
        if (err == 0) {
            e->interest = events;
            p->fds[fd].data = data;
            return 0;
        }
        if (err < 0)
            return err; /* the old setting stays */
        /* POLLUX_ADD_ALWAYS_READY: the number now names a regular file */
    }

    /* Modify re-arms a fired ONESHOT and forgets that the number was seen
     * closed: the caller says it names a file worth watching again. */
    uint8_t saved_flags = e->flags;
    e->flags &= ~(FD_DISARMED | FD_CLOSED) & FD_FLAGS_ALL;
    err = pollux_fdtable_apply(p, fd, e, pollux_fdtable_wanted(p, events, e->flags));
    if (err < 0) {
        /* The old setting stays; pollux_fdtable_apply kept kernel and ALWAYS_READY true. */
        e->flags = (saved_flags & ~FD_ALWAYS_READY) | (e->flags & FD_ALWAYS_READY);
        return err;
    }
    e->interest = events;
    p->fds[fd].data = data;
    if (e->flags & FD_ALWAYS_READY)
        pollux_sync_ready_flag(p);
    return 0;
}

POLLUX_API int pollux_unregister(pollux *p, int fd)
{
    if (p == NULL)
        return -EINVAL;
    if (p->backend == NULL)
        return POLLUX_NO_KERNEL_STATE;
    if (fd < 0)
        return -EBADF;
    struct fd_entry *e = pollux_fdtable_user(p, fd);
    if (e == NULL)
        return -ENOENT;
    if (e->closed_user) {
        e->closed_user = 0; /* the internal descriptor keeps the slot */
        e->interest = 0;
        p->fds[fd].data = NULL;
        return 0;
    }
    if (e->kernel != 0)
        pollux_change(p, fd, e->kernel, 0); /* succeeds for a closed fd */
    bool was_always_ready = e->flags & FD_ALWAYS_READY;
    if (was_always_ready)
        pollux_always_ready_remove(p, fd);
    pollux_fdtable_reset(e, (struct fd_entry){ 0 });
    p->fds[fd].data = NULL;
    if (was_always_ready)
        pollux_sync_ready_flag(p);
    return 0;
}

POLLUX_API int pollux_new(pollux **out, pollux_backend backend)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    int err = pollux_registry_choose(&backend);
    if (err < 0)
        return err;

    pollux *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    p->ops = pollux_registry_ops(backend);
    p->backend_wait = p->ops->wait;
    p->id = backend;
    p->wake.read_fd = p->wake.write_fd = -1;
    p->ready_flag.read_fd = p->ready_flag.write_fd = -1;
    err = pollux_lifecycle_open(p);
    if (err < 0) {
        pollux_free(p);
        return err;
    }
    *out = p;
    return 0;
}

POLLUX_API void pollux_free(pollux *p)
{
    if (p == NULL)
        return;
    pollux_timers_free(p);
    pollux_children_free(p);
    pollux_signals_free(p); /* restores dispositions and the mask */
    pollux_lifecycle_close(p);
    free(p->fds);
    free(p->always_ready);
    free(p->changes);
    free(p);
}

POLLUX_API pollux_backend pollux_backend_of(const pollux *p)
{
    return p != NULL ? p->id : POLLUX_BACKEND_AUTO;
}

/*
 * The caller is about to poll the descriptor instead of calling
 * pollux_wait(): open now what a shortage of descriptors left for the next
 * wait to retry (the ready flag, kept open from now on, and the timer
 * sources), so that it polls readable for everything there is to report;
 * and from now on tell the kernel every change at once, since the outer
 * loop sees only what the kernel has been told.
 */
static int prepare_nesting(pollux *p)
{
    bool was_nested = p->nested;
    p->nested = true;
    int err = pollux_sync_ready_flag(p);
    if (err < 0) {
        if (p->ready_flag.read_fd < 0)
            p->nested = was_nested;
        return err;
    }
    pollux_changes_flush(p);
    return pollux_timers_arm_sources(p);
}

POLLUX_API int pollux_fileno(const pollux *p)
{
    if (p == NULL)
        return -EINVAL;
    if (p->ops->fileno == NULL)
        return -ENOTSUP;
    if (p->backend == NULL)
        return POLLUX_NO_KERNEL_STATE;
    /* const in the API: what it changes is the poller's internal state.
     * Every poller comes from pollux_new(), never an object defined const. */
    int err = prepare_nesting((pollux *)p);
    if (err < 0)
        return err;
    return p->ops->fileno(p->backend);
}

/* An event is current while its source is the one that produced it:
 * modify and settime keep the serial, unregister and delete end it, and a
 * new registration or timer on the same number or id gets a new one. */
POLLUX_API int pollux_event_current(const pollux *p, const pollux_event *ev)
{
    if (p == NULL || ev == NULL)
        return 0;
    switch (ev->kind) {
    case POLLUX_KIND_FD:
        return pollux_fdtable_current(p, ev->fd, ev->serial);
    case POLLUX_KIND_TIMER:
        return pollux_timers_current(p, ev->fd, ev->serial);
    case POLLUX_KIND_WAKE:
        return 1; /* the poller's one wake channel is never removed */
    case POLLUX_KIND_SIGNAL:
        return pollux_signals_current(p, ev->fd, ev->serial);
    case POLLUX_KIND_CHILD:
        return pollux_children_current(p, ev->fd, ev->serial);
    default:
        return 0; /* never "handle it" for a kind this version does not know */
    }
}

POLLUX_API int pollux_wake(pollux *p)
{
    if (p == NULL)
        return -EINVAL;
    if (p->backend == NULL)
        return POLLUX_NO_KERNEL_STATE;
    return pollux_lifecycle_wake(p);
}

/* ---- signals -------------------------------------------------------- */

POLLUX_API int pollux_signal_add(pollux *p, int signo, void *data)
{
    if (p == NULL)
        return -EINVAL;
    if (p->backend == NULL)
        return POLLUX_NO_KERNEL_STATE;
    return pollux_signals_add(p, signo, data);
}

/* Also without kernel state: like a timer, a watch can always go. */
POLLUX_API int pollux_signal_remove(pollux *p, int signo)
{
    if (p == NULL)
        return -EINVAL;
    return pollux_signals_remove(p, signo);
}

/* ---- child processes ------------------------------------------------- */

POLLUX_API int pollux_child_add(pollux *p, int pid, void *data)
{
    if (p == NULL || pid <= 0)
        return -EINVAL;
    if (p->backend == NULL)
        return POLLUX_NO_KERNEL_STATE;
    return pollux_children_add(p, pid, data);
}

POLLUX_API int pollux_child_remove(pollux *p, int pid)
{
    if (p == NULL)
        return -EINVAL;
    return pollux_children_remove(p, pid);
}

/* The kernel objects of a parent are shared with the child (epoll) or not
 * inherited at all (kqueue): lifecycle.c builds new ones. */
POLLUX_API int pollux_after_fork(pollux *p)
{
    if (p == NULL)
        return -EINVAL;
    return pollux_lifecycle_after_fork(p);
}

/* pollux_wait() is in collect.c, next to what it calls in the common case. */
