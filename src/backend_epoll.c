/*
 * backend_epoll.c - Linux epoll(7).
 *
 * ONESHOT, EDGE and EXCLUSIVE are native. Regular files make epoll_ctl
 * fail with EPERM; the core reports them as always ready instead.
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

#include "grow.h"
#include "internal.h"

/* One epoll_wait() never asks for more than this: fairness comes from the
 * kernel, which rotates level-triggered entries it has reported. */
#define MAX_BATCH 1024

struct epoll_state {
    int epfd;
    bool have_pwait2; /* cleared when the kernel says ENOSYS */
    int buffer_size;
    struct epoll_event *buffer;
    /* Numbers whose unchanged mask is to be checked at the next wait. */
    int *recheck;
    int recheck_count, recheck_size;
    uint8_t *rechecking; /* indexed by fd: on the recheck list */
    int rechecking_size;
    /* Indexed by fd: the tag of the number's current watch; reports with
     * another tag come from a watch left behind by a closed number. */
    uint32_t *tag;
    int tag_size;
};

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

static uint32_t from_epoll(uint32_t ev)
{
    uint32_t bits = 0;
    if (ev & EPOLLIN)    bits |= POLLUX_READ;
    if (ev & EPOLLOUT)   bits |= POLLUX_WRITE;
    if (ev & EPOLLPRI)   bits |= POLLUX_PRI;
    if (ev & EPOLLRDHUP) bits |= POLLUX_RDHUP;
    if (ev & EPOLLHUP)   bits |= POLLUX_HUP;
    if (ev & EPOLLERR)   bits |= POLLUX_ERR;
    return bits;
}

static uint64_t tagged(int fd, uint32_t tag)
{
    return (uint64_t)tag << 32 | (uint32_t)fd;
}

static int ctl(struct epoll_state *s, int op, int fd, uint32_t mask, uint32_t tag)
{
    struct epoll_event ev = { .events = to_epoll(mask), .data.u64 = tagged(fd, tag) };
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
    if (r == 0 || r == -EPERM || r == -EBADF)
        s->tag[fd] = next;
    return r;
}

static int epoll_backend_init(pollux *p)
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
    p->backend = s;
    return 0;
}

static void epoll_backend_destroy(pollux *p)
{
    struct epoll_state *s = p->backend;
    close(s->epfd);
    free(s->buffer);
    free(s->recheck);
    free(s->rechecking);
    free(s->tag);
    free(s);
}

/* EPOLL_CTL_ADD; epoll refuses regular files, which the core reports itself. */
static int watch(struct epoll_state *s, int fd, uint32_t mask)
{
    int r = ctl_tagged(s, EPOLL_CTL_ADD, fd, mask);
    return r == -EPERM ? BACKEND_ALWAYS_READY : r;
}

static int epoll_backend_add(pollux *p, int fd, uint32_t mask)
{
    struct epoll_state *s = p->backend;
    if (grow_array((void **)&s->tag, &s->tag_size, fd + 1, sizeof *s->tag) < 0)
        return -ENOMEM;
    int r = watch(s, fd, mask);
    if (r == -EEXIST) /* a watch on this very file the core had lost: take it over */
        r = ctl_tagged(s, EPOLL_CTL_MOD, fd, mask);
    return r;
}

/*
 * Drop entries that no longer stand for a pending check (the fd was
 * unregistered, or a later entry stands for it), so that a loop of modify,
 * unregister and register between two waits cannot grow the list.
 */
static void recheck_compact(struct epoll_state *s)
{
    int kept = 0;
    for (int i = 0; i < s->recheck_count; i++) {
        int fd = s->recheck[i];
        if (s->rechecking[fd] == 1) {
            s->rechecking[fd] = 2; /* kept once */
            s->recheck[kept++] = fd;
        }
    }
    for (int i = 0; i < kept; i++)
        s->rechecking[s->recheck[i]] = 1;
    s->recheck_count = kept;
}

/* Put fd on the recheck list; 0, or -ENOMEM (then check it now instead). */
static int recheck_later(struct epoll_state *s, int fd)
{
    if (fd < s->rechecking_size && s->rechecking[fd])
        return 0;
    if (s->recheck_count == s->recheck_size)
        recheck_compact(s);
    if (grow_array((void **)&s->rechecking, &s->rechecking_size, fd + 1, 1) < 0
        || grow_array((void **)&s->recheck, &s->recheck_size, s->recheck_count + 1, sizeof(int)) < 0)
        return -ENOMEM;
    s->rechecking[fd] = 1;
    s->recheck[s->recheck_count++] = fd;
    return 0;
}

static void recheck_forget(struct epoll_state *s, int fd)
{
    if (fd < s->rechecking_size)
        s->rechecking[fd] = 0; /* its list entry is skipped */
}

static int epoll_backend_mod(pollux *p, int fd, uint32_t old_mask, uint32_t mask)
{
    struct epoll_state *s = p->backend;
    /*
     * An unchanged level-triggered mask changes nothing in the kernel; the
     * only thing to check is decision 1, that the number still names the
     * watched file. That check waits for the next wait, which runs all of
     * them in one tight loop (a loop re-registering every watcher pays
     * one cheap syscall each, with no other work between them). ONESHOT
     * and EDGE need MOD's re-arm now.
     */
    if (old_mask == mask && !(mask & (POLLUX_ONESHOT | POLLUX_EDGE))
        && recheck_later(s, fd) == 0)
        return 0;
    recheck_forget(s, fd); /* MOD re-establishes by itself */
    int r = ctl_tagged(s, EPOLL_CTL_MOD, fd, mask);
    if (r == -ENOENT) /* the number was closed and now names another file */
        return epoll_backend_add(p, fd, mask);
    /* MOD refuses a regular file as ADD does: the number now names one. */
    return r == -EPERM ? BACKEND_ALWAYS_READY : r;
}

static int epoll_backend_del(pollux *p, int fd, uint32_t old_mask)
{
    (void)old_mask;
    struct epoll_state *s = p->backend;
    recheck_forget(s, fd);
    /* ENOENT: the kernel forgot the file. EBADF: the number was closed,
     * and a watch left behind (the file open elsewhere) is stale now. */
    ctl(s, EPOLL_CTL_DEL, fd, 0, 0);
    s->tag[fd]++;
    return 0;
}

static int kernel_wait(struct epoll_state *s, int max, int64_t timeout_ns)
{
#ifdef HAVE_EPOLL_PWAIT2
    /* epoll_wait is a little cheaper; pwait2 only when ms would round. */
    bool whole_ms = timeout_ns < 0 || timeout_ns % 1000000 == 0;
    if (s->have_pwait2 && !whole_ms) {
        struct timespec ts = ns_to_timespec(timeout_ns);
        int n = epoll_pwait2(s->epfd, s->buffer, max, timeout_ns < 0 ? NULL : &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        s->have_pwait2 = false; /* kernel older than 5.11 */
    }
#endif
    return epoll_wait(s->epfd, s->buffer, max, ns_to_ms_rounded_up(timeout_ns));
}

/*
 * ADD answers EEXIST when this very file is still watched (the watch is
 * keyed by file and number), and watches the file the number now names
 * otherwise: decision 1. It costs the kernel less than MOD, which polls
 * the file again. A closed number is left alone, as epoll already forgot
 * it; a regular file is reported to the core in out[]. Returns how many
 * reports it stored.
 */
static int run_rechecks(pollux *p, struct epoll_state *s, pollux_event *out, int max)
{
    int n = 0, i = 0;
    for (; i < s->recheck_count && n < max; i++) {
        int fd = s->recheck[i];
        if (!s->rechecking[fd])
            continue;
        s->rechecking[fd] = 0;
        uint32_t mask = core_kernel_mask(p, fd);
        if (mask != 0 && watch(s, fd, mask) == BACKEND_ALWAYS_READY) {
            out[n].fd = fd;
            out[n].events = BACKEND_ALWAYS_READY_NOW;
            n++;
        }
    }
    /* Without room for more reports, the rest waits for the next call. */
    s->recheck_count -= i;
    memmove(s->recheck, s->recheck + i, (size_t)s->recheck_count * sizeof *s->recheck);
    return n;
}

/*
 * Drop a watch left behind by a closed number: nothing but closing the
 * epoll instance removes it. Build a new set from the core's table and put
 * it under the old descriptor number (pollux_fileno() stays valid), or
 * change nothing if a watch cannot be made.
 */
static int rebuild(pollux *p, struct epoll_state *s)
{
    int fresh = epoll_create1(EPOLL_CLOEXEC);
    if (fresh < 0)
        return -errno;
    for (int fd = 0; fd < s->tag_size; fd++) {
        uint32_t mask = core_kernel_mask(p, fd);
        if (mask == 0 || fd == fresh) /* fresh took a closed number */
            continue;
        struct epoll_event ev = { .events = to_epoll(mask), .data.u64 = tagged(fd, s->tag[fd]) };
        if (epoll_ctl(fresh, EPOLL_CTL_ADD, fd, &ev) == 0 || errno == EBADF)
            continue; /* a closed number is not watched, as before */
        /* A regular file now: the next wait's checks tell the core. */
        int err = errno == EPERM ? recheck_later(s, fd) : -errno;
        if (err < 0) {
            close(fresh);
            return err;
        }
    }
    int err = dup3(fresh, s->epfd, O_CLOEXEC) < 0 ? -errno : 0;
    close(fresh);
    return err;
}

/* Move the kernel's reports to out[] from *n on, leaving out stale ones;
 * true when there were any. */
static bool take_reports(struct epoll_state *s, int got, pollux_event *out, int *n)
{
    bool stale = false;
    for (int i = 0; i < got; i++) {
        uint64_t data = s->buffer[i].data.u64;
        int fd = (int)(uint32_t)data;
        if (fd >= s->tag_size || (uint32_t)(data >> 32) != s->tag[fd]) {
            stale = true;
            continue;
        }
        out[*n].fd = fd;
        out[*n].events = from_epoll(s->buffer[i].events);
        (*n)++;
    }
    return stale;
}

static int epoll_backend_wait(pollux *p, pollux_event *out, int max, int64_t timeout_ns)
{
    struct epoll_state *s = p->backend;
    if (max > MAX_BATCH)
        max = MAX_BATCH;
    if (max > s->buffer_size) {
        struct epoll_event *grown = realloc(s->buffer, (size_t)max * sizeof *grown);
        if (grown == NULL)
            return -ENOMEM;
        s->buffer = grown;
        s->buffer_size = max;
    }
    int reports = s->recheck_count > 0 ? run_rechecks(p, s, out, max) : 0;
    if (reports == max)
        return reports;
    /* Files found by the checks are ready: the core reports them with
     * whatever else is ready now, without blocking. */
    int got = kernel_wait(s, max - reports, reports > 0 ? 0 : timeout_ns);
    if (got < 0)
        return reports > 0 ? reports : -errno;
    int n = reports;
    if (take_reports(s, got, out, &n)) {
        /* Fewer reports than asked for is fine: the core asks again. */
        int err = rebuild(p, s);
        if (err < 0 && n == 0)
            return err;
    }
    return n;
}

static int epoll_backend_fileno(const pollux *p)
{
    const struct epoll_state *s = p->backend;
    return s->epfd;
}

const struct backend_ops backend_epoll = {
    .id = POLLUX_BACKEND_EPOLL,
    .name = "epoll",
    .native_modes = POLLUX_ONESHOT | POLLUX_EDGE | POLLUX_EXCLUSIVE,
    .events = BACKEND_EVENT_BITS,
    .timer_source = TIMER_SOURCE_TIMERFD,
    .init = epoll_backend_init,
    .destroy = epoll_backend_destroy,
    .add = epoll_backend_add,
    .mod = epoll_backend_mod,
    .del = epoll_backend_del,
    .wait = epoll_backend_wait,
    .fileno = epoll_backend_fileno,
    .kernel_fd = epoll_backend_fileno, /* the same, without side effect */
};

#endif /* HAVE_BACKEND_EPOLL */
