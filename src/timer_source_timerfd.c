/*
 * timer_source_timerfd.c - the Linux timerfd kernel timer source.
 * Where there is no timerfd, pollux_timer_source_open() says -ENOTSUP and the
 * queue bounds the wait's timeout instead.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "clock.h"
#include "timer_source.h"

#ifdef HAVE_TIMERFD
#include <sys/timerfd.h>

#ifndef TFD_TIMER_CANCEL_ON_SET
#define TFD_TIMER_CANCEL_ON_SET (1 << 1)
#endif

int pollux_timer_source_open(clockid_t clock)
{
    int fd = timerfd_create(clock, TFD_NONBLOCK | TFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int pollux_timer_source_arm(int fd, clockid_t clock, int64_t deadline_ns)
{
    struct itimerspec spec = { .it_value = pollux_ns_to_timespec(deadline_ns) };
    if (deadline_ns <= 0)
        spec.it_value.tv_nsec = 1; /* 0 would disarm: "already due" is wanted */
    int flags = TFD_TIMER_ABSTIME;
    if (clock == CLOCK_REALTIME)
        flags |= TFD_TIMER_CANCEL_ON_SET; /* wake when the wall clock is set */
    return timerfd_settime(fd, flags, &spec, NULL) == 0 ? 0 : -errno;
}

void pollux_timer_source_ack(int fd)
{
    uint64_t expirations;
    /* EAGAIN: nothing to consume; ECANCELED: the clock was set. Either way
     * the queue re-reads the clock, which is all that is needed. */
    while (read(fd, &expirations, sizeof expirations) < 0 && errno == EINTR)
        continue;
}

#else

int pollux_timer_source_open(clockid_t clock)
{
    (void)clock;
    return -ENOTSUP;
}

int pollux_timer_source_arm(int fd, clockid_t clock, int64_t deadline_ns)
{
    (void)fd;
    (void)clock;
    (void)deadline_ns;
    return -ENOTSUP;
}

void pollux_timer_source_ack(int fd)
{
    (void)fd;
}

#endif
