/*
 * backends.c - which backends this build has, as decided by meson's probes.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <stddef.h>

#include "backend.h"

const struct backend_ops *backend_lookup(pollux_backend id)
{
    switch (id) {
#ifdef HAVE_BACKEND_SELECT
    case POLLUX_BACKEND_SELECT:
        return &backend_select;
#endif
#ifdef HAVE_BACKEND_POLL
    case POLLUX_BACKEND_POLL:
        return &backend_poll;
#endif
#ifdef HAVE_BACKEND_EPOLL
    case POLLUX_BACKEND_EPOLL:
        return &backend_epoll;
#endif
#ifdef HAVE_BACKEND_KQUEUE
    case POLLUX_BACKEND_KQUEUE:
        return &backend_kqueue;
#endif
#ifdef HAVE_BACKEND_DEVPOLL
    case POLLUX_BACKEND_DEVPOLL:
        return &backend_devpoll;
#endif
    default:
        return NULL;
    }
}
