/*
 * wake.c - the channel behind pollux_wake(): an eventfd on Linux, a
 * non-blocking self-pipe elsewhere. The pending flag coalesces wakes so
 * that a burst of pollux_wake() calls costs one write and one event.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "wake.h"

#ifdef HAVE_EVENTFD
#include <sys/eventfd.h>
#endif

#ifndef HAVE_EVENTFD
static int set_cloexec_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}
#endif

int pollux_channel_open(struct pollux_channel *w)
{
    atomic_store(&w->pending, 0);
#ifdef HAVE_EVENTFD
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    w->read_fd = w->write_fd = fd;
    return 0;
#else
    int fds[2];
    if (pipe(fds) < 0)
        return -errno;
    int err = set_cloexec_nonblock(fds[0]);
    if (err == 0)
        err = set_cloexec_nonblock(fds[1]);
    if (err < 0) {
        close(fds[0]);
        close(fds[1]);
        return err;
    }
    w->read_fd = fds[0];
    w->write_fd = fds[1];
    return 0;
#endif
}

void pollux_channel_close(struct pollux_channel *w)
{
    if (w->read_fd >= 0)
        close(w->read_fd);
    if (w->write_fd >= 0 && w->write_fd != w->read_fd)
        close(w->write_fd);
    w->read_fd = w->write_fd = -1;
}

/* Async-signal-safe: an atomic exchange and at most one write(). */
int pollux_channel_signal(struct pollux_channel *w)
{
    if (atomic_exchange(&w->pending, 1) != 0)
        return 0; /* a wake is already on its way */
    int saved_errno = errno;
    uint64_t one = 1;
    ssize_t n;
    do {
#ifdef HAVE_EVENTFD
        n = write(w->write_fd, &one, sizeof one);
#else
        n = write(w->write_fd, &one, 1);
#endif
    } while (n < 0 && errno == EINTR);
    int err = 0;
    if (n < 0 && errno != EAGAIN) {
        /* Nothing was sent: let the next wake try again. (EAGAIN means
         * the channel is full, hence readable: that wake is on its way.) */
        err = -errno;
        atomic_store(&w->pending, 0);
    }
    errno = saved_errno;
    return err;
}

/*
 * Drain, then clear the flag: a wake that lands between the two finds the
 * flag still set and skips its write, which is right because the event
 * being reported now covers it.
 */
void pollux_channel_drain(struct pollux_channel *w)
{
    char buf[64];
    ssize_t n;
    do {
        n = read(w->read_fd, buf, sizeof buf);
    } while (n > 0 || (n < 0 && errno == EINTR));
    atomic_store(&w->pending, 0);
}
