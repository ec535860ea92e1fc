/*
 * always_ready.h - descriptors the kernel refuses as always ready (epoll
 * and a regular file), which the core reports itself.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_ALWAYS_READY_H
#define POLLUX_ALWAYS_READY_H

#include <stdbool.h>

#include "internal.h"

/* Report fd as always ready from now on, naming the file it names now:
 * 0 or -errno. */
int pollux_always_ready_add(pollux *p, int fd);
/* Stop reporting fd. */
void pollux_always_ready_remove(pollux *p, int fd);
/* Whether any of them is armed (would be reported by the next wait). */
bool pollux_always_ready_any_armed(const pollux *p);
/* Store up to max events for them, in turn; returns how many. */
int pollux_always_ready_collect(pollux *p, pollux_event *out, int max);

#endif
