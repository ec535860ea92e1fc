/*
 * poll_events.h - POLLUX bits to and from struct pollfd's, for the
 * backends that speak poll(2)'s language (poll, /dev/poll).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_POLL_EVENTS_H
#define POLLUX_POLL_EVENTS_H

#include <poll.h>
#include <stdint.h>

#include "backend.h"

static inline short to_poll_events(uint32_t mask)
{
    short ev = 0;
    if (mask & POLLUX_READ)  ev |= POLLIN;
    if (mask & POLLUX_WRITE) ev |= POLLOUT;
    if (mask & POLLUX_PRI)   ev |= POLLPRI;
#ifdef POLLRDHUP
    if (mask & POLLUX_RDHUP) ev |= POLLRDHUP;
#endif
    return ev;
}

/* The report for a pollfd's revents: POLLNVAL says the number was closed. */
static inline uint32_t from_poll_events(short ev)
{
    uint32_t bits = 0;
    if (ev & POLLIN)   bits |= POLLUX_READ;
    if (ev & POLLOUT)  bits |= POLLUX_WRITE;
    if (ev & POLLPRI)  bits |= POLLUX_PRI;
#ifdef POLLRDHUP
    if (ev & POLLRDHUP) bits |= POLLUX_RDHUP;
#endif
    if (ev & POLLHUP)  bits |= POLLUX_HUP;
    if (ev & POLLERR)  bits |= POLLUX_ERR;
    return bits;
}

static inline void pollux_report_from_poll(struct pollux_report *r, int fd, short revents)
{
    r->fd = fd;
    r->kind = (revents & POLLNVAL) ? POLLUX_REPORT_CLOSED : POLLUX_REPORT_READY;
    r->events = from_poll_events(revents);
}

#endif
