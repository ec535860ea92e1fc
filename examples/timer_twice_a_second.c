/*
 * timer_twice_a_second.c - a timer that fires twice a second, four times:
 * the first program of the timer file descriptor HOWTO, with a pollux
 * timer instead of a timerfd.
 *
 *   timer_twice_a_second            start in 1 s, then every 0.5 s
 *   timer_twice_a_second --fast     ten times faster (0.1 s, then 0.05 s)
 *   timer_twice_a_second --scale N  N times faster
 *
 * POLLUX_BACKEND=poll (or select, epoll) picks the backend.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pollux.h>

#define NS_PER_SEC 1000000000LL

int main(int argc, char **argv)
{
    long scale = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fast") == 0) {
            scale = 10;
        } else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc) {
            scale = strtol(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: %s [--fast | --scale N]\n", argv[0]);
            return 2;
        }
    }
    if (scale < 1) {
        fprintf(stderr, "%s: the scale must be a positive integer\n", argv[0]);
        return 2;
    }

    pollux *p;
    int err = pollux_new(&p, POLLUX_BACKEND_AUTO);
    if (err < 0) {
        fprintf(stderr, "pollux_new: %s\n", strerror(-err));
        return 1;
    }

    /* Create the timer: no descriptor, an id in the poller. */
    int timer = pollux_timer_create(p, CLOCK_REALTIME, NULL);
    if (timer < 0) {
        fprintf(stderr, "pollux_timer_create: %s\n", strerror(-timer));
        pollux_free(p);
        return 1;
    }

    /* Start the timer in 1 second, with an interval of half a second. */
    err = pollux_timer_settime(p, timer, NS_PER_SEC / scale, NS_PER_SEC / 2 / scale, 0);
    if (err < 0) {
        fprintf(stderr, "pollux_timer_settime: %s\n", strerror(-err));
        pollux_free(p);
        return 1;
    }

    /* Process timer events four times. */
    int status = 0;
    for (int fired = 0; fired < 4;) {
        pollux_event ev;
        /* pollux_wait() blocks until the timer expires. */
        int n = pollux_wait(p, &ev, 1, -1);
        if (n < 0) {
            fprintf(stderr, "pollux_wait: %s\n", strerror(-n));
            status = 1;
            break;
        }
        if (n != 1)
            continue;
        switch (ev.kind) {
        case POLLUX_KIND_TIMER:
            printf("Timer expired\n");
            fflush(stdout);
            fired++;
            break;
        default: /* only a timer here */
            break;
        }
    }

    /* Remember to delete the timer (pollux_free would too). */
    pollux_timer_delete(p, timer);
    pollux_free(p);
    return status;
}
