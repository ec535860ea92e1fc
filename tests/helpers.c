/*
 * helpers.c - descriptors, clocks and signals for the pollux tests.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

void sleep_ns(int64_t ns)
{
    struct timespec ts = { (time_t)(ns / NS_PER_S), (long)(ns % NS_PER_S) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* tracked[fd] != 0 for every descriptor a helper opened and nobody closed. */
static unsigned char *tracked;
static size_t tracked_size;

void fd_track(int fd)
{
    assert_true(fd >= 0);
    if ((size_t)fd >= tracked_size) {
        size_t n = tracked_size ? tracked_size : 256;
        while (n <= (size_t)fd)
            n *= 2;
        unsigned char *t = realloc(tracked, n);
        assert_non_null(t);
        memset(t + tracked_size, 0, n - tracked_size);
        tracked = t;
        tracked_size = n;
    }
    tracked[fd] = 1;
}

void fd_untrack(int fd)
{
    if (fd >= 0 && (size_t)fd < tracked_size)
        tracked[fd] = 0;
}

void fd_close(int fd)
{
    if (fd < 0)
        return;
    fd_untrack(fd);
    close(fd);
}

void fd_close_all(void)
{
    for (size_t i = 0; i < tracked_size; i++)
        if (tracked[i])
            close((int)i);
    free(tracked);
    tracked = NULL;
    tracked_size = 0;
}

#ifdef POLLUX_TEST_LIBKQUEUE
/* libkqueue's own (its test suite's; its header does not declare it):
 * returns once its monitoring thread has freed every kqueue closed so far. */
void libkqueue_drain_pending_close(void);
#endif

void fd_settle(void)
{
#ifdef POLLUX_TEST_LIBKQUEUE
    libkqueue_drain_pending_close();
#endif
}

int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    assert_true(fl >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

void make_pipe(int fds[2])
{
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    fd_track(fds[0]);
    fd_track(fds[1]);
}

void make_socketpair(int fds[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    fd_track(fds[0]);
    fd_track(fds[1]);
}

int tcp_listener(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    fd_track(fd);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

int tcp_connect_loopback(uint16_t port)
{
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c >= 0);
    fd_track(c);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
    return c;
}

void tcp_pair(int *client, int *server)
{
    uint16_t port;
    int lfd = tcp_listener(&port);
    int c = tcp_connect_loopback(port);
    int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(s >= 0);
    fd_track(s);
    fd_close(lfd);
    set_nonblock(c);
    set_nonblock(s);
    *client = c;
    *server = s;
}

int make_regular_file(void)
{
    char path[] = "/tmp/pollux-test-XXXXXX";
    int fd = mkostemp(path, O_CLOEXEC);
    assert_true(fd >= 0);
    fd_track(fd);
    unlink(path);
    assert_int_equal(write(fd, "hello", 5), 5);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

void write_byte(int fd)
{
    ssize_t n;
    do
        n = write(fd, "x", 1);
    while (n < 0 && errno == EINTR);
    assert_int_equal(n, 1);
}

void drain(int fd)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        break;
    }
}

void sig_install(int signo, void (*handler)(int), struct sigaction *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: interrupted calls fail with EINTR */
    assert_int_equal(sigaction(signo, &sa, old), 0);
}

void sig_restore(int signo, const struct sigaction *old)
{
    sigaction(signo, old, NULL);
}

long raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = { rl.rlim_max, rl.rlim_max };
        setrlimit(RLIMIT_NOFILE, &want); /* may be refused, e.g. under valgrind */
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_cur;
}

const char *errname(int r)
{
    return r < 0 ? strerror(-r) : "success";
}

pollux_backend backend_from_argument(const char *program, const char *name)
{
    for (int b = POLLUX_BACKEND_SELECT; pollux_backend_name((pollux_backend)b); b++) {
        if (strcmp(pollux_backend_name((pollux_backend)b), name) != 0)
            continue;
        if (!((pollux_backends() >> b) & 1u)) {
            printf("%s: backend '%s' is not available here: skipped\n", program, name);
            exit(77);
        }
        return (pollux_backend)b;
    }
    fprintf(stderr, "%s: unknown backend '%s'\n", program, name);
    exit(2);
}

/* The backend of the running suite, for poller_setup(). */
static pollux_backend suite_backend;

int run_backend_tests(const struct backend_suite *suite, int argc, char **argv,
                      const struct CMUnitTest *tests, size_t count)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s BACKEND [TEST-NAME-PATTERN]\n", argv[0]);
        return 2;
    }
    if (suite->accepts_auto && strcmp(argv[1], "auto") == 0)
        suite_backend = POLLUX_BACKEND_AUTO;
    else
        suite_backend = backend_from_argument(argv[0], argv[1]);
    *suite->backend = suite_backend;
    const char *filter = argc == 3 ? argv[2] : getenv("POLLUX_TEST_FILTER");
    if (filter != NULL)
        cmocka_set_test_filter(filter);
    if (getenv("POLLUX_TEST_SKIP") != NULL)
        cmocka_set_skip_filter(getenv("POLLUX_TEST_SKIP"));
    char group[64];
    snprintf(group, sizeof group, "%s-%s", suite->name, argv[1]);
    /* What cmocka_run_group_tests_name() expands to, with the count passed
     * in: the array is not in scope here. */
    return _cmocka_run_group_tests(group, tests, count, suite->group_setup,
                                   suite->group_teardown);
}

int poller_setup(void **state)
{
    pollux *p = NULL;
    int r = pollux_new(&p, suite_backend);
    if (r != 0) {
        print_error("pollux_new(%s) failed: %d (%s)\n", pollux_backend_name(suite_backend), r,
                    errname(r));
        return -1;
    }
    *state = p;
    return 0;
}

int poller_teardown(void **state)
{
    pollux_free(*state);
    fd_close_all();
    return 0;
}

int wait_events(pollux *p, pollux_event *ev, int max, int64_t timeout_ns)
{
    int n;
    do
        n = pollux_wait(p, ev, max, timeout_ns);
    while (n == -EINTR);
    return n;
}

int fileno_or_skip(pollux *p)
{
    int fd = pollux_fileno(p);
    if (fd == -ENOTSUP) {
        print_message("pollux_fileno is -ENOTSUP on %s here (docs/portability.md)\n",
                      pollux_backend_name(pollux_backend_of(p)));
        skip();
    }
    assert_true(fd >= 0);
    return fd;
}

int poll_readable(int fd, int timeout_ms)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int r;
    do
        r = poll(&pfd, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    assert_true(r >= 0);
    return r == 1 && (pfd.revents & POLLIN);
}

int registered_then_closed(pollux *p, void *data)
{
    int a[2];
    make_pipe(a);
    assert_ret(pollux_register(p, a[0], POLLUX_READ, data), 0);
    fd_close(a[0]);
    fd_close(a[1]);
    return a[0];
}
