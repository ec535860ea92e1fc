/*
 * http_parse.h - the HTTP/1.1 part of examples/http_server.c: just enough
 * of a request parser and a response writer for a keep-alive server that
 * answers GET / with a small fixed body. Nothing here knows about pollux;
 * the benchmark servers on libev and libuv (bench/http_libev.c,
 * bench/http_libuv.c) use it too, so the three servers speak alike.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

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

#endif /* HTTP_PARSE_H */
