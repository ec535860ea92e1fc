/*
 * collect.h - what one pollux_wait() round reports: the kernel's reports
 * and the core's own sources (timers, always-ready files), in turn.
 * pollux_wait() itself is in collect.c.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_COLLECT_H
#define POLLUX_COLLECT_H

#include "internal.h"

/* Keep the ready flag (what makes pollux_fileno() readable for sources
 * the kernel does not see) signalled exactly while such sources are
 * armed: 0 or the error of opening it (tried again at the next call). */
int pollux_sync_ready_flag(pollux *p);

#endif
