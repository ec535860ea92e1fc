/*
 * childwatch.h - a poller's child-process watches (childwatch.c): the
 * core's side of pollux_child_add().
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_CHILDWATCH_H
#define POLLUX_CHILDWATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "internal.h"

int pollux_children_add(pollux *p, pid_t pid, void *data);
int pollux_children_remove(pollux *p, pid_t pid);
/* Remove every watch (pollux_free()). */
void pollux_children_free(pollux *p);
/* Whether any child is watched, or reported and not yet forgotten. */
bool pollux_children_watching(const pollux *p);
/* Whether pid's watch is still the one with this serial. */
bool pollux_children_current(const pollux *p, int pid, uint64_t serial);
/* True when a watched child has exited and waits to be reported. */
bool pollux_children_due(const pollux *p);
/* Reap exited children and store up to max POLLUX_CHILD events. */
int pollux_children_collect(pollux *p, pollux_event *out, int max);
/* Forget the watches reported by the last wait (called by the next). */
void pollux_children_forget_reported(pollux *p);
/* A pidfd (FD_CHILD) polled readable. */
void pollux_children_fd_ready(pollux *p, int fd);
/* The backend reported pid's exit (POLLUX_REPORT_CHILD). */
void pollux_children_exited(pollux *p, int pid);
/* pollux_after_fork(), once the new kernel state is up: in the process
 * that made the watches, watch again; in a child, drop them all. */
int pollux_children_rebuild(pollux *p);

#endif
