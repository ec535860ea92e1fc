/*
 * lifecycle.h - a poller's kernel state: open, close, rebuild after fork,
 * and the wake-up that goes through it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_LIFECYCLE_H
#define POLLUX_LIFECYCLE_H

#include "internal.h"

/* Create the backend's kernel object and the wake channel, and watch the
 * channel: 0 or -errno. */
int pollux_lifecycle_open(pollux *p);
/* Close what pollux_lifecycle_open() made (never user descriptors). */
void pollux_lifecycle_close(pollux *p);
/* pollux_after_fork(): new kernel state with every registration, all or
 * nothing. */
int pollux_lifecycle_after_fork(pollux *p);
/* pollux_wake(): async-signal-safe. */
int pollux_lifecycle_wake(pollux *p);

#endif
