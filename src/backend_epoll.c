/*
 * backend_epoll.c - Linux epoll(7).
 *
 * ONESHOT, EDGE and EXCLUSIVE are native; an EXCLUSIVE watch cannot be
 * modified, so it is removed and added again. Regular files make
 * epoll_ctl fail with EPERM; the core reports them as always ready
 * instead.
 *
 * epoll watches (file, number) pairs and forgets one only when the file's
 * last descriptor is closed. A registered number closed while a dup or a
 * child keeps the file open leaves a watch that no epoll_ctl can reach
 * any more (the number no longer names that file). Each watch therefore
 * carries a tag next to its number; the latest one written for a number
 * is the only one reported, and a report with an older tag makes this
 * file rebuild the set under the same descriptor number, which drops it.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */

#ifdef HAVE_BACKEND_EPOLL
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "backend.h"
#include "clock.h"
#include "util.h"

/* One epoll_wait() never asks for more than this: fairness comes from the
 * kernel, which rotates level-triggered entries it has reported. */
#define MAX_BATCH 1024

struct epoll_state {
    int epfd;
    bool have_pwait2; /* cleared when the kernel says ENOSYS */
    int buffer_size;
    struct epoll_event *buffer;
    /* Numbers a rebuild found naming a file epoll refuses: reported as
     * always ready by the next wait. */
    int *refused;
    int refused_count, refused_size;
    /* Indexed by fd: the tag of the number's current watch; reports with
     * another tag come from a watch left behind by a closed number. */
    uint32_t *tag;
    int tag_size;
    /* Indexed by fd: the mask of its watch (0: none), with FIRED once a
     * ONESHOT watch has reported; what a rebuild puts back. */
    uint16_t *mask;
    int mask_size;
    uint8_t from_epoll_low[32]; /* a copy of the table below */
};

#define FIRED 0x8000u

static uint32_t to_epoll(uint32_t mask)
{
    uint32_t ev = 0;
    if (mask & POLLUX_READ)      ev |= EPOLLIN;
    if (mask & POLLUX_WRITE)     ev |= EPOLLOUT;
    if (mask & POLLUX_PRI)       ev |= EPOLLPRI;
    if (mask & POLLUX_RDHUP)     ev |= EPOLLRDHUP;
    if (mask & POLLUX_ONESHOT)   ev |= EPOLLONESHOT;
    if (mask & POLLUX_EDGE)      ev |= EPOLLET;
    if (mask & POLLUX_EXCLUSIVE) ev |= EPOLLEXCLUSIVE;
    return ev;
}

/* epoll's five low bits (IN, PRI, OUT, ERR, HUP) as pollux bits, looked
 * up rather than tested one by one: this runs once per reported event. */
_Static_assert((EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP) == 0x1f,
               "from_epoll_low covers the five low epoll bits");
static const uint8_t from_epoll_low[32] = {
#define B(ev) (((ev) & EPOLLIN ? POLLUX_READ : 0) | ((ev) & EPOLLPRI ? POLLUX_PRI : 0) \
               | ((ev) & EPOLLOUT ? POLLUX_WRITE : 0) | ((ev) & EPOLLERR ? POLLUX_ERR : 0) \
               | ((ev) & EPOLLHUP ? POLLUX_HUP : 0))
    B(0),  B(1),  B(2),  B(3),  B(4),  B(5),  B(6),  B(7),  B(8),  B(9),  B(10),
    B(11), B(12), B(13), B(14), B(15), B(16), B(17), B(18), B(19), B(20), B(21),
    B(22), B(23), B(24), B(25), B(26), B(27), B(28), B(29), B(30), B(31),
#undef B
};

/* With the table copied into the state, which the wait reads anyway: no
 * page of read-only data to touch. */
static uint32_t from_epoll(const struct epoll_state *s, uint32_t ev)
{
    return s->from_epoll_low[ev & 0x1fu] | (ev & EPOLLRDHUP ? POLLUX_RDHUP : 0);
}

/* A watch's data: its tag, its number, and whether it is ONESHOT (the top
 * bit of the number's half, which a descriptor never uses), so that the
 * wait knows without looking anything up. */
#define DATA_ONESHOT 0x80000000u

static uint64_t tagged(int fd, uint32_t tag, uint32_t mask)
{
    uint32_t low = (uint32_t)fd | (mask & POLLUX_ONESHOT ? DATA_ONESHOT : 0);
    return (uint64_t)tag << 32 | low;
}

static int ctl(struct epoll_state *s, int op, int fd, uint32_t mask, uint32_t tag)
{
    struct epoll_event ev = { .events = to_epoll(mask), .data.u64 = tagged(fd, tag, mask) };
    return epoll_ctl(s->epfd, op, fd, &ev) == 0 ? 0 : -errno;
}

/*
 * ADD or MOD under a new tag. A watch written, or a number that names no
 * watchable file (EPERM, EBADF), makes every older watch under the number
 * stale; EEXIST, ENOENT and running out of memory change nothing.
 */
static int ctl_tagged(struct epoll_state *s, int op, int fd, uint32_t mask)
{
    uint32_t next = s->tag[fd] + 1;
    int r = ctl(s, op, fd, mask, next);
    if (r == 0 || r == -EPERM || r == -EBADF) {
        s->tag[fd] = next;
        s->mask[fd] = r == 0 ? (uint16_t)mask : 0;
    }
    return r;
}

static int epoll_backend_init(void **state)
{
    struct epoll_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        int err = -errno;
        free(s);
        return err;
    }
#ifdef HAVE_EPOLL_PWAIT2
    s->have_pwait2 = true;
#endif
    memcpy(s->from_epoll_low, from_epoll_low, sizeof s->from_epoll_low);
    *state = s;
    return 0;
}

static void epoll_backend_destroy(void *state)
{
    struct epoll_state *s = state;
    close(s->epfd);
    free(s->buffer);
    free(s->refused);
    free(s->tag);
    free(s->mask);
    free(s);
}

/* EPOLL_CTL_ADD; epoll refuses regular files, which the core reports itself. */
static int watch(struct epoll_state *s, int fd, uint32_t mask)
{
    int r = ctl_tagged(s, EPOLL_CTL_ADD, fd, mask);
    return r == -EPERM ? POLLUX_ADD_ALWAYS_READY : r;
}

static int epoll_backend_add(void *state, int fd, uint32_t mask)
{
    struct epoll_state *s = state;
    if (pollux_grow_array((void **)&s->tag, &s->tag_size, fd + 1, sizeof *s->tag) < 0
        || pollux_grow_array((void **)&s->mask, &s->mask_size, fd + 1, sizeof *s->mask) < 0)
        return -ENOMEM;
    int r = watch(s, fd, mask);
    if (r == -EEXIST) /* a watch on this very file the core had lost: take it over */
        r = ctl_tagged(s, EPOLL_CTL_MOD, fd, mask);
    return r;
}

/*
 * ADD answers EEXIST when this very file is still watched (the watch is
 * keyed by file and number), and watches the file the number now names
 * otherwise (docs/decisions.md). It costs the kernel less than MOD, which
 * polls the file again.
 */
static int recheck(struct epoll_state *s, int fd, uint32_t mask)
{
    int r = watch(s, fd, mask);
    return r == -EEXIST ? POLLUX_ADD_WATCHED : r;
}

static void epoll_backend_del(void *state, int fd, uint32_t old_mask);

static int epoll_backend_mod(void *state, int fd, uint32_t old_mask, uint32_t mask)
{
    struct epoll_state *s = state;
    if ((old_mask | mask) & POLLUX_EXCLUSIVE) {
        /* epoll refuses to modify an EXCLUSIVE watch: remove and add. */
        epoll_backend_del(s, fd, old_mask);
        return epoll_backend_add(s, fd, mask);
    }
    /* An unchanged level-triggered mask changes nothing in the kernel; the
     * only thing to check is that the number still names the watched
     * file (recheck). ONESHOT and EDGE need MOD's re-arm. */
    if (old_mask == mask && !(mask & (POLLUX_ONESHOT | POLLUX_EDGE)))
        return recheck(s, fd, mask);
    int r = ctl_tagged(s, EPOLL_CTL_MOD, fd, mask);
    if (r == -ENOENT) /* the number was closed and now names another file */
        return epoll_backend_add(s, fd, mask);
    /* MOD refuses a regular file as ADD does: the number now names one. */
    return r == -EPERM ? POLLUX_ADD_ALWAYS_READY : r;
}

static void epoll_backend_del(void *state, int fd, uint32_t old_mask)
{
    (void)old_mask;
    struct epoll_state *s = state;
    /* ENOENT: the kernel forgot the file. EBADF: the number was closed,
     * and a watch left behind (the file open elsewhere) is stale now. */
    ctl(s, EPOLL_CTL_DEL, fd, 0, 0);
    s->tag[fd]++;
    s->mask[fd] = 0;
}

/* A wait of any length; kernel_wait() below takes the usual ones inline. */
static POLLUX_NOINLINE int kernel_wait_timed(struct epoll_state *s, int max, int64_t timeout_ns)
{
#ifdef HAVE_EPOLL_PWAIT2
    /* epoll_wait is a little cheaper; pwait2 only when ms would round. */
    if (s->have_pwait2 && timeout_ns % 1000000 != 0) {
        struct timespec ts = pollux_ns_to_timespec(timeout_ns);
        int n = epoll_pwait2(s->epfd, s->buffer, max, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        s->have_pwait2 = false; /* kernel older than 5.11 */
    }
#endif
    return epoll_wait(s->epfd, s->buffer, max, pollux_ns_to_ms_rounded_up(timeout_ns));
}

/* Forever and not at all, the steady loop's timeouts, need no conversion. */
static POLLUX_ALWAYS_INLINE int kernel_wait(struct epoll_state *s, int max, int64_t timeout_ns)
{
    if (timeout_ns <= 0)
        return epoll_wait(s->epfd, s->buffer, max, timeout_ns < 0 ? -1 : 0);
    return kernel_wait_timed(s, max, timeout_ns);
}

static int apply_change(struct epoll_state *s, const struct pollux_change *c)
{
    if (c->new_mask == 0) {
        epoll_backend_del(s, c->fd, c->old_mask);
        return 0;
    }
    if (c->old_mask == 0)
        return epoll_backend_add(s, c->fd, c->new_mask);
    return epoll_backend_mod(s, c->fd, c->old_mask, c->new_mask);
}

/*
 * The core's batch: rechecks of unchanged masks, run in one tight loop
 * just before the wait (a loop re-registering every watcher pays one
 * cheap syscall each, with no other work between them). A closed number
 * is left alone, as epoll already forgot it; a regular file is reported.
 * Returns how many reports it stored.
 */
static int apply_batch(struct epoll_state *s, struct pollux_batch *batch,
                       struct pollux_report *out, int max)
{
    int n = 0, i = 0;
    /* Without room for more reports, the rest waits for the next call. */
    for (; i < batch->count && n < max; i++) {
        const struct pollux_change *c = &batch->changes[i];
        /* Rechecks are the batch's usual content: straight to them. */
        bool same = c->old_mask == c->new_mask
                    && !(c->new_mask & (POLLUX_ONESHOT | POLLUX_EDGE | POLLUX_EXCLUSIVE));
        int r = same ? recheck(s, c->fd, c->new_mask) : apply_change(s, c);
        if (r == POLLUX_ADD_ALWAYS_READY)
            out[n++] = (struct pollux_report){ .fd = batch->changes[i].fd,
                                               .kind = POLLUX_REPORT_ALWAYS_READY };
    }
    batch->taken = i;
    return n;
}

/* What rebuild() found refused, as reports. */
static int report_refused(struct epoll_state *s, struct pollux_report *out, int max)
{
    int n = 0;
    for (; n < s->refused_count && n < max; n++)
        out[n] = (struct pollux_report){ .fd = s->refused[n], .kind = POLLUX_REPORT_ALWAYS_READY };
    s->refused_count -= n;
    memmove(s->refused, s->refused + n, (size_t)s->refused_count * sizeof *s->refused);
    return n;
}

static int refuse_later(struct epoll_state *s, int fd)
{
    int err = pollux_grow_array((void **)&s->refused, &s->refused_size, s->refused_count + 1,
                                sizeof *s->refused);
    if (err == 0)
        s->refused[s->refused_count++] = fd;
    return err;
}

/*
 * Drop a watch left behind by a closed number: nothing but closing the
 * epoll instance removes it. Build a new set from the masks kept here, put
 * it under the old descriptor number (pollux_fileno() stays valid), or
 * change nothing if a watch cannot be made.
 */
static int rebuild(struct epoll_state *s)
{
    int fresh = epoll_create1(EPOLL_CLOEXEC);
    if (fresh < 0)
        return -errno;
    for (int fd = 0; fd < s->mask_size; fd++) { /* grown after tag */
        uint32_t mask = s->mask[fd];
        /* A fired ONESHOT is watched for nothing; fresh took a closed number. */
        if (mask == 0 || (mask & FIRED) || fd == fresh)
            continue;
        struct epoll_event ev = { .events = to_epoll(mask), .data.u64 = tagged(fd, s->tag[fd], mask) };
        if (epoll_ctl(fresh, EPOLL_CTL_ADD, fd, &ev) == 0 || errno == EBADF)
            continue; /* a closed number is not watched, as before */
        /* A regular file now: the next wait tells the core. */
        int err = errno == EPERM ? refuse_later(s, fd) : -errno;
        if (err < 0) {
            close(fresh);
            return err;
        }
    }
    int err = dup3(fresh, s->epfd, O_CLOEXEC) < 0 ? -errno : 0;
    close(fresh);
    return err;
}

/* The report of a current watch's event, or false for a stale watch's. */
static POLLUX_ALWAYS_INLINE bool take_report(struct epoll_state *s, const struct epoll_event *ev,
                                             struct pollux_report *out)
{
    uint64_t data = ev->data.u64;
    uint32_t fd = (uint32_t)data & ~DATA_ONESHOT;
    /* Every watch, stale ones included, was made by add() after it grew
     * tag and mask past its number, and they never shrink: fd is inside. */
    if ((uint32_t)(data >> 32) != s->tag[fd])
        return false;
    if ((uint32_t)data & DATA_ONESHOT)
        s->mask[fd] |= FIRED; /* the kernel disarmed it */
    *out = (struct pollux_report){ .fd = (int)fd, .kind = POLLUX_REPORT_READY,
                                   .events = from_epoll(s, ev->events) };
    return true;
}

/* Move the kernel's reports buffer[first..got) to out[] from *n on,
 * leaving out stale ones; true when there were any. */
static bool take_reports(struct epoll_state *s, int first, int got, struct pollux_report *out,
                         int *n)
{
    bool stale = false;
    int k = *n; /* a local count: out[] may alias *n for the compiler */
    for (int i = first; i < got; i++) {
        if (take_report(s, &s->buffer[i], &out[k]))
            k++;
        else
            stale = true;
    }
    *n = k;
    return stale;
}

/* Reports in out[before..n) for a descriptor out[0..before) already has
 * are merged into that one: one wait reports a source once. Returns the
 * new count. */
static int merge_repeats(struct pollux_report *out, int before, int n)
{
    int kept = before;
    for (int i = before; i < n; i++) {
        int j = 0;
        while (j < before && out[j].fd != out[i].fd)
            j++;
        if (j < before)
            out[j].events |= out[i].events;
        else
            out[kept++] = out[i];
    }
    return kept;
}

/* Stale watches took room in the reports out[0..n): rebuild the set and
 * look again. Returns the new count, or the error of the rebuild. */
static POLLUX_NOINLINE int after_stale(struct epoll_state *s, struct pollux_report *out, int n, int max)
{
    int err = rebuild(s);
    if (err < 0)
        return n > 0 ? n : err;
    /* Fewer reports than max must mean nothing else is ready (backend.h):
     * look again, without waiting, in the rebuilt set. It reports again
     * what the first look reported, and those can fill the room: epoll
     * moves each level-triggered watch it returns behind the others, so
     * looking once more past them reaches the rest, at most once per
     * repeat. Only a number closed since, by another thread, could be
     * stale now: the next wait rebuilds. */
    int before = n;
    for (int looks = 0; n < max && looks <= before; looks++) {
        int room = max - n, got = kernel_wait(s, room, 0);
        if (got <= 0)
            break;
        int had = n;
        take_reports(s, 0, got, out, &n);
        n = merge_repeats(out, had, n); /* what this wait has reported, again */
        if (got < room)
            break; /* nothing more is ready */
    }
    return n;
}

/* A wait with changes to hand over or refused files to report first, a
 * timeout to convert, or a buffer to grow. */
static POLLUX_NOINLINE int wait_unsteady(struct epoll_state *s, struct pollux_batch *batch,
                                         struct pollux_report *out, int max, int64_t timeout_ns)
{
    if (max > s->buffer_size) {
        if (max > MAX_BATCH)
            max = MAX_BATCH;
        if (max > s->buffer_size
            && pollux_grow_array((void **)&s->buffer, &s->buffer_size, max, sizeof *s->buffer) < 0)
            return -ENOMEM;
    }
    int reports = s->refused_count > 0 ? report_refused(s, out, max) : 0;
    if (batch->count > 0)
        reports += apply_batch(s, batch, out + reports, max - reports);
    if (reports == max)
        return reports;
    /* Files found by the checks are ready: the core reports them with
     * whatever else is ready now, without blocking. */
    int got = kernel_wait(s, max - reports, reports > 0 ? 0 : timeout_ns);
    if (got < 0)
        return reports > 0 ? reports : -errno;
    int n = reports;
    return take_reports(s, 0, got, out, &n) ? after_stale(s, out, n, max) : n;
}

/* The steady wait's reports from the first stale one, buffer[i], on. */
static POLLUX_NOINLINE int take_after_stale(struct epoll_state *s, struct pollux_report *out,
                                            int max, int got, int i)
{
    int n = i;
    take_reports(s, i + 1, got, out, &n);
    return after_stale(s, out, n, max);
}

static POLLUX_HOT int epoll_backend_wait(void *state, struct pollux_batch *batch,
                                         struct pollux_report *out, int max, int64_t timeout_ns)
{
    struct epoll_state *s = state;
    if (max > s->buffer_size || s->refused_count > 0 || batch->count > 0 || timeout_ns > 0)
        return wait_unsteady(s, batch, out, max, timeout_ns);
    /* The steady loop: a wait forever or none, nothing to hand over. */
    int got = epoll_wait(s->epfd, s->buffer, max, timeout_ns < 0 ? -1 : 0);
    if (got < 0)
        return -errno;
    for (int i = 0; i < got; i++)
        if (!take_report(s, &s->buffer[i], &out[i]))
            return take_after_stale(s, out, max, got, i);
    return got;
}

static int epoll_backend_kernel_fd(const void *state)
{
    const struct epoll_state *s = state;
    return s->epfd;
}

static int epoll_backend_fileno(void *state)
{
    return epoll_backend_kernel_fd(state);
}

const struct backend_ops pollux_backend_epoll = {
    .native_modes = POLLUX_ONESHOT | POLLUX_EDGE | POLLUX_EXCLUSIVE,
    .events = BACKEND_EVENT_BITS,
    .reports = POLLUX_HUP | POLLUX_ERR | POLLUX_RDHUP,
    .caps = POLLUX_CAP_PIPE_ERR,
    .batched = POLLUX_BATCH_RECHECK,
    .timer_source = POLLUX_TIMER_SOURCE_TIMERFD,
    .signal_source = POLLUX_SIGNAL_SOURCE_SIGNALFD,
    .init = epoll_backend_init,
    .destroy = epoll_backend_destroy,
    .add = epoll_backend_add,
    .mod = epoll_backend_mod,
    .del = epoll_backend_del,
    .wait = epoll_backend_wait,
    .fileno = epoll_backend_fileno,
    .kernel_fd = epoll_backend_kernel_fd,
};

#endif /* HAVE_BACKEND_EPOLL */
