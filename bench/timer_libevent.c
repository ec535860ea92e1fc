/*
 * timer_libevent.c - libevent (event_core): one struct event per timer,
 * set up with evtimer_assign in an array (event_get_struct_event_size()
 * bytes each); event_add with a timeout to arm and to reset (libevent
 * moves a pending event's timeout), event_del to cancel;
 * event_base_loop(EVLOOP_ONCE or EVLOOP_NONBLOCK) per pass.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "timer_driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

struct state {
    struct event_base *base;
    int n;
    size_t size;
    char *ev;
};

static struct event *ev_at(struct state *s, int i)
{
    return (struct event *)(void *)(s->ev + (size_t)i * s->size);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    bench_timer_fired++;
}

static int setup(void **state, int n)
{
    struct state *s = calloc(1, sizeof *s);

    if (!s)
        return -ENOMEM;
    *state = s;
    s->base = event_base_new();
    s->size = event_get_struct_event_size();
    s->ev = malloc((size_t)n * s->size);
    if (!s->base || !s->ev)
        return -ENOMEM;
    /* libev's libevent emulation exports the same names: see meson.build. */
    if (strcmp(event_base_get_method(s->base), "epoll") != 0) {
        fprintf(stderr, "libevent: backend is %s, not epoll\n", event_base_get_method(s->base));
        return -ENOTSUP;
    }
    return 0;
}

static int create(void *state, int i)
{
    struct state *s = state;

    if (evtimer_assign(ev_at(s, i), s->base, on_timer, NULL) < 0)
        return -EINVAL;
    s->n = i + 1;
    return 0;
}

static int arm(void *state, int i, int64_t ns)
{
    struct state *s = state;
    struct timeval tv = { .tv_sec = (time_t)(ns / 1000000000),
                          .tv_usec = (suseconds_t)(ns % 1000000000 / 1000) };

    return event_add(ev_at(s, i), &tv) < 0 ? -EINVAL : 0;
}

static int cancel(void *state, int i)
{
    struct state *s = state;

    return event_del(ev_at(s, i)) < 0 ? -EINVAL : 0;
}

static int run(void *state, int block)
{
    struct state *s = state;

    return event_base_loop(s->base, block ? EVLOOP_ONCE : EVLOOP_NONBLOCK) < 0 ? -EIO : 0;
}

static void teardown(void *state)
{
    struct state *s = state;

    for (int i = 0; i < s->n; i++)
        event_del(ev_at(s, i));
    if (s->base)
        event_base_free(s->base);
    free(s->ev);
    free(s);
}

static size_t struct_size(void)
{
    return event_get_struct_event_size();
}

const struct timer_driver timer_libevent = {
    "libevent", "struct event",
    setup, create, arm, arm, cancel, run, teardown, struct_size,
};
