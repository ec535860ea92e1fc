/*
 * backend_kqueue.c - BSD and macOS kqueue(2).
 *
 * kqueue watches (descriptor, filter) pairs: READ and WRITE are separate
 * knotes here, merged back into one event per descriptor. Changes are
 * queued and handed to the kernel with the next kevent() call, so modify
 * and unregister cost no syscall; register flushes at once, because it
 * must say -EBADF now. ONESHOT (EV_ONESHOT) and EDGE (EV_CLEAR) are
 * native (a ONESHOT registration with both filters deletes the other one
 * when one fires; RDHUP without READ has an EV_CLEAR read filter that
 * counts only with EV_EOF, since plain data must not fire it), timers use
 * EVFILT_TIMER and the wake-up EVFILT_USER where the kernel has it. A
 * kqueue is not inherited by fork(): pollux_after_fork() builds a new one.
 *
 * On Linux it runs over libkqueue (HAVE_LIBKQUEUE), which differs from
 * the kernels' kqueue where docs/portability.md says; what it reports is
 * checked rather than trusted.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */

#ifdef HAVE_BACKEND_KQUEUE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#ifdef HAVE_LIBKQUEUE
#include <sys/epoll.h>
#endif
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "backend.h"
#include "clock.h"
#include "util.h"

/* Signals through EVFILT_SIGNAL, except over libkqueue, whose EVFILT_SIGNAL
 * loses deliveries now and then (seen in tests/signals.c run after
 * another): there the core's own signalfd path serves, as on epoll
 * (docs/portability.md). */
#if defined(EVFILT_SIGNAL) && !defined(HAVE_LIBKQUEUE)
#define USE_EVFILT_SIGNAL 1
#endif

/* The wake-up through EVFILT_USER, except over libkqueue, whose kevent()
 * takes locks: called from a signal handler (pollux_wake() is
 * async-signal-safe) while the thread it interrupted was inside kevent(),
 * it waits for ever (seen: a server stopped by SIGINT hung now and then).
 * There the core's wake channel serves, as on the other backends. */
#if defined(EVFILT_USER) && !defined(HAVE_LIBKQUEUE)
#define USE_EVFILT_USER 1
#endif

/* EVFILT_USER's identifier for the wake-up. */
#define WAKE_IDENT 0

/* timer.c's clocks: monotonic, boottime, realtime. */
#define TIMER_QUEUES 3

struct kqueue_state {
    atomic_int kq;           /* replaced by rebuild() (libkqueue); read by wake */
    int reserved;            /* the number init() gave the core (kernel_fd) */
    pid_t owner;             /* a kqueue is not inherited: only its creator closes it */
    atomic_bool wake_sent;   /* a NOTE_TRIGGER the wait has not taken yet */
    bool rebuild_due;        /* rebuild() failed: tried again by the next wait */
    bool timer_armed[TIMER_QUEUES]; /* set and not reported yet: for rebuild() */
    int64_t timer_deadline[TIMER_QUEUES];
    clockid_t timer_clock[TIMER_QUEUES];
    bool fileno_used;        /* changes go to the kernel at once (see mod) */
    struct kevent *changes;  /* handed to the next kevent() call */
    int change_count, change_size;
    struct kevent *results;
    int results_size;
    int *slot_of;            /* indexed by fd: where its merged event is, -1 */
    int slot_size;
    struct pollux_report *backlog; /* merged reports that found no room: next wait */
    int backlog_count, backlog_size;
    /* Indexed by fd: the mask its knotes have (0: none), with FIRED once a
     * ONESHOT one has reported; what a rebuild puts back. */
    uint16_t *mask;
    int mask_size;
    int *refused;            /* batched modifies that found a file it refuses */
    int refused_count, refused_size;
    int *procs;              /* pids with an EVFILT_PROC knote (for rebuild) */
    int proc_count, proc_size;
    int ignored;             /* results of the last call that were no firing */
};

#define FIRED 0x8000u

/* slot_of with every new entry -1 ("no merged event yet"). */
static int reserve_slots(struct kqueue_state *s, int fd)
{
    int err = pollux_grow_index(&s->slot_of, &s->slot_size, fd + 1);
    return err < 0 ? err : pollux_grow_array((void **)&s->mask, &s->mask_size, fd + 1, sizeof *s->mask);
}

static int queue_change(struct kqueue_state *s, uintptr_t ident, short filter,
                        unsigned short flags, unsigned fflags, int64_t data, void *udata)
{
    int err = pollux_grow_array((void **)&s->changes, &s->change_size, s->change_count + 1, sizeof *s->changes);
    if (err < 0)
        return err;
    EV_SET(&s->changes[s->change_count], ident, filter, flags, fflags, data, udata);
    s->change_count++;
    return 0;
}

static int kqueue_backend_init(void **state)
{
    struct kqueue_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->kq = kqueue();
    if (s->kq < 0) {
        int err = -errno;
        free(s);
        return err;
    }
    fcntl(s->kq, F_SETFD, FD_CLOEXEC);
    s->reserved = s->kq;
    s->owner = getpid();
#ifdef USE_EVFILT_USER
    struct kevent wake;
    EV_SET(&wake, WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
    if (kevent(s->kq, &wake, 1, NULL, 0, NULL) < 0) {
        int err = -errno;
        close(s->kq);
        free(s);
        return err;
    }
#endif
    *state = s;
    return 0;
}

static void kqueue_backend_destroy(void *state)
{
    struct kqueue_state *s = state;
    /* In a child the number is not a kqueue (not inherited) and may be
     * a file the child opened since. */
    if (getpid() == s->owner && s->kq != s->reserved)
        close(s->reserved);
    if (getpid() == s->owner)
        close(s->kq);
    free(s->changes);
    free(s->results);
    free(s->slot_of);
    free(s->backlog);
    free(s->mask);
    free(s->refused);
    free(s->procs);
    free(s);
}

static unsigned short mode_flags(uint32_t mask)
{
    unsigned short flags = 0;
    if (mask & POLLUX_ONESHOT)
        flags |= EV_ONESHOT;
    if (mask & POLLUX_EDGE)
        flags |= EV_CLEAR;
    return flags;
}

/* End of stream is EV_EOF on the read filter, so RDHUP needs it too. */
static bool wants_read(uint32_t mask)
{
    return mask & (POLLUX_READ | POLLUX_RDHUP);
}

/* In a read knote's udata, besides the mask: the knote watches for RDHUP
 * alone, so it is EV_CLEAR whatever the mode. Level-triggered or ONESHOT,
 * plain data would fire it at every wait (epoll and poll report nothing
 * then), or consume its ONESHOT with nothing to report. */
#define RDHUP_ALONE 0x10000u

static bool rdhup_alone(uint32_t mask)
{
    return (mask & POLLUX_RDHUP) && !(mask & POLLUX_READ);
}

/* poll(2)'s view of regular files on the read filter (FreeBSD). */
#ifdef NOTE_FILE_POLL
#define READ_FFLAGS NOTE_FILE_POLL
#else
#define READ_FFLAGS 0
#endif

/* Queue the changes that take fd from old_mask to mask, one of them 0. */
static int queue_mask(struct kqueue_state *s, int fd, uint32_t old_mask, uint32_t mask)
{
    unsigned short add = EV_ADD | EV_ENABLE | mode_flags(mask);
    /* udata carries the mask, for the ONESHOT sibling (take_results). */
    void *udata = (void *)(uintptr_t)mask;
    int err = 0;
    if (rdhup_alone(mask))
        err = queue_change(s, (uintptr_t)fd, EVFILT_READ, EV_ADD | EV_ENABLE | EV_CLEAR,
                           READ_FFLAGS, 0, (void *)(uintptr_t)(mask | RDHUP_ALONE));
    else if (wants_read(mask))
        err = queue_change(s, (uintptr_t)fd, EVFILT_READ, add, READ_FFLAGS, 0, udata);
    else if (wants_read(old_mask))
        err = queue_change(s, (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
    if (err == 0 && (mask & POLLUX_WRITE))
        err = queue_change(s, (uintptr_t)fd, EVFILT_WRITE, add, 0, 0, udata);
    else if (err == 0 && (old_mask & POLLUX_WRITE))
        err = queue_change(s, (uintptr_t)fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
    if (err == 0 && fd < s->mask_size)
        s->mask[fd] = (uint16_t)mask;
    return err;
}

/* The kernel will not watch this file, which poll(2) calls always ready: a
 * device without poll support (/dev/null). epoll, and so libkqueue, says
 * EPERM; FreeBSD's devfs says ENODEV for a driver without a kqueue filter. */
static bool cannot_watch(int err)
{
    return err == EPERM || err == ENODEV;
}

static bool is_fd_filter(short filter)
{
    return filter == EVFILT_READ || filter == EVFILT_WRITE;
}

/* Asked, never taken from a kevent error entry: libkqueue may fill one
 * with an errno left over from an earlier call, EBADF included. */
static bool is_closed(int fd)
{
    return !pollux_fd_is_open(fd);
}

/* libkqueue caps a call's eventlist at 512 entries and fails with EFAULT
 * when the receipts do not fit: changes go in parts of at most this. */
#define SUBMIT_PART 256

/*
 * Hand every queued change to the kernel now, each with EV_RECEIPT so that
 * each says how it went: one entry per change, in order, in s->results,
 * and no room for anything else (libkqueue returns them only then).
 * Returns the number of entries or -errno.
 */
static int submit_changes_to(struct kqueue_state *s, int kq, int first)
{
    int count = s->change_count - first;
    int err = pollux_grow_array((void **)&s->results, &s->results_size, count, sizeof *s->results);
    if (err < 0)
        return err;
    struct kevent *changes = s->changes + first;
    for (int i = 0; i < count; i++)
        changes[i].flags |= EV_RECEIPT;
    s->change_count = first;
    static const struct timespec no_wait = { 0, 0 };
    for (int at = 0; at < count; at += SUBMIT_PART) {
        int part = count - at < SUBMIT_PART ? count - at : SUBMIT_PART;
        errno = 0; /* what libkqueue may report for a change it refuses */
        int got = kevent(kq, changes + at, part, s->results + at, part, &no_wait);
        if (got != part)
            return got < 0 && at == 0 ? -errno : at + (got > 0 ? got : 0);
    }
    return count;
}

static int submit_changes(struct kqueue_state *s)
{
    return submit_changes_to(s, s->kq, 0);
}

/*
 * Hand every queued change to the kernel now. Returns the first error
 * among the changes from index `first` on (earlier queued changes are
 * modifies and removals whose errors mean their descriptor is already
 * closed).
 */
static int flush_now(struct kqueue_state *s, int first)
{
    int count = s->change_count;
    int got = submit_changes(s);
    if (got < 0)
        return got;
    /* FreeBSD replaces an entry's flags by EV_ERROR, so whether it was an
     * add is read from the change. */
    for (int i = first; i < got && i < count; i++) {
        const struct kevent *r = &s->results[i];
        /* A removal that finds nothing (a fired ONESHOT) is no error. */
        if (!(r->flags & EV_ERROR) || r->data == 0 || !(s->changes[i].flags & EV_ADD))
            continue;
        if (r->data == EBADF && is_fd_filter(r->filter) && !is_closed((int)r->ident))
            continue; /* a stale errno: the knote is there */
        return -(int)r->data;
    }
    return 0;
}

/* Retrieved reports for fd that found no room are about a registration
 * that is going away or starting over: drop them. */
static void backlog_forget(struct kqueue_state *s, int fd)
{
    int kept = 0;
    for (int i = 0; i < s->backlog_count; i++)
        if (s->backlog[i].fd != fd)
            s->backlog[kept++] = s->backlog[i];
    s->backlog_count = kept;
}

#ifdef HAVE_LIBKQUEUE
/*
 * libkqueue runs over epoll. Asked to delete a knote whose number now
 * names a file epoll refuses (closed and reused by a regular file or
 * /dev/null), it frees the knote but keeps a pointer to it, which the next
 * change on that number reads (docs/portability.md). Such a number is
 * never handed to it: the old knote is left alone, and the file is always
 * ready. Devices are asked of epoll itself (a tty is watched, /dev/null
 * is refused).
 */
static bool libkqueue_refuses(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return false;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return true;
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
        return false;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return false;
    struct epoll_event ev = { .events = 0 };
    bool refused = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 && errno == EPERM;
    close(ep);
    return refused;
}
/* libkqueue may hold a knote of a file the number named before: gone
 * first (in the same kevent call), or the add would only modify it. */
#define DELETE_BEFORE_ADD 1
#else
static bool libkqueue_refuses(int fd)
{
    (void)fd;
    return false; /* the kernel forgets a file's knotes when it is closed */
}
#define DELETE_BEFORE_ADD 0
#endif

/* Nanoseconds from now to deadline on clock, at least 1 (EVFILT_TIMER
 * takes a relative time, and 0 would mean "now" differently everywhere). */
static int64_t time_left(clockid_t clock, int64_t deadline_ns)
{
    int64_t left = deadline_ns - pollux_clock_now_ns(clock);
    return left < 1 ? 1 : left;
}

#ifdef USE_EVFILT_USER
/* Fire the wake-up's EVFILT_USER knote; async-signal-safe. */
static int trigger(int kq)
{
    struct kevent trigger;
    EV_SET(&trigger, WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    return kevent(kq, &trigger, 1, NULL, 0, NULL) < 0 ? -errno : 0;
}
#endif

#ifdef HAVE_LIBKQUEUE
/* A report that does not come from the kernel, for the next wait. */
static int backlog_put(struct kqueue_state *s, int fd, enum pollux_report_kind kind)
{
    backlog_forget(s, fd);
    int err = pollux_grow_array((void **)&s->backlog, &s->backlog_size, s->backlog_count + 1,
                         sizeof *s->backlog);
    if (err == 0)
        s->backlog[s->backlog_count++] = (struct pollux_report){ .fd = fd, .kind = kind };
    if (kind == POLLUX_REPORT_ALWAYS_READY && fd < s->mask_size)
        s->mask[fd] = 0; /* the core reports it from now on */
    return err;
}

/*
 * Queue, after the changes already queued, everything a fresh kqueue must
 * hold: each registration with its mask, the timers not reported yet, and
 * the wake-up. Left out: `gone`, being unregistered, the kqueues' own
 * numbers, and closed numbers, which stay unwatched as in the old kqueue:
 * the fresh one's descriptors, opened after this, may take them. A number
 * that now names a file libkqueue must not be given is always ready.
 */
static int queue_everything(struct kqueue_state *s, int gone)
{
    int err = 0;
    for (int fd = 0; err == 0 && fd < s->mask_size; fd++) {
        uint32_t mask = s->mask[fd];
        /* A fired ONESHOT is watched for nothing. */
        if (mask == 0 || (mask & FIRED) || fd == gone || fd == s->kq || fd == s->reserved
            || is_closed(fd))
            continue;
        err = libkqueue_refuses(fd) ? backlog_put(s, fd, POLLUX_REPORT_ALWAYS_READY)
                                    : queue_mask(s, fd, 0, mask);
    }
    for (int q = 0; err == 0 && q < TIMER_QUEUES; q++)
        if (s->timer_armed[q])
            err = queue_change(s, (uintptr_t)q, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_NSECONDS,
                               time_left(s->timer_clock[q], s->timer_deadline[q]), NULL);
#ifdef EVFILT_PROC
    for (int i = 0; err == 0 && i < s->proc_count; i++)
        err = queue_change(s, (uintptr_t)s->procs[i], EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL);
#endif
#ifdef USE_EVFILT_USER
    if (err == 0)
        err = queue_change(s, WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
#endif
    return err;
}

/* How the fresh kqueue took `count` changes: a number closed meanwhile
 * stays unwatched, as it was in the old one (an EBADF on a number still
 * open is libkqueue's stale errno, the knote is there); a device epoll
 * refuses is always ready. Anything else fails the rebuild. */
static int check_receipts(struct kqueue_state *s, int got, int count)
{
    if (got < count)
        return got < 0 ? got : -EIO;
    for (int i = 0; i < got; i++) {
        const struct kevent *r = &s->results[i];
        int err = (r->flags & EV_ERROR) ? (int)r->data : 0;
        bool fd_filter = is_fd_filter(r->filter);
        if (err == 0 || (fd_filter && err == EBADF))
            continue;
        if (!fd_filter || !cannot_watch(err))
            return -err;
        err = backlog_put(s, (int)r->ident, POLLUX_REPORT_ALWAYS_READY);
        if (err < 0)
            return err;
    }
    return 0;
}

/*
 * Replace the kqueue. libkqueue runs over epoll, which watches (file,
 * number) pairs: a registered number closed while the file stays open
 * elsewhere (a dup, a child) leaves a watch in libkqueue's epoll that its
 * delete cannot reach (epoll_ctl says EBADF, and libkqueue drops its knote
 * anyway), and kevent() then spins on it inside libkqueue for its whole
 * timeout (docs/portability.md). Only closing that kqueue drops it.
 * libkqueue keys a kqueue by its descriptor number, so the fresh one keeps
 * its own number; the number the core reserved (kernel_fd) is kept open
 * as a copy of it, so the kernel cannot hand it to the user. On failure
 * nothing changes.
 */
static int replace_kqueue(struct kqueue_state *s, int gone)
{
    int first = s->change_count;
    int err = queue_everything(s, gone);
    int count = s->change_count - first;
    int fresh = -1;
    if (err == 0 && (fresh = kqueue()) < 0)
        err = -errno;
    if (err == 0) {
        fcntl(fresh, F_SETFD, FD_CLOEXEC);
        err = check_receipts(s, submit_changes_to(s, fresh, first), count);
    }
    s->change_count = first;
    if (err == 0 && dup3(fresh, s->reserved, O_CLOEXEC) < 0)
        err = -errno;
    if (err < 0) {
        if (fresh >= 0)
            close(fresh);
        return err;
    }
    int old = s->kq;
    s->kq = fresh; /* before wake_sent is read: see kqueue_backend_wake */
#ifdef USE_EVFILT_USER
    if (atomic_load(&s->wake_sent))
        trigger(fresh); /* a wake the old kqueue had not reported */
#endif
    if (old != s->reserved)
        close(old);
    s->change_count = 0; /* meant for the old kqueue: the fresh one has it all */
    return 0;
}

/* Keep the number the user just closed from the descriptors the fresh
 * kqueue opens (libkqueue opens more as knotes are added): a caller may
 * reuse it (dup2 onto it) after unregister, as if pollux opened nothing.
 * F_DUPFD takes the number only if it is still free. */
static int rebuild(struct kqueue_state *s, int gone)
{
    int hold = gone >= 0 ? fcntl(s->reserved, F_DUPFD_CLOEXEC, gone) : -1;
    if (hold >= 0 && hold != gone) { /* taken meanwhile: nothing to keep */
        close(hold);
        hold = -1;
    }
    int err = replace_kqueue(s, gone);
    if (hold >= 0)
        close(hold);
    return err;
}

/* A closed number (the user closed it before unregistering): whether its
 * file is still open elsewhere cannot be told, so the kqueue is rebuilt
 * each time; when that fails, the next wait tries again. */
static void forget_closed(struct kqueue_state *s, int fd)
{
    s->rebuild_due = rebuild(s, fd) < 0;
}
#endif

/* 1 for a file or directory, 0 for anything else, or -errno. Both are
 * always ready for poll(2); kqueue's vnode filters mean something else
 * (bytes left before the end), so the core reports them itself. */
static int is_file(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    return S_ISREG(st.st_mode) || S_ISDIR(st.st_mode);
}

/* Hand the changes from `first` on to the kernel now. A device it will
 * not watch is always ready: its changes are undone. */
static int flush_mask(struct kqueue_state *s, int fd, uint32_t mask, int first)
{
    int err = flush_now(s, first);
    if (err < 0) {
        /* Leave nothing half-registered behind (READ added, WRITE failed). */
        queue_mask(s, fd, mask, 0);
        flush_now(s, s->change_count);
    }
    return cannot_watch(-err) ? POLLUX_ADD_ALWAYS_READY : err;
}

static int kqueue_backend_add(void *state, int fd, uint32_t mask)
{
    struct kqueue_state *s = state;
    if (fd == s->kq)
        return -EBADF; /* the poller's own descriptor since a rebuild */
    backlog_forget(s, fd);
    int file = is_file(fd);
    if (file != 0)
        return file < 0 ? file : POLLUX_ADD_ALWAYS_READY;
    if (libkqueue_refuses(fd))
        return POLLUX_ADD_ALWAYS_READY;
    /* The wait merges by fd: its slot exists before the kernel can
     * report it, so that no allocation can fail once events are taken. */
    int err = reserve_slots(s, fd);
    if (err < 0)
        return err;
    int first = s->change_count;
    if (DELETE_BEFORE_ADD)
        err = queue_mask(s, fd, mask, 0);
    if (err == 0)
        err = queue_mask(s, fd, 0, mask);
    if (err < 0) {
        s->change_count = first;
        return err;
    }
    return flush_mask(s, fd, mask, first);
}

/* Only where the read filter cannot be told to answer like poll(2) for
 * files (NOTE_FILE_POLL: FreeBSD) must a modify look at what the number
 * names now: at the end of a file it would never report. Over libkqueue,
 * libkqueue_refuses() has looked. */
#if defined(NOTE_FILE_POLL) || defined(HAVE_LIBKQUEUE)
#define MODIFY_LOOKS_FOR_FILES 0
#else
#define MODIFY_LOOKS_FOR_FILES 1
#endif

/*
 * Delete, then add: the number may name another file since
 * (docs/decisions.md), and libkqueue keeps its knote of a closed number, so a re-add would
 * change that knote and leave the new file unwatched; and EV_ADD on an
 * existing knote keeps the EV_ONESHOT and EV_CLEAR it was created with.
 * The core batches modifies for the next wait (ops.batched), which hands
 * them to the kernel with its kevent() call; it applies them at once (mod)
 * when the poller is nested through pollux_fileno(): the outer loop polls
 * the kqueue descriptor, which only shows what the kernel has been told.
 * Queues the changes: 0, POLLUX_ADD_ALWAYS_READY or -errno (then nothing
 * is queued).
 */
static int queue_mod(struct kqueue_state *s, int fd, uint32_t old_mask, uint32_t mask)
{
    if (fd == s->kq)
        return -EBADF; /* the poller's own descriptor since a rebuild */
    if (libkqueue_refuses(fd)) {
        if (fd < s->mask_size)
            s->mask[fd] = 0; /* the knote is left alone; the core reports it */
        return POLLUX_ADD_ALWAYS_READY;
    }
    int first = s->change_count;
    int err = queue_mask(s, fd, old_mask, 0);
    bool file = err == 0 && MODIFY_LOOKS_FOR_FILES && is_file(fd) == 1;
    if (err == 0 && !file)
        err = queue_mask(s, fd, 0, mask);
    if (err < 0) {
        s->change_count = first; /* the old watch stays */
        if (fd < s->mask_size)
            s->mask[fd] = (uint16_t)old_mask;
        return err;
    }
    return file ? POLLUX_ADD_ALWAYS_READY : 0;
}

static int kqueue_backend_mod(void *state, int fd, uint32_t old_mask, uint32_t mask)
{
    struct kqueue_state *s = state;
    int first = s->change_count;
    int r = queue_mod(s, fd, old_mask, mask);
    if (r < 0)
        return r;
    int err = flush_mask(s, fd, mask, first);
    return r == POLLUX_ADD_ALWAYS_READY ? r : err;
}

/* Not batched (ops.batched): a removal must find out at once whether the
 * number was closed (see forget_closed). Queued for the next kevent()
 * call, which an add of the same number makes at once. */
static void kqueue_backend_del(void *state, int fd, uint32_t old_mask)
{
    struct kqueue_state *s = state;
    backlog_forget(s, fd);
    if (fd < s->mask_size)
        s->mask[fd] = 0;
    if (fd == s->kq || fd == s->reserved)
        return; /* a kqueue took the number the user closed: nothing of theirs */
#ifdef HAVE_LIBKQUEUE
    if (is_closed(fd)) {
        forget_closed(s, fd);
        return;
    }
#endif
    if (libkqueue_refuses(fd))
        return; /* a knote of a closed file, which never reports */
    /* Out of memory here only leaves a knote the core ignores. */
    if (queue_mask(s, fd, old_mask, 0) == 0 && s->fileno_used)
        flush_now(s, s->change_count); /* errors: the fd was closed */
}

/* One change of the core's batch, queued for this wait's kevent(). */
static int take_change(struct kqueue_state *s, const struct pollux_change *c)
{
    int r = 0;
    if (c->new_mask == 0)
        kqueue_backend_del(s, c->fd, c->old_mask);
    else if (c->old_mask == 0)
        r = kqueue_backend_add(s, c->fd, c->new_mask);
    else
        r = queue_mod(s, c->fd, c->old_mask, c->new_mask);
    if (r == POLLUX_ADD_ALWAYS_READY)
        s->refused[s->refused_count++] = c->fd;
    return r < 0 ? r : 0;
}

/* The core's batch, translated into s->changes (and s->refused): 0, or
 * -ENOMEM when not all of it could be taken. */
static int take_batch(struct kqueue_state *s, struct pollux_batch *batch)
{
    batch->taken = 0;
    if (batch->count == 0)
        return 0;
    if (pollux_grow_array((void **)&s->refused, &s->refused_size, s->refused_count + batch->count,
                          sizeof *s->refused) < 0)
        return -ENOMEM;
    while (batch->taken < batch->count) {
        int err = take_change(s, &batch->changes[batch->taken]);
        if (err == -ENOMEM)
            return err; /* the rest comes with the next wait */
        batch->taken++; /* -EBADF and the like: the kernel will say so */
    }
    return 0;
}

/* A socket's peer can shut down one half; a pipe or tty has no halves. */
static bool is_socket(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Readiness of one returned kevent, in POLLUX bits. */
static uint32_t readiness(const struct kevent *k)
{
    int fd = (int)k->ident;
    bool eof = k->flags & EV_EOF;
    uint32_t bits = 0;
    if (k->filter == EVFILT_READ) {
        bits = POLLUX_READ;
        /* The peer shut down its writing half; for a pipe or a tty there
         * is no other half, so it is a hang-up (as epoll and poll say).
         * Asked at the time, not at register: the number may name another
         * file since (decision 1). */
        if (eof)
            bits |= is_socket(fd) ? POLLUX_RDHUP : POLLUX_HUP;
    } else if (k->filter == EVFILT_WRITE) {
        bits = POLLUX_WRITE;
        if (eof)
            bits |= POLLUX_HUP;
    }
    if (eof && k->fflags != 0)
        bits |= POLLUX_ERR; /* fflags holds the socket error */
    return bits;
}

/* Put a report into out[] or, without room, the backlog; merge with an
 * earlier one for the same fd (a state report wins over readiness).
 * fd -1: the wake-up or the timer. */
static int merge(struct kqueue_state *s, struct pollux_report *out, int max, int *n,
                 int fd, enum pollux_report_kind kind, uint32_t bits)
{
    if (fd >= 0 && fd < s->slot_size && s->slot_of[fd] >= 0) {
        int slot = s->slot_of[fd];
        struct pollux_report *ev = slot < max ? &out[slot] : &s->backlog[slot - max];
        if (kind != POLLUX_REPORT_READY)
            ev->kind = kind;
        ev->events |= bits;
        return 0;
    }
    struct pollux_report *ev;
    int slot;
    if (*n < max) {
        slot = (*n)++;
        ev = &out[slot];
    } else {
        int err = pollux_grow_array((void **)&s->backlog, &s->backlog_size, s->backlog_count + 1,
                       sizeof *s->backlog);
        if (err < 0)
            return err;
        slot = max + s->backlog_count;
        ev = &s->backlog[s->backlog_count++];
    }
    *ev = (struct pollux_report){ .fd = fd, .kind = kind, .events = bits };
    if (kind == POLLUX_REPORT_ALWAYS_READY && fd < s->mask_size)
        s->mask[fd] = 0; /* the core reports it from now on */
    if (fd >= 0) {
        int err = reserve_slots(s, fd);
        if (err < 0)
            return err;
        s->slot_of[fd] = slot;
    }
    return 0;
}

static void clear_slots(struct kqueue_state *s, const struct pollux_report *list, int count)
{
    for (int i = 0; i < count; i++)
        if (list[i].fd >= 0 && list[i].fd < s->slot_size && list[i].kind != POLLUX_REPORT_SIGNAL
            && list[i].kind != POLLUX_REPORT_CHILD)
            s->slot_of[list[i].fd] = -1;
}

/* A queued change failed (FreeBSD's entry says only EV_ERROR and the
 * errno). A removal that finds nothing (a fired ONESHOT) is no news. */
static int take_error(struct kqueue_state *s, const struct kevent *k, struct pollux_report *out,
                      int max, int *n)
{
    if (!is_fd_filter(k->filter))
        return 0;
    int fd = (int)k->ident;
    /* A modify found the number naming a device that cannot be watched. */
    if (cannot_watch((int)k->data))
        return merge(s, out, max, n, fd, POLLUX_REPORT_ALWAYS_READY, 0);
    if (k->data == EBADF && is_closed(fd))
        return merge(s, out, max, n, fd, POLLUX_REPORT_CLOSED, 0);
    return 0;
}

/* kqueue's ONESHOT is per filter: when one filter of a ONESHOT
 * registration with both fires, delete the other, or a level-triggered
 * sibling would wake every wait; a read knote for RDHUP alone is EV_CLEAR,
 * not EV_ONESHOT, so it goes too when it is the one that fired. Handed
 * over with the next kevent(). */
static void oneshot_fired(struct kqueue_state *s, const struct kevent *k)
{
    uint32_t mask = (uint32_t)(uintptr_t)k->udata;
    int fd = (int)k->ident;
    if (!(mask & POLLUX_ONESHOT))
        return;
    if (fd < s->mask_size && s->mask[fd] != 0)
        s->mask[fd] |= FIRED;
    if (libkqueue_refuses(fd))
        return;
    /* Out of memory: the core still drops what they report. */
    if (mask & RDHUP_ALONE)
        queue_change(s, k->ident, EVFILT_READ, EV_DELETE, 0, 0, NULL);
    if (!wants_read(mask) || !(mask & POLLUX_WRITE))
        return;
    short other = k->filter == EVFILT_READ ? EVFILT_WRITE : EVFILT_READ;
    queue_change(s, k->ident, other, EV_DELETE, 0, 0, NULL);
}

/* Replace a read knote by one with other flags and udata (EV_ADD on an
 * existing knote keeps its EV_CLEAR): handed over with the next kevent().
 * Out of memory: the knote stays as it is. */
static void read_knote_again(struct kqueue_state *s, const struct kevent *k, unsigned short flags,
                             uint32_t udata)
{
    if (libkqueue_refuses((int)k->ident))
        return;
    if (queue_change(s, k->ident, EVFILT_READ, EV_DELETE, 0, 0, NULL) == 0
        && queue_change(s, k->ident, EVFILT_READ, EV_ADD | EV_ENABLE | flags, READ_FFLAGS, 0,
                        (void *)(uintptr_t)udata) < 0)
        s->change_count--; /* not the delete alone */
}

/*
 * A read knote of a registration with RDHUP but not READ fired. Without
 * EV_EOF it is plain data, which that registration does not ask for: no
 * firing at all (true). At the end of stream, a level-triggered
 * registration must see it at every wait, as epoll and poll report it:
 * its EV_CLEAR knote becomes level-triggered, which fires only with
 * EV_EOF from then on; should a level one fire without (a FIFO with a new
 * writer), it becomes EV_CLEAR again.
 */
static bool rdhup_alone_ignored(struct kqueue_state *s, const struct kevent *k)
{
    uint32_t mask = (uint32_t)(uintptr_t)k->udata;
    if (k->filter != EVFILT_READ || !rdhup_alone(mask))
        return false;
    bool level = !(mask & (POLLUX_ONESHOT | POLLUX_EDGE));
    bool eof = k->flags & EV_EOF;
    if (level && eof && (mask & RDHUP_ALONE))
        read_knote_again(s, k, 0, mask & ~RDHUP_ALONE);
    else if (level && !eof && !(mask & RDHUP_ALONE))
        read_knote_again(s, k, EV_CLEAR, mask | RDHUP_ALONE);
    return !eof;
}

/* A report about a signal or a process: its number is not a descriptor
 * and never merges with one (merge() is given fd -1). */
static int put_other(struct kqueue_state *s, const struct kevent *k, struct pollux_report *out,
                     int max, int *n, enum pollux_report_kind kind, uint32_t events)
{
    int before = *n;
    int err = merge(s, out, max, n, -1, kind, events);
    if (err == 0)
        (*n > before ? &out[*n - 1] : &s->backlog[s->backlog_count - 1])->fd = (int)k->ident;
    return err;
}

#ifdef USE_EVFILT_SIGNAL
/* A signal's deliveries since its last retrieval, as a report. */
static uint32_t deliveries(const struct kevent *k)
{
    return k->data > 0 && k->data < UINT32_MAX ? (uint32_t)k->data : k->data > 0 ? UINT32_MAX : 1;
}
#endif

#ifdef EVFILT_PROC
static void proc_forget(struct kqueue_state *s, int pid)
{
    for (int i = 0; i < s->proc_count; i++) {
        if (s->procs[i] == pid) {
            s->procs[i] = s->procs[--s->proc_count];
            return;
        }
    }
}
#endif

/* Turn kevent results into merged reports. */
static int take_results(struct kqueue_state *s, int got, struct pollux_report *out, int max, int *n)
{
    bool timer_seen = false;
#ifdef USE_EVFILT_USER
    bool wake_seen = false;
#endif
    for (int i = 0; i < got; i++) {
        const struct kevent *k = &s->results[i];
        int err = 0;
        if (k->flags & EV_ERROR) {
            err = take_error(s, k, out, max, n);
        } else if (k->filter == EVFILT_TIMER) {
            if (!timer_seen)
                err = merge(s, out, max, n, -1, POLLUX_REPORT_TIMER, 0);
            timer_seen = true;
            if (k->ident < TIMER_QUEUES)
                s->timer_armed[k->ident] = false; /* EV_ONESHOT: gone */
#ifdef USE_EVFILT_USER
        } else if (k->filter == EVFILT_USER) {
            if (!wake_seen)
                err = merge(s, out, max, n, -1, POLLUX_REPORT_WAKE, 0);
            wake_seen = true;
            atomic_store(&s->wake_sent, false);
#endif
#ifdef USE_EVFILT_SIGNAL
        } else if (k->filter == EVFILT_SIGNAL) {
            err = put_other(s, k, out, max, n, POLLUX_REPORT_SIGNAL, deliveries(k));
#endif
#ifdef EVFILT_PROC
        } else if (k->filter == EVFILT_PROC) {
            proc_forget(s, (int)k->ident); /* NOTE_EXIT ends the knote */
            err = put_other(s, k, out, max, n, POLLUX_REPORT_CHILD, 0);
#endif
        } else if (rdhup_alone_ignored(s, k)) {
            s->ignored++;
        } else {
            oneshot_fired(s, k);
            err = merge(s, out, max, n, (int)k->ident, POLLUX_REPORT_READY, readiness(k));
        }
        if (err < 0)
            return err;
    }
    return 0;
}

/* The kernel call: the queued changes in, up to `room` results out.
 * Returns the number of results or -errno. */
static int kernel_wait(struct kqueue_state *s, int room, int64_t timeout_ns)
{
    struct timespec ts = pollux_ns_to_timespec(timeout_ns);
    errno = 0; /* what libkqueue may report for a change it refuses */
    int got = kevent(s->kq, s->changes, s->change_count, s->results, room,
                     timeout_ns < 0 ? NULL : &ts);
    int saved_errno = errno;
    s->change_count = 0; /* applied before the kernel waited, whatever it says */
    return got < 0 ? -saved_errno : got;
}

/* Room for `room` results and as many merged events in the backlog, made
 * before the call: the kernel consumes what it reports (ONESHOT,
 * EV_CLEAR, error entries), so no taken event may be lost to -ENOMEM
 * afterwards. */
static int reserve_room(struct kqueue_state *s, int room)
{
    int err = pollux_grow_array((void **)&s->results, &s->results_size, room, sizeof *s->results);
    if (err == 0)
        err = pollux_grow_array((void **)&s->backlog, &s->backlog_size, s->backlog_count + room,
                         sizeof *s->backlog);
    return err;
}

/* A call handed the changes over without looking for events. */
#define SCAN_SKIPPED 1

/*
 * One kevent() call with the queued changes, merging what it returns into
 * out[] after the *n events already there. Returns 0, SCAN_SKIPPED when
 * it returned only error entries for changes (a change that fails, such
 * as removing a fired ONESHOT's knote, makes the kernel return its error
 * without scanning), or -errno. *more is set when the kernel filled the
 * room but its results merged into fewer new reports (a descriptor's two
 * filters, the timer queues, one already reported): there may be more
 * ready behind them.
 */
static int scan(struct kqueue_state *s, struct pollux_report *out, int max, int *n,
                int64_t timeout_ns, bool *more)
{
    /* No more results than there is room for, although a descriptor's two
     * filters merge into one event: a level-triggered report kept for
     * later would be stale by then (the file may have been drained), and
     * the kernel moves each level-triggered knote it returns behind the
     * others, so one that is left unretrieved goes first next time (the
     * rotation the wait must have). The queued changes' error entries
     * fit too: the wait hands them over alone when they would not.
     * Results of the last call that were no firing (plain data for RDHUP
     * alone) get room on top: libkqueue puts a descriptor's read filter
     * first every time, and a filter that keeps coming must not crowd out
     * the rest (its WRITE, with max 1). */
    int room = max - *n + s->ignored;
    s->ignored = 0;
    int err = reserve_room(s, room);
    if (err < 0)
        return err; /* the changes stay queued */
    int got = kernel_wait(s, room, *n > 0 ? 0 : timeout_ns);
    if (got < 0)
        return got;
    int before = *n;
    err = take_results(s, got, out, max, n);
    *more = got == room && *n - before < got;
    bool only_errors = got > 0;
    for (int i = 0; i < got; i++)
        only_errors &= (s->results[i].flags & EV_ERROR) != 0;
    return err < 0 ? err : only_errors ? SCAN_SKIPPED : 0;
}

/* libkqueue drops a changelist's error entries when the same call then
 * finds no event (docs/portability.md): there the changes go first, on
 * their own, with a receipt each. */
#ifdef HAVE_LIBKQUEUE
#define CHANGES_ON_THEIR_OWN 1
#else
#define CHANGES_ON_THEIR_OWN 0
#endif

/* The queued changes alone, merging what their receipts report (a closed
 * number, a device that cannot be watched). SCAN_SKIPPED or -errno. */
static int hand_over_changes(struct kqueue_state *s, struct pollux_report *out, int max, int *n)
{
    int err = reserve_room(s, s->change_count);
    int got = err < 0 ? err : submit_changes(s);
    if (got < 0)
        return got;
    err = take_results(s, got, out, max, n);
    return err < 0 ? err : SCAN_SKIPPED;
}

/* The queued changes and a scan in one call, or the changes alone when
 * their error entries might not fit (see scan). */
static int ask_kernel(struct kqueue_state *s, struct pollux_report *out, int max, int *n,
                      int64_t timeout_ns, bool *more)
{
    bool alone = s->change_count > 0 && (CHANGES_ON_THEIR_OWN || s->change_count > max - *n);
    *more = false;
    return alone ? hand_over_changes(s, out, max, n) : scan(s, out, max, n, timeout_ns, more);
}

/* Files a batched change found the kernel refuses, as reports. */
static int take_refused(struct kqueue_state *s, struct pollux_report *out, int max, int *n)
{
    int err = 0, i = 0;
    for (; i < s->refused_count && err == 0; i++)
        err = merge(s, out, max, n, s->refused[i], POLLUX_REPORT_ALWAYS_READY, 0);
    s->refused_count -= i;
    memmove(s->refused, s->refused + i, (size_t)s->refused_count * sizeof *s->refused);
    return err;
}

static int kqueue_backend_wait(void *state, struct pollux_batch *batch, struct pollux_report *out,
                               int max, int64_t timeout_ns)
{
    struct kqueue_state *s = state;
    int n = 0;
#ifdef HAVE_LIBKQUEUE
    if (s->rebuild_due)
        forget_closed(s, -1);
#endif
    s->ignored = 0;
    int err = take_batch(s, batch);
    if (err < 0 && batch->taken == 0)
        return err;

    /* What an earlier wait retrieved but had no room for goes first: the
     * kernel has already consumed it. Only the error entries of changes
     * handed over alone can be more than fit (see scan), and the kernel
     * reports those once. */
    if (s->backlog_count > 0) {
        n = s->backlog_count < max ? s->backlog_count : max;
        memcpy(out, s->backlog, (size_t)n * sizeof *out);
        s->backlog_count -= n;
        memmove(s->backlog, s->backlog + n, (size_t)s->backlog_count * sizeof *s->backlog);
        if (n == max)
            return n;
    }
    for (int i = 0; i < n; i++) {
        if (out[i].fd < 0 || out[i].kind == POLLUX_REPORT_SIGNAL || out[i].kind == POLLUX_REPORT_CHILD)
            continue; /* not a descriptor */
        int err = reserve_slots(s, out[i].fd);
        if (err < 0)
            return err;
        s->slot_of[out[i].fd] = i;
    }
    if (s->refused_count > 0 && (err = take_refused(s, out, max, &n)) < 0)
        return err;

    bool more;
    err = ask_kernel(s, out, max, &n, timeout_ns, &more);
    /* Fewer reports than room must mean nothing else is ready (the core
     * relies on it), so the kernel is asked again when a call handed the
     * changes over without looking, or when its results filled the room
     * and merged. FreeBSD moves the level-triggered knotes it returned
     * behind the others, so what was left behind comes next; libkqueue
     * takes each filter in turn and can return the same knote once more
     * first. So the asking stops after two calls that added nothing; a
     * call with only error entries needs queued changes, and only a
     * result that added a report queues one (a fired ONESHOT's sibling).
     * A call that looked has waited: the next ones do not (results that
     * all came to nothing, such as plain data for RDHUP alone, may leave
     * n at 0, and the core waits again for what is left of the timeout). */
    for (int fruitless = 0; n < max && fruitless < 2
                            && (err == SCAN_SKIPPED || (err == 0 && more));) {
        int before = n;
        err = ask_kernel(s, out, max, &n, err == 0 ? 0 : timeout_ns, &more);
        fruitless = n > before ? 0 : fruitless + 1;
    }
    if (err == SCAN_SKIPPED)
        err = 0;
    clear_slots(s, out, n);
    clear_slots(s, s->backlog, s->backlog_count);
    /* Nested through pollux_fileno(): the siblings go now. */
    if (s->fileno_used && s->change_count > 0)
        flush_now(s, s->change_count);
    return err < 0 && n == 0 ? err : n;
}

/* libkqueue's descriptor is the write end of an internal pipe: it never
 * polls readable, so there is no pollux_fileno() (-ENOTSUP) over it. */
#ifndef HAVE_LIBKQUEUE
static int kqueue_backend_fileno(void *state)
{
    struct kqueue_state *s = state;
    s->fileno_used = true; /* from now on, changes are not held back */
    return s->kq;
}
#endif

/*
 * One EVFILT_TIMER knote per timer queue, re-set on every arm. Handed to
 * the kernel at once rather than with the next wait, so that
 * pollux_fileno() polls readable at the deadline for a caller that never
 * blocks in pollux_wait(); arming is rare (only when the earliest deadline
 * moves earlier).
 */
static int kqueue_backend_timer_arm(void *state, int queue, clockid_t clock, int64_t deadline_ns)
{
    struct kqueue_state *s = state;
    int first = s->change_count;
    int err = queue_change(s, (uintptr_t)queue, EVFILT_TIMER, EV_ADD | EV_ONESHOT,
                           NOTE_NSECONDS, time_left(clock, deadline_ns), NULL);
    err = err < 0 ? err : flush_now(s, first);
    if (err == 0 && queue < TIMER_QUEUES) {
        s->timer_armed[queue] = true;
        s->timer_clock[queue] = clock;
        s->timer_deadline[queue] = deadline_ns;
    }
    return err;
}

#ifdef USE_EVFILT_USER
/* wake_sent is set before the kqueue is read, and rebuild() reads it after
 * publishing the fresh kqueue: either this call reads the fresh one, or
 * rebuild() fires it. A kqueue closed under this call is tried again. */
static int kqueue_backend_wake(void *state)
{
    struct kqueue_state *s = state;
    atomic_store(&s->wake_sent, true);
    int kq, err;
    do {
        kq = s->kq;
        err = trigger(kq);
    } while (err < 0 && kq != s->kq);
    if (err < 0)
        atomic_store(&s->wake_sent, false);
    return err;
}
#endif

#ifdef USE_EVFILT_SIGNAL
/* Handed to the kernel at once: a delivery right after pollux_signal_add()
 * must be recorded. The core sets the disposition (sigreg.c). */
static int kqueue_backend_signal_watch(void *state, int signo, bool on)
{
    struct kqueue_state *s = state;
    int first = s->change_count;
    int err = queue_change(s, (uintptr_t)signo, EVFILT_SIGNAL, on ? EV_ADD : EV_DELETE, 0, 0, NULL);
    if (err == 0)
        err = flush_now(s, first);
    return on ? err : 0;
}
#endif

#ifdef EVFILT_PROC
/* NOTE_EXIT only: fork and exec are not pollux events. -ESRCH for a child
 * that is a zombie already (FreeBSD does not attach to one). */
static int kqueue_backend_child_watch(void *state, int pid, bool on)
{
    struct kqueue_state *s = state;
    int first = s->change_count;
    int err = pollux_grow_array((void **)&s->procs, &s->proc_size, s->proc_count + 1, sizeof *s->procs);
    if (err == 0)
        err = queue_change(s, (uintptr_t)pid, EVFILT_PROC, on ? EV_ADD : EV_DELETE,
                           on ? NOTE_EXIT : 0, 0, NULL);
    if (err == 0)
        err = flush_now(s, first);
    proc_forget(s, pid);
    if (on && err == 0)
        s->procs[s->proc_count++] = pid;
    return on ? err : 0;
}
#endif

static int kqueue_backend_kernel_fd(const void *state)
{
    const struct kqueue_state *s = state;
    return s->reserved;
}

const struct backend_ops pollux_backend_kqueue = {
    .native_modes = POLLUX_ONESHOT | POLLUX_EDGE,
    /* FreeBSD has no filter for out-of-band data (EVFILT_EXCEPT is
     * macOS's and OpenBSD's); PRI is refused rather than never reported. */
    .events = POLLUX_READ | POLLUX_WRITE | POLLUX_RDHUP,
    /* A pipe whose reader is gone is EV_EOF on the write filter: HUP. */
    .reports = POLLUX_HUP | POLLUX_ERR | POLLUX_RDHUP,
    .caps = 0, /* EVFILT_TIMER does not notice the wall clock being set */
    .batched = POLLUX_BATCH_MOD | POLLUX_BATCH_RECHECK,
    .timer_source = POLLUX_TIMER_SOURCE_BACKEND,
#ifdef USE_EVFILT_SIGNAL
    .signal_source = POLLUX_SIGNAL_SOURCE_BACKEND,
    .signal_watch = kqueue_backend_signal_watch,
#else
    .signal_source = POLLUX_SIGNAL_SOURCE_SIGNALFD,
#endif
#ifdef EVFILT_PROC
    .child_watch = kqueue_backend_child_watch,
#endif
    .init = kqueue_backend_init,
    .destroy = kqueue_backend_destroy,
    .add = kqueue_backend_add,
    .mod = kqueue_backend_mod,
    .del = kqueue_backend_del,
    .wait = kqueue_backend_wait,
#ifndef HAVE_LIBKQUEUE
    .fileno = kqueue_backend_fileno,
#endif
    .kernel_fd = kqueue_backend_kernel_fd,
    .timer_arm = kqueue_backend_timer_arm,
#ifdef USE_EVFILT_USER
    .wake = kqueue_backend_wake,
#endif
};

#endif /* HAVE_BACKEND_KQUEUE */
