/*
 * http.h - the HTTP/1.1 part of examples/http_server.c: just enough of a
 * request parser and a response writer for a keep-alive server that
 * answers GET / with a small fixed body, and the buffers of a connection.
 * Nothing here knows about pollux; the benchmark servers on libev and
 * libuv (bench/http_libev.c, bench/http_libuv.c) use it too, so that the
 * three servers behave alike.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

/* What the server needs to know about one request. */
struct http_request {
    int status;     /* the answer: 200 (GET /), 404, 405, or 400 (malformed) */
    int keep_alive; /* 1: the connection stays open after the answer */
};

/*
 * http_parse - look for one complete request head at the start of buf.
 * Returns its length (> 0) and fills *req, 0 when the head is not complete
 * yet (read more), or -1 when buf cannot start a valid request; *req is
 * then the 400 answer, after which the connection closes (the framing of
 * what follows is unknown). A request with a body (Content-Length other
 * than 0, Transfer-Encoding) gets that answer too, as this server reads
 * no bodies. The response to a *req whose keep_alive is 0 is the last.
 */
long http_parse(const char *buf, size_t len, struct http_request *req);

/*
 * http_respond - write the response to req into out.
 * Returns its length, or 0 when it does not fit in room (then out holds
 * nothing usable: send it when there is more room).
 */
size_t http_respond(char *out, size_t room, const struct http_request *req);

#define HTTP_IN_SIZE  4096 /* the longest request head accepted */
#define HTTP_OUT_SIZE 8192 /* responses waiting for room in the socket */

/* A connection's buffers. */
struct http_buffers {
    int closing;    /* the last response is in out[]: close once it is sent */
    size_t in_len;  /* bytes of in[] not answered yet */
    size_t out_len; /* bytes of out[] not sent yet */
    char in[HTTP_IN_SIZE];
    char out[HTTP_OUT_SIZE];
};

/*
 * http_answer - answer the complete requests in in[], in order, while out[]
 * has room; after one that closes the connection, sets closing and drops
 * the rest. Returns 1 when it stopped for lack of room in out[] (call it
 * again once out[] is sent), else 0.
 */
int http_answer(struct http_buffers *b);

/*
 * http_send - write out[] to the non-blocking socket fd, and keep in out[]
 * what it did not take. Returns 1 when all of it went, 0 when the socket
 * is full (send the rest when it is writable), -1 on an error (the client
 * is gone: close).
 */
int http_send(struct http_buffers *b, int fd);

#endif /* HTTP_H */
