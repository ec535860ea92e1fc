/*
 * http_server.c - a keep-alive HTTP/1.1 server on one pollux loop: the
 * example of per-connection state.
 *
 *   http_server [--backend NAME] [--idle-ms MS] [PORT]
 *
 * Serves 127.0.0.1:PORT (default 8080; 0 picks a free port). GET / gets
 * "Hello, world!", other paths 404, other methods 405 (examples/http.c is
 * the HTTP part and the buffers; this file is the event loop). The first line printed
 * says the port and the backend:
 *
 *   http_server: listening on 127.0.0.1:8080, backend epoll
 *
 * What it shows:
 *   - per-connection state: a struct conn, given to pollux as the data of
 *     the connection's registration and of its timer, so that every event
 *     leads straight back to it;
 *   - an idle timer per connection (5 s, --idle-ms to change), pushed back
 *     on activity by calling pollux_timer_settime() again; when it fires,
 *     the connection is closed;
 *   - pipelined requests answered in order, and partial writes: what the
 *     socket does not take waits for POLLUX_WRITE, and reading pauses
 *     meanwhile, so a client that never reads cannot make it buffer more;
 *   - closing and freeing a connection while later events of the same
 *     batch still name it: pollux_event_current() says to skip those;
 *   - a clean stop on SIGINT or SIGTERM: the handler calls pollux_wake(),
 *     which is safe in a signal handler, and the loop ends on the
 *     POLLUX_KIND_WAKE event; every connection is closed and freed.
 *
 * The backend is --backend NAME, or POLLUX_BACKEND=NAME in the environment
 * (select, poll, epoll, kqueue, devpoll; whichever are compiled in).
 *
 *   $ build/examples/http_server 8080 &
 *   $ curl -v http://127.0.0.1:8080/
 *
 * SPDX-License-Identifier: MIT
 */
#define _POSIX_C_SOURCE 200809L /* sigaction, CLOCK_MONOTONIC under -std=c11 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pollux.h>

#include "http.h"

#define MAX_EVENTS 64

/* Everything the server knows about one client. */
struct conn {
    int fd;
    int timer;                /* its idle timer's id */
    uint32_t interest;        /* what it is registered for: READ, or WRITE while http.out waits */
    struct conn *prev, *next; /* the server's list, to free them all on stop */
    struct http_buffers http; /* requests read, responses not sent yet */
};

struct server {
    pollux *p;
    int listener;
    int running;
    int accept_paused;     /* out of descriptors: accepting waits for a close */
    int64_t idle_ns;
    struct conn *conns;    /* every open connection */
};

/* The signal handler's only way to reach the loop. */
static volatile sig_atomic_t stop_requested;
static pollux *signal_poller;

static void on_signal(int sig)
{
    int saved_errno = errno; /* the interrupted code may be reading errno */
    (void)sig;
    stop_requested = 1;
    pollux_wake(signal_poller);
    errno = saved_errno;
}

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

static int port_of(int fd)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        return -1;
    return ntohs(addr.sin_port);
}

/* Accepted sockets: non-blocking, not inherited by exec, no Nagle delay
 * for the small responses. */
static int setup_socket(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -1;
    return fcntl(fd, F_SETFL, O_NONBLOCK);
}

/* The idle timeout starts again: settime on an armed timer replaces its
 * deadline, so this is all a reset takes. */
static void conn_touch(struct server *s, struct conn *c)
{
    pollux_timer_settime(s->p, c->timer, s->idle_ns, 0, 0);
}

/* A new connection: its state, its idle timer, its registration. */
static int conn_open(struct server *s, int fd)
{
    struct conn *c = malloc(sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    c->fd = fd;
    c->interest = POLLUX_READ;
    c->prev = NULL;
    c->http.closing = 0;
    c->http.in_len = 0;
    c->http.out_len = 0;
    c->timer = pollux_timer_create(s->p, CLOCK_MONOTONIC, c);
    int err = c->timer;
    if (err >= 0) {
        err = pollux_timer_settime(s->p, c->timer, s->idle_ns, 0, 0);
        if (err >= 0)
            err = pollux_register(s->p, fd, POLLUX_READ, c);
        if (err < 0)
            pollux_timer_delete(s->p, c->timer);
    }
    if (err < 0) {
        free(c);
        return err;
    }
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    return 0;
}

/* Close a connection and free it at once, even in the middle of a batch
 * whose later events name it (its timer, its number taken by a new
 * connection): after pollux_timer_delete() and pollux_unregister() those
 * events are no longer current, and dispatch() skips them. */
static void conn_close(struct server *s, struct conn *c)
{
    pollux_timer_delete(s->p, c->timer);
    pollux_unregister(s->p, c->fd);
    close(c->fd);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c);
    if (s->accept_paused && pollux_modify(s->p, s->listener, POLLUX_READ, NULL) == 0)
        s->accept_paused = 0; /* a descriptor is free again */
}

/* Read what the socket has. Returns 0 when the connection is over. */
static int conn_read(struct server *s, struct conn *c)
{
    struct http_buffers *b = &c->http;
    if (b->in_len == HTTP_IN_SIZE)
        return 0; /* a request head longer than in[]: give up on this client */
    ssize_t n = read(c->fd, b->in + b->in_len, HTTP_IN_SIZE - b->in_len);
    if (n > 0) {
        b->in_len += (size_t)n;
        conn_touch(s, c);
        return 1;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

/* Register for interest if it changed: READ while there is nothing to
 * send, WRITE only while responses wait (that pause is the back-pressure). */
static int conn_want(struct server *s, struct conn *c, uint32_t interest)
{
    if (interest == c->interest)
        return 1;
    if (pollux_modify(s->p, c->fd, interest, c) < 0)
        return 0;
    c->interest = interest;
    return 1;
}

/* Answer and send until nothing is left or the socket is full.
 * Returns 0 when the connection is to be closed. */
static int conn_serve(struct server *s, struct conn *c)
{
    int more;
    do {
        more = http_answer(&c->http);
        int sent = http_send(&c->http, c->fd);
        if (sent < 0 || (sent > 0 && c->http.closing))
            return 0; /* gone, or the last response is out */
        if (sent == 0)
            return conn_want(s, c, POLLUX_WRITE);
    } while (more);
    return conn_want(s, c, POLLUX_READ);
}

/* A readiness event of a connection. */
static void on_conn_ready(struct server *s, struct conn *c, uint32_t events)
{
    int keep;
    if (events & POLLUX_READ) {
        keep = conn_read(s, c) && conn_serve(s, c);
    } else {
        conn_touch(s, c); /* the client reads: that is activity too */
        keep = conn_serve(s, c);
    }
    if (!keep)
        conn_close(s, c);
}

/* Accept every waiting connection. */
static void on_listener_ready(struct server *s)
{
    for (;;) {
        int fd = accept(s->listener, NULL, NULL);
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
            /* The listener would stay readable and spin the loop: pause
             * it until conn_close() frees a descriptor. */
            if (pollux_modify(s->p, s->listener, 0, NULL) == 0)
                s->accept_paused = 1;
            return;
        }
        if (fd < 0)
            return; /* EAGAIN: none left */
        if (setup_socket(fd) < 0 || conn_open(s, fd) < 0)
            close(fd);
    }
}

/* A connection's idle timer expired: close it. Activity reported earlier
 * in the same batch re-armed the timer, which made this event not current,
 * so dispatch() never gets here for a connection that was just active. */
static void on_idle_timer(struct server *s, struct conn *c)
{
    conn_close(s, c);
}

/* One event. The data of a timer or of a connection's registration is
 * its struct conn; the listener was registered with NULL. An event whose
 * source was removed earlier in the batch (pollux_event_current() is 0)
 * is skipped before its data is touched: it may point at freed memory. */
static void dispatch(struct server *s, const pollux_event *ev)
{
    if (!pollux_event_current(s->p, ev))
        return;
    struct conn *c = ev->data;
    switch (ev->kind) {
    case POLLUX_KIND_FD:
        if (c == NULL)
            on_listener_ready(s);
        else
            on_conn_ready(s, c, ev->events);
        break;
    case POLLUX_KIND_TIMER:
        on_idle_timer(s, c);
        break;
    case POLLUX_KIND_WAKE:
        s->running = !stop_requested;
        break;
    }
}

static int serve(struct server *s)
{
    pollux_event events[MAX_EVENTS];
    s->running = 1;
    while (s->running) {
        int n = pollux_wait(s->p, events, MAX_EVENTS, -1);
        if (n == -EINTR)
            continue; /* a signal: if it was SIGINT, the wake event follows */
        if (n < 0) {
            fprintf(stderr, "http_server: pollux_wait: %s\n", strerror(-n));
            return -1;
        }
        for (int i = 0; i < n; i++)
            dispatch(s, &events[i]);
    }
    return 0;
}

static int install_handlers(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
        return -1;
    sa.sa_handler = SIG_IGN; /* a write to a closed connection fails with EPIPE instead */
    return sigaction(SIGPIPE, &sa, NULL);
}

/* --backend NAME: the name pollux_backend_name() gives. */
static int backend_named(const char *name, pollux_backend *out)
{
    for (int b = POLLUX_BACKEND_AUTO; pollux_backend_name((pollux_backend)b) != NULL; b++) {
        if (strcmp(pollux_backend_name((pollux_backend)b), name) == 0) {
            *out = (pollux_backend)b;
            return 0;
        }
    }
    return -1;
}

struct options {
    pollux_backend backend;
    int port;
    long idle_ms;
};

static int parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){ POLLUX_BACKEND_AUTO, 8080, 5000 };
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
            if (backend_named(argv[++i], &o->backend) < 0)
                return -1;
        } else if (strcmp(argv[i], "--idle-ms") == 0 && i + 1 < argc) {
            o->idle_ms = strtol(argv[++i], &end, 10);
            if (*end != '\0' || o->idle_ms <= 0 || o->idle_ms > 86400000)
                return -1;
        } else {
            o->port = (int)strtol(argv[i], &end, 10);
            if (*end != '\0' || o->port < 0 || o->port > 65535)
                return -1;
        }
    }
    return 0;
}

/* Stop: every connection closed and freed, then the listener and the
 * poller; the handlers go first, so no late signal wakes a freed poller. */
static void shutdown_server(struct server *s)
{
    while (s->conns != NULL)
        conn_close(s, s->conns);
    install_handlers(SIG_DFL);
    pollux_unregister(s->p, s->listener);
    close(s->listener);
    pollux_free(s->p);
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(argc, argv, &o) < 0) {
        fprintf(stderr, "usage: %s [--backend NAME] [--idle-ms MS] [PORT]\n", argv[0]);
        return 2;
    }
    struct server s = { .idle_ns = POLLUX_MSEC(o.idle_ms) };
    int err = pollux_new(&s.p, o.backend);
    if (err < 0) {
        fprintf(stderr, "http_server: pollux_new: %s\n", strerror(-err));
        return 1;
    }
    s.listener = listen_on(o.port);
    if (s.listener < 0) {
        perror("http_server: listen");
        pollux_free(s.p);
        return 1;
    }
    err = pollux_register(s.p, s.listener, POLLUX_READ, NULL);
    if (err < 0) {
        fprintf(stderr, "http_server: pollux_register: %s\n", strerror(-err));
        close(s.listener);
        pollux_free(s.p);
        return 1;
    }
    signal_poller = s.p;
    if (install_handlers(on_signal) < 0) {
        perror("http_server: sigaction");
        shutdown_server(&s);
        return 1;
    }
    printf("http_server: listening on 127.0.0.1:%d, backend %s\n", port_of(s.listener),
           pollux_backend_name(pollux_backend_of(s.p)));
    fflush(stdout);
    int status = serve(&s);
    shutdown_server(&s);
    return status < 0 ? 1 : 0;
}
