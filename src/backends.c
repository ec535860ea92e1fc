/*
 * backends.c - which backends this build has, as decided by meson's probes.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <stddef.h>

#include "backend.h"

const struct backend_ops *pollux_backend_lookup(pollux_backend id)
{
    switch (id) {
#ifdef HAVE_BACKEND_SELECT
    case POLLUX_BACKEND_SELECT:
        return &pollux_backend_select;
#endif
#ifdef HAVE_BACKEND_POLL
    case POLLUX_BACKEND_POLL:
        return &pollux_backend_poll;
#endif
#ifdef HAVE_BACKEND_EPOLL
    case POLLUX_BACKEND_EPOLL:
        return &pollux_backend_epoll;
#endif
#ifdef HAVE_BACKEND_KQUEUE
    case POLLUX_BACKEND_KQUEUE:
        return &pollux_backend_kqueue;
#endif
#ifdef HAVE_BACKEND_DEVPOLL
    case POLLUX_BACKEND_DEVPOLL:
        return &pollux_backend_devpoll;
#endif
    default:
        return NULL;
    }
}
