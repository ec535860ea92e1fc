/*
 * kqueue_emul.c - TEST-ONLY emulation of FreeBSD kqueue(2)/kevent(2) on
 * Linux, following the FreeBSD man page and kern_event.c's observable
 * behaviour. docs/emulation.md lists what is and is not covered.
 *
 * Shape
 *   The kqueue descriptor is an epoll instance (the "outer" epoll), so it
 *   polls readable when something is pending and close() works. Inside it:
 *     - rd_ep, wr_ep: two inner epolls holding one registration per
 *       EVFILT_READ / EVFILT_WRITE knote. One registration per knote lets
 *       a descriptor's read and write knotes differ in mode (one EV_CLEAR,
 *       the other level-triggered) and be disabled separately.
 *     - one timerfd per EVFILT_TIMER knote;
 *     - one signalfd for the process, shared by every EVFILT_SIGNAL knote;
 *     - one pidfd per EVFILT_PROC knote (NOTE_EXIT only);
 *     - an eventfd that is readable while the emulation's own ready queue
 *       is not empty (EVFILT_USER triggers, undelivered edges).
 *
 *   Level-triggered knotes are registered EPOLLONESHOT and re-armed
 *   (EPOLL_CTL_MOD) after each report; the kernel re-checks readiness on
 *   re-arm. A registration we can no longer reach (the user closed the
 *   number while another reference kept the file open) therefore fires at
 *   most once and never spins. EV_CLEAR knotes are registered EPOLLET.
 *
 *   Every registration carries a generation number besides the fd, so a
 *   report from a registration left behind by a closed and reused number
 *   is recognised and dropped.
 *
 * Locking: one mutex per kqueue, taken with every signal blocked so that
 * a signal handler calling kevent() (e.g. a NOTE_TRIGGER wake) cannot
 * deadlock against its own thread; never held while blocking.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "emul_fd.h"

#include <sys/event.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* poll_now() hands poll(2) bits to code that reads epoll bits. */
_Static_assert(POLLIN == EPOLLIN && POLLOUT == EPOLLOUT && POLLERR == EPOLLERR &&
               POLLHUP == EPOLLHUP && POLLRDHUP == EPOLLRDHUP, "poll and epoll bits differ");

/* Knote status bits. */
#define KN_DISABLED 0x01u /* EV_DISABLE or EV_DISPATCH: kept, not reported */
#define KN_QUEUED   0x02u /* on the ready queue */
#define KN_ARMED    0x04u /* has a kernel registration (inner epoll / outer for timers) */
#define KN_VNODE    0x08u /* epoll refused the fd (regular file...): polled on each scan */
#define KN_REARM    0x10u /* level-triggered and fetched: re-arm at the end of the pass */
#define KN_SPENT    0x20u /* EV_CLEAR vnode knote reported: quiet until modified */

/* Flags the kernel keeps in a knote; the action bits are not stored. */
#define EV_ACTIONS (EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE)

/* Outer epoll tags: the low byte is the kind, the high 32 bits a
 * generation (timers). */
enum { TAG_RD = 1, TAG_WR, TAG_EVFD, TAG_TIMER, TAG_SIGNAL, TAG_PROC };

/* A socket error is reported in fflags with EV_EOF. Linux has no way to
 * read it without clearing it (SO_ERROR clears), and clearing would hide
 * it from the user's own getsockopt(); we report this placeholder. */
#define EMUL_SOCKET_ERROR EIO

struct knote {
    struct kevent kev;     /* ident, filter, flags (without actions), udata */
    unsigned int sfflags;  /* fflags and data as last given by the user */
    int64_t sdata;
    unsigned status;       /* KN_* */
    uint32_t gen;          /* generation in this knote's registration tag */

    /* EVFILT_READ / EVFILT_WRITE */
    mode_t ftype;          /* S_IFMT of the file at EV_ADD */
    dev_t dev;             /* identity of the file, to notice that the */
    ino_t ino;             /* number was closed and now names another */
    uint32_t revents;      /* epoll bits of the last fetch ... */
    uint64_t seen;         /* ... and the pass that fetched them */

    int tfd;               /* EVFILT_TIMER: the timerfd, or -1 */
    bool triggered;        /* EVFILT_USER: NOTE_TRIGGER seen, not yet cleared */
    uint64_t hits_seen;    /* EVFILT_SIGNAL: the process's count when last reported */
    int pfd;               /* EVFILT_PROC: a pidfd in the outer epoll, or -1 */

    struct knote *next;    /* kq->others (timer, user) or kq->vnodes list */
    struct knote *qprev, *qnext; /* ready queue */
    struct knote *rnext;   /* re-arm list of one pass */
};

struct kq {
    struct emul_obj obj;   /* obj.fd: the outer epoll, the user's descriptor */
    pid_t pid;             /* creator; a forked child gets EBADF */
    pthread_mutex_t lock;
    int rd_ep, wr_ep;      /* inner epolls */
    int evfd;              /* readable while the ready queue is not empty */
    bool evfd_set;
    uint32_t next_gen;
    uint64_t seq;          /* pass counter, see knote.seen */
    struct knote **rd, **wr; /* fd knotes by descriptor */
    int nfd;               /* length of rd[] and wr[] */
    struct knote *others;  /* EVFILT_TIMER, EVFILT_USER and EVFILT_SIGNAL knotes */
    bool sig_watched;      /* the process's signalfd is in the outer epoll */
    int sig_evfd;          /* written when another kqueue read the signalfd, or -1 */
    struct kq *sig_next;   /* the kqueues with a sig_evfd */
    struct knote *vnodes;  /* fd knotes epoll refused */
    struct knote *qhead, *qtail;
    struct knote *rhead, *rtail;
};

static const struct emul_ops kq_ops;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool is_fd_filter(short filter)
{
    return filter == EVFILT_READ || filter == EVFILT_WRITE;
}

/* ---- ready queue ---------------------------------------------------- */

static void q_push(struct kq *kq, struct knote *kn)
{
    if (kn->status & KN_QUEUED)
        return;
    kn->status |= KN_QUEUED;
    kn->qnext = NULL;
    kn->qprev = kq->qtail;
    if (kq->qtail)
        kq->qtail->qnext = kn;
    else
        kq->qhead = kn;
    kq->qtail = kn;
}

static void q_remove(struct kq *kq, struct knote *kn)
{
    if (!(kn->status & KN_QUEUED))
        return;
    kn->status &= ~KN_QUEUED;
    if (kn->qprev)
        kn->qprev->qnext = kn->qnext;
    else
        kq->qhead = kn->qnext;
    if (kn->qnext)
        kn->qnext->qprev = kn->qprev;
    else
        kq->qtail = kn->qprev;
    kn->qprev = kn->qnext = NULL;
}

/* Make the kqueue descriptor poll readable exactly while the ready queue
 * holds something (FreeBSD: while kq_count > 0). */
static void sync_evfd(struct kq *kq)
{
    bool want = kq->qhead != NULL;
    uint64_t v = 1;

    if (want && !kq->evfd_set) {
        if (emul_sys_write(kq->evfd, &v, sizeof v) == sizeof v)
            kq->evfd_set = true;
    } else if (!want && kq->evfd_set) {
        if (read(kq->evfd, &v, sizeof v) == sizeof v || errno == EAGAIN)
            kq->evfd_set = false;
    }
}

/* ---- knote lists ---------------------------------------------------- */

static void list_remove(struct knote **head, struct knote *kn)
{
    for (struct knote **p = head; *p; p = &(*p)->next) {
        if (*p == kn) {
            *p = kn->next;
            kn->next = NULL;
            return;
        }
    }
}

/* The slot of an fd knote; grows the tables when grow is set. NULL when
 * fd is beyond the tables (and grow is not set or memory ran out). */
static struct knote **fd_slot(struct kq *kq, short filter, int fd, bool grow)
{
    if (fd >= kq->nfd) {
        int n = kq->nfd ? kq->nfd : 64;
        struct knote **rd, **wr;
        if (!grow)
            return NULL;
        while (n <= fd)
            n *= 2;
        rd = realloc(kq->rd, (size_t)n * sizeof *rd);
        if (rd == NULL)
            return NULL;
        kq->rd = rd;
        wr = realloc(kq->wr, (size_t)n * sizeof *wr);
        if (wr == NULL)
            return NULL;
        kq->wr = wr;
        memset(rd + kq->nfd, 0, (size_t)(n - kq->nfd) * sizeof *rd);
        memset(wr + kq->nfd, 0, (size_t)(n - kq->nfd) * sizeof *wr);
        kq->nfd = n;
    }
    return filter == EVFILT_READ ? &kq->rd[fd] : &kq->wr[fd];
}

static struct knote *other_find(struct kq *kq, uintptr_t ident, short filter)
{
    for (struct knote *kn = kq->others; kn; kn = kn->next)
        if (kn->kev.ident == ident && kn->kev.filter == filter)
            return kn;
    return NULL;
}

static struct knote *timer_by_gen(struct kq *kq, uint32_t gen)
{
    for (struct knote *kn = kq->others; kn; kn = kn->next)
        if (kn->kev.filter == EVFILT_TIMER && kn->gen == gen)
            return kn;
    return NULL;
}

/* ---- kernel registrations ------------------------------------------ */

static int inner_ep(const struct kq *kq, const struct knote *kn)
{
    return kn->kev.filter == EVFILT_READ ? kq->rd_ep : kq->wr_ep;
}

static uint32_t fd_epoll_events(const struct knote *kn)
{
    uint32_t ev = kn->kev.filter == EVFILT_READ ? EPOLLIN | EPOLLRDHUP : EPOLLOUT;
    return ev | ((kn->kev.flags & EV_CLEAR) ? EPOLLET : EPOLLONESHOT);
}

/* Register (or re-arm) an fd knote. The kernel checks readiness right
 * away, which is FreeBSD's "re-evaluate the filter on every change".
 * Returns 0 or an errno. */
static int fd_arm(struct kq *kq, struct knote *kn)
{
    int fd = (int)kn->kev.ident;
    struct epoll_event ev = {
        .events = fd_epoll_events(kn),
        .data.u64 = ((uint64_t)kn->gen << 32) | (uint32_t)fd,
    };
    int op = (kn->status & KN_ARMED) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

    if (kn->status & KN_VNODE)
        return 0;
    kn->status &= ~KN_REARM;
    for (int tries = 0; tries < 2; tries++) {
        if (epoll_ctl(inner_ep(kq, kn), op, fd, &ev) == 0) {
            kn->status |= KN_ARMED;
            return 0;
        }
        /* Our idea of the registration is stale (the kernel dropped it when
         * the file was closed, or a dup kept it): switch operation. */
        if (errno == ENOENT && op == EPOLL_CTL_MOD)
            op = EPOLL_CTL_ADD;
        else if (errno == EEXIST && op == EPOLL_CTL_ADD)
            op = EPOLL_CTL_MOD;
        else
            break;
    }
    if (errno == EPERM && !(kn->status & KN_ARMED)) {
        /* A device epoll refuses (/dev/null) has no poll support; on
         * FreeBSD its driver has no kqueue filter either and devfs says
         * ENODEV. */
        if (kn->ftype != S_IFREG && kn->ftype != S_IFDIR)
            return ENODEV;
        /* Regular files and directories: epoll refuses them; FreeBSD's
         * vnode filters answer at once. Polled on every scan instead. */
        kn->status |= KN_VNODE;
        kn->next = kq->vnodes;
        kq->vnodes = kn;
        return 0;
    }
    kn->status &= ~KN_ARMED;
    return errno;
}

static void fd_disarm(struct kq *kq, struct knote *kn)
{
    if (kn->status & KN_ARMED)
        epoll_ctl(inner_ep(kq, kn), EPOLL_CTL_DEL, (int)kn->kev.ident, NULL);
    kn->status &= ~(KN_ARMED | KN_REARM);
}

static void timer_arm(struct kq *kq, struct knote *kn)
{
    struct epoll_event ev = { .events = EPOLLIN,
                              .data.u64 = ((uint64_t)kn->gen << 32) | TAG_TIMER };
    if (!(kn->status & KN_ARMED) && epoll_ctl(kq->obj.fd, EPOLL_CTL_ADD, kn->tfd, &ev) == 0)
        kn->status |= KN_ARMED;
}

static void timer_disarm(struct kq *kq, struct knote *kn)
{
    if (kn->status & KN_ARMED)
        epoll_ctl(kq->obj.fd, EPOLL_CTL_DEL, kn->tfd, NULL);
    kn->status &= ~KN_ARMED;
}

/* ---- EVFILT_TIMER --------------------------------------------------- */

/* Translate (fflags, data) as kqueue(2) defines them into a timerfd
 * setting. Returns 0 or EINVAL. */
static int timer_setting(unsigned fflags, int64_t data, bool oneshot,
                         struct itimerspec *its, int *clock, int *tflags)
{
    int64_t per_sec;
    struct timespec t;

    if (data < 0)
        return EINVAL;
    switch (fflags & (NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS)) {
    case NOTE_SECONDS:  per_sec = 1; break;
    case 0:
    case NOTE_MSECONDS: per_sec = 1000; break;
    case NOTE_USECONDS: per_sec = 1000000; break;
    case NOTE_NSECONDS: per_sec = 1000000000; break;
    default:            return EINVAL; /* more than one unit */
    }
    t.tv_sec = (time_t)(data / per_sec);
    t.tv_nsec = (long)((data % per_sec) * (1000000000 / per_sec));
    /* timerfd reads 0 as "disarm"; kqueue fires at once (an absolute time
     * in the past, a zero one-shot) or, for a zero period, every unit. */
    if (t.tv_sec == 0 && t.tv_nsec == 0) {
        if ((fflags & NOTE_ABSTIME) || oneshot)
            t.tv_nsec = 1;
        else if (per_sec == 1)
            t.tv_sec = 1;
        else
            t.tv_nsec = (long)(1000000000 / per_sec);
    }

    memset(its, 0, sizeof *its);
    its->it_value = t;
    if (fflags & NOTE_ABSTIME) {
        *clock = CLOCK_REALTIME;   /* follows wall-clock changes, like FreeBSD */
        *tflags = TFD_TIMER_ABSTIME;
    } else {
        *clock = CLOCK_MONOTONIC;
        *tflags = 0;
        if (!oneshot)
            its->it_interval = t; /* periodic unless EV_ONESHOT or NOTE_ABSTIME */
    }
    return 0;
}

/* FreeBSD's timer filter opens no descriptor: the timerfd standing in
 * for it (and the kqueue's inner descriptors) move out of the low
 * numbers, which a descriptor the user just closed would otherwise give
 * them (a register there must say EBADF).
 * Kept where it is when nothing is free up there (a low RLIMIT_NOFILE). */
static int move_high(int fd)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) < 0 || lim.rlim_cur < 128)
        return fd;
    rlim_t floor = lim.rlim_cur > INT_MAX ? INT_MAX / 2 : lim.rlim_cur / 2;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, (int)floor);
    if (high < 0)
        return fd;
    emul_sys_close(fd);
    return high;
}

/* (Re)start a timer knote from its saved fflags/data: a new timerfd, so
 * any expirations not yet reported are discarded. */
static int timer_start(struct kq *kq, struct knote *kn)
{
    struct itimerspec its;
    int clock, tflags, fd;
    int err = timer_setting(kn->sfflags, kn->sdata, kn->kev.flags & EV_ONESHOT,
                            &its, &clock, &tflags);
    if (err)
        return err;
    fd = timerfd_create(clock, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0)
        return errno;
    fd = move_high(fd);
    if (timerfd_settime(fd, tflags, &its, NULL) < 0) {
        err = errno;
        emul_sys_close(fd);
        return err;
    }
    if (kn->tfd >= 0) {
        timer_disarm(kq, kn);
        emul_sys_close(kn->tfd);
    }
    kn->tfd = fd;
    q_remove(kq, kn);
    return 0;
}

/* ---- EVFILT_SIGNAL -------------------------------------------------- */

/* FreeBSD records a delivery in every kqueue with a knote for the signal,
 * whatever the disposition. Here, as in libkqueue, the signals with a
 * knote are blocked and read from one signalfd for the process: each
 * delivery is counted once in sig_hits[], and each knote reports the
 * count it has not seen; whoever reads the signalfd writes every other
 * kqueue's sig_evfd, so that one asleep in kevent() wakes up. Every
 * kevent() call blocks the watched signals in its thread (libkqueue
 * blocks them in the thread that adds the knote), and the last knote's
 * removal leaves them blocked, as libkqueue does. */
#define EMUL_NSIG 65
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static int sig_fd = -1; /* never closed: its number stays in the outer epolls */
static sigset_t sig_set;
static int sig_users[EMUL_NSIG];
static uint64_t sig_hits[EMUL_NSIG];
static struct kq *sig_kqs; /* every kqueue with a sig_evfd */

static void sig_drain_locked(const struct kq *self)
{
    struct signalfd_siginfo info[16];
    uint64_t one = 1;
    bool any = false;
    ssize_t n;

    if (sig_fd < 0)
        return;
    while ((n = read(sig_fd, info, sizeof info)) > 0) {
        for (ssize_t i = 0; i < n / (ssize_t)sizeof info[0]; i++)
            if (info[i].ssi_signo < EMUL_NSIG)
                sig_hits[info[i].ssi_signo]++;
        any = true;
    }
    for (struct kq *kq = sig_kqs; any && kq; kq = kq->sig_next)
        if (kq != self && write(kq->sig_evfd, &one, sizeof one) < 0)
            continue; /* full: readable anyway */
}

/* The kqueue's wake-up for deliveries another one read (once). */
static void sig_join_locked(struct kq *kq)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_SIGNAL };

    if (kq->sig_evfd >= 0)
        return;
    kq->sig_evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (kq->sig_evfd < 0)
        return;
    kq->sig_evfd = move_high(kq->sig_evfd);
    epoll_ctl(kq->obj.fd, EPOLL_CTL_ADD, kq->sig_evfd, &ev);
    kq->sig_next = sig_kqs;
    sig_kqs = kq;
}

static void sig_leave(struct kq *kq)
{
    pthread_mutex_lock(&sig_lock);
    for (struct kq **at = &sig_kqs; *at; at = &(*at)->sig_next) {
        if (*at == kq) {
            *at = kq->sig_next;
            break;
        }
    }
    pthread_mutex_unlock(&sig_lock);
    if (kq->sig_evfd >= 0)
        emul_sys_close(kq->sig_evfd);
}

static int sig_add(struct kq *kq, struct knote *kn)
{
    int signo = (int)kn->kev.ident;
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_SIGNAL };
    int err = 0;

    if (kn->kev.ident >= EMUL_NSIG || signo == 0 || signo == SIGKILL || signo == SIGSTOP)
        return EINVAL;
    pthread_mutex_lock(&sig_lock);
    sigaddset(&sig_set, signo);
    int fd = signalfd(sig_fd, &sig_set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        err = errno;
        if (sig_users[signo] == 0)
            sigdelset(&sig_set, signo);
    } else {
        sig_fd = move_high(fd);
        sig_users[signo]++;
        sig_drain_locked(kq); /* what was pending before the knote is not its news */
        kn->hits_seen = sig_hits[signo];
        sig_join_locked(kq);
    }
    pthread_mutex_unlock(&sig_lock);
    if (err == 0 && !kq->sig_watched && epoll_ctl(kq->obj.fd, EPOLL_CTL_ADD, sig_fd, &ev) == 0)
        kq->sig_watched = true;
    return err;
}

static void sig_del(struct knote *kn)
{
    int signo = (int)kn->kev.ident;

    pthread_mutex_lock(&sig_lock);
    if (--sig_users[signo] == 0) {
        sigdelset(&sig_set, signo);
        signalfd(sig_fd, &sig_set, 0);
    }
    pthread_mutex_unlock(&sig_lock);
}

/* The signals some knote watches stay blocked in the caller's mask. */
static void sig_keep_blocked(sigset_t *mask)
{
    pthread_mutex_lock(&sig_lock);
    for (int signo = 1; signo < EMUL_NSIG; signo++)
        if (sig_users[signo] > 0)
            sigaddset(mask, signo);
    pthread_mutex_unlock(&sig_lock);
}

/* Queue this kqueue's signal knotes with deliveries they have not seen. */
static void sig_scan(struct kq *kq)
{
    if (!kq->sig_watched)
        return;
    uint64_t count;
    if (kq->sig_evfd >= 0 && read(kq->sig_evfd, &count, sizeof count) < 0)
        count = 0; /* nothing written: fine */
    pthread_mutex_lock(&sig_lock);
    sig_drain_locked(kq);
    for (struct knote *kn = kq->others; kn; kn = kn->next)
        if (kn->kev.filter == EVFILT_SIGNAL && !(kn->status & KN_DISABLED)
            && sig_hits[kn->kev.ident] != kn->hits_seen)
            q_push(kq, kn);
    pthread_mutex_unlock(&sig_lock);
}


/* ---- EVFILT_PROC ---------------------------------------------------- */

/* NOTE_EXIT through a pidfd, readable once the process has exited; the
 * status is read without reaping (WNOWAIT), as libkqueue does, so that
 * the program's waitpid() still gets it. A process that does not exist
 * is ESRCH. Other NOTE_* flags are accepted and never reported. */
static int proc_start(struct kq *kq, struct knote *kn)
{
    struct epoll_event ev = { .events = EPOLLIN,
                              .data.u64 = ((uint64_t)kn->gen << 32) | TAG_PROC };
    int fd;

    if (kn->kev.ident == 0 || kn->kev.ident > INT_MAX)
        return ESRCH;
    fd = (int)syscall(SYS_pidfd_open, (pid_t)kn->kev.ident, 0);
    if (fd < 0)
        return errno == ENOSYS ? EINVAL : ESRCH;
    kn->pfd = move_high(fd);
    if (epoll_ctl(kq->obj.fd, EPOLL_CTL_ADD, kn->pfd, &ev) < 0) {
        int err = errno;
        emul_sys_close(kn->pfd);
        kn->pfd = -1;
        return err;
    }
    return 0;
}

static struct knote *proc_by_gen(struct kq *kq, uint32_t gen)
{
    for (struct knote *kn = kq->others; kn; kn = kn->next)
        if (kn->kev.filter == EVFILT_PROC && kn->gen == gen)
            return kn;
    return NULL;
}

/* The wait status of an exited process (0 when it is not our child). */
static int64_t proc_status(pid_t pid)
{
    siginfo_t info;

    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0 || info.si_pid != pid)
        return 0;
    if (info.si_code == CLD_EXITED)
        return (info.si_status & 0xff) << 8;
    return (info.si_status & 0x7f) | (info.si_code == CLD_DUMPED ? 0x80 : 0);
}

/* ---- knote life cycle ----------------------------------------------- */

static void kn_free(struct kq *kq, struct knote *kn)
{
    q_remove(kq, kn);
    if (is_fd_filter(kn->kev.filter)) {
        struct knote **slot = fd_slot(kq, kn->kev.filter, (int)kn->kev.ident, false);
        fd_disarm(kq, kn);
        if (kn->status & KN_VNODE)
            list_remove(&kq->vnodes, kn);
        if (slot && *slot == kn)
            *slot = NULL;
    } else {
        if (kn->tfd >= 0) {
            timer_disarm(kq, kn);
            emul_sys_close(kn->tfd);
        }
        if (kn->kev.filter == EVFILT_SIGNAL)
            sig_del(kn);
        if (kn->pfd >= 0) {
            epoll_ctl(kq->obj.fd, EPOLL_CTL_DEL, kn->pfd, NULL);
            emul_sys_close(kn->pfd);
        }
        list_remove(&kq->others, kn);
    }
    free(kn);
}

/* Start reporting an enabled knote: FreeBSD evaluates the filter on
 * every add, modify and enable, and queues the knote if it is active. */
static int kn_activate(struct kq *kq, struct knote *kn)
{
    switch (kn->kev.filter) {
    case EVFILT_READ:
    case EVFILT_WRITE: {
        int err = fd_arm(kq, kn);
        kn->status &= ~KN_SPENT;
        if (err == 0 && (kn->status & KN_VNODE))
            q_push(kq, kn); /* evaluated by the next pass; the kq polls readable */
        return err;
    }
    case EVFILT_TIMER:
        timer_arm(kq, kn);
        return 0;
    case EVFILT_SIGNAL:
        return 0; /* sig_scan() queues it when it has news */
    case EVFILT_PROC:
        return 0; /* its pidfd in the outer epoll does */
    default: /* EVFILT_USER */
        if (kn->triggered)
            q_push(kq, kn);
        return 0;
    }
}

static void kn_disable(struct kq *kq, struct knote *kn)
{
    kn->status |= KN_DISABLED;
    q_remove(kq, kn);
    if (is_fd_filter(kn->kev.filter))
        fd_disarm(kq, kn);
    else if (kn->kev.filter == EVFILT_TIMER)
        timer_disarm(kq, kn); /* keeps counting; reported when enabled */
}

/* EVFILT_USER's touch (FreeBSD filt_usertouch, EVENT_REGISTER). */
static void user_touch(struct knote *kn, const struct kevent *kev)
{
    unsigned ff = kev->fflags & NOTE_FFLAGSMASK;

    if (kev->fflags & NOTE_TRIGGER)
        kn->triggered = true;
    switch (kev->fflags & NOTE_FFCTRLMASK) {
    case NOTE_FFAND:  kn->sfflags &= ff; break;
    case NOTE_FFOR:   kn->sfflags |= ff; break;
    case NOTE_FFCOPY: kn->sfflags = ff; break;
    default:          break; /* NOTE_FFNOP */
    }
    kn->sdata = kev->data;
}

static struct knote *kn_new(struct kq *kq, const struct kevent *kev, unsigned flags)
{
    struct knote *kn = calloc(1, sizeof *kn);
    if (kn == NULL)
        return NULL;
    kn->kev = *kev;
    kn->kev.flags = (unsigned short)(flags & ~EV_ACTIONS);
    kn->kev.fflags = 0;
    kn->kev.data = 0;
    kn->sfflags = kev->fflags;
    kn->sdata = kev->data;
    kn->gen = ++kq->next_gen;
    kn->tfd = -1;
    kn->pfd = -1;
    if (flags & EV_DISABLE)
        kn->status |= KN_DISABLED;
    return kn;
}

/* Changes to an existing knote (anything but EV_DELETE): like FreeBSD,
 * udata and the filter's fflags/data are always replaced; EV_ONESHOT,
 * EV_CLEAR and EV_DISPATCH keep their values from the first EV_ADD. */
static int kn_modify(struct kq *kq, struct knote *kn, const struct kevent *kev, unsigned flags)
{
    kn->kev.udata = kev->udata;
    if (kn->kev.filter == EVFILT_USER) {
        user_touch(kn, kev);
    } else if (kn->kev.filter == EVFILT_TIMER) {
        /* Only a re-add restarts the timer (FreeBSD filt_timertouch). */
        if (flags & EV_ADD) {
            unsigned old_ff = kn->sfflags;
            int64_t old_data = kn->sdata;
            int err;
            kn->sfflags = kev->fflags;
            kn->sdata = kev->data;
            if ((err = timer_start(kq, kn)) != 0) {
                kn->sfflags = old_ff;
                kn->sdata = old_data;
                return err;
            }
        }
    } else {
        kn->sfflags = kev->fflags;
        kn->sdata = kev->data;
    }

    if (flags & EV_ENABLE)
        kn->status &= ~KN_DISABLED;
    else if (flags & EV_DISABLE)
        kn_disable(kq, kn);
    return (kn->status & KN_DISABLED) ? 0 : kn_activate(kq, kn);
}

/* ---- applying one change -------------------------------------------- */

static int change_fd(struct kq *kq, const struct kevent *kev, unsigned flags)
{
    struct knote **slot, *kn;
    struct stat st;
    int fd, err;

    if (kev->ident > INT_MAX)
        return EBADF;
    fd = (int)kev->ident;
    slot = fd_slot(kq, kev->filter, fd, false);
    kn = slot ? *slot : NULL;

    /* FreeBSD looks the descriptor up first, for every action, and
     * close() removed its knotes: a closed number is EBADF, a reused one
     * has no knote. We learn of the close only here, so drop what is
     * left of the old file. */
    if (fstat(fd, &st) < 0) {
        if (kn)
            kn_free(kq, kn);
        return EBADF;
    }
    if (kn && (kn->dev != st.st_dev || kn->ino != st.st_ino)) {
        kn_free(kq, kn);
        kn = NULL;
    }
    if (kn == NULL) {
        if (!(flags & EV_ADD))
            return ENOENT;
        slot = fd_slot(kq, kev->filter, fd, true);
        if (slot == NULL || (kn = kn_new(kq, kev, flags)) == NULL)
            return ENOMEM;
        kn->ftype = st.st_mode & S_IFMT;
        kn->dev = st.st_dev;
        kn->ino = st.st_ino;
        *slot = kn;
        if (!(kn->status & KN_DISABLED) && (err = kn_activate(kq, kn)) != 0) {
            kn_free(kq, kn);
            return err;
        }
        return 0;
    }
    if (flags & EV_DELETE) {
        kn_free(kq, kn);
        return 0;
    }
    return kn_modify(kq, kn, kev, flags);
}

static int change_other(struct kq *kq, const struct kevent *kev, unsigned flags)
{
    struct knote *kn = other_find(kq, kev->ident, kev->filter);
    int err;

    if (kn == NULL) {
        if (!(flags & EV_ADD))
            return ENOENT;
        if ((kn = kn_new(kq, kev, flags)) == NULL)
            return ENOMEM;
        if (kev->filter == EVFILT_TIMER) {
            if ((err = timer_start(kq, kn)) != 0) {
                free(kn);
                return err;
            }
        } else if (kev->filter == EVFILT_SIGNAL) {
            if ((err = sig_add(kq, kn)) != 0) {
                free(kn);
                return err;
            }
        } else if (kev->filter == EVFILT_PROC) {
            if ((err = proc_start(kq, kn)) != 0) {
                free(kn);
                return err;
            }
        } else {
            /* A new user knote starts from no fflags, then applies the
             * change's operation; NOTE_TRIGGER may fire it at once. */
            kn->sfflags = 0;
            user_touch(kn, kev);
        }
        kn->next = kq->others;
        kq->others = kn;
        if (!(kn->status & KN_DISABLED))
            kn_activate(kq, kn);
        return 0;
    }
    if (flags & EV_DELETE) {
        kn_free(kq, kn);
        return 0;
    }
    return kn_modify(kq, kn, kev, flags);
}

static int apply_change(struct kq *kq, const struct kevent *kev)
{
    unsigned flags = kev->flags;

    switch (kev->filter) {
    case EVFILT_READ:
    case EVFILT_WRITE:
        return change_fd(kq, kev, flags);
    case EVFILT_TIMER:
    case EVFILT_USER:
    case EVFILT_SIGNAL:
    case EVFILT_PROC:
        return change_other(kq, kev, flags);
    default:
        return EINVAL;
    }
}

/* ---- collecting and reporting events -------------------------------- */

static void fetch_inner(struct kq *kq, int ep, short filter, int room)
{
    struct epoll_event ev[64];

    /* In chunks until the room is used or nothing more is ready: every
     * registration is EPOLLONESHOT or edge, so none comes back twice.
     * What close() would have removed on FreeBSD takes no room: it would
     * keep a ready knote behind it from this call. */
    while (room > 0) {
        int want = room < 64 ? room : 64, taken = 0;
        int n = epoll_wait(ep, ev, want, 0);

        for (int i = 0; i < n; i++) {
            int fd = (int)(uint32_t)ev[i].data.u64;
            uint32_t gen = (uint32_t)(ev[i].data.u64 >> 32);
            struct knote **slot = fd_slot(kq, filter, fd, false);
            struct knote *kn = slot ? *slot : NULL;
            struct stat st;

            if (kn == NULL || kn->gen != gen)
                continue; /* left behind by a closed and reused number */
            if (fstat(fd, &st) < 0 || st.st_dev != kn->dev || st.st_ino != kn->ino) {
                kn_free(kq, kn); /* closed, maybe reused: see fd_event */
                continue;
            }
            taken++;
            kn->revents = ev[i].events;
            kn->seen = kq->seq;
            if (!(kn->kev.flags & EV_CLEAR))
                kn->status |= KN_REARM; /* the EPOLLONESHOT registration is spent */
            q_push(kq, kn);
        }
        if (n < want)
            break;
        room -= taken;
    }
}

/* Move what the kernel has ready onto the ready queue, without waiting. */
static void fetch(struct kq *kq, int room)
{
    struct epoll_event ev[8];
    int n = epoll_wait(kq->obj.fd, ev, 8, 0);

    for (int i = 0; i < n; i++) {
        uint64_t tag = ev[i].data.u64;
        struct knote *kn;

        switch (tag & 0xff) {
        case TAG_RD:
            fetch_inner(kq, kq->rd_ep, EVFILT_READ, room);
            break;
        case TAG_WR:
            fetch_inner(kq, kq->wr_ep, EVFILT_WRITE, room);
            break;
        case TAG_TIMER:
            kn = timer_by_gen(kq, (uint32_t)(tag >> 32));
            if (kn && !(kn->status & KN_DISABLED))
                q_push(kq, kn);
            break;
        case TAG_PROC:
            kn = proc_by_gen(kq, (uint32_t)(tag >> 32));
            if (kn && !(kn->status & KN_DISABLED))
                q_push(kq, kn);
            break;
        default: /* TAG_EVFD: the queue itself is what is pending */
            break;
        }
    }
    for (struct knote *kn = kq->vnodes; kn; kn = kn->next)
        if (!(kn->status & (KN_DISABLED | KN_SPENT)))
            q_push(kq, kn);
}

/* Readiness of an fd right now, in epoll bits; for edges fetched by an
 * earlier pass (FreeBSD re-runs the filter before reporting). */
static uint32_t poll_now(const struct knote *kn)
{
    struct pollfd p = { .fd = (int)kn->kev.ident,
                        .events = kn->kev.filter == EVFILT_READ ? POLLIN | POLLRDHUP : POLLOUT };
    if (poll(&p, 1, 0) != 1 || (p.revents & POLLNVAL))
        return 0;
    return (uint32_t)p.revents;
}

static int64_t read_data(const struct knote *kn)
{
    int fd = (int)kn->kev.ident, n = 0, listening = 0;
    socklen_t len = sizeof listening;

    if (ioctl(fd, FIONREAD, &n) == 0 && n > 0)
        return n;
    /* A listening socket: FreeBSD reports the backlog length; Linux has
     * no FIONREAD for it, so say one connection is waiting. */
    if (kn->ftype == S_IFSOCK &&
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening)
        return 1;
    return 0;
}

static int64_t write_data(const struct knote *kn)
{
    int fd = (int)kn->kev.ident, size = 0, queued = 0;
    socklen_t len = sizeof size;

    if (kn->ftype == S_IFSOCK) {
        if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) < 0 ||
            ioctl(fd, TIOCOUTQ, &queued) < 0)
            return 0;
    } else if (kn->ftype == S_IFIFO) {
        if ((size = fcntl(fd, F_GETPIPE_SZ)) < 0 || ioctl(fd, FIONREAD, &queued) < 0)
            return 0;
    }
    return size > queued ? size - queued : 0;
}

/* A regular file (or another descriptor epoll refuses), like FreeBSD's
 * vnode filters: readable while the offset is before the end (or always
 * with NOTE_FILE_POLL), always writable. */
static bool vnode_event(const struct knote *kn, struct kevent *ev)
{
    int fd = (int)kn->kev.ident;
    struct stat st;
    off_t off;

    if (kn->kev.filter == EVFILT_WRITE || kn->ftype != S_IFREG)
        return true;
    if (fstat(fd, &st) < 0 || (off = lseek(fd, 0, SEEK_CUR)) < 0)
        return (kn->sfflags & NOTE_FILE_POLL) != 0;
    ev->data = st.st_size > off ? st.st_size - off : 0;
    return ev->data > 0 || (kn->sfflags & NOTE_FILE_POLL);
}

enum verdict { FIRE, SKIP, GONE };

/* Build the report of an fd knote, or say why there is none. */
static enum verdict fd_event(struct kq *kq, struct knote *kn, struct kevent *ev)
{
    struct stat st;
    uint32_t rev;
    bool sock = kn->ftype == S_IFSOCK;

    /* The user closed the number (maybe reopened it) without telling us:
     * on FreeBSD close() has already removed the knote. */
    if (fstat((int)kn->kev.ident, &st) < 0 || st.st_dev != kn->dev || st.st_ino != kn->ino) {
        kn_free(kq, kn);
        return GONE;
    }
    if (kn->status & KN_VNODE)
        return vnode_event(kn, ev) ? FIRE : SKIP;

    rev = kn->seen == kq->seq ? kn->revents : poll_now(kn);
    if (kn->kev.filter == EVFILT_READ) {
        if (!(rev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
            return SKIP;
        ev->data = read_data(kn);
        if (rev & (EPOLLRDHUP | EPOLLHUP)) {
            ev->flags |= EV_EOF;
            if (sock && (rev & EPOLLERR))
                ev->fflags = EMUL_SOCKET_ERROR;
        }
    } else {
        if (!(rev & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
            return SKIP;
        ev->data = write_data(kn);
        /* Pipes say "reader gone" with EPOLLERR; sockets with EPOLLHUP. */
        if ((rev & EPOLLHUP) || (!sock && (rev & EPOLLERR))) {
            ev->flags |= EV_EOF;
            if (sock && (rev & EPOLLERR))
                ev->fflags = EMUL_SOCKET_ERROR;
        }
    }
    return FIRE;
}

static enum verdict kn_event(struct kq *kq, struct knote *kn, struct kevent *ev)
{
    uint64_t count;

    *ev = kn->kev;
    ev->fflags = 0;
    ev->data = 0;
    switch (kn->kev.filter) {
    case EVFILT_READ:
    case EVFILT_WRITE:
        return fd_event(kq, kn, ev);
    case EVFILT_TIMER:
        /* Expirations since the last report; the timerfd resets on read. */
        if (read(kn->tfd, &count, sizeof count) != sizeof count)
            return SKIP;
        ev->data = count > INT64_MAX ? INT64_MAX : (int64_t)count;
        return FIRE;
    case EVFILT_SIGNAL:
        /* Deliveries since the last report; signal knotes act EV_CLEAR. */
        pthread_mutex_lock(&sig_lock);
        count = sig_hits[kn->kev.ident] - kn->hits_seen;
        kn->hits_seen = sig_hits[kn->kev.ident];
        pthread_mutex_unlock(&sig_lock);
        ev->data = (int64_t)count;
        return count > 0 ? FIRE : SKIP;
    case EVFILT_PROC:
        /* FreeBSD: NOTE_EXIT ends the knote (EV_EOF | EV_ONESHOT). */
        ev->fflags = NOTE_EXIT;
        ev->data = proc_status((pid_t)kn->kev.ident);
        ev->flags |= EV_EOF | EV_ONESHOT;
        kn->kev.flags |= EV_ONESHOT;
        return FIRE;
    default: /* EVFILT_USER */
        if (!kn->triggered)
            return SKIP;
        ev->fflags = kn->sfflags;
        ev->data = kn->sdata;
        if (kn->kev.flags & EV_CLEAR)
            kn->triggered = false;
        return FIRE;
    }
}

static void rearm_later(struct kq *kq, struct knote *kn)
{
    kn->rnext = NULL;
    if (kq->rtail)
        kq->rtail->rnext = kn;
    else
        kq->rhead = kn;
    kq->rtail = kn;
}

/* What a report does to its knote (FreeBSD kqueue_scan). */
static void after_report(struct kq *kq, struct knote *kn)
{
    if (kn->kev.flags & EV_ONESHOT) {
        kn_free(kq, kn);
        return;
    }
    if (kn->kev.flags & EV_DISPATCH) {
        kn_disable(kq, kn);
        return;
    }
    switch (kn->kev.filter) {
    case EVFILT_USER:
        if (kn->triggered) /* no EV_CLEAR: stays active, back in line */
            q_push(kq, kn);
        break;
    case EVFILT_READ:
    case EVFILT_WRITE:
        if ((kn->status & KN_VNODE) && (kn->kev.flags & EV_CLEAR))
            kn->status |= KN_SPENT;
        else if (kn->status & KN_VNODE)
            q_push(kq, kn); /* level: stays pending, like FreeBSD's requeue */
        else if (kn->status & KN_REARM)
            rearm_later(kq, kn);
        break;
    default: /* EVFILT_TIMER: the timerfd reports the next expiration */
        break;
    }
}

/* Re-arm a level-triggered registration; the kernel re-queues it if the
 * descriptor is still ready. Failing with EBADF means the file is gone. */
static void rearm(struct kq *kq, struct knote *kn)
{
    if (fd_arm(kq, kn) == EBADF)
        kn_free(kq, kn);
}

/* One pass: fetch, report up to room events into out[], then hand the
 * reported level-triggered registrations back to the kernel. The
 * unreported ones stay at the head of the ready queue, ahead of whatever
 * the next pass fetches, as FreeBSD's kqueue_scan leaves them: handed
 * back too, they would come back behind a reported knote of the other
 * inner epoll, and a level-triggered read knote could starve a write
 * knote for good. */
static int pass(struct kq *kq, struct kevent *out, int room)
{
    int n = 0, budget = 0;
    struct knote *kn, *next;

    kq->seq++;
    sig_scan(kq);
    fetch(kq, room);
    for (kn = kq->qhead; kn; kn = kn->qnext)
        budget++; /* a knote re-queued by its report waits for the next call */

    while (n < room && budget-- > 0 && (kn = kq->qhead) != NULL) {
        struct kevent ev;
        enum verdict v;

        q_remove(kq, kn);
        if (kn->status & KN_DISABLED)
            continue;
        v = kn_event(kq, kn, &ev);
        if (v == FIRE) {
            out[n++] = ev;
            after_report(kq, kn);
        } else if (v == SKIP && (kn->status & KN_REARM)) {
            rearm(kq, kn);
        }
    }

    for (kn = kq->rhead; kn; kn = next) {
        next = kn->rnext;
        if (kn->status & KN_REARM)
            rearm(kq, kn);
    }
    kq->rhead = kq->rtail = NULL;
    sync_evfd(kq);
    return n;
}

/* ---- the API -------------------------------------------------------- */

static int fail(int err)
{
    errno = err;
    return -1;
}

static int kq_release(struct emul_obj *obj, bool close_fd)
{
    struct kq *kq = (struct kq *)obj;
    struct knote *kn, *next;
    int r = 0;

    /* Closing the epoll instances drops every registration at once; in a
     * forked child the epolls are shared with the parent, so nothing here
     * may call epoll_ctl(). */
    for (int fd = 0; fd < kq->nfd; fd++) {
        free(kq->rd[fd]);
        free(kq->wr[fd]);
    }
    for (kn = kq->others; kn; kn = next) {
        next = kn->next;
        if (kn->tfd >= 0)
            emul_sys_close(kn->tfd);
        if (kn->kev.filter == EVFILT_SIGNAL)
            sig_del(kn);
        if (kn->pfd >= 0)
            emul_sys_close(kn->pfd);
        free(kn);
    }
    free(kq->rd);
    free(kq->wr);
    emul_sys_close(kq->rd_ep);
    emul_sys_close(kq->wr_ep);
    emul_sys_close(kq->evfd);
    sig_leave(kq);
    if (close_fd && emul_sys_close(obj->fd) < 0)
        r = -errno;
    pthread_mutex_destroy(&kq->lock);
    free(kq);
    return r;
}

static const struct emul_ops kq_ops = {
    .write = NULL,
    .ioctl = NULL,
    .release = kq_release,
};

int kqueue(void)
{
    struct kq *kq = calloc(1, sizeof *kq);
    struct epoll_event ev = { .events = EPOLLIN };
    int err;

    if (kq == NULL)
        return fail(ENOMEM);
    kq->obj.ops = &kq_ops;
    kq->pid = getpid();
    kq->sig_evfd = -1;
    pthread_mutex_init(&kq->lock, NULL);
    kq->obj.fd = epoll_create1(EPOLL_CLOEXEC);
    kq->rd_ep = epoll_create1(EPOLL_CLOEXEC);
    kq->wr_ep = epoll_create1(EPOLL_CLOEXEC);
    kq->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (kq->obj.fd < 0 || kq->rd_ep < 0 || kq->wr_ep < 0 || kq->evfd < 0)
        goto fail;
    /* FreeBSD's kqueue() opens one descriptor: the others leave the low
     * numbers, which a number the user just closed would give them. */
    kq->rd_ep = move_high(kq->rd_ep);
    kq->wr_ep = move_high(kq->wr_ep);
    kq->evfd = move_high(kq->evfd);
    ev.data.u64 = TAG_RD;
    if (epoll_ctl(kq->obj.fd, EPOLL_CTL_ADD, kq->rd_ep, &ev) < 0)
        goto fail;
    ev.data.u64 = TAG_WR;
    if (epoll_ctl(kq->obj.fd, EPOLL_CTL_ADD, kq->wr_ep, &ev) < 0)
        goto fail;
    ev.data.u64 = TAG_EVFD;
    if (epoll_ctl(kq->obj.fd, EPOLL_CTL_ADD, kq->evfd, &ev) < 0)
        goto fail;
    if ((err = emul_fd_attach(&kq->obj)) < 0) {
        errno = -err;
        goto fail;
    }
    return kq->obj.fd;

fail:
    err = errno;
    for (int i = 0; i < 4; i++) {
        int fd = i == 0 ? kq->obj.fd : i == 1 ? kq->rd_ep : i == 2 ? kq->wr_ep : kq->evfd;
        if (fd >= 0)
            emul_sys_close(fd);
    }
    pthread_mutex_destroy(&kq->lock);
    free(kq);
    return fail(err);
}

/* Apply the changelist (FreeBSD kern_kevent_generic). Returns the number
 * of EV_ERROR/EV_RECEIPT entries stored, or -errno when a change failed
 * with no room to report it; *stop is set when processing must end there. */
static int apply_changes(struct kq *kq, const struct kevent *changes, int nchanges,
                         struct kevent *out, int nevents, bool *stop)
{
    int nerr = 0;

    *stop = false;
    for (int i = 0; i < nchanges; i++) {
        struct kevent kev = changes[i]; /* copied: out may alias changes */
        int err;

        if (kev.filter == 0)
            continue;
        kev.flags &= (unsigned short)~EV_SYSFLAGS;
        err = apply_change(kq, &kev);
        if (err == 0 && !(kev.flags & EV_RECEIPT))
            continue;
        if (nerr == nevents) {
            /* No room: an error fails the call; a receipt without room
             * just ends it (FreeBSD returns 0 then). */
            *stop = true;
            return err ? -err : nerr;
        }
        kev.flags = EV_ERROR;
        kev.data = err;
        out[nerr++] = kev;
    }
    return nerr;
}

int kevent(int kqfd, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents, const struct timespec *timeout)
{
    struct kq *kq = (struct kq *)emul_fd_get(kqfd, &kq_ops);
    int64_t deadline = INT64_MAX;
    sigset_t old;
    bool stop;
    int n;

    /* kqueues are not inherited across fork(2). */
    if (kq == NULL || kq->pid != getpid())
        return fail(EBADF);
    if (nchanges < 0 || nevents < 0)
        return fail(EINVAL);
    if ((nchanges > 0 && changelist == NULL) || (nevents > 0 && eventlist == NULL))
        return fail(EFAULT);
    if (timeout != NULL) {
        if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000)
            return fail(EINVAL);
        int64_t t = timeout->tv_sec > INT64_MAX / 1000000000 - 1
                        ? INT64_MAX / 2
                        : (int64_t)timeout->tv_sec * 1000000000 + timeout->tv_nsec;
        deadline = now_ns() + t;
    }

    emul_block_signals(&old);
    pthread_mutex_lock(&kq->lock);
    n = apply_changes(kq, changelist, nchanges, eventlist, nevents, &stop);
    sig_keep_blocked(&old);
    sync_evfd(kq);
    if (stop || n != 0 || nevents == 0) {
        /* Errors were reported (FreeBSD then skips the scan), or there is
         * no room for events. */
        pthread_mutex_unlock(&kq->lock);
        emul_restore_signals(&old);
        return n < 0 ? fail(-n) : n;
    }

    for (;;) {
        struct pollfd p = { .fd = kqfd, .events = POLLIN };
        struct timespec left, *tsp = NULL;
        int64_t now;
        int r, err;

        n = pass(kq, eventlist, nevents);
        if (n > 0)
            break;
        now = now_ns();
        if (now >= deadline)
            break;
        if (deadline != INT64_MAX) {
            left.tv_sec = (time_t)((deadline - now) / 1000000000);
            left.tv_nsec = (long)((deadline - now) % 1000000000);
            tsp = &left;
        }
        /* Wait unlocked, with the caller's signal mask, so that a signal
         * interrupts us (EINTR) and other threads can make changes. */
        pthread_mutex_unlock(&kq->lock);
        r = ppoll(&p, 1, tsp, &old);
        err = errno;
        pthread_mutex_lock(&kq->lock);
        if (r < 0) {
            pthread_mutex_unlock(&kq->lock);
            emul_restore_signals(&old);
            return fail(err);
        }
    }
    pthread_mutex_unlock(&kq->lock);
    emul_restore_signals(&old);
    return n;
}
