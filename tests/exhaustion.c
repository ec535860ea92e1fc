/*
 * exhaustion.c - running out of descriptors, and signal storms, on one
 * backend:
 *
 *   exhaustion BACKEND
 *
 * RLIMIT_NOFILE is lowered so that exactly 0, 1 or 2 descriptors are free
 * while pollux_new, pollux_timer_settime, pollux_wake and
 * pollux_after_fork run: they must fail with -EMFILE or succeed, leak no
 * descriptor, and work again once descriptors are free. A thread then
 * sends SIGUSR1 at a high rate while the main thread waits: every wait
 * returns events or -EINTR, and no readiness, timer or wake is lost.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pollux.h>

#include "helpers.h"

#define GUARD (5 * NS_PER_S) /* how long an expected event may take: a hang guard */
#define MAX_FREE 2           /* exhaustion runs with 0 .. MAX_FREE free descriptors */

static pollux_backend g_backend;
static int tag_pipe, tag_timer;

/* ---- running out of descriptors -------------------------------------- */

static struct rlimit g_saved_limit;
static int g_low_limit;   /* the lowered soft limit */
static int *g_filler;     /* descriptors holding the numbers below it */
static int g_filler_count;

/* Counted once the descriptors of closed kqueues are gone (libkqueue). */
static int count_open_fds(void)
{
    fd_settle();
    int n = 0;
    for (int fd = 0; fd < (int)g_saved_limit.rlim_cur; fd++)
        n += fcntl(fd, F_GETFD) >= 0;
    return n;
}

/*
 * Take every free number below the lowered limit, so that what is opened
 * next (a poller's own descriptors) lands above it: descriptors closed
 * above the limit cannot be handed out again once it is lowered.
 */
static void occupy_low_numbers(void)
{
    int highest = 0;
    for (int fd = 0; fd < (int)g_saved_limit.rlim_cur; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            highest = fd;
    g_low_limit = highest + 64;
    g_filler = calloc((size_t)g_low_limit, sizeof *g_filler);
    assert_non_null(g_filler);
    g_filler_count = 0;
    for (;;) {
        int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
        assert_true(fd >= 0);
        if (fd >= g_low_limit) {
            close(fd);
            return;
        }
        g_filler[g_filler_count++] = fd;
    }
}

/* Lower the limit and free exactly `free_fds` numbers below it; checked. */
static void exhaust(int free_fds)
{
    struct rlimit low = { (rlim_t)g_low_limit, g_saved_limit.rlim_max };
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    for (int i = 0; i < free_fds; i++)
        close(g_filler[--g_filler_count]);
    int probe[MAX_FREE + 1];
    for (int i = 0; i < free_fds; i++)
        assert_true((probe[i] = fcntl(0, F_DUPFD_CLOEXEC, 0)) >= 0);
    assert_int_equal(fcntl(0, F_DUPFD_CLOEXEC, 0), -1);
    assert_int_equal(errno, EMFILE);
    for (int i = 0; i < free_fds; i++)
        close(probe[i]);
}

/* Descriptors are plentiful again. */
static void replenish(void)
{
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &g_saved_limit), 0);
    while (g_filler_count > 0)
        close(g_filler[--g_filler_count]);
    free(g_filler);
    g_filler = NULL;
}

static int setup(void **state)
{
    (void)state;
    /* The backends are probed once, before any count: libkqueue keeps
     * descriptors of its own from the first kqueue on. */
    (void)pollux_backends();
    return getrlimit(RLIMIT_NOFILE, &g_saved_limit) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    setrlimit(RLIMIT_NOFILE, &g_saved_limit);
    while (g_filler_count > 0)
        close(g_filler[--g_filler_count]);
    free(g_filler);
    g_filler = NULL;
    fd_close_all();
    return 0;
}

/* pollux_wait until an event matching (fd, bits) arrives; the others are
 * ignored. Fails after GUARD. */
static pollux_event wait_for(pollux *p, int fd, uint32_t bits)
{
    int64_t give_up = now_ns() + GUARD;
    pollux_event ev[16];
    for (;;) {
        int64_t left = give_up - now_ns();
        if (left <= 0)
            fail_msg("no event for fd %d with bits %#x", fd, bits);
        int n = pollux_wait(p, ev, 16, left);
        if (n < 0 && n != -EINTR)
            fail_msg("pollux_wait: %s", errname(n));
        for (int i = 0; i < n; i++)
            if (ev[i].fd == fd && (ev[i].events & bits) == bits)
                return ev[i];
    }
}

/* Wait until the pipe, the timer and a wake have all been reported. */
static void wait_for_all_three(pollux *p, int pipe_fd, int timer, long *eintr)
{
    bool got_pipe = false, got_timer = false, got_wake = false;
    int64_t give_up = now_ns() + GUARD;
    while (!(got_pipe && got_timer && got_wake)) {
        int64_t left = give_up - now_ns();
        if (left <= 0)
            fail_msg("lost: pipe %d timer %d wake %d", got_pipe, got_timer, got_wake);
        pollux_event ev[8];
        int n = pollux_wait(p, ev, 8, left);
        if (n == -EINTR) {
            (*eintr)++;
            continue;
        }
        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
            got_pipe |= ev[i].fd == pipe_fd && (ev[i].events & POLLUX_READ);
            got_timer |= ev[i].fd == timer && ev[i].events == POLLUX_TIMER;
            got_wake |= ev[i].fd == -1 && ev[i].events == POLLUX_WAKE;
        }
    }
}

static void new_fails_with_emfile_and_recovers(void **state)
{
    (void)state;
    int baseline = count_open_fds();
    for (int free_fds = 0; free_fds <= MAX_FREE; free_fds++) {
        occupy_low_numbers();
        exhaust(free_fds);
        int before = count_open_fds();
        pollux *p = NULL;
        int r = pollux_new(&p, g_backend);
        if (r != 0) {
            /* Every backend needs a descriptor: with none, it is -EMFILE. */
            assert_ret(r, -EMFILE);
            assert_null(p);
        }
        assert_true(free_fds > 0 || r == -EMFILE);
        pollux_free(p);
        assert_int_equal(count_open_fds(), before);
        replenish();
        assert_ret(pollux_new(&p, g_backend), 0);
        pollux_free(p);
        assert_int_equal(count_open_fds(), baseline);
    }
}

/* pollux_fileno, where the backend has one, polls readable within GUARD. */
static void assert_fileno_becomes_readable(pollux *p)
{
    int fd = pollux_fileno(p);
    if (fd == -ENOTSUP)
        return;
    assert_true(fd >= 0);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    assert_int_equal(poll(&pfd, 1, (int)(GUARD / NS_PER_MS)), 1);
}

/*
 * Without a descriptor for its kernel timer source, a timer still fires
 * through the wait's timeout; once descriptors are free the source is
 * made again, so that pollux_fileno() polls readable for the next one.
 */
static void timer_fires_without_descriptors_and_its_source_is_retried(void **state)
{
    (void)state;
    int baseline = count_open_fds();
    for (int free_fds = 0; free_fds <= MAX_FREE; free_fds++) {
        occupy_low_numbers();
        pollux *p;
        assert_ret(pollux_new(&p, g_backend), 0);
        int id = pollux_timer_create(p, CLOCK_MONOTONIC, &tag_timer);
        assert_true(id >= 0);
        exhaust(free_fds);
        assert_ret(pollux_timer_settime(p, id, 20 * NS_PER_MS, 0, 0), 0);
        pollux_event ev = wait_for(p, id, POLLUX_TIMER);
        assert_ptr_equal(ev.data, &tag_timer);
        assert_int_equal(ev.count, 1);

        replenish();
        assert_ret(pollux_timer_settime(p, id, 20 * NS_PER_MS, 0, 0), 0);
        assert_fileno_becomes_readable(p);
        wait_for(p, id, POLLUX_TIMER);
        pollux_free(p);
        assert_int_equal(count_open_fds(), baseline);
    }
}

/*
 * A wait with nothing to report, so that a backend which hands changes
 * over at the next wait (/dev/poll) has done so before the limit is
 * lowered: the /dev/poll emulation, taking the limit for the size of the
 * descriptor table, ignores numbers above it.
 */
static void hand_changes_over(pollux *p)
{
    pollux_event ev;
    assert_ret(pollux_wait(p, &ev, 1, 0), 0);
}

static void wake_works_without_descriptors(void **state)
{
    (void)state;
    int baseline = count_open_fds();
    for (int free_fds = 0; free_fds <= MAX_FREE; free_fds++) {
        occupy_low_numbers();
        pollux *p;
        assert_ret(pollux_new(&p, g_backend), 0);
        hand_changes_over(p);
        exhaust(free_fds);
        assert_ret(pollux_wake(p), 0);
        /* pollux_fileno() opens the ready flag if a descriptor is free. */
        assert_fileno_becomes_readable(p);
        int before = count_open_fds();
        wait_for(p, -1, POLLUX_WAKE);
        assert_int_equal(count_open_fds(), before);
        replenish();
        pollux_free(p);
        assert_int_equal(count_open_fds(), baseline);
    }
}

/* A poller with a readable pipe registered, a due timer and a pending wake. */
static pollux *busy_poller(int pipe_fds[2], int *timer)
{
    pollux *p;
    assert_ret(pollux_new(&p, g_backend), 0);
    assert_ret(pollux_register(p, pipe_fds[0], POLLUX_READ, &tag_pipe), 0);
    write_byte(pipe_fds[1]);
    *timer = pollux_timer_create(p, CLOCK_MONOTONIC, &tag_timer);
    assert_true(*timer >= 0);
    assert_ret(pollux_timer_settime(p, *timer, 30 * NS_PER_MS, 0, 0), 0);
    assert_ret(pollux_wake(p), 0);
    return p;
}

/* After a failed pollux_after_fork the poller owns no descriptor and says
 * -EIO; the retry brings back the registration, the timer and the wake. */
static void after_fork_fails_with_emfile_and_keeps_everything(void **state)
{
    (void)state;
    int baseline = count_open_fds();
    for (int free_fds = 0; free_fds <= MAX_FREE; free_fds++) {
        /* The pipe below the limit: see hand_changes_over(). */
        int a[2], timer;
        make_pipe(a);
        occupy_low_numbers();
        int before_poller = count_open_fds();
        pollux *p = busy_poller(a, &timer);
        exhaust(free_fds);
        int r = pollux_after_fork(p);
        if (r != 0) {
            assert_ret(r, -EMFILE);
            assert_int_equal(count_open_fds(), before_poller - free_fds);
            assert_ret(pollux_register(p, a[1], POLLUX_WRITE, NULL), -EIO);
            pollux_event ev;
            assert_ret(pollux_wait(p, &ev, 1, 0), -EIO);
            assert_ret(pollux_wake(p), -EIO);
        }
        replenish();
        if (r != 0)
            assert_ret(pollux_after_fork(p), 0);
        long eintr = 0;
        wait_for_all_three(p, a[0], timer, &eintr);
        pollux_free(p);
        fd_close(a[0]);
        fd_close(a[1]);
        assert_int_equal(count_open_fds(), baseline);
    }
}

/* ---- signal storms ----------------------------------------------------- */

struct storm {
    pthread_t main_thread, thread;
    atomic_bool stop;
    atomic_int asked;       /* signals to send before writing to the pipe and waking p */
    atomic_long signals;
    pollux *p;
    int pipe_write_fd;
};

static void on_signal(int signo)
{
    (void)signo;
}

static void *storm_main(void *arg)
{
    struct storm *s = arg;
    const struct timespec gap = { 0, 20000 }; /* 20 us */
    while (!atomic_load(&s->stop)) {
        pthread_kill(s->main_thread, SIGUSR1);
        atomic_fetch_add(&s->signals, 1);
        /* The pipe and the wake come after a few signals more, while
         * the main thread is most likely blocked in the wait. */
        if (atomic_load(&s->asked) > 0 && atomic_fetch_sub(&s->asked, 1) == 1) {
            while (write(s->pipe_write_fd, "x", 1) < 0 && errno == EINTR)
                continue; /* no cmocka assertion outside the main thread */
            pollux_wake(s->p);
        }
        nanosleep(&gap, NULL);
    }
    return NULL;
}

static void waits_under_a_signal_storm_lose_nothing(void **state)
{
    (void)state;
    pollux *p;
    assert_ret(pollux_new(&p, g_backend), 0);
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, &tag_pipe), 0);
    int timer = pollux_timer_create(p, CLOCK_MONOTONIC, &tag_timer);
    assert_true(timer >= 0);

    struct sigaction old;
    sig_install(SIGUSR1, on_signal, &old);
    static struct storm s;
    s = (struct storm){ .main_thread = pthread_self(), .p = p, .pipe_write_fd = a[1] };
    assert_int_equal(pthread_create(&s.thread, NULL, storm_main, &s), 0);
    long eintr = 0;
    for (int round = 0; round < 100; round++) {
        /* All three arrive while the wait is blocked, most often. */
        assert_ret(pollux_timer_settime(p, timer, 2 * NS_PER_MS, 0, 0), 0);
        atomic_store(&s.asked, 20);
        wait_for_all_three(p, a[0], timer, &eintr);
        drain(a[0]);
    }
    atomic_store(&s.stop, true);
    pthread_join(s.thread, NULL);
    sig_restore(SIGUSR1, &old);
    print_message("%ld signals, %ld waits interrupted\n", atomic_load(&s.signals), eintr);
    pollux_free(p);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(int argc, char **argv)
{
    static const struct CMUnitTest tests[] = {
        T(new_fails_with_emfile_and_recovers),
        T(timer_fires_without_descriptors_and_its_source_is_retried),
        T(wake_works_without_descriptors),
        T(after_fork_fails_with_emfile_and_keeps_everything),
        T(waits_under_a_signal_storm_lose_nothing),
    };
    static const struct backend_suite suite = { .name = "exhaustion", .backend = &g_backend };
    return run_backend_suite(&suite, argc, argv, tests);
}
