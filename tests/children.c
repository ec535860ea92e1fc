/*
 * children.c - child-process watches (pollux_child_add/remove), run once
 * per backend with real fork() and exec() of short-lived children:
 *
 *   children BACKEND
 *
 * The figure of the 200-children test is printed ("children: ...").
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
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
/* Child events a wait returned but the test has not asked for yet. */
static pollux_event kept[16];
static int kept_count;

static int tag_a, tag_b;

static int teardown(void **state)
{
    kept_count = 0;
    poller_teardown(state);
    /* Reap whatever a failed test left behind. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        continue;
    return 0;
}

/* A pipe whose read end blocks: children wait on it until its write end,
 * gate[1], is closed (by the parent; each child closes its copy). */
static int gate[2] = { -1, -1 };

static void make_gate(void)
{
    make_pipe(gate);
    assert_int_equal(fcntl(gate[0], F_SETFL, 0), 0);
}

static void open_gate(void)
{
    fd_close(gate[1]);
    fd_close(gate[0]);
    gate[0] = gate[1] = -1;
}

/* A child that exits with `code`, at once or (gated) when the gate opens. */
static pid_t spawn_exit(int code, bool gated)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char c;
        ssize_t r = 0;
        if (gated) {
            close(gate[1]);
            do
                r = read(gate[0], &c, 1);
            while (r > 0 || (r < 0 && errno == EINTR));
        }
        _exit(code);
    }
    return pid;
}

/* A child that runs `sh -c script`. */
static pid_t spawn_sh(const char *script)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* The child event for pid, waiting for it if need be (fd -2: none came).
 * Events for other children are kept for a later call. */
static pollux_event wait_child(pollux *p, pid_t pid)
{
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < kept_count; i++) {
            if (kept[i].fd == pid) {
                pollux_event ev = kept[i];
                kept[i] = kept[--kept_count];
                return ev;
            }
        }
        pollux_event ev[8];
        int n = pollux_wait(p, ev, 8, 5 * NS_PER_S);
        assert_true(n >= 0);
        for (int i = 0; i < n && kept_count < 16; i++)
            if (ev[i].kind == POLLUX_KIND_CHILD)
                kept[kept_count++] = ev[i];
        if (n == 0)
            break;
    }
    return (pollux_event){ .fd = -2 };
}

static void child_add_refuses_bad_pids(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_child_add(p, 0, NULL), -EINVAL);
    assert_ret(pollux_child_add(p, -1, NULL), -EINVAL);
    assert_ret(pollux_child_add(NULL, 1, NULL), -EINVAL);
    assert_ret(pollux_child_remove(NULL, 1), -EINVAL);
    assert_ret(pollux_child_remove(p, 12345), -ENOENT);
}

static void pid_that_is_not_a_child_fails_with_echild(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_child_add(p, getpid(), NULL), -ECHILD);
    assert_ret(pollux_child_add(p, getppid(), NULL), -ECHILD);
    assert_ret(pollux_child_add(p, 1, NULL), -ECHILD);
    /* A child already reaped is no longer a child. */
    pid_t pid = spawn_exit(0, false);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    assert_ret(pollux_child_add(p, pid, NULL), -ECHILD);
}

static void child_exit_is_reported_with_its_status_and_reaped(void **state)
{
    pollux *p = *state;
    make_gate();
    pid_t pid = spawn_exit(42, true);
    assert_ret(pollux_child_add(p, pid, &tag_a), 0);
    assert_ret(pollux_child_add(p, pid, &tag_b), -EEXIST);
    pollux_event ev;
    assert_int_equal(pollux_wait(p, &ev, 1, 0), 0); /* still running */
    open_gate();
    ev = wait_child(p, pid);
    assert_int_equal(ev.fd, pid);
    assert_int_equal(ev.kind, POLLUX_KIND_CHILD);
    assert_int_equal(ev.events, POLLUX_CHILD);
    assert_ptr_equal(ev.data, &tag_a);
    assert_true(WIFEXITED(ev.status));
    assert_int_equal(WEXITSTATUS(ev.status), 42);
    assert_int_equal(ev.count, 0);
    assert_int_equal(pollux_event_current(p, &ev), 1);
    /* Reaped by pollux, and the watch ended with the report. */
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(pollux_wait(p, &ev, 1, 0), 0);
    assert_ret(pollux_child_remove(p, pid), -ENOENT);
}

static void exec_child_exit_code_and_killing_signal_are_reported(void **state)
{
    pollux *p = *state;
    pid_t exits = spawn_sh("exit 7");
    pid_t killed = spawn_sh("kill -TERM $$; sleep 5");
    assert_ret(pollux_child_add(p, exits, NULL), 0);
    assert_ret(pollux_child_add(p, killed, NULL), 0);
    pollux_event ev = wait_child(p, exits);
    assert_true(WIFEXITED(ev.status));
    assert_int_equal(WEXITSTATUS(ev.status), 7);
    ev = wait_child(p, killed);
    assert_true(WIFSIGNALED(ev.status));
    assert_int_equal(WTERMSIG(ev.status), SIGTERM);
}

static void child_that_exited_before_it_was_watched_is_reported(void **state)
{
    pollux *p = *state;
    pid_t pid = spawn_exit(3, false);
    siginfo_t info;
    assert_int_equal(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT), 0); /* a zombie now */
    assert_ret(pollux_child_add(p, pid, &tag_b), 0);
    pollux_event ev = wait_child(p, pid);
    assert_int_equal(ev.fd, pid);
    assert_ptr_equal(ev.data, &tag_b);
    assert_int_equal(WEXITSTATUS(ev.status), 3);
}

static void other_children_are_never_reaped(void **state)
{
    pollux *p = *state;
    pid_t other = spawn_exit(9, false);
    pid_t watched = spawn_exit(1, false);
    assert_ret(pollux_child_add(p, watched, NULL), 0);
    pollux_event ev = wait_child(p, watched);
    assert_int_equal(ev.fd, watched);
    int status;
    assert_int_equal(waitpid(other, &status, 0), other); /* still there to wait for */
    assert_int_equal(WEXITSTATUS(status), 9);
}

static void removal_stops_watching_without_reaping(void **state)
{
    pollux *p = *state;
    pid_t pid = spawn_exit(5, false);
    assert_ret(pollux_child_add(p, pid, NULL), 0);
    assert_ret(pollux_child_remove(p, pid), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 5);
    pollux_event ev;
    assert_int_equal(pollux_wait(p, &ev, 1, 0), 0);
}

static void one_child_is_watched_by_one_poller_at_a_time(void **state)
{
    pollux *p = *state, *q;
    make_gate();
    pid_t pid = spawn_exit(0, true);
    assert_ret(pollux_new(&q, g_backend), 0);
    assert_ret(pollux_child_add(p, pid, NULL), 0);
    assert_ret(pollux_child_add(q, pid, NULL), -EBUSY);
    assert_ret(pollux_child_remove(p, pid), 0);
    assert_ret(pollux_child_add(q, pid, NULL), 0);
    open_gate();
    assert_int_equal(wait_child(q, pid).fd, pid);
    pollux_free(q);
}

static void child_removed_mid_batch_is_not_current(void **state)
{
    pollux *p = *state;
    pid_t a = spawn_exit(1, false), b = spawn_exit(2, false);
    siginfo_t info;
    assert_int_equal(waitid(P_PID, (id_t)a, &info, WEXITED | WNOWAIT), 0);
    assert_int_equal(waitid(P_PID, (id_t)b, &info, WEXITED | WNOWAIT), 0);
    assert_ret(pollux_child_add(p, a, &tag_a), 0);
    assert_ret(pollux_child_add(p, b, &tag_b), 0);
    pollux_event ev[4];
    int n = pollux_wait(p, ev, 4, 5 * NS_PER_S);
    assert_int_equal(n, 2);
    assert_int_equal(pollux_event_current(p, &ev[0]), 1);
    assert_int_equal(pollux_event_current(p, &ev[1]), 1);
    /* Handling the first removes the other's watch. */
    assert_ret(pollux_child_remove(p, ev[1].fd), 0);
    assert_int_equal(pollux_event_current(p, &ev[1]), 0);
    assert_int_equal(pollux_event_current(p, &ev[0]), 1);
    /* The next wait forgets the reported watch. */
    assert_int_equal(pollux_wait(p, ev, 4, 0), 0);
    assert_int_equal(pollux_event_current(p, &ev[0]), 0);
}

static void two_hundred_children_exiting_at_once_are_all_reported(void **state)
{
    pollux *p = *state;
    enum { N = 200 };
    static pid_t pids[N];
    static bool seen[N];
    make_gate();
    for (int i = 0; i < N; i++) {
        pids[i] = spawn_exit(i % 256, true);
        seen[i] = false;
        assert_ret(pollux_child_add(p, pids[i], &pids[i]), 0);
    }
    open_gate(); /* every child exits now */
    int reported = 0, rounds = 0;
    pollux_event ev[64];
    while (reported < N && rounds++ < 1000) {
        int n = pollux_wait(p, ev, 64, 10 * NS_PER_S);
        for (int i = 0; i < n; i++) {
            assert_int_equal(ev[i].kind, POLLUX_KIND_CHILD);
            int k = (int)((pid_t *)ev[i].data - pids);
            assert_true(k >= 0 && k < N);
            assert_int_equal(ev[i].fd, pids[k]);
            assert_false(seen[k]);
            seen[k] = true;
            assert_true(WIFEXITED(ev[i].status));
            assert_int_equal(WEXITSTATUS(ev[i].status), k % 256);
            reported++;
        }
    }
    assert_int_equal(reported, N);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* all reaped */
    printf("children: %s: %d children exiting at once -> %d reports in %d waits, statuses right\n",
           pollux_backend_name(g_backend), N, reported, rounds);
}

/* Where SIGCHLD is how exits are learnt (no pidfd: /dev/poll), its
 * disposition and mask are the program's again once nothing is watched. */
static void sigchld_is_left_as_it_was_once_no_child_is_watched(void **state)
{
    pollux *p = *state;
    struct sigaction before, after;
    sigset_t mask;
    assert_int_equal(sigaction(SIGCHLD, NULL, &before), 0);
    pid_t pid = spawn_exit(0, false);
    assert_ret(pollux_child_add(p, pid, NULL), 0);
    assert_int_equal(wait_child(p, pid).fd, pid);
    pollux_event ev;
    assert_int_equal(pollux_wait(p, &ev, 1, 0), 0); /* forgets the reported watch */
    assert_int_equal(sigaction(SIGCHLD, NULL, &after), 0);
    assert_ptr_equal(after.sa_handler, before.sa_handler);
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    assert_int_equal(sigismember(&mask, SIGCHLD), 0);
}

/* ---- fork ------------------------------------------------------------ */

static int grandchild_side(pollux *p, pid_t sibling)
{
    if (pollux_after_fork(p) != 0)
        return 10;
    if (pollux_child_remove(p, sibling) != -ENOENT)
        return 11; /* the parent's child is not this process's */
    pid_t own = spawn_exit(4, false);
    if (pollux_child_add(p, own, NULL) != 0)
        return 12;
    pollux_event ev;
    if (pollux_wait(p, &ev, 1, 5 * NS_PER_S) != 1 || ev.fd != own || WEXITSTATUS(ev.status) != 4)
        return 13;
    return 0;
}

static void after_fork_drops_the_parents_children_in_the_child(void **state)
{
    pollux *p = *state;
    make_gate();
    pid_t sibling = spawn_exit(6, true);
    assert_ret(pollux_child_add(p, sibling, &tag_a), 0);
    fflush(NULL);
    pid_t forked = fork();
    assert_true(forked >= 0);
    if (forked == 0)
        _exit(grandchild_side(p, sibling));
    int status;
    assert_int_equal(waitpid(forked, &status, 0), forked);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* The parent's watch goes on. */
    open_gate();
    pollux_event ev = wait_child(p, sibling);
    assert_ptr_equal(ev.data, &tag_a);
    assert_int_equal(WEXITSTATUS(ev.status), 6);
}

static void after_fork_without_fork_keeps_the_child_watches(void **state)
{
    pollux *p = *state;
    make_gate();
    pid_t pid = spawn_exit(8, true);
    assert_ret(pollux_child_add(p, pid, &tag_b), 0);
    assert_ret(pollux_after_fork(p), 0);
    open_gate();
    pollux_event ev = wait_child(p, pid);
    assert_ptr_equal(ev.data, &tag_b);
    assert_int_equal(WEXITSTATUS(ev.status), 8);
}

#define T(name) cmocka_unit_test_setup_teardown(name, poller_setup, teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        T(child_add_refuses_bad_pids),
        T(pid_that_is_not_a_child_fails_with_echild),
        T(child_exit_is_reported_with_its_status_and_reaped),
        T(exec_child_exit_code_and_killing_signal_are_reported),
        T(child_that_exited_before_it_was_watched_is_reported),
        T(other_children_are_never_reaped),
        T(removal_stops_watching_without_reaping),
        T(one_child_is_watched_by_one_poller_at_a_time),
        T(child_removed_mid_batch_is_not_current),
        T(two_hundred_children_exiting_at_once_are_all_reported),
        T(sigchld_is_left_as_it_was_once_no_child_is_watched),
        T(after_fork_drops_the_parents_children_in_the_child),
        T(after_fork_without_fork_keeps_the_child_watches),
    };
    static const struct backend_suite suite = { .name = "children", .backend = &g_backend };
    return run_backend_suite(&suite, argc, argv, tests);
}
