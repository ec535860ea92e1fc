/*
 * http_server_test.c - the smoke test of examples/http_server.c.
 *
 *   http_server_test SERVER BACKEND [--sheds-beyond-fd-limit]
 *
 * Each test starts SERVER on a free port with --backend BACKEND, talks
 * HTTP to it as a client would, stops it with SIGINT (or SIGTERM) and
 * checks that it exited with 0: under AddressSanitizer a leak makes that
 * exit status non-zero, so a clean exit also means every connection was
 * freed. Nothing here measures time: the waits are bounded only so that a
 * hung server fails the test instead of hanging it.
 *
 * bench/http_libuv.c runs it too, with --sheds-beyond-fd-limit: libuv,
 * out of descriptors, accepts and closes the waiting connections by
 * design, so the test of clients beyond the limit does not apply there.
 *
 * SPDX-License-Identifier: MIT
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#define GUARD_MS 3000 /* a server that takes this long is hung */
#define HELLO "Hello, world!\n"
#define GET_ROOT "GET / HTTP/1.1\r\nHost: test\r\n\r\n"
#define GET_MISSING "GET /missing HTTP/1.1\r\nHost: test\r\n\r\n"

static const char *server_path;
static const char *backend;
static pid_t server_pid = -1;
static int server_port;

/* One parsed response. */
struct reply {
    int status;
    int close;     /* Connection: close */
    size_t length; /* Content-Length */
    char body[32];
};

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Read the server's first line ("NAME: listening on 127.0.0.1:PORT,
 * backend BACKEND") and take the port from it. */
static int read_port(int fd)
{
    char line[256];
    size_t len = 0;
    while (len < sizeof line - 1 && memchr(line, '\n', len) == NULL) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (poll(&pfd, 1, GUARD_MS) != 1)
            return -1;
        ssize_t n = read(fd, line + len, sizeof line - 1 - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
    }
    line[len] = '\0';
    int port;
    char name[32];
    if (sscanf(line, "%*[^:]: listening on 127.0.0.1:%d, backend %31s", &port, name) != 2)
        return -1;
    return strcmp(name, backend) == 0 ? port : -1;
}

/* nofile > 0: the server's limit of open descriptors. */
static void start_server_limited(const char *idle_ms, rlim_t nofile)
{
    int out[2];
    assert_int_equal(pipe(out), 0);
    server_pid = fork();
    assert_true(server_pid >= 0);
    if (server_pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        struct rlimit lim = { nofile, nofile };
        if (nofile > 0 && setrlimit(RLIMIT_NOFILE, &lim) < 0)
            _exit(126);
        execl(server_path, server_path, "--backend", backend, "--idle-ms", idle_ms, "0",
              (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    server_port = read_port(out[0]);
    close(out[0]);
    assert_true(server_port > 0);
}

static void start_server(const char *idle_ms)
{
    start_server_limited(idle_ms, 0);
}

/* Send sig and return the exit status, or -1 if it did not exit. */
static int stop_server(int sig)
{
    assert_int_equal(kill(server_pid, sig), 0);
    for (long waited = 0; waited < GUARD_MS; waited += 10) {
        int status;
        if (waitpid(server_pid, &status, WNOHANG) == server_pid) {
            server_pid = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        sleep_ms(10);
    }
    return -1;
}

static int kill_leftover_server(void **state)
{
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
    return 0;
}

/* rcvbuf > 0: a small receive buffer, set before connecting so that the
 * window the server sees is small too. */
static int connect_with(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)server_port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

static int connect_to_server(void)
{
    return connect_with(0);
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

static int header_says(const char *head, const char *line)
{
    return strstr(head, line) != NULL;
}

/* One response at buf: its length, or 0 when it is not complete. */
static size_t parse_reply(const char *buf, size_t len, struct reply *r)
{
    const char *end = NULL;
    for (size_t i = 0; i + 4 <= len && end == NULL; i++)
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
            end = buf + i + 4;
    if (end == NULL)
        return 0;
    char head[512];
    size_t head_len = (size_t)(end - buf);
    assert_true(head_len < sizeof head);
    memcpy(head, buf, head_len);
    head[head_len] = '\0';
    assert_int_equal(sscanf(head, "HTTP/1.1 %d", &r->status), 1);
    const char *cl = strstr(head, "Content-Length: ");
    assert_non_null(cl);
    r->length = strtoul(cl + 16, NULL, 10);
    assert_true(r->length < sizeof r->body);
    if (len < head_len + r->length)
        return 0;
    r->close = header_says(head, "\r\nConnection: close\r\n");
    assert_true(r->close || header_says(head, "\r\nConnection: keep-alive\r\n"));
    memcpy(r->body, end, r->length);
    r->body[r->length] = '\0';
    return head_len + r->length;
}

/*
 * Send req and read n responses into r, writing and reading at once so
 * that neither side blocks the other. With read_late, reading starts only
 * once nothing moved for a moment (all sent, or the server stopped taking
 * requests): the server must hold its answers until the client reads.
 */
static void exchange(int fd, const char *req, size_t req_len, struct reply *r, int n, int read_late)
{
    size_t cap = 1 << 16, len = 0, sent = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    int got = 0;
    while (got < n) {
        int reading = !read_late;
        struct pollfd pfd = { fd, (short)((reading ? POLLIN : 0) | (sent < req_len ? POLLOUT : 0)), 0 };
        int ready = poll(&pfd, 1, reading ? GUARD_MS : 200);
        assert_true(ready >= 0);
        if (ready == 0 && !reading) {
            read_late = 0; /* all sent, or the server stopped reading: it waits for us */
            continue;
        }
        assert_int_equal(ready, 1);
        if (pfd.revents & POLLOUT) {
            ssize_t w = send(fd, req + sent, req_len - sent, MSG_DONTWAIT);
            assert_true(w > 0);
            sent += (size_t)w;
        }
        if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t m = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
        assert_true(m > 0); /* not closed before all the answers came */
        len += (size_t)m;
        size_t used = 0, one;
        while (got < n && (one = parse_reply(buf + used, len - used, &r[got])) > 0) {
            used += one;
            got++;
        }
        memmove(buf, buf + used, len - used);
        len -= used;
    }
    assert_int_equal(len, 0); /* no more answers than requests */
    free(buf);
}

static void expect_hello(const struct reply *r, int close)
{
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, HELLO);
    assert_int_equal(r->close, close);
}

/* The server closes: a read returns end-of-file. */
static void expect_eof(int fd)
{
    struct pollfd pfd = { fd, POLLIN, 0 };
    assert_int_equal(poll(&pfd, 1, GUARD_MS), 1);
    char c;
    assert_int_equal(read(fd, &c, 1), 0);
}

static void keep_alive_requests_on_several_connections(void **state)
{
    (void)state;
    start_server("60000");
    int fds[4];
    for (int i = 0; i < 4; i++)
        fds[i] = connect_to_server();
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 4; i++) {
            struct reply r;
            exchange(fds[i], GET_ROOT, strlen(GET_ROOT), &r, 1, 0);
            expect_hello(&r, 0);
        }
    }
    static const char delete[] = "DELETE / HTTP/1.1\r\nHost: test\r\n\r\n";
    struct reply r;
    exchange(fds[0], GET_MISSING, strlen(GET_MISSING), &r, 1, 0);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.close, 0);
    exchange(fds[1], delete, strlen(delete), &r, 1, 0);
    assert_int_equal(r.status, 405);
    assert_int_equal(r.close, 0);
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    assert_int_equal(stop_server(SIGINT), 0);
}

static void pipelined_requests_are_answered_in_order(void **state)
{
    (void)state;
    start_server("60000");
    enum { N = 40 };
    char req[N * sizeof GET_MISSING];
    size_t len = 0;
    for (int i = 0; i < N; i++) {
        const char *one = i % 3 == 2 ? GET_MISSING : GET_ROOT;
        memcpy(req + len, one, strlen(one));
        len += strlen(one);
    }
    struct reply r[N];
    int fd = connect_to_server();
    exchange(fd, req, len, r, N, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(r[i].status, i % 3 == 2 ? 404 : 200);
    /* A request cut in the middle of a header, the next one behind it. */
    send_all(fd, "GET / HTTP/1.1\r\nHo", 18);
    exchange(fd, "st: test\r\n\r\n" GET_MISSING, strlen("st: test\r\n\r\n" GET_MISSING), r, 2, 0);
    expect_hello(&r[0], 0);
    assert_int_equal(r[1].status, 404);
    close(fd);
    assert_int_equal(stop_server(SIGINT), 0);
}

/* More answers than the sockets hold: the server sends them as the client
 * reads (POLLUX_WRITE), and stops reading requests meanwhile. */
static void answers_wait_for_a_client_that_reads_late(void **state)
{
    (void)state;
    start_server("60000");
    enum { N = 60000 };
    size_t one = strlen(GET_ROOT);
    char *req = malloc(N * one);
    struct reply *r = malloc(N * sizeof *r);
    assert_true(req != NULL && r != NULL);
    for (int i = 0; i < N; i++)
        memcpy(req + (size_t)i * one, GET_ROOT, one);
    int fd = connect_with(4096);
    exchange(fd, req, N * one, r, N, 1);
    for (int i = 0; i < N; i++)
        expect_hello(&r[i], 0);
    free(req);
    free(r);
    close(fd);
    assert_int_equal(stop_server(SIGINT), 0);
}

static void connection_close_is_answered_then_closed(void **state)
{
    (void)state;
    start_server("60000");
    static const char close_req[] = "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    static const char http10[] = "GET / HTTP/1.0\r\n\r\n";
    static const char http10_keep[] = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    struct reply r;
    int fd = connect_to_server();
    exchange(fd, GET_ROOT, strlen(GET_ROOT), &r, 1, 0);
    expect_hello(&r, 0);
    exchange(fd, close_req, strlen(close_req), &r, 1, 0);
    expect_hello(&r, 1);
    expect_eof(fd);
    close(fd);
    fd = connect_to_server(); /* HTTP/1.0 closes unless asked not to */
    exchange(fd, http10_keep, strlen(http10_keep), &r, 1, 0);
    expect_hello(&r, 0);
    exchange(fd, http10, strlen(http10), &r, 1, 0);
    expect_hello(&r, 1);
    expect_eof(fd);
    close(fd);
    assert_int_equal(stop_server(SIGINT), 0);
}

static void malformed_request_gets_400_then_close(void **state)
{
    (void)state;
    start_server("60000");
    static const char bad[] = "HELLO\r\n\r\n";
    static const char body[] = "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    struct reply r;
    int fd = connect_to_server();
    exchange(fd, bad, strlen(bad), &r, 1, 0);
    assert_int_equal(r.status, 400);
    assert_int_equal(r.close, 1);
    expect_eof(fd);
    close(fd);
    fd = connect_to_server();
    exchange(fd, body, strlen(body), &r, 1, 0);
    assert_int_equal(r.status, 400);
    expect_eof(fd);
    close(fd);
    assert_int_equal(stop_server(SIGINT), 0);
}

/* Clients that leave mid-request, one with a reset: their connections are
 * closed and freed, and the server goes on serving. */
static void client_gone_mid_request_leaves_server_serving(void **state)
{
    (void)state;
    start_server("60000");
    int a = connect_to_server(), b = connect_to_server();
    send_all(a, "GET / HTTP/1.1\r\nHost", 20);
    send_all(b, "GET /missing HTTP/1.1\r\n", 23);
    struct linger reset = { 1, 0 };
    setsockopt(b, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(a);
    close(b);
    struct reply r;
    int fd = connect_to_server();
    exchange(fd, GET_ROOT, strlen(GET_ROOT), &r, 1, 0);
    expect_hello(&r, 0);
    close(fd);
    assert_int_equal(stop_server(SIGINT), 0);
}

static void idle_connections_are_closed_by_their_timer(void **state)
{
    (void)state;
    start_server("100");
    int silent = connect_to_server(), served = connect_to_server();
    struct reply r;
    exchange(served, GET_ROOT, strlen(GET_ROOT), &r, 1, 0);
    expect_hello(&r, 0);
    expect_eof(silent);
    expect_eof(served);
    close(silent);
    close(served);
    assert_int_equal(stop_server(SIGINT), 0);
}

/* SIGTERM with connections idle, mid-request and with answers unsent
 * (requests are sent to the last one until the server stops reading). */
static void stop_with_open_connections_frees_them(void **state)
{
    (void)state;
    start_server("60000");
    int idle = connect_to_server(), partial = connect_to_server(), unread = connect_with(4096);
    struct reply r;
    exchange(idle, GET_ROOT, strlen(GET_ROOT), &r, 1, 0);
    expect_hello(&r, 0);
    send_all(partial, "GET / HTTP/1.1\r\n", 16);
    for (int i = 0; i < 100000; i++) {
        struct pollfd pfd = { unread, POLLOUT, 0 };
        if (poll(&pfd, 1, 200) == 0)
            break; /* the server holds answers and reads no more */
        ssize_t w = send(unread, GET_ROOT, strlen(GET_ROOT), MSG_DONTWAIT);
        assert_true(w > 0 || errno == EAGAIN);
    }
    assert_int_equal(stop_server(SIGTERM), 0);
    close(idle);
    close(partial);
    close(unread);
}

/* After the batch of the test below: 1 if the server answered what it was
 * sent, 0 if it closed the connection first. */
static int answered(int fd, int close_requested)
{
    struct pollfd pfd = { fd, POLLIN, 0 };
    assert_int_equal(poll(&pfd, 1, GUARD_MS), 1);
    char c;
    if (recv(fd, &c, 1, MSG_PEEK) != 1)
        return 0;
    struct reply r;
    exchange(fd, "", 0, &r, 1, 0);
    expect_hello(&r, close_requested);
    return 1;
}

/*
 * The server is stopped (SIGSTOP) while requests arrive on two connections
 * and their idle timeouts pass, so that its next wait reports each one's
 * request and timer in one batch. Whichever comes first, the other event
 * of the same connection must be handled right:
 *   - keep: request first: answered, and its timer, re-armed by that
 *     activity, must not close it (a second request is answered);
 *   - last (Connection: close): request first: answered and the
 *     connection closed and freed; its timer's event, later in the batch,
 *     must not touch it (a clean exit, under ASan too);
 *   - timer first: closed and freed; the request's event must not touch it.
 */
static void request_and_idle_timeout_in_one_batch(void **state)
{
    (void)state;
    static const char close_req[] = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    start_server("2000");
    int keep = connect_to_server(), last = connect_to_server();
    struct reply r;
    exchange(keep, GET_ROOT, strlen(GET_ROOT), &r, 1, 0); /* accepted, timers armed */
    exchange(last, GET_ROOT, strlen(GET_ROOT), &r, 1, 0);
    assert_int_equal(kill(server_pid, SIGSTOP), 0);
    send_all(keep, GET_ROOT, strlen(GET_ROOT));
    send_all(last, close_req, strlen(close_req));
    sleep_ms(2500); /* the timeouts pass while the server cannot run */
    assert_int_equal(kill(server_pid, SIGCONT), 0);
    if (answered(keep, 0)) {
        exchange(keep, GET_ROOT, strlen(GET_ROOT), &r, 1, 0);
        expect_hello(&r, 0);
        printf("keep: request first, answered, kept\n");
    }
    if (answered(last, 1))
        printf("last: request first, answered\n");
    expect_eof(last);
    close(keep);
    close(last);
    assert_int_equal(stop_server(SIGINT), 0);
}

/* More clients than the server has descriptors for: it pauses accepting
 * and takes the waiting ones as others close, and every one is answered. */
static void clients_beyond_the_descriptor_limit_are_served_in_turn(void **state)
{
    (void)state;
    start_server_limited("60000", 32);
    enum { N = 48 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = connect_to_server(); /* the listen backlog holds the rest */
    for (int i = 0; i < N; i++) {
        struct reply r;
        exchange(fds[i], GET_ROOT, strlen(GET_ROOT), &r, 1, 0);
        expect_hello(&r, 0);
        close(fds[i]);
    }
    assert_int_equal(stop_server(SIGINT), 0);
}

int main(int argc, char **argv)
{
    int sheds = argc == 4 && strcmp(argv[3], "--sheds-beyond-fd-limit") == 0;
    if (argc != 3 && !sheds) {
        fprintf(stderr, "usage: %s SERVER BACKEND [--sheds-beyond-fd-limit]\n", argv[0]);
        return 2;
    }
    server_path = argv[1];
    backend = argv[2];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(keep_alive_requests_on_several_connections, kill_leftover_server),
        cmocka_unit_test_teardown(pipelined_requests_are_answered_in_order, kill_leftover_server),
        cmocka_unit_test_teardown(answers_wait_for_a_client_that_reads_late, kill_leftover_server),
        cmocka_unit_test_teardown(connection_close_is_answered_then_closed, kill_leftover_server),
        cmocka_unit_test_teardown(malformed_request_gets_400_then_close, kill_leftover_server),
        cmocka_unit_test_teardown(client_gone_mid_request_leaves_server_serving, kill_leftover_server),
        cmocka_unit_test_teardown(idle_connections_are_closed_by_their_timer, kill_leftover_server),
        cmocka_unit_test_teardown(stop_with_open_connections_frees_them, kill_leftover_server),
        cmocka_unit_test_teardown(request_and_idle_timeout_in_one_batch, kill_leftover_server),
        cmocka_unit_test_teardown(clients_beyond_the_descriptor_limit_are_served_in_turn,
                                  kill_leftover_server),
    };
    if (sheds)
        cmocka_set_skip_filter("clients_beyond_the_descriptor_limit_*");
    return cmocka_run_group_tests_name(backend, tests, NULL, NULL);
}
