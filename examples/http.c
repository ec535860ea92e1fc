/*
 * http.c - see http.h. Follows RFC 9112 only as far as a
 * server that reads no request bodies needs.
 *
 * SPDX-License-Identifier: MIT
 */
#define _POSIX_C_SOURCE 200809L
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* What the headers said, before it becomes keep_alive. */
struct head_state {
    int close;      /* Connection: close */
    int keep_alive; /* Connection: keep-alive (HTTP/1.0's opt-in) */
    int body;       /* a body follows, which this server cannot skip */
};

/* Length of the head at buf, its final empty line included, or 0. */
static size_t head_length(const char *buf, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++)
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
            return i + 4;
    return 0;
}

/* The CRLF that ends the line at p; the head's end guarantees one. */
static const char *line_end(const char *p)
{
    while (!(p[0] == '\r' && p[1] == '\n'))
        p++;
    return p;
}

/* s[0..n) equals the lower-case literal lit, ignoring case. */
static int same_ci(const char *s, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)s[i]) != lit[i])
            return 0;
    return 1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The comma-separated list v[0..n) holds tok (Connection: a, close). */
static int has_token(const char *v, size_t n, const char *tok)
{
    size_t i = 0;
    while (i < n) {
        size_t start = i, end;
        while (i < n && v[i] != ',')
            i++;
        end = i++;
        while (start < end && is_space(v[start]))
            start++;
        while (end > start && is_space(v[end - 1]))
            end--;
        if (same_ci(v + start, end - start, tok))
            return 1;
    }
    return 0;
}

/* "GET / HTTP/1.1": sets the status a valid line gets; -1 if invalid. */
static int parse_request_line(const char *p, const char *eol, struct http_request *req)
{
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    if (sp1 == NULL || sp1 == p)
        return -1;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', (size_t)(eol - target));
    if (sp2 == NULL || sp2 == target)
        return -1;
    const char *version = sp2 + 1;
    if (eol - version != 8 || memcmp(version, "HTTP/1.", 7) != 0 ||
        (version[7] != '0' && version[7] != '1'))
        return -1;
    int get = sp1 - p == 3 && memcmp(p, "GET", 3) == 0;
    int root = sp2 - target == 1 && target[0] == '/';
    req->status = !get ? 405 : root ? 200 : 404;
    req->keep_alive = version[7] == '1'; /* HTTP/1.1 keeps the connection by default */
    return 0;
}

/* One "Name: value" line; -1 if it has no name. */
static int parse_header(const char *p, const char *eol, struct head_state *st)
{
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (colon == NULL || colon == p)
        return -1;
    size_t name_len = (size_t)(colon - p);
    const char *v = colon + 1, *v_end = eol;
    while (v < v_end && is_space(*v))
        v++;
    while (v_end > v && is_space(v_end[-1]))
        v_end--;
    size_t v_len = (size_t)(v_end - v);
    if (same_ci(p, name_len, "connection")) {
        st->close |= has_token(v, v_len, "close");
        st->keep_alive |= has_token(v, v_len, "keep-alive");
    } else if (same_ci(p, name_len, "content-length")) {
        st->body |= !(v_len == 1 && v[0] == '0');
    } else if (same_ci(p, name_len, "transfer-encoding")) {
        st->body = 1;
    }
    return 0;
}

long http_parse(const char *buf, size_t len, struct http_request *req)
{
    static const struct http_request bad = { 400, 0 };
    size_t start = 0;
    /* RFC 9112 section 2.2: empty lines before a request are ignored. */
    while (len - start >= 2 && buf[start] == '\r' && buf[start + 1] == '\n')
        start += 2;
    size_t head = head_length(buf + start, len - start);
    if (head == 0)
        return 0;
    const char *p = buf + start;
    const char *last = p + head - 2; /* the CRLF of the final empty line */
    const char *eol = line_end(p);
    struct head_state st = { 0, 0, 0 };
    if (parse_request_line(p, eol, req) < 0) {
        *req = bad;
        return -1;
    }
    for (p = eol + 2; p < last; p = eol + 2) {
        eol = line_end(p);
        if (parse_header(p, eol, &st) < 0) {
            *req = bad;
            return -1;
        }
    }
    if (st.body) {
        *req = bad;
        return (long)(start + head);
    }
    if (st.close)
        req->keep_alive = 0;
    else if (st.keep_alive)
        req->keep_alive = 1;
    return (long)(start + head);
}

size_t http_respond(char *out, size_t room, const struct http_request *req)
{
    static const char hello[] = "Hello, world!\n";
    const char *reason = req->status == 200 ? "OK"
                       : req->status == 404 ? "Not Found"
                       : req->status == 405 ? "Method Not Allowed"
                       : "Bad Request";
    const char *body = req->status == 200 ? hello : "";
    int n = snprintf(out, room,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n"
                     "Connection: %s\r\n"
                     "\r\n"
                     "%s",
                     req->status, reason, strlen(body),
                     req->keep_alive ? "keep-alive" : "close", body);
    return n > 0 && (size_t)n < room ? (size_t)n : 0;
}

int http_answer(struct http_buffers *b)
{
    size_t used = 0;
    int full = 0;
    while (!b->closing) {
        struct http_request req;
        long head = http_parse(b->in + used, b->in_len - used, &req);
        if (head == 0)
            break; /* the rest of a request is still to come */
        size_t n = http_respond(b->out + b->out_len, HTTP_OUT_SIZE - b->out_len, &req);
        if (n == 0) {
            full = 1;
            break;
        }
        b->out_len += n;
        if (head < 0 || !req.keep_alive) {
            b->closing = 1;
            used = b->in_len;
        } else {
            used += (size_t)head;
        }
    }
    memmove(b->in, b->in + used, b->in_len - used);
    b->in_len -= used;
    return full;
}

int http_send(struct http_buffers *b, int fd)
{
    size_t sent = 0;
    while (sent < b->out_len) {
        ssize_t n = write(fd, b->out + sent, b->out_len - sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0)
            return -1;
        sent += (size_t)n;
    }
    memmove(b->out, b->out + sent, b->out_len - sent);
    b->out_len -= sent;
    return b->out_len == 0;
}
