/*
 * backend_devpoll.c - Solaris / illumos /dev/poll (poll(7d)).
 *
 * The driver keeps the interest set in the kernel: writing a pollfd adds
 * it, and writing it again ORs the new events into the old ones, so a
 * changed mask is written as POLLREMOVE followed by the new mask. Changes
 * are queued here and written in one write() just before DP_POLL, so
 * modify and unregister cost no syscall of their own. DP_POLL returns ready
 * descriptors in the driver's own order; this file asks for all of them
 * and hands them out from a rotating start so none is starved. ONESHOT is
 * the core's, EDGE is refused, and timers use the core's queue.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */

#ifdef HAVE_BACKEND_DEVPOLL
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/devpoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "grow.h"
#include "internal.h"
#include "poll_events.h"

struct devpoll_state {
    int dpfd;
    struct pollfd *changes;  /* written before the next DP_POLL */
    int change_count, change_size;
    struct pollfd *ready;    /* DP_POLL's results */
    int ready_size;
    int registered;          /* how many descriptors the driver has */
    int next_fd;             /* fairness: results from this fd on go first */
};

static int devpoll_backend_init(pollux *p)
{
    struct devpoll_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->dpfd = open("/dev/poll", O_RDWR | O_CLOEXEC);
    if (s->dpfd < 0) {
        int err = -errno;
        free(s);
        return err;
    }
    p->backend = s;
    return 0;
}

static void devpoll_backend_destroy(pollux *p)
{
    struct devpoll_state *s = p->backend;
    close(s->dpfd);
    free(s->changes);
    free(s->ready);
    free(s);
}

static int queue_change(struct devpoll_state *s, int fd, short events)
{
    int err = grow_array((void **)&s->changes, &s->change_size, s->change_count + 1,
                         sizeof *s->changes);
    if (err < 0)
        return err;
    s->changes[s->change_count++] = (struct pollfd){ .fd = fd, .events = events };
    return 0;
}

static int flush_changes(struct devpoll_state *s)
{
    size_t bytes = (size_t)s->change_count * sizeof(struct pollfd);
    const char *at = (const char *)s->changes;
    while (bytes > 0) {
        ssize_t n = write(s->dpfd, at, bytes);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        at += n;
        bytes -= (size_t)n;
    }
    s->change_count = 0;
    return 0;
}

static int devpoll_backend_add(pollux *p, int fd, uint32_t mask)
{
    struct devpoll_state *s = p->backend;
    if (fcntl(fd, F_GETFD) < 0)
        return -EBADF; /* the driver would only say POLLNVAL later */
    int err = queue_change(s, fd, to_poll_events(mask));
    if (err == 0)
        s->registered++;
    return err;
}

static int devpoll_backend_mod(pollux *p, int fd, uint32_t old_mask, uint32_t mask)
{
    (void)old_mask;
    struct devpoll_state *s = p->backend;
    /* Writing a new mask would OR it into the old one: remove first. */
    int err = queue_change(s, fd, POLLREMOVE);
    if (err == 0)
        err = queue_change(s, fd, to_poll_events(mask));
    return err;
}

static int devpoll_backend_del(pollux *p, int fd, uint32_t old_mask)
{
    (void)old_mask;
    struct devpoll_state *s = p->backend;
    s->registered--;
    /* Out of memory here only leaves a watch the core ignores. */
    queue_change(s, fd, POLLREMOVE);
    return 0;
}

/* Store up to max results, those with fd >= next_fd first. */
static int rotate_out(struct devpoll_state *s, int got, pollux_event *out, int max)
{
    int n = 0;
    for (int pass = 0; pass < 2 && n < max; pass++) {
        for (int i = 0; i < got && n < max; i++) {
            int fd = s->ready[i].fd;
            if ((pass == 0) != (fd >= s->next_fd))
                continue;
            out[n].fd = fd;
            out[n].events = from_poll_events(s->ready[i].revents);
            n++;
        }
    }
    if (n > 0)
        s->next_fd = out[n - 1].fd + 1;
    return n;
}

static int devpoll_backend_wait(pollux *p, pollux_event *out, int max, int64_t timeout_ns)
{
    struct devpoll_state *s = p->backend;
    int err = flush_changes(s);
    if (err < 0)
        return err;
    /* Ask for every ready descriptor, so the rotation sees them all. */
    int room = s->registered > max ? s->registered : max;
    if (room > s->ready_size) {
        struct pollfd *grown = realloc(s->ready, (size_t)room * sizeof *grown);
        if (grown == NULL)
            return -ENOMEM;
        s->ready = grown;
        s->ready_size = room;
    }
    struct dvpoll request = {
        .dp_fds = s->ready,
        .dp_nfds = room,
        .dp_timeout = ns_to_ms_rounded_up(timeout_ns), /* never early */
    };
    int got = ioctl(s->dpfd, DP_POLL, &request);
    if (got < 0)
        return -errno;
    return rotate_out(s, got, out, max);
}

static int devpoll_backend_kernel_fd(const pollux *p)
{
    const struct devpoll_state *s = p->backend;
    return s->dpfd;
}

const struct backend_ops backend_devpoll = {
    .id = POLLUX_BACKEND_DEVPOLL,
    .name = "devpoll",
    .native_modes = 0,
    .events = BACKEND_EVENT_BITS,
    .timer_source = TIMER_SOURCE_TIMEOUT,
    .init = devpoll_backend_init,
    .destroy = devpoll_backend_destroy,
    .add = devpoll_backend_add,
    .mod = devpoll_backend_mod,
    .del = devpoll_backend_del,
    .wait = devpoll_backend_wait,
    .fileno = NULL,
    .kernel_fd = devpoll_backend_kernel_fd,
};

#endif /* HAVE_BACKEND_DEVPOLL */
