/*
 * timer_libuv.c - libuv: one uv_timer_t per timer; uv_timer_start (ms,
 * rounded up, no repeat) to arm and to reset (it restarts an active
 * timer), uv_timer_stop to cancel; uv_run(UV_RUN_ONCE or UV_RUN_NOWAIT)
 * per pass.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "timer_driver.h"

#include <errno.h>
#include <stdlib.h>

#include <uv.h>

#include "libuv_close.h"

struct state {
    uv_loop_t loop;
    int loop_ok;
    int n;
    uv_timer_t *h;
};

static void on_timer(uv_timer_t *h)
{
    (void)h;
    bench_timer_fired++;
}

static int setup(void **state, int n)
{
    struct state *s = calloc(1, sizeof *s);

    if (!s)
        return -ENOMEM;
    *state = s;
    s->h = malloc((size_t)n * sizeof *s->h);
    if (!s->h || uv_loop_init(&s->loop) < 0)
        return -ENOMEM;
    s->loop_ok = 1;
    return 0;
}

static int create(void *state, int i)
{
    struct state *s = state;
    int r = uv_timer_init(&s->loop, &s->h[i]);

    if (r == 0)
        s->n = i + 1;
    return r;
}

static int arm(void *state, int i, int64_t ns)
{
    struct state *s = state;

    return uv_timer_start(&s->h[i], on_timer, (uint64_t)(ns + 999999) / 1000000, 0);
}

static int cancel(void *state, int i)
{
    struct state *s = state;

    return uv_timer_stop(&s->h[i]);
}

static int run(void *state, int block)
{
    struct state *s = state;

    uv_run(&s->loop, block ? UV_RUN_ONCE : UV_RUN_NOWAIT);
    return 0;
}

static void teardown(void *state)
{
    struct state *s = state;

    bench_uv_close_all(&s->loop, s->loop_ok, s->h, sizeof *s->h, s->n);
    free(s);
}

static size_t struct_size(void)
{
    return sizeof(uv_timer_t);
}

const struct timer_driver timer_libuv = {
    "libuv", "uv_timer_t",
    setup, create, arm, arm, cancel, run, teardown, struct_size,
};
