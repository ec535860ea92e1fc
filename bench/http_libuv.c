/*
 * http_libuv.c - examples/http_server.c on libuv, for bench/http_wrk: the
 * same HTTP code (examples/http.c), buffers, idle timeout, back-pressure
 * and stop on SIGINT/SIGTERM, written the way libuv is used: a uv_tcp_t
 * read into the connection's buffer, uv_try_write with a uv_write for
 * what the socket did not take (reading stops until it is done), a
 * uv_timer_t restarted on activity, uv_signal_t for the stop.
 *
 *   http_libuv [--backend libuv] [--idle-ms MS] [PORT]      (PORT 0: a free one)
 *
 * SPDX-License-Identifier: MIT
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "http.h"
#include "http_options.h"

struct conn {
    uv_tcp_t tcp;
    uv_timer_t idle;
    uv_write_t write;
    int writing;    /* a uv_write of out[] is in flight */
    int handles;    /* handles still open: freed when both are closed */
    int closing_uv; /* uv_close called */
    struct server *server;
    struct conn *prev, *next;
    struct http_buffers http;
};

struct server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_signal_t sigint, sigterm;
    uint64_t idle_ms;
    struct conn *conns;
};

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->handles == 0)
        free(c);
}

static void conn_close(struct conn *c)
{
    if (c->closing_uv)
        return;
    c->closing_uv = 1;
    struct server *s = c->server;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_handle_closed);
}

static void on_idle(uv_timer_t *t)
{
    conn_close(t->data);
}

static void touch(struct conn *c)
{
    uv_timer_start(&c->idle, on_idle, c->server->idle_ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct conn *c = h->data;
    *buf = uv_buf_init(c->http.in + c->http.in_len, (unsigned)(HTTP_IN_SIZE - c->http.in_len));
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf);
static void on_written(uv_write_t *req, int status);

/* As conn_serve() in examples/http_server.c: answer and send until nothing
 * is left or the socket is full; then a uv_write sends the rest. */
static void conn_serve(struct conn *c)
{
    int more;
    do {
        more = http_answer(&c->http);
        uv_buf_t buf = uv_buf_init(c->http.out, (unsigned)c->http.out_len);
        int sent = c->http.out_len == 0 ? 0 : uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
        if (sent == UV_EAGAIN)
            sent = 0;
        if (sent < 0) {
            conn_close(c);
            return;
        }
        memmove(c->http.out, c->http.out + sent, c->http.out_len - (size_t)sent);
        c->http.out_len -= (size_t)sent;
        if (c->http.out_len > 0) {
            buf = uv_buf_init(c->http.out, (unsigned)c->http.out_len);
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->writing = 1;
            if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1, on_written) < 0)
                conn_close(c);
            return;
        }
        if (c->http.closing) {
            conn_close(c);
            return;
        }
    } while (more);
}

static void on_written(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->writing = 0;
    if (status < 0 || c->closing_uv) {
        conn_close(c);
        return;
    }
    c->http.out_len = 0;
    if (c->http.closing) {
        conn_close(c);
        return;
    }
    touch(c);
    conn_serve(c);
    if (!c->writing && !c->closing_uv)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct conn *c = stream->data;
    if (n == 0)
        return; /* EAGAIN */
    if (n < 0) {
        conn_close(c); /* end of file, an error, or in[] full (UV_ENOBUFS) */
        return;
    }
    c->http.in_len += (size_t)n;
    touch(c);
    conn_serve(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct server *s = listener->data;
    if (status < 0)
        return;
    struct conn *c = malloc(sizeof *c);
    if (c == NULL)
        return;
    c->server = s;
    c->writing = 0;
    c->closing_uv = 0;
    c->handles = 2;
    c->http.closing = 0;
    c->http.in_len = 0;
    c->http.out_len = 0;
    c->tcp.data = c->idle.data = c->write.data = c;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->idle);
    c->prev = NULL;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    touch(c);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* Stop: close every handle; uv_run returns when none is left. */
static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    struct server *s = h->data;
    while (s->conns != NULL)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
}

static int listen_on(struct server *s, int port)
{
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    int err = uv_tcp_init(s->loop, &s->listener);
    if (err == 0)
        err = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (err == 0)
        err = uv_listen((uv_stream_t *)&s->listener, SOMAXCONN, on_connection);
    if (err < 0)
        return err;
    int len = sizeof addr;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&addr, &len);
    return ntohs(addr.sin_port);
}

int main(int argc, char **argv)
{
    int port;
    long idle_ms;
    if (http_bench_options(argc, argv, "libuv", &port, &idle_ms) < 0) {
        fprintf(stderr, "usage: %s [--backend libuv] [--idle-ms MS] [PORT]\n", argv[0]);
        return 2;
    }
    struct server s = { .loop = uv_default_loop(), .idle_ms = (uint64_t)idle_ms };
    s.listener.data = s.sigint.data = s.sigterm.data = &s;
    port = listen_on(&s, port);
    if (port < 0) {
        fprintf(stderr, "http_libuv: listen: %s\n", uv_strerror(port));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_signal_init(s.loop, &s.sigint);
    uv_signal_init(s.loop, &s.sigterm);
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    printf("http_libuv: listening on 127.0.0.1:%d, backend libuv\n", port);
    fflush(stdout);
    uv_run(s.loop, UV_RUN_DEFAULT);
    return uv_loop_close(s.loop) == 0 ? 0 : 1;
}
