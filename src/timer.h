/*
 * timer.h - how the core drives the timer queue (timer.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_TIMER_H
#define POLLUX_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "pollux.h"

/* Release every timer and kernel timer source. */
void pollux_timers_free(pollux *p);
/* pollux_after_fork(): forget kernel sources before the core closes them
 * (pollux_timers_arm_sources() makes new ones once the new backend is up). */
void pollux_timers_before_rebuild(pollux *p);

/* A kernel timer source (timerfd) registered by timer.c polled readable. */
void pollux_timers_source_fd_ready(pollux *p, int fd);
/* The backend's own timer source fired (TIMER_SOURCE_BACKEND). */
void pollux_timers_source_fired(pollux *p);
/* True when at least one timer has expired and waits to be reported. */
bool pollux_timers_due(pollux *p);
/* Set the kernel sources to the earliest deadlines (see timer.c); 0 or
 * the error of a source that could not be opened or set now. */
int pollux_timers_arm_sources(pollux *p);
/* True when expired timers wait to be reported (no clock reading). */
bool pollux_timers_pending(const pollux *p);
/* The timeout shortened so the wait ends by the next deadline, where no
 * kernel source does it; called right after pollux_timers_due() returned
 * false, whose clock readings it uses. */
int64_t pollux_timers_clamp_timeout(pollux *p, int64_t timeout_ns);
/* Whether timer id is still the timer with this serial (pollux_event_current()). */
bool pollux_timers_current(const pollux *p, int id, uint64_t serial);
/* Store up to max POLLUX_TIMER events for expired timers; returns how many. */
int pollux_timers_collect(pollux *p, pollux_event *out, int max);

#endif
