/*
 * driver_libuv.c - libuv: one uv_poll_t per socket, uv_run(UV_RUN_ONCE)
 * per iteration; re-registering is uv_poll_stop + uv_poll_start.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "driver.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <uv.h>

#include "libuv_close.h"

struct state {
    uv_loop_t loop;
    int loop_ok;
    int n;
    uv_poll_t *h;
};

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    bench_readable((int)(intptr_t)h->data);
}

static int setup(void **state, const int *fds, int n)
{
    struct state *s = calloc(1, sizeof *s);

    if (!s)
        return -ENOMEM;
    *state = s;
    s->h = calloc((size_t)n, sizeof *s->h);
    if (!s->h || uv_loop_init(&s->loop) < 0)
        return -ENOMEM;
    s->loop_ok = 1;
    for (; s->n < n; s->n++) {
        int i = s->n, r;
        if ((r = uv_poll_init(&s->loop, &s->h[i], fds[i])) < 0)
            return r;
        s->h[i].data = (void *)(intptr_t)i;
        if ((r = uv_poll_start(&s->h[i], UV_READABLE, on_poll)) < 0)
            return r;
    }
    return 0;
}

static int rearm(void *state)
{
    struct state *s = state;

    for (int i = 0; i < s->n; i++) {
        int r = uv_poll_stop(&s->h[i]);
        if (r == 0)
            r = uv_poll_start(&s->h[i], UV_READABLE, on_poll);
        if (r < 0)
            return r;
    }
    return 0;
}

static int run_once(void *state)
{
    struct state *s = state;

    uv_run(&s->loop, UV_RUN_ONCE);
    return 1;
}

static void teardown(void *state)
{
    struct state *s = state;

    bench_uv_close_all(&s->loop, s->loop_ok, s->h, sizeof *s->h, s->n);
    free(s);
}

const struct driver driver_libuv = { "libuv", setup, rearm, run_once, teardown };
