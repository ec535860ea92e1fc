/*
 * pollux.c - the core: backend choice, the fd table, argument checks,
 * ONESHOT and paused registrations, the HUP/ERR rules and fairness.
 * Backends only talk to the kernel (backend.h).
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

#include "grow.h"
#include "internal.h"
#include "timer.h"

#define EVENT_BITS    (POLLUX_READ | POLLUX_WRITE | POLLUX_PRI | POLLUX_RDHUP)
#define ALWAYS_BITS   (POLLUX_HUP | POLLUX_ERR)
#define MODE_BITS     (POLLUX_ONESHOT | POLLUX_EDGE | POLLUX_EXCLUSIVE)
#define INTEREST_BITS (EVENT_BITS | ALWAYS_BITS | MODE_BITS)

/* AUTO's order of preference. */
static const pollux_backend preference[] = {
    POLLUX_BACKEND_EPOLL, POLLUX_BACKEND_KQUEUE, POLLUX_BACKEND_DEVPOLL,
    POLLUX_BACKEND_POLL, POLLUX_BACKEND_SELECT,
};

static const char *const backend_names[] = {
    [POLLUX_BACKEND_AUTO] = "auto",       [POLLUX_BACKEND_SELECT] = "select",
    [POLLUX_BACKEND_POLL] = "poll",       [POLLUX_BACKEND_EPOLL] = "epoll",
    [POLLUX_BACKEND_KQUEUE] = "kqueue",   [POLLUX_BACKEND_DEVPOLL] = "devpoll",
};

#define BACKEND_COUNT ((int)(sizeof backend_names / sizeof backend_names[0]))

POLLUX_API const char *pollux_version(void)
{
    return POLLUX_VERSION_STRING;
}

POLLUX_API const char *pollux_backend_name(pollux_backend b)
{
    if ((int)b < 0 || (int)b >= BACKEND_COUNT)
        return NULL;
    return backend_names[b];
}

/* A backend is usable when it is compiled in and its kernel object can be
 * created here (a kernel may lack a syscall its headers declare). */
static bool backend_usable(pollux_backend b)
{
    const struct backend_ops *ops = backend_lookup(b);
    if (ops == NULL)
        return false;
    pollux probe;
    memset(&probe, 0, sizeof probe);
    probe.ops = ops;
    int err = ops->init(&probe);
    if (err < 0) {
        /* Out of descriptors or memory right now says nothing about the
         * kernel; the result is cached for the life of the process. */
        return err == -EMFILE || err == -ENFILE || err == -ENOMEM;
    }
    ops->destroy(&probe);
    return true;
}

POLLUX_API unsigned pollux_backends(void)
{
    /* Probed once; a race only repeats the same probe. */
    static _Atomic unsigned cached;
    unsigned bits = atomic_load(&cached);
    if (bits != 0)
        return bits & ~1u;
    bits = 1u; /* marks "probed" */
    for (int b = POLLUX_BACKEND_SELECT; b < BACKEND_COUNT; b++)
        if (backend_usable((pollux_backend)b))
            bits |= 1u << b;
    atomic_store(&cached, bits);
    return bits & ~1u;
}

static int choose_auto(pollux_backend *out)
{
    const char *env = getenv("POLLUX_BACKEND");
    unsigned usable = pollux_backends();
    if (env != NULL && *env != '\0' && strcmp(env, "auto") != 0) {
        for (int b = POLLUX_BACKEND_SELECT; b < BACKEND_COUNT; b++) {
            if (strcmp(env, backend_names[b]) == 0) {
                if (!(usable & (1u << b)))
                    return -EINVAL;
                *out = (pollux_backend)b;
                return 0;
            }
        }
        return -EINVAL;
    }
    for (size_t i = 0; i < sizeof preference / sizeof preference[0]; i++) {
        if (usable & (1u << preference[i])) {
            *out = preference[i];
            return 0;
        }
    }
    return -ENOTSUP;
}

/* ---- the fd table ---------------------------------------------------- */

/*
 * Grow by an eighth, or to the next 256 past fd: little slack, while the
 * number of reallocations stays logarithmic.
 */
static int table_reserve(pollux *p, int fd)
{
    if (fd < p->fds_size)
        return 0;
    int64_t size = p->fds_size + p->fds_size / 8;
    int64_t needed = ((int64_t)fd + 256) / 256 * 256;
    if (size < needed)
        size = needed;
    if (size > INT_MAX)
        size = INT_MAX;
    struct fd_entry *entries = realloc(p->fds, (size_t)size * sizeof *entries);
    if (entries == NULL)
        return -ENOMEM;
    p->fds = entries;
    void **data = realloc(p->fd_data, (size_t)size * sizeof *data);
    if (data == NULL)
        return -ENOMEM; /* entries grew, fds_size did not: still consistent */
    p->fd_data = data;
    memset(entries + p->fds_size, 0, (size_t)(size - p->fds_size) * sizeof *entries);
    memset(data + p->fds_size, 0, (size_t)(size - p->fds_size) * sizeof *data);
    p->fds_size = (int)size;
    return 0;
}

/* The user's registration of fd, also one shadowed by an internal
 * descriptor (closed_user), or NULL. */
static struct fd_entry *user_entry(pollux *p, int fd)
{
    if (fd >= p->fds_size)
        return NULL;
    struct fd_entry *e = &p->fds[fd];
    return e->role == FD_USER || e->closed_user ? e : NULL;
}

/* Report fd as always ready, naming the file it names now. */
static int always_ready_add(pollux *p, int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    int i = 0;
    while (i < p->always_ready_count && p->always_ready[i].fd != fd)
        i++;
    if (i == p->always_ready_count) {
        int err = grow_array((void **)&p->always_ready, &p->always_ready_size,
                             p->always_ready_count + 1, sizeof *p->always_ready);
        if (err < 0)
            return err;
        p->always_ready_count++;
    }
    p->always_ready[i] = (struct always_ready_file){ fd, st.st_dev, st.st_ino };
    p->fds[fd].flags |= FD_ALWAYS_READY;
    return 0;
}

/* Whether the number still names the file always_ready_add() saw: being
 * open is not enough, it may have been closed and reused. */
static bool always_ready_same_file(const struct always_ready_file *f)
{
    struct stat st;
    return fstat(f->fd, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino;
}

static bool any_always_ready_armed(const pollux *p);

/*
 * epoll cannot watch regular files, so nothing in its set would make
 * pollux_fileno() readable for them. The ready flag, an internal eventfd
 * in the set, is kept signalled while any of them is armed. Returns 0 or
 * the error of opening the flag while it is needed (tried again at the
 * next call). Once pollux_fileno() was asked for, the flag is opened even
 * before it is needed, so that a later shortage of descriptors cannot
 * leave it missing.
 */
static int sync_ready_flag(pollux *p)
{
    if (p->ops->fileno == NULL)
        return 0;
    bool armed = any_always_ready_armed(p) || timers_pending(p);
    struct wake_channel *flag = &p->ready_flag;
    if ((armed || p->nested) && flag->read_fd < 0) {
        int err = wake_open(flag);
        if (err == 0 && (err = core_watch_internal(p, flag->read_fd, FD_READY_FLAG)) < 0)
            wake_close(flag);
        if (err < 0)
            return armed ? err : 0; /* not needed yet: tried again next time */
    }
    if (armed)
        return wake_signal(flag);
    if (flag->read_fd >= 0 && atomic_load(&flag->pending))
        wake_drain(flag);
    return 0;
}

static void always_ready_remove(pollux *p, int fd)
{
    p->fds[fd].flags &= ~FD_ALWAYS_READY & FD_FLAGS_ALL;
    for (int i = 0; i < p->always_ready_count; i++) {
        if (p->always_ready[i].fd == fd) {
            p->always_ready[i] = p->always_ready[--p->always_ready_count];
            return;
        }
    }
}

/* ---- registration ---------------------------------------------------- */

static int check_interest(const pollux *p, uint32_t events)
{
    if (events & ~INTEREST_BITS)
        return -EINVAL; /* unknown bits, TIMER, WAKE */
    /* epoll refuses these pairs; refusing them everywhere keeps one contract. */
    if ((events & POLLUX_EXCLUSIVE) && (events & (POLLUX_ONESHOT | POLLUX_RDHUP | POLLUX_PRI)))
        return -EINVAL;
    if ((events & POLLUX_EDGE) && !(p->ops->native_modes & POLLUX_EDGE))
        return -ENOTSUP;
    if (events & EVENT_BITS & ~p->ops->events)
        return -ENOTSUP; /* e.g. PRI on kqueue */
    return 0;
}

/* After a pollux_after_fork() that failed, the poller has no kernel state;
 * only pollux_after_fork() (again) and pollux_free() make sense then. */
#define NO_KERNEL_STATE (-EIO)

/* The checks register and modify share, in the contract's order. */
static int check_call(const pollux *p, int fd, uint32_t events)
{
    if (p == NULL)
        return -EINVAL;
    if (p->backend == NULL)
        return NO_KERNEL_STATE;
    if (fd < 0)
        return -EBADF;
    return check_interest(p, events);
}

/* The mask the kernel should have for an entry: 0 means "not watched". */
static uint32_t wanted_mask(const pollux *p, uint32_t interest, uint8_t flags)
{
    if ((flags & FD_DISARMED) || !(interest & EVENT_BITS))
        return 0;
    return (interest & EVENT_BITS) | (interest & p->ops->native_modes);
}

/*
 * Give the kernel the mask `wanted` for fd, whatever it has now. Updates
 * e->kernel and the always-ready list to what is true afterwards, also
 * when it fails.
 */
static int apply_mask(pollux *p, int fd, struct fd_entry *e, uint32_t wanted)
{
    uint32_t have = e->kernel;
    int r = 0;

    if (wanted == 0) {
        if (have != 0)
            p->ops->del(p, fd, have);
        e->kernel = 0;
        return 0;
    }
    /* epoll cannot modify an EXCLUSIVE registration: remove and add. */
    if (have != 0 && ((have | wanted) & POLLUX_EXCLUSIVE)) {
        p->ops->del(p, fd, have);
        e->kernel = have = 0;
    }
    r = have != 0 ? p->ops->mod(p, fd, have, wanted) : p->ops->add(p, fd, wanted);
    if (r < 0) {
        /* A failed mod leaves the old watch; a failed add leaves none. */
        if (have == 0)
            e->kernel = 0;
        return r;
    }
    if (r == BACKEND_ALWAYS_READY) {
        e->kernel = 0;
        return always_ready_add(p, fd); /* or names the file it names now */
    }
    e->kernel = wanted;
    if (e->flags & FD_ALWAYS_READY)
        always_ready_remove(p, fd); /* the number now names a pollable file */
    return 0;
}

POLLUX_API int pollux_register(pollux *p, int fd, uint32_t events, void *data)
{
    int err = check_call(p, fd, events);
    if (err < 0)
        return err;
    if (fd < p->fds_size && p->fds[fd].role != FD_UNUSED) {
        const struct fd_entry *e = &p->fds[fd];
        /* The poller's own descriptors are not the caller's to watch. */
        return e->role == FD_USER || e->closed_user ? -EEXIST : -EBADF;
    }
    /* The backend's add says -EBADF for a closed number, but a paused
     * registration makes no backend call, and growing the table for a
     * number that is not open would waste memory (or fail with -ENOMEM for
     * INT_MAX). Both are rare enough for one fcntl. */
    uint32_t wanted = wanted_mask(p, events, 0);
    if ((wanted == 0 || fd >= p->fds_size) && fcntl(fd, F_GETFD) < 0)
        return -EBADF;
    err = table_reserve(p, fd);
    if (err < 0)
        return err;

    struct fd_entry *e = &p->fds[fd];
    *e = (struct fd_entry){ .interest = events };
    err = apply_mask(p, fd, e, wanted);
    if (err < 0) {
        *e = (struct fd_entry){ 0 };
        return err;
    }
    e->role = FD_USER;
    p->fd_data[fd] = data;
    if (e->flags & FD_ALWAYS_READY)
        sync_ready_flag(p);
    return 0;
}

POLLUX_API int pollux_modify(pollux *p, int fd, uint32_t events, void *data)
{
    int err = check_call(p, fd, events);
    if (err < 0)
        return err;
    struct fd_entry *e = user_entry(p, fd);
    if (e == NULL)
        return -ENOENT;
    if (e->closed_user)
        return -EBADF; /* the number is the poller's own descriptor now */

    /* The common case, a watched registration keeping its mask (a loop
     * re-registering its watchers): one backend call, nothing to undo. */
    uint32_t wanted = wanted_mask(p, events, 0);
    if (e->flags == 0 && e->kernel != 0 && e->kernel == wanted && !(wanted & POLLUX_EXCLUSIVE)) {
        err = p->ops->mod(p, fd, wanted, wanted);
        if (err == 0) {
            e->interest = events;
            p->fd_data[fd] = data;
            return 0;
        }
        if (err < 0)
            return err; /* the old setting stays */
        /* BACKEND_ALWAYS_READY: the number now names a regular file */
    }

    /* Modify re-arms a fired ONESHOT and forgets that the number was seen
     * closed: the caller says it names a file worth watching again. */
    uint8_t saved_flags = e->flags;
    e->flags &= ~(FD_DISARMED | FD_CLOSED) & FD_FLAGS_ALL;
    err = apply_mask(p, fd, e, wanted_mask(p, events, e->flags));
    if (err < 0) {
        /* The old setting stays; apply_mask kept kernel and ALWAYS_READY true. */
        e->flags = (saved_flags & ~FD_ALWAYS_READY) | (e->flags & FD_ALWAYS_READY);
        return err;
    }
    e->interest = events;
    p->fd_data[fd] = data;
    if (e->flags & FD_ALWAYS_READY)
        sync_ready_flag(p);
    return 0;
}

POLLUX_API int pollux_unregister(pollux *p, int fd)
{
    if (p == NULL)
        return -EINVAL;
    if (p->backend == NULL)
        return NO_KERNEL_STATE;
    if (fd < 0)
        return -EBADF;
    struct fd_entry *e = user_entry(p, fd);
    if (e == NULL)
        return -ENOENT;
    if (e->closed_user) {
        e->closed_user = 0; /* the internal descriptor keeps the slot */
        e->interest = 0;
        p->fd_data[fd] = NULL;
        return 0;
    }
    if (e->kernel != 0)
        p->ops->del(p, fd, e->kernel); /* succeeds for a closed fd */
    bool was_always_ready = e->flags & FD_ALWAYS_READY;
    if (was_always_ready)
        always_ready_remove(p, fd);
    *e = (struct fd_entry){ 0 };
    p->fd_data[fd] = NULL;
    if (was_always_ready)
        sync_ready_flag(p);
    return 0;
}

uint32_t core_kernel_mask(const pollux *p, int fd)
{
    if (fd >= p->fds_size || (p->fds[fd].flags & FD_DISARMED))
        return 0; /* a fired native ONESHOT is watched for nothing */
    return p->fds[fd].kernel;
}

/*
 * Record fd as one of the poller's own descriptors. The kernel may have
 * handed out a number the user closed without unregistering: stop
 * watching it for them, and keep the registration shadowed (closed_user).
 */
static int claim_own(pollux *p, int fd, enum fd_role role)
{
    int err = table_reserve(p, fd);
    if (err < 0)
        return err;
    struct fd_entry *e = &p->fds[fd];
    if (e->role == FD_USER) {
        if (e->kernel != 0)
            p->ops->del(p, fd, e->kernel);
        if (e->flags & FD_ALWAYS_READY)
            always_ready_remove(p, fd);
        e->kernel = 0;
        e->flags = FD_CLOSED;
    } else if (e->role != FD_UNUSED) {
        return -EEXIST;
    }
    e->closed_user = e->role == FD_USER;
    e->role = role;
    return 0;
}

/* Undo claim_own() of an internal descriptor the backend refused. */
static void release_own(pollux *p, int fd)
{
    struct fd_entry *e = &p->fds[fd];
    e->role = e->closed_user ? FD_USER : FD_UNUSED;
    e->closed_user = 0;
}

int core_watch_internal(pollux *p, int fd, enum fd_role role)
{
    int err = claim_own(p, fd, role);
    if (err < 0)
        return err;
    err = p->ops->add(p, fd, POLLUX_READ);
    if (err != 0) {
        release_own(p, fd);
        return err < 0 ? err : -EINVAL; /* an internal source must be pollable */
    }
    p->fds[fd].kernel = POLLUX_READ;
    return 0;
}

/* ---- creation -------------------------------------------------------- */

/* Create the kernel object and the wake channel, and watch the channel. */
static int open_kernel_state(pollux *p)
{
    int err = p->ops->init(p);
    if (err < 0)
        return err;
    /* register and modify refuse the kernel object's number (-EBADF),
     * which the kernel refuses in its own set. */
    if (p->ops->kernel_fd != NULL)
        err = claim_own(p, p->ops->kernel_fd(p), FD_KERNEL);
    if (err < 0 || p->ops->wake != NULL)
        return err;
    err = wake_open(&p->wake);
    if (err == 0)
        err = core_watch_internal(p, p->wake.read_fd, FD_WAKE);
    return err;
}

static void close_kernel_state(pollux *p)
{
    wake_close(&p->wake);
    wake_close(&p->ready_flag);
    if (p->backend != NULL)
        p->ops->destroy(p);
    p->backend = NULL;
}

POLLUX_API int pollux_new(pollux **out, pollux_backend backend)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if ((int)backend < 0 || (int)backend >= BACKEND_COUNT)
        return -EINVAL;
    if (backend == POLLUX_BACKEND_AUTO) {
        int err = choose_auto(&backend);
        if (err < 0)
            return err;
    }
    const struct backend_ops *ops = backend_lookup(backend);
    if (ops == NULL || !(pollux_backends() & (1u << backend)))
        return -ENOTSUP;

    pollux *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    p->ops = ops;
    p->wake.read_fd = p->wake.write_fd = -1;
    p->ready_flag.read_fd = p->ready_flag.write_fd = -1;
    int err = open_kernel_state(p);
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
    timers_free(p);
    close_kernel_state(p);
    free(p->fds);
    free(p->fd_data);
    free(p->always_ready);
    free(p);
}

POLLUX_API pollux_backend pollux_backend_of(const pollux *p)
{
    return p != NULL ? p->ops->id : POLLUX_BACKEND_AUTO;
}

/*
 * The caller is about to poll the descriptor instead of calling
 * pollux_wait(): open now what a shortage of descriptors left for the next
 * wait to retry (the ready flag, kept open from now on, and the timer
 * sources), so that it polls readable for everything there is to report.
 */
static int prepare_nesting(pollux *p)
{
    bool was_nested = p->nested;
    p->nested = true;
    int err = sync_ready_flag(p);
    if (err < 0) {
        if (p->ready_flag.read_fd < 0)
            p->nested = was_nested;
        return err;
    }
    return timers_arm_sources(p);
}

POLLUX_API int pollux_fileno(const pollux *p)
{
    if (p == NULL)
        return -EINVAL;
    if (p->ops->fileno == NULL)
        return -ENOTSUP;
    if (p->backend == NULL)
        return NO_KERNEL_STATE;
    /* const in the API: what it changes is the poller's internal state.
     * Every poller comes from pollux_new(), never an object defined const. */
    int err = prepare_nesting((pollux *)p);
    if (err < 0)
        return err;
    return p->ops->fileno(p);
}

POLLUX_API int pollux_wake(pollux *p)
{
    if (p == NULL)
        return -EINVAL;
    if (p->backend == NULL)
        return NO_KERNEL_STATE;
    if (p->ops->wake == NULL)
        return wake_signal(&p->wake);
    /* Coalesce as wake_signal() does; the wait clears the flag. */
    if (atomic_exchange(&p->wake.pending, 1) != 0)
        return 0;
    int saved_errno = errno;
    int err = p->ops->wake(p);
    if (err < 0)
        atomic_store(&p->wake.pending, 0); /* nothing was sent: try again next time */
    errno = saved_errno;
    return err;
}

static void report_wake(pollux_event *ev)
{
    ev->fd = -1;
    ev->events = POLLUX_WAKE;
    ev->count = 0;
    ev->data = NULL;
}

/* Reports from a backend's own sources: its wake-up and its timer. */
static bool deliver_backend_source(pollux *p, pollux_event *ev)
{
    if (ev->events == POLLUX_WAKE) {
        atomic_store(&p->wake.pending, 0);
        report_wake(ev);
        return true;
    }
    if (ev->events == POLLUX_TIMER)
        timers_source_fired(p);
    return false;
}

/*
 * Drop what the table says about kernel state: internal descriptors go,
 * user registrations stay with no kernel watch. Numbers closed now must
 * not be watched again: the new kernel objects may be about to take them.
 */
static void forget_kernel_state(pollux *p)
{
    for (int fd = 0; fd < p->fds_size; fd++) {
        struct fd_entry *e = &p->fds[fd];
        if (e->role != FD_USER && !e->closed_user) {
            *e = (struct fd_entry){ 0 };
            continue;
        }
        bool closed = e->closed_user || fcntl(fd, F_GETFD) < 0;
        struct fd_entry kept = { .interest = e->interest, .role = FD_USER, .flags = e->flags };
        *e = kept;
        if (closed) {
            if (e->flags & FD_ALWAYS_READY)
                always_ready_remove(p, fd);
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
        struct fd_entry *e = &p->fds[fd];
        if (e->role != FD_USER || (e->flags & FD_CLOSED))
            continue; /* a closed number stays unwatched until modify */
        int err = apply_mask(p, fd, e, wanted_mask(p, e->interest, e->flags));
        if (err == -EBADF)
            e->flags |= FD_CLOSED;
        else if (err < 0)
            return err;
    }
    return 0;
}

/* Everything after_fork builds on a new kernel object, in order. */
static int rebuild(pollux *p, bool wake_was_pending)
{
    int err = open_kernel_state(p);
    if (err < 0)
        return err;
    /* A wake the parent had not reported yet is still owed. */
    atomic_store(&p->wake.pending, 0);
    if (wake_was_pending && (err = pollux_wake(p)) < 0)
        return err;
    err = rewatch_registrations(p);
    if (err == 0)
        err = timers_arm_sources(p); /* for pollux_fileno(), before any wait */
    if (err == 0)
        err = sync_ready_flag(p);
    return err;
}

/*
 * The kernel objects of a parent are shared with the child (epoll) or not
 * inherited at all (kqueue): build new ones and register everything again.
 * The old descriptors are only closed, never modified, so the parent's
 * poller is untouched. All or nothing: on failure the poller is left with
 * no kernel state (NO_KERNEL_STATE) and a pending wake is still owed, so
 * that a later call can succeed.
 */
POLLUX_API int pollux_after_fork(pollux *p)
{
    if (p == NULL)
        return -EINVAL;
    bool wake_was_pending = atomic_load(&p->wake.pending) != 0;
    timers_before_rebuild(p);
    close_kernel_state(p);
    forget_kernel_state(p);
    int err = rebuild(p, wake_was_pending);
    if (err < 0) {
        timers_before_rebuild(p);
        close_kernel_state(p);
        forget_kernel_state(p);
        atomic_store(&p->wake.pending, wake_was_pending);
    }
    return err;
}

/* ---- waiting ----------------------------------------------------------- */

/* A report for one of the poller's own descriptors. */
static bool deliver_internal(pollux *p, const struct fd_entry *e, pollux_event *ev)
{
    if (e->role == FD_WAKE) {
        wake_drain(&p->wake);
        report_wake(ev);
        return true;
    }
    if (e->role == FD_TIMER)
        timers_source_fd_ready(p, ev->fd); /* timers_collect() reports them */
    /* FD_READY_FLAG: the files themselves are reported by the core. */
    return false;
}

/*
 * Turn a backend report into the user's event in place. Returns false when
 * nothing is to be reported for it.
 */
static bool deliver(pollux *p, pollux_event *ev)
{
    int fd = ev->fd;
    uint32_t ready = ev->events;
    if (fd < 0)
        return deliver_backend_source(p, ev);
    if (fd >= p->fds_size)
        return false;
    struct fd_entry *e = &p->fds[fd];
    if (e->role != FD_USER)
        return deliver_internal(p, e, ev);
    if (e->kernel == 0)
        return false;
    if (e->flags & FD_DISARMED) {
        /* kqueue's ONESHOT is per filter: a sibling filter of a fired
         * registration can still report. Stop it, or a level-triggered
         * sibling would wake every wait. */
        p->ops->del(p, fd, e->kernel);
        e->kernel = 0;
        return false;
    }
    if (ready & BACKEND_ALWAYS_READY_NOW) {
        /* Reported below, with the other always-ready files. */
        e->kernel = 0;
        always_ready_add(p, fd);
        return false;
    }
    if (ready & BACKEND_NVAL) {
        /* Closed without unregistering: stop watching so wait cannot spin. */
        p->ops->del(p, fd, e->kernel);
        e->kernel = 0;
        e->flags |= FD_CLOSED;
        return false;
    }
    uint32_t bits = (ready & e->interest & EVENT_BITS) | (ready & ALWAYS_BITS);
    if (bits & ALWAYS_BITS)
        bits |= e->interest & (POLLUX_READ | POLLUX_WRITE); /* nothing would block */
    if (bits == 0)
        return false;
    if (e->interest & POLLUX_ONESHOT) {
        e->flags |= FD_DISARMED;
        if (!(p->ops->native_modes & POLLUX_ONESHOT)) {
            p->ops->del(p, fd, e->kernel);
            e->kernel = 0;
        }
    }
    ev->events = bits;
    ev->count = 0;
    ev->data = p->fd_data[fd];
    return true;
}

static bool always_ready_armed(const struct fd_entry *e)
{
    return !(e->flags & (FD_DISARMED | FD_CLOSED)) && (e->interest & (POLLUX_READ | POLLUX_WRITE));
}

static bool any_always_ready_armed(const pollux *p)
{
    for (int i = 0; i < p->always_ready_count; i++)
        if (always_ready_armed(&p->fds[p->always_ready[i].fd]))
            return true;
    return false;
}

/* Report always-ready descriptors (regular files on epoll), in turn. */
static int collect_always_ready(pollux *p, pollux_event *out, int max)
{
    int n = 0, count = p->always_ready_count;
    /* Read once: the loop moves always_ready_next past what it reported. */
    int start = count > 0 ? p->always_ready_next % count : 0;
    for (int k = 0; k < count && n < max; k++) {
        int i = (start + k) % count;
        int fd = p->always_ready[i].fd;
        struct fd_entry *e = &p->fds[fd];
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
        out[n].fd = fd;
        out[n].events = e->interest & (POLLUX_READ | POLLUX_WRITE);
        out[n].count = 0;
        out[n].data = p->fd_data[fd];
        n++;
        /* A file never changes state, so an edge is reported only once. */
        if (e->interest & (POLLUX_ONESHOT | POLLUX_EDGE))
            e->flags |= FD_DISARMED;
        p->always_ready_next = (i + 1) % count;
    }
    return n;
}

static bool already_reported(const pollux_event *out, int count, int fd)
{
    for (int i = 0; i < count; i++)
        if (out[i].fd == fd && fd >= 0)
            return true;
    return false;
}

/*
 * Ask the kernel, then keep only what is to be reported. Internal sources
 * (timer sources, the ready flag) take room in a batch without being
 * reported: when they filled it, ask again without waiting, or with
 * max_events 1 a timer source could crowd out every descriptor. A few
 * rounds suffice, there are only a handful of internal sources.
 */
static int collect_kernel(pollux *p, pollux_event *out, int max, int64_t timeout_ns)
{
    int n = 0;
    for (int round = 0; round < 4 && n < max; round++) {
        int room = max - n, first_of_round = n;
        int got = p->ops->wait(p, out + n, room, round == 0 ? timeout_ns : 0);
        if (got < 0)
            return n > 0 ? n : got;
        int kept = 0;
        bool repeated = false;
        for (int i = 0; i < got; i++) {
            pollux_event ev = out[n + i];
            /* A later round may see a level-triggered source again. */
            if (round > 0 && already_reported(out, first_of_round, ev.fd)) {
                repeated = true;
                continue;
            }
            if (deliver(p, &ev))
                out[n + kept++] = ev;
        }
        n += kept;
        if (got < room || kept == got || repeated)
            break;
    }
    return n;
}

/* The core's own sources, timers and always-ready files, taking turns at
 * leading so that an always-due timer cannot crowd out the files. */
static int collect_own(pollux *p, pollux_event *out, int max)
{
    int n;
    if (p->files_before_timers) {
        n = collect_always_ready(p, out, max);
        n += timers_collect(p, out + n, max - n);
    } else {
        n = timers_collect(p, out, max);
        n += collect_always_ready(p, out + n, max - n);
    }
    p->files_before_timers = !p->files_before_timers;
    return n;
}

/*
 * One round: the sources the core reports itself (timers, always-ready
 * files) and the kernel's. Whoever was left without room last time goes
 * first, so neither kind starves the other.
 */
static int collect(pollux *p, pollux_event *out, int max, int64_t timeout_ns)
{
    /* Only descriptors the kernel watches: the common case, kept short. */
    if (p->timers == NULL && p->always_ready_count == 0) {
        int n = collect_kernel(p, out, max, timeout_ns);
        if (n < 0 || p->always_ready_count == 0)
            return n;
        /* The kernel round found regular files (epoll's deferred checks of
         * an unchanged modify): they are ready now, report them now. */
        n += collect_always_ready(p, out + n, max - n);
        sync_ready_flag(p);
        return n;
    }

    bool own_ready = any_always_ready_armed(p) || timers_due(p);
    if (own_ready)
        timeout_ns = 0;
    else
        timeout_ns = timers_clamp_timeout(p, timeout_ns);

    bool own_first = own_ready && p->own_sources_first;
    int n = 0;
    if (own_first)
        n += collect_own(p, out + n, max - n);
    if (n < max) {
        int r = collect_kernel(p, out + n, max - n, n > 0 ? 0 : timeout_ns);
        if (r < 0)
            return n > 0 ? n : r;
        n += r;
    }
    if (!own_first)
        n += collect_own(p, out + n, max - n);
    /* Only pollers with timers or always-ready files get here. */
    timers_arm_sources(p); /* for pollux_fileno() users that never block */
    sync_ready_flag(p);    /* due timers left over, files disarmed (ONESHOT, EDGE) */
    /* Turns alternate: after leading, the core's sources follow; after
     * following without room, they lead. */
    p->own_sources_first = !own_first && n == max
                           && (any_always_ready_armed(p) || timers_due(p));
    return n;
}

POLLUX_API int pollux_wait(pollux *p, pollux_event *events, int max_events, int64_t timeout_ns)
{
    if (p == NULL || events == NULL || max_events < 1)
        return -EINVAL;
    if (p->backend == NULL)
        return NO_KERNEL_STATE;
    int64_t deadline = 0;
    if (timeout_ns > 0) {
        int64_t now = clock_now_ns(CLOCK_MONOTONIC);
        /* A timeout past the end of time is forever, not an overflow. */
        if (timeout_ns > INT64_MAX - now)
            timeout_ns = -1;
        else
            deadline = now + timeout_ns;
    }

    for (;;) {
        int n = collect(p, events, max_events, timeout_ns);
        if (n != 0 || timeout_ns == 0)
            return n;
        if (timeout_ns > 0) {
            /* Never return 0 before the whole timeout has passed. */
            timeout_ns = deadline - clock_now_ns(CLOCK_MONOTONIC);
            if (timeout_ns <= 0)
                return 0;
        }
    }
}
