/*
 * events.c - what an event says about its source, run once per backend:
 *
 *   events BACKEND
 *
 * Every event names its kind and the registration or timer that produced
 * it, and pollux_event_current() tells whether that source is still the
 * one registered: handling one event of a batch can remove the source of
 * a later one (docs/reference.md, "Events").
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
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pollux.h>

#include "helpers.h"

static pollux_backend g_backend;
static int tok[4];

/* The index of the event of that kind and number in ev[0..n), or -1. */
static int find_event(const pollux_event *ev, int n, pollux_kind kind, int fd)
{
    for (int i = 0; i < n; i++)
        if (ev[i].kind == (uint32_t)kind && ev[i].fd == fd)
            return i;
    return -1;
}

/* Wait (up to a second) for a batch holding an event of that kind and
 * number; returns the batch's size and stores the event's index. */
static int wait_for(pollux *p, pollux_event *ev, int max, pollux_kind kind, int fd, int *at)
{
    for (int tries = 0; tries < 100; tries++) {
        int n = wait_events(p, ev, max, 10 * NS_PER_MS);
        assert_true(n >= 0);
        *at = find_event(ev, n, kind, fd);
        if (*at >= 0)
            return n;
    }
    fail_msg("no event of kind %d for %d", (int)kind, fd);
    return 0;
}

/* A timer of p that is due at once: armed at an absolute time long past. */
static int due_timer(pollux *p, void *data)
{
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, data);
    assert_true(id >= 0);
    assert_ret(pollux_timer_settime(p, id, 1, 0, POLLUX_TIMER_ABSTIME), 0);
    return id;
}

/* A socket with a byte to read, registered with that interest and
 * &tok[0]. */
static int readable_socket(pollux *p, uint32_t interest)
{
    int sv[2];
    make_socketpair(sv);
    write_byte(sv[1]);
    assert_ret(pollux_register(p, sv[0], interest, &tok[0]), 0);
    return sv[0];
}

/* Wait for a batch holding an event of fd and one of timer; their
 * indexes go to *at and *t. */
static void wait_for_both(pollux *p, pollux_event ev[16], int fd, int timer, int *at, int *t)
{
    int n = wait_for(p, ev, 16, POLLUX_KIND_FD, fd, at);
    *t = find_event(ev, n, POLLUX_KIND_TIMER, timer);
    assert_true(*t >= 0);
}

/* A connection as a server keeps one: a socket, its idle timer, freed as
 * a whole when either says it is over. */
struct conn {
    int fd;
    int timer;
};

static struct conn *conn_open(pollux *p)
{
    struct conn *c = malloc(sizeof *c);
    assert_non_null(c);
    int sv[2];
    make_socketpair(sv);
    c->fd = sv[0];
    write_byte(sv[1]);
    assert_ret(pollux_register(p, c->fd, POLLUX_READ, c), 0);
    c->timer = due_timer(p, c);
    return c;
}

static void conn_close(pollux *p, struct conn *c)
{
    assert_ret(pollux_unregister(p, c->fd), 0);
    assert_ret(pollux_timer_delete(p, c->timer), 0);
    fd_close(c->fd);
    free(c);
}

/* The documented loop: one connection's descriptor and timer are in one
 * batch; handling the first closes and frees it, so the second is not
 * current and its data (freed memory) is never touched. */
static void connection_closed_and_freed_mid_batch_is_not_current_for_its_other_event(void **state)
{
    pollux *p = *state;
    struct conn *c = conn_open(p);
    int fd = c->fd, timer = c->timer;
    pollux_event ev[16];
    int at;
    int n = wait_for(p, ev, 16, POLLUX_KIND_FD, fd, &at);
    assert_true(find_event(ev, n, POLLUX_KIND_TIMER, timer) >= 0);
    int handled = 0, skipped = 0;
    for (int i = 0; i < n; i++) {
        if (!pollux_event_current(p, &ev[i])) {
            skipped++;
            continue;
        }
        switch (ev[i].kind) {
        case POLLUX_KIND_FD:
        case POLLUX_KIND_TIMER:
            assert_ptr_equal(ev[i].data, c);
            conn_close(p, ev[i].data);
            handled++;
            break;
        default:
            fail_msg("unexpected kind %u", ev[i].kind);
        }
    }
    assert_int_equal(handled, 1);
    assert_int_equal(skipped, 1);
}

/* Unregistered and closed mid-batch, and the number handed out again by
 * accept() and registered for a new connection: the old event is not
 * current, the new registration's events are. */
static void number_reused_by_accept_mid_batch_is_current_only_for_the_new_registration(void **state)
{
    pollux *p = *state;
    int sv[2];
    make_socketpair(sv);
    int old = sv[0];
    write_byte(sv[1]);
    assert_ret(pollux_register(p, old, POLLUX_READ, &tok[0]), 0);
    pollux_event ev[16];
    int at;
    wait_for(p, ev, 16, POLLUX_KIND_FD, old, &at);
    pollux_event stale = ev[at];
    assert_int_equal(pollux_event_current(p, &stale), 1);

    /* Mid-batch: the connection ends, a new one is accepted on its number. */
    assert_ret(pollux_unregister(p, old), 0);
    fd_close(old);
    uint16_t port;
    int listener = tcp_listener(&port);
    int client = tcp_connect_loopback(port);
    int accepted = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(accepted >= 0);
    fd_track(accepted);
    if (accepted != old) { /* a lower number was free: put it where the old one was */
        assert_int_equal(dup3(accepted, old, O_CLOEXEC), old);
        fd_track(old);
        fd_close(accepted);
    }
    assert_ret(pollux_register(p, old, POLLUX_READ, &tok[1]), 0);
    assert_int_equal(pollux_event_current(p, &stale), 0);

    write_byte(client);
    wait_for(p, ev, 16, POLLUX_KIND_FD, old, &at);
    assert_ptr_equal(ev[at].data, &tok[1]);
    assert_int_equal(pollux_event_current(p, &ev[at]), 1);
    assert_int_equal(pollux_event_current(p, &stale), 0);
}

/* The same number registered again for the same file: a new registration,
 * so the old one's event is not current. */
static void unregister_and_register_again_mid_batch_makes_the_event_stale(void **state)
{
    pollux *p = *state;
    int sv[2];
    make_socketpair(sv);
    write_byte(sv[1]);
    assert_ret(pollux_register(p, sv[0], POLLUX_READ, &tok[0]), 0);
    pollux_event ev[16];
    int at;
    wait_for(p, ev, 16, POLLUX_KIND_FD, sv[0], &at);
    assert_ret(pollux_unregister(p, sv[0]), 0);
    assert_int_equal(pollux_event_current(p, &ev[at]), 0);
    assert_ret(pollux_register(p, sv[0], POLLUX_READ, &tok[0]), 0);
    assert_int_equal(pollux_event_current(p, &ev[at]), 0);
}

/* Two timers due in one batch; handling the first deletes the second and
 * creates a timer that takes its id: the second's event is not current,
 * the new timer's events are. */
static void timer_deleted_mid_batch_and_its_id_reused_is_not_current(void **state)
{
    pollux *p = *state;
    int first = due_timer(p, &tok[0]);
    int second = due_timer(p, &tok[1]);
    pollux_event ev[16];
    int at;
    int n = wait_for(p, ev, 16, POLLUX_KIND_TIMER, first, &at);
    int other = find_event(ev, n, POLLUX_KIND_TIMER, second);
    assert_true(other >= 0);
    assert_int_equal(pollux_event_current(p, &ev[other]), 1);

    assert_ret(pollux_timer_delete(p, second), 0);
    assert_int_equal(pollux_event_current(p, &ev[other]), 0);
    int reused = due_timer(p, &tok[2]);
    assert_int_equal(reused, second); /* the deleted id is handed out again */
    assert_int_equal(pollux_event_current(p, &ev[other]), 0);
    assert_int_equal(pollux_event_current(p, &ev[at]), 1);

    pollux_event again[16];
    wait_for(p, again, 16, POLLUX_KIND_TIMER, reused, &at);
    assert_ptr_equal(again[at].data, &tok[2]);
    assert_int_equal(pollux_event_current(p, &again[at]), 1);
    assert_int_equal(pollux_event_current(p, &ev[other]), 0);
}

/* A fired ONESHOT and a modify (new interest and data) keep the source:
 * its events stay current. */
static void oneshot_and_modify_keep_an_event_current(void **state)
{
    pollux *p = *state;
    int fd = readable_socket(p, POLLUX_READ | POLLUX_ONESHOT);
    int timer = due_timer(p, &tok[1]);
    pollux_event ev[16];
    int at, t;
    wait_for_both(p, ev, fd, timer, &at, &t);
    assert_int_equal(pollux_event_current(p, &ev[at]), 1); /* fired, disarmed */
    assert_ret(pollux_modify(p, fd, POLLUX_READ | POLLUX_WRITE, &tok[2]), 0);
    assert_int_equal(pollux_event_current(p, &ev[at]), 1);
    assert_ret(pollux_modify(p, fd, 0, &tok[2]), 0); /* paused */
    assert_int_equal(pollux_event_current(p, &ev[at]), 1);
    assert_int_equal(pollux_event_current(p, &ev[t]), 1);
}

/* Re-arming discards pending expirations, one that the wait returned in
 * this batch included: a request handled first resets its connection's
 * idle timer, and the timeout of the same batch is not current. A failed
 * settime changes nothing; a disarm discards as a re-arm does. */
static void settime_makes_a_returned_expiration_not_current(void **state)
{
    pollux *p = *state;
    int fd = readable_socket(p, POLLUX_READ);
    int timer = due_timer(p, &tok[1]);
    pollux_event ev[16];
    int at, t;
    wait_for_both(p, ev, fd, timer, &at, &t);
    assert_ret(pollux_timer_settime(p, timer, -1, 0, 0), -EINVAL);
    assert_int_equal(pollux_event_current(p, &ev[t]), 1);
    assert_ret(pollux_timer_settime(p, timer, POLLUX_SEC(60), 0, 0), 0); /* reset */
    assert_int_equal(pollux_event_current(p, &ev[t]), 0);
    assert_int_equal(pollux_event_current(p, &ev[at]), 1);

    int other = due_timer(p, &tok[2]);
    int n = wait_for(p, ev, 16, POLLUX_KIND_TIMER, other, &t);
    assert_true(n >= 1);
    assert_ret(pollux_timer_settime(p, other, 0, 0, 0), 0); /* disarmed */
    assert_int_equal(pollux_event_current(p, &ev[t]), 0);
}

/* pollux_after_fork() keeps every registration and timer: their events
 * stay current. */
static void after_fork_keeps_events_current(void **state)
{
    pollux *p = *state;
    int fd = readable_socket(p, POLLUX_READ);
    int timer = due_timer(p, &tok[1]);
    pollux_event ev[16];
    int at, t;
    wait_for_both(p, ev, fd, timer, &at, &t);
    assert_ret(pollux_after_fork(p), 0);
    assert_int_equal(pollux_event_current(p, &ev[at]), 1);
    assert_int_equal(pollux_event_current(p, &ev[t]), 1);
}

/* Each kind is filled in, with a serial that is never 0. */
static void every_event_says_its_kind(void **state)
{
    pollux *p = *state;
    int fd = readable_socket(p, POLLUX_READ);
    int timer = due_timer(p, &tok[1]);
    assert_ret(pollux_wake(p), 0);
    pollux_event ev[16];
    memset(ev, 0xa5, sizeof ev); /* nothing left from an earlier use */
    int at;
    int n = wait_for(p, ev, 16, POLLUX_KIND_FD, fd, &at);
    assert_true(ev[at].events & POLLUX_READ);
    assert_ptr_equal(ev[at].data, &tok[0]);
    int t = find_event(ev, n, POLLUX_KIND_TIMER, timer);
    assert_true(t >= 0);
    assert_int_equal(ev[t].events, POLLUX_TIMER);
    assert_ptr_equal(ev[t].data, &tok[1]);
    int w = find_event(ev, n, POLLUX_KIND_WAKE, -1);
    assert_true(w >= 0);
    assert_int_equal(ev[w].events, POLLUX_WAKE);
    for (int i = 0; i < n; i++) {
        assert_true(ev[i].kind <= POLLUX_KIND_WAKE);
        assert_true(ev[i].serial != 0);
    }
}

/* A regular file, which the core reports itself where the kernel will
 * not watch it (epoll, kqueue), carries its registration too. */
static void regular_file_event_is_current_until_its_number_is_registered_again(void **state)
{
    pollux *p = *state;
    int file = make_regular_file();
    assert_ret(pollux_register(p, file, POLLUX_READ, &tok[0]), 0);
    pollux_event ev[16];
    int at;
    wait_for(p, ev, 16, POLLUX_KIND_FD, file, &at);
    assert_ptr_equal(ev[at].data, &tok[0]);
    assert_int_equal(pollux_event_current(p, &ev[at]), 1);
    assert_ret(pollux_unregister(p, file), 0);
    assert_ret(pollux_register(p, file, POLLUX_READ, &tok[1]), 0);
    assert_int_equal(pollux_event_current(p, &ev[at]), 0);
    pollux_event again[16];
    wait_for(p, again, 16, POLLUX_KIND_FD, file, &at);
    assert_ptr_equal(again[at].data, &tok[1]);
    assert_int_equal(pollux_event_current(p, &again[at]), 1);
}

/* A wake event is current whatever happens to the other sources. */
static void wake_event_is_always_current(void **state)
{
    pollux *p = *state;
    assert_ret(pollux_wake(p), 0);
    pollux_event ev[4];
    int at;
    wait_for(p, ev, 4, POLLUX_KIND_WAKE, -1, &at);
    assert_int_equal(pollux_event_current(p, &ev[at]), 1);
    int timer = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_true(timer >= 0);
    assert_ret(pollux_timer_delete(p, timer), 0);
    assert_ret(pollux_wake(p), 0);
    assert_int_equal(pollux_event_current(p, &ev[at]), 1);
    pollux_event made = { .fd = 12345, .kind = POLLUX_KIND_WAKE, .serial = 777 };
    assert_int_equal(pollux_event_current(p, &made), 1);
}

/* Never "handle it" by mistake: no poller, no event, an unknown kind, an
 * event never filled, numbers and ids out of range. */
static void null_unknown_kind_or_unfilled_event_is_not_current(void **state)
{
    pollux *p = *state;
    int fd = readable_socket(p, POLLUX_READ);
    int timer = due_timer(p, &tok[1]);
    pollux_event ev[16];
    int at;
    wait_for(p, ev, 16, POLLUX_KIND_FD, fd, &at);
    assert_int_equal(pollux_event_current(p, &ev[at]), 1);
    assert_int_equal(pollux_event_current(NULL, &ev[at]), 0);
    assert_int_equal(pollux_event_current(p, NULL), 0);
    assert_int_equal(pollux_event_current(NULL, NULL), 0);

    pollux_event unknown = ev[at];
    unknown.kind = 1000;
    assert_int_equal(pollux_event_current(p, &unknown), 0);
    unknown.kind = UINT32_MAX;
    assert_int_equal(pollux_event_current(p, &unknown), 0);

    /* The descriptor's serial on a timer event of the same number. */
    pollux_event crossed = ev[at];
    crossed.kind = POLLUX_KIND_TIMER;
    crossed.fd = timer;
    crossed.serial = ev[at].serial + 1000;
    assert_int_equal(pollux_event_current(p, &crossed), 0);

    pollux_event zero = { 0 };
    for (int n = 0; n <= fd; n++) {
        zero.fd = n;
        assert_int_equal(pollux_event_current(p, &zero), 0); /* serial 0 is never given */
    }
    zero.kind = POLLUX_KIND_TIMER;
    zero.fd = timer;
    assert_int_equal(pollux_event_current(p, &zero), 0);

    pollux_event far = ev[at];
    int ends[] = { -1, INT32_MIN, INT32_MAX, 1 << 20 };
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        far.fd = ends[i];
        far.kind = POLLUX_KIND_FD;
        assert_int_equal(pollux_event_current(p, &far), 0);
        far.kind = POLLUX_KIND_TIMER;
        assert_int_equal(pollux_event_current(p, &far), 0);
    }
}

/* A poller without any timer yet says 0 for a timer event (another
 * poller's, or one made up). */
static void timer_event_on_a_poller_without_timers_is_not_current(void **state)
{
    pollux *p = *state;
    pollux_event made = { .fd = 0, .kind = POLLUX_KIND_TIMER, .serial = 1 };
    assert_int_equal(pollux_event_current(p, &made), 0);
}

/*
 * A poller of descriptors only takes the steady wait's short path
 * (docs/internals.md, "The wait path"); its first timer, signal or child
 * watch must move it to the general path, which reports them. Each test
 * first waits twice without a timeout (the second takes the short path),
 * then adds the source and waits forever: a wait that missed the source
 * would never return.
 */
static void settle_into_the_steady_wait(pollux *p)
{
    pollux_event ev[4];
    assert_ret(pollux_wait(p, ev, 4, 0), 0);
    assert_ret(pollux_wait(p, ev, 4, 0), 0);
}

/* The first event of a wait forever, which must be of that kind. */
static pollux_event wait_forever_for(pollux *p, pollux_kind kind)
{
    pollux_event ev[4];
    int n = pollux_wait(p, ev, 4, -1);
    assert_true(n >= 1);
    assert_int_equal(ev[0].kind, kind);
    return ev[0];
}

static void first_timer_after_steady_waits_is_reported(void **state)
{
    pollux *p = *state;
    settle_into_the_steady_wait(p);
    int t = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    assert_true(t >= 0);
    assert_ret(pollux_timer_settime(p, t, NS_PER_MS, 0, 0), 0);
    pollux_event ev = wait_forever_for(p, POLLUX_KIND_TIMER);
    assert_int_equal(ev.fd, t);
}

/* Two signals, and room for one event a wait: the second is counted
 * already, with nothing left for the kernel to report, and only the
 * general path's look at the counted signals finds it. */
static void first_signal_watches_after_steady_waits_are_reported(void **state)
{
    pollux *p = *state;
    settle_into_the_steady_wait(p);
    assert_ret(pollux_signal_add(p, SIGUSR1, NULL), 0);
    assert_ret(pollux_signal_add(p, SIGUSR2, NULL), 0);
    assert_int_equal(raise(SIGUSR1), 0);
    assert_int_equal(raise(SIGUSR2), 0);
    pollux_event first, second;
    assert_ret(pollux_wait(p, &first, 1, -1), 1);
    assert_ret(pollux_wait(p, &second, 1, -1), 1);
    assert_int_equal(first.kind, POLLUX_KIND_SIGNAL);
    assert_int_equal(second.kind, POLLUX_KIND_SIGNAL);
    assert_int_equal(first.fd + second.fd, SIGUSR1 + SIGUSR2);
    assert_ret(pollux_signal_remove(p, SIGUSR1), 0);
    assert_ret(pollux_signal_remove(p, SIGUSR2), 0);
}

static void first_child_watch_after_steady_waits_is_reported(void **state)
{
    pollux *p = *state;
    settle_into_the_steady_wait(p);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(7);
    assert_ret(pollux_child_add(p, pid, NULL), 0);
    pollux_event ev = wait_forever_for(p, POLLUX_KIND_CHILD);
    assert_int_equal(ev.fd, pid);
    assert_true(WIFEXITED(ev.status) && WEXITSTATUS(ev.status) == 7);
}

#define T(name) cmocka_unit_test_setup_teardown(name, poller_setup, poller_teardown)

int main(int argc, char **argv)
{
    static const struct CMUnitTest tests[] = {
        T(connection_closed_and_freed_mid_batch_is_not_current_for_its_other_event),
        T(number_reused_by_accept_mid_batch_is_current_only_for_the_new_registration),
        T(unregister_and_register_again_mid_batch_makes_the_event_stale),
        T(timer_deleted_mid_batch_and_its_id_reused_is_not_current),
        T(oneshot_and_modify_keep_an_event_current),
        T(settime_makes_a_returned_expiration_not_current),
        T(after_fork_keeps_events_current),
        T(every_event_says_its_kind),
        T(regular_file_event_is_current_until_its_number_is_registered_again),
        T(wake_event_is_always_current),
        T(null_unknown_kind_or_unfilled_event_is_not_current),
        T(timer_event_on_a_poller_without_timers_is_not_current),
        T(first_timer_after_steady_waits_is_reported),
        T(first_signal_watches_after_steady_waits_are_reported),
        T(first_child_watch_after_steady_waits_is_reported),
    };
    static const struct backend_suite suite = { .name = "events", .backend = &g_backend };
    return run_backend_suite(&suite, argc, argv, tests);
}
