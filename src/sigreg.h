/*
 * sigreg.h - the process-wide side of signal watches (sigreg.c): which
 * signals pollux watches, what it did to each one's disposition and to
 * the signal mask, the shared sources the kernel or a handler makes
 * readable, and the count of deliveries per signal. It knows nothing of
 * pollers: signal.c is the poller's side.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_SIGREG_H
#define POLLUX_SIGREG_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "wake.h"

/* Signal numbers are below this (Linux has 64 signals, the BSDs fewer). */
#define POLLUX_NSIG 65

/* 0 when signo may be watched at all, else -EINVAL. */
int pollux_sigreg_check(int signo);
/* One more watch of signo by a poller whose backend delivers signals
 * through `source`: sets up the disposition or mask at the first one.
 * 0, -EBUSY (watched through another source now), or -errno. */
int pollux_sigreg_acquire(int signo, enum pollux_signal_source source);
/* One watch fewer: the last one restores what acquire changed. */
void pollux_sigreg_release(int signo);

/* A poller's own channel joins the broadcast made after a shared source
 * is drained. Returns the shared source to watch for `source` (a
 * signalfd or the handlers' channel), or -errno. */
int pollux_sigreg_subscribe(struct pollux_channel *own, enum pollux_signal_source source);
void pollux_sigreg_unsubscribe(struct pollux_channel *own);
/* The shared source polled readable: drain it and signal every
 * subscriber's channel but `self`'s. */
void pollux_sigreg_dispatch(int source_fd, const struct pollux_channel *self);
/* Deliveries of signo seen so far in this process (never decreases). */
uint64_t pollux_sigreg_hits(int signo);
/* In a child after fork(): the shared sources and the subscriber list
 * are the parent's; make this process's own. Idempotent. 0 or -errno. */
int pollux_sigreg_after_fork(void);

#endif
