/*
 * sigreg.c - the process-wide side of signal watches (see sigreg.h and
 * docs/signals.md). Dispositions and the signal mask belong to the
 * process, not to a poller, and a signal is delivered once however many
 * pollers watch it: this file keeps one count of deliveries per signal,
 * which every poller compares with what it reported last, and wakes every
 * subscribed poller when it learns of new ones.
 *
 * Everything but the handler runs under `lock`; the handler touches only
 * an atomic counter and the handlers' channel (async-signal-safe).
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef HAVE_SIGNALFD
#include <sys/signalfd.h>
#endif

#include "sigreg.h"
#include "util.h"

struct sig_state {
    int users;                        /* watches of every poller */
    enum pollux_signal_source source; /* how they learn of deliveries */
    bool was_blocked;                 /* in the thread of the first watch */
    struct sigaction saved;           /* the action before it (HANDLER, BACKEND) */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t owner; /* the process the shared sources were made in */
static struct sig_state sigs[POLLUX_NSIG];
static atomic_ulong hits[POLLUX_NSIG];
/* Written by the handler. Opened with the first handled signal and kept
 * for the life of the process: a handler running in another thread while
 * the last watch goes must never write to a number closed and reused. */
static struct pollux_channel handler_chan = { .read_fd = -1, .write_fd = -1 };
static int sfd = -1; /* the signalfd for every blocked signal, or -1 */
static sigset_t sfd_set;
static struct pollux_channel **subs; /* the subscribed pollers' channels */
static int subs_count, subs_size;

static enum pollux_signal_source effective(enum pollux_signal_source source)
{
#ifndef HAVE_SIGNALFD
    if (source == POLLUX_SIGNAL_SOURCE_SIGNALFD)
        return POLLUX_SIGNAL_SOURCE_HANDLER;
#endif
    return source;
}

int pollux_sigreg_check(int signo)
{
    sigset_t set;
    sigemptyset(&set);
    if (signo <= 0 || signo >= POLLUX_NSIG || sigaddset(&set, signo) < 0)
        return -EINVAL; /* also the libc's own real-time signals */
    /* KILL and STOP cannot be caught; the faults return to the faulting
     * instruction, so counting them would loop (docs/signals.md). */
    switch (signo) {
    case SIGKILL: case SIGSTOP: case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL:
        return -EINVAL;
    default:
        return 0;
    }
}

/* Async-signal-safe: an atomic increment and pollux_channel_signal(). */
static void on_signal(int signo)
{
    if (signo > 0 && signo < POLLUX_NSIG)
        atomic_fetch_add(&hits[signo], 1);
    pollux_channel_signal(&handler_chan);
}

/* SIGCHLD over kqueue: SIG_IGN would have the system reap children
 * before anyone can wait for them, and hide the signal from kqueue. */
static void on_signal_ignored(int signo)
{
    (void)signo;
}

static bool is_blocked(int signo)
{
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    return sigismember(&now, signo) == 1;
}

/* Deliveries already pending for signo are consumed: unblocked with its
 * old disposition, they could kill the process. */
static void drain_and_unblock(int signo)
{
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    struct timespec zero = { 0, 0 };
    while (sigtimedwait(&one, NULL, &zero) == signo)
        continue;
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
}

static int set_action(int signo, void (*fn)(int), struct sigaction *saved)
{
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = fn;
    act.sa_flags = SA_RESTART;
    sigfillset(&act.sa_mask); /* a handler is never interrupted by another */
    return sigaction(signo, &act, saved) < 0 ? -errno : 0;
}

#ifdef HAVE_SIGNALFD
/* Add signo to (on) or drop it from the signalfd's set; the fd is opened
 * with the first signal and closed with the last. */
static int update_signalfd(int signo, bool on)
{
    on ? sigaddset(&sfd_set, signo) : sigdelset(&sfd_set, signo);
    if (!on && sigisemptyset(&sfd_set)) {
        close(sfd);
        sfd = -1;
        return 0;
    }
    int fd = signalfd(sfd, &sfd_set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        int err = -errno;
        on ? sigdelset(&sfd_set, signo) : sigaddset(&sfd_set, signo);
        return err;
    }
    sfd = fd;
    return 0;
}
#endif

/* The signal is blocked in the calling thread and read from the
 * signalfd; its disposition is left alone. */
static int setup_signalfd(int signo, struct sig_state *st)
{
#ifdef HAVE_SIGNALFD
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    st->was_blocked = is_blocked(signo);
    pthread_sigmask(SIG_BLOCK, &one, NULL);
    int err = update_signalfd(signo, true);
    if (err < 0 && !st->was_blocked)
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    return err;
#else
    (void)signo;
    (void)st;
    return -ENOTSUP;
#endif
}

static int setup(int signo, enum pollux_signal_source source, struct sig_state *st)
{
    int err;
    switch (source) {
    case POLLUX_SIGNAL_SOURCE_SIGNALFD:
        return setup_signalfd(signo, st);
    case POLLUX_SIGNAL_SOURCE_BACKEND:
        /* kqueue records a delivery whatever the disposition; without
         * SIG_IGN the default action (often: terminate) would run too.
         * The mask is restored on release where an emulation blocked it. */
        st->was_blocked = is_blocked(signo);
        return set_action(signo, signo == SIGCHLD ? on_signal_ignored : SIG_IGN, &st->saved);
    default:
        if (handler_chan.read_fd < 0 && (err = pollux_channel_open(&handler_chan)) < 0)
            return err;
        return set_action(signo, on_signal, &st->saved);
    }
}

static void teardown(int signo, struct sig_state *st)
{
    switch (st->source) {
    case POLLUX_SIGNAL_SOURCE_SIGNALFD:
#ifdef HAVE_SIGNALFD
        update_signalfd(signo, false); /* a removal cannot fail */
#endif
        if (!st->was_blocked)
            drain_and_unblock(signo);
        break;
    case POLLUX_SIGNAL_SOURCE_BACKEND:
        if (!st->was_blocked && is_blocked(signo))
            drain_and_unblock(signo);
        sigaction(signo, &st->saved, NULL);
        break;
    default:
        sigaction(signo, &st->saved, NULL);
        break;
    }
}

int pollux_sigreg_acquire(int signo, enum pollux_signal_source source)
{
    source = effective(source);
    pthread_mutex_lock(&lock);
    if (owner == 0)
        owner = getpid();
    struct sig_state *st = &sigs[signo];
    int err = 0;
    if (st->users > 0 && st->source != source)
        err = -EBUSY; /* docs/signals.md: one way per signal at a time */
    else if (st->users == 0)
        err = setup(signo, source, st);
    if (err == 0) {
        st->source = source;
        st->users++;
    }
    pthread_mutex_unlock(&lock);
    return err;
}

void pollux_sigreg_release(int signo)
{
    pthread_mutex_lock(&lock);
    struct sig_state *st = &sigs[signo];
    if (st->users > 0 && --st->users == 0)
        teardown(signo, st);
    pthread_mutex_unlock(&lock);
}

int pollux_sigreg_subscribe(struct pollux_channel *own, enum pollux_signal_source source)
{
    source = effective(source);
    pthread_mutex_lock(&lock);
    int fd = source == POLLUX_SIGNAL_SOURCE_SIGNALFD ? sfd : handler_chan.read_fd;
    int err = fd >= 0 ? 0 : -EIO; /* acquire() comes first and opens it */
    if (err == 0)
        err = pollux_grow_array((void **)&subs, &subs_size, subs_count + 1, sizeof *subs);
    if (err == 0)
        subs[subs_count++] = own;
    pthread_mutex_unlock(&lock);
    return err < 0 ? err : fd;
}

void pollux_sigreg_unsubscribe(struct pollux_channel *own)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < subs_count; i++) {
        if (subs[i] == own) {
            subs[i] = subs[--subs_count];
            break;
        }
    }
    if (subs_count == 0) {
        free(subs);
        subs = NULL;
        subs_size = 0;
    }
    pthread_mutex_unlock(&lock);
}

/* Count what the signalfd holds: every delivery it queued, once. */
static void drain_signalfd(void)
{
#ifdef HAVE_SIGNALFD
    struct signalfd_siginfo info[16];
    ssize_t n;
    do {
        n = read(sfd, info, sizeof info);
        for (ssize_t i = 0; i < n / (ssize_t)sizeof info[0]; i++)
            if (info[i].ssi_signo < POLLUX_NSIG)
                atomic_fetch_add(&hits[info[i].ssi_signo], 1);
    } while (n > 0 || (n < 0 && errno == EINTR));
#endif
}

void pollux_sigreg_dispatch(int source_fd, const struct pollux_channel *self)
{
    pthread_mutex_lock(&lock);
    if (source_fd == sfd && sfd >= 0)
        drain_signalfd();
    else if (source_fd == handler_chan.read_fd)
        pollux_channel_drain(&handler_chan);
    /* The others may be asleep on a source that is not readable any more. */
    for (int i = 0; i < subs_count; i++)
        if (subs[i] != self)
            pollux_channel_signal(subs[i]);
    pthread_mutex_unlock(&lock);
}

uint64_t pollux_sigreg_hits(int signo)
{
    return atomic_load(&hits[signo]);
}

/* Replace an inherited channel: the parent reads and writes it too. */
static int reopen_handler_channel(void)
{
    struct pollux_channel fresh;
    int err = pollux_channel_open(&fresh);
    if (err < 0)
        return err;
    struct pollux_channel old = handler_chan;
    handler_chan.write_fd = fresh.write_fd; /* for a handler running now */
    handler_chan.read_fd = fresh.read_fd;
    pollux_channel_close(&old);
    return 0;
}

int pollux_sigreg_after_fork(void)
{
    if (owner == 0 || owner == getpid())
        return 0;
    /* The thread that held the lock at fork() does not exist here. */
    pthread_mutex_init(&lock, NULL);
    subs_count = 0; /* each poller subscribes again in its after_fork */
    int err = handler_chan.read_fd >= 0 ? reopen_handler_channel() : 0;
#ifdef HAVE_SIGNALFD
    if (err == 0 && sfd >= 0) {
        int fd = signalfd(-1, &sfd_set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0)
            return -errno;
        close(sfd);
        sfd = fd;
    }
#endif
    if (err == 0)
        owner = getpid(); /* else tried again by the next after_fork */
    return err;
}
