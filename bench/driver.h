/*
 * driver.h - the common interface of the readiness benchmark's drivers.
 *
 * A driver wraps one event mechanism (pollux on one backend, raw epoll,
 * raw poll, libev, libevent, libuv) behind the same four calls, so the
 * harness gives every mechanism exactly the same work: each ready
 * descriptor is passed to bench_readable(), which reads its byte and
 * writes one to the next socket of the chain.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef BENCH_DRIVER_H
#define BENCH_DRIVER_H

struct driver {
    const char *name;
    /* Create the loop and watch fds[0..n-1] for reading; the watcher of
     * fds[i] hands i to bench_readable(). 0 or -errno (-ENOTSUP: this
     * driver cannot watch these descriptors, e.g. select above FD_SETSIZE). */
    int (*setup)(void **state, const int *fds, int n);
    /* Re-register every watcher from scratch, the mechanism's natural way. */
    int (*rearm)(void *state);
    /* One wait (blocking until something is ready) and its dispatch.
     * Returns >= 0 (callbacks run, where the driver knows) or -errno. */
    int (*run_once)(void *state);
    /* Stop every watcher and free the loop; never closes fds. */
    void (*teardown)(void *state);
};

/* The harness's callback: fds[i] is readable. Every driver calls it. */
void bench_readable(int i);

/* The drivers compiled into this build, NULL-terminated, raw epoll first. */
extern const struct driver *const bench_drivers[];

extern const struct driver driver_epoll, driver_epoll_edge, driver_poll;
extern const struct driver driver_pollux_epoll, driver_pollux_kqueue, driver_pollux_poll,
    driver_pollux_select;
extern const struct driver driver_libev, driver_libevent, driver_libuv;

#endif
