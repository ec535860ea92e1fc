/*
 * wake.h - the channel behind pollux_wake() (and the ready flag): an
 * eventfd, or a non-blocking self-pipe.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_WAKE_H
#define POLLUX_WAKE_H

#include <stdatomic.h>

struct pollux_channel {
    int read_fd;
    int write_fd;           /* == read_fd for an eventfd */
    atomic_int pending;     /* 1 between a wake and the wait that reports it */
};

int  pollux_channel_open(struct pollux_channel *w);
void pollux_channel_close(struct pollux_channel *w);
/* Async-signal-safe; coalesces while a signal is pending. */
int  pollux_channel_signal(struct pollux_channel *w);
void pollux_channel_drain(struct pollux_channel *w);

#endif
