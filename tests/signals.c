/*
 * signals.c - signal watches (pollux_signal_add/remove), run once per
 * backend:
 *
 *   signals BACKEND
 *
 * Signals are sent to this process with kill() or sigqueue(). The figures
 * of the burst tests are printed ("burst: ...") for the record.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
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

#include "capabilities.h"
#include "helpers.h"

static pollux_backend g_backend;
static int tag_a, tag_b;

/* Waits until an event for signo comes (or timeout_ns passes without
 * one); returns the sum of the counts seen, storing the last event. */
static uint64_t wait_for_signal(pollux *p, int signo, int64_t timeout_ns, pollux_event *last)
{
    pollux_event ev[8];
    int n = pollux_wait(p, ev, 8, timeout_ns);
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        if (ev[i].events == POLLUX_SIGNAL && ev[i].fd == signo) {
            assert_true(ev[i].count >= 1);
            sum += ev[i].count;
            if (last != NULL)
                *last = ev[i];
        }
    }
    return sum;
}

static bool is_blocked(int signo)
{
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    return sigismember(&now, signo) == 1;
}

static void signal_add_refuses_what_cannot_be_watched(void **state)
{
    pollux *p = *state;
    int bad[] = { 0, -1, 65, 1000, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_ret(pollux_signal_add(p, bad[i], NULL), -EINVAL);
    assert_ret(pollux_signal_add(NULL, SIGUSR1, NULL), -EINVAL);
    assert_ret(pollux_signal_remove(NULL, SIGUSR1), -EINVAL);
}

static void signal_add_twice_fails_with_eexist_and_remove_unknown_with_enoent(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_signal_remove(p, SIGUSR1), -ENOENT);
    assert_ret(pollux_signal_add(p, SIGUSR1, &tag_a), 0);
    assert_ret(pollux_signal_add(p, SIGUSR1, &tag_b), -EEXIST);
    assert_ret(pollux_signal_remove(p, SIGUSR2), -ENOENT);
    assert_ret(pollux_signal_remove(p, 0), -ENOENT);
    assert_ret(pollux_signal_remove(p, SIGUSR1), 0);
    assert_ret(pollux_signal_remove(p, SIGUSR1), -ENOENT);
}

static void signal_and_child_bits_are_invalid_in_an_interest(void **state)
{
    pollux *p = *state;
    int fds[2];
    make_pipe(fds);
    assert_ret(pollux_register(p, fds[0], POLLUX_READ | POLLUX_SIGNAL, NULL), -EINVAL);
    assert_ret(pollux_register(p, fds[0], POLLUX_READ | POLLUX_CHILD, NULL), -EINVAL);
    assert_ret(pollux_register(p, fds[0], POLLUX_READ, NULL), 0);
    assert_ret(pollux_modify(p, fds[0], POLLUX_SIGNAL, NULL), -EINVAL);
}

static void signal_sent_before_the_wait_is_reported_once(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_signal_add(p, SIGUSR1, &tag_a), 0);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    pollux_event ev;
    assert_int_equal(pollux_wait(p, &ev, 1, 5 * NS_PER_S), 1);
    assert_int_equal(ev.fd, SIGUSR1);
    assert_int_equal(ev.events, POLLUX_SIGNAL);
    assert_int_equal(ev.count, 1);
    assert_ptr_equal(ev.data, &tag_a);
    assert_int_equal(pollux_wait(p, &ev, 1, 0), 0);
    assert_ret(pollux_signal_remove(p, SIGUSR1), 0);
}

static void signal_between_waits_is_reported(void **state)
{
    pollux *p = *state;
    pollux_event ev;
    assert_ret(pollux_signal_add(p, SIGUSR2, &tag_b), 0);
    assert_int_equal(pollux_wait(p, &ev, 1, 0), 0);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(kill(getpid(), SIGUSR2), 0);
        assert_int_equal(wait_for_signal(p, SIGUSR2, 5 * NS_PER_S, &ev), 1);
        assert_ptr_equal(ev.data, &tag_b);
        assert_int_equal(pollux_wait(p, &ev, 1, 0), 0);
    }
}

struct sender {
    pid_t pid;
    int signo;
    int64_t delay_ns;
};

static void *send_later(void *arg)
{
    struct sender *s = arg;
    sleep_ns(s->delay_ns);
    kill(s->pid, s->signo);
    return NULL;
}

static void signal_during_a_blocked_wait_is_reported_not_eintr(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_signal_add(p, SIGUSR1, &tag_a), 0);
    struct sender s = { getpid(), SIGUSR1, 50 * NS_PER_MS };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_later, &s), 0);
    pollux_event ev;
    int n = pollux_wait(p, &ev, 1, 10 * NS_PER_S);
    pthread_join(t, NULL);
    assert_ret(n, 1);
    assert_int_equal(ev.fd, SIGUSR1);
    assert_int_equal(ev.events, POLLUX_SIGNAL);
}

static void two_pollers_watching_one_signal_both_report_it(void **state)
{
    pollux *p = *state, *q;
    assert_ret(pollux_new(&q, g_backend), 0);
    assert_ret(pollux_signal_add(p, SIGUSR1, &tag_a), 0);
    assert_ret(pollux_signal_add(q, SIGUSR1, &tag_b), 0);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(kill(getpid(), SIGUSR1), 0);
        pollux_event ev;
        assert_int_equal(wait_for_signal(p, SIGUSR1, 5 * NS_PER_S, &ev), 1);
        assert_ptr_equal(ev.data, &tag_a);
        assert_int_equal(wait_for_signal(q, SIGUSR1, 5 * NS_PER_S, &ev), 1);
        assert_ptr_equal(ev.data, &tag_b);
    }
    /* One poller's removal leaves the other's watch working. */
    assert_ret(pollux_signal_remove(p, SIGUSR1), 0);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(wait_for_signal(q, SIGUSR1, 5 * NS_PER_S, NULL), 1);
    pollux_free(q);
}

/* A poller asleep in another thread is woken when this one reads the
 * delivery first. */
struct sleeper {
    pollux *p;
    uint64_t got;
};

static void *sleep_for_signal(void *arg)
{
    struct sleeper *s = arg;
    s->got = wait_for_signal(s->p, SIGUSR2, 10 * NS_PER_S, NULL);
    return NULL;
}

static void poller_asleep_in_another_thread_reports_a_signal_read_here(void **state)
{
    pollux *p = *state;
    struct sleeper s = { NULL, 0 };
    assert_ret(pollux_new(&s.p, g_backend), 0);
    assert_ret(pollux_signal_add(s.p, SIGUSR2, NULL), 0);
    assert_ret(pollux_signal_add(p, SIGUSR2, NULL), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sleep_for_signal, &s), 0);
    sleep_ns(50 * NS_PER_MS); /* not a timing assertion: either order is fine */
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    assert_int_equal(wait_for_signal(p, SIGUSR2, 5 * NS_PER_S, NULL), 1);
    pthread_join(t, NULL);
    assert_int_equal(s.got, 1);
    pollux_free(s.p);
}

static void burst_of_1000_deliveries_is_counted_and_never_lost(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_signal_add(p, SIGUSR1, NULL), 0);
    /* All at once: one event at least, never more deliveries than sent. */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(kill(getpid(), SIGUSR1), 0);
    uint64_t total = 0;
    int reports = 0;
    pollux_event ev;
    uint64_t got;
    while ((got = wait_for_signal(p, SIGUSR1, reports == 0 ? 5 * NS_PER_S : 0, &ev)) > 0) {
        total += got;
        reports++;
    }
    assert_true(reports >= 1);
    assert_true(total >= 1 && total <= 1000);
    printf("burst: %s: 1000 kill(SIGUSR1) at once -> %d report(s), count %llu\n",
           pollux_backend_name(g_backend), reports, (unsigned long long)total);
    /* One by one, each followed by a wait: every one is an event. */
    total = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(kill(getpid(), SIGUSR1), 0);
        got = wait_for_signal(p, SIGUSR1, 5 * NS_PER_S, NULL);
        assert_true(got >= 1);
        total += got;
    }
    assert_int_equal(total, 1000);
    printf("burst: %s: 1000 kill(SIGUSR1) each followed by a wait -> 1000 reports, count %llu\n",
           pollux_backend_name(g_backend), (unsigned long long)total);
}

static void burst_of_1000_queued_realtime_signals_is_counted(void **state)
{
    pollux *p = *state;
    int signo = SIGRTMIN + 1;
    assert_ret(pollux_signal_add(p, signo, NULL), 0);
    int sent = 0;
    for (int i = 0; i < 1000; i++)
        sent += sigqueue(getpid(), signo, (union sigval){ .sival_int = i }) == 0;
    uint64_t total = 0, got;
    int reports = 0;
    while ((got = wait_for_signal(p, signo, reports == 0 ? 5 * NS_PER_S : 0, NULL)) > 0) {
        total += got;
        reports++;
    }
    assert_true(sent >= 1);
    assert_true(reports >= 1);
    assert_true(total >= 1 && total <= (uint64_t)sent);
    printf("burst: %s: %d sigqueue(SIGRTMIN+1) at once -> %d report(s), count %llu\n",
           pollux_backend_name(g_backend), sent, reports, (unsigned long long)total);
    assert_ret(pollux_signal_remove(p, signo), 0);
}

static volatile sig_atomic_t handled;
static void count_handled(int signo)
{
    (void)signo;
    handled++;
}

static void removal_restores_the_previous_handler_and_mask(void **state)
{
    pollux *p = *state, *q;
    struct sigaction old, now;
    sig_install(SIGUSR2, count_handled, &old);
    assert_false(is_blocked(SIGUSR2));
    assert_ret(pollux_new(&q, g_backend), 0);
    assert_ret(pollux_signal_add(p, SIGUSR2, NULL), 0);
    assert_ret(pollux_signal_add(q, SIGUSR2, NULL), 0);
    handled = 0;
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    assert_int_equal(wait_for_signal(p, SIGUSR2, 5 * NS_PER_S, NULL), 1);
    assert_int_equal(handled, 0); /* watched: the user's handler is not run */
    /* Not the last watch: nothing is restored yet. */
    assert_ret(pollux_signal_remove(p, SIGUSR2), 0);
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    /* Both deliveries, or one where the kernel merged them (libkqueue). */
    uint64_t got = wait_for_signal(q, SIGUSR2, 5 * NS_PER_S, NULL);
    assert_true(got >= 1 && got <= 2);
    assert_int_equal(handled, 0);
    /* A delivery not reported when the last watch goes is dropped. */
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    assert_ret(pollux_signal_remove(q, SIGUSR2), 0);
    pollux_free(q);
    assert_int_equal(sigaction(SIGUSR2, NULL, &now), 0);
    assert_ptr_equal(now.sa_handler, count_handled);
    assert_false(is_blocked(SIGUSR2));
    handled = 0;
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    assert_int_equal(handled, 1);
    sig_restore(SIGUSR2, &old);
}

static void removal_restores_the_default_action(void **state)
{
    pollux *p = *state;
    struct sigaction now;
    assert_int_equal(sigaction(SIGUSR1, NULL, &now), 0);
    assert_ptr_equal(now.sa_handler, SIG_DFL);
    assert_ret(pollux_signal_add(p, SIGUSR1, NULL), 0);
    assert_int_equal(kill(getpid(), SIGUSR1), 0); /* would kill the test if not watched */
    assert_ret(pollux_signal_remove(p, SIGUSR1), 0);
    assert_int_equal(sigaction(SIGUSR1, NULL, &now), 0);
    assert_ptr_equal(now.sa_handler, SIG_DFL);
    assert_false(is_blocked(SIGUSR1));
}

static void signal_blocked_by_the_caller_stays_blocked_after_removal(void **state)
{
    pollux *p = *state;
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &one, NULL);
    assert_ret(pollux_signal_add(p, SIGUSR2, NULL), 0);
    assert_ret(pollux_signal_remove(p, SIGUSR2), 0);
    bool blocked = is_blocked(SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    assert_true(blocked);
}

static void signals_and_descriptors_share_a_small_max_events(void **state)
{
    pollux *p = *state;
    int fds[2];
    make_pipe(fds);
    write_byte(fds[1]);
    assert_ret(pollux_register(p, fds[0], POLLUX_READ, &tag_a), 0);
    assert_ret(pollux_signal_add(p, SIGUSR1, NULL), 0);
    assert_ret(pollux_signal_add(p, SIGUSR2, NULL), 0);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    bool seen_usr1 = false, seen_usr2 = false, seen_fd = false;
    int max = 1;
    for (int i = 0; i < 6 && !(seen_usr1 && seen_usr2 && seen_fd); i++) {
        pollux_event evs[3];
        int n = pollux_wait(p, evs, max, 5 * NS_PER_S);
        assert_true(n >= 1);
        pollux_event ev = evs[0];
        for (int k = 1; k < n; k++) {
            seen_usr1 |= evs[k].events == POLLUX_SIGNAL && evs[k].fd == SIGUSR1;
            seen_usr2 |= evs[k].events == POLLUX_SIGNAL && evs[k].fd == SIGUSR2;
            seen_fd |= evs[k].fd == fds[0] && (evs[k].events & POLLUX_READ);
        }
        seen_usr1 |= ev.events == POLLUX_SIGNAL && ev.fd == SIGUSR1;
        seen_usr2 |= ev.events == POLLUX_SIGNAL && ev.fd == SIGUSR2;
        seen_fd |= ev.fd == fds[0] && (ev.events & POLLUX_READ);
    }
    assert_true(seen_usr1 && seen_usr2 && seen_fd);
}

static void signal_descriptors_are_not_the_callers_to_register(void **state)
{
    pollux *p = *state;
    bool before[64];
    for (int fd = 0; fd < 64; fd++)
        before[fd] = fd_is_open(fd);
    assert_ret(pollux_signal_add(p, SIGUSR1, NULL), 0);
    /* What the watch opened is the poller's: registering it must fail,
     * never take it over. (On kqueue pollux opens nothing; libkqueue's own
     * descriptors are not pollux's to refuse.) */
    for (int fd = 3; fd < 64; fd++) {
        if (before[fd] || !fd_is_open(fd)
            || ops_of(p)->signal_source == POLLUX_SIGNAL_SOURCE_BACKEND)
            continue;
        int r = pollux_register(p, fd, POLLUX_READ, NULL);
        if (r == 0)
            assert_ret(pollux_unregister(p, fd), 0);
        else
            assert_true(r == -EBADF);
    }
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(wait_for_signal(p, SIGUSR1, 5 * NS_PER_S, NULL), 1);
}

/* ---- kind, serial, pollux_event_current -------------------------------- */

static void signal_event_says_its_kind_and_is_current_until_removed(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_signal_add(p, SIGUSR1, &tag_a), 0);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    pollux_event ev;
    assert_int_equal(wait_for_signal(p, SIGUSR1, 5 * NS_PER_S, &ev), 1);
    assert_int_equal(ev.kind, POLLUX_KIND_SIGNAL);
    assert_int_equal(ev.status, 0);
    assert_true(ev.serial != 0);
    assert_int_equal(pollux_event_current(p, &ev), 1);
    assert_ret(pollux_signal_remove(p, SIGUSR1), 0);
    assert_int_equal(pollux_event_current(p, &ev), 0);
    /* Watched again: a new watch, the old event stays stale. */
    assert_ret(pollux_signal_add(p, SIGUSR1, &tag_b), 0);
    assert_int_equal(pollux_event_current(p, &ev), 0);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    pollux_event again;
    assert_int_equal(wait_for_signal(p, SIGUSR1, 5 * NS_PER_S, &again), 1);
    assert_int_equal(pollux_event_current(p, &again), 1);
    assert_true(again.serial != ev.serial);
    /* The same event on another poller, or made up, is not current. */
    pollux *q;
    assert_ret(pollux_new(&q, g_backend), 0);
    assert_int_equal(pollux_event_current(q, &again), 0);
    pollux_free(q);
    pollux_event made_up = again;
    int bad[] = { 0, -1, 65, SIGUSR2, INT32_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        made_up.fd = bad[i];
        assert_int_equal(pollux_event_current(p, &made_up), 0);
    }
}

static void signal_removed_mid_batch_is_not_current(void **state)
{
    pollux *p = *state;
    int fds[2];
    make_pipe(fds);
    assert_ret(pollux_register(p, fds[0], POLLUX_READ, &tag_a), 0);
    assert_ret(pollux_signal_add(p, SIGUSR2, &tag_b), 0);
    write_byte(fds[1]);
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    pollux_event ev[8];
    int n = 0, sig = -1, fd = -1;
    /* Until a batch holds the signal (the readable pipe comes every time). */
    for (int i = 0; i < 10 && sig < 0; i++) {
        n = pollux_wait(p, ev, 8, 5 * NS_PER_S);
        for (int k = 0; k < n; k++) {
            if (ev[k].kind == POLLUX_KIND_SIGNAL)
                sig = k;
            else if (ev[k].kind == POLLUX_KIND_FD)
                fd = k;
        }
    }
    assert_true(sig >= 0);
    assert_int_equal(pollux_event_current(p, &ev[sig]), 1);
    /* Handling an event of the batch stops watching the signal. */
    assert_ret(pollux_signal_remove(p, SIGUSR2), 0);
    assert_int_equal(pollux_event_current(p, &ev[sig]), 0);
    if (fd >= 0)
        assert_int_equal(pollux_event_current(p, &ev[fd]), 1);
}

/* ---- fork ------------------------------------------------------------ */

static int child_reports_its_own_signal(pollux *p)
{
    if (pollux_after_fork(p) != 0)
        return 10;
    pollux_event ev;
    if (pollux_wait(p, &ev, 1, 0) != 0)
        return 11; /* nothing was delivered to the child yet */
    if (kill(getpid(), SIGUSR1) != 0)
        return 12;
    if (pollux_wait(p, &ev, 1, 5 * NS_PER_S) != 1)
        return 13;
    if (ev.fd != SIGUSR1 || ev.events != POLLUX_SIGNAL || ev.count != 1 || ev.data != &tag_a)
        return 14;
    if (pollux_signal_remove(p, SIGUSR1) != 0)
        return 15;
    return 0;
}

static void fork_child_after_fork_reports_its_own_signals_and_parent_its_own(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_signal_add(p, SIGUSR1, &tag_a), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_reports_its_own_signal(p));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* The child's delivery was the child's. */
    pollux_event ev;
    assert_int_equal(wait_for_signal(p, SIGUSR1, 0, NULL), 0);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(wait_for_signal(p, SIGUSR1, 5 * NS_PER_S, &ev), 1);
    assert_ptr_equal(ev.data, &tag_a);
}

static void after_fork_without_fork_keeps_the_signal_watches(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_signal_add(p, SIGUSR2, &tag_b), 0);
    assert_ret(pollux_after_fork(p), 0);
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    pollux_event ev;
    assert_int_equal(wait_for_signal(p, SIGUSR2, 5 * NS_PER_S, &ev), 1);
    assert_ptr_equal(ev.data, &tag_b);
}

#define T(name) cmocka_unit_test_setup_teardown(name, poller_setup, poller_teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        T(signal_add_refuses_what_cannot_be_watched),
        T(signal_add_twice_fails_with_eexist_and_remove_unknown_with_enoent),
        T(signal_and_child_bits_are_invalid_in_an_interest),
        T(signal_sent_before_the_wait_is_reported_once),
        T(signal_between_waits_is_reported),
        T(signal_during_a_blocked_wait_is_reported_not_eintr),
        T(two_pollers_watching_one_signal_both_report_it),
        T(poller_asleep_in_another_thread_reports_a_signal_read_here),
        T(burst_of_1000_deliveries_is_counted_and_never_lost),
        T(burst_of_1000_queued_realtime_signals_is_counted),
        T(removal_restores_the_previous_handler_and_mask),
        T(removal_restores_the_default_action),
        T(signal_blocked_by_the_caller_stays_blocked_after_removal),
        T(signals_and_descriptors_share_a_small_max_events),
        T(signal_descriptors_are_not_the_callers_to_register),
        T(signal_event_says_its_kind_and_is_current_until_removed),
        T(signal_removed_mid_batch_is_not_current),
        T(fork_child_after_fork_reports_its_own_signals_and_parent_its_own),
        T(after_fork_without_fork_keeps_the_signal_watches),
    };
    static const struct backend_suite suite = { .name = "signals", .backend = &g_backend };
    return run_backend_suite(&suite, argc, argv, tests);
}
