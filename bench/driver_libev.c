/*
 * driver_libev.c - libev with its epoll backend: one ev_io per socket,
 * ev_run(EVRUN_ONCE) per iteration; re-registering is ev_io_stop +
 * ev_io_set + ev_io_start, as in libev's own benchmark.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "driver.h"

#include <errno.h>
#include <stdlib.h>

#include <ev.h>

struct state {
    struct ev_loop *loop;
    const int *fds;
    int n;
    ev_io *w;
};

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    bench_readable((int)(intptr_t)w->data);
}

static int setup(void **state, const int *fds, int n)
{
    struct state *s = calloc(1, sizeof *s);

    if (!s)
        return -ENOMEM;
    *state = s;
    s->fds = fds;
    s->n = n;
    s->loop = ev_loop_new(EVBACKEND_EPOLL);
    s->w = calloc((size_t)n, sizeof *s->w);
    if (!s->loop || !s->w)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        ev_io_init(&s->w[i], on_read, fds[i], EV_READ);
        s->w[i].data = (void *)(intptr_t)i;
        ev_io_start(s->loop, &s->w[i]);
    }
    return 0;
}

static int rearm(void *state)
{
    struct state *s = state;

    for (int i = 0; i < s->n; i++) {
        ev_io_stop(s->loop, &s->w[i]);
        ev_io_set(&s->w[i], s->fds[i], EV_READ);
        ev_io_start(s->loop, &s->w[i]);
    }
    return 0;
}

static int run_once(void *state)
{
    struct state *s = state;

    ev_run(s->loop, EVRUN_ONCE);
    return 1;
}

static void teardown(void *state)
{
    struct state *s = state;

    if (s->loop) {
        for (int i = 0; s->w && i < s->n; i++)
            ev_io_stop(s->loop, &s->w[i]);
        ev_loop_destroy(s->loop);
    }
    free(s->w);
    free(s);
}

const struct driver driver_libev = { "libev", setup, rearm, run_once, teardown };
