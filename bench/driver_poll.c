/*
 * driver_poll.c - raw poll(2) over one pollfd array. Re-registering means
 * rewriting the array, as a poll loop rebuilds it from its watchers.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "driver.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

struct state {
    const int *fds;
    int n;
    struct pollfd pfd[];
};

static int rearm(void *state)
{
    struct state *s = state;

    for (int i = 0; i < s->n; i++) {
        s->pfd[i].fd = s->fds[i];
        s->pfd[i].events = POLLIN;
        s->pfd[i].revents = 0;
    }
    return 0;
}

static int setup(void **state, const int *fds, int n)
{
    struct state *s = malloc(sizeof *s + (size_t)n * sizeof s->pfd[0]);

    *state = s;
    if (!s)
        return -ENOMEM;
    s->fds = fds;
    s->n = n;
    return rearm(s);
}

static int run_once(void *state)
{
    struct state *s = state;
    int ready = poll(s->pfd, (nfds_t)s->n, -1);
    int done = 0;

    if (ready < 0)
        return -errno;
    for (int i = 0; i < s->n && done < ready; i++) {
        if (s->pfd[i].revents) {
            done++;
            bench_readable(i);
        }
    }
    return done;
}

static void teardown(void *state)
{
    free(state);
}

const struct driver driver_poll = { "poll", setup, rearm, run_once, teardown };
