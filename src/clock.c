/*
 * clock.c - time conversions shared by the core and the backends.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <limits.h>

#include "clock.h"

#define NS_PER_SEC 1000000000LL
#define NS_PER_MS  1000000LL

int64_t pollux_clock_now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

struct timespec pollux_ns_to_timespec(int64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / NS_PER_SEC);
    ts.tv_nsec = (long)(ns % NS_PER_SEC);
    return ts;
}

int pollux_ns_to_ms_rounded_up(int64_t ns)
{
    if (ns < 0)
        return -1;
    int64_t ms = ns / NS_PER_MS + (ns % NS_PER_MS != 0);
    return ms > INT_MAX ? INT_MAX : (int)ms;
}
