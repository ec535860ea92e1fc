/*
 * timer_pollux.c - pollux timers: pollux_timer_create, then
 * pollux_timer_settime(p, id, ns, 0, 0) (relative, one-shot) to arm and to
 * reset, settime 0 to cancel; pollux_wait() with a batch of events.
 * "pollux-looptime" is the same with POLLUX_TIMER_LOOPTIME: relative times
 * count from the last wait, as libev's and libuv's do, with no clock read.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "timer_driver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pollux.h"

#define BATCH 4096

struct state {
    pollux *p;
    int n;
    int *ids; /* the user's handles, not the library's storage */
    pollux_event ev[BATCH];
};

static int setup(void **state, int n)
{
    struct state *s = calloc(1, sizeof *s);

    if (!s)
        return -ENOMEM;
    *state = s;
    s->ids = malloc((size_t)n * sizeof *s->ids);
    if (!s->ids)
        return -ENOMEM;
    memset(s->ids, 0xff, (size_t)n * sizeof *s->ids);
    return pollux_new(&s->p, POLLUX_BACKEND_AUTO);
}

static int create(void *state, int i)
{
    struct state *s = state;
    int id = pollux_timer_create(s->p, CLOCK_MONOTONIC, NULL);

    if (id < 0)
        return id;
    s->ids[i] = id;
    s->n = i + 1;
    return 0;
}

static int arm(void *state, int i, int64_t ns)
{
    struct state *s = state;

    return pollux_timer_settime(s->p, s->ids[i], ns, 0, 0);
}

static int arm_looptime(void *state, int i, int64_t ns)
{
    struct state *s = state;

    return pollux_timer_settime(s->p, s->ids[i], ns, 0, POLLUX_TIMER_LOOPTIME);
}

static int cancel(void *state, int i)
{
    struct state *s = state;

    return pollux_timer_settime(s->p, s->ids[i], 0, 0, 0);
}

static int run(void *state, int block)
{
    struct state *s = state;
    int n = pollux_wait(s->p, s->ev, BATCH, block ? -1 : 0);

    if (n == -EINTR)
        return 0;
    for (int i = 0; i < n; i++)
        if (s->ev[i].events & POLLUX_TIMER)
            bench_timer_fired += s->ev[i].count;
    return n < 0 ? n : 0;
}

static void teardown(void *state)
{
    struct state *s = state;

    if (s->p)
        pollux_free(s->p);
    free(s->ids);
    free(s);
}

static size_t struct_size(void)
{
    return 0;
}

const struct timer_driver timer_pollux = {
    "pollux", "nothing: the timer lives in the poller (an int id is the handle)",
    setup, create, arm, arm, cancel, run, teardown, struct_size,
};

const struct timer_driver timer_pollux_looptime = {
    "pollux-looptime", "nothing: the timer lives in the poller (an int id is the handle)",
    setup, create, arm_looptime, arm_looptime, cancel, run, teardown, struct_size,
};
