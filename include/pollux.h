/*
 * pollux.h - a portable I/O multiplexing library.
 *
 * One poller API over the kernel's readiness interfaces (select, poll,
 * epoll, kqueue, /dev/poll), with timers, signals, child processes and a
 * cross-thread wake.
 *
 * Conventions
 *   - Every function that can fail returns an int: >= 0 on success, a
 *     negative errno value (-EINVAL, -EBADF, ...) on failure. errno itself
 *     is not part of the contract and may be clobbered.
 *   - Times are int64_t nanoseconds.
 *   - A poller is used by one thread at a time. pollux_wake() is the only
 *     exception: it may be called from any thread and from a signal handler.
 *
 * The full reference is docs/reference.md.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_H
#define POLLUX_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(POLLUX_BUILDING) && defined(__GNUC__)
#define POLLUX_API __attribute__((visibility("default")))
#else
#define POLLUX_API
#endif

#define POLLUX_VERSION_MAJOR 0
#define POLLUX_VERSION_MINOR 2
#define POLLUX_VERSION_PATCH 0
#define POLLUX_VERSION_STRING "0.2.0"

/* An opaque poller. */
typedef struct pollux pollux;

/* The kernel interface behind a poller. */
typedef enum pollux_backend {
    POLLUX_BACKEND_AUTO = 0, /* the best one available; env POLLUX_BACKEND=name overrides */
    POLLUX_BACKEND_SELECT,
    POLLUX_BACKEND_POLL,
    POLLUX_BACKEND_EPOLL,
    POLLUX_BACKEND_KQUEUE,
    POLLUX_BACKEND_DEVPOLL
} pollux_backend;

/* Interest and readiness bits. */
#define POLLUX_READ   0x0001u /* readable, or a listening socket has a connection */
#define POLLUX_WRITE  0x0002u /* writable */
#define POLLUX_PRI    0x0004u /* urgent / out-of-band data */
#define POLLUX_RDHUP  0x0008u /* the peer shut down its writing half */

/* Readiness only: always reported for an armed registration. Accepted and
 * ignored in an interest. When either is reported, the READ and WRITE bits
 * of the interest are reported with it: a read or write would not block. */
#define POLLUX_HUP    0x0010u /* hang-up */
#define POLLUX_ERR    0x0020u /* error condition */

/* Readiness only: sources that are not descriptors. -EINVAL in an interest. */
#define POLLUX_TIMER  0x0040u /* a timer expired; event.count = expirations */
#define POLLUX_WAKE   0x0080u /* pollux_wake() was called; event.fd = -1 */
#define POLLUX_SIGNAL 0x0800u /* a watched signal was delivered; event.fd = the signal
                               * number, event.count = deliveries since the last report */
#define POLLUX_CHILD  0x1000u /* a watched child exited; event.fd = its pid */

/* Registration modes, ORed into an interest. */
#define POLLUX_ONESHOT   0x0100u /* after one report, disarmed until pollux_modify() */
#define POLLUX_EDGE      0x0200u /* edge-triggered; -ENOTSUP where the backend cannot */
#define POLLUX_EXCLUSIVE 0x0400u /* wake one of several pollers sharing the fd (epoll); a hint elsewhere */

/* Durations as int64_t nanoseconds, for pollux_wait()'s timeout and the
 * times of pollux_timer_settime(): POLLUX_MSEC(250), POLLUX_SEC(5).
 * n is an integer (POLLUX_USEC(1500) for 1.5 ms); the product is computed
 * in int64_t, so POLLUX_SEC(10) does not overflow an int. */
#define POLLUX_USEC(n) ((int64_t)(n) * 1000)
#define POLLUX_MSEC(n) ((int64_t)(n) * 1000000)
#define POLLUX_SEC(n)  ((int64_t)(n) * 1000000000)

/* Flag for pollux_timer_settime(): initial_ns is an absolute time on the
 * timer's clock. */
#define POLLUX_TIMER_ABSTIME 0x1u
/* Flag for pollux_timer_settime(): a relative initial_ns counts from the
 * loop time, the moment the last pollux_wait() read the clock, instead of
 * from the call: no clock reading per call, but the timer may fire up to
 * the time since that wait earlier than initial_ns after the call (never
 * before loop time + initial_ns). No effect with POLLUX_TIMER_ABSTIME. */
#define POLLUX_TIMER_LOOPTIME 0x2u

/* What produced an event: dispatch on event.kind, never on event.fd alone
 * (a timer id and a descriptor can have the same number). */
typedef enum pollux_kind {
    POLLUX_KIND_FD = 0, /* a registered descriptor: fd = the descriptor, events = readiness bits */
    POLLUX_KIND_TIMER,  /* a timer: fd = the timer id, count = expirations, events = POLLUX_TIMER */
    POLLUX_KIND_WAKE,   /* pollux_wake(): fd = -1, events = POLLUX_WAKE */
    POLLUX_KIND_SIGNAL, /* a watched signal: fd = the signal number, count = deliveries,
                         * events = POLLUX_SIGNAL */
    POLLUX_KIND_CHILD   /* a watched child exited: fd = its pid, status = its wait
                         * status, events = POLLUX_CHILD */
} pollux_kind;

/* One report. */
typedef struct pollux_event {
    int      fd;     /* the descriptor; the timer id for a timer; -1 for a wake;
                      * the signal number for a signal; the pid for a child */
    uint32_t events; /* readiness bits (POLLUX_TIMER and POLLUX_WAKE included) */
    uint64_t count;  /* a timer: expirations since the last report; a signal:
                      * deliveries since the last report; else 0 */
    void    *data;   /* the pointer given at registration (or timer creation),
                      * as it was when pollux_wait() filled the event */
    uint32_t kind;   /* a pollux_kind */
    int      status; /* POLLUX_KIND_CHILD: the wait status (WIFEXITED() and
                      * friends apply); else 0 */
    uint64_t serial; /* which registration or timer produced the event: for
                      * pollux_event_current(); never 0 in a filled event */
} pollux_event;

/*
 * pollux_new - create a poller.
 * backend: a specific backend, or POLLUX_BACKEND_AUTO for the best one
 * compiled in and usable here (epoll > kqueue > devpoll > poll > select).
 * With AUTO, the environment variable POLLUX_BACKEND=name (a name from
 * pollux_backend_name()) picks the backend instead.
 * Returns 0 and stores the poller in *out, or:
 *   -EINVAL   out is NULL, backend is out of range, or POLLUX_BACKEND names
 *             an unknown or unavailable backend (AUTO only)
 *   -ENOTSUP  the backend is not compiled in or not usable here
 *   -ENOMEM, -EMFILE, ... creating the kernel object failed
 */
POLLUX_API int pollux_new(pollux **out, pollux_backend backend);

/* pollux_free - destroy a poller and its timers. Does not close the
 * descriptors registered with it. pollux_free(NULL) does nothing. */
POLLUX_API void pollux_free(pollux *p);

/* pollux_backend_of - the backend a poller uses (never AUTO). */
POLLUX_API pollux_backend pollux_backend_of(const pollux *p);

/* pollux_backend_name - "select", "poll", "epoll", "kqueue", "devpoll";
 * "auto" for AUTO; NULL for a value outside the enum. */
POLLUX_API const char *pollux_backend_name(pollux_backend b);

/* pollux_backends - bit (1u << b) set for each backend usable here. */
POLLUX_API unsigned pollux_backends(void);

/* pollux_version - the library version as "major.minor.patch". */
POLLUX_API const char *pollux_version(void);

/*
 * pollux_fileno - a descriptor that polls readable when pollux_wait() has
 * something to report, for nesting a poller in another event loop.
 * Returns the descriptor (owned by the poller: do not close it), or
 * -ENOTSUP for backends with no pollable kernel object (select, poll,
 * /dev/poll, and kqueue built over libkqueue on Linux, whose descriptor
 * never polls readable),
 * -EINVAL for a NULL poller, or -EMFILE, -ENFILE, -ENOMEM when a descriptor
 * it needs to poll readable for what is pending now (the internal flag
 * for armed regular files, a timer source) cannot be opened (call it
 * again later). Each call opens what a shortage of descriptors left
 * missing; the first also opens the internal flag ahead of need.
 */
POLLUX_API int pollux_fileno(const pollux *p);

/*
 * pollux_register - watch fd for the readiness in events.
 * events: POLLUX_READ, _WRITE, _PRI, _RDHUP, optionally with a mode
 * (_ONESHOT, _EDGE, _EXCLUSIVE). 0 registers the fd paused: nothing at all
 * is reported until pollux_modify() gives it an interest. HUP and ERR are
 * accepted and ignored (they are always reported).
 * data: returned in every event of this fd.
 * Regular files, which the kernel reports as always ready, are reported
 * ready on every backend.
 * Returns 0, or:
 *   -EBADF    fd < 0, not an open descriptor, or one of the poller's own
 *             descriptors (its kernel object, wake channel, timer sources)
 *   -EEXIST   fd is already registered with this poller
 *   -EINVAL   unknown bits, TIMER or WAKE in events, EXCLUSIVE together with
 *             ONESHOT, RDHUP or PRI, or a NULL poller
 *   -ENOTSUP  EDGE on a backend that cannot deliver it faithfully
 *             (select, poll, /dev/poll); PRI on kqueue
 *   -ENOMEM
 */
POLLUX_API int pollux_register(pollux *p, int fd, uint32_t events, void *data);

/*
 * pollux_modify - replace the interest, mode and data of a registered fd.
 * Re-arms a ONESHOT registration that has fired. If the number was closed
 * and now names another file, the registration is re-established for that
 * file. Returns 0, or -EBADF (fd < 0, a number the poller now uses for one
 * of its own descriptors, or a number that is no longer open when the
 * modify has to hand it to the kernel again; see docs/reference.md),
 * -ENOENT (not registered), -ENOMEM, and the -EINVAL/-ENOTSUP of
 * pollux_register(). A modify that fails keeps the old setting.
 */
POLLUX_API int pollux_modify(pollux *p, int fd, uint32_t events, void *data);

/*
 * pollux_unregister - stop watching fd. Succeeds for an fd the caller has
 * already closed. Events of fd that a wait already returned are no longer
 * current (pollux_event_current()). Returns 0, or -EBADF (fd < 0), -ENOENT
 * (not registered).
 */
POLLUX_API int pollux_unregister(pollux *p, int fd);

/*
 * pollux_wait - wait for readiness and store up to max_events reports.
 * timeout_ns < 0 waits forever; 0 does not block. Returns the number of
 * events (>= 1), 0 when the timeout elapsed (never earlier), or:
 *   -EINVAL   events is NULL or max_events < 1
 *   -EINTR    a signal interrupted the wait (the caller decides to retry)
 * Each source appears at most once per call, its bits merged. When more
 * sources are ready than max_events, the others are reported by the next
 * calls: no source is starved. Each event says what produced it
 * (event.kind); handle only those for which pollux_event_current() is 1.
 */
POLLUX_API int pollux_wait(pollux *p, pollux_event *events, int max_events, int64_t timeout_ns);

/*
 * pollux_event_current - whether the source that produced *ev is still the
 * one registered: returns 1 when it is (the same registration, also after
 * pollux_modify() or a fired ONESHOT; the same timer, not armed or
 * disarmed since), 0 when it was removed since the wait that filled *ev
 * (pollux_unregister(), pollux_timer_delete()), also when its number or id
 * was reused since by a new registration or timer, and for a timer event
 * once pollux_timer_settime() re-armed or disarmed the timer (re-arming
 * discards pending expirations, a returned one included). Always 1
 * for a POLLUX_KIND_WAKE event; 0 for a NULL poller or event, or an
 * unknown kind. O(1), no system call, writes nothing.
 *
 * Handling one event can remove the source of a later event of the same
 * batch (a connection closed and freed, its timer deleted): skip those,
 * whose data may point at freed memory:
 *
 *     for (int i = 0; i < n; i++) {
 *         if (!pollux_event_current(p, &ev[i]))
 *             continue;
 *         switch (ev[i].kind) { ... }
 *     }
 */
POLLUX_API int pollux_event_current(const pollux *p, const pollux_event *ev);

/*
 * pollux_wake - make a wait in progress, or the next one, return a
 * POLLUX_KIND_WAKE event. Calls before that report coalesce into one event.
 * Safe from any thread and from a signal handler. Returns 0, -EINVAL, or
 * the error of writing to the wake channel (the next call tries again).
 */
POLLUX_API int pollux_wake(pollux *p);

/*
 * Timers. Ids are small integers (>= 0) in their own namespace; a timer's
 * expirations are reported by pollux_wait() as POLLUX_KIND_TIMER events
 * with event.fd = the id and event.count = expirations since the last report.
 * The semantics follow Linux timerfd; see docs/timers.md.
 *
 * pollux_timer_create - create a disarmed timer on clockid
 * (CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME where the OS has it).
 * Returns the id, or -EINVAL (other clocks), -ENOMEM.
 */
POLLUX_API int pollux_timer_create(pollux *p, int clockid, void *data);

/*
 * pollux_timer_settime - arm or disarm a timer. initial_ns == 0 disarms;
 * otherwise the first expiration is initial_ns from now, or at initial_ns
 * on the timer's clock with POLLUX_TIMER_ABSTIME. interval_ns == 0 is
 * one-shot. Re-arming discards pending expirations, so calling it again
 * is the way to reset a timer (an idle timeout pushed back on activity);
 * an expiration a wait already returned is discarded too: that event is
 * no longer current (pollux_event_current()). Disarming does the same.
 * POLLUX_TIMER_LOOPTIME counts a relative initial_ns from the loop time
 * (see above), which saves a clock reading on every reset.
 * Returns 0, or -ENOENT (no such timer), -EINVAL (negative values, unknown
 * flags; the old setting is kept).
 */
POLLUX_API int pollux_timer_settime(pollux *p, int timer, int64_t initial_ns,
                                    int64_t interval_ns, unsigned flags);

/*
 * pollux_timer_gettime - the time left to the next expiration (0 when
 * disarmed; always relative, also for ABSTIME timers) and the interval.
 * Either pointer may be NULL. Returns 0 or -ENOENT.
 */
POLLUX_API int pollux_timer_gettime(pollux *p, int timer, int64_t *remaining_ns,
                                    int64_t *interval_ns);

/* pollux_timer_delete - delete a timer; its id may be reused. Pending
 * expirations are dropped, and events of it that a wait already returned
 * are no longer current (pollux_event_current()). Returns 0 or -ENOENT. */
POLLUX_API int pollux_timer_delete(pollux *p, int timer);

/*
 * Signals. A watched signal's deliveries are reported by pollux_wait() as
 * POLLUX_SIGNAL events with event.fd = the signal number and event.count
 * = deliveries since the last report (>= 1; the kernel merges deliveries
 * of a standard signal that arrive while one is pending). Two pollers
 * watching one signal both report each delivery. What pollux does to the
 * disposition and the signal mask depends on the backend, and threaded
 * programs have a rule to follow: see docs/signals.md.
 *
 * pollux_signal_add - watch signo, with data returned in its events.
 * Returns 0, or:
 *   -EINVAL   a NULL poller, or signo is not a signal that can be watched:
 *             out of range, SIGKILL, SIGSTOP, the faults SIGSEGV, SIGBUS,
 *             SIGFPE, SIGILL, or a real-time signal the C library keeps
 *   -EEXIST   this poller already watches signo
 *   -EBUSY    a poller of a backend that watches signals another way
 *             (docs/signals.md) watches signo now
 *   -EIO      after a failed pollux_after_fork()
 *   -ENOMEM, -EMFILE, ... the descriptors or memory it needs
 */
POLLUX_API int pollux_signal_add(pollux *p, int signo, void *data);

/*
 * pollux_signal_remove - stop watching signo. Deliveries not reported yet
 * are dropped; the last watch of signo in the process restores the
 * disposition and the mask as they were before the first. Returns 0, or
 * -EINVAL (a NULL poller), -ENOENT (signo is not watched by p).
 */
POLLUX_API int pollux_signal_remove(pollux *p, int signo);

/*
 * Child processes. A watched child's exit is reported by pollux_wait() as
 * one POLLUX_CHILD event (kind POLLUX_KIND_CHILD) with event.fd = its pid
 * and event.status = its wait status (WIFEXITED(), WEXITSTATUS(),
 * WIFSIGNALED(), WTERMSIG() apply). pollux reaps the child when it
 * reports it (waitpid on that pid only: no other process is ever reaped),
 * and the watch ends with that report: the event stays current until the
 * next pollux_wait(). A child that exited before it was watched is
 * reported by the next wait. status is -1 when other code reaped the
 * child first (its status is lost then). See docs/signals.md.
 *
 * pollux_child_add - watch the child pid, with data returned in its event.
 * Returns 0, or:
 *   -EINVAL   a NULL poller or pid <= 0
 *   -ECHILD   pid is not a child of this process (or was reaped already)
 *   -EEXIST   this poller watches pid already
 *   -EBUSY    another poller of this process watches pid (only one can
 *             reap it)
 *   -EBUSY    also: SIGCHLD is how exits are learnt here and a poller of
 *             another kind of backend watches it (docs/signals.md)
 *   -EIO      after a failed pollux_after_fork()
 *   -ENOMEM, -EMFILE, ...
 */
POLLUX_API int pollux_child_add(pollux *p, int pid, void *data);

/*
 * pollux_child_remove - stop watching pid without reaping it (also a
 * watch whose exit was reported by the last wait: its event is then no
 * longer current). Returns 0, or -EINVAL (a NULL poller), -ENOENT (not
 * watched by p).
 */
POLLUX_API int pollux_child_remove(pollux *p, int pid);

/*
 * pollux_after_fork - call in a child process after fork() before using a
 * poller inherited from the parent: rebuilds the kernel state and keeps
 * every registration and timer. Nothing the child does afterwards changes
 * the parent's poller. In a process that did not fork it rebuilds as well
 * and returns 0. Returns 0 or a negative errno (-EMFILE, -ENOMEM, ...)
 * from creating kernel objects or registering again. All or nothing:
 * after a failure the poller has no kernel state and a pending wake is
 * kept for the next attempt; register, modify, unregister, wait, wake and
 * fileno return -EIO until pollux_after_fork() succeeds (timers and
 * pollux_free() keep working).
 *
 * Without it, the child shares the parent's kernel objects: its wakes wake
 * the parent, its waits can take the parent's wake and readiness, its
 * timers move the parent's timer wake-ups, and on epoll its register,
 * modify and unregister change the parent's kernel set (the parent can
 * miss events, and its next wait rebuilds its set; see docs/reference.md).
 * pollux_free() in the child is safe: it only closes the child's copies.
 */
POLLUX_API int pollux_after_fork(pollux *p);

#ifdef __cplusplus
}
#endif

#endif /* POLLUX_H */
