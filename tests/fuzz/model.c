/*
 * model.c - the reference model of the pollux contract that the fuzz
 * harness checks every result against. Written from docs/reference.md,
 * include/pollux.h and docs/portability.md; tests/fuzz/README.md says what
 * it checks and where it is lenient on purpose.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"

#define EVENT_BITS (POLLUX_READ | POLLUX_WRITE | POLLUX_PRI | POLLUX_RDHUP)
#define RW         (POLLUX_READ | POLLUX_WRITE)
#define HUP_ERR    (POLLUX_HUP | POLLUX_ERR)
#define MODE_BITS  (POLLUX_ONESHOT | POLLUX_EDGE | POLLUX_EXCLUSIVE)
#define PROBE      (POLLIN | POLLOUT | POLLPRI | POLLRDHUP)

/* Timers further away than this do not fire during an execution. */
#define FAR_NS INT64_C(1800000000000)

struct allowed {
    int v[8];
    int n;
};

static void allow(struct allowed *a, int v)
{
    if (a->n < 8)
        a->v[a->n++] = v;
}

static bool is_allowed(const struct run *r, const struct allowed *a, int got)
{
    for (int i = 0; i < a->n; i++)
        if (a->v[i] == got)
            return true;
    /* With no free descriptor, anything that creates one may fail. */
    return r->limited && (got == -EMFILE || got == -ENFILE || got == -ENOMEM);
}

static void expect(const struct run *r, const struct allowed *a, int got, const char *call)
{
    if (is_allowed(r, a, got))
        return;
    char list[128] = "";
    for (int i = 0; i < a->n; i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%d", i ? ", " : "", a->v[i]);
    }
    fuzz_fail(r, "%s returned %d (%s); the model allows only {%s}", call, got,
              got < 0 ? strerror(-got) : "success", list);
}

static bool deterministic(const struct run *r, int obj)
{
    return obj >= 0 && r->objs[obj].kind != K_TCP;
}

/* ---- the descriptor pool --------------------------------------------- */

struct slot *model_slot_of(struct run *r, int fd)
{
    for (int i = 0; i < r->nslots; i++)
        if (r->slots[i].fd == fd && fd >= 0)
            return &r->slots[i];
    return NULL;
}

int model_number(const struct run *r, int fd)
{
    if (fd < 0)
        return NUM_CLOSED;
    for (int i = 0; i < r->nslots; i++)
        if (r->slots[i].fd == fd)
            return r->slots[i].obj;
    return fcntl(fd, F_GETFD) < 0 ? NUM_CLOSED : NUM_INTERNAL;
}

struct reg *model_reg(struct run *r, int fd)
{
    for (int i = 0; i < MAX_REGS; i++)
        if (r->regs[i].used && r->regs[i].fd == fd)
            return &r->regs[i];
    return NULL;
}

void model_probe(const struct run *r, short *out)
{
    struct pollfd pfd[MAX_SLOTS];
    for (int i = 0; i < r->nslots; i++)
        pfd[i] = (struct pollfd){ .fd = r->slots[i].fd, .events = PROBE };
    /* Under OP_LIMIT, poll refuses more descriptors than RLIMIT_NOFILE. */
    if (poll(pfd, (nfds_t)r->nslots, 0) < 0)
        for (int i = 0; i < r->nslots; i++)
            if (poll(&pfd[i], 1, 0) < 0)
                fuzz_fail(r, "probing the pool with poll: %s", strerror(errno));
    for (int i = 0; i < r->nslots; i++)
        out[i] = pfd[i].fd >= 0 ? pfd[i].revents : 0;
}

/* The registration is for the file its number names now. */
static bool bound(struct run *r, const struct reg *g)
{
    struct slot *s = model_slot_of(r, g->fd);
    return s != NULL && s->bind == g->bind && g->bind >= 0;
}

static bool armed(const struct reg *g)
{
    return (g->interest & EVENT_BITS) && !g->fired;
}

/* ---- registrations --------------------------------------------------- */

/* The -EINVAL / -ENOTSUP of an interest; true when there is one. */
static bool interest_errors(const struct run *r, uint32_t ev, struct allowed *a)
{
    bool bad = false;
    if ((ev & ~(EVENT_BITS | HUP_ERR | MODE_BITS))
        || ((ev & POLLUX_EXCLUSIVE) && (ev & (POLLUX_ONESHOT | POLLUX_RDHUP | POLLUX_PRI)))) {
        allow(a, -EINVAL);
        bad = true;
    }
    bool no_edge = r->backend == POLLUX_BACKEND_SELECT || r->backend == POLLUX_BACKEND_POLL
                   || r->backend == POLLUX_BACKEND_DEVPOLL;
    if (((ev & POLLUX_EDGE) && no_edge) || ((ev & POLLUX_PRI) && r->backend == POLLUX_BACKEND_KQUEUE)) {
        allow(a, -ENOTSUP);
        bad = true;
    }
    return bad;
}

static void bind_reg(struct run *r, struct reg *g)
{
    struct slot *s = model_slot_of(r, g->fd);
    g->obj = s != NULL ? s->obj : -1;
    g->bind = s != NULL ? s->bind : -1;
}

/*
 * A kqueue implemented in user space (libkqueue; the test emulation of
 * tests/emul) opens descriptors pollux does not know about: libkqueue's
 * internal epoll, pipe and eventfds, and a timerfd behind EVFILT_TIMER in
 * both. One may take a number the caller closed without registering it,
 * when after_fork builds a new kqueue or a timer is set; pollux cannot
 * tell it from a file of the caller's, so register and modify there may
 * succeed, or fail as epoll does when asked to watch an epoll descriptor
 * inside itself (-EINVAL): over libkqueue, and in the emulation when a
 * descriptor limit below 128 keeps its inner descriptors from moving to
 * high numbers. A FreeBSD kqueue opens no such descriptor.
 */
static bool foreign_allowed(const struct run *r, int num, struct allowed *a, bool bad)
{
    if (r->backend != POLLUX_BACKEND_KQUEUE || num != NUM_INTERNAL)
        return false;
    if (!bad)
        allow(a, 0);
    allow(a, -EINVAL);
    return true;
}

void model_register(struct run *r, int fd, uint32_t events, void *data, int got)
{
    struct allowed a = { .n = 0 };
    struct reg *g = fd >= 0 ? model_reg(r, fd) : NULL;
    int num = model_number(r, fd);
    if (r->broken) {
        allow(&a, -EIO);
    } else if (fd < 0) {
        allow(&a, -EBADF);
    } else {
        bool bad = interest_errors(r, events, &a);
        if (g != NULL) {
            allow(&a, -EEXIST);
        } else if (num == NUM_CLOSED) {
            allow(&a, -EBADF);
        } else if (num == NUM_INTERNAL) {
            /* The poller's own descriptor is not the caller's to watch. */
            allow(&a, -EBADF);
            allow(&a, -EEXIST);
            foreign_allowed(r, num, &a, bad);
        } else if (!bad) {
            allow(&a, 0);
        }
    }
    expect(r, &a, got, "pollux_register");
    if (got != 0)
        return;
    for (int i = 0; i < MAX_REGS; i++) {
        if (!r->regs[i].used) {
            r->regs[i] = (struct reg){ .used = true, .fd = fd, .interest = events, .data = data,
                                       .gen = ++r->next_gen };
            bind_reg(r, &r->regs[i]);
            r->regs[i].foreign = num == NUM_INTERNAL;
            return;
        }
    }
    fuzz_fail(r, "model: registration table full");
}

void model_modify(struct run *r, int fd, uint32_t events, void *data, int got)
{
    struct allowed a = { .n = 0 };
    struct reg *g = fd >= 0 ? model_reg(r, fd) : NULL;
    if (r->broken) {
        allow(&a, -EIO);
    } else if (fd < 0) {
        allow(&a, -EBADF);
    } else {
        bool bad = interest_errors(r, events, &a);
        int num = model_number(r, fd);
        if (g == NULL) {
            allow(&a, -ENOENT);
        } else if (num == NUM_INTERNAL) {
            allow(&a, -EBADF); /* docs/decisions.md: the number is not the caller's */
            if (g->foreign)
                foreign_allowed(r, num, &a, bad);
        } else if (num == NUM_CLOSED) {
            allow(&a, -EBADF); /* when the modify has to ask the kernel */
            if (!bad)
                allow(&a, 0);
        } else if (!bad) {
            allow(&a, 0); /* also re-establishes the watch of a reused number */
        }
    }
    expect(r, &a, got, "pollux_modify");
    if (got != 0)
        return;
    g->interest = events;
    g->data = data;
    g->fired = false;
    bind_reg(r, g);
    g->foreign = model_number(r, fd) == NUM_INTERNAL;
}

void model_unregister(struct run *r, int fd, int got)
{
    struct allowed a = { .n = 0 };
    struct reg *g = fd >= 0 ? model_reg(r, fd) : NULL;
    if (r->broken)
        allow(&a, -EIO);
    else if (fd < 0)
        allow(&a, -EBADF);
    else
        allow(&a, g != NULL ? 0 : -ENOENT);
    expect(r, &a, got, "pollux_unregister");
    if (got == 0)
        g->used = false;
}

/*
 * docs/portability.md: over libkqueue, a registered number closed while a
 * dup keeps its file open leaves libkqueue's epoll watching that file (not
 * worked around there: "unregister before closing"). What that file can be
 * may then show in reports for the number, whatever is registered on it.
 */
void model_closing(struct run *r, const struct slot *s)
{
    if (!r->libkqueue || s->fd < 0 || model_reg(r, s->fd) == NULL || r->nstale == MAX_STALE)
        return;
    r->stale[r->nstale++] = (struct stale){ .fd = s->fd, .obj = s->obj };
}

void model_after_fork(struct run *r, int got)
{
    struct allowed a = { .n = 0 };
    allow(&a, 0);
    expect(r, &a, got, "pollux_after_fork");
    r->broken = got < 0;
    if (got < 0)
        return;
    /* Every registration is watched again for the file its number names;
     * a closed number stays unwatched until modify. */
    for (int i = 0; i < MAX_REGS; i++)
        if (r->regs[i].used)
            bind_reg(r, &r->regs[i]);
}

void model_wake(struct run *r, int got)
{
    struct allowed a = { .n = 0 };
    allow(&a, r->broken ? -EIO : 0);
    expect(r, &a, got, "pollux_wake");
    if (got == 0)
        r->wake_pending = true;
}

/* ---- readiness ------------------------------------------------------- */

/*
 * The readiness a backend must report for an interest, from poll(2)'s
 * revents: exact on select, poll, epoll and /dev/poll; on kqueue only READ
 * and WRITE, which EV_EOF's mapping to HUP or RDHUP does not change.
 */
static uint32_t expected(pollux_backend b, uint32_t interest, short rv)
{
    uint32_t ev = interest & EVENT_BITS, bits = 0;
    if (b == POLLUX_BACKEND_SELECT) {
        if ((ev & POLLUX_READ) && (rv & (POLLIN | POLLHUP | POLLERR)))
            bits |= POLLUX_READ;
        if ((ev & POLLUX_WRITE) && (rv & (POLLOUT | POLLERR)))
            bits |= POLLUX_WRITE;
        if ((ev & POLLUX_PRI) && (rv & POLLPRI))
            bits |= POLLUX_PRI;
        return bits;
    }
    if (rv & POLLIN)    bits |= ev & POLLUX_READ;
    if (rv & POLLOUT)   bits |= ev & POLLUX_WRITE;
    if (rv & POLLPRI)   bits |= ev & POLLUX_PRI;
    if (rv & POLLRDHUP) bits |= ev & POLLUX_RDHUP;
    if (rv & POLLHUP)   bits |= POLLUX_HUP;
    if (rv & POLLERR)   bits |= POLLUX_ERR;
    if (bits & HUP_ERR)
        bits |= ev & RW;
    return b == POLLUX_BACKEND_KQUEUE ? bits & RW : bits;
}

/* Bits that some state in rv can justify, on any backend. */
static uint32_t justified(short rv)
{
    uint32_t ok = 0;
    if (rv & (POLLIN | POLLPRI | POLLHUP | POLLERR | POLLRDHUP)) ok |= POLLUX_READ;
    if (rv & (POLLOUT | POLLHUP | POLLERR))                      ok |= POLLUX_WRITE;
    if (rv & POLLPRI)                                            ok |= POLLUX_PRI;
    if (rv & (POLLRDHUP | POLLHUP))                              ok |= POLLUX_RDHUP;
    if (rv & (POLLHUP | POLLERR | POLLRDHUP))                    ok |= POLLUX_HUP;
    if (rv & (POLLERR | POLLHUP))                                ok |= POLLUX_ERR;
    return ok;
}

static int slot_index(const struct run *r, int fd)
{
    for (int i = 0; i < r->nslots; i++)
        if (r->slots[i].fd == fd && fd >= 0)
            return i;
    return -1;
}

/* poll(2)'s view of a file through the numbers that still name it. */
static short object_state(const struct run *r, int obj, const short *before, const short *after)
{
    short rv = 0;
    for (int k = 0; k < r->nslots; k++)
        if (r->slots[k].fd >= 0 && r->slots[k].obj == obj)
            rv |= before[k] | after[k];
    return rv;
}

/*
 * What could be ready behind a registration: the file its number names
 * now and, while it is open elsewhere, the file it was made for (epoll and
 * kqueue watch files; docs/portability.md), and over libkqueue the files
 * it still watches under the number (model_closing).
 */
static short possible(struct run *r, const struct reg *g, const short *before, const short *after)
{
    short rv = 0;
    int i = slot_index(r, g->fd);
    if (i >= 0)
        rv |= before[i] | after[i];
    if (g->foreign && slot_index(r, g->fd) < 0)
        rv |= POLLIN | POLLOUT | POLLPRI | POLLRDHUP | POLLHUP | POLLERR; /* not the pool's */
    if (g->obj >= 0 && r->objs[g->obj].refs > 0 && !bound(r, g))
        rv |= object_state(r, g->obj, before, after);
    for (int k = 0; k < r->nstale; k++)
        if (r->stale[k].fd == g->fd)
            rv |= object_state(r, r->stale[k].obj, before, after);
    return rv;
}

/* Every event of one registration or timer setting carries the same
 * serial, never 0 (include/pollux.h); that different ones differ is what
 * model_check_current() sees. */
static void check_serial(const struct run *r, const pollux_event *e, uint64_t *seen)
{
    if (e->serial == 0)
        fuzz_fail(r, "event 0x%x for %d (kind %u) has serial 0", e->events, e->fd, e->kind);
    if (*seen == 0)
        *seen = e->serial;
    else if (*seen != e->serial)
        fuzz_fail(r, "event 0x%x for %d (kind %u): serial %llu, earlier events of the same "
                  "source had %llu", e->events, e->fd, e->kind, (unsigned long long)e->serial,
                  (unsigned long long)*seen);
}

static void check_fd_event(struct run *r, const pollux_event *e, const short *before,
                           const short *after)
{
    struct reg *g = model_reg(r, e->fd);
    if (g == NULL)
        fuzz_fail(r, "event 0x%x for fd %d, which is not registered", e->events, e->fd);
    if (!armed(g))
        fuzz_fail(r, "event 0x%x for fd %d, which is %s", e->events, e->fd,
                  g->fired ? "a fired ONESHOT" : "paused");
    uint32_t bits = e->events;
    uint32_t allowed_bits = (g->interest & EVENT_BITS) | HUP_ERR;
    if (bits == 0 || (bits & ~allowed_bits))
        fuzz_fail(r, "fd %d: bits 0x%x outside interest 0x%x|HUP|ERR", e->fd, bits, g->interest);
    if ((bits & HUP_ERR) && (bits & g->interest & RW) != (g->interest & RW))
        fuzz_fail(r, "fd %d: HUP/ERR in 0x%x without the READ/WRITE of interest 0x%x", e->fd,
                  bits, g->interest);
    if (r->backend == POLLUX_BACKEND_SELECT && (bits & (HUP_ERR | POLLUX_RDHUP)))
        fuzz_fail(r, "fd %d: select reported 0x%x (never HUP, ERR or RDHUP)", e->fd, bits);
    if (e->count != 0 || e->data != g->data)
        fuzz_fail(r, "fd %d: count %llu, data %p (registered %p)", e->fd,
                  (unsigned long long)e->count, e->data, g->data);
    uint32_t ok = justified(possible(r, g, before, after));
    if (bits & ~ok)
        fuzz_fail(r, "fd %d: reported 0x%x but the file can only be 0x%x", e->fd, bits, ok);
    check_serial(r, e, &g->serial);
    if (g->interest & POLLUX_ONESHOT)
        g->fired = true;
}

static void check_timer_event(struct run *r, const pollux_event *e)
{
    struct tmr *t = model_timer(r, e->fd);
    if (e->events != POLLUX_TIMER || t == NULL)
        fuzz_fail(r, "timer event 0x%x for id %d, %s", e->events, e->fd,
                  t == NULL ? "no such timer" : "with other bits");
    if (t->state != T_DUE && t->state != T_MAYBE)
        fuzz_fail(r, "timer %d reported while %s", e->fd, t->state == T_OFF ? "disarmed" : "far from due");
    if (e->data != t->data || e->count < 1 || (t->interval == 0 && e->count != 1))
        fuzz_fail(r, "timer %d: count %llu, data %p (created with %p)", e->fd,
                  (unsigned long long)e->count, e->data, t->data);
    check_serial(r, e, &t->serial);
    t->state = t->interval == 0 ? T_OFF : T_MAYBE;
}

static void check_wake_event(struct run *r, const pollux_event *e)
{
    if (e->fd != -1 || e->data != NULL || e->count != 0 || e->events != POLLUX_WAKE)
        fuzz_fail(r, "wake event 0x%x with fd %d, data %p, count %llu", e->events, e->fd, e->data,
                  (unsigned long long)e->count);
    if (e->serial == 0)
        fuzz_fail(r, "wake event with serial 0");
    if (!r->wake_pending)
        fuzz_fail(r, "a WAKE event without a pending pollux_wake()");
    r->wake_pending = false;
}

/*
 * The kind an event says must match its bits: POLLUX_TIMER exactly for a
 * timer, POLLUX_WAKE for a wake, neither for a descriptor (0.1 programs
 * that test the bits see what 0.2 programs switching on kind see).
 */
static void check_kind(const struct run *r, const pollux_event *e)
{
    uint32_t own = e->events & (POLLUX_TIMER | POLLUX_WAKE);
    bool ok;
    switch (e->kind) {
    case POLLUX_KIND_FD:    ok = own == 0; break;
    case POLLUX_KIND_TIMER: ok = own == POLLUX_TIMER; break;
    case POLLUX_KIND_WAKE:  ok = own == POLLUX_WAKE; break;
    default:                ok = false;
    }
    if (!ok)
        fuzz_fail(r, "event 0x%x for %d has kind %u", e->events, e->fd, e->kind);
}

static void check_unique(const struct run *r, const pollux_event *ev, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (ev[i].kind == ev[j].kind
                && (ev[i].kind == POLLUX_KIND_WAKE || ev[i].fd == ev[j].fd))
                fuzz_fail(r, "source %d reported twice in one call (0x%x, 0x%x)", ev[i].fd,
                          ev[i].events, ev[j].events);
}

/* Over libkqueue, a registered number closed while a dup kept its file
 * open (model_closing) and reused for another file before its unregister
 * or modify is not covered (docs/portability.md): libkqueue's watch of the
 * old file stays behind the number, and the new file may never show. */
static bool libkqueue_uncovered(const struct run *r, const struct reg *g)
{
    for (int k = 0; r->libkqueue && k < r->nstale; k++)
        if (r->stale[k].fd == g->fd)
            return true;
    return false;
}

/* A registration that must be reported when there is room, and with what. */
static uint32_t required(struct run *r, const struct reg *g, const short *before, const short *after)
{
    if (!armed(g) || (g->interest & POLLUX_EDGE) || !bound(r, g) || !deterministic(r, g->obj))
        return 0;
    int i = slot_index(r, g->fd);
    uint32_t b = expected(r->backend, g->interest, before[i]);
    return b == expected(r->backend, g->interest, after[i]) ? b : 0;
}

static void check_complete(struct run *r, const pollux_event *ev, int n, const struct reg *pre,
                           const short *before, const short *after, struct trace_entry *t)
{
    if (r->wake_pending)
        fuzz_fail(r, "a pending wake was not reported (%d events, room left)", n);
    for (int i = 0; i < MAX_TIMERS; i++)
        if (r->timers[i].live && r->timers[i].state == T_DUE)
            fuzz_fail(r, "timer %d is due but was not reported (%d events, room left)",
                      r->timers[i].id, n);
    bool partial = false;
    for (int k = 0; k < MAX_REGS; k++) {
        if (!pre[k].used)
            continue;
        if (libkqueue_uncovered(r, &pre[k])) {
            partial = true; /* not comparable with another backend either */
            continue;
        }
        uint32_t want = required(r, &pre[k], before, after);
        if (want == 0)
            continue;
        const pollux_event *got = NULL;
        for (int i = 0; i < n; i++)
            if (ev[i].fd == pre[k].fd && ev[i].kind == POLLUX_KIND_FD)
                got = &ev[i];
        if (got == NULL)
            fuzz_fail(r, "fd %d is ready (0x%x) but was not reported (%d events, room left)",
                      pre[k].fd, want, n);
        bool exact = r->backend != POLLUX_BACKEND_KQUEUE;
        if (exact ? got->events != want : (got->events & want) != want)
            fuzz_fail(r, "fd %d reported 0x%x, the file is 0x%x for interest 0x%x", pre[k].fd,
                      got->events, want, pre[k].interest);
        int s = slot_index(r, pre[k].fd);
        if (s < 64) {
            if (got->events & POLLUX_READ)  t->read |= UINT64_C(1) << s;
            if (got->events & POLLUX_WRITE) t->write |= UINT64_C(1) << s;
        }
    }
    t->complete = !partial;
}

/* The batch the caller is handling now, with the model's source of each
 * event (checked above: it exists). A wait that returns none leaves the
 * caller's array, and so the batch, as it was. */
static void keep_batch(struct run *r, const pollux_event *ev, int n)
{
    for (int i = 0; i < n; i++) {
        r->batch[i] = ev[i];
        if (ev[i].kind == POLLUX_KIND_FD)
            r->batch_gen[i] = model_reg(r, ev[i].fd)->gen;
        else if (ev[i].kind == POLLUX_KIND_TIMER)
            r->batch_gen[i] = model_timer(r, ev[i].fd)->gen;
        else
            r->batch_gen[i] = 0;
    }
    r->nbatch = n;
}

void model_wait(struct run *r, const pollux_event *ev, int max, int got, const short *before,
                const short *after)
{
    struct trace_entry *t = &r->trace[r->ntrace - 1];
    if (r->broken || max < 1) {
        struct allowed a = { .n = 0 };
        if (r->broken)
            allow(&a, -EIO);
        if (max < 1)
            allow(&a, -EINVAL);
        expect(r, &a, got, "pollux_wait");
        return;
    }
    /* A signal can interrupt any wait (libFuzzer's -timeout watchdog is a
     * SIGALRM without SA_RESTART): the contract says -EINTR, nothing taken. */
    if (got == -EINTR)
        return;
    /* With few descriptors allowed, poll(2) and select(2) refuse a set
     * larger than RLIMIT_NOFILE: the kernel call's own error. */
    if (got < 0 && r->limited && (got == -EINVAL || got == -EMFILE || got == -ENOMEM))
        return;
    if (got < 0 || got > max)
        fuzz_fail(r, "pollux_wait returned %d (max_events %d)", got, max);
    for (int i = 0; i < got; i++)
        check_kind(r, &ev[i]);
    check_unique(r, ev, got);
    struct reg pre[MAX_REGS];
    memcpy(pre, r->regs, sizeof pre);
    for (int i = 0; i < got; i++) {
        if (ev[i].kind == POLLUX_KIND_WAKE)
            check_wake_event(r, &ev[i]);
        else if (ev[i].kind == POLLUX_KIND_TIMER)
            check_timer_event(r, &ev[i]);
        else
            check_fd_event(r, &ev[i], before, after);
    }
    /* With RLIMIT_NOFILE below the set's size the kernel call (or an
     * emulation's poll(2)) may refuse: nothing is required then. */
    if (got < max && !r->limited)
        check_complete(r, ev, got, pre, before, after, t);
    if (got > 0)
        keep_batch(r, ev, got);
}

/* ---- pollux_event_current -------------------------------------------- */

/* Whether the model still has the source behind event i of the batch. */
static bool model_current(struct run *r, int i)
{
    const pollux_event *e = &r->batch[i];
    if (e->kind == POLLUX_KIND_FD) {
        const struct reg *g = model_reg(r, e->fd);
        return g != NULL && g->gen == r->batch_gen[i];
    }
    if (e->kind == POLLUX_KIND_TIMER) {
        const struct tmr *t = model_timer(r, e->fd);
        return t != NULL && t->gen == r->batch_gen[i];
    }
    return true; /* a wake is always current */
}

/*
 * After every operation: an unregister or timer_delete makes the events of
 * that source not current, and so does a new registration or timer that
 * took its number or id, and a settime makes the timer's not current;
 * modify, a fired ONESHOT and after_fork keep them current
 * (include/pollux.h). An unknown kind and a NULL poller
 * or event are never current.
 */
void model_check_current(struct run *r)
{
    for (int i = 0; i < r->nbatch; i++) {
        const pollux_event *e = &r->batch[i];
        int want = model_current(r, i), got = pollux_event_current(r->p, e);
        if (got != want)
            fuzz_fail(r, "pollux_event_current is %d for the event 0x%x of %d (kind %u, serial "
                      "%llu) of the last batch, the model says %d", got, e->events, e->fd,
                      e->kind, (unsigned long long)e->serial, want);
        pollux_event unknown = *e;
        unknown.kind = 0xffff;
        if (pollux_event_current(r->p, &unknown) != 0 || pollux_event_current(NULL, e) != 0)
            fuzz_fail(r, "pollux_event_current is not 0 for an unknown kind or a NULL poller");
    }
    if (pollux_event_current(r->p, NULL) != 0)
        fuzz_fail(r, "pollux_event_current(p, NULL) is not 0");
}

/* ---- pollux_fileno --------------------------------------------------- */

/* Something pollux_wait() must report: then the fileno polls readable. */
static bool certainly_ready(struct run *r)
{
    if (r->wake_pending)
        return true;
    for (int i = 0; i < MAX_TIMERS; i++)
        if (r->timers[i].live && r->timers[i].state == T_DUE)
            return true;
    short now[MAX_SLOTS];
    model_probe(r, now);
    for (int k = 0; k < MAX_REGS; k++)
        if (r->regs[k].used && required(r, &r->regs[k], now, now) != 0)
            return true;
    return false;
}

void model_fileno(struct run *r, int got)
{
    struct allowed a = { .n = 0 };
    if (!r->has_fileno) {
        allow(&a, -ENOTSUP);
    } else if (r->broken) {
        allow(&a, -EIO);
    } else if (got < 0 && r->limited) {
        /* The ready flag or a timer source it needs cannot be opened now
         * (docs/reference.md): is_allowed() accepts the errors of that. */
    } else if (got < 0 || model_number(r, got) != NUM_INTERNAL) {
        fuzz_fail(r, "pollux_fileno returned %d, not an open descriptor of the poller", got);
    } else {
        allow(&a, got);
    }
    expect(r, &a, got, "pollux_fileno");
    if (got < 0 || !certainly_ready(r))
        return;
    /* A due timer's kernel source fires asynchronously: give it time. */
    struct pollfd pfd = { .fd = got, .events = POLLIN };
    if (poll(&pfd, 1, 200) != 1)
        fuzz_fail(r, "pollux_fileno %d does not poll readable although wait has something to report",
                  got);
}

/*
 * docs/portability.md: epoll has a fileno; select, poll and /dev/poll do
 * not (-ENOTSUP); kqueue has one except over libkqueue, whose descriptor
 * never polls readable (-ENOTSUP there). Which kqueue this is only the
 * library knows, so a fresh poller's answer decides, within that table.
 */
bool model_fileno_probe(pollux_backend b, int got)
{
    bool ok;
    if (b == POLLUX_BACKEND_EPOLL)
        ok = got >= 0;
    else if (b == POLLUX_BACKEND_KQUEUE)
        ok = got >= 0 || got == -ENOTSUP;
    else
        ok = got == -ENOTSUP;
    if (!ok) {
        fprintf(stderr, "pollux-fuzz: %s, a fresh poller: pollux_fileno returned %d (%s), "
                "which docs/portability.md does not allow\n", pollux_backend_name(b), got,
                got < 0 ? strerror(-got) : "a descriptor");
        abort();
    }
    return got >= 0;
}

/* ---- timers ---------------------------------------------------------- */

struct tmr *model_timer(struct run *r, int id)
{
    for (int i = 0; i < MAX_TIMERS; i++)
        if (r->timers[i].live && r->timers[i].id == id)
            return &r->timers[i];
    return NULL;
}

static bool valid_clock(int clockid)
{
    return clockid == CLOCK_MONOTONIC || clockid == CLOCK_REALTIME || clockid == CLOCK_BOOTTIME;
}

void model_timer_create(struct run *r, int clockid, void *data, int got)
{
    if (!valid_clock(clockid)) {
        struct allowed a = { .n = 0 };
        allow(&a, -EINVAL);
        expect(r, &a, got, "pollux_timer_create");
        return;
    }
    if (got < 0 || model_timer(r, got) != NULL)
        fuzz_fail(r, "pollux_timer_create returned %d, not a new id", got);
    for (int i = 0; i < MAX_TIMERS; i++) {
        if (!r->timers[i].live) {
            r->timers[i] = (struct tmr){ .live = true, .id = got, .clockid = clockid, .data = data,
                                         .gen = ++r->next_gen };
            return;
        }
    }
    fuzz_fail(r, "model: timer table full");
}

static enum timer_state timer_state(int64_t initial, unsigned flags, int64_t now)
{
    if (initial == 0)
        return T_OFF;
    if (!(flags & POLLUX_TIMER_ABSTIME))
        return initial >= FAR_NS ? T_NEVER : T_MAYBE;
    if (initial <= now)
        return T_DUE;
    return initial - now >= FAR_NS ? T_NEVER : T_MAYBE;
}

void model_timer_settime(struct run *r, int id, int clockid, int64_t initial, int64_t interval,
                         unsigned flags, int64_t now, int got)
{
    (void)clockid;
    struct allowed a = { .n = 0 };
    struct tmr *t = model_timer(r, id);
    if (t == NULL)
        allow(&a, -ENOENT);
    else if (initial < 0 || interval < 0 || (flags & ~(POLLUX_TIMER_ABSTIME | POLLUX_TIMER_LOOPTIME)))
        allow(&a, -EINVAL);
    else
        allow(&a, 0);
    expect(r, &a, got, "pollux_timer_settime");
    if (got != 0)
        return;
    t->state = timer_state(initial, flags, now);
    t->interval = interval;
    /* Re-arming or disarming discards pending expirations, the ones the
     * caller's batch holds included: a new serial from now on. */
    t->gen = ++r->next_gen;
    t->serial = 0;
}

void model_timer_gettime(struct run *r, int id, bool want_remaining, int64_t remaining,
                         bool want_interval, int64_t interval, int got)
{
    struct allowed a = { .n = 0 };
    struct tmr *t = model_timer(r, id);
    allow(&a, t == NULL ? -ENOENT : 0);
    expect(r, &a, got, "pollux_timer_gettime");
    if (got != 0)
        return;
    if (want_interval && interval != t->interval)
        fuzz_fail(r, "timer %d: gettime interval %lld, set %lld", id, (long long)interval,
                  (long long)t->interval);
    if (!want_remaining)
        return;
    bool ok = remaining >= 0;
    if (t->state == T_OFF)
        ok = remaining == 0;
    else if (t->state == T_NEVER)
        ok = remaining > 0;
    if (!ok)
        fuzz_fail(r, "timer %d: gettime remaining %lld in state %d", id, (long long)remaining,
                  (int)t->state);
}

void model_timer_delete(struct run *r, int id, int got)
{
    struct allowed a = { .n = 0 };
    struct tmr *t = model_timer(r, id);
    allow(&a, t == NULL ? -ENOENT : 0);
    expect(r, &a, got, "pollux_timer_delete");
    if (got == 0)
        t->live = false;
}

/* ---- between backends ------------------------------------------------ */

/*
 * Where two backends ran the same operations with the same results, the
 * descriptors that had to be reported must have been reported with the
 * same READ and WRITE. select is left out: it reports hang-ups only
 * through the read and write sets (docs/portability.md).
 */
void model_compare(const struct run *a, const struct run *b)
{
    if (a->backend == POLLUX_BACKEND_SELECT || b->backend == POLLUX_BACKEND_SELECT)
        return;
    int n = a->ntrace < b->ntrace ? a->ntrace : b->ntrace;
    for (int i = 0; i < n; i++) {
        const struct trace_entry *x = &a->trace[i], *y = &b->trace[i];
        if (x->op != y->op)
            return;
        if (x->complete && y->complete && (x->read != y->read || x->write != y->write)) {
            fprintf(stderr, "pollux-fuzz: %s and %s disagree at operation %d: READ %llx/%llx, "
                    "WRITE %llx/%llx (slots)\n", pollux_backend_name(a->backend),
                    pollux_backend_name(b->backend), i, (unsigned long long)x->read,
                    (unsigned long long)y->read, (unsigned long long)x->write,
                    (unsigned long long)y->write);
            abort();
        }
        if (x->result != y->result)
            return; /* a documented difference (-ENOTSUP...): the states part */
    }
}
