/*
 * fuzz_pollux.c - a libFuzzer target that runs an input as a sequence of
 * operations on real descriptors, timers, the wake and after_fork, once on
 * every backend, and checks each result against the reference model
 * (model.c). tests/fuzz/README.md describes the input format and the model.
 *
 * Every execution closes every descriptor and frees every poller it made,
 * and checks that the number of open descriptors did not grow.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum op {
    OP_REGISTER, OP_MODIFY, OP_UNREGISTER, OP_WAIT, OP_WRITE, OP_READ, OP_FILL,
    OP_DRAIN, OP_SHUTDOWN, OP_CLOSE, OP_REUSE, OP_DUP, OP_DUP2, OP_TIMER_CREATE,
    OP_TIMER_SET, OP_TIMER_GET, OP_TIMER_DELETE, OP_WAKE, OP_AFTER_FORK, OP_FILENO,
    OP_LIMIT, OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "register", "modify", "unregister", "wait", "write", "read", "fill", "drain",
    "shutdown", "close", "reuse", "dup", "dup2", "timer_create", "timer_settime",
    "timer_gettime", "timer_delete", "wake", "after_fork", "fileno", "limit",
};

/* Descriptors the pool keeps above FD_SETSIZE, for select's own sets. */
#define HIGH_FD (FD_SETSIZE + 76)
/* The range whose open descriptors are counted before and after. */
#define COUNTED_FDS 2048

struct input {
    const uint8_t *d;
    size_t n, i;
};

static uint8_t next(struct input *in)
{
    return in->i < in->n ? in->d[in->i++] : 0;
}

static bool tracing;
/* libkqueue closes a freed kqueue's internal descriptors later, from its
 * own thread; this function of its (exported, not in its header; see
 * fd_settle() in tests/helpers.c) returns once it has. Weak, so NULL where
 * the kqueue is the kernel's or the emulation: it also tells libkqueue. */
extern void libkqueue_drain_pending_close(void) __attribute__((weak));
/* Whether each backend has a pollux_fileno here, learnt from a fresh poller. */
static bool backend_has_fileno[POLLUX_BACKEND_DEVPOLL + 1];
/* RLIMIT_NOFILE outside OP_LIMIT, restored before a failure is reported
 * (libFuzzer needs descriptors to write the input out). */
static struct rlimit normal_limit;

_Noreturn void fuzz_fail(const struct run *r, const char *fmt, ...)
{
    va_list ap;
    if (r->limited)
        setrlimit(RLIMIT_NOFILE, &normal_limit);
    fprintf(stderr, "pollux-fuzz: %s, operation %d (%s): ", pollux_backend_name(r->backend),
            r->op_index, r->op_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static void note(const struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const struct run *r, const char *fmt, ...)
{
    if (!tracing)
        return;
    va_list ap;
    fprintf(stderr, "  [%s %3d] %-13s ", pollux_backend_name(r->backend), r->op_index, r->op_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- the descriptor pool --------------------------------------------- */

static int new_obj(struct run *r, enum obj_kind kind)
{
    if (r->nobjs == MAX_OBJS)
        return -1;
    r->objs[r->nobjs] = (struct obj){ .kind = (uint8_t)kind };
    return r->nobjs++;
}

static void add_slot(struct run *r, int fd, int obj)
{
    if (fd < 0)
        return;
    if (r->nslots == MAX_SLOTS || obj < 0) {
        close(fd);
        return;
    }
    r->slots[r->nslots++] = (struct slot){ .fd = fd, .last = fd, .obj = obj, .bind = r->next_bind++ };
    r->objs[obj].refs++;
}

static void add_object(struct run *r, int fd, enum obj_kind kind)
{
    if (fd >= 0)
        add_slot(r, fd, new_obj(r, kind));
}

static void nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* A connected loopback TCP pair; SO_LINGER 0 so that closing leaves no
 * TIME_WAIT behind (millions of executions would use up the ports). */
static void make_tcp(struct run *r)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int a = -1;
    if (l >= 0 && c >= 0 && bind(l, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(l, 1) == 0
        && getsockname(l, (struct sockaddr *)&sa, &len) == 0
        && connect(c, (struct sockaddr *)&sa, sizeof sa) == 0)
        a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (l >= 0)
        close(l);
    if (a < 0) {
        if (c >= 0)
            close(c);
        return;
    }
    nonblock(c);
    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    add_object(r, c, K_TCP);
    add_object(r, a, K_TCP);
}

/* Kinds 0-3 are what OP_REUSE makes; TCP only at setup. */
static void make_kind(struct run *r, int kind)
{
    int fds[2];
    switch (kind) {
    case 0:
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
            add_object(r, fds[0], K_PIPE_R);
            add_object(r, fds[1], K_PIPE_W);
        }
        break;
    case 1:
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0) {
            add_object(r, fds[0], K_UNIX);
            add_object(r, fds[1], K_UNIX);
        }
        break;
    case 2:
        add_object(r, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), K_EVENTFD);
        break;
    case 3:
        add_object(r, memfd_create("pollux-fuzz", MFD_CLOEXEC), K_MEMFD);
        break;
    default:
        make_tcp(r);
    }
}

/* A pipe whose both ends are numbered above FD_SETSIZE. */
static void make_high_pipe(struct run *r)
{
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return;
    for (int i = 0; i < 2; i++) {
        int high = fcntl(fds[i], F_DUPFD_CLOEXEC, HIGH_FD);
        close(fds[i]);
        add_object(r, high, i == 0 ? K_PIPE_R : K_PIPE_W);
    }
}

/* Slots 0-1 pipe, 2-3 socketpair, 4 eventfd, 5-7 regular files (memfd),
 * 8-9 a pipe above FD_SETSIZE, then optionally TCP and a second pair. */
static void setup_pool(struct run *r, uint8_t header)
{
    make_kind(r, 0);
    make_kind(r, 1);
    make_kind(r, 2);
    for (int i = 0; i < 3; i++)
        make_kind(r, 3);
    make_high_pipe(r);
    if (header & 1)
        make_kind(r, 4);
    if (header & 2)
        make_kind(r, 1);
}

static void close_slot(struct run *r, struct slot *s)
{
    if (s->fd < 0)
        return;
    close(s->fd);
    r->objs[s->obj].refs--;
    s->last = s->fd;
    s->fd = -1;
}

static struct slot *pick_slot(struct run *r, uint8_t b)
{
    return r->nslots > 0 ? &r->slots[b % r->nslots] : NULL;
}

/* A slot's number (open, or the one it had), or an invalid, negative,
 * huge or closed number. */
static int pick_number(struct run *r, uint8_t b)
{
    static const int special[8] = { -1, INT_MIN, INT_MAX, 1 << 20, FD_SETSIZE - 1,
                                    FD_SETSIZE, 65535, 5000 };
    if (b >= 0xf0 || r->nslots == 0)
        return special[b & 7];
    struct slot *s = pick_slot(r, b);
    return s->fd >= 0 ? s->fd : s->last;
}

static uint32_t pick_interest(uint8_t a, uint8_t b)
{
    uint32_t ev = a & 0x0f; /* READ, WRITE, PRI, RDHUP */
    if (a & 0x10) ev |= POLLUX_ONESHOT;
    if (a & 0x20) ev |= POLLUX_EDGE;
    if (a & 0x40) ev |= POLLUX_HUP | POLLUX_ERR;
    if (a & 0x80) {
        if (b & 1)  ev |= POLLUX_EXCLUSIVE;
        if (b & 2)  ev |= POLLUX_TIMER;
        if (b & 4)  ev |= POLLUX_WAKE;
        if (b & 8)  ev |= 0x800u;
        if (b & 16) ev |= 0x80000000u;
    }
    return ev;
}

static void *pick_data(uint8_t b)
{
    return (void *)(uintptr_t)(0x1000 + b);
}

/* ---- descriptor operations ------------------------------------------- */

static void do_io(struct run *r, enum op op, struct input *in)
{
    struct slot *s = pick_slot(r, next(in));
    size_t len = (size_t)next(in) % 64 + 1;
    if (s == NULL || s->fd < 0)
        return;
    static char buf[65536];
    uint64_t one = 1, full = UINT64_C(0xfffffffffffffffe);
    bool efd = r->objs[s->obj].kind == K_EVENTFD;
    ssize_t got = 0;
    switch (op) {
    case OP_WRITE:
        got = efd ? write(s->fd, &one, 8) : write(s->fd, memset(buf, 'x', len), len);
        break;
    case OP_READ:
        got = read(s->fd, buf, efd ? 8 : len);
        break;
    case OP_FILL:
        if (efd) {
            got = read(s->fd, buf, 8);
            got = write(s->fd, &full, 8);
            break;
        }
        for (int i = 0; i < 64 && write(s->fd, buf, sizeof buf) > 0; i++)
            got += (ssize_t)sizeof buf;
        break;
    case OP_DRAIN:
        for (int i = 0; i < 64 && read(s->fd, buf, sizeof buf) > 0; i++)
            got++;
        break;
    default:
        got = shutdown(s->fd, (int)(len % 3));
    }
    note(r, "fd %d -> %zd", s->fd, got);
}

static void do_close(struct run *r, struct input *in)
{
    struct slot *s = pick_slot(r, next(in));
    if (s != NULL && s->fd >= 0) {
        note(r, "fd %d", s->fd);
        model_closing(r, s);
        close_slot(r, s);
    }
}

static void do_dup(struct run *r, struct input *in)
{
    struct slot *s = pick_slot(r, next(in));
    if (s == NULL || s->fd < 0 || r->nslots == MAX_SLOTS)
        return;
    int fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
    note(r, "fd %d -> %d", s->fd, fd);
    add_slot(r, fd, s->obj);
}

static void do_dup2(struct run *r, struct input *in)
{
    struct slot *a = pick_slot(r, next(in)), *b = pick_slot(r, next(in));
    if (a == NULL || a == b || a->fd < 0 || b->fd < 0)
        return;
    if (dup2(a->fd, b->fd) < 0)
        return;
    model_closing(r, b);
    note(r, "fd %d onto %d", a->fd, b->fd);
    r->objs[b->obj].refs--;
    b->obj = a->obj;
    r->objs[b->obj].refs++;
    b->bind = r->next_bind++; /* a new file behind the number, as far as kqueue knows */
}

static void do_reuse(struct run *r, struct input *in)
{
    int kind = next(in) % 4, before = r->nslots;
    make_kind(r, kind);
    note(r, "kind %d, %d new numbers", kind, r->nslots - before);
}

/* ---- poller operations ----------------------------------------------- */

static void do_registration(struct run *r, enum op op, struct input *in)
{
    int fd = pick_number(r, next(in));
    uint8_t a = next(in), b = next(in);
    uint32_t ev = pick_interest(a, b);
    void *data = pick_data(next(in));
    int got;
    if (op == OP_REGISTER) {
        got = pollux_register(r->p, fd, ev, data);
        note(r, "fd %d events 0x%x -> %d", fd, ev, got);
        model_register(r, fd, ev, data, got);
    } else if (op == OP_MODIFY) {
        got = pollux_modify(r->p, fd, ev, data);
        note(r, "fd %d events 0x%x -> %d", fd, ev, got);
        model_modify(r, fd, ev, data, got);
    } else {
        got = pollux_unregister(r->p, fd);
        note(r, "fd %d -> %d", fd, got);
        model_unregister(r, fd, got);
    }
    r->trace[r->ntrace - 1].result = got;
}

static void do_wait(struct run *r, struct input *in)
{
    uint8_t m = next(in) % 10, t = next(in);
    int max = m < 8 ? m + 1 : m == 8 ? 0 : -1;
    int64_t timeout = (t & 3) == 3 ? 1000 : 0;
    pollux_event ev[MAX_WAIT];
    short before[MAX_SLOTS], after[MAX_SLOTS];
    memset(ev, 0xa5, sizeof ev);
    model_probe(r, before);
    int got = pollux_wait(r->p, ev, max, timeout);
    model_probe(r, after);
    if (tracing) {
        note(r, "max %d timeout %lld -> %d", max, (long long)timeout, got);
        for (int i = 0; i < got && i < MAX_WAIT; i++)
            fprintf(stderr, "      kind %u fd %d events 0x%x count %llu data %p serial %llu\n",
                    ev[i].kind, ev[i].fd, ev[i].events, (unsigned long long)ev[i].count,
                    ev[i].data, (unsigned long long)ev[i].serial);
    }
    model_wait(r, ev, max, got, before, after);
    r->trace[r->ntrace - 1].result = got < 0 ? got : 0;
}

static int pick_timer(struct run *r, uint8_t b)
{
    static const int special[4] = { -1, 1 << 30, 0, 1 };
    int i = b % (MAX_TIMERS + 4);
    if (i >= MAX_TIMERS)
        return special[i - MAX_TIMERS];
    return r->timers[i].live || r->timers[i].data != NULL ? r->timers[i].id : 100 + i;
}

static int64_t now_on(int clockid)
{
    struct timespec ts;
    clock_gettime(clockid, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t pick_initial(uint8_t b, bool abs, int64_t now)
{
    static const int64_t table[8] = { 0, 1, 1000, 1000000, INT64_C(3600000000000), INT64_MAX,
                                      -1, INT64_MIN };
    switch (b % 10) {
    case 8: /* in the past: due at once */
        return abs ? (now > 1000000000 ? now - 1000000000 : 1) : INT64_C(2000000000);
    case 9: /* an hour ahead */
        return abs ? now + INT64_C(3600000000000) : 1;
    default:
        return table[b % 10];
    }
}

static void do_timer_create(struct run *r, struct input *in)
{
    static const int clocks[5] = { CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME,
                                   CLOCK_PROCESS_CPUTIME_ID, -1 };
    int clockid = clocks[next(in) % 5];
    void *data = (void *)(uintptr_t)(0x100000 + next(in));
    int live = 0;
    for (int i = 0; i < MAX_TIMERS; i++)
        live += r->timers[i].live;
    if (live == MAX_TIMERS)
        return;
    int got = pollux_timer_create(r->p, clockid, data);
    note(r, "clock %d -> %d", clockid, got);
    model_timer_create(r, clockid, data, got);
    r->trace[r->ntrace - 1].result = got < 0 ? got : 0;
}

static void do_timer_settime(struct run *r, struct input *in)
{
    static const int64_t intervals[7] = { 0, 0, 1, 1000000, INT64_C(3600000000000), -1, INT64_MAX };
    static const unsigned flag_table[4] = { 0, POLLUX_TIMER_ABSTIME, POLLUX_TIMER_LOOPTIME, 4 };
    int id = pick_timer(r, next(in));
    uint8_t ib = next(in), vb = next(in);
    unsigned flags = flag_table[next(in) % 4];
    struct tmr *t = model_timer(r, id);
    int clockid = t != NULL ? t->clockid : CLOCK_MONOTONIC;
    int64_t now = now_on(clockid);
    int64_t initial = pick_initial(ib, flags & POLLUX_TIMER_ABSTIME, now);
    int64_t interval = intervals[vb % 7];
    int got = pollux_timer_settime(r->p, id, initial, interval, flags);
    note(r, "id %d initial %lld interval %lld flags %u -> %d", id, (long long)initial,
         (long long)interval, flags, got);
    model_timer_settime(r, id, clockid, initial, interval, flags, now, got);
    r->trace[r->ntrace - 1].result = got;
}

static void do_timer_other(struct run *r, enum op op, struct input *in)
{
    int id = pick_timer(r, next(in));
    uint8_t b = next(in);
    int got;
    if (op == OP_TIMER_GET) {
        int64_t remaining = -7, interval = -7;
        got = pollux_timer_gettime(r->p, id, (b & 1) ? &remaining : NULL, (b & 2) ? &interval : NULL);
        note(r, "id %d -> %d remaining %lld interval %lld", id, got, (long long)remaining,
             (long long)interval);
        model_timer_gettime(r, id, b & 1, remaining, b & 2, interval, got);
    } else {
        got = pollux_timer_delete(r->p, id);
        note(r, "id %d -> %d", id, got);
        model_timer_delete(r, id, got);
    }
    r->trace[r->ntrace - 1].result = got;
}

static void do_poller_call(struct run *r, enum op op)
{
    int got;
    if (op == OP_WAKE) {
        got = pollux_wake(r->p);
        model_wake(r, got);
    } else if (op == OP_AFTER_FORK) {
        got = pollux_after_fork(r->p);
        model_after_fork(r, got);
    } else {
        got = pollux_fileno(r->p);
        model_fileno(r, got);
        got = got < 0 ? got : 0;
    }
    note(r, "-> %d", got);
    r->trace[r->ntrace - 1].result = got;
}

static void run_op(struct run *r, struct input *in);

/* The next operation with only k (0-2) descriptors free below RLIMIT_NOFILE. */
static void do_limit(struct run *r, struct input *in)
{
    int k = next(in) % 4, free_seen = 0, limit = k == 3 ? 3 : -1;
    if (r->limited || getrlimit(RLIMIT_NOFILE, &normal_limit) != 0)
        return;
    /* The /dev/poll emulation skips descriptors above sysconf(_SC_OPEN_MAX)
     * when the wait hands it the queued changes, where illumos does not
     * (docs/emulation.md): such a wait runs without the limit. */
    bool next_is_wait = in->i < in->n && in->d[in->i] % OP_COUNT == OP_WAIT;
    if (r->backend == POLLUX_BACKEND_DEVPOLL && next_is_wait) {
        run_op(r, in);
        return;
    }
    /* k = 3: nothing above stdio, not even a number the call itself frees. */
    for (int fd = 0; fd < COUNTED_FDS && limit < 0; fd++)
        if (fcntl(fd, F_GETFD) < 0 && free_seen++ == k)
            limit = fd;
    struct rlimit low = { .rlim_cur = (rlim_t)limit, .rlim_max = normal_limit.rlim_max };
    if (limit < 0 || setrlimit(RLIMIT_NOFILE, &low) != 0)
        return;
    note(r, "%d free descriptors (limit %d)", k, limit);
    r->limited = true;
    run_op(r, in);
    r->limited = false;
    setrlimit(RLIMIT_NOFILE, &normal_limit);
}

static void run_op(struct run *r, struct input *in)
{
    enum op op = (enum op)(next(in) % OP_COUNT);
    r->op_name = op_names[op];
    if (r->ntrace < MAX_OPS)
        r->trace[r->ntrace++] = (struct trace_entry){ .op = (int)op };
    switch (op) {
    case OP_REGISTER: case OP_MODIFY: case OP_UNREGISTER:
        do_registration(r, op, in);
        break;
    case OP_WAIT:
        do_wait(r, in);
        break;
    case OP_WRITE: case OP_READ: case OP_FILL: case OP_DRAIN: case OP_SHUTDOWN:
        do_io(r, op, in);
        break;
    case OP_CLOSE: do_close(r, in); break;
    case OP_REUSE: do_reuse(r, in); break;
    case OP_DUP: do_dup(r, in); break;
    case OP_DUP2: do_dup2(r, in); break;
    case OP_TIMER_CREATE: do_timer_create(r, in); break;
    case OP_TIMER_SET: do_timer_settime(r, in); break;
    case OP_TIMER_GET: case OP_TIMER_DELETE: do_timer_other(r, op, in); break;
    case OP_WAKE: case OP_AFTER_FORK: case OP_FILENO: do_poller_call(r, op); break;
    default: do_limit(r, in);
    }
    /* Handling a batch can remove the sources of its later events: after
     * every operation, their pollux_event_current() must follow the model. */
    model_check_current(r);
}

/* ---- one execution ---------------------------------------------------- */

static void run_backend(struct run *r, pollux_backend b, const uint8_t *data, size_t size)
{
    struct input in = { .d = data, .n = size };
    memset(r, 0, sizeof *r);
    r->backend = b;
    r->has_fileno = backend_has_fileno[b];
    r->libkqueue = b == POLLUX_BACKEND_KQUEUE && libkqueue_drain_pending_close != NULL;
    r->op_name = "setup";
    setup_pool(r, next(&in));
    for (int i = 0; tracing && i < r->nslots; i++)
        note(r, "slot %d: fd %d, kind %d", i, r->slots[i].fd, r->objs[r->slots[i].obj].kind);
    int err = pollux_new(&r->p, b);
    if (err < 0)
        fuzz_fail(r, "pollux_new: %s", strerror(-err));
    while (in.i < in.n && r->op_index < MAX_OPS) {
        run_op(r, &in);
        r->op_index++;
    }
    pollux_free(r->p);
    for (int i = 0; i < r->nslots; i++)
        close_slot(r, &r->slots[i]);
    /* The next backend's run must start from the same descriptors:
     * libkqueue closes the freed kqueue's own later, from its thread. */
    if (libkqueue_drain_pending_close != NULL)
        libkqueue_drain_pending_close();
}

/* The number of open descriptors, once every poller freed so far has
 * closed all of its own. */
static int open_fds(void)
{
    if (libkqueue_drain_pending_close != NULL)
        libkqueue_drain_pending_close();
    static struct pollfd pfd[COUNTED_FDS];
    for (int i = 0; i < COUNTED_FDS; i++)
        pfd[i] = (struct pollfd){ .fd = i };
    if (poll(pfd, COUNTED_FDS, 0) < 0)
        return -1;
    int n = 0;
    for (int i = 0; i < COUNTED_FDS; i++)
        n += !(pfd[i].revents & POLLNVAL);
    return n;
}

/* POLLUX_FUZZ_BACKENDS=epoll,poll restricts the runs; the default is
 * every backend usable here. */
static unsigned chosen_backends(void)
{
    unsigned usable = pollux_backends(), mask = 0;
    const char *env = getenv("POLLUX_FUZZ_BACKENDS");
    if (env == NULL || *env == '\0')
        return usable;
    char list[128];
    snprintf(list, sizeof list, "%s", env);
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name != NULL;
         name = strtok_r(NULL, ",", &save)) {
        int b = POLLUX_BACKEND_SELECT;
        while (b <= POLLUX_BACKEND_DEVPOLL && strcmp(name, pollux_backend_name((pollux_backend)b)) != 0)
            b++;
        mask |= 1u << b; /* past the last backend: refused below */
    }
    if (mask & ~usable) {
        fprintf(stderr, "pollux-fuzz: POLLUX_FUZZ_BACKENDS=%s names a backend not usable here\n", env);
        exit(2);
    }
    return mask;
}

/* Asks a fresh poller of each backend whether it has a pollux_fileno
 * (docs/portability.md: not over libkqueue). The first poller also makes
 * whatever a kqueue library keeps open for the process, before counting. */
static void probe_backends(unsigned backends)
{
    for (int b = POLLUX_BACKEND_SELECT; b <= POLLUX_BACKEND_DEVPOLL; b++) {
        pollux *p;
        if (!(backends & (1u << b)))
            continue;
        int err = pollux_new(&p, (pollux_backend)b);
        if (err < 0) {
            fprintf(stderr, "pollux-fuzz: %s: pollux_new: %s\n",
                    pollux_backend_name((pollux_backend)b), strerror(-err));
            abort();
        }
        backend_has_fileno[b] = model_fileno_probe((pollux_backend)b, pollux_fileno(p));
        pollux_free(p);
    }
}

/* select needs descriptors above FD_SETSIZE, and the count needs room. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned backends;
    static struct run runs[POLLUX_BACKEND_DEVPOLL + 1];
    if (backends == 0) {
        raise_fd_limit();
        prctl(PR_SET_TIMERSLACK, 1UL); /* waits of a microsecond, not fifty */
        signal(SIGPIPE, SIG_IGN); /* writes to closed pipes and sockets are operations too */
        tracing = getenv("POLLUX_FUZZ_TRACE") != NULL;
        backends = chosen_backends();
        probe_backends(backends);
    }
    int fds_before = open_fds();
    int nruns = 0;
    for (int b = POLLUX_BACKEND_SELECT; b <= POLLUX_BACKEND_DEVPOLL; b++)
        if (backends & (1u << b))
            run_backend(&runs[nruns++], (pollux_backend)b, data, size);
    int fds_after = open_fds();
    if (fds_after != fds_before) {
        fprintf(stderr, "pollux-fuzz: %d descriptors open before the execution, %d after\n",
                fds_before, fds_after);
        abort();
    }
    for (int i = 0; i < nruns; i++)
        for (int j = i + 1; j < nruns; j++)
            model_compare(&runs[i], &runs[j]);
    return 0;
}
