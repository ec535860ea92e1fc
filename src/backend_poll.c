/*
 * backend_poll.c - poll(2), with ppoll(2) for nanosecond timeouts where it
 * exists.
 *
 * The pollfd array is kept dense (removal moves the last entry into the
 * hole), with slot_of[fd] giving each descriptor's index. Results are
 * scanned from a rotating start so that every ready descriptor is
 * reported in turn when there are more than the caller has room for.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */

#ifdef HAVE_BACKEND_POLL
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "clock.h"
#include "poll_events.h"
#include "util.h"

struct poll_state {
    struct pollfd *set;
    int count;
    int size;
    int *slot_of;     /* indexed by fd: position in set, or -1 */
    int slot_of_size;
    int next;         /* where the next scan of results starts */
};

static int poll_backend_init(void **state)
{
    struct poll_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    *state = s;
    return 0;
}

static void poll_backend_destroy(void *state)
{
    struct poll_state *s = state;
    free(s->set);
    free(s->slot_of);
    free(s);
}

static int reserve(struct poll_state *s, int fd)
{
    int err = pollux_grow_array((void **)&s->set, &s->size, s->count + 1, sizeof *s->set);
    return err < 0 ? err : pollux_grow_index(&s->slot_of, &s->slot_of_size, fd + 1);
}

static int poll_backend_add(void *state, int fd, uint32_t mask)
{
    struct poll_state *s = state;
    if (!pollux_fd_is_open(fd))
        return -EBADF; /* poll() itself would only say POLLNVAL later */
    int err = reserve(s, fd);
    if (err < 0)
        return err;
    s->slot_of[fd] = s->count;
    s->set[s->count++] = (struct pollfd){ .fd = fd, .events = to_poll_events(mask) };
    return POLLUX_ADD_WATCHED;
}

/* No syscall: a new file behind the same number is polled as it is. */
static int poll_backend_mod(void *state, int fd, uint32_t old_mask, uint32_t mask)
{
    (void)old_mask;
    struct poll_state *s = state;
    s->set[s->slot_of[fd]].events = to_poll_events(mask);
    return POLLUX_ADD_WATCHED;
}

static void move_entry(struct poll_state *s, int from, int to)
{
    if (from != to) {
        s->set[to] = s->set[from];
        s->slot_of[s->set[to].fd] = to;
    }
}

/* The last entry fills the hole. A hole in the part of the array that the
 * rotation has passed (a descriptor found closed while its wait is still
 * collecting) would put it behind the cursor, skipped until the scan
 * wraps around: the entry just before the cursor fills the hole instead,
 * and the last one lands at the cursor. */
static void poll_backend_del(void *state, int fd, uint32_t old_mask)
{
    (void)old_mask;
    struct poll_state *s = state;
    int slot = s->slot_of[fd];
    int last = --s->count;
    if (slot < s->next && s->next <= last) {
        int passed = s->next - 1;
        move_entry(s, passed, slot);
        move_entry(s, last, passed);
        s->next = passed;
    } else {
        move_entry(s, last, slot);
    }
    s->slot_of[fd] = -1;
}

static int kernel_wait(struct poll_state *s, int64_t timeout_ns)
{
#ifdef HAVE_PPOLL
    struct timespec ts = pollux_ns_to_timespec(timeout_ns);
    return ppoll(s->set, (nfds_t)s->count, timeout_ns < 0 ? NULL : &ts, NULL);
#else
    return poll(s->set, (nfds_t)s->count, pollux_ns_to_ms_rounded_up(timeout_ns));
#endif
}

/* Nothing is batched (ops.batched is 0): the batch is always empty. */
static int poll_backend_wait(void *state, struct pollux_batch *batch, struct pollux_report *out,
                              int max, int64_t timeout_ns)
{
    (void)batch;
    struct poll_state *s = state;
    int ready = kernel_wait(s, timeout_ns);
    if (ready < 0)
        return -errno;
    int n = 0;
    int start = pollux_rotation_start(s->next, s->count);
    for (int k = 0; k < s->count && n < ready && n < max; k++) {
        int i = pollux_rotation_at(start, k, s->count);
        if (s->set[i].revents == 0)
            continue;
        pollux_report_from_poll(&out[n++], s->set[i].fd, s->set[i].revents);
        s->next = i + 1;
    }
    return n;
}

const struct backend_ops pollux_backend_poll = {
    .native_modes = 0,
    .events = BACKEND_EVENT_BITS,
    .reports = POLLUX_HUP | POLLUX_ERR | POLLUX_RDHUP,
    .caps = POLLUX_CAP_PIPE_ERR,
    .batched = 0,
    .timer_source = POLLUX_TIMER_SOURCE_TIMERFD,
    .init = poll_backend_init,
    .destroy = poll_backend_destroy,
    .add = poll_backend_add,
    .mod = poll_backend_mod,
    .del = poll_backend_del,
    .wait = poll_backend_wait,
};

#endif /* HAVE_BACKEND_POLL */
