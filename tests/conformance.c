/*
 * conformance.c - the cases every pollux backend must pass.
 *
 * One program, run once per backend: `conformance <backend-name>`. Every
 * test creates its poller with that backend; where the contract lets
 * backends differ (HUP on select, RDHUP, EDGE, pollux_fileno) the test asks
 * pollux_backend_of() and checks what that backend must do.
 *
 * Timers and pollux_after_fork are tested elsewhere.
 *
 * POLLUX_TEST_FILTER=pattern / POLLUX_TEST_SKIP=pattern (cmocka wildcards)
 * run or skip only the matching tests.
 *
 * Timing: the machine running this is shared and noisy. Tests only check
 * that a wait never returns before its timeout, plus generous upper bounds
 * that catch hangs; they never check speed.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pollux.h"
#include "capabilities.h"
#include "helpers.h"

/* Upper bound for anything that should happen "at once": only catches hangs. */
#define HANG_NS (5 * NS_PER_S)

static pollux_backend g_backend;

/* ------------------------------------------------------------------ */
/* Assertions with readable messages                                   */


static const char *bits_str(uint32_t b, char *buf, size_t size)
{
    static const struct { uint32_t bit; const char *name; } names[] = {
        { POLLUX_READ, "READ" },   { POLLUX_WRITE, "WRITE" },
        { POLLUX_PRI, "PRI" },     { POLLUX_RDHUP, "RDHUP" },
        { POLLUX_HUP, "HUP" },     { POLLUX_ERR, "ERR" },
        { POLLUX_TIMER, "TIMER" }, { POLLUX_WAKE, "WAKE" },
    };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (b & names[i].bit) {
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "|" : "",
                                     names[i].name);
            b &= ~names[i].bit;
            if (used >= size)
                return buf;
        }
    }
    if (b)
        snprintf(buf + used, size - used, "%s0x%x", used ? "|" : "", (unsigned)b);
    else if (!used)
        snprintf(buf, size, "0");
    return buf;
}

#define assert_events(got, want)                                                 \
    do {                                                                         \
        uint32_t g_ = (got), w_ = (want);                                        \
        char gb_[96], wb_[96];                                                   \
        if (g_ != w_)                                                            \
            fail_msg("events %s, expected %s", bits_str(g_, gb_, sizeof gb_),    \
                     bits_str(w_, wb_, sizeof wb_));                             \
    } while (0)

#define assert_has_events(got, want)                                             \
    do {                                                                         \
        uint32_t g_ = (got), w_ = (want);                                        \
        char gb_[96], wb_[96];                                                   \
        if ((g_ & w_) != w_)                                                     \
            fail_msg("events %s, expected at least %s",                          \
                     bits_str(g_, gb_, sizeof gb_), bits_str(w_, wb_, sizeof wb_)); \
    } while (0)

/* Readiness is within the interest, plus HUP and ERR. */
#define assert_within_interest(got, interest)                                    \
    do {                                                                         \
        uint32_t g_ = (got);                                                     \
        uint32_t a_ = ((interest) & (POLLUX_READ | POLLUX_WRITE | POLLUX_PRI |    \
                                     POLLUX_RDHUP)) | POLLUX_HUP | POLLUX_ERR;    \
        char gb_[96], wb_[96];                                                   \
        if (g_ & ~a_)                                                            \
            fail_msg("events %s outside the interest (allowed: %s)",             \
                     bits_str(g_, gb_, sizeof gb_), bits_str(a_, wb_, sizeof wb_)); \
    } while (0)

/* ------------------------------------------------------------------ */
/* Backend properties the contract lets differ                          */

static pollux_backend backend(const pollux *p)
{
    return pollux_backend_of(p);
}

/*
 * What each backend can tell (docs/portability.md) comes from its own
 * declarations (capabilities.h). A test of a property a backend cannot see
 * checks the weaker thing that backend must still do (e.g. select shows a
 * hang-up as READ).
 */

/* The one kqueue without a pollable descriptor is libkqueue's. */
static int is_libkqueue(const pollux *p)
{
    return backend(p) == POLLUX_BACKEND_KQUEUE && !has_fileno(p);
}

/* ------------------------------------------------------------------ */
/* Waiting helpers                                                      */

/* One wait that must not fail. */
static int wait_ok(pollux *p, pollux_event *ev, int max, int64_t timeout_ns)
{
    int n = pollux_wait(p, ev, max, timeout_ns);
    if (n < 0)
        fail_msg("pollux_wait(timeout %lld ns) failed: %d (%s)", (long long)timeout_ns, n,
                 errname(n));
    if (n > max)
        fail_msg("pollux_wait returned %d > max_events %d", n, max);
    return n;
}

/* Each source appears at most once per call. */
static void assert_distinct(const pollux_event *ev, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (ev[i].fd == ev[j].fd)
                fail_msg("fd %d reported twice in one wait", ev[i].fd);
}

static const pollux_event *find_fd(const pollux_event *ev, int n, int fd)
{
    for (int i = 0; i < n; i++)
        if (ev[i].fd == fd)
            return &ev[i];
    return NULL;
}

/* Wait up to HANG_NS for an event on fd and return it. */
static pollux_event expect_event(pollux *p, int fd)
{
    pollux_event ev[16];
    int64_t deadline = now_ns() + HANG_NS;
    for (;;) {
        int64_t left = deadline - now_ns();
        if (left < 0)
            left = 0;
        int n = wait_ok(p, ev, 16, left);
        assert_distinct(ev, n);
        const pollux_event *e = find_fd(ev, n, fd);
        if (e) {
            if (e->count != 0)
                fail_msg("fd event with count %llu, expected 0", (unsigned long long)e->count);
            return *e;
        }
        if (left == 0)
            fail_msg("no event for fd %d within %lld ms", fd, (long long)(HANG_NS / NS_PER_MS));
    }
}

/* Wait up to HANG_NS for an event on fd that has at least these bits (for
 * TCP, where what the peer sent arrives asynchronously). */
static pollux_event expect_event_with(pollux *p, int fd, uint32_t bits)
{
    int64_t deadline = now_ns() + HANG_NS;
    for (;;) {
        pollux_event e = expect_event(p, fd);
        if ((e.events & bits) == bits || now_ns() > deadline)
            return e;
        sleep_ns(NS_PER_MS);
    }
}

/* The next wait reports exactly one event: fd with these bits and data. */
static void expect_only(pollux *p, int fd, uint32_t events, void *data)
{
    pollux_event ev[8];
    int n = wait_ok(p, ev, 8, HANG_NS);
    if (n != 1) {
        char b[96];
        fail_msg("wait returned %d events, expected 1 (first: fd %d %s)", n,
                 n > 0 ? ev[0].fd : -2, n > 0 ? bits_str(ev[0].events, b, sizeof b) : "-");
    }
    assert_int_equal(ev[0].fd, fd);
    assert_events(ev[0].events, events);
    assert_ptr_equal(ev[0].data, data);
    assert_int_equal(ev[0].count, 0);
}

/* A wait with this timeout reports nothing. */
static void expect_nothing(pollux *p, int64_t timeout_ns)
{
    pollux_event ev[8];
    int n = wait_ok(p, ev, 8, timeout_ns);
    if (n != 0) {
        char b[96];
        fail_msg("wait reported %d events, expected none (first: fd %d %s)", n, ev[0].fd,
                 bits_str(ev[0].events, b, sizeof b));
    }
}

/* A wait with this timeout reports nothing, returns no earlier than the
 * timeout and does not spin: CPU time stays below half the wall time. */
static void expect_quiet_wait(pollux *p, int64_t timeout_ns, int rounds)
{
    int64_t c0 = cpu_ns(), t0 = now_ns();
    for (int i = 0; i < rounds; i++) {
        int64_t s = now_ns();
        expect_nothing(p, timeout_ns);
        int64_t e = now_ns() - s;
        if (e < timeout_ns)
            fail_msg("wait returned 0 after %lld ns, before its %lld ns timeout", (long long)e,
                     (long long)timeout_ns);
        if (e > timeout_ns + HANG_NS)
            fail_msg("wait with %lld ns timeout took %lld ns", (long long)timeout_ns, (long long)e);
    }
    int64_t wall = now_ns() - t0, cpu = cpu_ns() - c0;
    if (cpu * 2 > wall)
        fail_msg("wait spun: %lld ns CPU in %lld ns wall", (long long)cpu, (long long)wall);
}

/* ------------------------------------------------------------------ */
/* Signals and background threads                                      */

static volatile sig_atomic_t g_signals;
static pollux *volatile g_sig_poller;

static void on_signal_count(int signo)
{
    (void)signo;
    g_signals++;
}

static void on_signal_wake(int signo)
{
    (void)signo;
    g_signals++;
    if (g_sig_poller)
        pollux_wake(g_sig_poller);
}

enum bg_action { BG_WRITE, BG_WAKE, BG_SIGNAL_ONCE, BG_SIGNAL_REPEAT };

/*
 * A thread that acts on the main thread's blocked wait after 50 ms, then
 * acts as a watchdog: if the wait has not returned after HANG_NS it wakes
 * the poller and sends SIGUSR1, so that a broken library fails the test
 * instead of hanging it.
 */
struct bg {
    pthread_t thread;
    pthread_t main;
    pollux *p;
    int fd;
    int signo;
    enum bg_action action;
    atomic_int done;
};

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    sleep_ns(50 * NS_PER_MS);
    switch (b->action) {
    case BG_WRITE:
        if (write(b->fd, "x", 1) != 1)
            abort();
        break;
    case BG_WAKE:
        pollux_wake(b->p);
        break;
    case BG_SIGNAL_ONCE:
    case BG_SIGNAL_REPEAT:
        pthread_kill(b->main, b->signo);
        break;
    }
    int64_t t0 = now_ns();
    while (!atomic_load(&b->done)) {
        sleep_ns(20 * NS_PER_MS);
        if (atomic_load(&b->done))
            break;
        if (b->action == BG_SIGNAL_REPEAT)
            pthread_kill(b->main, b->signo);
        if (now_ns() - t0 > HANG_NS) {
            pollux_wake(b->p);
            pthread_kill(b->main, SIGUSR1);
        }
    }
    return NULL;
}

static void bg_start(struct bg *b, pollux *p, enum bg_action action, int fd, int signo)
{
    b->main = pthread_self();
    b->p = p;
    b->fd = fd;
    b->signo = signo;
    b->action = action;
    atomic_init(&b->done, 0);
    assert_int_equal(pthread_create(&b->thread, NULL, bg_main, b), 0);
}

static void bg_stop(struct bg *b)
{
    atomic_store(&b->done, 1);
    pthread_join(b->thread, NULL);
}

/* ------------------------------------------------------------------ */
/* Fixture                                                              */

static int teardown_poller(void **state)
{
    g_sig_poller = NULL;
    return poller_teardown(state);
}

/* A descriptor number that is not open. */
static int closed_fd(void)
{
    int fds[2];
    make_pipe(fds);
    fd_close(fds[0]);
    fd_close(fds[1]);
    assert_false(fd_is_open(fds[0]));
    return fds[0];
}

static int tok[16]; /* distinct data pointers: &tok[i] */

/* ------------------------------------------------------------------ */
/* Poller                                                               */

static void new_poller_uses_requested_backend(void **state)
{
    pollux *p = *state;
    assert_int_equal(pollux_backend_of(p), g_backend);
    assert_string_equal(pollux_backend_name(pollux_backend_of(p)), pollux_backend_name(g_backend));
}

static void free_does_not_close_registered_fds(void **state)
{
    (void)state;
    pollux *q = NULL;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_new(&q, g_backend), 0);
    assert_ret(pollux_register(q, a[0], POLLUX_READ, NULL), 0);
    assert_ret(pollux_register(q, a[1], POLLUX_WRITE, NULL), 0);
    pollux_free(q);
    assert_true(fd_is_open(a[0]));
    assert_true(fd_is_open(a[1]));
    write_byte(a[1]);
    char c;
    assert_int_equal(read(a[0], &c, 1), 1);
}

static void two_pollers_watch_the_same_fd_independently(void **state)
{
    pollux *p = *state;
    pollux *q = NULL;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_new(&q, g_backend), 0);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_register(q, a[0], POLLUX_READ, &tok[1]), 0);
    write_byte(a[1]);
    expect_only(p, a[0], POLLUX_READ, &tok[0]);
    expect_only(q, a[0], POLLUX_READ, &tok[1]);
    assert_ret(pollux_unregister(p, a[0]), 0);
    expect_nothing(p, 0);
    expect_only(q, a[0], POLLUX_READ, &tok[1]);
    assert_ret(pollux_unregister(q, a[0]), 0);
    pollux_free(q);
}

/* ------------------------------------------------------------------ */
/* register                                                             */

static void register_negative_fd_fails_with_ebadf(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_register(p, -1, POLLUX_READ, NULL), -EBADF);
    assert_ret(pollux_register(p, INT_MIN, POLLUX_READ, NULL), -EBADF);
}

static void register_closed_fd_fails_with_ebadf(void **state)
{
    pollux *p = *state;
    int fd = closed_fd();
    assert_ret(pollux_register(p, fd, POLLUX_READ, NULL), -EBADF);
    /* A failed register leaves nothing behind. */
    assert_ret(pollux_unregister(p, fd), -ENOENT);
}

static void register_huge_fd_fails_with_ebadf(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_register(p, INT_MAX, POLLUX_READ, NULL), -EBADF);
    assert_ret(pollux_register(p, 1 << 24, POLLUX_READ, NULL), -EBADF);
}

static void register_twice_fails_with_eexist(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    assert_ret(pollux_register(p, s[0], POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_register(p, s[0], POLLUX_READ, &tok[1]), -EEXIST);
    assert_ret(pollux_register(p, s[0], POLLUX_WRITE, &tok[1]), -EEXIST);
    /* The first registration is untouched. */
    write_byte(s[1]);
    expect_only(p, s[0], POLLUX_READ, &tok[0]);
}

static void register_unknown_bits_fails_with_einval(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    static const uint32_t bad[] = { 0x0800u, 0x1000u, 0x8000u, 0x10000u, 0x80000000u,
                                    0xffffffffu, POLLUX_READ | 0x40000000u };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (pollux_register(p, s[0], bad[i], NULL) != -EINVAL)
            fail_msg("register with events 0x%x did not fail with -EINVAL", (unsigned)bad[i]);
    }
    /* Nothing was registered by the failed calls. */
    assert_ret(pollux_register(p, s[0], POLLUX_READ, NULL), 0);
}

static void register_timer_or_wake_in_interest_fails_with_einval(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    assert_ret(pollux_register(p, s[0], POLLUX_TIMER, NULL), -EINVAL);
    assert_ret(pollux_register(p, s[0], POLLUX_WAKE, NULL), -EINVAL);
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_TIMER, NULL), -EINVAL);
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_WAKE, NULL), -EINVAL);
    assert_ret(pollux_modify(p, s[0], POLLUX_READ, NULL), -ENOENT);
    assert_ret(pollux_register(p, s[0], POLLUX_READ, NULL), 0);
}

static void register_hup_and_err_in_interest_are_accepted_and_ignored(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    /* s[0] is writable but not readable: with interest READ nothing shows. */
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_HUP | POLLUX_ERR, &tok[0]), 0);
    expect_nothing(p, 0);
    write_byte(s[1]);
    expect_only(p, s[0], POLLUX_READ, &tok[0]);

    int t[2];
    make_socketpair(t);
    assert_ret(pollux_register(p, t[0], POLLUX_HUP, NULL), 0);
    assert_ret(pollux_register(p, t[1], POLLUX_ERR, NULL), 0);
    assert_ret(pollux_modify(p, t[0], POLLUX_WRITE | POLLUX_HUP | POLLUX_ERR, NULL), 0);
}

static void register_after_unregister_succeeds(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    assert_ret(pollux_register(p, s[0], POLLUX_WRITE, &tok[0]), 0);
    assert_ret(pollux_unregister(p, s[0]), 0);
    assert_ret(pollux_register(p, s[0], POLLUX_WRITE, &tok[1]), 0);
    expect_only(p, s[0], POLLUX_WRITE, &tok[1]);
}

/* Interest 0: registered but paused. Even a hang-up is not reported, and the
 * pending hang-up must not make the wait return early or spin. */
static void zero_interest_reports_nothing_even_hup(void **state)
{
    pollux *p = *state;
    int a[2], s[2];
    make_pipe(a);
    make_socketpair(s);
    int f = make_regular_file();
    write_byte(a[1]);
    fd_close(a[1]); /* a[0]: data and hang-up */
    write_byte(s[1]);
    fd_close(s[1]); /* s[0]: data, peer gone */
    assert_ret(pollux_register(p, a[0], 0, &tok[0]), 0);
    assert_ret(pollux_register(p, s[0], 0, &tok[1]), 0);
    assert_ret(pollux_register(p, f, 0, &tok[2]), 0);
    expect_nothing(p, 0);
    expect_quiet_wait(p, 100 * NS_PER_MS, 2);
    /* Still registered: */
    assert_ret(pollux_register(p, a[0], POLLUX_READ, NULL), -EEXIST);
    assert_ret(pollux_modify(p, a[0], POLLUX_READ, &tok[3]), 0);
    pollux_event e = expect_event(p, a[0]);
    assert_ptr_equal(e.data, &tok[3]);
    assert_has_events(e.events, POLLUX_READ);
    assert_ret(pollux_unregister(p, a[0]), 0);
    assert_ret(pollux_unregister(p, s[0]), 0);
    assert_ret(pollux_unregister(p, f), 0);
}

/* ------------------------------------------------------------------ */
/* modify                                                               */

static void modify_unregistered_fd_fails_with_enoent(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    assert_ret(pollux_modify(p, s[0], POLLUX_READ, NULL), -ENOENT);
    assert_ret(pollux_modify(p, closed_fd(), POLLUX_READ, NULL), -ENOENT);
}

static void modify_negative_fd_fails_with_ebadf(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_modify(p, -1, POLLUX_READ, NULL), -EBADF);
    assert_ret(pollux_modify(p, INT_MIN, POLLUX_READ, NULL), -EBADF);
}

static void modify_and_unregister_of_huge_fd_fail_with_enoent(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_modify(p, INT_MAX, POLLUX_READ, NULL), -ENOENT);
    assert_ret(pollux_unregister(p, INT_MAX), -ENOENT);
}

static void modify_with_invalid_interest_fails_with_einval_and_keeps_registration(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    assert_ret(pollux_register(p, s[0], POLLUX_WRITE, &tok[0]), 0);
    assert_ret(pollux_modify(p, s[0], 0x0800u, NULL), -EINVAL);
    assert_ret(pollux_modify(p, s[0], 0x80000000u, NULL), -EINVAL);
    assert_ret(pollux_modify(p, s[0], POLLUX_READ | POLLUX_TIMER, NULL), -EINVAL);
    assert_ret(pollux_modify(p, s[0], POLLUX_READ | POLLUX_WAKE, NULL), -EINVAL);
    assert_ret(pollux_modify(p, s[0], POLLUX_READ | POLLUX_EXCLUSIVE | POLLUX_ONESHOT, NULL),
               -EINVAL);
    expect_only(p, s[0], POLLUX_WRITE, &tok[0]);
    assert_ret(pollux_unregister(p, s[0]), 0);
}

static void modify_replaces_interest(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    /* writable, not readable */
    assert_ret(pollux_register(p, s[0], POLLUX_READ, &tok[0]), 0);
    expect_nothing(p, 0);
    assert_ret(pollux_modify(p, s[0], POLLUX_WRITE, &tok[0]), 0);
    expect_only(p, s[0], POLLUX_WRITE, &tok[0]);
    assert_ret(pollux_modify(p, s[0], POLLUX_READ, &tok[0]), 0);
    expect_nothing(p, 0);
    write_byte(s[1]);
    expect_only(p, s[0], POLLUX_READ, &tok[0]);
    assert_ret(pollux_modify(p, s[0], POLLUX_READ | POLLUX_WRITE, &tok[0]), 0);
    expect_only(p, s[0], POLLUX_READ | POLLUX_WRITE, &tok[0]);
}

static void modify_replaces_data(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    assert_ret(pollux_register(p, s[0], POLLUX_WRITE, &tok[0]), 0);
    expect_only(p, s[0], POLLUX_WRITE, &tok[0]);
    assert_ret(pollux_modify(p, s[0], POLLUX_WRITE, &tok[1]), 0);
    expect_only(p, s[0], POLLUX_WRITE, &tok[1]);
    assert_ret(pollux_modify(p, s[0], POLLUX_WRITE, NULL), 0);
    expect_only(p, s[0], POLLUX_WRITE, NULL);
}

static void modify_to_zero_interest_pauses(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    write_byte(s[1]);
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_WRITE, &tok[0]), 0);
    expect_only(p, s[0], POLLUX_READ | POLLUX_WRITE, &tok[0]);
    assert_ret(pollux_modify(p, s[0], 0, &tok[1]), 0);
    expect_nothing(p, 0);
    fd_close(s[1]); /* hang-up while paused */
    expect_quiet_wait(p, 50 * NS_PER_MS, 1);
    assert_ret(pollux_modify(p, s[0], POLLUX_READ, &tok[2]), 0);
    pollux_event e = expect_event(p, s[0]);
    assert_ptr_equal(e.data, &tok[2]);
    assert_has_events(e.events, POLLUX_READ);
    assert_within_interest(e.events, POLLUX_READ);
}

/* ------------------------------------------------------------------ */
/* unregister                                                           */

static void unregister_unregistered_fd_fails_with_enoent(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    assert_ret(pollux_unregister(p, s[0]), -ENOENT);
    assert_ret(pollux_unregister(p, closed_fd()), -ENOENT);
}

static void unregister_negative_fd_fails_with_ebadf(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_unregister(p, -1), -EBADF);
    assert_ret(pollux_unregister(p, INT_MIN), -EBADF);
}

static void unregister_twice_fails_with_enoent(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    assert_ret(pollux_register(p, s[0], POLLUX_READ, NULL), 0);
    assert_ret(pollux_unregister(p, s[0]), 0);
    assert_ret(pollux_unregister(p, s[0]), -ENOENT);
    assert_ret(pollux_modify(p, s[0], POLLUX_READ, NULL), -ENOENT);
}

static void unregister_stops_reports(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    write_byte(s[1]);
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_WRITE, NULL), 0);
    assert_ret(pollux_register(p, s[1], POLLUX_WRITE, &tok[1]), 0);
    assert_ret(pollux_unregister(p, s[0]), 0);
    expect_only(p, s[1], POLLUX_WRITE, &tok[1]);
    assert_ret(pollux_unregister(p, s[1]), 0);
    expect_nothing(p, 0);
}

static void unregister_of_closed_fd_succeeds(void **state)
{
    pollux *p = *state;
    int a[2], s[2];
    make_pipe(a);
    make_socketpair(s);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, NULL), 0);
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_WRITE, NULL), 0);
    fd_close(a[0]);
    fd_close(s[0]);
    assert_ret(pollux_unregister(p, a[0]), 0);
    /* Also after a wait has seen the number closed. */
    expect_nothing(p, 0);
    assert_ret(pollux_unregister(p, s[0]), 0);
    assert_ret(pollux_unregister(p, s[0]), -ENOENT);
    expect_nothing(p, 0);
}

/* ------------------------------------------------------------------ */
/* wait: arguments and timeouts                                        */

static void wait_with_null_events_fails_with_einval(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_wait(p, NULL, 1, 0), -EINVAL);
    assert_ret(pollux_wait(p, NULL, 8, -1), -EINVAL);
}

static void wait_with_max_events_below_one_fails_with_einval(void **state)
{
    pollux *p = *state;
    pollux_event ev[1];
    /* -1 timeout: a library that checked nothing would block here; the
     * argument check must come first. */
    assert_ret(pollux_wait(p, ev, 0, 0), -EINVAL);
    assert_ret(pollux_wait(p, ev, -1, 0), -EINVAL);
    assert_ret(pollux_wait(p, ev, INT_MIN, 0), -EINVAL);
    assert_ret(pollux_wait(p, ev, 0, -1), -EINVAL);
}

static void wait_timeout_elapses_fully_before_returning_zero(void **state)
{
    pollux *p = *state;
    int a[2], s[2];
    make_pipe(a);
    make_socketpair(s);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, NULL), 0);
    /* Writable, but only READ is of interest: the kernel's report must not
     * end the wait early. */
    assert_ret(pollux_register(p, s[0], POLLUX_READ, NULL), 0);
    for (int i = 0; i < 3; i++) {
        int64_t t0 = now_ns();
        expect_nothing(p, 50 * NS_PER_MS);
        int64_t e = now_ns() - t0;
        if (e < 50 * NS_PER_MS)
            fail_msg("50 ms wait returned after %lld ns", (long long)e);
        if (e > HANG_NS)
            fail_msg("50 ms wait took %lld ns", (long long)e);
    }
}

static void wait_timeout_with_nothing_registered_elapses_fully(void **state)
{
    pollux *p = *state;
    int64_t t0 = now_ns();
    expect_nothing(p, 50 * NS_PER_MS);
    int64_t e = now_ns() - t0;
    if (e < 50 * NS_PER_MS)
        fail_msg("50 ms wait returned after %lld ns", (long long)e);
    if (e > HANG_NS)
        fail_msg("50 ms wait took %lld ns", (long long)e);
}

static void wait_zero_timeout_does_not_block(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, NULL), 0);
    int64_t t0 = now_ns();
    for (int i = 0; i < 10; i++)
        expect_nothing(p, 0);
    int64_t e = now_ns() - t0;
    if (e > HANG_NS)
        fail_msg("10 waits with timeout 0 took %lld ns", (long long)e);
    /* Timeout 0 with something ready reports it. */
    write_byte(a[1]);
    pollux_event ev[4];
    assert_int_equal(wait_ok(p, ev, 4, 0), 1);
    assert_int_equal(ev[0].fd, a[0]);
}

/* Sub-millisecond and odd timeouts are rounded up, never down. */
static void wait_small_timeouts_never_return_early(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, NULL), 0);
    static const int64_t timeouts[] = {
        1, 999, 1000, 1001, 1500, 999999, NS_PER_MS, NS_PER_MS + 1, 1500000,
        2 * NS_PER_MS + 500, 10 * NS_PER_MS + 1,
    };
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        for (int rep = 0; rep < 3; rep++) {
            int64_t t0 = now_ns();
            expect_nothing(p, timeouts[i]);
            int64_t e = now_ns() - t0;
            if (e < timeouts[i])
                fail_msg("wait(%lld ns) returned 0 after %lld ns", (long long)timeouts[i],
                         (long long)e);
            if (e > HANG_NS)
                fail_msg("wait(%lld ns) took %lld ns", (long long)timeouts[i], (long long)e);
        }
    }
}

/* One wait of timeout_ns while a thread writes to the pipe a: it returns
 * a single event, a[0] readable with the data registered for it. */
static void wait_returns_on_a_write_from_another_thread(pollux *p, const int a[2],
                                                        int64_t timeout_ns, void *data)
{
    struct bg b;
    bg_start(&b, p, BG_WRITE, a[1], 0);
    pollux_event ev[4];
    int n = pollux_wait(p, ev, 4, timeout_ns);
    bg_stop(&b);
    assert_ret(n, 1);
    assert_int_equal(ev[0].fd, a[0]);
    assert_events(ev[0].events, POLLUX_READ);
    assert_ptr_equal(ev[0].data, data);
}

static void wait_forever_returns_when_fd_becomes_ready(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    wait_returns_on_a_write_from_another_thread(p, a, -1, &tok[0]);
}

static void wait_any_negative_timeout_waits_until_fd_ready(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    wait_returns_on_a_write_from_another_thread(p, a, INT64_MIN, &tok[0]);
}

/* A timeout near INT64_MAX must not overflow into "already expired". A
 * registered fd closed behind the poller's back makes some backends wake
 * early and retry with the time left, which is where an overflowed
 * deadline would show. */
static void wait_huge_timeout_does_not_overflow(void **state)
{
    pollux *p = *state;
    int a[2], c[2];
    make_pipe(a);
    make_pipe(c);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_register(p, c[0], POLLUX_READ, &tok[1]), 0);
    fd_close(c[0]);
    wait_returns_on_a_write_from_another_thread(p, a, INT64_MAX, &tok[0]);
}

/* Decision 8: an interrupted kernel call returns -EINTR; SIGUSR1's handler
 * was installed without SA_RESTART. */
static void wait_forever_interrupted_by_signal_returns_eintr(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, NULL), 0);
    struct bg b;
    g_signals = 0;
    /* The signal repeats every 20 ms, so that one delivered before the wait
     * started is followed by one during it. */
    bg_start(&b, p, BG_SIGNAL_REPEAT, -1, SIGUSR1);
    pollux_event ev[4];
    int n = pollux_wait(p, ev, 4, -1);
    bg_stop(&b);
    assert_true(g_signals > 0);
    assert_ret(n, -EINTR);
}

static void wait_with_timeout_interrupted_by_sigalrm_returns_eintr(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, NULL), 0);
    g_signals = 0;
    struct itimerval it = { { 0, 50000 }, { 0, 50000 } }; /* every 50 ms */
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    pollux_event ev[4];
    int64_t t0 = now_ns();
    int n = pollux_wait(p, ev, 4, 10 * NS_PER_S);
    int64_t e = now_ns() - t0;
    struct itimerval off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_REAL, &off, NULL);
    assert_true(g_signals > 0);
    assert_ret(n, -EINTR);
    assert_true(e < 10 * NS_PER_S);
}

/* ------------------------------------------------------------------ */
/* wait: what is reported                                              */

static void event_carries_registered_data_and_zero_count(void **state)
{
    pollux *p = *state;
    enum { N = 8 };
    int s[N][2];
    for (int i = 0; i < N; i++) {
        make_socketpair(s[i]);
        assert_ret(pollux_register(p, s[i][0], POLLUX_WRITE, &tok[i]), 0);
    }
    pollux_event ev[N + 4];
    memset(ev, 0xa5, sizeof ev); /* count and data must be written, not left */
    int n = wait_ok(p, ev, N + 4, HANG_NS);
    assert_int_equal(n, N);
    assert_distinct(ev, n);
    for (int i = 0; i < N; i++) {
        const pollux_event *e = find_fd(ev, n, s[i][0]);
        assert_non_null(e);
        assert_ptr_equal(e->data, &tok[i]);
        assert_int_equal(e->count, 0);
        assert_events(e->events, POLLUX_WRITE);
    }
}

static void read_and_write_are_merged_into_one_event(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    write_byte(s[1]);
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_WRITE, &tok[0]), 0);
    pollux_event ev[8];
    int n = wait_ok(p, ev, 8, HANG_NS);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].fd, s[0]);
    assert_events(ev[0].events, POLLUX_READ | POLLUX_WRITE);
    assert_ptr_equal(ev[0].data, &tok[0]);
}

static void readiness_outside_interest_is_not_reported(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    write_byte(s[1]);
    /* s[0] is readable and writable. */
    assert_ret(pollux_register(p, s[0], POLLUX_WRITE, &tok[0]), 0);
    expect_only(p, s[0], POLLUX_WRITE, &tok[0]);
    assert_ret(pollux_modify(p, s[0], POLLUX_READ, &tok[0]), 0);
    expect_only(p, s[0], POLLUX_READ, &tok[0]);
    if (supports_pri(p)) {
        assert_ret(pollux_modify(p, s[0], POLLUX_PRI, &tok[0]), 0);
        expect_nothing(p, 0);
    }
}

static void each_source_is_reported_once_per_wait(void **state)
{
    pollux *p = *state;
    enum { N = 10 };
    int s[N][2];
    for (int i = 0; i < N; i++) {
        make_socketpair(s[i]);
        write_byte(s[i][1]);
        assert_ret(pollux_register(p, s[i][0], POLLUX_READ | POLLUX_WRITE, &tok[i]), 0);
    }
    for (int round = 0; round < 3; round++) {
        pollux_event ev[64];
        int n = wait_ok(p, ev, 64, HANG_NS);
        assert_int_equal(n, N);
        assert_distinct(ev, n);
        for (int i = 0; i < N; i++) {
            const pollux_event *e = find_fd(ev, n, s[i][0]);
            assert_non_null(e);
            assert_events(e->events, POLLUX_READ | POLLUX_WRITE);
            assert_ptr_equal(e->data, &tok[i]);
        }
    }
}

/* n ready sockets, waits of max_events: every one is reported within
 * ceil(n / max_events) waits plus a few. */
static void check_no_starvation(pollux *p, int n, int max_events, int waits)
{
    int (*s)[2] = calloc((size_t)n, sizeof *s);
    int *seen = calloc((size_t)n, sizeof *seen);
    pollux_event *ev = calloc((size_t)max_events, sizeof *ev);
    assert_non_null(s);
    assert_non_null(seen);
    assert_non_null(ev);
    for (int i = 0; i < n; i++) {
        make_socketpair(s[i]);
        write_byte(s[i][1]);
        assert_ret(pollux_register(p, s[i][0], POLLUX_READ, (void *)(uintptr_t)(i + 1)), 0);
    }
    int missing = n;
    for (int w = 0; w < waits && missing > 0; w++) {
        int got = wait_ok(p, ev, max_events, HANG_NS);
        assert_true(got >= 1);
        assert_distinct(ev, got);
        for (int k = 0; k < got; k++) {
            uintptr_t id = (uintptr_t)ev[k].data;
            if (id < 1 || id > (uintptr_t)n || s[id - 1][0] != ev[k].fd)
                fail_msg("unexpected event fd %d data %p", ev[k].fd, ev[k].data);
            assert_events(ev[k].events, POLLUX_READ);
            if (!seen[id - 1]++)
                missing--;
        }
    }
    if (missing > 0) {
        for (int i = 0; i < n; i++)
            if (!seen[i])
                fail_msg("%d of %d ready fds never reported in %d waits of max_events %d "
                         "(e.g. fd %d)", missing, n, waits, max_events, s[i][0]);
    }
    for (int i = 0; i < n; i++) {
        assert_ret(pollux_unregister(p, s[i][0]), 0);
        fd_close(s[i][0]);
        fd_close(s[i][1]);
    }
    free(ev);
    free(seen);
    free(s);
}

static void ready_sources_are_not_starved_with_max_events_1(void **state)
{
    check_no_starvation(*state, 100, 1, 100 + 10);
}

static void ready_sources_are_not_starved_with_max_events_7(void **state)
{
    check_no_starvation(*state, 100, 7, (100 + 6) / 7 + 5);
}

/* Regular files (always ready; epoll refuses them) share the turns with
 * kernel-watched descriptors. */
static void regular_files_and_sockets_are_not_starved_with_max_events_1(void **state)
{
    pollux *p = *state;
    enum { N = 5 };
    int files[N], s[N][2];
    for (int i = 0; i < N; i++) {
        files[i] = make_regular_file();
        make_socketpair(s[i]);
        write_byte(s[i][1]);
        assert_ret(pollux_register(p, files[i], POLLUX_READ, &tok[i]), 0);
        assert_ret(pollux_register(p, s[i][0], POLLUX_READ, &tok[N + i]), 0);
    }
    int seen[2 * N] = { 0 };
    for (int w = 0; w < 2 * N + 4; w++) {
        pollux_event ev[1];
        assert_int_equal(wait_ok(p, ev, 1, HANG_NS), 1);
        int idx = (int)((int *)ev[0].data - tok);
        assert_true(idx >= 0 && idx < 2 * N);
        assert_int_equal(ev[0].fd, idx < N ? files[idx] : s[idx - N][0]);
        seen[idx]++;
    }
    for (int i = 0; i < 2 * N; i++)
        if (!seen[i])
            fail_msg("%s %d never reported", i < N ? "regular file" : "socket",
                     i < N ? files[i] : s[i - N][0]);
}

static void listening_socket_is_readable_when_a_connection_is_pending(void **state)
{
    pollux *p = *state;
    uint16_t port;
    int l = tcp_listener(&port);
    set_nonblock(l);
    assert_ret(pollux_register(p, l, POLLUX_READ, &tok[0]), 0);
    expect_nothing(p, 10 * NS_PER_MS);
    tcp_connect_loopback(port); /* tracked: the teardown closes it */
    pollux_event e = expect_event(p, l);
    assert_events(e.events, POLLUX_READ);
    assert_ptr_equal(e.data, &tok[0]);
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(s >= 0);
    fd_track(s);
}

static void pipe_write_end_reports_write(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[1], POLLUX_WRITE, &tok[0]), 0);
    expect_only(p, a[1], POLLUX_WRITE, &tok[0]);
    /* Full pipe: no longer writable. */
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    while (write(a[1], buf, sizeof buf) > 0)
        ;
    expect_nothing(p, 0);
    drain(a[0]);
    expect_only(p, a[1], POLLUX_WRITE, &tok[0]);
}

/* ------------------------------------------------------------------ */
/* HUP, ERR, RDHUP, PRI                                                 */

/* Decision 4: an empty pipe whose writer is gone is READ|HUP. select has
 * no hang-up set: it sees end of file as readable, so it reports READ. */
static void pipe_writer_closed_reports_read_and_hup(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    expect_nothing(p, 0);
    fd_close(a[1]);
    pollux_event e = expect_event(p, a[0]);
    assert_ptr_equal(e.data, &tok[0]);
    assert_events(e.events, reports_hup(p) ? POLLUX_READ | POLLUX_HUP : POLLUX_READ);
}

/* Decision 4: with HUP every READ and WRITE bit of the interest comes too,
 * even WRITE on a pipe's read end (a write would not block: it fails). */
static void hup_comes_with_every_read_and_write_bit_of_the_interest(void **state)
{
    pollux *p = *state;
    if (!reports_hup(p)) {
        print_message("%s cannot see a hang-up on a pipe; decision 4 does not apply\n",
                      pollux_backend_name(backend(p)));
        skip();
    }
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    assert_ret(pollux_register(p, a[0], POLLUX_READ | POLLUX_WRITE, &tok[0]), 0);
    assert_ret(pollux_register(p, b[0], POLLUX_WRITE, &tok[1]), 0);
    fd_close(a[1]);
    fd_close(b[1]);
    pollux_event e = expect_event(p, a[0]);
    assert_events(e.events, POLLUX_READ | POLLUX_WRITE | POLLUX_HUP);
    e = expect_event(p, b[0]);
    assert_events(e.events, POLLUX_WRITE | POLLUX_HUP);
}

static void pipe_reader_closed_reports_write_and_err(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[1], POLLUX_WRITE, &tok[0]), 0);
    fd_close(a[0]);
    pollux_event e = expect_event(p, a[1]);
    assert_ptr_equal(e.data, &tok[0]);
    assert_within_interest(e.events, POLLUX_WRITE);
    if (reports_pipe_err(p))
        assert_has_events(e.events, POLLUX_WRITE | POLLUX_ERR);
    else
        assert_has_events(e.events, POLLUX_WRITE);
}

/* A non-blocking connect to a closed loopback port is refused: ERR, and by
 * decision 4 the WRITE of the interest. select shows it as writable only. */
static void refused_connect_reports_err_and_write(void **state)
{
    pollux *p = *state;
    uint16_t port;
    fd_close(tcp_listener(&port)); /* port is now (very likely) closed */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    fd_track(s);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    int r = connect(s, (struct sockaddr *)&sa, sizeof sa);
    if (r == 0 || errno != EINPROGRESS) {
        print_message("connect to closed port: %s, cannot test\n",
                      r == 0 ? "connected" : strerror(errno));
        skip();
    }
    assert_ret(pollux_register(p, s, POLLUX_WRITE, &tok[0]), 0);
    pollux_event e = expect_event(p, s);
    assert_ptr_equal(e.data, &tok[0]);
    assert_within_interest(e.events, POLLUX_WRITE);
    if (reports_socket_err(p))
        assert_has_events(e.events, POLLUX_WRITE | POLLUX_ERR);
    else
        assert_has_events(e.events, POLLUX_WRITE);
    int err = 0;
    socklen_t len = sizeof err;
    assert_int_equal(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    if (err == 0 && is_libkqueue(p)) {
        print_message("kqueue over libkqueue: it read SO_ERROR to fill the event, which "
                      "cleared it (docs/portability.md)\n");
        skip();
    }
    assert_int_equal(err, ECONNREFUSED);
}

static void check_rdhup(pollux *p, int fd, int peer)
{
    assert_ret(pollux_register(p, fd, POLLUX_READ | POLLUX_RDHUP, &tok[0]), 0);
    expect_nothing(p, 0);
    assert_int_equal(shutdown(peer, SHUT_WR), 0);
    pollux_event e = expect_event_with(p, fd, POLLUX_READ);
    assert_ptr_equal(e.data, &tok[0]);
    if (reports_rdhup(p)) {
        assert_events(e.events, POLLUX_READ | POLLUX_RDHUP);
    } else {
        /* Decision 5: select and /dev/poll show the end of stream as READ
         * (RDHUP optional). Only one direction is shut: no HUP. */
        assert_has_events(e.events, POLLUX_READ);
        assert_within_interest(e.events, POLLUX_READ | POLLUX_RDHUP);
        assert_false(e.events & POLLUX_HUP);
    }
}

static void peer_shutdown_write_reports_rdhup_on_socketpair(void **state)
{
    int s[2];
    make_socketpair(s);
    check_rdhup(*state, s[0], s[1]);
}

static void peer_shutdown_write_reports_rdhup_on_tcp(void **state)
{
    int c, s;
    tcp_pair(&c, &s);
    check_rdhup(*state, s, c);
}

static void rdhup_is_not_reported_without_interest(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    assert_ret(pollux_register(p, s[0], POLLUX_READ, &tok[0]), 0);
    assert_int_equal(shutdown(s[1], SHUT_WR), 0);
    expect_only(p, s[0], POLLUX_READ, &tok[0]);
}

/* PRI, or -ENOTSUP where the backend has no out-of-band report (kqueue). */
static void tcp_out_of_band_data_reports_pri(void **state)
{
    pollux *p = *state;
    int c, s;
    tcp_pair(&c, &s);
    if (!supports_pri(p)) {
        assert_ret(pollux_register(p, s, POLLUX_PRI, &tok[0]), -ENOTSUP);
        assert_ret(pollux_register(p, s, POLLUX_READ | POLLUX_PRI, &tok[0]), -ENOTSUP);
        assert_ret(pollux_register(p, s, POLLUX_READ, &tok[0]), 0);
        assert_ret(pollux_modify(p, s, POLLUX_READ | POLLUX_PRI, &tok[0]), -ENOTSUP);
        /* Out-of-band data shows as READ on FreeBSD; Linux (under the test
         * emulation) only counts it with ordinary data after it. */
        assert_int_equal(send(c, "!", 1, MSG_OOB), 1);
        assert_int_equal(send(c, "a", 1, 0), 1);
        pollux_event e = expect_event_with(p, s, POLLUX_READ);
        assert_events(e.events, POLLUX_READ);
        return;
    }
    assert_ret(pollux_register(p, s, POLLUX_PRI, &tok[0]), 0);
    expect_nothing(p, 0);
    assert_int_equal(send(c, "!", 1, MSG_OOB), 1);
    pollux_event e = expect_event(p, s);
    assert_ptr_equal(e.data, &tok[0]);
    assert_has_events(e.events, POLLUX_PRI);
    assert_within_interest(e.events, POLLUX_PRI);
    /* Interest READ|PRI: both in one event once normal data is there too. */
    assert_int_equal(send(c, "a", 1, 0), 1);
    assert_ret(pollux_modify(p, s, POLLUX_READ | POLLUX_PRI, &tok[1]), 0);
    e = expect_event_with(p, s, POLLUX_PRI | POLLUX_READ);
    assert_ptr_equal(e.data, &tok[1]);
    assert_has_events(e.events, POLLUX_PRI | POLLUX_READ);
    assert_within_interest(e.events, POLLUX_READ | POLLUX_PRI);
}

/* ------------------------------------------------------------------ */
/* Regular files and devices without poll support                      */

static void regular_file_is_reported_readable_and_writable(void **state)
{
    pollux *p = *state;
    int f = make_regular_file();
    assert_ret(pollux_register(p, f, POLLUX_READ | POLLUX_WRITE, &tok[0]), 0);
    expect_only(p, f, POLLUX_READ | POLLUX_WRITE, &tok[0]);
    expect_only(p, f, POLLUX_READ | POLLUX_WRITE, &tok[0]); /* level: again */
    assert_ret(pollux_register(p, f, POLLUX_READ, NULL), -EEXIST);
    assert_ret(pollux_unregister(p, f), 0);
    expect_nothing(p, 0);
    assert_ret(pollux_unregister(p, f), -ENOENT);
}

static void regular_file_reports_only_its_interest(void **state)
{
    pollux *p = *state;
    int f = make_regular_file();
    assert_ret(pollux_register(p, f, POLLUX_READ, &tok[0]), 0);
    expect_only(p, f, POLLUX_READ, &tok[0]);
    assert_ret(pollux_modify(p, f, POLLUX_WRITE, &tok[1]), 0);
    expect_only(p, f, POLLUX_WRITE, &tok[1]);
    if (supports_pri(p)) {
        assert_ret(pollux_modify(p, f, POLLUX_PRI, &tok[1]), 0);
        expect_nothing(p, 0);
    }
}

static void regular_file_honours_pause_and_oneshot(void **state)
{
    pollux *p = *state;
    int f = make_regular_file();
    assert_ret(pollux_register(p, f, 0, &tok[0]), 0);
    expect_quiet_wait(p, 50 * NS_PER_MS, 1);
    assert_ret(pollux_modify(p, f, POLLUX_READ | POLLUX_ONESHOT, &tok[1]), 0);
    expect_only(p, f, POLLUX_READ, &tok[1]);
    expect_nothing(p, 0);
    assert_ret(pollux_modify(p, f, POLLUX_WRITE | POLLUX_ONESHOT, &tok[2]), 0);
    expect_only(p, f, POLLUX_WRITE, &tok[2]);
    expect_nothing(p, 0);
    assert_ret(pollux_modify(p, f, POLLUX_READ, &tok[3]), 0);
    expect_only(p, f, POLLUX_READ, &tok[3]);
    assert_ret(pollux_modify(p, f, 0, &tok[3]), 0);
    expect_nothing(p, 0);
}

static void device_without_poll_support_is_reported_ready(void **state)
{
    pollux *p = *state;
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    fd_track(fd);
    assert_ret(pollux_register(p, fd, POLLUX_READ | POLLUX_WRITE, &tok[0]), 0);
    expect_only(p, fd, POLLUX_READ | POLLUX_WRITE, &tok[0]);
    assert_ret(pollux_unregister(p, fd), 0);
}

/* ------------------------------------------------------------------ */
/* ONESHOT                                                              */

static void oneshot_is_reported_once_until_modify(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    write_byte(a[1]);
    assert_ret(pollux_register(p, a[0], POLLUX_READ | POLLUX_ONESHOT, &tok[0]), 0);
    expect_only(p, a[0], POLLUX_READ, &tok[0]);
    expect_nothing(p, 0);
    expect_nothing(p, 10 * NS_PER_MS);
    write_byte(a[1]); /* more data does not re-arm it */
    expect_nothing(p, 0);
    assert_ret(pollux_modify(p, a[0], POLLUX_READ | POLLUX_ONESHOT, &tok[1]), 0);
    expect_only(p, a[0], POLLUX_READ, &tok[1]);
    expect_nothing(p, 0);
    /* modify to a level-triggered interest: reported every time */
    assert_ret(pollux_modify(p, a[0], POLLUX_READ, &tok[2]), 0);
    expect_only(p, a[0], POLLUX_READ, &tok[2]);
    expect_only(p, a[0], POLLUX_READ, &tok[2]);
}

static void oneshot_merges_read_and_write_in_its_single_report(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    write_byte(s[1]);
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_WRITE | POLLUX_ONESHOT, &tok[0]), 0);
    expect_only(p, s[0], POLLUX_READ | POLLUX_WRITE, &tok[0]);
    expect_nothing(p, 0);
}

static void oneshot_disarmed_reports_nothing_even_hup(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    write_byte(a[1]);
    assert_ret(pollux_register(p, a[0], POLLUX_READ | POLLUX_ONESHOT, &tok[0]), 0);
    expect_only(p, a[0], POLLUX_READ, &tok[0]);
    fd_close(a[1]);
    expect_quiet_wait(p, 50 * NS_PER_MS, 2);
    assert_ret(pollux_modify(p, a[0], POLLUX_READ, &tok[1]), 0);
    pollux_event e = expect_event(p, a[0]);
    assert_ptr_equal(e.data, &tok[1]);
    assert_events(e.events, reports_hup(p) ? POLLUX_READ | POLLUX_HUP : POLLUX_READ);
}

static void oneshot_disarmed_fd_can_be_unregistered_and_registered_again(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    write_byte(a[1]);
    assert_ret(pollux_register(p, a[0], POLLUX_READ | POLLUX_ONESHOT, &tok[0]), 0);
    expect_only(p, a[0], POLLUX_READ, &tok[0]);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, NULL), -EEXIST);
    assert_ret(pollux_unregister(p, a[0]), 0);
    assert_ret(pollux_register(p, a[0], POLLUX_READ | POLLUX_ONESHOT, &tok[1]), 0);
    expect_only(p, a[0], POLLUX_READ, &tok[1]);
    expect_nothing(p, 0);
}

/* Unregistering a fired ONESHOT asks kqueue to delete a knote it already
 * dropped; the kernel then reports that error and skips its scan, which
 * must not make a wait with timeout 0 miss a ready descriptor. */
static void unregistering_a_fired_oneshot_hides_no_ready_fd(void **state)
{
    pollux *p = *state;
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    write_byte(a[1]);
    assert_ret(pollux_register(p, a[0], POLLUX_READ | POLLUX_ONESHOT, &tok[0]), 0);
    expect_only(p, a[0], POLLUX_READ, &tok[0]);
    assert_ret(pollux_register(p, b[1], POLLUX_WRITE, &tok[1]), 0);
    assert_ret(pollux_unregister(p, a[0]), 0);
    pollux_event ev[4];
    assert_int_equal(wait_ok(p, ev, 4, 0), 1);
    assert_int_equal(ev[0].fd, b[1]);
    assert_ptr_equal(ev[0].data, &tok[1]);
}

/* ------------------------------------------------------------------ */
/* EDGE                                                                 */

static void edge_reports_once_until_new_data_arrives(void **state)
{
    pollux *p = *state;
    if (!supports_edge(p)) {
        print_message("%s has no edge-triggered mode\n", pollux_backend_name(backend(p)));
        skip();
    }
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ | POLLUX_EDGE, &tok[0]), 0);
    expect_nothing(p, 0);
    write_byte(a[1]);
    expect_only(p, a[0], POLLUX_READ, &tok[0]);
    expect_nothing(p, 0); /* the byte is still unread */
    expect_nothing(p, 10 * NS_PER_MS);
    write_byte(a[1]);
    expect_only(p, a[0], POLLUX_READ, &tok[0]);
    expect_nothing(p, 0);
    /* modify keeps the mode and replaces data */
    assert_ret(pollux_modify(p, a[0], POLLUX_READ | POLLUX_EDGE, &tok[1]), 0);
    write_byte(a[1]);
    pollux_event e = expect_event(p, a[0]);
    assert_ptr_equal(e.data, &tok[1]);
    assert_events(e.events, POLLUX_READ);
    expect_nothing(p, 0);
}

static void edge_fails_with_enotsup_where_unsupported(void **state)
{
    pollux *p = *state;
    if (supports_edge(p)) {
        print_message("%s supports edge-triggered mode\n", pollux_backend_name(backend(p)));
        skip();
    }
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ | POLLUX_EDGE, NULL), -ENOTSUP);
    assert_ret(pollux_register(p, a[0], POLLUX_EDGE, NULL), -ENOTSUP);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_modify(p, a[0], POLLUX_READ | POLLUX_EDGE, NULL), -ENOTSUP);
    write_byte(a[1]);
    expect_only(p, a[0], POLLUX_READ, &tok[0]);
    assert_ret(pollux_unregister(p, a[0]), 0);
}

/* ------------------------------------------------------------------ */
/* EXCLUSIVE                                                            */

static void exclusive_with_read_or_write_is_accepted_and_reports(void **state)
{
    pollux *p = *state;
    int a[2], s[2];
    make_pipe(a);
    make_socketpair(s);
    assert_ret(pollux_register(p, a[0], POLLUX_READ | POLLUX_EXCLUSIVE, &tok[0]), 0);
    assert_ret(pollux_register(p, s[0], POLLUX_WRITE | POLLUX_EXCLUSIVE, &tok[1]), 0);
    expect_only(p, s[0], POLLUX_WRITE, &tok[1]);
    assert_ret(pollux_unregister(p, s[0]), 0);
    write_byte(a[1]);
    expect_only(p, a[0], POLLUX_READ, &tok[0]);
}

/* Decision 3 (and the header: EXCLUSIVE with PRI, which epoll refuses too). */
static void exclusive_with_oneshot_rdhup_or_pri_fails_with_einval(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_EXCLUSIVE | POLLUX_ONESHOT, NULL),
               -EINVAL);
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_EXCLUSIVE | POLLUX_RDHUP, NULL),
               -EINVAL);
    int r = pollux_register(p, s[0], POLLUX_READ | POLLUX_EXCLUSIVE | POLLUX_PRI, NULL);
    if (!(r == -EINVAL || (r == -ENOTSUP && !supports_pri(p))))
        fail_msg("register(READ|EXCLUSIVE|PRI) returned %d (%s), expected -EINVAL", r,
                 errname(r));
    assert_ret(pollux_unregister(p, s[0]), -ENOENT);
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_EXCLUSIVE, NULL), 0);
}

static void modify_of_exclusive_registration_works(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_EXCLUSIVE, &tok[0]), 0);
    expect_nothing(p, 0);
    assert_ret(pollux_modify(p, s[0], POLLUX_WRITE | POLLUX_EXCLUSIVE, &tok[1]), 0);
    expect_only(p, s[0], POLLUX_WRITE, &tok[1]);
    assert_ret(pollux_modify(p, s[0], POLLUX_READ | POLLUX_EXCLUSIVE, &tok[2]), 0);
    expect_nothing(p, 0);
    write_byte(s[1]);
    expect_only(p, s[0], POLLUX_READ, &tok[2]);
    /* from EXCLUSIVE to plain and back */
    assert_ret(pollux_modify(p, s[0], POLLUX_READ | POLLUX_WRITE, &tok[3]), 0);
    expect_only(p, s[0], POLLUX_READ | POLLUX_WRITE, &tok[3]);
    assert_ret(pollux_modify(p, s[0], POLLUX_WRITE | POLLUX_EXCLUSIVE, &tok[4]), 0);
    expect_only(p, s[0], POLLUX_WRITE, &tok[4]);
    assert_ret(pollux_modify(p, s[0], 0, &tok[5]), 0);
    expect_nothing(p, 0);
    assert_ret(pollux_modify(p, s[0], POLLUX_READ | POLLUX_EXCLUSIVE | POLLUX_ONESHOT, NULL),
               -EINVAL);
    assert_ret(pollux_modify(p, s[0], POLLUX_READ | POLLUX_EXCLUSIVE, &tok[6]), 0);
    expect_only(p, s[0], POLLUX_READ, &tok[6]);
    assert_ret(pollux_unregister(p, s[0]), 0);
    expect_nothing(p, 0);
}

/* ------------------------------------------------------------------ */
/* Closed and reused descriptor numbers                                */

static void closed_registered_fd_neither_fails_nor_spins(void **state)
{
    pollux *p = *state;
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_register(p, b[0], POLLUX_READ, &tok[1]), 0);
    fd_close(a[0]); /* not unregistered */
    expect_quiet_wait(p, 100 * NS_PER_MS, 2);
    /* The other registration still works. */
    write_byte(b[1]);
    expect_only(p, b[0], POLLUX_READ, &tok[1]);
    assert_ret(pollux_unregister(p, a[0]), 0);
    assert_ret(pollux_unregister(p, b[0]), 0);
}

/* Make number n, which is free, name the file open on fd (closing fd). */
static void move_onto(int fd, int n)
{
    if (fd == n)
        return;
    assert_int_equal(dup3(fd, n, O_CLOEXEC), n);
    fd_track(n);
    fd_close(fd);
}

/* Number n, registered and now naming a file that is always ready (a
 * regular file, /dev/null): a modify to mask with &tok[1] has it reported
 * with all of mask in every wait, until it is unregistered. */
static void modify_reports_it_ready_every_wait(pollux *p, int n, uint32_t mask)
{
    assert_ret(pollux_modify(p, n, mask, &tok[1]), 0);
    expect_only(p, n, mask, &tok[1]);
    expect_only(p, n, mask, &tok[1]); /* level: ready every time */
    assert_ret(pollux_unregister(p, n), 0);
    expect_nothing(p, 0);
}

/* Reuse number n, which was just closed, for the read end of a new pipe;
 * returns that pipe's write end. */
static int reuse_number_for_new_pipe(int n)
{
    int b[2];
    make_pipe(b);
    int r = b[0], w = b[1];
    if (r != n) {
        if (w == n) {
            w = fcntl(n, F_DUPFD_CLOEXEC, n + 1);
            assert_true(w >= 0);
            fd_track(w);
        }
        move_onto(r, n);
    }
    assert_true(fd_is_open(n));
    return w;
}

/* Decision 1. */
static void modify_after_number_reused_watches_the_new_file(void **state)
{
    pollux *p = *state;
    int n = registered_then_closed(p, &tok[0]);
    int w = reuse_number_for_new_pipe(n);
    write_byte(w);
    assert_ret(pollux_modify(p, n, POLLUX_READ, &tok[1]), 0);
    expect_only(p, n, POLLUX_READ, &tok[1]);
    drain(n);
    expect_nothing(p, 0);
    assert_ret(pollux_unregister(p, n), 0);
}

/* Decision 1, after a wait has seen the number closed. */
static void modify_after_closed_number_seen_by_wait_and_reused_watches_the_new_file(void **state)
{
    pollux *p = *state;
    int n = registered_then_closed(p, &tok[0]);
    expect_nothing(p, 0);
    expect_nothing(p, 10 * NS_PER_MS);
    int w = reuse_number_for_new_pipe(n);
    write_byte(w);
    assert_ret(pollux_modify(p, n, POLLUX_READ, &tok[1]), 0);
    expect_only(p, n, POLLUX_READ, &tok[1]);
    assert_ret(pollux_unregister(p, n), 0);
    expect_nothing(p, 0);
}

/* Decision 1 when the number now names a regular file, which epoll
 * refuses: it is reported ready from then on, like any regular file. */
static void modify_after_number_reused_by_a_regular_file_reports_it_ready(void **state)
{
    pollux *p = *state;
    int n = registered_then_closed(p, &tok[0]);
    int f = make_regular_file();
    move_onto(f, n);
    modify_reports_it_ready_every_wait(p, n, POLLUX_READ);
}

/* A modify that keeps the mask and an unregister before the next wait:
 * nothing of the modify survives (epoll checks such a modify later). */
static void unregister_right_after_an_unchanged_modify_stops_reports(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_modify(p, a[0], POLLUX_READ, &tok[1]), 0);
    assert_ret(pollux_unregister(p, a[0]), 0);
    write_byte(a[1]);
    expect_nothing(p, 10 * NS_PER_MS);
    /* And registering it again afterwards works normally. */
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[2]), 0);
    expect_only(p, a[0], POLLUX_READ, &tok[2]);
}

/* Decision 6: descriptors >= FD_SETSIZE (1024) work on every backend. */
static void fd_above_fd_setsize_is_supported(void **state)
{
    pollux *p = *state;
    enum { HIGH = 1500 };
    if (raise_fd_limit() <= HIGH + 16) {
        print_message("RLIMIT_NOFILE too low for fd %d\n", HIGH);
        skip();
    }
    int a[2];
    make_pipe(a);
    int hi = fcntl(a[0], F_DUPFD_CLOEXEC, HIGH);
    assert_true(hi >= HIGH);
    fd_track(hi);
    fd_close(a[0]);
    int s[2];
    make_socketpair(s);
    int shi = fcntl(s[0], F_DUPFD_CLOEXEC, 3000);
    assert_true(shi >= 3000);
    fd_track(shi);
    fd_close(s[0]);

    assert_ret(pollux_register(p, hi, POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_register(p, shi, POLLUX_WRITE, &tok[1]), 0);
    expect_only(p, shi, POLLUX_WRITE, &tok[1]);
    assert_ret(pollux_modify(p, shi, POLLUX_READ, &tok[1]), 0);
    expect_nothing(p, 0);
    write_byte(a[1]);
    expect_only(p, hi, POLLUX_READ, &tok[0]);
    write_byte(s[1]);
    pollux_event ev[4];
    assert_int_equal(wait_ok(p, ev, 4, HANG_NS), 2);
    assert_non_null(find_fd(ev, 2, hi));
    assert_non_null(find_fd(ev, 2, shi));
    assert_ret(pollux_unregister(p, hi), 0);
    assert_ret(pollux_unregister(p, shi), 0);
}

/* ------------------------------------------------------------------ */
/* wake                                                                 */

static void assert_wake_event(const pollux_event *e)
{
    assert_int_equal(e->fd, -1);
    assert_events(e->events, POLLUX_WAKE);
    assert_int_equal(e->count, 0);
}

static void wake_from_another_thread_ends_a_blocked_wait(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, NULL), 0);
    struct bg b;
    bg_start(&b, p, BG_WAKE, -1, 0);
    pollux_event ev[8];
    int n = pollux_wait(p, ev, 8, -1);
    bg_stop(&b);
    assert_ret(n, 1);
    assert_wake_event(&ev[0]);
    expect_nothing(p, 0);
}

static void wakes_before_a_wait_coalesce_into_one_event(void **state)
{
    pollux *p = *state;
    for (int i = 0; i < 5; i++)
        assert_ret(pollux_wake(p), 0);
    pollux_event ev[8];
    assert_int_equal(wait_ok(p, ev, 8, 0), 1);
    assert_wake_event(&ev[0]);
    expect_nothing(p, 0);
    /* and the next wake is reported again */
    assert_ret(pollux_wake(p), 0);
    assert_int_equal(wait_ok(p, ev, 8, HANG_NS), 1);
    assert_wake_event(&ev[0]);
    expect_nothing(p, 0);
}

static void wake_is_reported_alongside_ready_fds(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    assert_ret(pollux_register(p, s[0], POLLUX_WRITE, &tok[0]), 0);
    assert_ret(pollux_wake(p), 0);
    assert_ret(pollux_wake(p), 0);
    pollux_event ev[8];
    int n = wait_ok(p, ev, 8, HANG_NS);
    assert_int_equal(n, 2);
    const pollux_event *w = find_fd(ev, n, -1);
    const pollux_event *f = find_fd(ev, n, s[0]);
    assert_non_null(w);
    assert_non_null(f);
    assert_wake_event(w);
    assert_events(f->events, POLLUX_WRITE);
    assert_ptr_equal(f->data, &tok[0]);
    /* Wake is one source among others: with max_events 1 it still comes. */
    assert_ret(pollux_wake(p), 0);
    int got_wake = 0;
    for (int i = 0; i < 4 && !got_wake; i++) {
        assert_int_equal(wait_ok(p, ev, 1, HANG_NS), 1);
        got_wake = ev[0].fd == -1;
    }
    assert_true(got_wake);
}

static void wake_from_a_signal_handler_is_reported(void **state)
{
    pollux *p = *state;
    g_sig_poller = p;
    assert_int_equal(raise(SIGUSR2), 0);
    g_sig_poller = NULL;
    pollux_event ev[8];
    assert_int_equal(wait_ok(p, ev, 8, HANG_NS), 1);
    assert_wake_event(&ev[0]);
    expect_nothing(p, 0);
}

/* A signal whose handler wakes the poller arrives during a blocked wait:
 * the wait returns -EINTR (decision 8) or the wake; in the first case the
 * next wait has the wake. */
static void wake_from_a_signal_handler_during_a_wait_is_reported(void **state)
{
    pollux *p = *state;
    g_sig_poller = p;
    struct bg b;
    bg_start(&b, p, BG_SIGNAL_ONCE, -1, SIGUSR2);
    pollux_event ev[8];
    int n = pollux_wait(p, ev, 8, -1);
    bg_stop(&b);
    g_sig_poller = NULL;
    if (n == -EINTR)
        n = wait_ok(p, ev, 8, HANG_NS);
    assert_ret(n, 1);
    assert_wake_event(&ev[0]);
    expect_nothing(p, 0);
}

/* ------------------------------------------------------------------ */
/* pollux_fileno                                                        */

static void fileno_polls_readable_when_wait_has_events(void **state)
{
    pollux *p = *state;
    if (is_libkqueue(p)) {
        print_message("kqueue over libkqueue: its descriptor never polls readable, "
                      "pollux_fileno is -ENOTSUP (docs/portability.md)\n");
        skip();
    }
    if (!has_fileno(p)) {
        print_message("%s has no pollable kernel object\n", pollux_backend_name(backend(p)));
        skip();
    }
    int pfd = pollux_fileno(p);
    assert_true(pfd >= 0);
    assert_true(fd_is_open(pfd));
    assert_int_equal(pollux_fileno(p), pfd); /* stable */
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    assert_false(poll_readable(pfd, 0));
    write_byte(a[1]);
    assert_true(poll_readable(pfd, 5000));
    expect_only(p, a[0], POLLUX_READ, &tok[0]);
    drain(a[0]);
    expect_nothing(p, 0);
    assert_ret(pollux_wake(p), 0);
    assert_true(poll_readable(pfd, 5000));
    pollux_event ev[4];
    assert_int_equal(wait_ok(p, ev, 4, HANG_NS), 1);
    assert_wake_event(&ev[0]);
    /* An armed regular file is always ready, so the descriptor polls
     * readable for it too (epoll refuses files; the core reports them). */
    int f = make_regular_file();
    assert_ret(pollux_register(p, f, POLLUX_READ, &tok[1]), 0);
    assert_true(poll_readable(pfd, 5000));
    expect_only(p, f, POLLUX_READ, &tok[1]);
    assert_true(poll_readable(pfd, 5000));
}

static void fileno_fails_with_enotsup_without_pollable_kernel_object(void **state)
{
    pollux *p = *state;
    if (has_fileno(p)) {
        print_message("%s has a pollable kernel object\n", pollux_backend_name(backend(p)));
        skip();
    }
    assert_ret(pollux_fileno(p), -ENOTSUP);
}

/* ------------------------------------------------------------------ */
/* Scale                                                                */

/* 5000 socketpairs, all 10000 ends registered, 100 of them readable
 * (spread over the whole range, so many are >= FD_SETSIZE). */
static void many_registered_fds_report_exactly_the_active_ones(void **state)
{
    pollux *p = *state;
    enum { PAIRS = 5000, ACTIVE = 100, STRIDE = PAIRS / ACTIVE };
    long lim = raise_fd_limit();
    if (lim < 2L * PAIRS + 64) {
        print_message("RLIMIT_NOFILE %ld is too low for %d descriptors\n", lim, 2 * PAIRS);
        skip();
    }
    int (*s)[2] = calloc(PAIRS, sizeof *s);
    assert_non_null(s);
    for (int i = 0; i < PAIRS; i++) {
        make_socketpair(s[i]);
        for (int k = 0; k < 2; k++)
            assert_ret(pollux_register(p, s[i][k], POLLUX_READ,
                                       (void *)(uintptr_t)(s[i][k] + 1)), 0);
    }
    int max_fd = 0;
    for (int i = 0; i < PAIRS; i++)
        for (int k = 0; k < 2; k++)
            if (s[i][k] > max_fd)
                max_fd = s[i][k];
    unsigned char *active = calloc((size_t)max_fd + 1, 1);
    unsigned char *seen = calloc((size_t)max_fd + 1, 1);
    assert_non_null(active);
    assert_non_null(seen);
    int high = 0;
    for (int j = 0; j < ACTIVE; j++) {
        int i = j * STRIDE + (j % STRIDE);
        int k = j & 1; /* alternate which end becomes readable */
        write_byte(s[i][1 - k]);
        active[s[i][k]] = 1;
        high += s[i][k] >= 1024;
    }
    assert_true(high > ACTIVE / 2);

    pollux_event *ev = calloc(256, sizeof *ev);
    assert_non_null(ev);
    /* One wait with room for all: exactly the active ones. */
    int n = wait_ok(p, ev, 256, HANG_NS);
    assert_distinct(ev, n);
    for (int k = 0; k < n; k++) {
        int fd = ev[k].fd;
        if (fd < 0 || fd > max_fd || !active[fd])
            fail_msg("fd %d reported but not active", fd);
        assert_events(ev[k].events, POLLUX_READ);
        assert_ptr_equal(ev[k].data, (void *)(uintptr_t)(fd + 1));
    }
    assert_int_equal(n, ACTIVE);

    /* Waits of 32: every active one within ceil(100 / 32) + 2 waits. */
    int missing = ACTIVE;
    for (int w = 0; w < (ACTIVE + 31) / 32 + 2 && missing; w++) {
        n = wait_ok(p, ev, 32, HANG_NS);
        assert_true(n >= 1);
        assert_distinct(ev, n);
        for (int k = 0; k < n; k++) {
            int fd = ev[k].fd;
            if (fd < 0 || fd > max_fd || !active[fd])
                fail_msg("fd %d reported but not active", fd);
            if (!seen[fd]++)
                missing--;
        }
    }
    assert_int_equal(missing, 0);

    for (int fd = 0; fd <= max_fd; fd++)
        if (active[fd])
            drain(fd);
    expect_nothing(p, 0);

    for (int i = 0; i < PAIRS; i++)
        for (int k = 0; k < 2; k++)
            assert_ret(pollux_unregister(p, s[i][k]), 0);
    for (int i = 0; i < PAIRS; i++) {
        fd_close(s[i][0]);
        fd_close(s[i][1]);
    }
    free(ev);
    free(seen);
    free(active);
    free(s);
}

/* ------------------------------------------------------------------ */
/* What a kernel says about a number, checked (issue: libkqueue)        */

/* A kevent error entry may carry an errno left over from an earlier call
 * (libkqueue does so for a re-add it refuses): EBADF there must not make
 * the poller give up on a number that is open. errno is set to EBADF
 * before each call, as a failed fcntl() on a closed number would leave it. */
static void modify_keeps_watching_an_open_fd_whatever_errno_was_before(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    assert_ret(pollux_register(p, s[0], POLLUX_READ, &tok[0]), 0);
    expect_nothing(p, 0);
    errno = EBADF;
    assert_ret(pollux_modify(p, s[0], POLLUX_READ | POLLUX_WRITE, &tok[1]), 0);
    errno = EBADF;
    expect_only(p, s[0], POLLUX_WRITE, &tok[1]);
    errno = EBADF;
    assert_ret(pollux_modify(p, s[0], POLLUX_READ, &tok[2]), 0);
    errno = EBADF;
    expect_nothing(p, 0);
    write_byte(s[1]);
    errno = EBADF;
    expect_only(p, s[0], POLLUX_READ, &tok[2]);
}

/* Decision 1 with another mask: the number now names a socket, and the
 * modify asks for WRITE too; only the new file's readiness is reported. */
static void modify_after_number_reused_with_another_mask_watches_the_new_file(void **state)
{
    pollux *p = *state;
    int n = registered_then_closed(p, &tok[0]);
    int s[2];
    make_socketpair(s);
    if (s[0] != n) {
        int peer = s[1];
        if (peer == n) {
            peer = fcntl(n, F_DUPFD_CLOEXEC, n + 1);
            assert_true(peer >= 0);
            fd_track(peer);
            fd_close(s[1]);
        }
        move_onto(s[0], n);
        s[1] = peer;
    }
    /* Writable, not readable. */
    assert_ret(pollux_modify(p, n, POLLUX_READ | POLLUX_WRITE, &tok[1]), 0);
    expect_only(p, n, POLLUX_WRITE, &tok[1]);
    write_byte(s[1]);
    expect_only(p, n, POLLUX_READ | POLLUX_WRITE, &tok[1]);
    assert_ret(pollux_unregister(p, n), 0);
    expect_nothing(p, 0);
}

/* Decision 1 when the number now names /dev/null, which poll(2) calls
 * always ready and epoll (EPERM) or kqueue (FreeBSD: ENODEV) refuse to
 * watch: reported ready from then on, like at register. */
static void modify_after_number_reused_by_dev_null_reports_it_ready(void **state)
{
    pollux *p = *state;
    int n = registered_then_closed(p, &tok[0]);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    assert_true(null >= 0);
    fd_track(null);
    move_onto(null, n);
    modify_reports_it_ready_every_wait(p, n, POLLUX_READ | POLLUX_WRITE);
}

/* Many modifies between two waits: every one is applied and reported
 * (libkqueue fails a call whose receipts do not fit its 512 entries). */
static void modifies_of_many_registrations_before_a_wait_are_all_applied(void **state)
{
    pollux *p = *state;
    enum { PIPES = 300 };
    if (raise_fd_limit() < 2 * PIPES + 64) {
        print_message("RLIMIT_NOFILE is too low for %d descriptors\n", 2 * PIPES);
        skip();
    }
    int a[PIPES][2];
    for (int i = 0; i < PIPES; i++) {
        make_pipe(a[i]);
        assert_ret(pollux_register(p, a[i][0], POLLUX_READ, &tok[0]), 0);
    }
    for (int i = 0; i < PIPES; i++) {
        assert_ret(pollux_modify(p, a[i][0], POLLUX_READ, &tok[1]), 0);
        write_byte(a[i][1]);
    }
    pollux_event ev[PIPES];
    int seen = 0;
    for (int round = 0; round < 4 && seen < PIPES; round++) {
        int n = wait_ok(p, ev, PIPES, HANG_NS);
        for (int k = 0; k < n; k++) {
            assert_ptr_equal(ev[k].data, &tok[1]);
            drain(ev[k].fd);
        }
        seen += n;
    }
    assert_int_equal(seen, PIPES);
}

/* ------------------------------------------------------------------ */

#define T(f) cmocka_unit_test_setup_teardown(f, poller_setup, teardown_poller)

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    struct sigaction old;
    sig_install(SIGUSR1, on_signal_count, &old);
    sig_install(SIGALRM, on_signal_count, &old);
    sig_install(SIGUSR2, on_signal_wake, &old);

    static const struct CMUnitTest tests[] = {
        T(new_poller_uses_requested_backend),
        T(free_does_not_close_registered_fds),
        T(two_pollers_watch_the_same_fd_independently),

        T(register_negative_fd_fails_with_ebadf),
        T(register_closed_fd_fails_with_ebadf),
        T(register_huge_fd_fails_with_ebadf),
        T(register_twice_fails_with_eexist),
        T(register_unknown_bits_fails_with_einval),
        T(register_timer_or_wake_in_interest_fails_with_einval),
        T(register_hup_and_err_in_interest_are_accepted_and_ignored),
        T(register_after_unregister_succeeds),
        T(zero_interest_reports_nothing_even_hup),

        T(modify_unregistered_fd_fails_with_enoent),
        T(modify_negative_fd_fails_with_ebadf),
        T(modify_and_unregister_of_huge_fd_fail_with_enoent),
        T(modify_with_invalid_interest_fails_with_einval_and_keeps_registration),
        T(modify_replaces_interest),
        T(modify_replaces_data),
        T(modify_to_zero_interest_pauses),

        T(unregister_unregistered_fd_fails_with_enoent),
        T(unregister_negative_fd_fails_with_ebadf),
        T(unregister_twice_fails_with_enoent),
        T(unregister_stops_reports),
        T(unregister_of_closed_fd_succeeds),

        T(wait_with_null_events_fails_with_einval),
        T(wait_with_max_events_below_one_fails_with_einval),
        T(wait_timeout_elapses_fully_before_returning_zero),
        T(wait_timeout_with_nothing_registered_elapses_fully),
        T(wait_zero_timeout_does_not_block),
        T(wait_small_timeouts_never_return_early),
        T(wait_forever_returns_when_fd_becomes_ready),
        T(wait_any_negative_timeout_waits_until_fd_ready),
        T(wait_huge_timeout_does_not_overflow),
        T(wait_forever_interrupted_by_signal_returns_eintr),
        T(wait_with_timeout_interrupted_by_sigalrm_returns_eintr),

        T(event_carries_registered_data_and_zero_count),
        T(read_and_write_are_merged_into_one_event),
        T(readiness_outside_interest_is_not_reported),
        T(each_source_is_reported_once_per_wait),
        T(ready_sources_are_not_starved_with_max_events_1),
        T(ready_sources_are_not_starved_with_max_events_7),
        T(regular_files_and_sockets_are_not_starved_with_max_events_1),
        T(listening_socket_is_readable_when_a_connection_is_pending),
        T(pipe_write_end_reports_write),

        T(pipe_writer_closed_reports_read_and_hup),
        T(hup_comes_with_every_read_and_write_bit_of_the_interest),
        T(pipe_reader_closed_reports_write_and_err),
        T(refused_connect_reports_err_and_write),
        T(peer_shutdown_write_reports_rdhup_on_socketpair),
        T(peer_shutdown_write_reports_rdhup_on_tcp),
        T(rdhup_is_not_reported_without_interest),
        T(tcp_out_of_band_data_reports_pri),

        T(regular_file_is_reported_readable_and_writable),
        T(regular_file_reports_only_its_interest),
        T(regular_file_honours_pause_and_oneshot),
        T(device_without_poll_support_is_reported_ready),

        T(oneshot_is_reported_once_until_modify),
        T(oneshot_merges_read_and_write_in_its_single_report),
        T(oneshot_disarmed_reports_nothing_even_hup),
        T(oneshot_disarmed_fd_can_be_unregistered_and_registered_again),
        T(unregistering_a_fired_oneshot_hides_no_ready_fd),

        T(edge_reports_once_until_new_data_arrives),
        T(edge_fails_with_enotsup_where_unsupported),

        T(exclusive_with_read_or_write_is_accepted_and_reports),
        T(exclusive_with_oneshot_rdhup_or_pri_fails_with_einval),
        T(modify_of_exclusive_registration_works),

        T(closed_registered_fd_neither_fails_nor_spins),
        T(modify_after_number_reused_watches_the_new_file),
        T(modify_after_number_reused_by_a_regular_file_reports_it_ready),
        T(unregister_right_after_an_unchanged_modify_stops_reports),
        T(modify_after_closed_number_seen_by_wait_and_reused_watches_the_new_file),
        T(fd_above_fd_setsize_is_supported),

        T(wake_from_another_thread_ends_a_blocked_wait),
        T(wakes_before_a_wait_coalesce_into_one_event),
        T(wake_is_reported_alongside_ready_fds),
        T(wake_from_a_signal_handler_is_reported),
        T(wake_from_a_signal_handler_during_a_wait_is_reported),

        T(fileno_polls_readable_when_wait_has_events),
        T(fileno_fails_with_enotsup_without_pollable_kernel_object),

        T(many_registered_fds_report_exactly_the_active_ones),

        T(modify_keeps_watching_an_open_fd_whatever_errno_was_before),
        T(modify_after_number_reused_with_another_mask_watches_the_new_file),
        T(modify_after_number_reused_by_dev_null_reports_it_ready),
        T(modifies_of_many_registrations_before_a_wait_are_all_applied),
    };
    static const struct backend_suite suite = { .name = "conformance", .backend = &g_backend };
    return run_backend_suite(&suite, argc, argv, tests);
}
