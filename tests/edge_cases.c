/*
 * edge_cases.c - regression tests from a code review, run once per backend:
 *
 *   edge_cases BACKEND
 *
 * Each test pins down a bug found by reading the code (see the comment
 * above it) or a subtle behaviour no other suite covers.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pollux.h>

#include "capabilities.h"
#include "helpers.h"

static pollux_backend g_backend;
static int tok[8];

/* The number of reports for fd in one wait of up to 16 events. */
static int reports_for(pollux *p, int fd, int64_t timeout_ns, uint32_t *bits)
{
    pollux_event ev[16];
    int n = wait_events(p, ev, 16, timeout_ns);
    assert_true(n >= 0);
    int found = 0;
    for (int i = 0; i < n; i++)
        if (ev[i].fd == fd && !(ev[i].events & (POLLUX_TIMER | POLLUX_WAKE))) {
            found++;
            if (bits != NULL)
                *bits = ev[i].events;
        }
    return found;
}

/* Make number `want` name the file open on `fd` (closing fd). */
static void move_to(int fd, int want)
{
    if (fd == want)
        return;
    assert_int_equal(dup3(fd, want, O_CLOEXEC), want);
    fd_track(want);
    fd_close(fd);
}

/* ------------------------------------------------------------------------
 * 1. A number registered and then closed without unregistering (allowed by
 * the contract) stays FD_USER in the core's table. When the poller opens an
 * internal descriptor later (wake channel in pollux_after_fork, a timerfd,
 * the ready flag), the kernel hands out the lowest free number, which can
 * be that one; core_watch_internal() then says -EEXIST.
 * pollux_after_fork() fails, and the wake channel is left unwatched.
 */
static void after_fork_when_closed_registered_numbers_are_lowest(void **state)
{
    /* Occupy the lowest numbers with pipes, then make a new poller so
     * that its own descriptors are above them. */
    pollux_free(*state);
    *state = NULL;
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    pollux *p;
    assert_ret(pollux_new(&p, g_backend), 0);
    *state = p;
    /* Register all four, then close them without unregistering. */
    int nums[4] = { a[0], a[1], b[0], b[1] };
    for (int i = 0; i < 4; i++)
        assert_ret(pollux_register(p, nums[i], i % 2 ? POLLUX_WRITE : POLLUX_READ, &tok[i]), 0);
    /* The lowest free numbers are now the four closed registered ones. */
    for (int i = 0; i < 4; i++)
        fd_close(nums[i]);
    assert_ret(pollux_after_fork(p), 0);
    assert_ret(pollux_wake(p), 0);
    pollux_event ev[4];
    int n = wait_events(p, ev, 4, 1000 * NS_PER_MS);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].events, POLLUX_WAKE);
}

/*
 * 1b. Same root cause without fork: a timer's kernel source (timerfd) lands
 * on a closed registered number, is refused, and pollux_fileno() no longer
 * polls readable when the timer is due (only epoll has both).
 */
static void fileno_readable_for_timer_when_timerfd_lands_on_closed_registered_number(void **state)
{
    pollux *p = *state;
    int pfd = fileno_or_skip(p);
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, NULL), 0);
    assert_ret(pollux_register(p, a[1], POLLUX_WRITE, NULL), 0);
    fd_close(a[0]);
    fd_close(a[1]);
    /* The lowest free numbers are now a[0] and a[1]. */
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_true(id >= 0);
    assert_ret(pollux_timer_settime(p, id, 20 * NS_PER_MS, 0, 0), 0);
    struct pollfd q = { .fd = pfd, .events = POLLIN };
    int r = poll(&q, 1, 1000);
    assert_int_equal(r, 1);
}

/* ------------------------------------------------------------------------
 * 2. Starvation: with max_events 1, a timer due at every look and an
 * always-ready regular file (epoll, kqueue: reported by the core) — the
 * core's own sources take turns with the kernel's, but inside the core's
 * turn timers always go before always-ready files, so the file is never
 * reported (src/pollux.c collect()).
 */
static void always_due_timer_does_not_starve_a_regular_file(void **state)
{
    pollux *p = *state;
    int f = make_regular_file();
    assert_ret(pollux_register(p, f, POLLUX_READ, &tok[0]), 0);
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, &tok[1]);
    assert_true(id >= 0);
    assert_ret(pollux_timer_settime(p, id, 1, 1, 0), 0); /* due at every look */
    sleep_ns(NS_PER_MS);
    int files = 0, timers = 0;
    for (int i = 0; i < 200; i++) {
        pollux_event ev;
        assert_int_equal(wait_events(p, &ev, 1, 1000 * NS_PER_MS), 1);
        if (ev.events & POLLUX_TIMER)
            timers++;
        else if (ev.fd == f)
            files++;
    }
    if (files < 50 || timers < 50)
        fail_msg("200 waits of max_events 1: %d file and %d timer reports", files, timers);
}

/* ------------------------------------------------------------------------
 * 3. kqueue keeps EV_ONESHOT / EV_CLEAR from a knote's first EV_ADD; a
 * modify that drops ONESHOT (or EDGE) re-adds the same knote, so the mode
 * silently stays (src/backend_kqueue.c queue_mask, src/pollux.c apply_mask
 * only removes + adds for EXCLUSIVE).
 */
static void modify_from_oneshot_to_level_before_it_fired_is_level(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ | POLLUX_ONESHOT, &tok[0]), 0);
    assert_ret(pollux_modify(p, a[0], POLLUX_READ, &tok[1]), 0);
    write_byte(a[1]);
    for (int i = 0; i < 3; i++)
        if (reports_for(p, a[0], 100 * NS_PER_MS, NULL) != 1)
            fail_msg("wait %d after modify to level READ: no report", i);
}

static void modify_from_edge_to_level_is_level(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    int r = pollux_register(p, a[0], POLLUX_READ | POLLUX_EDGE, &tok[0]);
    if (r == -ENOTSUP)
        skip();
    assert_ret(r, 0);
    write_byte(a[1]);
    assert_int_equal(reports_for(p, a[0], 100 * NS_PER_MS, NULL), 1);
    assert_int_equal(reports_for(p, a[0], 10 * NS_PER_MS, NULL), 0); /* edge */
    assert_ret(pollux_modify(p, a[0], POLLUX_READ, &tok[1]), 0);
    for (int i = 0; i < 3; i++)
        if (reports_for(p, a[0], 100 * NS_PER_MS, NULL) != 1)
            fail_msg("wait %d after modify to level READ (data unread): no report", i);
}

static void modify_from_level_to_edge_is_edge(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    int r = pollux_modify(p, a[0], POLLUX_READ | POLLUX_EDGE, &tok[1]);
    if (r == -ENOTSUP)
        skip();
    assert_ret(r, 0);
    write_byte(a[1]);
    assert_int_equal(reports_for(p, a[0], 100 * NS_PER_MS, NULL), 1);
    if (reports_for(p, a[0], 10 * NS_PER_MS, NULL) != 0)
        fail_msg("EDGE after modify from level: reported again without new data");
}

/* ------------------------------------------------------------------------
 * 4. kqueue's backlog: events kevent() returned beyond max_events are kept
 * and handed out by the next wait without asking the kernel. If the number
 * is unregistered, closed, reopened and registered again meanwhile, the
 * stale report is delivered for the new file, which is not ready.
 */
static void stale_report_is_not_delivered_for_a_reregistered_number(void **state)
{
    pollux *p = *state;
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    write_byte(a[1]);
    write_byte(b[1]);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_register(p, b[0], POLLUX_READ, &tok[1]), 0);
    pollux_event ev;
    assert_int_equal(wait_events(p, &ev, 1, 1000 * NS_PER_MS), 1);
    int other = ev.fd == a[0] ? b[0] : a[0];
    /* Replace `other` by an empty pipe under the same number. */
    assert_ret(pollux_unregister(p, other), 0);
    int c[2];
    make_pipe(c);
    move_to(c[0], other);
    assert_ret(pollux_register(p, other, POLLUX_READ, &tok[2]), 0);
    /* `other` is an empty pipe now: it must not be reported. */
    for (int i = 0; i < 4; i++) {
        int n = wait_events(p, &ev, 1, 0);
        if (n == 1 && ev.fd == other)
            fail_msg("empty pipe %d reported %#x (data %s)", other, ev.events,
                     ev.data == &tok[2] ? "new" : "old");
    }
}

/* ------------------------------------------------------------------------
 * 5. Decision 1 with a regular file at end of file: kqueue's modify re-adds
 * EVFILT_READ, a vnode filter that is only active before EOF, instead of
 * treating the file as always ready (as register does after fstat).
 * The existing conformance test uses a 5-byte file at offset 0.
 */
static void modify_after_number_reused_by_an_empty_regular_file_reports_it_ready(void **state)
{
    pollux *p = *state;
    int n = registered_then_closed(p, &tok[0]);
    int f = make_regular_file();
    assert_int_equal(ftruncate(f, 0), 0);
    move_to(f, n);
    assert_ret(pollux_modify(p, n, POLLUX_READ, &tok[1]), 0);
    uint32_t bits = 0;
    assert_int_equal(reports_for(p, n, 100 * NS_PER_MS, &bits), 1);
    assert_int_equal(reports_for(p, n, 100 * NS_PER_MS, &bits), 1);
}

/* The same for a registration that is then registered fresh on an empty
 * file: reported (pins down that register is fine). */
static void empty_regular_file_is_reported_ready(void **state)
{
    pollux *p = *state;
    int f = make_regular_file();
    assert_int_equal(ftruncate(f, 0), 0);
    assert_ret(pollux_register(p, f, POLLUX_READ, &tok[0]), 0);
    assert_int_equal(reports_for(p, f, 100 * NS_PER_MS, NULL), 1);
}

/* ------------------------------------------------------------------------
 * 6. kqueue remembers each number's kind (socket or not) at register, to
 * tell RDHUP from HUP on EV_EOF; a modify that re-establishes a reused
 * number does not look again. A socket number reused by a pipe then says
 * RDHUP for a pipe whose writer is gone, where every backend says HUP.
 */
static void modify_after_socket_number_reused_by_a_pipe_reports_hup(void **state)
{
    pollux *p = *state;
    if (!reports_hup(p))
        skip(); /* select never reports HUP (docs/decisions.md) */
    int s[2];
    make_socketpair(s);
    int n = s[0];
    assert_ret(pollux_register(p, n, POLLUX_READ | POLLUX_RDHUP, &tok[0]), 0);
    fd_close(s[0]);
    fd_close(s[1]);
    int a[2];
    make_pipe(a);
    move_to(a[0], n);
    fd_close(a[1]); /* the writer is gone: READ|HUP */
    assert_ret(pollux_modify(p, n, POLLUX_READ | POLLUX_RDHUP, &tok[1]), 0);
    uint32_t bits = 0;
    assert_int_equal(reports_for(p, n, 100 * NS_PER_MS, &bits), 1);
    if (!(bits & POLLUX_HUP))
        fail_msg("pipe with its writer gone reported %#x, without HUP", bits);
}

/* ------------------------------------------------------------------------
 * 7. epoll's deferred check of an unchanged modify, then the number is
 * closed and reused for another pipe before the wait: the new file is
 * watched (decision 1) and data goes to the new registration's pointer.
 */
static void unchanged_modify_then_reuse_before_wait_watches_new_file(void **state)
{
    pollux *p = *state;
    int n = registered_then_closed(p, &tok[0]);
    int b[2];
    make_pipe(b);
    move_to(b[0], n);
    assert_ret(pollux_modify(p, n, POLLUX_READ, &tok[1]), 0);
    assert_ret(pollux_modify(p, n, POLLUX_READ, &tok[2]), 0);
    write_byte(b[1]);
    pollux_event ev[4];
    int got = wait_events(p, ev, 4, 1000 * NS_PER_MS);
    assert_int_equal(got, 1);
    assert_int_equal(ev[0].fd, n);
    assert_ptr_equal(ev[0].data, &tok[2]);
}

/* An unchanged modify queued for epoll's check, then after_fork before the
 * wait: the check must not resurrect anything, and the fd is reported. */
static void unchanged_modify_then_after_fork_reports_once(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_modify(p, a[0], POLLUX_READ, &tok[1]), 0);
    assert_ret(pollux_after_fork(p), 0);
    write_byte(a[1]);
    pollux_event ev[4];
    assert_int_equal(wait_events(p, ev, 4, 1000 * NS_PER_MS), 1);
    assert_ptr_equal(ev[0].data, &tok[1]);
    assert_ret(pollux_unregister(p, a[0]), 0);
    assert_int_equal(wait_events(p, ev, 4, 10 * NS_PER_MS), 0);
}

/* ------------------------------------------------------------------------
 * 8. ONESHOT with READ and WRITE on kqueue (two one-shot knotes): after the
 * single report, a modify that keeps only READ re-arms; the WRITE knote
 * left over from the first registration must not report WRITE.
 */
static void oneshot_rearm_with_fewer_bits_reports_only_those(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    /* Only WRITE is ready: the READ knote stays armed. */
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_WRITE | POLLUX_ONESHOT, &tok[0]), 0);
    uint32_t bits = 0;
    assert_int_equal(reports_for(p, s[0], 100 * NS_PER_MS, &bits), 1);
    assert_int_equal(bits, POLLUX_WRITE);
    assert_int_equal(reports_for(p, s[0], 10 * NS_PER_MS, NULL), 0);
    assert_ret(pollux_modify(p, s[0], POLLUX_READ | POLLUX_ONESHOT, &tok[1]), 0);
    assert_int_equal(reports_for(p, s[0], 10 * NS_PER_MS, NULL), 0);
    write_byte(s[1]);
    assert_int_equal(reports_for(p, s[0], 100 * NS_PER_MS, &bits), 1);
    assert_int_equal(bits, POLLUX_READ);
    assert_int_equal(reports_for(p, s[0], 10 * NS_PER_MS, NULL), 0);
}

/* ------------------------------------------------------------------------
 * 9. Timer: settime inside the handler to an ABSTIME deadline in the past
 * with an interval reports the missed periods once, in the next wait.
 */
static void abstime_rearm_in_handler_counts_missed_periods(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_ret(pollux_timer_settime(p, id, 1, 0, 0), 0);
    pollux_event ev;
    assert_int_equal(wait_events(p, &ev, 1, 1000 * NS_PER_MS), 1);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
    /* 10 periods of 10 ms ago, period 10 ms: 10 or 11 expirations. */
    assert_ret(pollux_timer_settime(p, id, now - 100 * NS_PER_MS, 10 * NS_PER_MS,
                                    POLLUX_TIMER_ABSTIME), 0);
    assert_int_equal(wait_events(p, &ev, 1, 1000 * NS_PER_MS), 1);
    assert_int_equal(ev.fd, id);
    assert_true(ev.count >= 10 && ev.count <= 12);
}

/* ------------------------------------------------------------------------
 * 10. Queued changes (/dev/poll, kqueue) in order: unregister, close,
 * reopen the same number and register it with another mask, all before a
 * wait; and register + unregister + register again before any wait.
 */
static void unregister_close_reopen_register_before_a_wait(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    int n = a[0];
    write_byte(a[1]);
    assert_ret(pollux_register(p, n, POLLUX_READ, &tok[0]), 0);
    assert_int_equal(reports_for(p, n, 100 * NS_PER_MS, NULL), 1);
    assert_ret(pollux_unregister(p, n), 0);
    fd_close(a[0]);
    fd_close(a[1]);
    int s[2];
    make_socketpair(s);
    move_to(s[0], n);
    /* Writable, not readable: only WRITE may be reported. */
    assert_ret(pollux_register(p, n, POLLUX_READ | POLLUX_WRITE, &tok[1]), 0);
    assert_ret(pollux_unregister(p, n), 0);
    assert_ret(pollux_register(p, n, POLLUX_WRITE, &tok[2]), 0);
    write_byte(s[1]); /* readable too now, but READ is not in the interest */
    pollux_event ev[4];
    assert_int_equal(wait_events(p, ev, 4, 100 * NS_PER_MS), 1);
    assert_int_equal(ev[0].fd, n);
    assert_int_equal(ev[0].events, POLLUX_WRITE);
    assert_ptr_equal(ev[0].data, &tok[2]);
}

/*
 * A poller nested through pollux_fileno(): the outer loop polls that
 * descriptor, so a modify must reach the kernel before the next
 * pollux_wait (kqueue queues changes for the next wait otherwise).
 */
static void fileno_sees_a_modify_before_the_next_wait(void **state)
{
    pollux *p = *state;
    int pfd = fileno_or_skip(p);
    int s[2];
    make_socketpair(s);
    assert_ret(pollux_register(p, s[0], POLLUX_READ, &tok[0]), 0);
    struct pollfd outer = { .fd = pfd, .events = POLLIN };
    assert_int_equal(poll(&outer, 1, 0), 0); /* nothing to read yet */
    assert_ret(pollux_modify(p, s[0], POLLUX_READ | POLLUX_WRITE, &tok[1]), 0);
    assert_int_equal(poll(&outer, 1, 1000), 1); /* writable now */
    pollux_event ev[2];
    int n = pollux_wait(p, ev, 2, 0);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].fd, s[0]);
    assert_ptr_equal(ev[0].data, &tok[1]);
}

/* A later round of the kernel wait (after internal sources filled the
 * first) must not report a level-triggered descriptor a second time. */
static void a_ready_fd_and_a_due_timer_are_each_reported_once(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    write_byte(a[1]);
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, &tok[1]);
    assert_true(id >= 0);
    assert_ret(pollux_timer_settime(p, id, 1, 0, 0), 0);
    struct timespec pause = { 0, 5 * 1000 * 1000 };
    nanosleep(&pause, NULL);
    pollux_event ev[2];
    int n = pollux_wait(p, ev, 2, 0);
    assert_int_equal(n, 2);
    bool pipe_seen = false, timer_seen = false;
    for (int i = 0; i < n; i++) {
        if (ev[i].events & POLLUX_TIMER) {
            assert_false(timer_seen);
            timer_seen = true;
        } else {
            assert_int_equal(ev[i].fd, a[0]);
            assert_false(pipe_seen);
            pipe_seen = true;
        }
    }
    assert_true(pipe_seen && timer_seen);
}

/* After pollux_after_fork, pollux_fileno polls readable for a timer that
 * comes due, without a wait or settime first. */
static void fileno_polls_readable_for_a_timer_after_after_fork(void **state)
{
    pollux *p = *state;
    fileno_or_skip(p);
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_true(id >= 0);
    assert_ret(pollux_timer_settime(p, id, 20 * NS_PER_MS, 0, 0), 0);
    assert_ret(pollux_after_fork(p), 0);
    struct pollfd outer = { .fd = pollux_fileno(p), .events = POLLIN };
    assert_int_equal(poll(&outer, 1, 5000), 1);
    pollux_event ev;
    assert_int_equal(pollux_wait(p, &ev, 1, 0), 1);
    assert_int_equal(ev.fd, id);
}

/* Every failure of pollux_new leaves *out NULL, also for a bad backend. */
static void new_with_bad_backend_leaves_out_null(void **state)
{
    (void)state;
    pollux *q = (pollux *)&tok[0];
    assert_ret(pollux_new(&q, (pollux_backend)99), -EINVAL);
    assert_null(q);
}

/* ------------------------------------------------------------------------
 * Defects found by a differential fuzzer and ports of other projects'
 * tests (issue 8). Each runs on every backend: where the situation cannot
 * go wrong (poll watches numbers, not files) it pins down the same result.
 */

/* How many reports fd got among ev[0..n). */
static int count_fd(const pollux_event *ev, int n, int fd)
{
    int found = 0;
    for (int i = 0; i < n; i++)
        if (ev[i].fd == fd && !(ev[i].events & (POLLUX_TIMER | POLLUX_WAKE)))
            found++;
    return found;
}

/* Close number fd while a duplicate, returned, keeps its file open. */
static int close_keeping_file_open(int fd)
{
    int d = dup(fd);
    assert_true(d >= 0);
    fd_track(d);
    fd_close(fd);
    return d;
}

/* Close registered number fd while a dup keeps its file open, then modify
 * it (the modify finds the number closed, or not yet): epoll's watch of
 * the file is stale from then on. */
static void make_watch_stale(pollux *p, int fd, uint32_t interest, void *data)
{
    close_keeping_file_open(fd);
    int r = pollux_modify(p, fd, interest, data);
    assert_true(r == 0 || r == -EBADF);
}

/* Number n, watched for an empty pipe whose write end is w, is not
 * reported (not even as the file it named before) until a byte is written
 * to w; then it is reported once in each of `waits` waits, with data. */
static void reported_only_after_a_write(pollux *p, int n, int w, int waits, void *data)
{
    pollux_event ev[8];
    int got = wait_events(p, ev, 8, 0);
    assert_true(got >= 0);
    if (count_fd(ev, got, n) != 0)
        fail_msg("empty pipe %d reported (the old file's readiness?)", n);
    write_byte(w);
    for (int i = 0; i < waits; i++) {
        got = wait_events(p, ev, 8, 1000 * NS_PER_MS);
        assert_int_equal(count_fd(ev, got, n), 1);
        for (int k = 0; k < got; k++)
            if (ev[k].fd == n)
                assert_ptr_equal(ev[k].data, data);
    }
}

/* Defect 1: the always-ready rotation (epoll, kqueue) moved its start
 * inside the loop that used it, reporting one file twice and leaving
 * another out. */
static void each_regular_file_is_reported_once_per_wait(void **state)
{
    pollux *p = *state;
    int f[3];
    for (int i = 0; i < 3; i++) {
        f[i] = make_regular_file();
        assert_ret(pollux_register(p, f[i], POLLUX_READ, &tok[i]), 0);
    }
    for (int round = 0; round < 3; round++) {
        pollux_event ev[16];
        int n = wait_events(p, ev, 16, 0);
        assert_int_equal(n, 3);
        for (int i = 0; i < 3; i++)
            if (count_fd(ev, n, f[i]) != 1)
                fail_msg("wait %d: file %d reported %d times", round, f[i], count_fd(ev, n, f[i]));
    }
}

static void regular_files_take_turns_with_max_events_1(void **state)
{
    pollux *p = *state;
    int f[3];
    for (int i = 0; i < 3; i++) {
        f[i] = make_regular_file();
        assert_ret(pollux_register(p, f[i], POLLUX_READ, &tok[i]), 0);
    }
    int seen[3] = { 0 };
    for (int round = 0; round < 6; round++) {
        pollux_event ev;
        assert_int_equal(wait_events(p, &ev, 1, 0), 1);
        for (int i = 0; i < 3; i++)
            seen[i] += ev.fd == f[i];
    }
    for (int i = 0; i < 3; i++)
        if (seen[i] != 2)
            fail_msg("6 waits of max_events 1: file %d reported %d times", i, seen[i]);
}

/* Defect 3: epoll watches (file, number) pairs, so closing a registered
 * number while a dup keeps the file open leaves the kernel's watch behind,
 * out of reach of unregister. It must not make the wait spin. */
static void unregistered_number_whose_file_is_open_elsewhere_does_not_make_wait_spin(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    write_byte(a[1]);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    close_keeping_file_open(a[0]);
    assert_ret(pollux_unregister(p, a[0]), 0);
    pollux_event ev[4];
    int64_t t0 = now_ns(), c0 = cpu_ns();
    assert_int_equal(wait_events(p, ev, 4, 200 * NS_PER_MS), 0);
    int64_t wall = now_ns() - t0, cpu = cpu_ns() - c0;
    assert_true(wall >= 200 * NS_PER_MS);
    if (cpu > wall / 5) /* a wait that sleeps uses next to none */
        fail_msg("a wait of %lld ms used %lld ms of CPU", (long long)(wall / NS_PER_MS),
                 (long long)(cpu / NS_PER_MS));
}

/* Defect 3, continued: the number registered again for another file
 * reports that file only, once per call, with the new data. */
static void number_registered_again_after_its_file_stayed_open_elsewhere_reports_new_file(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    write_byte(a[1]);
    int n = a[0];
    assert_ret(pollux_register(p, n, POLLUX_READ, &tok[0]), 0);
    close_keeping_file_open(n);
    assert_ret(pollux_unregister(p, n), 0);
    int b[2];
    make_pipe(b);
    move_to(b[0], n);
    assert_ret(pollux_register(p, n, POLLUX_READ, &tok[1]), 0);
    reported_only_after_a_write(p, n, b[1], 2, &tok[1]);
}

/* Defect 3 without unregister: the number closed (the file open
 * elsewhere), reused and re-established by modify (decision 1). */
static void modify_after_close_while_file_open_elsewhere_reports_new_file_once(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    write_byte(a[1]);
    int n = a[0];
    assert_ret(pollux_register(p, n, POLLUX_READ, &tok[0]), 0);
    close_keeping_file_open(n);
    int b[2];
    make_pipe(b);
    move_to(b[0], n);
    assert_ret(pollux_modify(p, n, POLLUX_READ | POLLUX_RDHUP, &tok[1]), 0);
    reported_only_after_a_write(p, n, b[1], 1, &tok[1]);
}

/* Defect 6: a registered regular file closed, its number reused by an
 * empty pipe. That the number is open does not make it the same file. */
static void regular_file_number_reused_by_an_empty_pipe_is_not_reported(void **state)
{
    pollux *p = *state;
    int f = make_regular_file();
    assert_ret(pollux_register(p, f, POLLUX_READ, &tok[0]), 0);
    assert_int_equal(reports_for(p, f, 100 * NS_PER_MS, NULL), 1);
    fd_close(f);
    int a[2];
    make_pipe(a);
    move_to(a[0], f);
    for (int i = 0; i < 3; i++)
        if (reports_for(p, f, 0, NULL) != 0)
            fail_msg("wait %d: empty pipe %d reported", i, f);
}

/* Defect 7: epoll refuses a regular file with EPERM on EPOLL_CTL_MOD as
 * on ADD: a modify with a new mask on a number now naming one. */
static void modify_with_a_new_mask_on_a_number_reused_by_a_regular_file_reports_it(void **state)
{
    pollux *p = *state;
    int n = registered_then_closed(p, &tok[0]);
    move_to(make_regular_file(), n);
    assert_ret(pollux_modify(p, n, POLLUX_READ | POLLUX_WRITE, &tok[1]), 0);
    for (int i = 0; i < 2; i++) {
        uint32_t bits = 0;
        assert_int_equal(reports_for(p, n, 100 * NS_PER_MS, &bits), 1);
        assert_int_equal(bits, POLLUX_READ | POLLUX_WRITE);
    }
}

/* Defect 8: an unchanged modify on a number now naming a regular file;
 * the next wait(0) must report it and the other ready descriptors. */
static void unchanged_modify_on_a_number_reused_by_a_regular_file_hides_nothing(void **state)
{
    pollux *p = *state;
    int b[2];
    make_pipe(b);
    write_byte(b[1]);
    assert_ret(pollux_register(p, b[0], POLLUX_READ, &tok[0]), 0);
    int n = registered_then_closed(p, &tok[1]);
    move_to(make_regular_file(), n);
    assert_ret(pollux_modify(p, n, POLLUX_READ, &tok[2]), 0);
    pollux_event ev[8];
    int got = wait_events(p, ev, 8, 0);
    assert_int_equal(got, 2);
    assert_int_equal(count_fd(ev, got, b[0]), 1);
    assert_int_equal(count_fd(ev, got, n), 1);
}

/* Whether an open fd that the poller opened is one of its own: the test-only
 * kqueue emulation and libkqueue open descriptors of their own behind
 * kqueue(), so there only the kqueue itself counts. Over libkqueue, which
 * has no pollux_fileno, that is the write end of a pipe
 * (docs/portability.md); none of libkqueue's others is one. */
static bool own_descriptor(pollux *p, int fd)
{
    if (g_backend != POLLUX_BACKEND_KQUEUE)
        return true;
    int kq = pollux_fileno(p);
    if (kq != -ENOTSUP)
        return fd == kq;
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)
           && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY;
}

/* The poller's descriptors among those open now that were not open in
 * `before` (first 1024). */
static int new_descriptors(pollux *p, const unsigned char *before, int *out, int max)
{
    int n = 0;
    for (int fd = 0; fd < 1024 && n < max; fd++)
        if (!before[fd] && fd_is_open(fd) && own_descriptor(p, fd))
            out[n++] = fd;
    return n;
}

/* Defect 9, defect 18: after_fork's new kernel objects (the backend's, or
 * those of a kqueue implemented in user space) took closed registered
 * numbers. They are held meanwhile: each stays closed, and the caller's. */
static void after_fork_leaves_closed_registered_numbers_free(void **state)
{
    pollux_free(*state);
    *state = NULL;
    fd_settle(); /* the numbers compared below are final */
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    pollux *p;
    assert_ret(pollux_new(&p, g_backend), 0);
    *state = p;
    int nums[4] = { a[0], a[1], b[0], b[1] };
    for (int i = 0; i < 4; i++)
        assert_ret(pollux_register(p, nums[i], POLLUX_READ, &tok[i]), 0);
    for (int i = 0; i < 4; i++)
        fd_close(nums[i]);
    assert_ret(pollux_after_fork(p), 0);
    for (int i = 0; i < 4; i++) {
        assert_false(fd_is_open(nums[i]));
        assert_ret(pollux_modify(p, nums[i], POLLUX_READ, &tok[i]), -EBADF);
        assert_ret(pollux_register(p, nums[i], POLLUX_READ, &tok[i]), -EEXIST);
    }
}

/* Docs: registering one of the poller's own descriptors (its kernel
 * object, wake channel, timer source, ready flag) is -EBADF everywhere. */
static void registering_a_descriptor_of_the_poller_itself_fails_with_ebadf(void **state)
{
    pollux_free(*state);
    *state = NULL;
    fd_settle(); /* the numbers compared below are final */
    static unsigned char before[1024];
    for (int fd = 0; fd < 1024; fd++)
        before[fd] = (unsigned char)fd_is_open(fd);
    pollux *p;
    assert_ret(pollux_new(&p, g_backend), 0);
    *state = p;
    int f = make_regular_file(); /* opens epoll's ready flag */
    before[f] = 1;
    assert_ret(pollux_register(p, f, POLLUX_READ, NULL), 0);
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_true(id >= 0);
    assert_ret(pollux_timer_settime(p, id, NS_PER_S, 0, 0), 0); /* opens a timerfd */
    int own[16];
    int n = new_descriptors(p, before, own, 16);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        assert_ret(pollux_register(p, own[i], POLLUX_READ, NULL), -EBADF);
        assert_ret(pollux_register(p, own[i], 0, NULL), -EBADF);
    }
    pollux_event ev[4];
    assert_true(wait_events(p, ev, 4, 0) >= 0);
}

/* Defect 10: select's highest watched number was lowered past a
 * registration that set no select bit (RDHUP alone) and never raised
 * again by a modify. */
static void modify_after_unregister_of_a_lower_fd_keeps_watching(void **state)
{
    pollux *p = *state;
    int a[2], c[2];
    make_socketpair(a);
    make_socketpair(c);
    uint32_t all = POLLUX_READ | POLLUX_WRITE | POLLUX_RDHUP;
    assert_ret(pollux_register(p, a[0], all, &tok[0]), 0);
    assert_ret(pollux_register(p, c[0], all, &tok[1]), 0);
    assert_ret(pollux_modify(p, c[0], POLLUX_RDHUP, &tok[1]), 0);
    assert_ret(pollux_unregister(p, a[0]), 0);
    assert_ret(pollux_modify(p, c[0], POLLUX_WRITE | POLLUX_RDHUP, &tok[1]), 0);
    uint32_t bits = 0;
    assert_int_equal(reports_for(p, c[0], 200 * NS_PER_MS, &bits), 1);
    assert_int_equal(bits, POLLUX_WRITE);
}

/* Docs: a child that uses an inherited poller without after_fork. On
 * epoll its registration lands in the parent's set, and stays there after
 * the child exits (the parent holds the file): the parent's wait must not
 * busy-loop on a watch it did not make. */
static void child_registering_without_after_fork_does_not_make_the_parent_spin(void **state)
{
    pollux *p = *state;
    int c[2];
    make_pipe(c);
    write_byte(c[1]);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Fails on kqueue, which is not inherited; lands in the parent's
         * set on epoll. */
        pollux_register(p, c[0], POLLUX_READ, &tok[0]);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pollux_event ev[4];
    int64_t t0 = now_ns(), c0 = cpu_ns();
    assert_int_equal(wait_events(p, ev, 4, 200 * NS_PER_MS), 0);
    int64_t wall = now_ns() - t0, cpu = cpu_ns() - c0;
    if (cpu > wall / 2)
        fail_msg("a wait of %lld ms used %lld ms of CPU", (long long)(wall / NS_PER_MS),
                 (long long)(cpu / NS_PER_MS));
}

/* A wait with room for one report, two pipes ready: the one not reported
 * is drained before the next wait, which must not report it (kqueue kept
 * what found no room and handed it out later without asking again). */
static void pipe_drained_after_a_wait_without_room_for_it_is_not_reported(void **state)
{
    pollux *p = *state;
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    write_byte(a[1]);
    write_byte(b[1]);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_register(p, b[0], POLLUX_READ, &tok[1]), 0);
    pollux_event ev[2];
    assert_int_equal(wait_events(p, ev, 1, 1000 * NS_PER_MS), 1);
    drain(a[0]);
    drain(b[0]);
    int got = wait_events(p, ev, 1, 0);
    assert_true(got >= 0);
    if (got > 0)
        fail_msg("drained pipe %d reported 0x%x", ev[0].fd, (unsigned)ev[0].events);
}

/* Unregistering a number closed while its file stays open elsewhere may
 * make the backend start over with a new kernel object (kqueue over
 * libkqueue): a pending wake, an armed timer and the other registrations,
 * each with its own mask, come through. */
static void wake_timer_and_registrations_survive_unregister_of_a_closed_number(void **state)
{
    pollux *p = *state;
    int a[2], b[2], c[2];
    make_pipe(a);
    make_pipe(b);
    make_socketpair(c);
    write_byte(a[1]);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_register(p, b[0], POLLUX_READ, &tok[1]), 0);
    assert_ret(pollux_register(p, c[0], POLLUX_WRITE, &tok[2]), 0);
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, &tok[3]);
    assert_true(id >= 0);
    assert_ret(pollux_timer_settime(p, id, 50 * NS_PER_MS, 0, 0), 0);
    assert_ret(pollux_wake(p), 0);
    fd_track(dup(a[0]));
    fd_close(a[0]);
    assert_ret(pollux_unregister(p, a[0]), 0);
    write_byte(b[1]);
    bool wake = false, timer = false, read_b = false, write_c = false;
    pollux_event ev[8];
    for (int i = 0; i < 20 && !(wake && timer && read_b && write_c); i++) {
        /* The timer's kernel source must end the wait, long before this. */
        int64_t t0 = now_ns();
        int got = wait_events(p, ev, 8, 10000 * NS_PER_MS);
        if (now_ns() - t0 >= 10000 * NS_PER_MS)
            fail_msg("a wait slept through the timer");
        assert_true(got >= 0);
        for (int k = 0; k < got; k++) {
            wake |= ev[k].events == POLLUX_WAKE;
            timer |= ev[k].events == POLLUX_TIMER;
            read_b |= ev[k].fd == b[0] && ev[k].events == POLLUX_READ;
            write_c |= ev[k].fd == c[0] && ev[k].events == POLLUX_WRITE;
        }
        /* Level-triggered: quiet them once seen, so that the wait sleeps
         * until the timer is due. */
        if (read_b)
            drain(b[0]);
        if (write_c)
            assert_ret(pollux_modify(p, c[0], POLLUX_READ, &tok[2]), 0);
    }
    assert_true(wake);
    assert_true(timer);
    assert_true(read_b);
    assert_true(write_c);
}

/*
 * select fails as a whole with EBADF when a registered number was closed
 * without unregistering: the other ready sources (a readable pipe, a
 * pending wake) must still be reported by the same wait, even with timeout
 * 0 (tests/fuzz/regressions/defect11-select-closed-registered-fd).
 */
static void closed_registered_fd_does_not_hide_other_ready_sources(void **state)
{
    pollux *p = *state;
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    write_byte(a[1]);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_register(p, b[1], POLLUX_WRITE, &tok[1]), 0);
    fd_close(b[1]);
    assert_ret(pollux_wake(p), 0);
    pollux_event ev[8];
    int n = wait_events(p, ev, 8, 0);
    assert_int_equal(n, 2);
    bool read = false, wake = false;
    for (int i = 0; i < n; i++) {
        read |= ev[i].fd == a[0] && ev[i].events == POLLUX_READ && ev[i].data == &tok[0];
        wake |= ev[i].fd == -1 && ev[i].events == POLLUX_WAKE;
    }
    assert_true(read && wake);
}

/* Close fd, let a wait see it closed, and put the write end of a new pipe
 * (writable, its read end kept open) on its number. */
static void close_see_closed_and_reuse(pollux *p, int fd)
{
    int c[2];
    make_pipe(c); /* first, so that its read end does not take fd's number */
    fd_close(fd);
    pollux_event ev[4];
    assert_ret(wait_events(p, ev, 4, 0), 0);
    move_to(c[1], fd);
}

/*
 * A registration whose number a wait saw closed (FD_CLOSED), and which is
 * open again when pollux_after_fork runs, is watched again for the file it
 * names then, as for any other open number (docs/reference.md; found by
 * tests/fuzz/regressions/defect13-after-fork-skips-number-seen-closed).
 */
static void after_fork_watches_again_a_number_seen_closed_and_open_again(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[1], POLLUX_WRITE, &tok[1]), 0);
    close_see_closed_and_reuse(p, a[1]);
    assert_ret(pollux_after_fork(p), 0);
    uint32_t bits = 0;
    assert_int_equal(reports_for(p, a[1], 0, &bits), 1);
    assert_int_equal(bits, POLLUX_WRITE);
}

/* The same for a regular file (always ready on epoll and kqueue, where the
 * core itself sees it closed). */
static void after_fork_watches_again_a_regular_file_number_seen_closed_and_open_again(void **state)
{
    pollux *p = *state;
    int f = make_regular_file();
    assert_ret(pollux_register(p, f, POLLUX_WRITE, &tok[1]), 0);
    assert_int_equal(reports_for(p, f, 0, NULL), 1);
    close_see_closed_and_reuse(p, f);
    assert_ret(pollux_after_fork(p), 0);
    uint32_t bits = 0;
    assert_int_equal(reports_for(p, f, 0, &bits), 1);
    assert_int_equal(bits, POLLUX_WRITE);
}

/* Lower RLIMIT_NOFILE to the lowest free number: no descriptor is free. */
static struct rlimit no_free_descriptor(void)
{
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int lowest = fcntl(0, F_DUPFD, 0);
    if (lowest < 0)
        lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(lowest >= 0);
    close(lowest);
    struct rlimit low = { .rlim_cur = (rlim_t)lowest, .rlim_max = old.rlim_max };
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    return old;
}

/*
 * A regular file registered while no descriptor is free for the internal
 * ready flag: pollux_fileno(), asked once descriptors are free again,
 * polls readable for it without a pollux_wait first
 * (tests/fuzz/regressions/defect16-fileno-ready-flag-emfile).
 */
static void fileno_polls_readable_for_a_regular_file_registered_without_free_descriptors(void **state)
{
    pollux *p = *state;
    int f = make_regular_file();
    struct rlimit old = no_free_descriptor();
    int r = pollux_register(p, f, POLLUX_READ, &tok[0]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_ret(r, 0);
    struct pollfd outer = { .fd = fileno_or_skip(p), .events = POLLIN };
    assert_int_equal(poll(&outer, 1, 1000), 1);
    assert_int_equal(reports_for(p, f, 0, NULL), 1);
}

/*
 * The first pollux_fileno() opens the ready flag ahead of need: a regular
 * file registered later, with no descriptor free, makes the descriptor
 * already handed out poll readable, without another call.
 */
static void fileno_asked_before_exhaustion_polls_readable_for_a_regular_file(void **state)
{
    pollux *p = *state;
    struct pollfd outer = { .fd = fileno_or_skip(p), .events = POLLIN };
    int f = make_regular_file();
    struct rlimit old = no_free_descriptor();
    int r = pollux_register(p, f, POLLUX_READ, &tok[0]);
    int ready = poll(&outer, 1, 1000);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_ret(r, 0);
    assert_int_equal(ready, 1);
    assert_int_equal(reports_for(p, f, 0, NULL), 1);
}

/* Defect 18: the descriptors after_fork opens for timers and the ready
 * flag, and a user-space kqueue's for its knotes, do not take a closed
 * registered number either; the registration stays the caller's. */
static void after_fork_with_timers_and_fileno_leaves_closed_registered_numbers_free(void **state)
{
    pollux_free(*state);
    *state = NULL;
    fd_settle();
    int a[2], b[2], c[2];
    make_pipe(a);
    make_pipe(b);
    make_pipe(c);
    pollux *p;
    assert_ret(pollux_new(&p, g_backend), 0);
    *state = p;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_true(id >= 0);
    assert_ret(pollux_timer_settime(p, id, 3600 * NS_PER_MS * 1000, 0, 0), 0);
    (void)pollux_fileno(p); /* a ready flag too where the backend uses one */
    int nums[6] = { a[0], a[1], b[0], b[1], c[0], c[1] };
    for (int i = 0; i < 6; i++)
        assert_ret(pollux_register(p, nums[i], i % 2 ? 0 : POLLUX_READ, &tok[i % 4]), 0);
    for (int i = 0; i < 6; i++)
        fd_close(nums[i]);
    assert_ret(pollux_after_fork(p), 0);
    for (int i = 0; i < 6; i++) {
        assert_false(fd_is_open(nums[i]));
        assert_ret(pollux_register(p, nums[i], 0, &tok[0]), -EEXIST);
        assert_ret(pollux_modify(p, nums[i], POLLUX_READ, &tok[0]), -EBADF);
        assert_ret(pollux_unregister(p, nums[i]), 0);
    }
}

/*
 * A regular file registered and closed keeps the internal ready flag
 * signalled until a wait finds it closed; the flag is a level-triggered
 * source that a wait of max_events 1 retrieves, and the kernel must then
 * put a ready descriptor it left unretrieved ahead of it, or the flag
 * takes every round (tests/fuzz/regressions/defect24-kqueue-ready-flag-crowds-out-write).
 */
static void ready_flag_of_a_closed_regular_file_does_not_crowd_out_a_writable_socket(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s); /* first: not on the number about to be closed */
    int f = make_regular_file();
    assert_ret(pollux_register(p, f, POLLUX_READ | POLLUX_WRITE, &tok[0]), 0);
    fd_close(f);
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_WRITE, &tok[1]), 0);
    pollux_event ev;
    int seen = 0;
    for (int round = 0; round < 2; round++) {
        int n = wait_events(p, &ev, 1, 0);
        assert_true(n >= 0);
        seen += n == 1 && ev.fd == s[0] && (ev.events & POLLUX_WRITE);
    }
    if (seen != 2)
        fail_msg("2 waits of max_events 1: the writable socket reported %d times", seen);
}

/*
 * A timer armed after the user closed a number opens no descriptor there
 * on a kqueue (EVFILT_TIMER), so registering the closed number is still
 * -EBADF, or -EEXIST where pollux's own timerfd took it
 * (tests/fuzz/regressions/defect21-kqueue-timer-takes-closed-number).
 */
static void register_closed_number_after_arming_a_timer_is_ebadf(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    int closed = a[0];
    fd_close(closed);
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, &tok[0]);
    assert_true(id >= 0);
    assert_ret(pollux_timer_settime(p, id, POLLUX_SEC(3600), 0, 0), 0);
    /* -EEXIST where pollux's own timer source (a timerfd) took it. */
    int r = pollux_register(p, closed, POLLUX_READ, &tok[1]);
    if (r != -EBADF && r != -EEXIST)
        fail_msg("register of the closed number %d returned %d, not -EBADF or -EEXIST", closed, r);
}

/*
 * A registered number closed while a dup keeps its pipe open: its watch
 * is gone on FreeBSD, and must not take the room of a wait of
 * max_events 1 from another writable pipe
 * (tests/fuzz/regressions/defect22-kqueue-closed-watch-takes-the-room).
 */
static void closed_number_whose_file_stays_open_does_not_take_the_room_of_a_ready_one(void **state)
{
    pollux *p = *state;
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    assert_ret(pollux_register(p, a[1], POLLUX_WRITE, &tok[0]), 0);
    assert_ret(pollux_register(p, b[1], POLLUX_WRITE, &tok[1]), 0);
    close_keeping_file_open(a[1]);
    pollux_event ev;
    int seen = 0;
    for (int round = 0; round < 2; round++) {
        int n = wait_events(p, &ev, 1, 0);
        assert_true(n >= 0);
        seen += n == 1 && ev.fd == b[1];
    }
    /* epoll rebuilds its set on the first report of the watch left behind,
     * and kqueue over libkqueue (the kqueue without a pollable descriptor)
     * replaces its kqueue when it finds the number closed
     * (docs/portability.md): that takes the wait's room, later waits only. */
    bool rebuilds = g_backend == POLLUX_BACKEND_EPOLL
                    || (g_backend == POLLUX_BACKEND_KQUEUE && pollux_fileno(p) == -ENOTSUP);
    int want = rebuilds ? 1 : 2;
    if (seen < want)
        fail_msg("2 waits of max_events 1: the writable pipe reported %d times", seen);
}

/*
 * after_fork's new kqueue opens one descriptor on FreeBSD: a registered
 * number closed before it stays closed, and modify there is -EBADF
 * (tests/fuzz/regressions/defect23-kqueue-after-fork-takes-closed-numbers).
 */
static void modify_of_a_closed_number_after_after_fork_is_ebadf(void **state)
{
    (void)state;
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    pollux *p; /* above the pipes: its numbers are not the lowest free */
    assert_int_equal(pollux_new(&p, g_backend), 0);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_register(p, a[1], POLLUX_WRITE, &tok[1]), 0);
    assert_ret(pollux_register(p, b[0], POLLUX_READ, &tok[2]), 0);
    int closed[3] = { a[0], a[1], b[0] };
    for (int i = 0; i < 3; i++)
        fd_close(closed[i]);
    int r = pollux_after_fork(p);
    /* One of them may be the new poller's own descriptor: -EBADF too. */
    int m[3];
    for (int i = 0; i < 3; i++)
        m[i] = pollux_modify(p, closed[i], POLLUX_READ, &tok[i]);
    pollux_free(p);
    assert_ret(r, 0);
    for (int i = 0; i < 3; i++)
        assert_ret(m[i], -EBADF);
}

/* epoll keeps the watch of a closed number while a dup keeps its file
 * open; when the number names that very file again, register takes that
 * watch over: the file is reported once per wait, with the new data. */
static void register_of_a_number_naming_its_old_file_again_reports_it_with_new_data(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    int n = a[0];
    assert_ret(pollux_register(p, n, POLLUX_READ, &tok[0]), 0);
    int d = close_keeping_file_open(n);
    assert_ret(pollux_unregister(p, n), 0);
    move_to(d, n);
    assert_ret(pollux_register(p, n, POLLUX_READ, &tok[1]), 0);
    reported_only_after_a_write(p, n, a[1], 2, &tok[1]);
}

/* A watch left behind by a closed number (its file open elsewhere) makes
 * epoll rebuild its set, and the rebuild finds another registered number
 * closed and reused by a regular file. The waits go on: the unregistered
 * number is never reported, the other registration still is, and the
 * reused number is reported, if at all, as the regular file it names is
 * (readable, with its data), even one event per call. */
static void wait_after_a_stale_watch_and_a_number_reused_by_a_regular_file_goes_on(void **state)
{
    pollux *p = *state;
    int a[2], b[2], c[2];
    make_pipe(a);
    make_pipe(b);
    make_pipe(c);
    int na = a[0], nb = b[0];
    assert_ret(pollux_register(p, na, POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_register(p, nb, POLLUX_READ, &tok[1]), 0);
    assert_ret(pollux_register(p, c[0], POLLUX_READ, &tok[2]), 0);
    close_keeping_file_open(na);
    assert_ret(pollux_unregister(p, na), 0);
    fd_close(b[0]);
    fd_close(b[1]);
    move_to(make_regular_file(), nb);
    write_byte(a[1]); /* the watch left behind reports */
    write_byte(c[1]);
    int seen_c = 0;
    for (int i = 0; i < 8; i++) {
        pollux_event ev;
        int got = wait_events(p, &ev, 1, 100 * NS_PER_MS);
        assert_true(got >= 0);
        if (got == 0)
            continue;
        if (ev.fd == na)
            fail_msg("unregistered number %d reported %#x", na, ev.events);
        if (ev.fd == nb) {
            assert_ptr_equal(ev.data, &tok[1]);
            assert_true(ev.events & POLLUX_READ);
        } else if (ev.fd == c[0]) {
            assert_ptr_equal(ev.data, &tok[2]);
            seen_c++;
        }
    }
    if (seen_c == 0)
        fail_msg("ready pipe %d not reported in 8 waits", c[0]);
}

/* Registered numbers closed without unregistering, then modified to a new
 * mask: epoll says -EBADF at once (the modify adds them again), the other
 * backends accept the modify and their wait finds the numbers closed, more
 * of them than fit in one call. Each wait of one event still reports the
 * ready pipe, never a closed number, and unregister succeeds for them. */
static void modify_of_many_closed_numbers_then_waits_of_one_event_report_the_ready_pipe(void **state)
{
    pollux *p = *state;
    enum { CLOSED = 6 };
    int r[2];
    make_pipe(r);
    write_byte(r[1]);
    assert_ret(pollux_register(p, r[0], POLLUX_READ, &tok[0]), 0);
    int nums[CLOSED];
    for (int i = 0; i < CLOSED; i++) {
        int a[2];
        make_pipe(a);
        nums[i] = a[0];
        assert_ret(pollux_register(p, nums[i], POLLUX_READ, &tok[1]), 0);
        fd_close(a[1]);
    }
    for (int i = 0; i < CLOSED; i++)
        fd_close(nums[i]);
    int expected = g_backend == POLLUX_BACKEND_EPOLL ? -EBADF : 0;
    for (int i = 0; i < CLOSED; i++)
        assert_ret(pollux_modify(p, nums[i], POLLUX_READ | POLLUX_WRITE, &tok[2]), expected);
    for (int i = 0; i < 4; i++) {
        pollux_event ev;
        assert_int_equal(wait_events(p, &ev, 1, 1000 * NS_PER_MS), 1);
        assert_int_equal(ev.fd, r[0]);
        assert_ptr_equal(ev.data, &tok[0]);
    }
    for (int i = 0; i < CLOSED; i++)
        assert_ret(pollux_unregister(p, nums[i]), 0);
}

/*
 * kqueue returns one result per filter: a descriptor ready for reading
 * and writing fills two of the room's results and merges into one event.
 * Fewer events than room must still mean nothing else was ready
 * (tests/fuzz/regressions/defect25-kqueue-write-missed-beside-two-timers).
 */
static void both_ways_ready_source_and_another(void **state, uint32_t mode, int rounds)
{
    pollux *p = *state;
    int s[2], b[2];
    make_socketpair(s);
    make_pipe(b);
    assert_int_equal(write(s[1], "x", 1), 1); /* s[0]: readable and writable */
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_WRITE | mode, &tok[0]), 0);
    assert_ret(pollux_register(p, b[1], POLLUX_WRITE | mode, &tok[1]), 0);
    for (int round = 0; round < rounds; round++) {
        pollux_event ev[2];
        int n = wait_events(p, ev, 2, 0);
        if (n != 2)
            fail_msg("round %d: %d events with room for 2 and 2 sources ready", round, n);
        for (int i = 0; i < n; i++) {
            uint32_t want = ev[i].fd == s[0] ? POLLUX_READ | POLLUX_WRITE : POLLUX_WRITE;
            assert_true(ev[i].fd == s[0] || ev[i].fd == b[1]);
            assert_int_equal(ev[i].events, want);
        }
        assert_true(ev[0].fd != ev[1].fd);
    }
}

static void a_source_ready_both_ways_leaves_room_for_another(void **state)
{
    both_ways_ready_source_and_another(state, 0, 3);
}

/* A ONESHOT registration's second filter is deleted when the first fires:
 * those deletions must not take the room either
 * (tests/fuzz/regressions/defect26-kqueue-oneshot-siblings-take-the-room). */
static void a_oneshot_source_ready_both_ways_leaves_room_for_another(void **state)
{
    both_ways_ready_source_and_another(state, POLLUX_ONESHOT, 1);
}

/*
 * A number closed without unregistering and then modified is found
 * closed by the batched change, a report the core drops: a wait of room 3
 * then needs a second round, and there the second filter of a source
 * ready both ways joins its event instead of being lost
 * (tests/fuzz/regressions/defect27-kqueue-second-round-drops-write).
 */
static void a_source_seen_again_in_a_later_round_keeps_all_its_bits(void **state)
{
    pollux *p = *state;
    int a[2], s[2];
    make_pipe(a);
    make_socketpair(s); /* before the close: not on the closed number */
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    fd_close(a[0]);
    int r = pollux_modify(p, a[0], POLLUX_READ, &tok[0]); /* batched where the backend can */
    assert_true(r == 0 || r == -EBADF);
    assert_ret(pollux_wake(p), 0);
    assert_int_equal(write(s[1], "x", 1), 1); /* s[0]: readable and writable */
    assert_ret(pollux_register(p, s[0], POLLUX_READ | POLLUX_WRITE, &tok[1]), 0);
    pollux_event ev[3];
    int n = wait_events(p, ev, 3, 0);
    bool woken = false, both = false;
    for (int i = 0; i < n; i++) {
        woken |= (ev[i].events & POLLUX_WAKE) != 0;
        if (ev[i].fd == s[0] && !(ev[i].events & POLLUX_WAKE))
            both = ev[i].events == (POLLUX_READ | POLLUX_WRITE);
    }
    /* libkqueue returns the read filter again first (docs/portability.md):
     * there WRITE comes with the next wait that has room for both filters. */
    bool libkqueue = g_backend == POLLUX_BACKEND_KQUEUE && pollux_fileno(p) == -ENOTSUP;
    if (!both && libkqueue) {
        n = wait_events(p, ev, 2, 0);
        both = n == 1 && ev[0].fd == s[0] && ev[0].events == (POLLUX_READ | POLLUX_WRITE);
    }
    if (!woken || !both)
        fail_msg("%d events: wake %d, the socket READ|WRITE %d", n, woken, both);
    assert_ret(pollux_unregister(p, a[0]), 0);
}

/*
 * A registered number found closed while a wait collects is unwatched at
 * once; on poll that moved the last descriptor into its place, behind the
 * rotation's cursor, so the wait's next round started over at the first
 * one and the moved one was left out although there was room
 * (tests/fuzz/regressions/defect28-poll-closed-number-hides-the-last).
 */
static void a_number_found_closed_mid_wait_does_not_hide_a_ready_one(void **state)
{
    pollux *p = *state;
    int a[2], b[2], c[2];
    make_pipe(a);
    make_pipe(b);
    make_pipe(c);
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(c[1], "x", 1), 1);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tok[0]), 0);
    assert_ret(pollux_register(p, b[0], POLLUX_READ, &tok[1]), 0);
    assert_ret(pollux_register(p, c[0], POLLUX_READ, &tok[2]), 0);
    pollux_event ev[8];
    assert_int_equal(wait_events(p, ev, 8, 0), 2);
    fd_close(b[0]); /* still registered */
    int n = wait_events(p, ev, 2, 0);
    if (n != 2 || ev[0].fd == ev[1].fd)
        fail_msg("%d events with room for 2 and 2 pipes readable", n);
    for (int i = 0; i < n; i++)
        assert_true(ev[i].fd == a[0] || ev[i].fd == c[0]);
    assert_ret(pollux_unregister(p, b[0]), 0);
}

/*
 * epoll: a registered number closed while a dup keeps its file open and
 * then paused by a modify leaves a watch that is stale; the wait that
 * finds it rebuilds the set, and must then look again: a pending wake was
 * left out of a wait of max_events 1 that returned nothing
 * (tests/fuzz/regressions/defect29-epoll-stale-watch-takes-the-room).
 */
static void a_stale_watch_does_not_take_the_room_of_a_pending_wake(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[1], POLLUX_WRITE, &tok[0]), 0);
    pollux_event ev;
    assert_int_equal(wait_events(p, &ev, 1, 0), 1);
    make_watch_stale(p, a[1], 0, &tok[0]);
    assert_ret(pollux_wake(p), 0);
    int n = wait_events(p, &ev, 1, 0);
    if (n != 1 || ev.kind != POLLUX_KIND_WAKE)
        fail_msg("a wait of max_events 1 with a wake pending returned %d events", n);
    assert_ret(pollux_unregister(p, a[1]), 0);
}

/*
 * epoll: the wait that rebuilds its set around a stale watch looks again
 * in the new set, which reports what the first look reported once more:
 * a source was reported twice in one call
 * (tests/fuzz/regressions/defect30-epoll-look-again-repeats-a-source).
 */
static void a_wait_that_rebuilds_reports_each_source_once(void **state)
{
    pollux *p = *state;
    int a[2], c[2];
    make_pipe(a);
    make_pipe(c);
    assert_ret(pollux_register(p, a[1], POLLUX_WRITE, &tok[0]), 0);
    assert_ret(pollux_register(p, c[1], POLLUX_WRITE, &tok[1]), 0);
    make_watch_stale(p, a[1], 0, &tok[0]);
    pollux_event ev[6];
    int n = wait_events(p, ev, 6, 0);
    int seen = count_fd(ev, n, c[1]);
    if (seen != 1)
        fail_msg("the writable pipe appears %d times in one wait of %d events", seen, n);
    assert_ret(pollux_unregister(p, a[1]), 0);
}

/*
 * epoll: a registered number closed while a dup keeps its file open, then
 * modified: the file's watch is stale and took room in a wait with room
 * for two. The set was rebuilt and looked at again with room for one,
 * which a pipe the wait had reported already took, and the wait ended
 * with room left and the third pipe unreported
 * (tests/fuzz/regressions/defect33-epoll-look-again-takes-a-repeat, where
 * the number is moved to another file with dup2 instead).
 */
static void a_look_after_a_rebuild_goes_past_a_repeat(void **state)
{
    pollux *p = *state;
    int a[2], b[2], c[2];
    make_pipe(a);
    make_pipe(b);
    make_pipe(c);
    assert_ret(pollux_register(p, a[1], POLLUX_WRITE, &tok[0]), 0);
    assert_ret(pollux_register(p, b[1], POLLUX_WRITE, &tok[1]), 0);
    assert_ret(pollux_register(p, c[1], POLLUX_WRITE, &tok[2]), 0);
    pollux_event ev[3];
    assert_ret(wait_events(p, ev, 3, 0), 3);
    make_watch_stale(p, b[1], POLLUX_WRITE, &tok[1]);
    int n = wait_events(p, ev, 2, 0);
    int saw_a = count_fd(ev, n, a[1]), saw_c = count_fd(ev, n, c[1]);
    if (n != 2 || saw_a != 1 || saw_c != 1)
        fail_msg("%d events: the first pipe reported %d times, the third %d times", n, saw_a,
                 saw_c);
    assert_ret(pollux_unregister(p, b[1]), 0);
}

/*
 * poll: a wait whose scan wrapped around found a registered number
 * closed; the removal put an already reported descriptor at the cursor,
 * the next round saw it again and the wait stopped with room left and a
 * writable pipe unreported
 * (tests/fuzz/regressions/defect31-poll-wrapped-scan-stops-at-a-repeat).
 */
static void a_wrapped_scan_that_finds_a_closed_number_fills_the_room(void **state)
{
    pollux *p = *state;
    enum { PIPES = 6 };
    for (int i = 0; i < PIPES; i++) {
        int fds[2];
        make_pipe(fds); /* the read end stays open: writable, no EPIPE */
        assert_ret(pollux_register(p, fds[1], POLLUX_WRITE, &tok[0]), 0);
    }
    pollux_event ev[PIPES];
    assert_int_equal(wait_events(p, ev, PIPES, 0), PIPES);
    assert_int_equal(wait_events(p, ev, 1, 0), 1);
    int closed = ev[0].fd;
    fd_close(closed); /* still registered */
    assert_int_equal(wait_events(p, ev, 3, 0), 3);
    assert_int_equal(wait_events(p, ev, 1, 0), 1);
    int n = wait_events(p, ev, 4, 0);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            assert_true(ev[i].fd != ev[j].fd);
    if (n != 4)
        fail_msg("%d events with room for 4 and 5 pipes writable", n);
    assert_ret(pollux_unregister(p, closed), 0);
}

/*
 * kqueue: RDHUP needs the read filter (EV_EOF lives there), which plain
 * data fired too. With ONESHOT, that consumed the registration with
 * nothing to report and took the WRITE knote with it
 * (tests/fuzz/regressions/defect32-kqueue-rdhup-oneshot-data-hides-write);
 * waits of one event let the read knote come alone.
 */
static void oneshot_write_rdhup_socket_with_unread_data_reports_write(void **state)
{
    pollux *p = *state;
    int s[2];
    make_socketpair(s);
    write_byte(s[1]);
    uint32_t mask = POLLUX_WRITE | POLLUX_RDHUP | POLLUX_ONESHOT;
    assert_ret(pollux_register(p, s[0], mask, &tok[0]), 0);
    pollux_event ev[1];
    assert_int_equal(wait_events(p, ev, 1, 100 * NS_PER_MS), 1);
    assert_int_equal(ev[0].fd, s[0]);
    assert_int_equal(ev[0].events, POLLUX_WRITE);
    assert_int_equal(wait_events(p, ev, 1, 10 * NS_PER_MS), 0); /* fired once */
}

/*
 * kqueue: a level-triggered read knote registered for RDHUP alone stayed
 * active while data sat unread, so every wait returned at once (a wait
 * forever spun) and pollux_fileno() polled readable; epoll and poll report
 * nothing for it. The end of stream is then reported, at every wait.
 */
static void rdhup_alone_is_quiet_with_unread_data_and_reports_the_end_of_stream(void **state)
{
    pollux *p = *state;
    int pfd = pollux_fileno(p); /* where there is one: it shows a pending knote */
    int s[2];
    make_socketpair(s);
    write_byte(s[1]);
    assert_ret(pollux_register(p, s[0], POLLUX_RDHUP, &tok[0]), 0);
    pollux_event ev[4];
    assert_int_equal(wait_events(p, ev, 4, 50 * NS_PER_MS), 0);
    if (pfd >= 0)
        assert_int_equal(poll_readable(pfd, 0), 0);
    if (!reports_rdhup(p))
        return; /* select cannot tell the end of stream (docs/portability.md) */
    assert_int_equal(shutdown(s[1], SHUT_WR), 0);
    for (int wait = 0; wait < 2; wait++) { /* level-triggered: every wait */
        uint32_t bits = 0;
        assert_int_equal(reports_for(p, s[0], 100 * NS_PER_MS, &bits), 1);
        if (!(bits & POLLUX_RDHUP))
            fail_msg("wait %d after the peer's shutdown reported %#x, without RDHUP", wait, bits);
    }
}

#define T(name) cmocka_unit_test_setup_teardown(name, poller_setup, poller_teardown)

int main(int argc, char **argv)
{
    static const struct CMUnitTest tests[] = {
        T(after_fork_when_closed_registered_numbers_are_lowest),
        T(fileno_readable_for_timer_when_timerfd_lands_on_closed_registered_number),
        T(always_due_timer_does_not_starve_a_regular_file),
        T(modify_from_oneshot_to_level_before_it_fired_is_level),
        T(modify_from_edge_to_level_is_level),
        T(modify_from_level_to_edge_is_edge),
        T(stale_report_is_not_delivered_for_a_reregistered_number),
        T(modify_after_number_reused_by_an_empty_regular_file_reports_it_ready),
        T(empty_regular_file_is_reported_ready),
        T(modify_after_socket_number_reused_by_a_pipe_reports_hup),
        T(unchanged_modify_then_reuse_before_wait_watches_new_file),
        T(unchanged_modify_then_after_fork_reports_once),
        T(oneshot_rearm_with_fewer_bits_reports_only_those),
        T(abstime_rearm_in_handler_counts_missed_periods),
        T(unregister_close_reopen_register_before_a_wait),
        T(fileno_sees_a_modify_before_the_next_wait),
        T(a_ready_fd_and_a_due_timer_are_each_reported_once),
        T(fileno_polls_readable_for_a_timer_after_after_fork),
        T(new_with_bad_backend_leaves_out_null),
        T(each_regular_file_is_reported_once_per_wait),
        T(regular_files_take_turns_with_max_events_1),
        T(unregistered_number_whose_file_is_open_elsewhere_does_not_make_wait_spin),
        T(number_registered_again_after_its_file_stayed_open_elsewhere_reports_new_file),
        T(modify_after_close_while_file_open_elsewhere_reports_new_file_once),
        T(regular_file_number_reused_by_an_empty_pipe_is_not_reported),
        T(modify_with_a_new_mask_on_a_number_reused_by_a_regular_file_reports_it),
        T(unchanged_modify_on_a_number_reused_by_a_regular_file_hides_nothing),
        T(after_fork_leaves_closed_registered_numbers_free),
        T(registering_a_descriptor_of_the_poller_itself_fails_with_ebadf),
        T(modify_after_unregister_of_a_lower_fd_keeps_watching),
        T(child_registering_without_after_fork_does_not_make_the_parent_spin),
        T(pipe_drained_after_a_wait_without_room_for_it_is_not_reported),
        T(wake_timer_and_registrations_survive_unregister_of_a_closed_number),
        T(closed_registered_fd_does_not_hide_other_ready_sources),
        T(after_fork_watches_again_a_number_seen_closed_and_open_again),
        T(after_fork_watches_again_a_regular_file_number_seen_closed_and_open_again),
        T(fileno_polls_readable_for_a_regular_file_registered_without_free_descriptors),
        T(fileno_asked_before_exhaustion_polls_readable_for_a_regular_file),
        T(after_fork_with_timers_and_fileno_leaves_closed_registered_numbers_free),
        T(ready_flag_of_a_closed_regular_file_does_not_crowd_out_a_writable_socket),
        T(register_closed_number_after_arming_a_timer_is_ebadf),
        T(closed_number_whose_file_stays_open_does_not_take_the_room_of_a_ready_one),
        T(modify_of_a_closed_number_after_after_fork_is_ebadf),
        T(register_of_a_number_naming_its_old_file_again_reports_it_with_new_data),
        T(wait_after_a_stale_watch_and_a_number_reused_by_a_regular_file_goes_on),
        T(modify_of_many_closed_numbers_then_waits_of_one_event_report_the_ready_pipe),
        T(a_source_ready_both_ways_leaves_room_for_another),
        T(a_oneshot_source_ready_both_ways_leaves_room_for_another),
        T(a_source_seen_again_in_a_later_round_keeps_all_its_bits),
        T(a_number_found_closed_mid_wait_does_not_hide_a_ready_one),
        T(a_stale_watch_does_not_take_the_room_of_a_pending_wake),
        T(a_wait_that_rebuilds_reports_each_source_once),
        T(a_look_after_a_rebuild_goes_past_a_repeat),
        T(a_wrapped_scan_that_finds_a_closed_number_fills_the_room),
        T(oneshot_write_rdhup_socket_with_unread_data_reports_write),
        T(rdhup_alone_is_quiet_with_unread_data_and_reports_the_end_of_stream),
    };
    static const struct backend_suite suite = { .name = "edge_cases", .backend = &g_backend };
    return run_backend_suite(&suite, argc, argv, tests);
}
