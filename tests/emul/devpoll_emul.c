/*
 * devpoll_emul.c - TEST-ONLY emulation of illumos /dev/poll (poll(4D)).
 *
 * The set of a /dev/poll descriptor lives in user space: write() adds or
 * removes pollfd entries, ioctl(DP_POLL) runs a real poll(2) over the set
 * and copies out the ready entries, ioctl(DP_ISPOLLED) answers from the
 * set. The descriptor itself is an eventfd that never becomes ready (the
 * illumos man page says polling a /dev/poll descriptor is not supported).
 *
 * The calls reach us through the interposers in emul_fd.c.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "emul_fd.h"

#include <sys/devpoll.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int devpoll_emul_open_flags(int flags);

struct devpoll {
    struct emul_obj obj;
    pid_t pid;            /* the opener: other processes get EACCES, as on illumos */
    pthread_mutex_t lock; /* write() and DP_POLL may race from two threads */
    int *events;          /* indexed by fd: events of interest, -1 when not in the set */
    int cap;              /* length of events[] */
    int count;            /* descriptors in the set */
};

static const struct emul_ops devpoll_ops;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int grow(struct devpoll *dp, int fd)
{
    int cap = dp->cap ? dp->cap : 64;
    int *ev;

    while (cap <= fd)
        cap *= 2;
    ev = realloc(dp->events, (size_t)cap * sizeof *ev);
    if (ev == NULL)
        return -ENOMEM;
    for (int i = dp->cap; i < cap; i++)
        ev[i] = -1;
    dp->events = ev;
    dp->cap = cap;
    return 0;
}

/* write(): each pollfd adds fd to the set, ORing its events into those
 * already there, or removes it when events has POLLREMOVE. Entries with a
 * negative or impossible fd are skipped, as illumos skips descriptors
 * beyond the process's table; a closed fd is accepted and reported as
 * POLLNVAL by DP_POLL, as on illumos. */
static ssize_t dp_write(struct emul_obj *obj, const void *buf, size_t len)
{
    struct devpoll *dp = (struct devpoll *)obj;
    size_t n = len / sizeof(struct pollfd);
    long open_max = sysconf(_SC_OPEN_MAX);
    sigset_t old;
    int err = 0;

    if (getpid() != dp->pid)
        return -EACCES;
    if (len % sizeof(struct pollfd) != 0)
        return -EINVAL;
    if (len > 0 && buf == NULL)
        return -EFAULT;

    emul_block_signals(&old);
    pthread_mutex_lock(&dp->lock);
    for (size_t i = 0; i < n; i++) {
        struct pollfd pfd;
        memcpy(&pfd, (const char *)buf + i * sizeof pfd, sizeof pfd);
        if (pfd.fd < 0 || (open_max > 0 && pfd.fd >= open_max))
            continue;
        if (pfd.events & POLLREMOVE) {
            if (pfd.fd < dp->cap && dp->events[pfd.fd] >= 0) {
                dp->events[pfd.fd] = -1;
                dp->count--;
            }
            continue;
        }
        if (pfd.fd >= dp->cap && (err = grow(dp, pfd.fd)) < 0)
            break;
        if (dp->events[pfd.fd] < 0) {
            dp->events[pfd.fd] = 0;
            dp->count++;
        }
        dp->events[pfd.fd] |= (unsigned short)pfd.events;
    }
    pthread_mutex_unlock(&dp->lock);
    emul_restore_signals(&old);
    return err < 0 ? err : (ssize_t)len;
}

/* A copy of the set in ascending fd order; NULL with *n = 0 when empty. */
static struct pollfd *snapshot(struct devpoll *dp, int *n, int *err)
{
    struct pollfd *set = NULL;
    sigset_t old;
    int k = 0;

    *err = 0;
    emul_block_signals(&old);
    pthread_mutex_lock(&dp->lock);
    if (dp->count > 0) {
        set = malloc((size_t)dp->count * sizeof *set);
        if (set == NULL)
            *err = -ENOMEM;
        for (int fd = 0; set != NULL && fd < dp->cap; fd++) {
            if (dp->events[fd] >= 0)
                set[k++] = (struct pollfd){ .fd = fd, .events = (short)dp->events[fd] };
        }
    }
    pthread_mutex_unlock(&dp->lock);
    emul_restore_signals(&old);
    *n = k;
    return set;
}

/* Copy the ready entries of set[] to out[], lowest fd first and without
 * rotation (as illumos scans its bitmap), skipping descriptors removed by
 * another thread while poll() ran. */
static int collect(struct devpoll *dp, const struct pollfd *set, int n,
                   struct pollfd *out, int room)
{
    sigset_t old;
    int k = 0;

    emul_block_signals(&old);
    pthread_mutex_lock(&dp->lock);
    for (int i = 0; i < n && k < room; i++) {
        int fd = set[i].fd;
        short rev = set[i].revents;
        if (rev == 0 || fd >= dp->cap || dp->events[fd] < 0)
            continue;
        rev &= (short)(dp->events[fd] | POLLERR | POLLHUP | POLLNVAL);
        if (rev != 0)
            out[k++] = (struct pollfd){ .fd = fd, .events = (short)dp->events[fd], .revents = rev };
    }
    pthread_mutex_unlock(&dp->lock);
    emul_restore_signals(&old);
    return k;
}

/* DP_POLL: wait up to dp_timeout ms (never less: early wake-ups with
 * nothing to report are retried) and report up to dp_nfds ready fds. */
static int dp_poll(struct devpoll *dp, struct dvpoll *arg)
{
    struct dvpoll dv;
    int64_t deadline;

    if (arg == NULL)
        return -EFAULT;
    dv = *arg;
    if (dv.dp_nfds < 0)
        return -EINVAL;
    if (dv.dp_nfds > 0 && dv.dp_fds == NULL)
        return -EFAULT;
    deadline = dv.dp_timeout < 0 ? INT64_MAX : now_ns() + (int64_t)dv.dp_timeout * 1000000;

    for (;;) {
        int n, err, k = 0, wait_ms = -1;
        struct pollfd *set = dv.dp_nfds > 0 ? snapshot(dp, &n, &err) : NULL;

        if (dv.dp_nfds == 0)
            n = 0, err = 0; /* no room: it only sleeps, like poll(NULL, 0, t) */
        if (err < 0)
            return err;
        if (deadline != INT64_MAX) {
            int64_t left = deadline - now_ns();
            wait_ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
        }
        int r = poll(set, (nfds_t)n, wait_ms);
        if (r < 0) {
            err = -errno;
            free(set);
            return err;
        }
        if (r > 0)
            k = collect(dp, set, n, dv.dp_fds, dv.dp_nfds);
        free(set);
        if (k > 0)
            return k;
        if (deadline != INT64_MAX && now_ns() >= deadline)
            return 0;
    }
}

/* DP_ISPOLLED: 1 with revents = the events of interest when fd is in the
 * set, else 0 with *pfd untouched. */
static int dp_ispolled(struct devpoll *dp, struct pollfd *pfd)
{
    sigset_t old;
    int r = 0;

    if (pfd == NULL)
        return -EFAULT;
    emul_block_signals(&old);
    pthread_mutex_lock(&dp->lock);
    if (pfd->fd >= 0 && pfd->fd < dp->cap && dp->events[pfd->fd] >= 0) {
        pfd->revents = (short)dp->events[pfd->fd];
        r = 1;
    }
    pthread_mutex_unlock(&dp->lock);
    emul_restore_signals(&old);
    return r;
}

static int dp_ioctl(struct emul_obj *obj, unsigned long request, void *arg)
{
    struct devpoll *dp = (struct devpoll *)obj;

    switch (request) {
    case FIOCLEX:
    case FIONCLEX: /* handled by the kernel on illumos too */
        return syscall(SYS_ioctl, obj->fd, request, arg) < 0 ? -errno : 0;
    case DP_POLL:
        return getpid() != dp->pid ? -EACCES : dp_poll(dp, arg);
    case DP_ISPOLLED:
        return getpid() != dp->pid ? -EACCES : dp_ispolled(dp, arg);
    default:
        return -EINVAL;
    }
}

static int dp_release(struct emul_obj *obj, bool close_fd)
{
    struct devpoll *dp = (struct devpoll *)obj;
    int r = close_fd && emul_sys_close(obj->fd) < 0 ? -errno : 0;

    pthread_mutex_destroy(&dp->lock);
    free(dp->events);
    free(dp);
    return r;
}

static const struct emul_ops devpoll_ops = {
    .write = dp_write,
    .ioctl = dp_ioctl,
    .release = dp_release,
};

int devpoll_emul_open_flags(int flags)
{
    struct devpoll *dp = calloc(1, sizeof *dp);
    int fd, err;

    if (dp == NULL) {
        errno = ENOMEM;
        return -1;
    }
    /* Non-blocking so that a stray read() cannot hang a test. */
    fd = eventfd(0, EFD_NONBLOCK | ((flags & O_CLOEXEC) ? EFD_CLOEXEC : 0));
    if (fd < 0) {
        free(dp);
        return -1;
    }
    dp->obj.ops = &devpoll_ops;
    dp->obj.fd = fd;
    dp->pid = getpid();
    pthread_mutex_init(&dp->lock, NULL);
    err = emul_fd_attach(&dp->obj);
    if (err < 0) {
        dp_release(&dp->obj, true);
        errno = -err;
        return -1;
    }
    return fd;
}

int devpoll_emul_open(void)
{
    return devpoll_emul_open_flags(O_RDWR);
}
