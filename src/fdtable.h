/*
 * fdtable.h - the per-number table (struct fd_entry in internal.h): the
 * user's registrations, the masks the backend has, the poller's own
 * descriptors.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_FDTABLE_H
#define POLLUX_FDTABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

/* Reset an entry, keeping its place on the change list. */
static inline void pollux_fdtable_reset(struct fd_entry *e, struct fd_entry fresh)
{
    fresh.queued = e->queued;
    *e = fresh;
}

/* The user's event for registration fd with these bits (collect.c, and
 * always_ready.c for the files the core reports itself). */
static inline void pollux_fdtable_event(const pollux *p, int fd, uint32_t bits, pollux_event *ev)
{
    ev->fd = fd;
    ev->events = bits;
    ev->count = 0;
    ev->data = p->fds[fd].data;
    ev->kind = POLLUX_KIND_FD;
    ev->serial = p->fds[fd].serial;
}

/* Room for fd in the table: 0 or -ENOMEM. */
int pollux_fdtable_reserve(pollux *p, int fd);
/* The user's registration of fd, also one shadowed by an internal
 * descriptor (closed_user), or NULL. */
struct fd_entry *pollux_fdtable_user(pollux *p, int fd);
/* Whether fd's registration is still the one with this serial
 * (pollux_event_current()). */
bool pollux_fdtable_current(const pollux *p, int fd, uint64_t serial);
/* The mask the kernel should have for an entry: 0 means "not watched". */
uint32_t pollux_fdtable_wanted(const pollux *p, uint32_t interest, uint8_t flags);
/* Give the backend the mask `wanted` for fd, whatever it has now; keeps
 * e->kernel and the always-ready list true, also when it fails. */
int pollux_fdtable_apply(pollux *p, int fd, struct fd_entry *e, uint32_t wanted);
/* Record fd as one of the poller's own descriptors (role): 0 or -errno. */
int pollux_fdtable_claim(pollux *p, int fd, enum fd_role role);
/* Claim fd and have the backend watch it for reading. */
int pollux_fdtable_watch_internal(pollux *p, int fd, enum fd_role role);

#endif
