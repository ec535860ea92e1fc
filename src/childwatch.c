/*
 * childwatch.c - a poller's child-process watches (see childwatch.h and
 * docs/signals.md).
 *
 * A watch learns of the exit from a pidfd watched like the poller's other
 * internal descriptors (Linux), from the backend's own filter (kqueue's
 * EVFILT_PROC), or elsewhere from SIGCHLD, held through sigwatch.c, after
 * which every watched pid is asked with waitpid(pid, WNOHANG). Only then
 * is the child reaped, with waitpid(pid): never any other process, and
 * the status goes into the event. A watch ends with its report; it is forgotten by the next wait,
 * so that the event stays current while the batch is handled.
 *
 * A pid is watched by one poller of the process at a time: only one can
 * reap it.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
/* POLLUX_NO_PIDFD: the build of tests/emul's /dev/poll, whose systems have
 * none, takes the SIGCHLD way. */
#if defined(HAVE_PIDFD_OPEN) && !defined(POLLUX_NO_PIDFD)
#define USE_PIDFD 1
#include <sys/syscall.h>
#endif

#include "changes.h"
#include "childwatch.h"
#include "fdtable.h"
#include "sigwatch.h"
#include "util.h"

enum { CHILD_FREE = 0, CHILD_WATCHED, CHILD_DUE, CHILD_REPORTED };

struct childwatch {
    pid_t pid;
    int state;   /* CHILD_* */
    int fd;      /* its pidfd, or -1 */
    uint32_t gen; /* the slot's generation: event.serial's high half */
    void *data;
};

struct pollux_children {
    struct childwatch *w;
    int size;
    int live;     /* slots not CHILD_FREE */
    int due;      /* slots CHILD_DUE */
    pid_t owner;  /* the process whose children these are */
    bool sigchld; /* SIGCHLD held: the way without pidfds */
};

/* ---- the process's watched pids ------------------------------------- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t *taken;
static int taken_count, taken_size;
static pid_t taken_owner;

/* Claim pid for one poller: 0, -EBUSY, -ENOMEM. */
static int take_pid(pid_t pid)
{
    pthread_mutex_lock(&lock);
    if (taken_owner != getpid()) {
        taken_count = 0; /* the parent's children are not this process's */
        taken_owner = getpid();
    }
    int err = 0;
    for (int i = 0; i < taken_count && err == 0; i++)
        if (taken[i] == pid)
            err = -EBUSY;
    if (err == 0)
        err = pollux_grow_array((void **)&taken, &taken_size, taken_count + 1, sizeof *taken);
    if (err == 0)
        taken[taken_count++] = pid;
    pthread_mutex_unlock(&lock);
    return err;
}

static void give_pid(pid_t pid)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; taken_owner == getpid() && i < taken_count; i++) {
        if (taken[i] == pid) {
            taken[i] = taken[--taken_count];
            break;
        }
    }
    if (taken_count == 0) {
        free(taken);
        taken = NULL;
        taken_size = 0;
    }
    pthread_mutex_unlock(&lock);
}

/* ---- kernel sources --------------------------------------------------- */

/* A pidfd for pid, or -errno (-ENOSYS: not this kernel). */
static int pidfd_for(pid_t pid)
{
#ifdef USE_PIDFD
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    return fd >= 0 ? fd : -errno;
#else
    (void)pid;
    return -ENOSYS;
#endif
}

static void unwatch_fd(pollux *p, struct childwatch *c)
{
    if (c->fd < 0)
        return;
    if (c->fd < p->fds_size && p->fds[c->fd].entry.role == FD_CHILD) {
        struct fd_entry *e = &p->fds[c->fd].entry;
        if (e->kernel != 0)
            pollux_change(p, c->fd, e->kernel, 0);
        e->kernel = 0;
        e->role = e->closed_user ? FD_USER : FD_UNUSED;
        e->closed_user = 0;
    }
    close(c->fd);
    c->fd = -1;
}

/* No pidfd: SIGCHLD, held before the child is first asked (a watch starts
 * due), so that an exit between the two cannot go unnoticed. 1 or -errno. */
static int hold_sigchld(pollux *p)
{
    struct pollux_children *s = p->children;
    if (!s->sigchld) {
        int err = pollux_signals_hold(p, SIGCHLD);
        if (err < 0)
            return err;
        s->sigchld = true;
    }
    return 1;
}

static void unhold_sigchld_if_idle(pollux *p)
{
    struct pollux_children *s = p->children;
    if (s->sigchld && s->live == 0) {
        pollux_signals_unhold(p, SIGCHLD);
        s->sigchld = false;
    }
}

/*
 * Watch pid's exit in the kernel: 0, 1 when it has exited already (the
 * kernel would not watch a zombie), or -errno. A pidfd where the kernel
 * has them; the backend's own filter on kqueue.
 */
static int watch_exit(pollux *p, struct childwatch *c)
{
    if (p->ops->child_watch != NULL) {
        int err = p->ops->child_watch(p->backend, c->pid, true);
        return err == -ESRCH ? 1 : err;
    }
    int fd = pidfd_for(c->pid);
    if (fd == -ENOSYS)
        return hold_sigchld(p);
    if (fd < 0)
        return fd;
    int err = pollux_fdtable_watch_internal(p, fd, FD_CHILD);
    if (err < 0) {
        close(fd);
        return err;
    }
    c->fd = fd;
    return 0;
}

static void unwatch_exit(pollux *p, struct childwatch *c)
{
    if (p->ops->child_watch != NULL && p->backend != NULL && c->state == CHILD_WATCHED)
        p->ops->child_watch(p->backend, c->pid, false);
    unwatch_fd(p, c);
}

/* ---- the poller's watches --------------------------------------------- */

static struct childwatch *find(const pollux *p, pid_t pid)
{
    struct pollux_children *s = p->children;
    for (int i = 0; s != NULL && i < s->size; i++)
        if (s->w[i].state != CHILD_FREE && s->w[i].pid == pid)
            return &s->w[i];
    return NULL;
}

/* A free slot (its generation kept), or NULL. */
static struct childwatch *free_slot(pollux *p)
{
    if (p->children == NULL) {
        p->children = calloc(1, sizeof *p->children);
        if (p->children == NULL)
            return NULL;
        p->children->owner = getpid();
        p->core_sources = true;
    }
    struct pollux_children *s = p->children;
    for (int i = 0; i < s->size; i++)
        if (s->w[i].state == CHILD_FREE)
            return &s->w[i];
    int old = s->size;
    if (pollux_grow_array((void **)&s->w, &s->size, old + 1, sizeof *s->w) < 0)
        return NULL;
    memset(s->w + old, 0, (size_t)(s->size - old) * sizeof *s->w);
    return &s->w[old];
}

static void drop(pollux *p, struct childwatch *c)
{
    struct pollux_children *s = p->children;
    unwatch_exit(p, c);
    if (c->state == CHILD_DUE)
        s->due--;
    if (c->state != CHILD_REPORTED)
        give_pid(c->pid);
    c->state = CHILD_FREE;
    c->data = NULL;
    s->live--;
    unhold_sigchld_if_idle(p);
}

/* 0 when pid is a child of this process, with *exited set when it has
 * exited already (not reaped: WNOWAIT), or -ECHILD. */
static int check_child(pid_t pid, bool *exited)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
        return -errno;
    *exited = info.si_pid == pid;
    return 0;
}

int pollux_children_add(pollux *p, pid_t pid, void *data)
{
    struct childwatch *c = find(p, pid);
    if (c != NULL && c->state != CHILD_REPORTED)
        return -EEXIST;
    if (c != NULL)
        drop(p, c); /* reaped: the pid now names another child */
    bool exited = false;
    int err = check_child(pid, &exited);
    if (err < 0)
        return err;
    if ((c = free_slot(p)) == NULL)
        return -ENOMEM;
    if ((err = take_pid(pid)) < 0)
        return err;
    *c = (struct childwatch){ .pid = pid, .fd = -1, .gen = pollux_next_serial(c->gen), .data = data };
    err = exited ? 1 : watch_exit(p, c);
    if (err < 0) {
        give_pid(pid);
        unhold_sigchld_if_idle(p);
        return err;
    }
    c->state = err == 1 ? CHILD_DUE : CHILD_WATCHED;
    p->children->due += c->state == CHILD_DUE;
    p->children->live++;
    return 0;
}

int pollux_children_remove(pollux *p, pid_t pid)
{
    struct childwatch *c = find(p, pid);
    if (c == NULL)
        return -ENOENT;
    drop(p, c);
    return 0;
}

void pollux_children_free(pollux *p)
{
    struct pollux_children *s = p->children;
    for (int i = 0; s != NULL && i < s->size; i++)
        if (s->w[i].state != CHILD_FREE)
            drop(p, &s->w[i]);
    if (s != NULL)
        free(s->w);
    free(s);
    p->children = NULL;
}

bool pollux_children_watching(const pollux *p)
{
    return p->children != NULL && p->children->live > 0;
}

bool pollux_children_current(const pollux *p, int pid, uint64_t serial)
{
    const struct pollux_children *s = p->children;
    uint64_t slot = serial & 0xffffffffu;
    if (s == NULL || slot >= (uint64_t)s->size)
        return false;
    const struct childwatch *c = &s->w[slot];
    return c->state != CHILD_FREE && c->pid == pid && c->gen == serial >> 32;
}

bool pollux_children_due(const pollux *p)
{
    const struct pollux_children *s = p->children;
    return s != NULL
           && (s->due > 0 || (s->sigchld && pollux_signals_held_news(p, SIGCHLD)));
}

static void mark_due(struct pollux_children *s, struct childwatch *c)
{
    if (c->state == CHILD_WATCHED) {
        c->state = CHILD_DUE;
        s->due++;
    }
}

void pollux_children_fd_ready(pollux *p, int fd)
{
    struct pollux_children *s = p->children;
    for (int i = 0; s != NULL && i < s->size; i++)
        if (s->w[i].fd == fd && s->w[i].state == CHILD_WATCHED)
            mark_due(s, &s->w[i]);
}

void pollux_children_exited(pollux *p, int pid)
{
    struct childwatch *c = find(p, pid);
    if (c != NULL)
        mark_due(p->children, c);
}

/*
 * Reap a due child: 1 with its status, 0 when it has not exited after all
 * (watched on). A child another part of the program reaped (waitpid(-1))
 * is reported with status -1: it is gone, its status with it.
 */
static int reap(struct childwatch *c, int *status)
{
    pid_t r;
    do
        r = waitpid(c->pid, status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == c->pid)
        return 1;
    if (r < 0) {
        *status = -1;
        return 1;
    }
    return 0;
}

/* A SIGCHLD came: any watched child may have exited. */
static void sigchld_news(pollux *p)
{
    struct pollux_children *s = p->children;
    if (!s->sigchld || !pollux_signals_take_held(p, SIGCHLD))
        return;
    for (int i = 0; i < s->size; i++)
        mark_due(s, &s->w[i]);
}

int pollux_children_collect(pollux *p, pollux_event *out, int max)
{
    struct pollux_children *s = p->children;
    int n = 0;
    if (s != NULL)
        sigchld_news(p);
    for (int i = 0; s != NULL && s->due > 0 && i < s->size && n < max; i++) {
        struct childwatch *c = &s->w[i];
        int status;
        if (c->state != CHILD_DUE)
            continue;
        s->due--;
        if (!reap(c, &status)) {
            c->state = CHILD_WATCHED;
            continue;
        }
        unwatch_fd(p, c);
        give_pid(c->pid);
        c->state = CHILD_REPORTED;
        out[n++] = (pollux_event){ .fd = c->pid, .events = POLLUX_CHILD, .data = c->data,
                                   .kind = POLLUX_KIND_CHILD, .status = status,
                                   .serial = (uint64_t)c->gen << 32 | (uint64_t)i };
    }
    return n;
}

void pollux_children_forget_reported(pollux *p)
{
    struct pollux_children *s = p->children;
    for (int i = 0; s != NULL && i < s->size; i++)
        if (s->w[i].state == CHILD_REPORTED)
            drop(p, &s->w[i]);
}

/* In the process that made them, the watches go on with new kernel state;
 * the internal descriptors' table entries are already gone. */
int pollux_children_rebuild(pollux *p)
{
    struct pollux_children *s = p->children;
    int err = 0;
    for (int i = 0; s != NULL && i < s->size && err == 0; i++) {
        struct childwatch *c = &s->w[i];
        if (c->fd >= 0)
            close(c->fd); /* in a child, a copy: the parent keeps its own */
        c->fd = -1;
        if (c->state == CHILD_FREE)
            continue;
        if (s->owner != getpid()) {
            /* A parent's children are not this process's to wait for. */
            c->state = CHILD_FREE;
            s->live--;
            continue;
        }
        if (c->state == CHILD_WATCHED && (err = watch_exit(p, c)) == 1) {
            err = 0;
            mark_due(s, c);
        }
    }
    if (s != NULL && s->owner != getpid()) {
        s->due = 0;
        s->owner = getpid();
        unhold_sigchld_if_idle(p);
    }
    return err;
}
