/*
 * driver_libevent.c - libevent (event_core, epoll backend): one persistent
 * event per socket, event_base_loop(EVLOOP_ONCE) per iteration;
 * re-registering is event_del + event_add.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "driver.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

struct state {
    struct event_base *base;
    int n;
    struct event **ev;
};

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bench_readable((int)(intptr_t)arg);
}

static int setup(void **state, const int *fds, int n)
{
    struct state *s = calloc(1, sizeof *s);

    if (!s)
        return -ENOMEM;
    *state = s;
    s->base = event_base_new();
    s->ev = calloc((size_t)n, sizeof *s->ev);
    if (!s->base || !s->ev)
        return -ENOMEM;
    /* libev exports a libevent emulation under the same names: if it was
     * bound first, these calls are not libevent's. Link libevent first. */
    if (strcmp(event_base_get_method(s->base), "epoll") != 0) {
        fprintf(stderr, "libevent: backend is %s, not epoll\n", event_base_get_method(s->base));
        return -ENOTSUP;
    }
    for (; s->n < n; s->n++) {
        int i = s->n;
        s->ev[i] = event_new(s->base, fds[i], EV_READ | EV_PERSIST, on_read, (void *)(intptr_t)i);
        if (!s->ev[i] || event_add(s->ev[i], NULL) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int rearm(void *state)
{
    struct state *s = state;

    for (int i = 0; i < s->n; i++)
        if (event_del(s->ev[i]) < 0 || event_add(s->ev[i], NULL) < 0)
            return -EIO;
    return 0;
}

static int run_once(void *state)
{
    struct state *s = state;

    return event_base_loop(s->base, EVLOOP_ONCE) < 0 ? -EIO : 1;
}

static void teardown(void *state)
{
    struct state *s = state;

    for (int i = 0; i < s->n; i++)
        if (s->ev[i])
            event_free(s->ev[i]);
    free(s->ev);
    if (s->base)
        event_base_free(s->base);
    free(s);
}

const struct driver driver_libevent = { "libevent", setup, rearm, run_once, teardown };
