/*
 * alloc_failure.c - allocation-failure injection on one backend:
 *
 *   alloc_failure BACKEND
 *
 * The library's sources are compiled again for this test only, with their
 * malloc, calloc, realloc and free renamed to the counting functions below
 * (tests/meson.build); libpollux itself is untouched. A scenario that
 * grows to thousands of descriptors and timers and goes through register,
 * modify, unregister, wait, wake, timer create/settime/delete and
 * pollux_after_fork runs once to count its allocations, then once for
 * every k with the k-th allocation failing. Every call must succeed or
 * fail with -ENOMEM (-EIO after a failed after_fork, as documented); after
 * a failure, what wait reports must match a model of what is registered,
 * and the call must then succeed; at the end the poller must have freed
 * every allocation.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pollux.h>

#include "helpers.h"

/* ---- the allocator the library's objects call here ---------------------- */

void *pollux_test_malloc(size_t size);
void *pollux_test_calloc(size_t count, size_t size);
void *pollux_test_realloc(void *old, size_t size);
void pollux_test_free(void *block);

static long g_allocs;     /* allocations asked for in this run */
static long g_fail_at;    /* the one that fails; 0: none */
static bool g_injected;   /* it failed since the flag was last cleared */
static long g_live;       /* blocks not freed yet */

static bool fail_this_one(void)
{
    if (++g_allocs != g_fail_at)
        return false;
    g_injected = true;
    return true;
}

void *pollux_test_malloc(size_t size)
{
    void *block = fail_this_one() ? NULL : malloc(size);
    g_live += block != NULL;
    return block;
}

void *pollux_test_calloc(size_t count, size_t size)
{
    void *block = fail_this_one() ? NULL : calloc(count, size);
    g_live += block != NULL;
    return block;
}

void *pollux_test_realloc(void *old, size_t size)
{
    void *block = fail_this_one() ? NULL : realloc(old, size);
    g_live += block != NULL && old == NULL;
    return block;
}

void pollux_test_free(void *block)
{
    g_live -= block != NULL;
    free(block);
}

#ifdef __linux__
#include <sys/epoll.h>

int pollux_test_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);

static long g_adds;        /* epoll_ctl ADDs that succeeded in the kernel */
static long g_refuse_add;  /* the one refused with ENOMEM; 0: none */

/* Where the kernel allocates (a successful ADD), refuse the chosen one as
 * it would when out of memory or past max_user_watches. */
int pollux_test_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    int r = epoll_ctl(epfd, op, fd, event);
    if (r == 0 && op == EPOLL_CTL_ADD && ++g_adds == g_refuse_add) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
        errno = ENOMEM;
        return -1;
    }
    return r;
}
#endif

/* ---- descriptors and the model ---------------------------------------- */

#define FIRST_FD 1000  /* the scenario's numbers, from here on */
#define SOCKETS  2000  /* socketpair ends, readable and writable */
/* Regular files, dups of one (always ready): enough of them that the
 * always-ready rotation must take turns across waits. */
#define FILES    100
#define NFD      (SOCKETS + FILES)
#define TIMERS   2000
#define RW       (POLLUX_READ | POLLUX_WRITE)

static pollux_backend g_backend;
static int g_fd[NFD];

struct reg {
    bool on;
    bool fired;         /* a ONESHOT that has been reported */
    uint32_t interest;
};
static struct reg g_reg[NFD];

struct tmr {
    bool exists;
    bool due;           /* expires at once: reported by the next observation */
};
static struct tmr g_tmr[TIMERS];
static bool g_wake_owed;
static long g_failed_calls;
static const char *g_step = "start"; /* where the scenario is, for messages */

/* fail_msg, saying which allocation failed in this run and where. */
#define run_fail(...)                                                           \
    do {                                                                        \
        print_error("allocation %ld of the run fails; step: %s\n", g_fail_at,   \
                    g_step);                                                    \
        fail_msg(__VA_ARGS__);                                                  \
    } while (0)

static uint32_t expected_bits(const struct reg *r)
{
    if (!r->on || r->fired)
        return 0;
    return r->interest & RW; /* both kinds of file are readable and writable */
}

/* A report may hold part of the ready bits (kqueue's filters can come in
 * different kernel batches); across reports, all of them must come. */
static void check_fd_event(const pollux_event *ev, uint32_t *seen)
{
    int i = ev->fd - FIRST_FD;
    if (i < 0 || i >= NFD)
        run_fail("event for fd %d, which the scenario never registered", ev->fd);
    struct reg *r = &g_reg[i];
    uint32_t expected = expected_bits(r);
    if (ev->events == 0 || (ev->events & ~expected) || ev->data != r)
        run_fail("fd %d: events %#x data %p, expected %#x %p (registered %d)", ev->fd,
                 ev->events, ev->data, expected, (void *)r, r->on);
    if (r->interest & POLLUX_ONESHOT)
        r->fired = true;
    seen[i] |= ev->events;
}

static void check_event(const pollux_event *ev, uint32_t *seen)
{
    if (ev->events == POLLUX_WAKE) {
        if (ev->fd != -1 || !g_wake_owed)
            run_fail("WAKE on fd %d, owed %d", ev->fd, g_wake_owed);
        g_wake_owed = false;
    } else if (ev->events == POLLUX_TIMER) {
        if (ev->fd < 0 || ev->fd >= TIMERS || !g_tmr[ev->fd].due || ev->count != 1
            || ev->data != g_tmr)
            run_fail("timer %d reported, count %llu, not due", ev->fd,
                     (unsigned long long)ev->count);
        g_tmr[ev->fd].due = false;
    } else {
        check_fd_event(ev, seen);
    }
}

/* Whatever the model still expects, or -2 for nothing: an fd, a timer as
 * -1000 - id, or -1 for the wake. */
static int missing(const uint32_t *seen, const uint32_t *expected)
{
    for (int i = 0; i < NFD; i++)
        if (seen[i] != expected[i])
            return g_fd[i];
    for (int id = 0; id < TIMERS; id++)
        if (g_tmr[id].due)
            return -1000 - id;
    return g_wake_owed ? -1 : -2;
}

/*
 * Wait with timeout 0 until every source the model says is ready has been
 * reported (level-triggered ones come back: each is checked every time),
 * failing on any report the model does not expect.
 */
static void observe(pollux *p)
{
    static uint32_t seen[NFD], expected[NFD];
    for (int i = 0; i < NFD; i++) {
        seen[i] = 0;
        expected[i] = expected_bits(&g_reg[i]);
    }
    /* Room for everything: fairness between more sources than max_events
     * is conformance.c's business. */
    static pollux_event ev[NFD + 64];
    for (int round = 0; missing(seen, expected) != -2; round++) {
        if (round > 64 + NFD / 16)
            run_fail("never reported: %d (seen %#x, expected %#x)", missing(seen, expected), missing(seen, expected) >= FIRST_FD ? seen[missing(seen, expected) - FIRST_FD] : 0, missing(seen, expected) >= FIRST_FD ? expected[missing(seen, expected) - FIRST_FD] : 0);
        g_injected = false;
        int n = pollux_wait(p, ev, NFD + 64, 0);
        if (n == -ENOMEM && g_injected) {
            g_failed_calls++;
            continue;
        }
        if (n <= 0)
            run_fail("wait returned %d (%s) while %d is ready", n, errname(n),
                     missing(seen, expected));
        for (int k = 0; k < n; k++)
            check_event(&ev[k], seen);
    }
}

/*
 * A call's result r: true when it is the injected failure (checked: the
 * poller reports what the model says, so the caller retries), false when
 * it succeeded. Anything else fails the test.
 */
static bool failed(pollux *p, int r, const char *what)
{
    if (r >= 0)
        return false;
    if (r != -ENOMEM || !g_injected)
        run_fail("%s returned %d (%s)", what, r, errname(r));
    g_failed_calls++;
    observe(p);
    return true;
}

/* After a call that succeeded although an allocation in it failed. */
static void check_absorbed(pollux *p)
{
    if (g_injected)
        observe(p);
}

/* ---- the scenario's steps --------------------------------------------- */

static void do_register(pollux *p, int i, uint32_t interest)
{
    int r;
    do {
        g_injected = false;
        r = pollux_register(p, g_fd[i], interest, &g_reg[i]);
    } while (failed(p, r, "register"));
    g_reg[i] = (struct reg){ .on = true, .interest = interest };
    check_absorbed(p);
}

static void do_modify(pollux *p, int i, uint32_t interest)
{
    int r;
    do {
        g_injected = false;
        r = pollux_modify(p, g_fd[i], interest, &g_reg[i]);
    } while (failed(p, r, "modify"));
    g_reg[i] = (struct reg){ .on = true, .interest = interest };
    check_absorbed(p);
}

static void do_unregister(pollux *p, int i)
{
    g_injected = false;
    assert_ret(pollux_unregister(p, g_fd[i]), 0);
    g_reg[i].on = false;
    check_absorbed(p);
}

static int do_timer_create(pollux *p)
{
    int id;
    do {
        g_injected = false;
        id = pollux_timer_create(p, CLOCK_MONOTONIC, g_tmr);
    } while (failed(p, id, "timer_create"));
    assert_true(id < TIMERS);
    assert_false(g_tmr[id].exists);
    g_tmr[id] = (struct tmr){ .exists = true };
    check_absorbed(p);
    return id;
}

/* initial_ns 1: due at once; a day: never within the test. */
static void do_settime(pollux *p, int id, int64_t initial_ns)
{
    int r;
    do {
        g_injected = false;
        r = pollux_timer_settime(p, id, initial_ns, 0, 0);
    } while (failed(p, r, "timer_settime"));
    g_tmr[id].due = initial_ns == 1;
    check_absorbed(p);
}

static void do_timer_delete(pollux *p, int id)
{
    assert_ret(pollux_timer_delete(p, id), 0);
    g_tmr[id] = (struct tmr){ 0 };
}

static void do_wake(pollux *p)
{
    assert_ret(pollux_wake(p), 0);
    g_wake_owed = true;
}

/* A failed after_fork leaves no kernel state: -EIO until it succeeds. */
static void do_after_fork(pollux *p)
{
    for (;;) {
        g_injected = false;
        int r = pollux_after_fork(p);
        if (r == 0)
            break;
        if (r != -ENOMEM || !g_injected)
            run_fail("after_fork returned %d (%s)", r, errname(r));
        g_failed_calls++;
        pollux_event ev;
        assert_ret(pollux_wait(p, &ev, 1, 0), -EIO);
        assert_ret(pollux_register(p, g_fd[0], POLLUX_READ, NULL), -EIO);
        assert_ret(pollux_modify(p, g_fd[1], POLLUX_READ, NULL), -EIO);
        assert_ret(pollux_unregister(p, g_fd[1]), -EIO);
        assert_ret(pollux_wake(p), -EIO);
    }
    check_absorbed(p);
}

static pollux *do_new(void)
{
    pollux *p;
    int r;
    do {
        g_injected = false;
        r = pollux_new(&p, g_backend);
        if (r < 0 && (r != -ENOMEM || !g_injected))
            run_fail("pollux_new returned %d (%s)", r, errname(r));
    } while (r < 0);
    return p;
}

/* Plain, ONESHOT and paused registrations of every kind. */
static uint32_t pattern(int i)
{
    static const uint32_t interests[] = {
        POLLUX_READ, POLLUX_WRITE, RW, 0, POLLUX_READ | POLLUX_ONESHOT, POLLUX_WRITE | POLLUX_ONESHOT,
    };
    return interests[i % 6];
}

static void fds_scenario(pollux *p)
{
    g_step = "register";
    for (int i = 0; i < NFD; i++)
        do_register(p, i, pattern(i));
    observe(p);
    g_step = "modify";
    for (int i = 0; i < NFD; i += 3)
        do_modify(p, i, pattern(i + 1));
    observe(p);
    g_step = "unregister";
    for (int i = 0; i < NFD; i += 4)
        do_unregister(p, i);
    observe(p);
}

static void timers_scenario(pollux *p)
{
    g_step = "timers";
    for (int k = 0; k < TIMERS; k++) {
        int id = do_timer_create(p);
        if (id % 3 == 0)
            do_settime(p, id, 1);
        else if (id % 3 == 1)
            do_settime(p, id, 86400 * NS_PER_S);
    }
    for (int id = 0; id < TIMERS; id += 5)
        do_timer_delete(p, id);
    do_wake(p);
    observe(p);
}

static void run_scenario(void)
{
    memset(g_reg, 0, sizeof g_reg);
    memset(g_tmr, 0, sizeof g_tmr);
    g_wake_owed = false;
    g_allocs = 0;
    g_step = "new";
    pollux *p = do_new();
    fds_scenario(p);
    timers_scenario(p);
    /* Grow again, re-arm fired ONESHOTs, and rebuild with all of it. */
    g_step = "grow again";
    for (int i = 0; i < NFD; i += 8)
        do_register(p, i, POLLUX_WRITE);
    for (int i = 1; i < NFD; i += 5)
        if (g_reg[i].on)
            do_modify(p, i, POLLUX_READ | POLLUX_ONESHOT);
    do_wake(p);
    for (int id = 1; id < TIMERS; id += 7)
        if (g_tmr[id].exists)
            do_settime(p, id, 1);
    g_step = "after_fork";
    do_after_fork(p);
    observe(p);
    g_step = "end";
    for (int id = 2; id < TIMERS; id += 11)
        if (g_tmr[id].exists)
            do_settime(p, id, 1);
    do_wake(p);
    observe(p);
    pollux_free(p);
    assert_int_equal(g_live, 0);
}

static void every_allocation_can_fail(void **state)
{
    (void)state;
    g_fail_at = 0;
    run_scenario();
    long total = g_allocs;
    assert_true(total > 0);
    g_failed_calls = 0;
    for (g_fail_at = 1; g_fail_at <= total; g_fail_at++) {
        run_scenario();
        assert_true(g_allocs >= g_fail_at); /* the failure did happen */
    }
    print_message("%s: %ld allocations, each failed in one run; %ld calls failed with -ENOMEM\n",
                  pollux_backend_name(g_backend), total, g_failed_calls);
}

/* A call that may meet the injected failure: retried while it does. */
#define RETRY_ENOMEM(call)                                                       \
    ({                                                                           \
        int r_;                                                                  \
        while ((r_ = (call)) == -ENOMEM && g_injected)                           \
            g_injected = false;                                                  \
        r_;                                                                      \
    })

/* Waits until an event of kind comes; its status. */
static int wait_kind(pollux *p, uint32_t kind)
{
    pollux_event ev[4];
    for (int round = 0; round < 20; round++) {
        int n = RETRY_ENOMEM(pollux_wait(p, ev, 4, 5 * NS_PER_S));
        assert_true(n > 0);
        for (int i = 0; i < n; i++)
            if (ev[i].kind == kind)
                return ev[i].status;
    }
    fail_msg("no event of kind %u", (unsigned)kind);
    return -1;
}

/* A signal watch and a child watch, each reported, then removed. */
static void run_sources(void)
{
    g_allocs = 0;
    g_injected = false;
    pollux *p = NULL;
    assert_ret(RETRY_ENOMEM(pollux_new(&p, g_backend)), 0);
    assert_ret(RETRY_ENOMEM(pollux_signal_add(p, SIGUSR1, NULL)), 0);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    wait_kind(p, POLLUX_KIND_SIGNAL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(3);
    assert_ret(RETRY_ENOMEM(pollux_child_add(p, pid, NULL)), 0);
    assert_int_equal(WEXITSTATUS(wait_kind(p, POLLUX_KIND_CHILD)), 3);
    assert_ret(pollux_signal_remove(p, SIGUSR1), 0);
    pollux_free(p);
    assert_int_equal(g_live, 0);
}

static void signal_and_child_watches_survive_every_allocation_failure(void **state)
{
    (void)state;
    g_fail_at = 0;
    run_sources();
    long total = g_allocs;
    for (g_fail_at = 1; g_fail_at <= total; g_fail_at++)
        run_sources();
    g_fail_at = 0;
    print_message("%s: signal and child watches: %ld allocations, each failed in one run\n",
                  pollux_backend_name(g_backend), total);
}

/*
 * The kernel refusing to watch one descriptor again (epoll: ENOMEM, or
 * ENOSPC past max_user_watches) fails the whole after_fork, for each
 * epoll_ctl ADD it makes in turn; the retry brings everything back.
 */
static void after_fork_fails_when_the_kernel_refuses_a_registration(void **state)
{
    (void)state;
#ifdef __linux__
    if (g_backend != POLLUX_BACKEND_EPOLL)
        skip(); /* the only backend whose kernel call is refused here */
    g_fail_at = 0;
    for (long k = 1;; k++) {
        memset(g_reg, 0, sizeof g_reg);
        g_step = "kernel refuses an add in after_fork";
        pollux *p = do_new();
        for (int i = 0; i < 16; i++)
            do_register(p, i, RW);
        do_wake(p);
        g_adds = 0;
        g_refuse_add = k;
        int r = pollux_after_fork(p);
        g_refuse_add = 0;
        bool refused = g_adds >= k;
        if (refused) {
            assert_ret(r, -ENOMEM);
            pollux_event ev;
            assert_ret(pollux_wait(p, &ev, 1, 0), -EIO);
            assert_ret(pollux_after_fork(p), 0);
        } else {
            assert_ret(r, 0);
        }
        observe(p);
        pollux_free(p);
        if (!refused) {
            print_message("epoll: after_fork refused at each of its %ld epoll_ctl ADDs\n", k - 1);
            break;
        }
    }
#else
    skip();
#endif
}

/* ---- descriptors ------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    if (raise_fd_limit() < FIRST_FD + NFD + 64)
        return -1;
    /* Distinct sockets, not dups of one: Linux limits how many epoll
     * entries of one file can be nested in another epoll (the kqueue
     * emulation nests them). */
    for (int i = 0; i < SOCKETS; i += 2) {
        int sp[2];
        make_socketpair(sp);
        write_byte(sp[0]); /* both ends readable and writable from now on */
        write_byte(sp[1]);
        for (int k = 0; k < 2; k++) {
            g_fd[i + k] = fcntl(sp[k], F_DUPFD_CLOEXEC, FIRST_FD);
            fd_close(sp[k]);
        }
    }
    int file = make_regular_file();
    for (int i = SOCKETS; i < NFD; i++)
        g_fd[i] = fcntl(file, F_DUPFD_CLOEXEC, FIRST_FD);
    for (int i = 0; i < NFD; i++) {
        if (g_fd[i] != FIRST_FD + i)
            return -1;
        fd_track(g_fd[i]);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fd_close_all();
    return 0;
}

int main(int argc, char **argv)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_allocation_can_fail),
        cmocka_unit_test(after_fork_fails_when_the_kernel_refuses_a_registration),
        cmocka_unit_test(signal_and_child_watches_survive_every_allocation_failure),
    };
    static const struct backend_suite suite = {
        .name = "alloc_failure", .backend = &g_backend,
        .group_setup = setup, .group_teardown = teardown,
    };
    return run_backend_suite(&suite, argc, argv, tests);
}
