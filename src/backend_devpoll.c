/*
 * backend_devpoll.c - Solaris / illumos /dev/poll (poll(7d)).
 *
 * The driver keeps the interest set in the kernel: writing a pollfd adds
 * it, and writing it again ORs the new events into the old ones, so a
 * changed mask is written as POLLREMOVE followed by the new mask. The
 * core batches every change (ops.batched), and the batch is written in
 * one write() just before DP_POLL, so register, modify and unregister
 * cost no syscall of their own. DP_POLL returns ready
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

#include "util.h"
#include "backend.h"
#include "clock.h"
#include "poll_events.h"

struct devpoll_state {
    int dpfd;
    struct pollfd *changes;  /* to write: a batch, or what a write left */
    int change_count, change_size;
    struct pollfd *ready;    /* DP_POLL's results */
    int ready_size;
    int registered;          /* how many descriptors the driver has */
    int next_fd;             /* fairness: results from this fd on go first */
};

static int devpoll_backend_init(void **state)
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
    *state = s;
    return 0;
}

static void devpoll_backend_destroy(void *state)
{
    struct devpoll_state *s = state;
    close(s->dpfd);
    free(s->changes);
    free(s->ready);
    free(s);
}

static int queue_change(struct devpoll_state *s, int fd, short events)
{
    int err = pollux_grow_array((void **)&s->changes, &s->change_size, s->change_count + 1,
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

/* The pollfds that take c->fd from c->old_mask to c->new_mask: 0, or
 * -ENOMEM with nothing queued. */
static int put_change(struct devpoll_state *s, const struct pollux_change *c)
{
    int before = s->change_count;
    /* Writing a new mask would OR it into the old one: remove first. */
    if ((c->old_mask != 0 && queue_change(s, c->fd, POLLREMOVE) < 0)
        || (c->new_mask != 0 && queue_change(s, c->fd, to_poll_events(c->new_mask)) < 0)) {
        s->change_count = before;
        return -ENOMEM;
    }
    s->registered += (c->new_mask != 0) - (c->old_mask != 0);
    return 0;
}

/* A change the core applies at once (out of memory for its list). */
static int apply_now(struct devpoll_state *s, int fd, uint32_t old_mask, uint32_t mask)
{
    struct pollux_change c = { .fd = fd, .old_mask = (uint16_t)old_mask, .new_mask = (uint16_t)mask };
    int err = put_change(s, &c);
    return err < 0 ? err : flush_changes(s);
}

static int devpoll_backend_add(void *state, int fd, uint32_t mask)
{
    if (!pollux_fd_is_open(fd))
        return -EBADF; /* the driver would only say POLLNVAL later */
    return apply_now(state, fd, 0, mask);
}

static int devpoll_backend_mod(void *state, int fd, uint32_t old_mask, uint32_t mask)
{
    return apply_now(state, fd, old_mask, mask);
}

static void devpoll_backend_del(void *state, int fd, uint32_t old_mask)
{
    /* A failed write only leaves a watch the core ignores. */
    apply_now(state, fd, old_mask, 0);
}

/* Hand the core's batch to the driver with the changes left over. */
static int write_batch(struct devpoll_state *s, struct pollux_batch *batch)
{
    int i = 0;
    while (i < batch->count && put_change(s, &batch->changes[i]) == 0)
        i++;
    batch->taken = i;
    int err = flush_changes(s);
    /* Out of memory: the rest comes with the next wait, which must not
     * report nothing meanwhile as if they were watched. */
    return err == 0 && i < batch->count ? -ENOMEM : err;
}

/* Store up to max results, those with fd >= next_fd first. */
static int rotate_out(struct devpoll_state *s, int got, struct pollux_report *out, int max)
{
    int n = 0;
    for (int pass = 0; pass < 2 && n < max; pass++) {
        for (int i = 0; i < got && n < max; i++) {
            int fd = s->ready[i].fd;
            if ((pass == 0) != (fd >= s->next_fd))
                continue;
            pollux_report_from_poll(&out[n++], fd, s->ready[i].revents);
        }
    }
    if (n > 0)
        s->next_fd = out[n - 1].fd + 1;
    return n;
}

static int devpoll_backend_wait(void *state, struct pollux_batch *batch, struct pollux_report *out,
                                int max, int64_t timeout_ns)
{
    struct devpoll_state *s = state;
    int err = write_batch(s, batch);
    if (err < 0)
        return err;
    /* Ask for every ready descriptor, so the rotation sees them all. */
    int room = s->registered > max ? s->registered : max;
    if (pollux_grow_array((void **)&s->ready, &s->ready_size, room, sizeof *s->ready) < 0)
        return -ENOMEM;
    struct dvpoll request = {
        .dp_fds = s->ready,
        .dp_nfds = room,
        .dp_timeout = pollux_ns_to_ms_rounded_up(timeout_ns), /* never early */
    };
    int got = ioctl(s->dpfd, DP_POLL, &request);
    if (got < 0)
        return -errno;
    return rotate_out(s, got, out, max);
}

static int devpoll_backend_kernel_fd(const void *state)
{
    const struct devpoll_state *s = state;
    return s->dpfd;
}

const struct backend_ops pollux_backend_devpoll = {
    .native_modes = 0,
    .events = BACKEND_EVENT_BITS,
    .reports = POLLUX_HUP | POLLUX_ERR,
    .caps = POLLUX_CAP_PIPE_ERR,
    .batched = POLLUX_BATCH_ADD | POLLUX_BATCH_MOD | POLLUX_BATCH_DEL | POLLUX_BATCH_RECHECK,
    .timer_source = POLLUX_TIMER_SOURCE_TIMEOUT,
    .init = devpoll_backend_init,
    .destroy = devpoll_backend_destroy,
    .add = devpoll_backend_add,
    .mod = devpoll_backend_mod,
    .del = devpoll_backend_del,
    .wait = devpoll_backend_wait,
    .kernel_fd = devpoll_backend_kernel_fd,
};

#endif /* HAVE_BACKEND_DEVPOLL */
