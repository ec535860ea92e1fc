/*
 * collect.h - what one pollux_wait() round reports: the kernel's reports
 * and the core's own sources (timers, always-ready files), in turn.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_COLLECT_H
#define POLLUX_COLLECT_H

#include "internal.h"

/* One round: up to max events, waiting up to timeout_ns for the kernel's;
 * the number stored, or -errno. */
int pollux_collect(pollux *p, pollux_event *out, int max, int64_t timeout_ns);
/* Keep the ready flag (what makes pollux_fileno() readable for sources
 * the kernel does not see) signalled exactly while such sources are
 * armed: 0 or the error of opening it (tried again at the next call). */
int pollux_sync_ready_flag(pollux *p);

#endif
