/*
 * echo_server.c - a TCP echo server on 127.0.0.1 driven by one pollux loop.
 *
 *   echo_server [PORT]        serve until a client sends "stop"
 *   echo_server --demo        serve on a free port, run a client in a
 *                             thread that talks to it, and exit by itself
 *
 * POLLUX_BACKEND=poll (or select, epoll) picks the backend.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pollux.h>

#define MAX_EVENTS 64

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 16) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int port_of(int fd)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);
    return ntohs(addr.sin_port);
}

/* Echo what a client sent. Returns 1 to keep it, 0 to close it, -1 to stop. */
static int serve_client(int fd)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0)
        return errno == EAGAIN ? 1 : 0;
    if (n == 0)
        return 0;
    if (n >= 4 && memcmp(buf, "stop", 4) == 0)
        return -1;
    return write(fd, buf, (size_t)n) == n ? 1 : 0;
}

static void accept_client(pollux *p, int listener)
{
    int client = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client >= 0 && pollux_register(p, client, POLLUX_READ, NULL) < 0)
        close(client);
}

/* Serve a ready client; returns -1 when it asked the server to stop. */
static int serve_or_close(pollux *p, int fd)
{
    int verdict = serve_client(fd);
    if (verdict <= 0) {
        pollux_unregister(p, fd);
        close(fd);
    }
    if (verdict < 0)
        printf("stop received\n");
    return verdict < 0 ? -1 : 0;
}

static int run_server(int listener)
{
    pollux *p;
    int err = pollux_new(&p, POLLUX_BACKEND_AUTO);
    if (err < 0) {
        fprintf(stderr, "pollux_new: %s\n", strerror(-err));
        return 1;
    }
    printf("echo server on 127.0.0.1:%d, backend %s\n", port_of(listener),
           pollux_backend_name(pollux_backend_of(p)));
    fflush(stdout);
    pollux_register(p, listener, POLLUX_READ, NULL);

    int running = 1;
    while (running) {
        pollux_event events[MAX_EVENTS];
        int n = pollux_wait(p, events, MAX_EVENTS, -1);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "pollux_wait: %s\n", strerror(-n));
            break;
        }
        for (int i = 0; i < n; i++) {
            /* Skip what an earlier event of this batch unregistered. */
            if (!pollux_event_current(p, &events[i]))
                continue;
            switch (events[i].kind) {
            case POLLUX_KIND_FD:
                if (events[i].fd == listener)
                    accept_client(p, listener);
                else if (serve_or_close(p, events[i].fd) < 0)
                    running = 0;
                break;
            default: /* no timers and no pollux_wake() in this server */
                break;
            }
        }
    }
    pollux_free(p);
    return running; /* 0 when stopped by a client */
}

/* --demo: a client that checks a few echoes, then stops the server. */
static void *demo_client(void *arg)
{
    int port = *(int *)arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("demo client: connect");
        exit(1);
    }
    const char *lines[] = { "hello", "pollux", "bye" };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char buf[64];
        size_t len = strlen(lines[i]);
        ssize_t got = 0;
        if (write(fd, lines[i], len) != (ssize_t)len)
            exit(1);
        while (got < (ssize_t)len) {
            ssize_t r = read(fd, buf + got, sizeof buf - (size_t)got);
            if (r <= 0)
                exit(1);
            got += r;
        }
        printf("client: sent \"%s\", got \"%.*s\" back\n", lines[i], (int)got, buf);
    }
    fflush(stdout);
    if (write(fd, "stop", 4) != 4)
        exit(1);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    int demo = argc > 1 && strcmp(argv[1], "--demo") == 0;
    int port = demo || argc < 2 ? (demo ? 0 : 1234) : atoi(argv[1]);
    int listener = listen_on(port);
    if (listener < 0) {
        perror("listen");
        return 1;
    }
    pthread_t client;
    int client_port = port_of(listener);
    if (demo && pthread_create(&client, NULL, demo_client, &client_port) != 0)
        return 1;
    int status = run_server(listener);
    if (demo)
        pthread_join(client, NULL);
    close(listener);
    if (demo && status == 0)
        printf("demo finished\n");
    return status;
}
