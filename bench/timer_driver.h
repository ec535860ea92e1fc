/*
 * timer_driver.h - the common interface of the timer comparison's drivers.
 *
 * A timer driver wraps one library's timers (pollux, libev, libevent,
 * libuv) behind the same calls, each the library's natural way to do it,
 * so that bench_timer_compare gives every library the same work. Timers
 * are numbered 0..n-1 by the harness and created in that order.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef BENCH_TIMER_DRIVER_H
#define BENCH_TIMER_DRIVER_H

#include <stddef.h>
#include <stdint.h>

struct timer_driver {
    const char *name;
    /* What one timer needs besides the library's queue, for the notes. */
    const char *storage;
    /* Create the loop and reserve room for n timers. The library's own
     * per-timer structures (ev_timer, struct event, uv_timer_t) are
     * allocated here but not touched, so their pages are counted when
     * create() fills them; pollux needs none (its ids array is touched
     * here: the user's handles are not the library's storage). 0 or -errno. */
    int (*setup)(void **state, int n);
    /* Initialise timer i, disarmed. */
    int (*create)(void *state, int i);
    /* Arm timer i to fire once, ns from now (the library's "now"). */
    int (*arm)(void *state, int i, int64_t ns);
    /* Keepalive: push armed timer i's expiry to ns from now. */
    int (*reset)(void *state, int i, int64_t ns);
    /* Disarm timer i, keeping it for reuse. */
    int (*cancel)(void *state, int i);
    /* One loop pass: block != 0 waits for the next expiry, else does not
     * wait at all. Fired timers are counted in bench_timer_fired. */
    int (*run)(void *state, int block);
    /* Stop every timer and free the loop. */
    void (*teardown)(void *state);
    /* The size of the structure a user allocates per timer (0: none). */
    size_t (*struct_size)(void);
};

/* Expirations counted by the drivers' callbacks since the last reset. */
extern uint64_t bench_timer_fired;

/* The drivers compiled into this build, NULL-terminated, pollux first. */
extern const struct timer_driver *const bench_timer_drivers[];

extern const struct timer_driver timer_pollux, timer_pollux_looptime, timer_libev, timer_libevent, timer_libuv;

#endif
