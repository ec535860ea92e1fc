/*
 * timer_source.h - a kernel timer that wakes the backend's wait at an
 * absolute deadline: Linux timerfd. Its descriptor is watched by the
 * backend like any other, so pollux_fileno() polls readable when a timer
 * is due, and the wake-up is as precise as the kernel's high-resolution
 * timers (no poll-timeout slack).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_TIMER_SOURCE_H
#define POLLUX_TIMER_SOURCE_H

#include <stdint.h>
#include <time.h>

/* The source fires when the wall clock is set (timerfd's CANCEL_ON_SET). */
#define POLLUX_TIMER_SOURCE_NOTICES_CLOCK_SET 1

/* A descriptor for clock, or -ENOTSUP where there is no kernel source. */
int  pollux_timer_source_open(clockid_t clock);
/* Fire at deadline_ns on the source's clock. On CLOCK_REALTIME the source
 * also fires when the wall clock is set, so the queue can look again. */
int  pollux_timer_source_arm(int fd, clockid_t clock, int64_t deadline_ns);
/* Consume a firing (or a clock-was-set notice). */
void pollux_timer_source_ack(int fd);

#endif
