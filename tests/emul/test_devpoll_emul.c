/*
 * test_devpoll_emul.c - self-test of the /dev/poll emulation: the illumos
 * poll(4D) semantics that pollux's devpoll backend relies on.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/devpoll.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "selftest.h"

static int add(int dp, int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    return (int)write(dp, &p, sizeof p);
}

static int dp_poll(int dp, struct pollfd *out, int n, int timeout_ms)
{
    struct dvpoll dv = { .dp_fds = out, .dp_nfds = n, .dp_timeout = timeout_ms };
    return ioctl(dp, DP_POLL, &dv);
}

struct fixture {
    int dp;
    int p[2];
};

static int setup(void **state)
{
    static struct fixture f;
    f.dp = open("/dev/poll", O_RDWR);
    if (f.dp < 0 || pipe(f.p) < 0)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    close(f->dp);
    close(f->p[0]);
    close(f->p[1]);
    return 0;
}

static void open_of_dev_poll_returns_a_descriptor_and_other_paths_are_untouched(void **state)
{
    (void)state;
    int dp = open("/dev/poll", O_RDWR | O_CLOEXEC);
    int null = open("/dev/null", O_WRONLY);
    int dp2 = devpoll_emul_open();

    assert_true(dp >= 0);
    assert_true(dp2 >= 0 && dp2 != dp);
    assert_int_equal(fcntl(dp, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    assert_true(null >= 0);
    assert_int_equal(write(null, "abc", 3), 3); /* forwarded to the kernel */
    assert_int_equal(close(null), 0);
    assert_int_equal(close(dp), 0);
    assert_int_equal(close(dp2), 0);
    errno = 0;
    assert_int_equal(open("/nonexistent/path", O_RDONLY), -1);
    assert_int_equal(errno, ENOENT);
}

static void dp_poll_reports_a_ready_descriptor(void **state)
{
    struct fixture *f = *state;
    struct pollfd out[4];

    assert_int_equal(add(f->dp, f->p[0], POLLIN), (int)sizeof(struct pollfd));
    assert_int_equal(dp_poll(f->dp, out, 4, 0), 0);
    write_bytes(f->p[1], "x");
    assert_int_equal(dp_poll(f->dp, out, 4, 100), 1);
    assert_int_equal(out[0].fd, f->p[0]);
    assert_int_equal(out[0].events, POLLIN);
    assert_int_equal(out[0].revents, POLLIN);
    /* Level-triggered, like poll(2). */
    assert_int_equal(dp_poll(f->dp, out, 4, 0), 1);
}

static void writing_a_descriptor_again_ors_the_events(void **state)
{
    struct fixture *f = *state;
    struct pollfd q = { .fd = f->p[1] }, two[2] = {
        { .fd = f->p[0], .events = POLLIN },
        { .fd = f->p[0], .events = POLLPRI },
    };

    assert_int_equal(write(f->dp, two, sizeof two), (ssize_t)sizeof two);
    assert_int_equal(add(f->dp, f->p[0], POLLOUT), (int)sizeof(struct pollfd));
    q.fd = f->p[0];
    assert_int_equal(ioctl(f->dp, DP_ISPOLLED, &q), 1);
    assert_int_equal(q.revents, POLLIN | POLLPRI | POLLOUT);
}

static void pollremove_takes_a_descriptor_out_of_the_set(void **state)
{
    struct fixture *f = *state;
    struct pollfd out[2], q = { .fd = f->p[0] };

    write_bytes(f->p[1], "x");
    add(f->dp, f->p[0], POLLIN);
    assert_int_equal(dp_poll(f->dp, out, 2, 0), 1);
    assert_int_equal(add(f->dp, f->p[0], POLLREMOVE), (int)sizeof(struct pollfd));
    assert_int_equal(ioctl(f->dp, DP_ISPOLLED, &q), 0);
    assert_int_equal(dp_poll(f->dp, out, 2, 0), 0);
    /* Re-adding starts from fresh events, not the removed ones. */
    add(f->dp, f->p[0], POLLOUT);
    assert_int_equal(ioctl(f->dp, DP_ISPOLLED, &q), 1);
    assert_int_equal(q.revents, POLLOUT);
}

static void dp_poll_timeout_is_never_early(void **state)
{
    struct fixture *f = *state;
    struct pollfd out[1];

    add(f->dp, f->p[0], POLLIN);
    for (int ms = 1; ms <= 16; ms *= 4) {
        int64_t t0 = mono_ns();
        assert_int_equal(dp_poll(f->dp, out, 1, ms), 0);
        assert_true(mono_ns() - t0 >= (int64_t)ms * 1000000);
    }
    int64_t t0 = mono_ns();
    assert_int_equal(dp_poll(f->dp, out, 1, 0), 0);
    assert_true(mono_ns() - t0 < 100000000);
}

static void empty_set_sleeps_for_the_timeout(void **state)
{
    struct fixture *f = *state;
    struct pollfd out[1];
    int64_t t0 = mono_ns();

    assert_int_equal(dp_poll(f->dp, out, 1, 10), 0);
    assert_int_equal(dp_poll(f->dp, out, 0, 10), 0);
    assert_true(mono_ns() - t0 >= 20000000);
}

static void closed_descriptor_is_reported_as_pollnval(void **state)
{
    struct fixture *f = *state;
    struct pollfd out[2];
    int q[2];

    assert_int_equal(pipe(q), 0);
    add(f->dp, q[0], POLLIN);
    close(q[0]);
    close(q[1]);
    assert_int_equal(dp_poll(f->dp, out, 2, 0), 1);
    assert_int_equal(out[0].fd, q[0]);
    assert_int_equal(out[0].revents, POLLNVAL);
}

static void hangup_is_reported_without_interest(void **state)
{
    struct fixture *f = *state;
    struct pollfd out[2];

    add(f->dp, f->p[0], POLLIN);
    close(f->p[1]);
    f->p[1] = -1;
    assert_int_equal(dp_poll(f->dp, out, 2, 0), 1);
    assert_true(out[0].revents & POLLHUP);
}

static void lowest_descriptors_come_first_when_room_is_short(void **state)
{
    struct fixture *f = *state;
    int q[3][2];
    struct pollfd out[2];

    for (int i = 0; i < 3; i++) {
        assert_int_equal(pipe(q[i]), 0);
        write_bytes(q[i][1], "x");
    }
    /* Written highest first: the order of the set is by descriptor. */
    for (int i = 2; i >= 0; i--)
        add(f->dp, q[i][0], POLLIN);
    assert_int_equal(dp_poll(f->dp, out, 2, 0), 2);
    assert_int_equal(out[0].fd, q[0][0]);
    assert_int_equal(out[1].fd, q[1][0]);
    for (int i = 0; i < 3; i++) {
        close(q[i][0]);
        close(q[i][1]);
    }
}

static void bad_requests_fail(void **state)
{
    struct fixture *f = *state;
    char half[sizeof(struct pollfd) / 2] = { 0 };
    struct dvpoll dv = { .dp_fds = NULL, .dp_nfds = -1, .dp_timeout = 0 };
    int n = 0;

    errno = 0;
    assert_int_equal(write(f->dp, half, sizeof half), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(ioctl(f->dp, DP_POLL, &dv), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(ioctl(f->dp, FIONREAD, &n), -1);
    assert_int_equal(errno, EINVAL);
    /* ioctl on other descriptors still reaches the kernel. */
    write_bytes(f->p[1], "abc");
    assert_int_equal(ioctl(f->p[0], FIONREAD, &n), 0);
    assert_int_equal(n, 3);
}

static void negative_descriptors_are_skipped(void **state)
{
    struct fixture *f = *state;
    struct pollfd out[1];

    assert_int_equal(add(f->dp, -1, POLLIN), (int)sizeof(struct pollfd));
    assert_int_equal(dp_poll(f->dp, out, 1, 0), 0);
}

static void forked_child_gets_eacces(void **state)
{
    struct fixture *f = *state;
    int status;
    pid_t pid;

    add(f->dp, f->p[0], POLLIN);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct pollfd out[1], q = { .fd = f->p[0] };
        int ok = add(f->dp, f->p[1], POLLOUT) == -1 && errno == EACCES;
        ok = ok && dp_poll(f->dp, out, 1, 0) == -1 && errno == EACCES;
        ok = ok && ioctl(f->dp, DP_ISPOLLED, &q) == -1 && errno == EACCES;
        ok = ok && close(f->dp) == 0;
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    struct pollfd q = { .fd = f->p[0] };
    assert_int_equal(ioctl(f->dp, DP_ISPOLLED, &q), 1);
}

static void dup2_over_a_devpoll_descriptor_forgets_it(void **state)
{
    struct fixture *f = *state;
    int dp = open("/dev/poll", O_RDWR);
    int sv[2];
    char c;

    assert_true(dp >= 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(dup2(sv[0], dp), dp);
    /* dp now names the socket: write() must reach it. */
    assert_int_equal(write(dp, "k", 1), 1);
    assert_int_equal(read(sv[1], &c, 1), 1);
    assert_int_equal(c, 'k');
    close(dp);
    close(sv[0]);
    close(sv[1]);
    (void)f;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(open_of_dev_poll_returns_a_descriptor_and_other_paths_are_untouched),
        T(dp_poll_reports_a_ready_descriptor),
        T(writing_a_descriptor_again_ors_the_events),
        T(pollremove_takes_a_descriptor_out_of_the_set),
        T(dp_poll_timeout_is_never_early),
        T(empty_set_sleeps_for_the_timeout),
        T(closed_descriptor_is_reported_as_pollnval),
        T(hangup_is_reported_without_interest),
        T(lowest_descriptors_come_first_when_room_is_short),
        T(bad_requests_fail),
        T(negative_descriptors_are_skipped),
        T(forked_child_gets_eacces),
        T(dup2_over_a_devpoll_descriptor_forgets_it),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
