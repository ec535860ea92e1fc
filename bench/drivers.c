/*
 * drivers.c - the list of drivers compiled into this build.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stddef.h>

#include "driver.h"

const struct driver *const bench_drivers[] = {
    &driver_epoll,
    &driver_epoll_edge,
    &driver_poll,
#ifdef BENCH_POLLUX_EPOLL
    &driver_pollux_epoll,
#endif
#ifdef BENCH_POLLUX_KQUEUE
    &driver_pollux_kqueue,
#endif
#ifdef BENCH_POLLUX_POLL
    &driver_pollux_poll,
#endif
#ifdef BENCH_POLLUX_SELECT
    &driver_pollux_select,
#endif
#ifdef BENCH_HAVE_LIBEV
    &driver_libev,
#endif
#ifdef BENCH_HAVE_LIBEVENT
    &driver_libevent,
#endif
#ifdef BENCH_HAVE_LIBUV
    &driver_libuv,
#endif
    NULL
};
