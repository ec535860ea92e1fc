/*
 * backend.h - the contract between the core and a backend.
 *
 * A backend only talks to the kernel; the core owns the rules (argument
 * checks, the fd table, ONESHOT emulation, paused registrations, the
 * HUP/ERR rules, fairness between its own sources). docs/internals.md
 * explains how to write a backend; in short:
 *
 *  - One file, src/backend_<name>.c, compiled only where meson's probe
 *    found the kernel interface. It includes this header and the small
 *    helpers (util.h, poll_events.h, clock.h), never the core's headers.
 *  - Its hooks receive only its own state (what init() stored), never the
 *    poller; it calls nothing in the core.
 *  - What it can do is declared as data in its backend_ops (modes, events,
 *    what it reports, capabilities); the core and the tests read them.
 *  - It hands back typed reports (struct pollux_report), and add()/mod()
 *    answer with enum pollux_add_result or -errno.
 *  - Its kernel quirks stay in its file.
 *  - It gets one row in registry.c and one probe in meson.build.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_BACKEND_H
#define POLLUX_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "pollux.h"

/* The interest bits a backend may be handed: POLLUX_READ, _WRITE, _PRI,
 * _RDHUP. With them come only the modes the backend declares in
 * native_modes. The core never hands over a mask without an event bit. */
#define BACKEND_EVENT_BITS (POLLUX_READ | POLLUX_WRITE | POLLUX_PRI | POLLUX_RDHUP)
/* The registration modes: ONESHOT, EDGE, EXCLUSIVE. */
#define BACKEND_MODE_BITS  (POLLUX_ONESHOT | POLLUX_EDGE | POLLUX_EXCLUSIVE)

/* What add() and mod() answer, besides -errno. */
enum pollux_add_result {
    POLLUX_ADD_WATCHED = 0,  /* the kernel watches the descriptor */
    POLLUX_ADD_ALWAYS_READY, /* the kernel refuses it as always ready (epoll
                              * and a regular file): the core reports it */
};

/* What one report from wait() is about. */
enum pollux_report_kind {
    POLLUX_REPORT_READY,        /* fd is ready: events holds POLLUX_READ, _WRITE,
                                 * _PRI, _RDHUP, _HUP, _ERR */
    POLLUX_REPORT_CLOSED,       /* fd is no longer open (POLLNVAL, EBADF): the core
                                 * stops watching it, keeps the registration */
    POLLUX_REPORT_ALWAYS_READY, /* a deferred check found that fd now names a file
                                 * the kernel refuses: the core reports it itself */
    POLLUX_REPORT_WAKE,         /* the backend's own wake-up (ops->wake) */
    POLLUX_REPORT_TIMER,        /* the backend's own timer (ops->timer_arm); fd is
                                 * the timer queue */
    POLLUX_REPORT_SIGNAL,       /* a signal watched through ops->signal_watch was
                                 * delivered: fd is the signal number, events the
                                 * deliveries since its last report (at least 1) */
    POLLUX_REPORT_CHILD,        /* a child watched through ops->child_watch exited:
                                 * fd is its pid */
};

struct pollux_report {
    int fd;
    uint32_t kind;   /* enum pollux_report_kind */
    uint32_t events; /* POLLUX_REPORT_READY only */
};

/*
 * The change list. The core records each descriptor's pending interest
 * change (one per fd: where the backend is, where it is to go) and, for
 * the kinds of change the backend declares in `batched`, hands them over
 * in one batch with the next wait instead of calling add/mod/del at once.
 * old_mask 0 is an add, new_mask 0 a removal, equal masks without ONESHOT
 * or EDGE a recheck (the number may name another file since: watch that
 * one), anything else a modify.
 */
struct pollux_change {
    int fd;
    uint16_t old_mask;
    uint16_t new_mask;
};

struct pollux_batch {
    const struct pollux_change *changes;
    int count;
    int taken; /* set by wait(): how many, from the first, it applied */
};

/* Kinds of change (backend_ops.batched). */
#define POLLUX_BATCH_ADD     0x1u
#define POLLUX_BATCH_MOD     0x2u
#define POLLUX_BATCH_DEL     0x4u
#define POLLUX_BATCH_RECHECK 0x8u

/* How timer.c makes the wait end at the next timer deadline. */
enum pollux_timer_source_kind {
    POLLUX_TIMER_SOURCE_TIMERFD, /* a timerfd per clock, watched like any fd (Linux);
                                  * falls back to TIMEOUT where there is none */
    POLLUX_TIMER_SOURCE_BACKEND, /* the backend's own, through timer_arm() (kqueue) */
    POLLUX_TIMER_SOURCE_TIMEOUT  /* none: the wait's timeout is shortened */
};

/* How signal.c learns of a watched signal's deliveries (docs/signals.md). */
enum pollux_signal_source {
    POLLUX_SIGNAL_SOURCE_HANDLER = 0, /* a sigaction handler counts them and writes a
                                       * channel the poller watches */
    POLLUX_SIGNAL_SOURCE_SIGNALFD,    /* the signal blocked and read from a signalfd
                                       * (Linux); falls back to HANDLER without one */
    POLLUX_SIGNAL_SOURCE_BACKEND      /* the backend's own (kqueue's EVFILT_SIGNAL),
                                       * through signal_watch() */
};

/* Capabilities (backend_ops.caps). */
#define POLLUX_CAP_PIPE_ERR   0x1u /* a pipe whose reader is gone reports ERR to its
                                    * writer (kqueue says HUP) */
#define POLLUX_CAP_CLOCK_SET  0x2u /* its own timer (timer_arm) also fires when the
                                    * wall clock is set */

struct backend_ops {
    /* Modes the kernel implements itself. The core emulates ONESHOT for a
     * backend without it, refuses EDGE with -ENOTSUP, and drops EXCLUSIVE
     * (a hint). */
    uint32_t native_modes;
    /* The interest bits (BACKEND_EVENT_BITS) the kernel can watch at all;
     * the core refuses the others with -ENOTSUP rather than never report. */
    uint32_t events;
    /* Which of POLLUX_HUP, POLLUX_ERR, POLLUX_RDHUP it can report at all
     * (select reports none of them). */
    uint32_t reports;
    /* POLLUX_CAP_* */
    uint32_t caps;
    /* POLLUX_BATCH_*: the changes it takes in the batch handed to wait();
     * the others (and all of them once the poller is nested through
     * pollux_fileno()) come at once through add/mod/del. A batched add is
     * only queued for a number that is open. */
    uint32_t batched;
    enum pollux_timer_source_kind timer_source;
    enum pollux_signal_source signal_source;

    /* Create the kernel object and the backend's state (*state). 0 or
     * -errno, with nothing left behind. */
    int (*init)(void **state);
    /* Release everything init() made. Must not touch user descriptors. */
    void (*destroy)(void *state);

    /* Start watching fd with mask: POLLUX_ADD_WATCHED,
     * POLLUX_ADD_ALWAYS_READY, or -errno (-EBADF when fd is not open). */
    int (*add)(void *state, int fd, uint32_t mask);
    /* Change the mask of a watched fd; also re-arms a native ONESHOT and
     * must re-establish the watch when the number now names another file
     * (which the backend may check at its next wait, then reporting
     * POLLUX_REPORT_ALWAYS_READY or _CLOSED for it). Answers as add(); a
     * failure leaves the old watch. */
    int (*mod)(void *state, int fd, uint32_t old_mask, uint32_t mask);
    /* Stop watching fd. Must succeed when fd was closed. */
    void (*del)(void *state, int fd, uint32_t old_mask);

    /*
     * Apply the batch's changes (setting batch->taken; those not taken come
     * again with the next wait), then wait up to timeout_ns (< 0 forever,
     * 0 not at all, rounded up to the kernel's granularity) and store at
     * most max reports in out[]. A batched change that finds its number
     * closed is reported POLLUX_REPORT_CLOSED, one that finds a file the
     * kernel refuses POLLUX_REPORT_ALWAYS_READY.
     * Returns the number stored, 0 on timeout (early returns are allowed:
     * the core retries), or -errno (-EINTR). Fewer reports than max,
     * once the wait has returned, say that nothing else is ready: a
     * backend whose kernel results merge (kqueue's two filters of one
     * descriptor) asks again rather than stop short. When more descriptors are
     * ready than max, the backend must rotate so that every one is
     * reported in turn (util.h's rotation helper).
     */
    int (*wait)(void *state, struct pollux_batch *batch, struct pollux_report *out, int max,
                int64_t timeout_ns);

    /* Optional: the kernel object's pollable descriptor (pollux_fileno());
     * NULL where there is none. */
    int (*fileno)(void *state);
    /* Optional: the descriptor init() opened, pollable or not, which the
     * core keeps out of the user's hands. No side effect (unlike fileno on
     * kqueue). NULL where there is none. */
    int (*kernel_fd)(const void *state);
    /* POLLUX_TIMER_SOURCE_BACKEND only: fire once at deadline_ns on clock
     * for the timer queue `queue`, replacing what that queue set before;
     * wait() then reports POLLUX_REPORT_TIMER. */
    int (*timer_arm)(void *state, int queue, clockid_t clock, int64_t deadline_ns);
    /* Optional: the backend's own wake-up (kqueue's EVFILT_USER), set up by
     * init(); must be async-signal-safe; wait() then reports
     * POLLUX_REPORT_WAKE. NULL: the core's wake channel. */
    int (*wake)(void *state);
    /* POLLUX_SIGNAL_SOURCE_BACKEND only: start (on) or stop reporting
     * deliveries of signo as POLLUX_REPORT_SIGNAL, at once. 0 or -errno;
     * stopping always succeeds. The core sets the disposition. */
    int (*signal_watch)(void *state, int signo, bool on);
    /* Optional: the backend's own watch of a child's exit (kqueue's
     * EVFILT_PROC), at once: 0, -ESRCH when it has exited already, or
     * -errno; stopping always succeeds. wait() then reports
     * POLLUX_REPORT_CHILD once. NULL: the core uses a pidfd. */
    int (*child_watch)(void *state, int pid, bool on);
};

#endif
