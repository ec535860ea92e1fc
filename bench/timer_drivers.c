/*
 * timer_drivers.c - the timer drivers compiled into this build.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stddef.h>

#include "timer_driver.h"

uint64_t bench_timer_fired;

const struct timer_driver *const bench_timer_drivers[] = {
    &timer_pollux,
    &timer_pollux_looptime,
#ifdef BENCH_HAVE_LIBEV
    &timer_libev,
#endif
#ifdef BENCH_HAVE_LIBEVENT
    &timer_libevent,
#endif
#ifdef BENCH_HAVE_LIBUV
    &timer_libuv,
#endif
    NULL
};
