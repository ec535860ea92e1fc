/*
 * driver_pollux.c - pollux on one backend. Re-registering is
 * pollux_modify() with the interest and data again: in pollux a
 * registration is (fd, interest, data) and modify replaces all three, the
 * counterpart of libev's ev_io_stop + ev_io_set + ev_io_start.
 * bench_churn measures unregister + register separately.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "driver.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/select.h>

#include "pollux.h"

#define MAX_EVENTS 1024

struct state {
    pollux *p;
    const int *fds;
    int n;
    pollux_event out[MAX_EVENTS];
};

static int add(struct state *s, int i)
{
    return pollux_register(s->p, s->fds[i], POLLUX_READ, (void *)(intptr_t)i);
}

static int setup(void **state, const int *fds, int n, pollux_backend b)
{
    struct state *s = calloc(1, sizeof *s);

    if (!s)
        return -ENOMEM;
    *state = s;
    s->fds = fds;
    s->n = n;
    int r = pollux_new(&s->p, b);
    for (int i = 0; r == 0 && i < n; i++)
        r = add(s, i);
    return r;
}

static int setup_epoll(void **state, const int *fds, int n)
{
    return setup(state, fds, n, POLLUX_BACKEND_EPOLL);
}

static int setup_kqueue(void **state, const int *fds, int n)
{
    return setup(state, fds, n, POLLUX_BACKEND_KQUEUE);
}

static int setup_poll(void **state, const int *fds, int n)
{
    return setup(state, fds, n, POLLUX_BACKEND_POLL);
}

static int setup_select(void **state, const int *fds, int n)
{
    /* select cannot watch a descriptor at or above FD_SETSIZE. */
    for (int i = 0; i < n; i++)
        if (fds[i] >= FD_SETSIZE)
            return -ENOTSUP;
    return setup(state, fds, n, POLLUX_BACKEND_SELECT);
}

static int rearm(void *state)
{
    struct state *s = state;

    for (int i = 0; i < s->n; i++) {
        int r = pollux_modify(s->p, s->fds[i], POLLUX_READ, (void *)(intptr_t)i);
        if (r < 0)
            return r;
    }
    return 0;
}

static int run_once(void *state)
{
    struct state *s = state;
    int n = pollux_wait(s->p, s->out, MAX_EVENTS, -1);

    for (int i = 0; i < n; i++)
        bench_readable((int)(intptr_t)s->out[i].data);
    return n;
}

static void teardown(void *state)
{
    struct state *s = state;

    pollux_free(s->p);
    free(s);
}

const struct driver driver_pollux_epoll = { "pollux-epoll", setup_epoll, rearm, run_once, teardown };
const struct driver driver_pollux_kqueue = { "pollux-kqueue", setup_kqueue, rearm, run_once, teardown };
const struct driver driver_pollux_poll = { "pollux-poll", setup_poll, rearm, run_once, teardown };
const struct driver driver_pollux_select = { "pollux-select", setup_select, rearm, run_once, teardown };
