/*
 * capabilities.h - what a backend can tell, read from its own declarations
 * (src/backend.h's backend_ops, through the registry), for the tests of
 * properties the contract lets backends differ in. A suite including this
 * links the library's objects, not only its public API (tests/meson.build).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_TEST_CAPABILITIES_H
#define POLLUX_TEST_CAPABILITIES_H

#include <stdbool.h>

#include "pollux.h"
#include "registry.h"

static inline const struct backend_ops *ops_of(const pollux *p)
{
    return pollux_registry_ops(pollux_backend_of(p));
}

/* Hang-up: select has only read, write and except sets. */
static inline bool reports_hup(const pollux *p)
{
    return ops_of(p)->reports & POLLUX_HUP;
}

static inline bool reports_rdhup(const pollux *p)
{
    return ops_of(p)->reports & POLLUX_RDHUP;
}

/* A socket error (refused connect). */
static inline bool reports_socket_err(const pollux *p)
{
    return ops_of(p)->reports & POLLUX_ERR;
}

/* An error condition on a pipe whose reader is gone (POLLERR); select shows
 * it as writable only, kqueue as EV_EOF (HUP). */
static inline bool reports_pipe_err(const pollux *p)
{
    return reports_socket_err(p) && (ops_of(p)->caps & POLLUX_CAP_PIPE_ERR);
}

/* POLLUX_PRI: kqueue has no out-of-band filter and refuses it (-ENOTSUP). */
static inline bool supports_pri(const pollux *p)
{
    return ops_of(p)->events & POLLUX_PRI;
}

static inline bool supports_edge(const pollux *p)
{
    return ops_of(p)->native_modes & POLLUX_EDGE;
}

/* pollux_fileno: a pollable kernel object (epoll, kqueue). */
static inline bool has_fileno(const pollux *p)
{
    return ops_of(p)->fileno != NULL;
}

#endif
