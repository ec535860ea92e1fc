/*
 * internal.h - the poller's private state, shared by the core files
 * (never by a backend: backend.h is all a backend sees).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_INTERNAL_H
#define POLLUX_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <errno.h>
#include <time.h>

#include "backend.h"
#include "clock.h"
#include "pollux.h"
#include "wake.h"

/* Interest bits beyond backend.h's: HUP and ERR are always reported. */
#define POLLUX_ALWAYS_BITS   (POLLUX_HUP | POLLUX_ERR)
#define POLLUX_INTEREST_BITS (BACKEND_EVENT_BITS | POLLUX_ALWAYS_BITS | BACKEND_MODE_BITS)

/* event.serial of a wake: the poller's one wake channel, never removed. */
#define POLLUX_WAKE_SERIAL 1u

/* After a pollux_after_fork() that failed, the poller has no kernel state;
 * only pollux_after_fork() (again) and pollux_free() make sense then. */
#define POLLUX_NO_KERNEL_STATE (-EIO)

/* What a slot of the fd table is used for. */
enum fd_role {
    FD_UNUSED = 0,
    FD_USER,     /* registered by the user */
    FD_WAKE,     /* the read end of the wake channel */
    FD_TIMER,    /* a kernel timer source (timerfd) */
    FD_READY_FLAG, /* readable while always-ready files are armed (fileno) */
    FD_KERNEL,    /* the backend's kernel object (never watched) */
    FD_SIGNAL,    /* a signal source or the poller's signal channel (sigwatch.c) */
    FD_CHILD      /* a watched child's pidfd (childwatch.c) */
};

/* Per-slot state flags. */
#define FD_DISARMED     0x01u /* a ONESHOT registration that has fired */
#define FD_ALWAYS_READY 0x02u /* the kernel refused it as always ready (epoll + regular file) */
#define FD_CLOSED       0x04u /* seen closed (POLLNVAL, EBADF, an always-ready file gone) */
#define FD_FLAGS_ALL    0x07u /* keeps ~FLAG within the 3-bit field */

/*
 * The state of one descriptor number, packed into 4 bytes. Masks are 11
 * bits: POLLUX_READ..EXCLUSIVE.
 */
#define FD_MASK_BITS 11
struct fd_entry {
    uint32_t interest : FD_MASK_BITS; /* the user's events and modes */
    uint32_t kernel : FD_MASK_BITS;   /* the mask the backend has (0: not in the kernel) */
    uint32_t role : 3;                /* enum fd_role */
    uint32_t flags : 3;               /* FD_* */
    /* The user registered this number, closed it without unregistering,
     * and the kernel handed the number to one of the poller's own
     * descriptors (role). The registration lives on, unwatched, so that
     * unregister succeeds and register says -EEXIST. */
    uint32_t closed_user : 1;
    uint32_t queued : 1; /* on the change list (changes.c) */
};

/*
 * One slot per descriptor number, indexed by fd: 16 bytes, so that the
 * table stays small where only some numbers are registered (a server's
 * other ends, log files, ...), and a wait finds all it reports of a
 * number in one place.
 */
struct fd_slot {
    struct fd_entry entry;
    /* The serial of the number's registration (event.serial): a
     * per-number generation, bumped by every pollux_register() of the
     * number and kept by unregister, so that an event of an older
     * registration of the number is told from the new one's. */
    uint32_t serial;
    void *data; /* the user's pointer */
};

/* A descriptor the kernel will not watch (a regular file on epoll), with
 * the file it named when the kernel said so: the number may be closed and
 * reused for another file meanwhile. */
struct always_ready_file {
    int fd;
    dev_t dev;
    ino_t ino;
};

struct pollux_timers;
struct pollux_signals;
struct pollux_children;

struct pollux {
    const struct backend_ops *ops;
    /* ops->wait, kept here so that the steady wait reads nothing of the
     * poller's outside this struct (collect.c). */
    int (*backend_wait)(void *state, struct pollux_batch *batch, struct pollux_report *out,
                        int max, int64_t timeout_ns);
    void *backend;             /* the backend's private state */
    pollux_backend id;
    struct pollux_report *reports; /* what the backend's wait stores */
    int reports_size;
    /* The empty batch of the steady loop's waits (collect.c): stays
     * empty, kept here so that a wait need not clear one each time. */
    struct pollux_batch no_changes;
    bool steady_forever; /* the steady loop's wait is one without timeout */
    /* The change list (changes.c): pending changes, one per fd. */
    struct pollux_change *changes;
    int changes_count, changes_size;
    /* pollux_fileno() succeeded, nested in another loop: nothing waits for
     * a batch, and the ready flag stays open. */
    bool nested;

    struct fd_slot *fds;       /* indexed by descriptor number */
    int fds_size;

    /* Descriptors the kernel will not watch but which are always ready;
     * reported by the core, in turn starting at always_ready_next. */
    struct always_ready_file *always_ready;
    int always_ready_count;
    int always_ready_size;
    int always_ready_next;

    /* Set when the core's own ready sources (timers, always-ready files)
     * found no room in the last wait: they go first in the next. */
    bool own_sources_first;
    bool files_before_timers; /* and within those, who leads */

    struct pollux_channel wake;
    /* Kept readable while always-ready files are armed, so that
     * pollux_fileno() polls readable for them too; opened on first need,
     * or by pollux_fileno() (nested), and then kept. */
    struct pollux_channel ready_flag;
    /* Set for good by the first timer, signal or child watch: their state
     * below exists, and every wait takes the general path (collect.c). */
    bool core_sources;
    struct pollux_timers *timers; /* NULL until the first timer is created */
    struct pollux_signals *signals; /* NULL until the first signal is watched */
    struct pollux_children *children; /* NULL until the first child is watched */
};

#endif
