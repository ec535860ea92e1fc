/*
 * clock.h - time conversions shared by the core and the backends.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_CLOCK_H
#define POLLUX_CLOCK_H

#include <stdint.h>
#include <time.h>

int64_t pollux_clock_now_ns(clockid_t clock);
struct timespec pollux_ns_to_timespec(int64_t ns);
/* Milliseconds for poll()-style timeouts, rounded up so a wait never ends early. */
int pollux_ns_to_ms_rounded_up(int64_t ns);

#endif
