/*
 * backend.h - the internal interface every backend implements.
 *
 * A backend only talks to the kernel. The core (pollux.c) owns argument
 * checks, the fd table, ONESHOT emulation, paused registrations, the
 * HUP/ERR rules and fairness between sources the kernel does not rotate.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_BACKEND_H
#define POLLUX_BACKEND_H

#include <stdint.h>
#include <time.h>

#include "pollux.h"

/*
 * The bits a backend sees in a mask: POLLUX_READ, _WRITE, _PRI, _RDHUP and
 * the modes it declares in native_modes (never a mode it did not declare).
 * The core only hands a backend a mask with at least one event bit.
 */
#define BACKEND_EVENT_BITS (POLLUX_READ | POLLUX_WRITE | POLLUX_PRI | POLLUX_RDHUP)
#define BACKEND_MODE_BITS  (POLLUX_ONESHOT | POLLUX_EDGE | POLLUX_EXCLUSIVE)

/* add() result: the kernel refuses to watch this descriptor because it is
 * always ready (epoll and regular files); the core reports it itself. */
#define BACKEND_ALWAYS_READY 1

/* Readiness bit a backend may report: the descriptor is no longer open
 * (POLLNVAL, or select's EBADF). The core drops the kernel registration and
 * keeps the user's, so that unregister and modify still work. */
#define BACKEND_NVAL 0x8000u

/* Readiness bit a backend may report: a deferred change found that the
 * number now names a file the kernel will not watch (epoll and a regular
 * file); the core reports it as always ready from now on. */
#define BACKEND_ALWAYS_READY_NOW 0x4000u

/* How timer.c makes the wait end at the next timer deadline. */
enum timer_source_kind {
    TIMER_SOURCE_TIMERFD, /* a timerfd per clock, watched like any fd (Linux) */
    TIMER_SOURCE_BACKEND, /* the backend's own, through timer_arm() (kqueue) */
    TIMER_SOURCE_TIMEOUT  /* none: the wait's timeout is shortened */
};

struct backend_ops {
    pollux_backend id;
    const char *name;

    /* Modes the kernel implements itself. The core emulates ONESHOT for a
     * backend without it, refuses EDGE with -ENOTSUP, and drops EXCLUSIVE
     * (a hint). */
    uint32_t native_modes;

    /* The interest bits (BACKEND_EVENT_BITS) the kernel can watch at all;
     * the core refuses the others with -ENOTSUP rather than never report. */
    uint32_t events;

    /* TIMER_SOURCE_TIMERFD falls back to TIMEOUT where there is no timerfd. */
    enum timer_source_kind timer_source;

    /* Create the kernel object; store private state in p->backend. */
    int (*init)(pollux *p);
    /* Release everything init() made. Must not touch user descriptors. */
    void (*destroy)(pollux *p);

    /* Start watching fd with mask. 0, BACKEND_ALWAYS_READY, or -errno
     * (-EBADF when fd is not open). */
    int (*add)(pollux *p, int fd, uint32_t mask);
    /* Change the mask of a watched fd; also re-arms a native ONESHOT and
     * must re-establish the watch when the number now names another file
     * (which the backend may check at its next wait). Returns 0,
     * BACKEND_ALWAYS_READY when that file is one the kernel refuses as
     * always ready, or -errno. */
    int (*mod)(pollux *p, int fd, uint32_t old_mask, uint32_t mask);
    /* Stop watching fd. Must succeed (return 0) when fd was closed. */
    int (*del)(pollux *p, int fd, uint32_t old_mask);

    /*
     * Wait up to timeout_ns (< 0 forever, 0 not at all, rounded up to the
     * kernel's granularity) and store at most max reports in out[]: fd and
     * readiness in POLLUX_* bits (READ WRITE PRI RDHUP HUP ERR, or
     * BACKEND_NVAL); count and data are the core's. Returns the number
     * stored, 0 on timeout (early returns are allowed: the core retries),
     * or -errno (-EINTR). When more descriptors are ready than max, the
     * backend must rotate so that every one is reported in turn.
     */
    int (*wait)(pollux *p, pollux_event *out, int max, int64_t timeout_ns);

    /* The kernel object's descriptor, or NULL when there is none. */
    int (*fileno)(const pollux *p);

    /* The descriptor init() opened for the kernel object, pollable or not;
     * NULL when there is none. No side effect (unlike fileno on kqueue). */
    int (*kernel_fd)(const pollux *p);

    /* TIMER_SOURCE_BACKEND only: fire once at deadline_ns on clock for the
     * timer queue `queue`, replacing what that queue set before. The wait
     * reports a firing as { .fd = -1, .events = POLLUX_TIMER }. */
    int (*timer_arm)(pollux *p, int queue, clockid_t clock, int64_t deadline_ns);

    /* Optional: the backend's own wake-up (kqueue's EVFILT_USER), set up by
     * init(). Must be async-signal-safe. The wait reports it as
     * { .fd = -1, .events = POLLUX_WAKE }. NULL: the core's wake channel. */
    int (*wake)(pollux *p);
};

/* One per backend file; each is defined only where meson compiled it. */
extern const struct backend_ops backend_select;
extern const struct backend_ops backend_poll;
extern const struct backend_ops backend_epoll;
extern const struct backend_ops backend_kqueue;
extern const struct backend_ops backend_devpoll;

/* The backends compiled into this build; NULL where not compiled. */
const struct backend_ops *backend_lookup(pollux_backend id);

#endif
