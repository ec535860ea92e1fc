/*
 * sigwatch.h - a poller's signal watches (sigwatch.c): the core's side of
 * pollux_signal_add(), on top of the process-wide sigreg.c.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_SIGWATCH_H
#define POLLUX_SIGWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

int pollux_signals_add(pollux *p, int signo, void *data);
int pollux_signals_remove(pollux *p, int signo);
/* Whether any signal is watched now. */
bool pollux_signals_watching(const pollux *p);
/* Whether signo's watch is still the one with this serial. */
bool pollux_signals_current(const pollux *p, int signo, uint64_t serial);
/* The core's own watch of signo (childwatch.c's SIGCHLD), beside the
 * user's and reported to nobody: 0 or -errno; and its end. */
int pollux_signals_hold(pollux *p, int signo);
void pollux_signals_unhold(pollux *p, int signo);
/* Whether signo was delivered since the holders last took the news ... */
bool pollux_signals_held_news(const pollux *p, int signo);
/* ... and taking them. */
bool pollux_signals_take_held(pollux *p, int signo);
/* Remove every watch (pollux_free()). */
void pollux_signals_free(pollux *p);
/* True when a watched signal has deliveries to report. */
bool pollux_signals_due(const pollux *p);
/* Store up to max POLLUX_SIGNAL events, in turn; returns how many. */
int pollux_signals_collect(pollux *p, pollux_event *out, int max);
/* One of the poller's FD_SIGNAL descriptors polled readable. */
void pollux_signals_fd_ready(pollux *p, int fd);
/* The backend reported deliveries (POLLUX_REPORT_SIGNAL). */
void pollux_signals_fired(pollux *p, int signo, uint32_t count);
/* pollux_after_fork(), once the new kernel state is up: watch again. */
int pollux_signals_rebuild(pollux *p);

#endif
