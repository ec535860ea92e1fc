/*
 * timer_libev.c - libev (epoll backend): one ev_timer per timer;
 * ev_timer_set + ev_timer_start to arm, ev_timer_again with the timeout as
 * the repeat value to reset (libev's documented keepalive idiom),
 * ev_timer_stop to cancel; ev_run(EVRUN_ONCE or EVRUN_NOWAIT) per pass.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "timer_driver.h"

#include <errno.h>
#include <stdlib.h>

#include <ev.h>

struct state {
    struct ev_loop *loop;
    int n;
    ev_timer *w;
};

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    bench_timer_fired++;
}

static int setup(void **state, int n)
{
    struct state *s = calloc(1, sizeof *s);

    if (!s)
        return -ENOMEM;
    *state = s;
    s->loop = ev_loop_new(EVBACKEND_EPOLL);
    s->w = malloc((size_t)n * sizeof *s->w);
    return s->loop && s->w ? 0 : -ENOMEM;
}

static int create(void *state, int i)
{
    struct state *s = state;

    ev_timer_init(&s->w[i], on_timer, 0., 0.);
    s->n = i + 1;
    return 0;
}

static int arm(void *state, int i, int64_t ns)
{
    struct state *s = state;

    ev_timer_set(&s->w[i], (ev_tstamp)ns * 1e-9, 0.);
    ev_timer_start(s->loop, &s->w[i]);
    return 0;
}

static int reset(void *state, int i, int64_t ns)
{
    struct state *s = state;

    s->w[i].repeat = (ev_tstamp)ns * 1e-9;
    ev_timer_again(s->loop, &s->w[i]);
    return 0;
}

static int cancel(void *state, int i)
{
    struct state *s = state;

    ev_timer_stop(s->loop, &s->w[i]);
    return 0;
}

static int run(void *state, int block)
{
    struct state *s = state;

    ev_run(s->loop, block ? EVRUN_ONCE : EVRUN_NOWAIT);
    return 0;
}

static void teardown(void *state)
{
    struct state *s = state;

    if (s->loop) {
        for (int i = 0; i < s->n; i++)
            ev_timer_stop(s->loop, &s->w[i]);
        ev_loop_destroy(s->loop);
    }
    free(s->w);
    free(s);
}

static size_t struct_size(void)
{
    return sizeof(ev_timer);
}

const struct timer_driver timer_libev = {
    "libev", "ev_timer",
    setup, create, arm, reset, cancel, run, teardown, struct_size,
};
