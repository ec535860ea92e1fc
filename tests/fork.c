/*
 * fork.c - pollux_after_fork() with a real fork(), run once per backend:
 *
 *   fork BACKEND
 *
 * The child checks what it sees with plain code and says how it went in
 * its exit status (cmocka's assertions must not run in the child); the
 * parent asserts on that status and on its own poller afterwards.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pollux.h>

#include "helpers.h"

static pollux_backend g_backend;
static int tag_a, tag_b, tag_c;

/* Run child() in a forked process and return its exit status. */
static int in_child(int (*child)(pollux *p, void *arg), pollux *p, void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child(p, arg));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* One wait in the child: the single event it returns, or fd -2 for none. */
static pollux_event child_wait_one(pollux *p, int64_t timeout_ns)
{
    pollux_event ev[4];
    int n = pollux_wait(p, ev, 4, timeout_ns);
    if (n != 1)
        return (pollux_event){ .fd = -2 };
    return ev[0];
}

static int child_sees_registration(pollux *p, void *arg)
{
    int fd = *(int *)arg;
    if (pollux_after_fork(p) != 0)
        return 10;
    pollux_event ev = child_wait_one(p, 2 * NS_PER_S);
    if (ev.fd != fd || !(ev.events & POLLUX_READ) || ev.data != &tag_a)
        return 11;
    return 0;
}

static void child_reports_what_the_parent_registered(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_int_equal(pollux_register(p, a[0], POLLUX_READ, &tag_a), 0);
    write_byte(a[1]);
    assert_int_equal(in_child(child_sees_registration, p, &a[0]), 0);
}

struct three_pipes {
    int a, b, c;
};

/* Without pollux_after_fork() these would change a shared epoll set. */
static int child_changes_everything(pollux *p, void *arg)
{
    struct three_pipes *fds = arg;
    if (pollux_after_fork(p) != 0)
        return 10;
    if (pollux_unregister(p, fds->a) != 0)
        return 11;
    if (pollux_modify(p, fds->b, 0, NULL) != 0)
        return 12;
    if (pollux_register(p, fds->c, POLLUX_READ, &tag_c) != 0)
        return 13;
    /* Only c is watched here now, and it is readable. */
    pollux_event ev = child_wait_one(p, 2 * NS_PER_S);
    if (ev.fd != fds->c || ev.data != &tag_c)
        return 14;
    pollux_free(p);
    return 0;
}

static void what_the_child_does_leaves_the_parent_poller_alone(void **state)
{
    pollux *p = *state;
    int a[2], b[2], c[2];
    make_pipe(a);
    make_pipe(b);
    make_pipe(c);
    assert_int_equal(pollux_register(p, a[0], POLLUX_READ, &tag_a), 0);
    assert_int_equal(pollux_register(p, b[0], POLLUX_READ, &tag_b), 0);
    write_byte(c[1]);
    struct three_pipes fds = { a[0], b[0], c[0] };
    assert_int_equal(in_child(child_changes_everything, p, &fds), 0);

    /* The parent still watches a and b, not c. */
    write_byte(a[1]);
    write_byte(b[1]);
    pollux_event ev[4];
    int n = pollux_wait(p, ev, 4, 2 * NS_PER_S);
    assert_int_equal(n, 2);
    for (int i = 0; i < n; i++) {
        assert_true(ev[i].fd == a[0] || ev[i].fd == b[0]);
        assert_ptr_equal(ev[i].data, ev[i].fd == a[0] ? &tag_a : &tag_b);
    }
    assert_int_equal(pollux_register(p, c[0], POLLUX_READ, &tag_c), 0);
}

static int child_gets_timer(pollux *p, void *arg)
{
    int id = *(int *)arg;
    if (pollux_after_fork(p) != 0)
        return 10;
    pollux_event ev = child_wait_one(p, 2 * NS_PER_S);
    if (ev.fd != id || ev.events != POLLUX_TIMER || ev.count < 1 || ev.data != &tag_a)
        return 11;
    return 0;
}

static void child_keeps_the_armed_timers(void **state)
{
    pollux *p = *state;
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, &tag_a);
    assert_true(id >= 0);
    assert_int_equal(pollux_timer_settime(p, id, 20 * NS_PER_MS, 20 * NS_PER_MS, 0), 0);
    assert_int_equal(in_child(child_gets_timer, p, &id), 0);
    /* And the parent's timer goes on. */
    pollux_event ev;
    assert_int_equal(pollux_wait(p, &ev, 1, 2 * NS_PER_S), 1);
    assert_int_equal(ev.fd, id);
    assert_int_equal(ev.events, POLLUX_TIMER);
}

static int child_gets_wake(pollux *p, void *arg)
{
    (void)arg;
    if (pollux_after_fork(p) != 0)
        return 10;
    pollux_event ev = child_wait_one(p, 0);
    if (ev.fd != -1 || ev.events != POLLUX_WAKE)
        return 11;
    /* Coalesced: one event, then nothing. */
    if (child_wait_one(p, 0).fd != -2)
        return 12;
    return 0;
}

static void wake_pending_at_fork_is_reported_in_child_and_parent(void **state)
{
    pollux *p = *state;
    assert_int_equal(pollux_wake(p), 0);
    assert_int_equal(in_child(child_gets_wake, p, NULL), 0);
    pollux_event ev;
    assert_int_equal(pollux_wait(p, &ev, 1, 0), 1);
    assert_int_equal(ev.fd, -1);
    assert_int_equal(ev.events, POLLUX_WAKE);
}

static int child_wakes_itself(pollux *p, void *arg)
{
    (void)arg;
    if (pollux_after_fork(p) != 0)
        return 10;
    if (pollux_wake(p) != 0)
        return 11;
    pollux_event ev = child_wait_one(p, 2 * NS_PER_S);
    return ev.fd == -1 && ev.events == POLLUX_WAKE ? 0 : 12;
}

static void wake_in_child_does_not_reach_parent(void **state)
{
    pollux *p = *state;
    assert_int_equal(in_child(child_wakes_itself, p, NULL), 0);
    pollux_event ev;
    assert_int_equal(pollux_wait(p, &ev, 1, 20 * NS_PER_MS), 0);
}

static void after_fork_without_fork_rebuilds_and_keeps_registrations(void **state)
{
    pollux *p = *state;
    int a[2];
    make_pipe(a);
    assert_int_equal(pollux_register(p, a[0], POLLUX_READ | POLLUX_ONESHOT, &tag_a), 0);
    write_byte(a[1]);
    assert_int_equal(pollux_after_fork(p), 0);
    pollux_event ev;
    assert_int_equal(pollux_wait(p, &ev, 1, 2 * NS_PER_S), 1);
    assert_int_equal(ev.fd, a[0]);
    assert_ptr_equal(ev.data, &tag_a);
    /* A fired ONESHOT stays disarmed across a rebuild, until modify. */
    assert_int_equal(pollux_after_fork(p), 0);
    assert_int_equal(pollux_wait(p, &ev, 1, 20 * NS_PER_MS), 0);
    assert_int_equal(pollux_modify(p, a[0], POLLUX_READ, &tag_b), 0);
    assert_int_equal(pollux_wait(p, &ev, 1, 2 * NS_PER_S), 1);
    assert_ptr_equal(ev.data, &tag_b);
}

static void after_fork_of_null_fails_with_einval(void **state)
{
    (void)state;
    assert_int_equal(pollux_after_fork(NULL), -EINVAL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, poller_setup, poller_teardown)

int main(int argc, char **argv)
{
    static const struct CMUnitTest tests[] = {
        T(child_reports_what_the_parent_registered),
        T(what_the_child_does_leaves_the_parent_poller_alone),
        T(child_keeps_the_armed_timers),
        T(wake_pending_at_fork_is_reported_in_child_and_parent),
        T(wake_in_child_does_not_reach_parent),
        T(after_fork_without_fork_rebuilds_and_keeps_registrations),
        T(after_fork_of_null_fails_with_einval),
    };
    static const struct backend_suite suite = { .name = "fork", .backend = &g_backend };
    return run_backend_suite(&suite, argc, argv, tests);
}
