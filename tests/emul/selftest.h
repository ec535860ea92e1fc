/*
 * selftest.h - what the emulations' self-tests (test_kqueue_emul.c,
 * test_devpoll_emul.c) share. They do not link the library, so they
 * cannot use tests/helpers.c. Include after <cmocka.h>.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_EMUL_SELFTEST_H
#define POLLUX_EMUL_SELFTEST_H

#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Write all of s in one call (a pipe or socket with room for it). */
static inline void write_bytes(int fd, const char *s)
{
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

#endif
