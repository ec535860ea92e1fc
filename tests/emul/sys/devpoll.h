/*
 * sys/devpoll.h - TEST-ONLY emulation of illumos' /dev/poll driver
 * (poll(4D), formerly poll(7D)) on Linux, so that pollux's /dev/poll
 * backend can run its conformance suite in Linux CI. See
 * docs/emulation.md for what it implements and what it does not.
 *
 * Linking the emulation interposes open(), write(), ioctl() and close()
 * process-wide: open("/dev/poll", O_RDWR) returns an emulated descriptor
 * and those calls on it behave as on illumos; every other path and
 * descriptor goes to the kernel unchanged.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_EMUL_SYS_DEVPOLL_H
#define POLLUX_EMUL_SYS_DEVPOLL_H

#include <poll.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Defined only by the emulation: lets a test tell it is not the real one. */
#define POLLUX_DEVPOLL_EMULATION 1

/* illumos' value. glibc's <poll.h> defines a Linux POLLREMOVE (0x1000)
 * with _GNU_SOURCE; the emulation understands only this one. */
#undef POLLREMOVE
#define POLLREMOVE 0x0800

/* illumos ioctl numbers: DPIOC is 0xD0 << 8. */
#define DPIOC       (0xD0 << 8)
#define DP_POLL     (DPIOC | 1) /* wait for events on the cached set */
#define DP_ISPOLLED (DPIOC | 2) /* is this descriptor in the set */

struct dvpoll {
    struct pollfd *dp_fds;    /* out: the ready descriptors */
    int            dp_nfds;   /* room in dp_fds */
    int            dp_timeout; /* milliseconds; -1 waits forever */
};

/* The same as open("/dev/poll", O_RDWR): a new, empty set. Returns the
 * descriptor or -1 with errno set. */
int devpoll_emul_open(void);

#ifdef __cplusplus
}
#endif

#endif
