/*
 * timers.c - the pollux_timer_* API on one backend: the timerfd semantics
 * of API.md (ids, clocks, arming, disarming, gettime, missed periods,
 * ABSTIME), timers as ordinary events of pollux_wait (max_events,
 * fairness, re-arm and delete from the handler), ordering and "never
 * early" with 100,000 timers, and pollux_fileno waking for a due timer.
 *
 * Usage: timers BACKEND [PATTERN] - BACKEND is "select", "poll", "epoll",
 * "kqueue", "devpoll" or "auto"; PATTERN runs only the tests whose names
 * match it (cmocka's filter, * and ? wildcards). Exits 77 (skipped) when
 * the backend is not available here.
 *
 * Timing assertions are lower bounds only ("never early"); upper bounds
 * are hang guards of seconds, so a loaded machine does not fail the suite.
 * The wall clock is never set.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pollux.h"
#include "helpers.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define HANG_GUARD (5 * SEC) /* the longest any single expected event may take */

static pollux_backend g_backend;

/* ---- helpers ------------------------------------------------------------ */


static int64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* pollux_wait, retrying EINTR, which these tests do not provoke. */
static int wait_n(pollux *p, pollux_event *ev, int max, int64_t timeout_ns)
{
    int n;
    do
        n = pollux_wait(p, ev, max, timeout_ns);
    while (n == -EINTR);
    if (n < 0)
        fail_msg("pollux_wait: %s", errname(n));
    return n;
}

/* Wait for the next event, which must be a timer event; fail after guard_ns. */
static pollux_event next_timer_event(pollux *p, int64_t guard_ns)
{
    pollux_event ev;
    int64_t give_up = clock_ns(CLOCK_MONOTONIC) + guard_ns;
    for (;;) {
        int64_t left = give_up - clock_ns(CLOCK_MONOTONIC);
        if (left <= 0)
            fail_msg("no timer event within %lld ms", (long long)(guard_ns / MS));
        if (wait_n(p, &ev, 1, left) == 1)
            break;
    }
    if (ev.events != POLLUX_TIMER)
        fail_msg("expected a timer event, got fd %d events 0x%x", ev.fd, ev.events);
    return ev;
}

/* Nothing at all is reported within timeout_ns. */
static void assert_quiet(pollux *p, int64_t timeout_ns)
{
    pollux_event ev[8];
    int n = wait_n(p, ev, 8, timeout_ns);
    if (n != 0)
        fail_msg("expected no event, got %d (first: fd %d events 0x%x count %llu)", n,
                 ev[0].fd, ev[0].events, (unsigned long long)ev[0].count);
}

/* Every clock pollux timers take (docs/reference.md). */
static const clockid_t every_clock[] = {
    CLOCK_MONOTONIC, CLOCK_REALTIME,
#ifdef CLOCK_BOOTTIME
    CLOCK_BOOTTIME,
#endif
};

/* Timer id is due already: a wait that does not block reports it, with
 * count 1. */
static void expect_timer_once(pollux *p, int id)
{
    pollux_event ev;
    assert_int_equal(wait_n(p, &ev, 1, 0), 1);
    assert_int_equal(ev.fd, id);
    assert_int_equal(ev.events, POLLUX_TIMER);
    assert_int_equal(ev.count, 1);
}

static void make_plain_pipe(int fds[2])
{
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
}

#define TEST_ALARM_S 30

/* A test that hangs (in the library) fails instead of stopping the run.
 * SA_NODEFER: cmocka's longjmp out of the handler must not leave SIGALRM
 * blocked for the tests that follow. */
static void on_alarm(int sig)
{
    (void)sig;
    fail_msg("hung: the test did not finish within %d s", TEST_ALARM_S);
}

/* Every test gets a fresh poller on the backend under test and a hang
 * guard. */
static int setup(void **state)
{
    if (poller_setup(state) != 0)
        return -1;
    alarm(TEST_ALARM_S);
    return 0;
}

static int teardown(void **state)
{
    alarm(0);
    return poller_teardown(state);
}

/* ---- ids and creation ---------------------------------------------------- */

static void timer_ids_are_small_distinct_nonnegative_ints(void **state)
{
    pollux *p = *state;
    int ids[16];
    for (int i = 0; i < 16; i++) {
        ids[i] = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
        assert_in_range(ids[i], 0, 64);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(ids[i], ids[j]);
    }
    /* A deleted id may be handed out again, still small. */
    assert_ret(pollux_timer_delete(p, ids[3]), 0);
    int again = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_in_range(again, 0, 64);
}

/* Timer ids and descriptors are separate namespaces: a timer whose id is
 * the number of a registered fd is reported with its own data, and
 * deleting one does not touch the other. */
static void timer_id_equal_to_registered_fd_does_not_clash(void **state)
{
    pollux *p = *state;
    int fds[2];
    make_plain_pipe(fds);
    static int fd_tag, timer_tag;
    assert_ret(pollux_register(p, fds[0], POLLUX_READ, &fd_tag), 0);

    int id = -1;
    for (int i = 0; i <= fds[0] + 64 && id != fds[0]; i++)
        id = pollux_timer_create(p, CLOCK_MONOTONIC, &timer_tag);
    assert_int_equal(id, fds[0]);

    assert_ret(pollux_timer_settime(p, id, 1, 0, 0), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    sleep_ns(2 * MS);

    bool got_fd = false, got_timer = false;
    int64_t give_up = clock_ns(CLOCK_MONOTONIC) + HANG_GUARD;
    while (!(got_fd && got_timer) && clock_ns(CLOCK_MONOTONIC) < give_up) {
        pollux_event ev[8];
        int n = wait_n(p, ev, 8, 100 * MS);
        for (int i = 0; i < n; i++) {
            assert_int_equal(ev[i].fd, fds[0]);
            if (ev[i].events & POLLUX_TIMER) {
                assert_int_equal(ev[i].events, POLLUX_TIMER);
                assert_ptr_equal(ev[i].data, &timer_tag);
                assert_int_equal(ev[i].count, 1);
                assert_false(got_timer);
                got_timer = true;
            } else {
                assert_true(ev[i].events & POLLUX_READ);
                assert_ptr_equal(ev[i].data, &fd_tag);
                assert_int_equal(ev[i].count, 0);
                got_fd = true;
            }
        }
    }
    assert_true(got_fd);
    assert_true(got_timer);

    /* Deleting the timer leaves the registration; unregistering the fd
     * leaves the timer. */
    assert_ret(pollux_timer_delete(p, id), 0);
    pollux_event ev;
    assert_int_equal(wait_n(p, &ev, 1, 0), 1);
    assert_int_equal(ev.fd, fds[0]);
    assert_ptr_equal(ev.data, &fd_tag);

    int id2 = pollux_timer_create(p, CLOCK_MONOTONIC, &timer_tag);
    assert_true(id2 >= 0);
    assert_ret(pollux_unregister(p, fds[0]), 0);
    assert_ret(pollux_timer_settime(p, id2, 1 * MS, 0, 0), 0);
    ev = next_timer_event(p, HANG_GUARD);
    assert_int_equal(ev.fd, id2);
    assert_ptr_equal(ev.data, &timer_tag);
    assert_ret(pollux_timer_delete(p, id2), 0);
    assert_ret(pollux_unregister(p, fds[0]), -ENOENT);

    close(fds[0]);
    close(fds[1]);
}

static void create_with_supported_clocks_succeeds(void **state)
{
    pollux *p = *state;
    assert_true(pollux_timer_create(p, CLOCK_MONOTONIC, NULL) >= 0);
    assert_true(pollux_timer_create(p, CLOCK_REALTIME, NULL) >= 0);
#ifdef CLOCK_BOOTTIME
    assert_true(pollux_timer_create(p, CLOCK_BOOTTIME, NULL) >= 0);
#endif
}

static void create_with_bad_clock_fails_with_einval(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_timer_create(p, -1, NULL), -EINVAL);
    assert_ret(pollux_timer_create(p, 12345, NULL), -EINVAL);
    assert_ret(pollux_timer_create(p, INT_MAX, NULL), -EINVAL);
    assert_ret(pollux_timer_create(p, CLOCK_PROCESS_CPUTIME_ID, NULL), -EINVAL);
    assert_ret(pollux_timer_create(p, CLOCK_THREAD_CPUTIME_ID, NULL), -EINVAL);
#ifdef CLOCK_MONOTONIC_RAW
    assert_ret(pollux_timer_create(p, CLOCK_MONOTONIC_RAW, NULL), -EINVAL);
#endif
#ifdef CLOCK_MONOTONIC_COARSE
    assert_ret(pollux_timer_create(p, CLOCK_MONOTONIC_COARSE, NULL), -EINVAL);
#endif
    /* A failed create leaves the poller usable. */
    assert_true(pollux_timer_create(p, CLOCK_MONOTONIC, NULL) >= 0);
}

static void null_poller_fails_with_einval(void **state)
{
    (void)state;
    int64_t a, b;
    assert_ret(pollux_timer_create(NULL, CLOCK_MONOTONIC, NULL), -EINVAL);
    assert_ret(pollux_timer_settime(NULL, 0, MS, 0, 0), -EINVAL);
    assert_ret(pollux_timer_gettime(NULL, 0, &a, &b), -EINVAL);
    assert_ret(pollux_timer_delete(NULL, 0), -EINVAL);
}

/* ---- bad arguments ----------------------------------------------------- */

/* remaining_ns within [lo, hi] and the interval exactly. */
static void assert_gettime(pollux *p, int id, int64_t lo, int64_t hi, int64_t interval)
{
    int64_t rem = -1, ivl = -1;
    assert_ret(pollux_timer_gettime(p, id, &rem, &ivl), 0);
    if (rem < lo || rem > hi)
        fail_msg("timer %d: remaining %lld ns, expected within [%lld, %lld]", id,
                 (long long)rem, (long long)lo, (long long)hi);
    if (ivl != interval)
        fail_msg("timer %d: interval %lld ns, expected %lld", id, (long long)ivl,
                 (long long)interval);
}

static void settime_negative_fails_with_einval_and_keeps_old_setting(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_true(id >= 0);
    assert_ret(pollux_timer_settime(p, id, 10 * SEC, 1 * SEC, 0), 0);

    assert_ret(pollux_timer_settime(p, id, -1, 0, 0), -EINVAL);
    assert_ret(pollux_timer_settime(p, id, 1 * MS, -1, 0), -EINVAL);
    assert_ret(pollux_timer_settime(p, id, -5 * SEC, -5 * SEC, 0), -EINVAL);
    assert_ret(pollux_timer_settime(p, id, INT64_MIN, 0, 0), -EINVAL);
    assert_ret(pollux_timer_settime(p, id, -1, 0, POLLUX_TIMER_ABSTIME), -EINVAL);
    assert_ret(pollux_timer_settime(p, id, 0, -1, 0), -EINVAL); /* not even a disarm */
    assert_gettime(p, id, 9 * SEC, 10 * SEC, 1 * SEC);

    /* Nothing fires early because of the failed calls. */
    assert_quiet(p, 20 * MS);

    /* And a disarmed timer stays disarmed. */
    assert_ret(pollux_timer_settime(p, id, 0, 0, 0), 0);
    assert_ret(pollux_timer_settime(p, id, -1, -1, 0), -EINVAL);
    assert_gettime(p, id, 0, 0, 0);
}

static void settime_unknown_flags_fails_with_einval_and_keeps_old_setting(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_true(id >= 0);
    assert_ret(pollux_timer_settime(p, id, 10 * SEC, 2 * SEC, 0), 0);
    assert_ret(pollux_timer_settime(p, id, 1 * MS, 0, 0x4u), -EINVAL);
    assert_ret(pollux_timer_settime(p, id, 1 * MS, 0, POLLUX_TIMER_ABSTIME | 0x100u), -EINVAL);
    assert_ret(pollux_timer_settime(p, id, 1 * MS, 0, 0x80000000u), -EINVAL);
    assert_ret(pollux_timer_settime(p, id, 0, 0, ~0u), -EINVAL);
    assert_gettime(p, id, 9 * SEC, 10 * SEC, 2 * SEC);
    assert_quiet(p, 20 * MS);
}

static void bad_id_fails_with_enoent(void **state)
{
    pollux *p = *state;
    int64_t rem, ivl;
    static const int bad[] = { -1, 0, 1, 7, 1000000, INT_MAX, INT_MIN };
    /* Before any timer exists... */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_ret(pollux_timer_settime(p, bad[i], MS, 0, 0), -ENOENT);
        assert_ret(pollux_timer_gettime(p, bad[i], &rem, &ivl), -ENOENT);
        assert_ret(pollux_timer_delete(p, bad[i]), -ENOENT);
    }
    /* ...and after some do. */
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_true(id >= 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (bad[i] == id)
            continue;
        assert_ret(pollux_timer_settime(p, bad[i], MS, 0, 0), -ENOENT);
        assert_ret(pollux_timer_gettime(p, bad[i], &rem, &ivl), -ENOENT);
        assert_ret(pollux_timer_delete(p, bad[i]), -ENOENT);
    }
    /* A registered fd is not a timer. */
    int fds[2];
    make_plain_pipe(fds);
    assert_ret(pollux_register(p, fds[1], POLLUX_WRITE, NULL), 0);
    if (fds[1] != id) {
        assert_ret(pollux_timer_settime(p, fds[1], MS, 0, 0), -ENOENT);
        assert_ret(pollux_timer_gettime(p, fds[1], &rem, &ivl), -ENOENT);
        assert_ret(pollux_timer_delete(p, fds[1]), -ENOENT);
    }
    assert_ret(pollux_unregister(p, fds[1]), 0);
    close(fds[0]);
    close(fds[1]);
}

static void deleted_id_fails_with_enoent(void **state)
{
    pollux *p = *state;
    int64_t rem, ivl;
    int a = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int b = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_true(a >= 0 && b >= 0);
    assert_ret(pollux_timer_settime(p, a, 10 * SEC, 0, 0), 0);
    assert_ret(pollux_timer_delete(p, a), 0);
    assert_ret(pollux_timer_settime(p, a, MS, 0, 0), -ENOENT);
    assert_ret(pollux_timer_gettime(p, a, &rem, &ivl), -ENOENT);
    assert_ret(pollux_timer_delete(p, a), -ENOENT);
    /* The other one is untouched. */
    assert_gettime(p, b, 0, 0, 0);
    assert_ret(pollux_timer_delete(p, b), 0);
    assert_ret(pollux_timer_delete(p, b), -ENOENT);
}

/* ---- firing ------------------------------------------------------------- */

static void oneshot_fires_once_with_count_1_then_gettime_is_zero(void **state)
{
    pollux *p = *state;
    static int tag;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, &tag);
    assert_true(id >= 0);
    int64_t before = clock_ns(CLOCK_MONOTONIC);
    assert_ret(pollux_timer_settime(p, id, 20 * MS, 0, 0), 0);
    assert_gettime(p, id, 1, 20 * MS, 0);

    pollux_event ev = next_timer_event(p, HANG_GUARD);
    int64_t after = clock_ns(CLOCK_MONOTONIC);
    assert_int_equal(ev.fd, id);
    assert_int_equal(ev.events, POLLUX_TIMER);
    assert_int_equal(ev.count, 1);
    assert_ptr_equal(ev.data, &tag);
    assert_true(after >= before + 20 * MS);

    assert_gettime(p, id, 0, 0, 0);
    assert_quiet(p, 60 * MS);
    assert_gettime(p, id, 0, 0, 0);
}

/* A one-shot timer that expired but was not reported yet: gettime (0, 0),
 * as timerfd's it_value once it expired. */
static void oneshot_expired_unreported_gettime_is_zero(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, id, 1 * MS, 0, 0), 0);
    sleep_ns(10 * MS);
    assert_gettime(p, id, 0, 0, 0);
    expect_timer_once(p, id);
}

static void wait_forever_returns_for_a_timer(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int64_t before = clock_ns(CLOCK_MONOTONIC);
    assert_ret(pollux_timer_settime(p, id, 30 * MS, 0, 0), 0);
    pollux_event ev;
    assert_int_equal(wait_n(p, &ev, 1, -1), 1); /* the alarm() guards a hang */
    assert_true(clock_ns(CLOCK_MONOTONIC) >= before + 30 * MS);
    assert_int_equal(ev.fd, id);
    assert_int_equal(ev.events, POLLUX_TIMER);
    assert_int_equal(ev.count, 1);
}

/* A wait's own timeout longer than the timer: the wait returns for the
 * timer, not for the timeout; shorter: the wait returns 0 and the timer
 * comes later. */
static void timer_shortens_a_longer_wait_and_not_a_shorter_one(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int64_t before = clock_ns(CLOCK_MONOTONIC);
    assert_ret(pollux_timer_settime(p, id, 80 * MS, 0, 0), 0);
    pollux_event ev;
    assert_int_equal(wait_n(p, &ev, 1, 10 * MS), 0);
    assert_true(clock_ns(CLOCK_MONOTONIC) >= before + 10 * MS);
    int n = 0;
    while (n == 0 && clock_ns(CLOCK_MONOTONIC) < before + HANG_GUARD)
        n = wait_n(p, &ev, 1, 10 * SEC);
    assert_int_equal(n, 1);
    int64_t after = clock_ns(CLOCK_MONOTONIC);
    assert_true(after >= before + 80 * MS);
    assert_true(after < before + 10 * SEC);
    assert_int_equal(ev.fd, id);
}

static void periodic_count_sums_missed_periods_after_a_stall(void **state)
{
    pollux *p = *state;
    const int64_t period = 10 * MS;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int64_t t0 = clock_ns(CLOCK_MONOTONIC);
    assert_ret(pollux_timer_settime(p, id, period, period, 0), 0);
    int64_t t0_end = clock_ns(CLOCK_MONOTONIC);

    sleep_ns(105 * MS); /* the loop stalls */

    int64_t t1 = clock_ns(CLOCK_MONOTONIC);
    pollux_event ev;
    assert_int_equal(wait_n(p, &ev, 1, 0), 1);
    int64_t t1_end = clock_ns(CLOCK_MONOTONIC);
    assert_int_equal(ev.fd, id);
    assert_int_equal(ev.events, POLLUX_TIMER);
    /* Expirations at start + k * period, start within [t0, t0_end], counted
     * at a moment within [t1, t1_end]. */
    uint64_t lo = (uint64_t)((t1 - t0_end) / period);
    uint64_t hi = (uint64_t)((t1_end - t0) / period);
    if (ev.count < lo || ev.count > hi)
        fail_msg("count %llu, expected within [%llu, %llu]", (unsigned long long)ev.count,
                 (unsigned long long)lo, (unsigned long long)hi);
    assert_true(ev.count > 1);

    /* The next report counts only what expired since. */
    uint64_t total = ev.count;
    ev = next_timer_event(p, HANG_GUARD);
    int64_t t2_end = clock_ns(CLOCK_MONOTONIC);
    total += ev.count;
    assert_true(ev.count >= 1);
    assert_true(total <= (uint64_t)((t2_end - t0) / period));
    assert_gettime(p, id, 1, period, period);
}

static void periodic_timer_is_never_early(void **state)
{
    pollux *p = *state;
    const int64_t initial = 7 * MS, period = 3 * MS;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int64_t t0 = clock_ns(CLOCK_MONOTONIC);
    assert_ret(pollux_timer_settime(p, id, initial, period, 0), 0);
    uint64_t total = 0;
    for (int i = 0; i < 20; i++) {
        pollux_event ev = next_timer_event(p, HANG_GUARD);
        int64_t t = clock_ns(CLOCK_MONOTONIC);
        assert_int_equal(ev.fd, id);
        assert_true(ev.count >= 1);
        total += ev.count;
        int64_t due = t0 + initial + (int64_t)(total - 1) * period;
        if (t < due)
            fail_msg("expiration %llu reported %lld ns early", (unsigned long long)total,
                     (long long)(due - t));
    }
}

/* Relative timers on every clock are never early, measured on that clock. */
static void relative_timers_are_never_early_on_each_clock(void **state)
{
    pollux *p = *state;
    static const int64_t delays[] = { 1, 1000, 500 * 1000, 1 * MS, 2500 * 1000, 10 * MS, 25 * MS };
    for (size_t c = 0; c < sizeof every_clock / sizeof every_clock[0]; c++) {
        for (size_t d = 0; d < sizeof delays / sizeof delays[0]; d++) {
            int id = pollux_timer_create(p, every_clock[c], NULL);
            assert_true(id >= 0);
            int64_t before = clock_ns(every_clock[c]);
            assert_ret(pollux_timer_settime(p, id, delays[d], 0, 0), 0);
            pollux_event ev = next_timer_event(p, HANG_GUARD);
            int64_t after = clock_ns(every_clock[c]);
            assert_int_equal(ev.fd, id);
            assert_int_equal(ev.count, 1);
            if (after < before + delays[d])
                fail_msg("clock %d delay %lld: fired %lld ns early", (int)every_clock[c],
                         (long long)delays[d], (long long)(before + delays[d] - after));
            assert_ret(pollux_timer_delete(p, id), 0);
        }
    }
}

/* ---- re-arming, disarming, gettime ------------------------------------ */

static void rearming_discards_pending_expirations(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, id, 1 * MS, 1 * MS, 0), 0);
    pollux_event ev;
    assert_int_equal(wait_n(p, &ev, 1, HANG_GUARD), 1); /* the queue sees it expire */
    sleep_ns(20 * MS);                                   /* and more accumulate */
    assert_ret(pollux_timer_settime(p, id, 10 * SEC, 0, 0), 0);
    assert_quiet(p, 0);
    assert_quiet(p, 20 * MS);
    assert_gettime(p, id, 9 * SEC, 10 * SEC, 0);

    /* Re-armed to expire soon: one fresh expiration, count 1. */
    assert_ret(pollux_timer_settime(p, id, 5 * MS, 0, 0), 0);
    ev = next_timer_event(p, HANG_GUARD);
    assert_int_equal(ev.fd, id);
    assert_int_equal(ev.count, 1);
    assert_quiet(p, 20 * MS);
}

/* Also when the expirations were counted by a wait that had no room to
 * report them (max_events), they are dropped by the re-arm. */
static void rearming_discards_expirations_left_unreported(void **state)
{
    pollux *p = *state;
    int a = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int b = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, a, 1 * MS, 0, 0), 0);
    assert_ret(pollux_timer_settime(p, b, 1 * MS, 0, 0), 0);
    sleep_ns(5 * MS);
    pollux_event ev;
    assert_int_equal(wait_n(p, &ev, 1, 0), 1);
    int other = ev.fd == a ? b : a;
    assert_ret(pollux_timer_settime(p, other, 10 * SEC, 0, 0), 0);
    assert_quiet(p, 20 * MS);
}

static void disarm_with_zero_initial_keeps_interval_in_gettime(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, id, 5 * MS, 5 * MS, 0), 0);
    assert_ret(pollux_timer_settime(p, id, 0, 250 * MS, 0), 0);
    assert_gettime(p, id, 0, 0, 250 * MS);
    assert_quiet(p, 30 * MS);
    assert_gettime(p, id, 0, 0, 250 * MS);

    assert_ret(pollux_timer_settime(p, id, 0, 0, 0), 0);
    assert_gettime(p, id, 0, 0, 0);
    /* Disarming with ABSTIME is disarming too. */
    assert_ret(pollux_timer_settime(p, id, 0, 7, POLLUX_TIMER_ABSTIME), 0);
    assert_gettime(p, id, 0, 0, 7);
    assert_quiet(p, 10 * MS);
}

static void disarm_drops_pending_expirations(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, id, 1 * MS, 1 * MS, 0), 0);
    pollux_event ev;
    assert_int_equal(wait_n(p, &ev, 1, HANG_GUARD), 1);
    sleep_ns(10 * MS);
    assert_ret(pollux_timer_settime(p, id, 0, 0, 0), 0);
    assert_quiet(p, 0);
    assert_quiet(p, 20 * MS);
}

static void gettime_reports_time_left_and_interval(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_gettime(p, id, 0, 0, 0); /* never armed */

    int64_t t0 = clock_ns(CLOCK_MONOTONIC);
    assert_ret(pollux_timer_settime(p, id, 500 * MS, 100 * MS, 0), 0);
    int64_t t0_end = clock_ns(CLOCK_MONOTONIC);
    sleep_ns(50 * MS);
    int64_t t1 = clock_ns(CLOCK_MONOTONIC);
    int64_t rem = -1, ivl = -1;
    assert_ret(pollux_timer_gettime(p, id, &rem, &ivl), 0);
    int64_t t1_end = clock_ns(CLOCK_MONOTONIC);
    /* deadline = start + 500 ms with start in [t0, t0_end] */
    assert_true(rem <= t0_end + 500 * MS - t1);
    assert_true(rem >= t0 + 500 * MS - t1_end);
    assert_int_equal(ivl, 100 * MS);

    /* Either pointer may be NULL. */
    assert_ret(pollux_timer_gettime(p, id, NULL, NULL), 0);
    rem = -1;
    assert_ret(pollux_timer_gettime(p, id, &rem, NULL), 0);
    assert_true(rem > 0);
    ivl = -1;
    assert_ret(pollux_timer_gettime(p, id, NULL, &ivl), 0);
    assert_int_equal(ivl, 100 * MS);
}

/* After periods passed unreported, gettime is the time to the next one:
 * within (0, interval]. */
static void gettime_of_overdue_periodic_timer_is_within_one_interval(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, id, 2 * MS, 20 * MS, 0), 0);
    sleep_ns(55 * MS);
    assert_gettime(p, id, 1, 20 * MS, 20 * MS);
    pollux_event ev;
    assert_int_equal(wait_n(p, &ev, 1, 0), 1);
    assert_true(ev.count >= 2);
    assert_gettime(p, id, 1, 20 * MS, 20 * MS);
}

static void huge_initial_and_interval_do_not_overflow(void **state)
{
    pollux *p = *state;
    int a = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int b = pollux_timer_create(p, CLOCK_REALTIME, NULL);
    int c = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, a, INT64_MAX, INT64_MAX, 0), 0);
    assert_ret(pollux_timer_settime(p, b, INT64_MAX, 0, POLLUX_TIMER_ABSTIME), 0);
    assert_ret(pollux_timer_settime(p, c, INT64_MAX - 1, 0, 0), 0);
    int64_t rem, ivl;
    assert_ret(pollux_timer_gettime(p, a, &rem, &ivl), 0);
    assert_true(rem > 100LL * 365 * 24 * 3600 * SEC);
    assert_int_equal(ivl, INT64_MAX);
    assert_ret(pollux_timer_gettime(p, b, &rem, &ivl), 0);
    assert_true(rem > 100LL * 365 * 24 * 3600 * SEC);
    assert_quiet(p, 20 * MS);
}

/* After the first expiration the next deadline is beyond INT64_MAX ns:
 * it must saturate to "never", not wrap around to the past. */
static void periodic_with_huge_interval_fires_once_and_does_not_overflow(void **state)
{
    pollux *p = *state;
    static const int64_t intervals[] = { INT64_MAX, INT64_MAX / 2 + 1 };
    for (size_t i = 0; i < 2; i++) {
        int a = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
        assert_ret(pollux_timer_settime(p, a, 1 * MS, intervals[i], 0), 0);
        pollux_event ev = next_timer_event(p, HANG_GUARD);
        assert_int_equal(ev.fd, a);
        assert_int_equal(ev.count, 1);
        assert_quiet(p, 10 * MS);
        int64_t rem, ivl;
        assert_ret(pollux_timer_gettime(p, a, &rem, &ivl), 0);
        assert_true(rem > 100LL * 365 * 24 * 3600 * SEC);
        assert_int_equal(ivl, intervals[i]);
        assert_ret(pollux_timer_delete(p, a), 0);
    }
}

/* ---- ABSTIME ------------------------------------------------------------ */

/* body(p, clock, id) with a new timer of each clock ABSTIME is tested on
 * (a monotonic one and the wall clock), deleted afterwards. */
static void on_each_abstime_clock(pollux *p, void (*body)(pollux *p, clockid_t clock, int id))
{
    static const clockid_t clocks[] = { CLOCK_MONOTONIC, CLOCK_REALTIME };
    for (size_t c = 0; c < sizeof clocks / sizeof clocks[0]; c++) {
        int id = pollux_timer_create(p, clocks[c], NULL);
        assert_true(id >= 0);
        body(p, clocks[c], id);
        assert_ret(pollux_timer_delete(p, id), 0);
    }
}

static void abstime_in_the_past_fires_immediately_with_count_1_on(pollux *p, clockid_t clock,
                                                                  int id)
{
    assert_ret(pollux_timer_settime(p, id, clock_ns(clock) - SEC, 0, POLLUX_TIMER_ABSTIME), 0);
    assert_gettime(p, id, 0, 0, 0);
    expect_timer_once(p, id);
    assert_quiet(p, 10 * MS);

    /* The earliest possible time: 1 ns after the epoch. */
    assert_ret(pollux_timer_settime(p, id, 1, 0, POLLUX_TIMER_ABSTIME), 0);
    expect_timer_once(p, id);
}

static void abstime_in_the_past_fires_immediately_with_count_1(void **state)
{
    on_each_abstime_clock(*state, abstime_in_the_past_fires_immediately_with_count_1_on);
}

static void abstime_in_the_past_with_interval_counts_missed_periods_on(pollux *p,
                                                                       clockid_t clock, int id)
{
    const int64_t period = 100 * MS;
    int64_t start = clock_ns(clock) - 1 * SEC - 50 * MS;
    assert_ret(pollux_timer_settime(p, id, start, period, POLLUX_TIMER_ABSTIME), 0);
    int64_t t1 = clock_ns(clock);
    pollux_event ev;
    assert_int_equal(wait_n(p, &ev, 1, 0), 1);
    int64_t t1_end = clock_ns(clock);
    assert_int_equal(ev.fd, id);
    /* 1 for the initial expiration plus every whole period since. */
    uint64_t lo = 1 + (uint64_t)((t1 - start) / period);
    uint64_t hi = 1 + (uint64_t)((t1_end - start) / period);
    if (ev.count < lo || ev.count > hi)
        fail_msg("clock %d: count %llu, expected within [%llu, %llu]", (int)clock,
                 (unsigned long long)ev.count, (unsigned long long)lo,
                 (unsigned long long)hi);
    assert_true(ev.count >= 11);
    assert_gettime(p, id, 1, period, period);
}

static void abstime_in_the_past_with_interval_counts_missed_periods(void **state)
{
    on_each_abstime_clock(*state, abstime_in_the_past_with_interval_counts_missed_periods_on);
}

static void abstime_fires_at_the_deadline_on_its_clock(void **state)
{
    pollux *p = *state;
    for (size_t c = 0; c < sizeof every_clock / sizeof every_clock[0]; c++) {
        static int tag;
        int id = pollux_timer_create(p, every_clock[c], &tag);
        int64_t deadline = clock_ns(every_clock[c]) + 40 * MS;
        assert_ret(pollux_timer_settime(p, id, deadline, 0, POLLUX_TIMER_ABSTIME), 0);
        pollux_event ev = next_timer_event(p, HANG_GUARD);
        int64_t t = clock_ns(every_clock[c]);
        assert_int_equal(ev.fd, id);
        assert_int_equal(ev.count, 1);
        assert_ptr_equal(ev.data, &tag);
        if (t < deadline)
            fail_msg("clock %d: ABSTIME timer fired %lld ns early", (int)every_clock[c],
                     (long long)(deadline - t));
        assert_gettime(p, id, 0, 0, 0);
        assert_ret(pollux_timer_delete(p, id), 0);
    }
}

static void abstime_periodic_is_never_early_on(pollux *p, clockid_t clock, int id)
{
    int64_t start = clock_ns(clock) + 5 * MS;
    const int64_t period = 4 * MS;
    assert_ret(pollux_timer_settime(p, id, start, period, POLLUX_TIMER_ABSTIME), 0);
    uint64_t total = 0;
    for (int i = 0; i < 8; i++) {
        pollux_event ev = next_timer_event(p, HANG_GUARD);
        int64_t t = clock_ns(clock);
        total += ev.count;
        assert_true(t >= start + (int64_t)(total - 1) * period);
    }
}

static void abstime_periodic_is_never_early(void **state)
{
    on_each_abstime_clock(*state, abstime_periodic_is_never_early_on);
}

static void gettime_is_relative_for_abstime_on(pollux *p, clockid_t clock, int id)
{
    int64_t deadline = clock_ns(clock) + 10 * SEC;
    assert_ret(pollux_timer_settime(p, id, deadline, 3 * SEC, POLLUX_TIMER_ABSTIME), 0);
    int64_t rem, ivl;
    assert_ret(pollux_timer_gettime(p, id, &rem, &ivl), 0);
    int64_t t = clock_ns(clock);
    assert_true(rem <= 10 * SEC);
    assert_true(rem >= deadline - t);
    assert_true(rem > 9 * SEC);
    assert_int_equal(ivl, 3 * SEC);
}

static void gettime_is_relative_for_abstime(void **state)
{
    on_each_abstime_clock(*state, gettime_is_relative_for_abstime_on);
}

/* ---- timers in the loop ------------------------------------------------- */

static void event_carries_id_data_and_only_the_timer_bit(void **state)
{
    pollux *p = *state;
    int tags[4];
    int ids[4];
    for (int i = 0; i < 4; i++) {
        ids[i] = pollux_timer_create(p, i % 2 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &tags[i]);
        assert_ret(pollux_timer_settime(p, ids[i], (1 + i) * MS, 0, 0), 0);
    }
    bool seen[4] = { false };
    for (int k = 0; k < 4; k++) {
        pollux_event ev = next_timer_event(p, HANG_GUARD);
        assert_int_equal(ev.events, POLLUX_TIMER);
        assert_int_equal(ev.count, 1);
        int i = 0;
        while (i < 4 && ids[i] != ev.fd)
            i++;
        assert_true(i < 4);
        assert_false(seen[i]);
        seen[i] = true;
        assert_ptr_equal(ev.data, &tags[i]);
    }
    assert_quiet(p, 10 * MS);
}

/* Many timers due at the same time and a small events array: each is
 * reported exactly once over the following waits. */
static void due_timers_beyond_max_events_come_in_later_waits(void **state)
{
    pollux *p = *state;
    enum { N = 10 };
    int ids[N];
    int64_t deadline = clock_ns(CLOCK_MONOTONIC) + 5 * MS;
    for (int i = 0; i < N; i++) {
        ids[i] = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
        assert_ret(pollux_timer_settime(p, ids[i], deadline, 0, POLLUX_TIMER_ABSTIME), 0);
    }
    sleep_ns(10 * MS);
    int seen[N] = { 0 }, total = 0, waits = 0;
    while (total < N) {
        pollux_event ev[3];
        int n = wait_n(p, ev, 3, 0);
        assert_true(n > 0);
        waits++;
        for (int k = 0; k < n; k++) {
            assert_int_equal(ev[k].events, POLLUX_TIMER);
            int i = 0;
            while (i < N && ids[i] != ev[k].fd)
                i++;
            assert_true(i < N);
            seen[i]++;
            total++;
        }
    }
    assert_int_equal(waits, 4);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    assert_quiet(p, 0);
}

static void rearm_from_inside_the_handler(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, id, 2 * MS, 0, 0), 0);
    /* A one-shot timer the handler re-arms each time: a "manual periodic". */
    for (int i = 0; i < 5; i++) {
        pollux_event ev = next_timer_event(p, HANG_GUARD);
        assert_int_equal(ev.fd, id);
        assert_int_equal(ev.count, 1);
        int64_t before = clock_ns(CLOCK_MONOTONIC);
        assert_ret(pollux_timer_settime(p, id, 3 * MS, 0, 0), 0);
        ev = next_timer_event(p, HANG_GUARD);
        assert_int_equal(ev.fd, id);
        assert_int_equal(ev.count, 1);
        assert_true(clock_ns(CLOCK_MONOTONIC) >= before + 3 * MS);
        assert_ret(pollux_timer_settime(p, id, 1 * MS, 0, 0), 0);
    }
    pollux_event ev = next_timer_event(p, HANG_GUARD);
    assert_int_equal(ev.fd, id);

    /* A periodic timer the handler turns into a slower one. */
    assert_ret(pollux_timer_settime(p, id, 1 * MS, 1 * MS, 0), 0);
    ev = next_timer_event(p, HANG_GUARD);
    assert_int_equal(ev.fd, id);
    int64_t before = clock_ns(CLOCK_MONOTONIC);
    assert_ret(pollux_timer_settime(p, id, 40 * MS, 40 * MS, 0), 0);
    ev = next_timer_event(p, HANG_GUARD);
    /* More than one period when the test was not scheduled for 80 ms (a
     * loaded machine): each counted one has passed, none early. */
    assert_true(ev.count >= 1);
    assert_true(clock_ns(CLOCK_MONOTONIC) >= before + (int64_t)ev.count * 40 * MS);
    /* And one that disarms itself. */
    assert_ret(pollux_timer_settime(p, id, 0, 0, 0), 0);
    assert_quiet(p, 60 * MS);
}

/* The handler of one timer deletes another that is due but not reported
 * yet, and itself: neither is reported again. */
static void delete_from_inside_the_handler(void **state)
{
    pollux *p = *state;
    int a = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int b = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int64_t deadline = clock_ns(CLOCK_MONOTONIC) + 2 * MS;
    assert_ret(pollux_timer_settime(p, a, deadline, 1 * MS, POLLUX_TIMER_ABSTIME), 0);
    assert_ret(pollux_timer_settime(p, b, deadline, 1 * MS, POLLUX_TIMER_ABSTIME), 0);
    sleep_ns(5 * MS);
    pollux_event ev = next_timer_event(p, HANG_GUARD); /* max_events 1: one of them */
    int other = ev.fd == a ? b : a;
    assert_ret(pollux_timer_delete(p, other), 0);
    assert_ret(pollux_timer_delete(p, ev.fd), 0);
    assert_quiet(p, 0);
    assert_quiet(p, 20 * MS);

    /* Delete in the handler and create at once: the reused id starts clean. */
    int c = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int d = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, c, 1 * MS, 1 * MS, 0), 0);
    assert_ret(pollux_timer_settime(p, d, 1 * MS, 1 * MS, 0), 0);
    sleep_ns(10 * MS);
    ev = next_timer_event(p, HANG_GUARD);
    other = ev.fd == c ? d : c;
    assert_ret(pollux_timer_delete(p, other), 0);
    assert_ret(pollux_timer_delete(p, ev.fd), 0);
    int e = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_true(e >= 0);
    assert_gettime(p, e, 0, 0, 0);
    assert_quiet(p, 20 * MS);
    int64_t before = clock_ns(CLOCK_MONOTONIC);
    assert_ret(pollux_timer_settime(p, e, 5 * MS, 0, 0), 0);
    ev = next_timer_event(p, HANG_GUARD);
    assert_int_equal(ev.fd, e);
    assert_int_equal(ev.count, 1);
    assert_true(clock_ns(CLOCK_MONOTONIC) >= before + 5 * MS);
}

/* A handler that deletes a timer reported later in the same batch: the
 * entry is already in the caller's array (it was reported), but nothing
 * more comes for it. */
static void delete_of_a_timer_later_in_the_same_batch(void **state)
{
    pollux *p = *state;
    int a = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int b = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, a, 1 * MS, 1 * MS, 0), 0);
    assert_ret(pollux_timer_settime(p, b, 1 * MS, 1 * MS, 0), 0);
    sleep_ns(5 * MS);
    pollux_event ev[4];
    int n = wait_n(p, ev, 4, HANG_GUARD);
    assert_int_equal(n, 2);
    assert_ret(pollux_timer_delete(p, ev[0].fd), 0);
    assert_ret(pollux_timer_delete(p, ev[1].fd), 0);
    assert_quiet(p, 20 * MS);
}

/* max_events = 1 with a ready pipe and a due timer: both are reported
 * within two waits, whichever comes first. */
static void timers_and_io_share_max_events(void **state)
{
    pollux *p = *state;
    int fds[2];
    make_plain_pipe(fds);
    static int pipe_tag;
    assert_ret(pollux_register(p, fds[0], POLLUX_READ, &pipe_tag), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, id, 1 * MS, 0, 0), 0);
    sleep_ns(5 * MS);

    pollux_event ev[2];
    assert_int_equal(wait_n(p, &ev[0], 1, 0), 1);
    assert_int_equal(wait_n(p, &ev[1], 1, 0), 1);
    bool got_pipe = false, got_timer = false;
    for (int i = 0; i < 2; i++) {
        if (ev[i].events & POLLUX_TIMER) {
            assert_int_equal(ev[i].fd, id);
            got_timer = true;
        } else {
            assert_int_equal(ev[i].fd, fds[0]);
            assert_ptr_equal(ev[i].data, &pipe_tag);
            got_pipe = true;
        }
    }
    assert_true(got_pipe);
    assert_true(got_timer);
    close(fds[0]);
    close(fds[1]);
}

/* A readable pipe and a periodic timer due again at nearly every look,
 * over many waits of one event: report counts of each kind and the
 * longest run of one kind. */
static void alternate(pollux *p, int64_t interval, int *pipes, int *timers, int *longest_run)
{
    int fds[2];
    make_plain_pipe(fds);
    assert_ret(pollux_register(p, fds[0], POLLUX_READ, NULL), 0);
    assert_int_equal(write(fds[1], "x", 1), 1); /* never drained: always ready */
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, id, 1, interval, 0), 0);
    sleep_ns(1 * MS);

    int run = 0;
    uint32_t last = 0;
    *pipes = *timers = *longest_run = 0;
    for (int i = 0; i < 200; i++) {
        pollux_event ev;
        assert_int_equal(wait_n(p, &ev, 1, HANG_GUARD), 1);
        uint32_t kind = ev.events & POLLUX_TIMER ? POLLUX_TIMER : POLLUX_READ;
        if (kind == POLLUX_TIMER)
            ++*timers;
        else
            ++*pipes;
        run = kind == last ? run + 1 : 1;
        last = kind;
        if (run > *longest_run)
            *longest_run = run;
    }
    assert_ret(pollux_timer_delete(p, id), 0);
    assert_ret(pollux_unregister(p, fds[0]), 0);
    close(fds[0]);
    close(fds[1]);
}

/* An interval of 1 ns: the timer is due at every look, so turns must
 * alternate strictly between the core's sources and the kernel's. */
static void always_due_timer_and_ready_io_alternate(void **state)
{
    int pipes, timers, longest_run;
    alternate(*state, 1, &pipes, &timers, &longest_run);
    if (longest_run > 2 || pipes < 90 || timers < 90)
        fail_msg("over 200 waits of max_events 1: %d pipe and %d timer reports, "
                 "longest run of one kind %d", pipes, timers, longest_run);
}

/* Intervals of microseconds: due at many looks, how many depends on the
 * machine's speed. The pipe keeps a fair share; the timer is reported. */
static void fast_periodic_timer_does_not_starve_ready_io(void **state)
{
    static const int64_t intervals[] = { 1000, 20000 };
    for (size_t i = 0; i < 2; i++) {
        int pipes, timers, longest_run;
        alternate(*state, intervals[i], &pipes, &timers, &longest_run);
        if (pipes < 40 || timers < 1)
            fail_msg("interval %lld ns, 200 waits of max_events 1: %d pipe and %d timer "
                     "reports", (long long)intervals[i], pipes, timers);
    }
}

/* Several ready pipes and one due timer, max_events 1: the timer comes
 * within a couple of waits, not after every pipe had its turn twice. */
static void due_timer_is_not_starved_by_many_ready_fds(void **state)
{
    pollux *p = *state;
    enum { PIPES = 8 };
    int fds[PIPES][2];
    for (int i = 0; i < PIPES; i++) {
        make_plain_pipe(fds[i]);
        assert_ret(pollux_register(p, fds[i][0], POLLUX_READ, NULL), 0);
        assert_int_equal(write(fds[i][1], "x", 1), 1);
    }
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, id, 1 * MS, 0, 0), 0);
    sleep_ns(5 * MS);
    int waits = 0;
    bool got_timer = false;
    while (!got_timer && waits < 2 * PIPES) {
        pollux_event ev;
        assert_int_equal(wait_n(p, &ev, 1, 0), 1);
        waits++;
        got_timer = ev.events & POLLUX_TIMER;
    }
    assert_true(got_timer);
    assert_true(waits <= 2);
    for (int i = 0; i < PIPES; i++) {
        close(fds[i][0]);
        close(fds[i][1]);
    }
}

/* ---- scale -------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    /* xorshift64*: reproducible, good enough for spreading deadlines */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static void many_timers_fire_once_in_deadline_order_none_early(void **state)
{
    pollux *p = *state;
    enum { N = 100000, BATCH = 1024 };
    const int64_t window = 300 * MS;
    int64_t *deadline = malloc(N * sizeof *deadline);
    int64_t *relative_floor = malloc(N * sizeof *relative_floor);
    unsigned char *fired = calloc(N, 1);
    int *id_of = malloc(N * sizeof *id_of);
    pollux_event *ev = malloc(BATCH * sizeof *ev);
    assert_non_null(deadline);
    assert_non_null(relative_floor);
    assert_non_null(fired);
    assert_non_null(id_of);
    assert_non_null(ev);

    /* Half absolute (exact deadline known), half relative (deadline at
     * least the clock before settime plus the delay). Ordering is checked
     * on the absolute ones, "none early" on all. */
    int64_t base = clock_ns(CLOCK_MONOTONIC) + 50 * MS;
    for (int i = 0; i < N; i++) {
        int id = pollux_timer_create(p, CLOCK_MONOTONIC, (void *)(intptr_t)i);
        assert_true(id >= 0);
        id_of[i] = id;
        int64_t offset = (int64_t)(rng() % (uint64_t)window);
        if (i % 2 == 0) {
            deadline[i] = base + offset;
            relative_floor[i] = deadline[i];
            assert_ret(pollux_timer_settime(p, id, deadline[i], 0, POLLUX_TIMER_ABSTIME), 0);
        } else {
            int64_t delay = 50 * MS + offset;
            int64_t before = clock_ns(CLOCK_MONOTONIC);
            assert_ret(pollux_timer_settime(p, id, delay, 0, 0), 0);
            relative_floor[i] = before + delay;
            deadline[i] = -1;
        }
    }

    int fired_count = 0, early = 0, out_of_order = 0, bad_count = 0;
    int64_t last_abs_deadline = INT64_MIN;
    int64_t last_floor = INT64_MIN; /* order among all: floors may only be off by setup time */
    int64_t give_up = clock_ns(CLOCK_MONOTONIC) + 30 * SEC;
    (void)last_floor;
    while (fired_count < N) {
        int64_t left = give_up - clock_ns(CLOCK_MONOTONIC);
        if (left <= 0)
            fail_msg("only %d of %d timers fired within 30 s", fired_count, N);
        int n = wait_n(p, ev, BATCH, left);
        int64_t t = clock_ns(CLOCK_MONOTONIC);
        for (int k = 0; k < n; k++) {
            assert_int_equal(ev[k].events, POLLUX_TIMER);
            int i = (int)(intptr_t)ev[k].data;
            assert_in_range(i, 0, N - 1);
            assert_int_equal(ev[k].fd, id_of[i]);
            if (fired[i])
                fail_msg("timer %d reported twice", i);
            fired[i] = 1;
            fired_count++;
            if (ev[k].count != 1)
                bad_count++;
            if (t < relative_floor[i])
                early++;
            if (deadline[i] >= 0) {
                if (deadline[i] < last_abs_deadline)
                    out_of_order++;
                last_abs_deadline = deadline[i];
            }
        }
    }
    if (early || out_of_order || bad_count)
        fail_msg("%d timers early, %d out of deadline order, %d with count != 1", early,
                 out_of_order, bad_count);
    assert_quiet(p, 20 * MS);

    free(deadline);
    free(relative_floor);
    free(fired);
    free(id_of);
    free(ev);
}

/* ---- pollux_fileno -------------------------------------------------------- */

/* The common nesting pattern: arm timers, then hand the descriptor to an
 * outer loop and call pollux_wait only once it is readable. */
static void fileno_polls_readable_for_a_timer_armed_before_any_wait(void **state)
{
    pollux *p = *state;
    int fd = fileno_or_skip(p);
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int64_t before = clock_ns(CLOCK_MONOTONIC);
    assert_ret(pollux_timer_settime(p, id, 50 * MS, 0, 0), 0);
    assert_false(poll_readable(fd, 0));
    assert_true(poll_readable(fd, (int)(HANG_GUARD / MS)));
    assert_true(clock_ns(CLOCK_MONOTONIC) >= before + 50 * MS);
    pollux_event ev;
    assert_int_equal(wait_n(p, &ev, 1, 0), 1);
    assert_int_equal(ev.fd, id);
    assert_int_equal(ev.events, POLLUX_TIMER);
}

static void fileno_polls_readable_when_a_timer_is_due_and_not_before(void **state)
{
    pollux *p = *state;
    int fd = fileno_or_skip(p);
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int64_t before = clock_ns(CLOCK_MONOTONIC);
    assert_ret(pollux_timer_settime(p, id, 300 * MS, 0, 0), 0);
    assert_quiet(p, 0); /* a non-blocking wait in between, as a loop would do */
    assert_false(poll_readable(fd, 100));
    assert_true(poll_readable(fd, (int)(HANG_GUARD / MS)));
    assert_true(clock_ns(CLOCK_MONOTONIC) >= before + 300 * MS);
    pollux_event ev;
    assert_int_equal(wait_n(p, &ev, 1, 0), 1);
    assert_int_equal(ev.fd, id);
    /* Reported: nothing left, the descriptor goes quiet. */
    assert_false(poll_readable(fd, 50));
}

/* A periodic timer keeps the descriptor waking, period after period: a
 * wait that reports one expiration leaves it armed for the next. */
static void fileno_polls_readable_for_each_period(void **state)
{
    pollux *p = *state;
    int fd = fileno_or_skip(p);
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, id, 20 * MS, 20 * MS, 0), 0);
    assert_quiet(p, 0); /* the loop has run once before it nests */
    for (int i = 0; i < 5; i++) {
        assert_true(poll_readable(fd, (int)(HANG_GUARD / MS)));
        pollux_event ev;
        int n = wait_n(p, &ev, 1, 0);
        /* A wake-up may precede the period by the backend's slack; then the
         * next poll brings it. Never more than one event. */
        if (n == 1)
            assert_int_equal(ev.fd, id);
    }
}

/* wait had no room for every due timer: the rest are still to be
 * reported, so the descriptor must poll readable. */
static void fileno_stays_readable_while_due_timers_are_unreported(void **state)
{
    pollux *p = *state;
    int fd = fileno_or_skip(p);
    int a = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int b = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, a, 5 * MS, 0, 0), 0);
    assert_ret(pollux_timer_settime(p, b, 5 * MS, 0, 0), 0);
    pollux_event ev = next_timer_event(p, HANG_GUARD); /* max_events 1 */
    (void)ev;
    assert_true(poll_readable(fd, 200));
    assert_int_equal(wait_n(p, &ev, 1, 0), 1);
    assert_int_equal(ev.events, POLLUX_TIMER);
}

/* ---- rebuilding --------------------------------------------------------- */

static void armed_timer_survives_after_fork_rebuild(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int64_t before = clock_ns(CLOCK_MONOTONIC);
    assert_ret(pollux_timer_settime(p, id, 30 * MS, 0, 0), 0);
    assert_quiet(p, 0);
    assert_ret(pollux_after_fork(p), 0); /* no fork: rebuilds in place */
    assert_gettime(p, id, 1, 30 * MS, 0);
    pollux_event ev = next_timer_event(p, HANG_GUARD);
    assert_int_equal(ev.fd, id);
    assert_int_equal(ev.count, 1);
    assert_true(clock_ns(CLOCK_MONOTONIC) >= before + 30 * MS);
}

/* Wait until each of the timers 0..n-1 has fired once, none before
 * not_before[id]; with in_order, in the order of not_before. */
static void each_fires_once_not_before(pollux *p, int n, const int64_t *not_before, bool in_order)
{
    enum { BATCH = 256 };
    unsigned char *fired = calloc((size_t)n, 1);
    pollux_event *ev = malloc(BATCH * sizeof *ev);
    assert_non_null(fired);
    assert_non_null(ev);
    int64_t last = 0, give_up = clock_ns(CLOCK_MONOTONIC) + HANG_GUARD;
    for (int left = n; left > 0;) {
        assert_true(clock_ns(CLOCK_MONOTONIC) < give_up);
        int got = wait_n(p, ev, BATCH, 100 * MS);
        int64_t now = clock_ns(CLOCK_MONOTONIC);
        for (int k = 0; k < got; k++) {
            int id = ev[k].fd;
            assert_true(id >= 0 && id < n);
            assert_false(fired[id]);
            fired[id] = 1;
            assert_int_equal(ev[k].count, 1);
            assert_true(now >= not_before[id]);
            if (in_order)
                assert_true(not_before[id] >= last);
            last = not_before[id];
            left--;
        }
    }
    free(fired);
    free(ev);
}

/* Resets move a node up or down the heap in place: timers reset earlier
 * and later, some twice, still fire once each, never early, and in the
 * order of their last deadlines (absolute deadlines: known exactly). */
static void resets_fire_once_in_new_deadline_order_none_early(void **state)
{
    pollux *p = *state;
    enum { N = 2000 };
    int64_t *deadline = malloc(N * sizeof *deadline);
    assert_non_null(deadline);
    uint32_t rnd = 12345;
    int64_t base = clock_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < N; i++) {
        assert_int_equal(pollux_timer_create(p, CLOCK_MONOTONIC, NULL), i);
        rnd = rnd * 1103515245u + 12345u;
        deadline[i] = base + 100 * MS + (int64_t)(rnd >> 8) % (200 * MS);
        assert_ret(pollux_timer_settime(p, i, deadline[i], 0, POLLUX_TIMER_ABSTIME), 0);
    }
    for (int round = 0; round < 2; round++) {
        for (int i = round; i < N; i += 1 + round) {
            rnd = rnd * 1103515245u + 12345u;
            deadline[i] = base + 20 * MS + (int64_t)(rnd >> 8) % (380 * MS);
            assert_ret(pollux_timer_settime(p, i, deadline[i], 0, POLLUX_TIMER_ABSTIME), 0);
        }
    }
    each_fires_once_not_before(p, N, deadline, true);
    free(deadline);
}

/*
 * Relative resets, the keepalive's: one moved later only stores its new
 * deadline, and its heap node is re-keyed when the old one comes up. Each
 * timer must fire once, never before its last deadline (counted from the
 * call, or from the loop time with POLLUX_TIMER_LOOPTIME: at or after the
 * start of the wait before), also when the old deadlines pass first.
 */
static void relative_resets_fire_at_their_last_deadline(pollux *p, unsigned flags)
{
    enum { N = 600 };
    int64_t *earliest = malloc(N * sizeof *earliest);
    pollux_event ev[4];
    assert_non_null(earliest);
    uint32_t rnd = 777;
    assert_int_equal(wait_n(p, ev, 4, 0), 0); /* the loop time */
    for (int i = 0; i < N; i++) {
        assert_int_equal(pollux_timer_create(p, CLOCK_MONOTONIC, NULL), i);
        rnd = rnd * 1103515245u + 12345u;
        int64_t ns = 10 * MS + (int64_t)(rnd >> 8) % (40 * MS);
        assert_ret(pollux_timer_settime(p, i, ns, 0, flags), 0);
    }
    /* Most later (past every first deadline), some earlier, some twice. */
    for (int round = 0; round < 2; round++) {
        int64_t start = clock_ns(CLOCK_MONOTONIC);
        assert_int_equal(wait_n(p, ev, 4, 0), 0); /* the loop time: after start */
        for (int i = round; i < N; i += 1 + round) {
            rnd = rnd * 1103515245u + 12345u;
            int64_t ns = i % 7 == 0 ? 5 * MS : 60 * MS + (int64_t)(rnd >> 8) % (60 * MS);
            assert_ret(pollux_timer_settime(p, i, ns, 0, flags), 0);
            earliest[i] = start + ns;
        }
    }
    each_fires_once_not_before(p, N, earliest, false);
    assert_int_equal(wait_n(p, ev, 4, 30 * MS), 0);
    free(earliest);
}

static void relative_resets_fire_at_their_last_deadline_counted_from_the_call(void **state)
{
    relative_resets_fire_at_their_last_deadline(*state, 0);
}

static void relative_resets_fire_at_their_last_deadline_counted_from_the_loop_time(void **state)
{
    relative_resets_fire_at_their_last_deadline(*state, POLLUX_TIMER_LOOPTIME);
}

/* Without pollux_fileno() the wait's timeout ends the wait for a monotonic
 * timer; asking for the descriptor later must still make it poll readable
 * for a timer armed before. */
static void fileno_asked_after_arming_and_waiting_polls_readable(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    int64_t before = clock_ns(CLOCK_MONOTONIC);
    assert_ret(pollux_timer_settime(p, id, 50 * MS, 0, 0), 0);
    assert_quiet(p, 0);
    int fd = fileno_or_skip(p);
    assert_true(poll_readable(fd, (int)(HANG_GUARD / MS)));
    assert_true(clock_ns(CLOCK_MONOTONIC) >= before + 50 * MS);
    pollux_event ev;
    assert_int_equal(wait_n(p, &ev, 1, 0), 1);
    assert_int_equal(ev.fd, id);
}

/* POLLUX_TIMER_LOOPTIME: a relative time counts from the clock as the last
 * wait read it. Sleeping after the wait shortens what is left, and the
 * timer still never fires before that wait's time + initial. */
static void looptime_counts_from_the_last_wait(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, id, 10 * SEC, 0, POLLUX_TIMER_LOOPTIME), 0);
    int64_t before_wait = clock_ns(CLOCK_MONOTONIC);
    assert_quiet(p, 0); /* reads the loop time */
    sleep_ns(30 * MS);
    assert_ret(pollux_timer_settime(p, id, 50 * MS, 0, POLLUX_TIMER_LOOPTIME), 0);
    int64_t remaining;
    assert_ret(pollux_timer_gettime(p, id, &remaining, NULL), 0);
    /* The deadline is at most the wait's return + 50 ms, and now is at
     * least that + 30 ms. */
    assert_true(remaining <= 20 * MS);
    pollux_event ev = next_timer_event(p, HANG_GUARD);
    assert_int_equal(ev.fd, id);
    assert_int_equal(ev.count, 1);
    assert_true(clock_ns(CLOCK_MONOTONIC) >= before_wait + 50 * MS);
}

/* Before any wait has read the loop time, the first LOOPTIME call reads
 * the clock: the timer counts from then, on every clock (each on a fresh
 * poller), and a periodic one keeps its interval. */
static void looptime_before_any_wait_counts_from_the_call(void **state)
{
    (void)state;
    static const int clocks[] = { CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME };
    for (int c = 0; c < 3; c++) {
        pollux *p = NULL;
        assert_ret(pollux_new(&p, g_backend), 0);
        int id = pollux_timer_create(p, clocks[c], NULL);
        int64_t before = clock_ns(CLOCK_MONOTONIC);
        assert_ret(pollux_timer_settime(p, id, 20 * MS, 20 * MS, POLLUX_TIMER_LOOPTIME), 0);
        assert_gettime(p, id, 1, 20 * MS, 20 * MS);
        pollux_event ev = next_timer_event(p, HANG_GUARD);
        assert_int_equal(ev.fd, id);
        assert_true(clock_ns(CLOCK_MONOTONIC) >= before + 20 * MS);
        pollux_free(p);
    }
}

/* ---- main --------------------------------------------------------------- */

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_NODEFER };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);

    static const struct CMUnitTest tests[] = {
        T(timer_ids_are_small_distinct_nonnegative_ints),
        T(timer_id_equal_to_registered_fd_does_not_clash),
        T(create_with_supported_clocks_succeeds),
        T(create_with_bad_clock_fails_with_einval),
        T(null_poller_fails_with_einval),
        T(settime_negative_fails_with_einval_and_keeps_old_setting),
        T(settime_unknown_flags_fails_with_einval_and_keeps_old_setting),
        T(bad_id_fails_with_enoent),
        T(deleted_id_fails_with_enoent),
        T(oneshot_fires_once_with_count_1_then_gettime_is_zero),
        T(oneshot_expired_unreported_gettime_is_zero),
        T(wait_forever_returns_for_a_timer),
        T(timer_shortens_a_longer_wait_and_not_a_shorter_one),
        T(periodic_count_sums_missed_periods_after_a_stall),
        T(periodic_timer_is_never_early),
        T(relative_timers_are_never_early_on_each_clock),
        T(rearming_discards_pending_expirations),
        T(rearming_discards_expirations_left_unreported),
        T(disarm_with_zero_initial_keeps_interval_in_gettime),
        T(disarm_drops_pending_expirations),
        T(gettime_reports_time_left_and_interval),
        T(gettime_of_overdue_periodic_timer_is_within_one_interval),
        T(huge_initial_and_interval_do_not_overflow),
        T(periodic_with_huge_interval_fires_once_and_does_not_overflow),
        T(abstime_in_the_past_fires_immediately_with_count_1),
        T(abstime_in_the_past_with_interval_counts_missed_periods),
        T(abstime_fires_at_the_deadline_on_its_clock),
        T(abstime_periodic_is_never_early),
        T(gettime_is_relative_for_abstime),
        T(event_carries_id_data_and_only_the_timer_bit),
        T(due_timers_beyond_max_events_come_in_later_waits),
        T(rearm_from_inside_the_handler),
        T(delete_from_inside_the_handler),
        T(delete_of_a_timer_later_in_the_same_batch),
        T(timers_and_io_share_max_events),
        T(always_due_timer_and_ready_io_alternate),
        T(fast_periodic_timer_does_not_starve_ready_io),
        T(due_timer_is_not_starved_by_many_ready_fds),
        T(many_timers_fire_once_in_deadline_order_none_early),
        T(fileno_polls_readable_for_a_timer_armed_before_any_wait),
        T(fileno_polls_readable_when_a_timer_is_due_and_not_before),
        T(fileno_polls_readable_for_each_period),
        T(fileno_stays_readable_while_due_timers_are_unreported),
        T(armed_timer_survives_after_fork_rebuild),
        T(resets_fire_once_in_new_deadline_order_none_early),
        T(relative_resets_fire_at_their_last_deadline_counted_from_the_call),
        T(relative_resets_fire_at_their_last_deadline_counted_from_the_loop_time),
        T(fileno_asked_after_arming_and_waiting_polls_readable),
        T(looptime_counts_from_the_last_wait),
        T(looptime_before_any_wait_counts_from_the_call),
    };
    static const struct backend_suite suite = {
        .name = "timers", .backend = &g_backend, .accepts_auto = true,
    };
    return run_backend_suite(&suite, argc, argv, tests);
}
