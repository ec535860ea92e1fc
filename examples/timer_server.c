/*
 * timer_server.c - three periodic timers and a TCP server in one pollux
 * loop: the epoll and select programs of the timer file descriptor HOWTO.
 * Timer 1 fires every 0.25 s, timer 2 every 0.5 s, timer 3 every 0.75 s;
 * the server on 127.0.0.1 stops when a client sends "stop".
 *
 *   timer_server [PORT]         serve on PORT (default 1234; 0 picks a
 *                               free port and prints it)
 *   timer_server --demo         serve on a free port; a client thread
 *                               connects after about 1 s, sends "stop",
 *                               and the program exits 0 (a smoke test)
 *   --scale N                   run N times faster (timers and delays)
 *
 *   $ telnet 127.0.0.1 1234
 *   stop
 *
 * The same code runs on every backend: POLLUX_BACKEND=select (or poll,
 * epoll) picks one.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pollux.h>

#define NS_PER_SEC 1000000000LL
#define TIMERS 3
#define MAX_EVENTS 16

static long scale = 1;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 1) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int port_of(int fd)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        return -1;
    return ntohs(addr.sin_port);
}

/* --demo: a client that waits about a second, then says "stop". */
static void *demo_client(void *arg)
{
    int port = *(int *)arg;
    struct timespec delay = { .tv_sec = 1 / scale, .tv_nsec = (long)(NS_PER_SEC / scale % NS_PER_SEC) };
    nanosleep(&delay, NULL);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("demo client: connect");
        exit(1);
    }
    if (write(fd, "stop\r\n", 6) != 6) {
        perror("demo client: write");
        exit(1);
    }
    /* Until the server closes the connection. */
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0)
        continue;
    close(fd);
    return NULL;
}

/* The server's state: its listening socket and its one client. */
struct server {
    pollux *p;
    int sock;
    int conn;   /* -1 while no client is connected */
    int active; /* 0 once a client sent "stop" */
};

static void accept_connection(struct server *s)
{
    printf("Accepting connection %d\n", s->sock);
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    int fd = accept4(s->sock, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    if (s->conn >= 0) { /* one client at a time, as in the HOWTO */
        printf("Refusing connection %d: busy\n", fd);
        close(fd);
        return;
    }
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    printf("Accepted connection %d from %s:%d\n", fd, ip, ntohs(peer.sin_port));
    s->conn = fd;
    pollux_register(s->p, s->conn, POLLUX_READ, NULL);
}

static void read_connection(struct server *s)
{
    printf("Reading data %d\n", s->conn);
    char buf[1024];
    ssize_t got = read(s->conn, buf, sizeof buf - 1);
    if (got < 0 && errno == EAGAIN)
        return;
    if (got > 0) {
        buf[got] = '\0';
        if (strncmp(buf, "stop", 4) == 0) {
            printf("Stopping server\n");
            s->active = 0;
        } else {
            buf[strcspn(buf, "\r\n")] = '\0';
            printf("Unknown command: %s\n", buf);
        }
        return;
    }
    printf("Closing connection %d\n", s->conn);
    pollux_unregister(s->p, s->conn);
    close(s->conn);
    s->conn = -1;
}

int main(int argc, char **argv)
{
    int port = 1234, demo = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--demo") == 0) {
            demo = 1;
            port = 0;
        } else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc) {
            scale = strtol(argv[++i], NULL, 10);
        } else if (argv[i][0] != '-') {
            port = atoi(argv[i]);
        } else {
            fprintf(stderr, "usage: %s [--demo] [--scale N] [PORT]\n", argv[0]);
            return 2;
        }
    }
    if (scale < 1 || port < 0 || port > 65535) {
        fprintf(stderr, "%s: bad scale or port\n", argv[0]);
        return 2;
    }

    pollux *p;
    int err = pollux_new(&p, POLLUX_BACKEND_AUTO);
    if (err < 0) {
        fprintf(stderr, "pollux_new: %s\n", strerror(-err));
        return 1;
    }

    int sock = listen_on(port);
    if (sock < 0) {
        fprintf(stderr, "listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        pollux_free(p);
        return 1;
    }
    port = port_of(sock);
    printf("Listening on 127.0.0.1:%d, backend %s\n", port,
           pollux_backend_name(pollux_backend_of(p)));
    static int listener_tag;
    pollux_register(p, sock, POLLUX_READ, &listener_tag);

    /* Timer 1 fires every 0.25 seconds; timer 2 every 0.5 seconds; etc.
     * The data pointer carries the timer's number. */
    int timers[TIMERS];
    for (int i = 0; i < TIMERS; i++) {
        timers[i] = pollux_timer_create(p, CLOCK_REALTIME, (void *)(intptr_t)(i + 1));
        int64_t period = (i + 1) * NS_PER_SEC / 4 / scale;
        if (timers[i] < 0 || pollux_timer_settime(p, timers[i], period, period, 0) < 0) {
            fprintf(stderr, "cannot start timer %d\n", i + 1);
            return 1;
        }
    }

    pthread_t client;
    if (demo) {
        fflush(stdout);
        if (pthread_create(&client, NULL, demo_client, &port) != 0) {
            fprintf(stderr, "cannot start the demo client\n");
            return 1;
        }
    }

    uint64_t expired[TIMERS] = { 0 };
    struct server srv = { .p = p, .sock = sock, .conn = -1, .active = 1 };
    int status = 0;
    int64_t timeout = 3 * NS_PER_SEC / scale;
    int64_t started = now_ns();
    while (srv.active) {
        /* Wait up to 3 seconds for a timer or the sockets. */
        pollux_event events[MAX_EVENTS];
        int n = pollux_wait(p, events, MAX_EVENTS, timeout);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "pollux_wait: %s\n", strerror(-n));
            status = 1;
            break;
        }
        /* Several timers expire together at 0.5 s, 0.75 s, 1.5 s, ... */
        printf("Signaled events=%d\n", n);
        for (int i = 0; i < n; i++) {
            pollux_event *ev = &events[i];
            /* Skip what an earlier event of this batch unregistered. */
            if (!pollux_event_current(p, ev))
                continue;
            switch (ev->kind) {
            case POLLUX_KIND_TIMER: {
                int k = (int)(intptr_t)ev->data;
                expired[k - 1] += ev->count;
                /* count > 1 when the loop was late: missed periods are summed. */
                printf("Timer %d expired %llu times\n", k, (unsigned long long)ev->count);
                break;
            }
            case POLLUX_KIND_FD:
                /* A timer id can equal a descriptor number: only FD events get here. */
                if (ev->data == &listener_tag)
                    accept_connection(&srv);
                else if (ev->fd == srv.conn)
                    read_connection(&srv);
                break;
            default: /* no pollux_wake() in this server */
                break;
            }
        }
        fflush(stdout);
        if (demo && now_ns() - started > 30 * NS_PER_SEC) {
            fprintf(stderr, "demo: no \"stop\" within 30 s\n");
            status = 1;
            break;
        }
    }

    for (int i = 0; i < TIMERS; i++)
        pollux_timer_delete(p, timers[i]);
    if (srv.conn >= 0) {
        pollux_unregister(p, srv.conn);
        close(srv.conn);
    }
    pollux_unregister(p, sock);
    close(sock);
    pollux_free(p);

    if (demo) {
        pthread_join(client, NULL);
        /* The client came after about a second: by then timer 1 (0.25 s)
         * has expired about four times and timer 3 (0.75 s) once. */
        printf("Timers expired %llu, %llu and %llu times\n", (unsigned long long)expired[0],
               (unsigned long long)expired[1], (unsigned long long)expired[2]);
        if (status == 0 && (expired[0] < 3 || expired[2] < 1)) {
            fprintf(stderr, "demo: the timers did not fire as expected\n");
            status = 1;
        }
    }
    return status;
}
