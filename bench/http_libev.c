/*
 * http_libev.c - examples/http_server.c on libev, for bench/http_wrk: the
 * same HTTP code (examples/http.c), buffers, idle timeout, back-pressure
 * and stop on SIGINT/SIGTERM, written the way libev is used: an ev_io and
 * an ev_timer per connection (ev_timer_again on activity), ev_signal for
 * the stop. libev removes a stopped watcher's pending events itself.
 *
 *   http_libev [--backend libev] [--idle-ms MS] [PORT]   (libev on epoll;
 *                                                         PORT 0: a free one)
 *
 * SPDX-License-Identifier: MIT
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "http.h"
#include "http_options.h"

struct conn {
    ev_io io;
    ev_timer idle;
    struct server *server;
    struct conn *prev, *next;
    struct http_buffers http;
};

struct server {
    struct ev_loop *loop;
    int listener;
    ev_io accept_io;
    ev_signal sigint, sigterm;
    double idle_s;
    struct conn *conns;
};

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, SOMAXCONN) < 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void conn_close(struct server *s, struct conn *c)
{
    ev_io_stop(s->loop, &c->io);
    ev_timer_stop(s->loop, &c->idle);
    close(c->io.fd);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c);
    if (!ev_is_active(&s->accept_io))
        ev_io_start(s->loop, &s->accept_io); /* a descriptor is free again */
}

static void conn_want(struct server *s, struct conn *c, int events)
{
    if ((c->io.events & (EV_READ | EV_WRITE)) == events)
        return;
    ev_io_stop(s->loop, &c->io);
    ev_io_set(&c->io, c->io.fd, events);
    ev_io_start(s->loop, &c->io);
}

/* As conn_serve() in examples/http_server.c: 0 to close. */
static int conn_serve(struct server *s, struct conn *c)
{
    int more;
    do {
        more = http_answer(&c->http);
        int sent = http_send(&c->http, c->io.fd);
        if (sent < 0 || (sent > 0 && c->http.closing))
            return 0;
        if (sent == 0) {
            conn_want(s, c, EV_WRITE);
            return 1;
        }
    } while (more);
    conn_want(s, c, EV_READ);
    return 1;
}

static int conn_read(struct server *s, struct conn *c)
{
    struct http_buffers *b = &c->http;
    if (b->in_len == HTTP_IN_SIZE)
        return 0;
    ssize_t n = read(c->io.fd, b->in + b->in_len, HTTP_IN_SIZE - b->in_len);
    if (n > 0) {
        b->in_len += (size_t)n;
        ev_timer_again(s->loop, &c->idle);
        return 1;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = (struct conn *)w;
    struct server *s = c->server;
    int keep;
    if (revents & EV_READ) {
        keep = conn_read(s, c) && conn_serve(s, c);
    } else {
        ev_timer_again(loop, &c->idle);
        keep = conn_serve(s, c);
    }
    if (!keep)
        conn_close(s, c);
}

static void on_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = (struct conn *)((char *)w - offsetof(struct conn, idle));
    conn_close(c->server, c);
}

static int conn_open(struct server *s, int fd)
{
    struct conn *c = malloc(sizeof *c);
    if (c == NULL)
        return -1;
    c->server = s;
    c->prev = NULL;
    c->http.closing = 0;
    c->http.in_len = 0;
    c->http.out_len = 0;
    ev_io_init(&c->io, on_conn, fd, EV_READ);
    ev_timer_init(&c->idle, on_idle, 0., s->idle_s);
    ev_io_start(s->loop, &c->io);
    ev_timer_again(s->loop, &c->idle);
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    return 0;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct server *s = w->data;
    for (;;) {
        int fd = accept(s->listener, NULL, NULL);
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
            ev_io_stop(loop, w);
            return;
        }
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
            conn_open(s, fd) < 0)
            close(fd);
    }
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    int port;
    long idle_ms;
    if (http_bench_options(argc, argv, "libev", &port, &idle_ms) < 0) {
        fprintf(stderr, "usage: %s [--backend libev] [--idle-ms MS] [PORT]\n", argv[0]);
        return 2;
    }
    struct server s = { .idle_s = (double)idle_ms / 1000 };
    s.loop = ev_default_loop(EVBACKEND_EPOLL);
    s.listener = listen_on(port);
    if (s.loop == NULL || s.listener < 0) {
        perror("http_libev: listen");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    ev_io_init(&s.accept_io, on_accept, s.listener, EV_READ);
    s.accept_io.data = &s;
    ev_io_start(s.loop, &s.accept_io);
    ev_signal_init(&s.sigint, on_signal, SIGINT);
    ev_signal_init(&s.sigterm, on_signal, SIGTERM);
    ev_signal_start(s.loop, &s.sigint);
    ev_signal_start(s.loop, &s.sigterm);
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    getsockname(s.listener, (struct sockaddr *)&addr, &len);
    printf("http_libev: listening on 127.0.0.1:%d, backend libev\n", ntohs(addr.sin_port));
    fflush(stdout);
    ev_run(s.loop, 0);
    while (s.conns != NULL)
        conn_close(&s, s.conns);
    ev_io_stop(s.loop, &s.accept_io);
    ev_signal_stop(s.loop, &s.sigint);
    ev_signal_stop(s.loop, &s.sigterm);
    close(s.listener);
    ev_loop_destroy(s.loop);
    return 0;
}
