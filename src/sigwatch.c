/*
 * sigwatch.c - a poller's signal watches (see sigwatch.h, docs/signals.md).
 *
 * Where the backend reports signals itself (kqueue's EVFILT_SIGNAL), its
 * reports add to each watch's pending count. Elsewhere sigreg.c keeps one
 * process-wide count of deliveries per signal; each watch remembers the
 * count it reported last, so two pollers watching one signal both report
 * it and nothing is consumed on anyone's behalf. The poller then watches
 * two descriptors: the shared source (a signalfd, or the channel the
 * handler writes) and its own channel, which whoever drains the shared
 * source signals for every other poller.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <errno.h>
#include <stdlib.h>

#include "changes.h"
#include "fdtable.h"
#include "sigreg.h"
#include "sigwatch.h"
#include "util.h"
#include "wake.h"

struct sigwatch {
    bool on;            /* the user's watch (pollux_signal_add) */
    int holds;          /* the core's own (childwatch.c's SIGCHLD) */
    void *data;
    unsigned long seen; /* sigreg's count when last reported */
    uint64_t pending;   /* the backend's reports not reported yet */
    unsigned long held_seen; /* the same two for the holders */
    uint64_t held_pending;
    uint32_t serial;    /* event.serial: bumped by every add of the signal */
};

struct pollux_signals {
    enum pollux_signal_source source;
    int count;     /* signals watched by the user or held by the core */
    int next;      /* the signal that goes first in the next collection */
    int source_fd; /* the shared source watched, or -1 */
    struct pollux_channel own;
    struct sigwatch w[POLLUX_NSIG];
};

/* Undo pollux_fdtable_watch_internal(). */
static void unwatch_internal(pollux *p, int fd)
{
    if (fd < 0 || fd >= p->fds_size || p->fds[fd].entry.role != FD_SIGNAL)
        return;
    struct fd_entry *e = &p->fds[fd].entry;
    if (e->kernel != 0)
        pollux_change(p, fd, e->kernel, 0);
    e->kernel = 0;
    e->role = e->closed_user ? FD_USER : FD_UNUSED;
    e->closed_user = 0;
}

static void unsubscribe(pollux *p, struct pollux_signals *s)
{
    if (s->source == POLLUX_SIGNAL_SOURCE_BACKEND)
        return;
    unwatch_internal(p, s->source_fd);
    unwatch_internal(p, s->own.read_fd);
    s->source_fd = -1;
    pollux_sigreg_unsubscribe(&s->own);
    pollux_channel_close(&s->own);
}

/* Watch the shared source and the poller's own channel. */
static int subscribe(pollux *p, struct pollux_signals *s)
{
    if (s->source == POLLUX_SIGNAL_SOURCE_BACKEND)
        return 0;
    int err = pollux_channel_open(&s->own);
    if (err < 0)
        return err;
    int fd = pollux_sigreg_subscribe(&s->own, s->source);
    if (fd < 0) {
        pollux_channel_close(&s->own);
        return fd;
    }
    err = pollux_fdtable_watch_internal(p, s->own.read_fd, FD_SIGNAL);
    if (err == 0 && (err = pollux_fdtable_watch_internal(p, fd, FD_SIGNAL)) == 0)
        s->source_fd = fd;
    if (err < 0)
        unsubscribe(p, s);
    return err;
}

static struct pollux_signals *signals_new(pollux *p)
{
    struct pollux_signals *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->source = p->ops->signal_source;
    s->source_fd = -1;
    s->next = 1;
    s->own.read_fd = s->own.write_fd = -1;
    return s;
}

/* The kernel side of a new watch, all or nothing. */
static int start(pollux *p, struct pollux_signals *s, int signo)
{
    int err = pollux_sigreg_acquire(signo, s->source);
    if (err < 0)
        return err;
    if (s->count == 0)
        err = subscribe(p, s);
    if (err == 0 && s->source == POLLUX_SIGNAL_SOURCE_BACKEND)
        err = p->ops->signal_watch(p->backend, signo, true);
    if (err < 0) {
        if (s->count == 0)
            unsubscribe(p, s);
        pollux_sigreg_release(signo);
    }
    return err;
}

static bool active(const struct sigwatch *w)
{
    return w->on || w->holds > 0;
}

/* The kernel side for a signal neither the user nor the core watched. */
static int activate(pollux *p, int signo)
{
    if (p->signals == NULL && (p->signals = signals_new(p)) == NULL)
        return -ENOMEM;
    p->core_sources = true;
    struct pollux_signals *s = p->signals;
    if (active(&s->w[signo]))
        return 0;
    int err = start(p, s, signo);
    if (err == 0)
        s->count++;
    return err;
}

/* ... and its end, once neither watches it. */
static void deactivate(pollux *p, int signo)
{
    struct pollux_signals *s = p->signals;
    if (active(&s->w[signo]))
        return;
    if (s->source == POLLUX_SIGNAL_SOURCE_BACKEND && p->backend != NULL)
        p->ops->signal_watch(p->backend, signo, false);
    if (--s->count == 0)
        unsubscribe(p, s);
    pollux_sigreg_release(signo);
}

int pollux_signals_add(pollux *p, int signo, void *data)
{
    int err = pollux_sigreg_check(signo);
    if (err < 0)
        return err;
    if (p->signals != NULL && p->signals->w[signo].on)
        return -EEXIST;
    /* Read before the signal is caught: every delivery from then on counts. */
    unsigned long seen = pollux_sigreg_hits(signo);
    if ((err = activate(p, signo)) < 0)
        return err;
    struct sigwatch *w = &p->signals->w[signo];
    w->on = true;
    w->data = data;
    w->seen = seen;
    w->pending = 0;
    w->serial = pollux_next_serial(w->serial);
    return 0;
}

int pollux_signals_remove(pollux *p, int signo)
{
    struct pollux_signals *s = p->signals;
    if (signo <= 0 || signo >= POLLUX_NSIG || s == NULL || !s->w[signo].on)
        return -ENOENT;
    /* The serial stays: a later add gets the next one (event_current). */
    s->w[signo].on = false;
    s->w[signo].data = NULL;
    deactivate(p, signo);
    return 0;
}

int pollux_signals_hold(pollux *p, int signo)
{
    unsigned long seen = pollux_sigreg_hits(signo);
    bool first = p->signals == NULL || p->signals->w[signo].holds == 0;
    int err = activate(p, signo);
    if (err < 0)
        return err;
    struct sigwatch *w = &p->signals->w[signo];
    if (first) {
        w->held_seen = seen;
        w->held_pending = 0;
    }
    w->holds++;
    return 0;
}

void pollux_signals_unhold(pollux *p, int signo)
{
    struct pollux_signals *s = p->signals;
    if (s == NULL || s->w[signo].holds == 0)
        return;
    s->w[signo].holds--;
    deactivate(p, signo);
}

bool pollux_signals_held_news(const pollux *p, int signo)
{
    const struct pollux_signals *s = p->signals;
    if (s == NULL || s->w[signo].holds == 0)
        return false;
    const struct sigwatch *w = &s->w[signo];
    if (s->source == POLLUX_SIGNAL_SOURCE_BACKEND)
        return w->held_pending != 0;
    return pollux_sigreg_hits(signo) != w->held_seen;
}

bool pollux_signals_take_held(pollux *p, int signo)
{
    bool news = pollux_signals_held_news(p, signo);
    if (news) {
        struct sigwatch *w = &p->signals->w[signo];
        w->held_seen = pollux_sigreg_hits(signo);
        w->held_pending = 0;
    }
    return news;
}

void pollux_signals_free(pollux *p)
{
    struct pollux_signals *s = p->signals;
    for (int signo = 1; s != NULL && signo < POLLUX_NSIG; signo++) {
        if (!active(&s->w[signo]))
            continue;
        s->w[signo].on = false;
        s->w[signo].holds = 0;
        deactivate(p, signo);
    }
    free(s);
    p->signals = NULL;
}

bool pollux_signals_watching(const pollux *p)
{
    return p->signals != NULL && p->signals->count > 0;
}

bool pollux_signals_current(const pollux *p, int signo, uint64_t serial)
{
    const struct pollux_signals *s = p->signals;
    return s != NULL && signo > 0 && signo < POLLUX_NSIG && s->w[signo].on
           && s->w[signo].serial == serial;
}

/* Deliveries of a watch not reported yet. */
static uint64_t news(const struct pollux_signals *s, int signo)
{
    const struct sigwatch *w = &s->w[signo];
    if (!w->on)
        return 0;
    if (s->source == POLLUX_SIGNAL_SOURCE_BACKEND)
        return w->pending;
    return (unsigned long)(pollux_sigreg_hits(signo) - w->seen);
}

bool pollux_signals_due(const pollux *p)
{
    const struct pollux_signals *s = p->signals;
    for (int signo = 1; s != NULL && s->count > 0 && signo < POLLUX_NSIG; signo++)
        if (news(s, signo) != 0)
            return true;
    return false;
}

/* In turn from s->next, so that a small max_events reaches every signal. */
int pollux_signals_collect(pollux *p, pollux_event *out, int max)
{
    struct pollux_signals *s = p->signals;
    int n = 0, start = s != NULL ? s->next : 1;
    for (int i = 0; s != NULL && i < POLLUX_NSIG - 1 && n < max; i++) {
        int signo = 1 + (start - 1 + i) % (POLLUX_NSIG - 1);
        uint64_t count = news(s, signo);
        if (count == 0)
            continue;
        struct sigwatch *w = &s->w[signo];
        w->seen += (unsigned long)count;
        w->pending = 0;
        out[n++] = (pollux_event){ .fd = signo, .events = POLLUX_SIGNAL, .count = count,
                                   .data = w->data, .kind = POLLUX_KIND_SIGNAL,
                                   .serial = w->serial };
        s->next = signo % (POLLUX_NSIG - 1) + 1;
    }
    return n;
}

void pollux_signals_fd_ready(pollux *p, int fd)
{
    struct pollux_signals *s = p->signals;
    if (s == NULL)
        return;
    if (fd == s->own.read_fd)
        pollux_channel_drain(&s->own);
    else
        pollux_sigreg_dispatch(fd, &s->own);
}

void pollux_signals_fired(pollux *p, int signo, uint32_t count)
{
    struct pollux_signals *s = p->signals;
    if (s == NULL || signo <= 0 || signo >= POLLUX_NSIG)
        return;
    if (s->w[signo].on)
        s->w[signo].pending += count;
    if (s->w[signo].holds > 0)
        s->w[signo].held_pending += count;
}

/*
 * After fork() the shared sources and the poller's channel are the
 * parent's too, and a kqueue is not inherited: make this process's own.
 * The internal descriptors' table entries are already gone.
 */
int pollux_signals_rebuild(pollux *p)
{
    struct pollux_signals *s = p->signals;
    if (s == NULL || s->count == 0)
        return 0;
    int err = pollux_sigreg_after_fork();
    if (err < 0)
        return err;
    if (s->source != POLLUX_SIGNAL_SOURCE_BACKEND) {
        pollux_sigreg_unsubscribe(&s->own);
        pollux_channel_close(&s->own);
        s->source_fd = -1;
        return subscribe(p, s);
    }
    for (int signo = 1; signo < POLLUX_NSIG && err == 0; signo++)
        if (active(&s->w[signo]))
            err = p->ops->signal_watch(p->backend, signo, true);
    return err;
}
