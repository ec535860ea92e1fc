/*
 * helpers.h - descriptors, clocks and signals for the pollux tests.
 *
 * Every descriptor a helper opens is tracked, so that a test's teardown can
 * close what a failed assertion left open (cmocka jumps out of the test).
 * Close tracked descriptors with fd_close(), never with close().
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_TEST_HELPERS_H
#define POLLUX_TEST_HELPERS_H

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pollux.h"

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S  INT64_C(1000000000)

/* "success", or strerror(-r) for a negative errno result. */
const char *errname(int r);

/* expr must return want; a failure names both values (cmocka's fail_msg). */
#define assert_ret(expr, want)                                                   \
    do {                                                                         \
        int r_ = (expr);                                                         \
        int w_ = (want);                                                         \
        if (r_ != w_)                                                            \
            fail_msg("%s returned %d (%s), expected %d (%s)", #expr, r_,         \
                     errname(r_), w_, errname(w_));                              \
    } while (0)

/* The backend a per-backend suite was asked to run on (argv[1]): exits
 * with 2 for an unknown name and with 77, meson's "skipped", for one that
 * is not usable here. */
pollux_backend backend_from_argument(const char *program, const char *name);

/* A per-backend suite, run as "PROGRAM BACKEND [PATTERN]". */
struct backend_suite {
    const char *name;  /* the cmocka group is "NAME-BACKEND", as in meson test */
    pollux_backend *backend; /* set from BACKEND before any test runs */
    bool accepts_auto; /* BACKEND may be "auto": POLLUX_BACKEND_AUTO */
    CMFixtureFunction group_setup, group_teardown; /* or NULL */
};

/* The main() of a per-backend suite: sets *suite->backend from argv[1]
 * (backend_from_argument; exits with 2 on a usage error), runs only the
 * tests whose names match PATTERN or POLLUX_TEST_FILTER and skips those
 * matching POLLUX_TEST_SKIP (cmocka's * and ? wildcards), then runs the
 * group and returns its exit status. */
#define run_backend_suite(suite, argc, argv, tests)                              \
    run_backend_tests((suite), (argc), (argv), (tests), sizeof(tests) / sizeof((tests)[0]))
int run_backend_tests(const struct backend_suite *suite, int argc, char **argv,
                      const struct CMUnitTest *tests, size_t count);

/* The fixture of most per-backend tests: a new poller on the suite's
 * backend in *state; afterwards it is freed and every tracked descriptor
 * closed. */
int poller_setup(void **state);
int poller_teardown(void **state);

/* pollux_wait, retried while it fails with -EINTR. */
int wait_events(pollux *p, pollux_event *ev, int max, int64_t timeout_ns);

/* pollux_fileno(p), or skip the test where the backend has none here (the
 * conformance suite checks which backends must have one). */
int fileno_or_skip(pollux *p);

/* fd polls readable within timeout_ms (poll(2) retried on EINTR). */
int poll_readable(int fd, int timeout_ms);

/* Clocks, in nanoseconds. */
int64_t now_ns(void);      /* CLOCK_MONOTONIC */
int64_t cpu_ns(void);      /* CLOCK_PROCESS_CPUTIME_ID */
void sleep_ns(int64_t ns); /* sleeps the whole time, retrying on EINTR */

/* Descriptor tracking. */
void fd_track(int fd);
void fd_untrack(int fd);
void fd_close(int fd);    /* close and untrack; ignores -1 */
void fd_close_all(void);  /* close everything still tracked */
int fd_is_open(int fd);
/* Over libkqueue, wait until the descriptors of kqueues closed so far are
 * closed too (its monitoring thread does it a little later); elsewhere
 * nothing. Before looking at which numbers are open. */
void fd_settle(void);

void set_nonblock(int fd);

/* Non-blocking, close-on-exec pairs. fds[0] reads, fds[1] writes (pipe). */
void make_pipe(int fds[2]);
void make_socketpair(int fds[2]);

/* A listening TCP socket on 127.0.0.1 with an ephemeral port (stored in
 * *port, host order). Blocking. */
int tcp_listener(uint16_t *port);
/* A blocking TCP socket connected to 127.0.0.1:port (host order). */
int tcp_connect_loopback(uint16_t port);
/* A connected loopback TCP pair, both ends non-blocking. */
void tcp_pair(int *client, int *server);

/* A read-write regular file (already unlinked). */
int make_regular_file(void);

/* The read end of a pipe, registered with p for READ with data, then
 * closed with its pipe (without unregistering): a closed registered
 * number. */
int registered_then_closed(pollux *p, void *data);

/* Write one byte / read everything available (non-blocking fd). */
void write_byte(int fd);
void drain(int fd);

/* Install handler for signo without SA_RESTART (so that blocking calls
 * fail with EINTR); the old action is stored in *old. */
void sig_install(int signo, void (*handler)(int), struct sigaction *old);
void sig_restore(int signo, const struct sigaction *old);

/* Raise the soft RLIMIT_NOFILE to the hard limit (best effort) and return
 * the resulting soft limit. */
long raise_fd_limit(void);

#endif
