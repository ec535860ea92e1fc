/*
 * platform.h - what this platform offers, for the files under src/.
 *
 * A meson build passes -DPOLLUX_HAVE_CONFIG_H and the probes' results come
 * from its config.h. A project that vendors pollux by copying the files
 * compiles without meson: then the platform is deduced here from the
 * compiler's predefined macros (see docs/vendoring.md).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_PLATFORM_H
#define POLLUX_PLATFORM_H

/* ppoll, POLLRDHUP, epoll_pwait2 and friends are GNU extensions in glibc. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1
#endif

#ifdef POLLUX_HAVE_CONFIG_H
#include "config.h"
#else
#define HAVE_BACKEND_SELECT 1
#define HAVE_BACKEND_POLL 1
#if defined(__linux__)
#define HAVE_BACKEND_EPOLL 1
#define HAVE_EVENTFD 1
#define HAVE_PPOLL 1
#define HAVE_TIMERFD 1
#define HAVE_SIGNALFD 1
#include <sys/syscall.h>
#ifdef SYS_pidfd_open
#define HAVE_PIDFD_OPEN 1
#endif
/* __GLIBC__ comes from the libc's own headers, not from the compiler: pull
 * in one (after _GNU_SOURCE above) before testing it. */
#include <limits.h>
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define HAVE_EPOLL_PWAIT2 1
#endif
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) \
    || defined(__OpenBSD__) || defined(__DragonFly__)
#define HAVE_BACKEND_KQUEUE 1
#elif defined(__sun)
#define HAVE_BACKEND_DEVPOLL 1
#endif
#endif

#endif
