/*
 * driver_epoll.c - raw epoll, level- and edge-triggered: the baseline.
 * Re-registering is one EPOLL_CTL_MOD per descriptor.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "driver.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS 1024

struct state {
    int epfd;
    uint32_t events; /* EPOLLIN, or EPOLLIN | EPOLLET */
    const int *fds;
    int n;
    struct epoll_event out[MAX_EVENTS];
};

static int add(struct state *s, int i)
{
    struct epoll_event ev = { .events = s->events, .data.u32 = (uint32_t)i };
    return epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->fds[i], &ev) < 0 ? -errno : 0;
}

static int setup(void **state, const int *fds, int n, uint32_t events)
{
    struct state *s = calloc(1, sizeof *s);

    if (!s)
        return -ENOMEM;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->events = events;
    s->fds = fds;
    s->n = n;
    *state = s;
    if (s->epfd < 0)
        return -errno;
    for (int i = 0; i < n; i++) {
        int r = add(s, i);
        if (r < 0)
            return r;
    }
    return 0;
}

static int setup_level(void **state, const int *fds, int n)
{
    return setup(state, fds, n, EPOLLIN);
}

static int setup_edge(void **state, const int *fds, int n)
{
    return setup(state, fds, n, EPOLLIN | EPOLLET);
}

/* Re-registering is one EPOLL_CTL_MOD per descriptor with the same
 * interest and data, which is how an epoll program re-arms a watch: one
 * syscall where DEL + ADD would be two. */
static int rearm(void *state)
{
    struct state *s = state;

    for (int i = 0; i < s->n; i++) {
        struct epoll_event ev = { .events = s->events, .data.u32 = (uint32_t)i };
        if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->fds[i], &ev) < 0)
            return -errno;
    }
    return 0;
}

static int run_once(void *state)
{
    struct state *s = state;
    int n = epoll_wait(s->epfd, s->out, MAX_EVENTS, -1);

    if (n < 0)
        return -errno;
    for (int i = 0; i < n; i++)
        bench_readable((int)s->out[i].data.u32);
    return n;
}

static void teardown(void *state)
{
    struct state *s = state;

    if (s->epfd >= 0)
        close(s->epfd);
    free(s);
}

const struct driver driver_epoll = { "epoll", setup_level, rearm, run_once, teardown };
const struct driver driver_epoll_edge = { "epoll-edge", setup_edge, rearm, run_once, teardown };
