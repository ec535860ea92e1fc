/*
 * changes.h - the change list (backend.h): every interest change the core
 * makes goes through pollux_change(), which applies it at once or queues
 * it for the batch handed to the backend's next wait.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_CHANGES_H
#define POLLUX_CHANGES_H

#include "internal.h"

/* Take fd from mask `have` to `wanted` in the backend. Answers as the
 * backend's add/mod (POLLUX_ADD_* or -errno; -EBADF for a number that is
 * not open), POLLUX_ADD_WATCHED when queued; a removal always succeeds. */
int pollux_change(pollux *p, int fd, uint32_t have, uint32_t wanted);
/* The pending changes as a batch for the backend's wait ... */
void pollux_changes_batch(pollux *p, struct pollux_batch *batch);
/* ... and, after it, forget those it took. */
void pollux_changes_done(pollux *p, const struct pollux_batch *batch);
/* Apply every pending change at once (nested through pollux_fileno()). */
void pollux_changes_flush(pollux *p);
/* Forget every pending change (the kernel state is gone). */
void pollux_changes_drop(pollux *p);

#endif
