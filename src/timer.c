/*
 * timer.c - the timer queue shared by every backend.
 *
 * Timers live in userspace: one 4-ary heap per clock (heap.c), so a
 * million timers cost no descriptors and O(log n) per add, cancel and
 * expiry. The earliest deadline of each heap arms one kernel timer source
 * (timer_source.h, a timerfd on Linux) that the backend watches; without
 * one, and for the monotonic heap until pollux_fileno() is asked for, the
 * wait's timeout is shortened instead (by_timeout()). Expired timers wait on a
 * FIFO "due" list until pollux_wait() has room to report them, which keeps
 * deadline order and lets timers share max_events fairly with I/O.
 * docs/timers.md explains the design.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdtable.h"
#include "heap.h"
#include "internal.h"
#include "timer.h"
#include "timer_source.h"
#include "util.h"

/* With no kernel source, an absolute wall-clock deadline is looked at
 * again at least this often, to notice the clock being set. */
#define WALL_CLOCK_RECHECK_NS 1000000000LL

/*
 * One queue per clock a deadline can be measured on. A relative
 * CLOCK_REALTIME timer is not affected by setting the clock (POSIX, and
 * timerfd), so it lives on the monotonic queue; only absolute wall-clock
 * deadlines need the realtime one.
 */
enum { QUEUE_MONOTONIC, QUEUE_BOOTTIME, QUEUE_REALTIME, QUEUE_COUNT };

struct clock_queue {
    clockid_t clock;
    struct pollux_heap heap;
    int64_t now;            /* the clock as the last expiry read it */
    bool loop_time_used;    /* a POLLUX_TIMER_LOOPTIME timer used now: keep it fresh */
    int source_fd;          /* kernel timer source, -1 until needed */
    /* by_timeout() but for nesting, kept up to date so that an arm reads
     * one flag: the wait's timeout can cover this queue (timeout_capable)
     * and no source is open. */
    bool timeout_capable, timeout_only;
    bool source_failed;     /* cannot be opened here: bound the timeout instead */
    int64_t armed_deadline; /* what source_fd is set to; INT64_MAX when not set */
};

/* 40 bytes: a deleted timer's due_next links the free list, and the
 * deadline shares its word with the pending count, so that a timer costs
 * 40 + 12 (its heap pair) + 4 (its heap position) bytes. */
struct timer {
    int64_t interval;     /* 0: one-shot */
    union {
        /* On the due list (due): the expirations not reported yet. */
        uint64_t pending;
        /* Otherwise, while armed: the deadline. Its heap node's key is at
         * or before it: a reset that moves the deadline later only stores
         * it here, and expire_queue() moves the node when its old key
         * comes up (lazy re-keying), so that a keepalive reset touches no
         * heap node. A due timer's deadline is its node's key. */
        int64_t deadline;
    };
    void *data;
    int due_prev, due_next; /* links of the due list, -1 at its ends; when
                             * deleted, due_next is the next free id */
    /* event.serial: the id's generation, bumped by every create that
     * hands the id out and by every settime, kept by delete, so that an
     * event of a deleted timer is told from one of the timer that reuses
     * its id, and an expiration returned before a re-arm is seen to be
     * one the re-arm discarded. */
    uint32_t serial;
    int8_t queue;         /* QUEUE_*, or -1 when disarmed */
    int8_t clock_queue;   /* the queue of the timer's clock for ABSTIME */
    int8_t relative_queue; /* for a relative time: relative wall-clock time
                            * ignores clock changes, so it counts on the
                            * monotonic queue */
    uint8_t in_use : 1;
    uint8_t due : 1;      /* on the due list: pending is the word's meaning */
};

struct pollux_timers {
    struct timer *timers;
    int timers_size;
    int ids_used;          /* ids 0 .. ids_used-1 have been handed out */
    int free_first;        /* the last deleted id, reused first; -1: none */

    struct clock_queue queues[QUEUE_COUNT];

    int due_first, due_last; /* expired, not yet reported: oldest first */
};

/*
 * The monotonic queue needs no timerfd while nobody polls pollux_fileno():
 * the wait's own timeout (ns-precise with epoll_pwait2, ppoll, pselect)
 * ends it, so a wake-up is one syscall instead of three (the wait, the
 * timerfd's read and its re-arm). Boot-time and wall-clock deadlines keep
 * their timerfd: a timeout neither counts suspended time nor notices the
 * wall clock being set. Once a source is open it stays in use.
 */
static bool timeout_capable(const pollux *p, int q)
{
    return q == QUEUE_MONOTONIC && p->ops->timer_source == POLLUX_TIMER_SOURCE_TIMERFD;
}

static struct pollux_timers *wheel_new(const pollux *p)
{
    struct pollux_timers *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->due_first = w->due_last = w->free_first = -1;
    static const clockid_t clocks[QUEUE_COUNT] = {
        [QUEUE_MONOTONIC] = CLOCK_MONOTONIC,
#ifdef CLOCK_BOOTTIME
        [QUEUE_BOOTTIME] = CLOCK_BOOTTIME,
#else
        [QUEUE_BOOTTIME] = CLOCK_MONOTONIC,
#endif
        [QUEUE_REALTIME] = CLOCK_REALTIME,
    };
    for (int q = 0; q < QUEUE_COUNT; q++) {
        w->queues[q].clock = clocks[q];
        pollux_heap_init(&w->queues[q].heap);
        w->queues[q].source_fd = -1;
        w->queues[q].armed_deadline = INT64_MAX;
        w->queues[q].timeout_capable = w->queues[q].timeout_only = timeout_capable(p, q);
    }
    return w;
}

static void close_sources(struct pollux_timers *w)
{
    for (int q = 0; q < QUEUE_COUNT; q++) {
        if (w->queues[q].source_fd >= 0)
            close(w->queues[q].source_fd);
        w->queues[q].source_fd = -1;
        w->queues[q].timeout_only = w->queues[q].timeout_capable;
        w->queues[q].source_failed = false;
        w->queues[q].armed_deadline = INT64_MAX;
    }
}

void pollux_timers_free(pollux *p)
{
    struct pollux_timers *w = p->timers;
    if (w == NULL)
        return;
    close_sources(w);
    for (int q = 0; q < QUEUE_COUNT; q++)
        pollux_heap_free(&w->queues[q].heap);
    free(w->timers);
    free(w);
    p->timers = NULL;
}

/* The core is about to drop its kernel state: only close our descriptors,
 * never tell the old backend, whose kernel object a parent may share. */
void pollux_timers_before_rebuild(pollux *p)
{
    if (p->timers != NULL)
        close_sources(p->timers);
}

/* now + delta without overflowing: a far deadline is simply "never". */
static int64_t add_saturated(int64_t now, int64_t delta)
{
#if defined(__GNUC__)
    int64_t sum;
    return __builtin_add_overflow(now, delta, &sum) ? INT64_MAX : sum; /* one add, one jump */
#else
    return delta > INT64_MAX - now ? INT64_MAX : now + delta;
#endif
}

/* The first deadline + k * interval after now, k >= 1, saturated. */
static int64_t next_period(int64_t deadline, int64_t interval, int64_t now, uint64_t *periods)
{
    uint64_t k = (uint64_t)((now - deadline) / interval) + 1;
    *periods = k;
    if ((uint64_t)interval > (uint64_t)(INT64_MAX - deadline) / k)
        return INT64_MAX;
    return deadline + (int64_t)k * interval;
}

/* ---- expiry ----------------------------------------------------------- */

static void due_append(struct pollux_timers *w, int id)
{
    struct timer *t = &w->timers[id];
    t->due_prev = w->due_last;
    t->due_next = -1;
    if (w->due_last >= 0)
        w->timers[w->due_last].due_next = id;
    else
        w->due_first = id;
    w->due_last = id;
}

static void due_unlink(struct pollux_timers *w, int id)
{
    struct timer *t = &w->timers[id];
    if (t->due_prev >= 0)
        w->timers[t->due_prev].due_next = t->due_next;
    else
        w->due_first = t->due_next;
    if (t->due_next >= 0)
        w->timers[t->due_next].due_prev = t->due_prev;
    else
        w->due_last = t->due_prev;
    t->due_prev = t->due_next = -1;
}

/* Move every timer of queue q whose deadline is <= now to the due ring. */
static void expire_queue(struct pollux_timers *w, int q)
{
    struct clock_queue *cq = &w->queues[q];
    if (cq->heap.count == 0 && !cq->loop_time_used)
        return;
    int64_t now = pollux_clock_now_ns(cq->clock);
    cq->now = now;
    int64_t deadline;
    while (cq->heap.count > 0 && (deadline = pollux_heap_top_deadline(&cq->heap)) <= now) {
        int id = pollux_heap_top_id(&cq->heap);
        struct timer *t = &w->timers[id];
        if (!t->due && t->deadline > deadline) {
            /* Reset to later since its node was keyed: the node moves
             * now, and the loop looks at the top again. */
            pollux_heap_update(&cq->heap, id, t->deadline);
            continue;
        }
        uint64_t expirations = 1;
        if (t->interval > 0) {
            /* Missed periods are summed, as timerfd's read() does. */
            deadline = next_period(deadline, t->interval, now, &expirations);
            pollux_heap_update(&cq->heap, id, deadline);
        } else {
            pollux_heap_pop(&cq->heap);
            t->queue = -1;
        }
        if (!t->due) {
            due_append(w, id);
            t->due = 1;
            t->pending = 0;
        }
        t->pending += expirations;
    }
}

static void expire_all(struct pollux_timers *w)
{
    for (int q = 0; q < QUEUE_COUNT; q++)
        expire_queue(w, q);
}

bool pollux_timers_due(pollux *p)
{
    struct pollux_timers *w = p->timers;
    if (w == NULL)
        return false;
    expire_all(w);
    return w->due_first >= 0;
}

/* Take a due timer off the due list. A periodic timer stays armed, and
 * the word of its pending count holds its deadline again: its node's key
 * (struct timer). */
static void leave_due_list(struct pollux_timers *w, int id, struct timer *t)
{
    due_unlink(w, id);
    t->due = 0;
    if (t->queue >= 0)
        t->deadline = pollux_heap_deadline_of(&w->queues[t->queue].heap, id);
}

int pollux_timers_collect(pollux *p, pollux_event *out, int max)
{
    struct pollux_timers *w = p->timers;
    if (w == NULL)
        return 0;
    expire_all(w);
    int n = 0;
    while (n < max && w->due_first >= 0) {
        int id = w->due_first;
        struct timer *t = &w->timers[id];
        out[n].fd = id;
        out[n].events = POLLUX_TIMER;
        out[n].count = t->pending;
        out[n].data = t->data;
        out[n].kind = POLLUX_KIND_TIMER;
        out[n].serial = t->serial;
        leave_due_list(w, id, t);
        n++;
    }
    return n;
}

/* ---- sleeping until the next deadline --------------------------------- */

/* Out of descriptors or memory: the source is tried again next time. */
static bool transient(int err)
{
    return err == -EMFILE || err == -ENFILE || err == -ENOMEM;
}

/* 0 with a source to arm, -ENOTSUP where there is none for good, or the
 * transient error of opening it. */
static int ensure_source(pollux *p, struct clock_queue *cq)
{
    if (p->ops->timer_source == POLLUX_TIMER_SOURCE_BACKEND || cq->source_fd >= 0)
        return 0;
    if (cq->source_failed || p->ops->timer_source == POLLUX_TIMER_SOURCE_TIMEOUT)
        return -ENOTSUP;
    int fd = pollux_timer_source_open(cq->clock);
    int err = fd;
    if (fd >= 0 && (err = pollux_fdtable_watch_internal(p, fd, FD_TIMER)) < 0)
        close(fd);
    if (err < 0) {
        cq->source_failed = !transient(err);
        return cq->source_failed ? -ENOTSUP : err;
    }
    cq->source_fd = fd;
    cq->timeout_only = false;
    cq->armed_deadline = INT64_MAX;
    return 0;
}

static int arm_source(pollux *p, int q, int64_t deadline)
{
    struct clock_queue *cq = &p->timers->queues[q];
    if (p->ops->timer_source == POLLUX_TIMER_SOURCE_BACKEND)
        return p->ops->timer_arm(p->backend, q, cq->clock, deadline);
    return pollux_timer_source_arm(cq->source_fd, cq->clock, deadline);
}

/* Whether the wait's own timeout covers queue q (timeout_capable()): no
 * source is open and the poller is not nested through pollux_fileno(). */
static bool by_timeout(const pollux *p, int q)
{
    return p->timers->queues[q].timeout_only && !p->nested;
}

/*
 * Arm each kernel source to its queue's earliest deadline. A source set
 * earlier than needed is left alone: it wakes the wait once, the queue
 * finds nothing due, and the source is set right. That keeps cancelling
 * timers, or pushing them later, free of syscalls. Returns 1 when queue q
 * is covered by its source, 0 when it has none for good, or the error of
 * opening or setting it (a transient one: tried again at the next call).
 */
static int arm_queue(pollux *p, int q)
{
    struct clock_queue *cq = &p->timers->queues[q];
    if (cq->heap.count == 0)
        return 1;
    if (p->backend == NULL || by_timeout(p, q))
        return 0; /* a failed pollux_after_fork, or the wait's timeout covers it */
    int err = ensure_source(p, cq);
    if (err < 0)
        return err == -ENOTSUP ? 0 : err;
    int64_t deadline = pollux_heap_top_deadline(&cq->heap);
    if (deadline >= cq->armed_deadline)
        return 1;
    err = arm_source(p, q, deadline);
    if (err < 0)
        return err;
    cq->armed_deadline = deadline;
    return 1;
}

/* Called after every wait and settime, so that pollux_fileno() polls
 * readable at the next deadline even for a caller that never blocks in
 * pollux_wait(). Returns 0 or the first error of a source that could not
 * be opened or set now. */
int pollux_timers_arm_sources(pollux *p)
{
    if (p->timers == NULL)
        return 0;
    int first_err = 0;
    for (int q = 0; q < QUEUE_COUNT; q++) {
        int r = arm_queue(p, q);
        if (r < 0 && first_err == 0)
            first_err = r;
    }
    return first_err;
}

bool pollux_timers_pending(const pollux *p)
{
    return p->timers != NULL && p->timers->due_first >= 0;
}

/* Whether the source covering the realtime queue also fires when the wall
 * clock is set: the backend says for its own, timer_source.h for a timerfd. */
static bool notices_clock_set(const pollux *p)
{
    if (p->ops->timer_source == POLLUX_TIMER_SOURCE_BACKEND)
        return p->ops->caps & POLLUX_CAP_CLOCK_SET;
    return POLLUX_TIMER_SOURCE_NOTICES_CLOCK_SET;
}

/* Before a wait that may block: where no kernel source covers a queue,
 * shorten the timeout to its earliest deadline. */
int64_t pollux_timers_clamp_timeout(pollux *p, int64_t timeout_ns)
{
    struct pollux_timers *w = p->timers;
    if (w == NULL)
        return timeout_ns;
    for (int q = 0; q < QUEUE_COUNT; q++) {
        struct clock_queue *cq = &w->queues[q];
        if (cq->heap.count == 0)
            continue;
        /* A source that does not notice the wall clock being set leaves an
         * absolute wall-clock deadline to be looked at again every
         * WALL_CLOCK_RECHECK_NS. */
        bool covered = arm_queue(p, q) > 0;
        if (covered && (q != QUEUE_REALTIME || notices_clock_set(p)))
            continue;
        /* The clock as pollux_timers_due() read it just before: an older
         * reading only makes the wait end later, never early. */
        int64_t left = pollux_heap_top_deadline(&cq->heap) - cq->now;
        if (left < 0)
            left = 0;
        if (q == QUEUE_REALTIME && left > WALL_CLOCK_RECHECK_NS)
            left = WALL_CLOCK_RECHECK_NS;
        if (timeout_ns < 0 || left < timeout_ns)
            timeout_ns = left;
    }
    return timeout_ns;
}

void pollux_timers_source_fired(pollux *p)
{
    struct pollux_timers *w = p->timers;
    if (w == NULL)
        return;
    /* Which queue fired is not said: set every one again before sleeping. */
    for (int q = 0; q < QUEUE_COUNT; q++)
        w->queues[q].armed_deadline = INT64_MAX;
}

void pollux_timers_source_fd_ready(pollux *p, int fd)
{
    struct pollux_timers *w = p->timers;
    if (w == NULL)
        return;
    for (int q = 0; q < QUEUE_COUNT; q++) {
        if (w->queues[q].source_fd == fd) {
            pollux_timer_source_ack(fd);
            w->queues[q].armed_deadline = INT64_MAX; /* fired: set it again */
        }
    }
}

/* ---- the public API ---------------------------------------------------- */

static struct timer *lookup(pollux *p, int id)
{
    if (p == NULL || p->timers == NULL || id < 0 || id >= p->timers->ids_used)
        return NULL;
    struct timer *t = &p->timers->timers[id];
    return t->in_use ? t : NULL;
}

bool pollux_timers_current(const pollux *p, int id, uint64_t serial)
{
    const struct pollux_timers *w = p->timers;
    if (w == NULL || id < 0 || id >= w->ids_used)
        return false;
    const struct timer *t = &w->timers[id];
    return t->in_use && t->serial == serial;
}

static int queue_of_clock(int clockid)
{
    switch (clockid) {
    case CLOCK_MONOTONIC:
        return QUEUE_MONOTONIC;
    case CLOCK_REALTIME:
        return QUEUE_REALTIME;
#ifdef CLOCK_BOOTTIME
    case CLOCK_BOOTTIME:
        return QUEUE_BOOTTIME;
#endif
    default:
        return -1;
    }
}

static int new_id(struct pollux_timers *w)
{
    if (w->free_first >= 0) {
        int id = w->free_first;
        w->free_first = w->timers[id].due_next;
        return id;
    }
    if (w->ids_used == INT_MAX)
        return -ENOMEM;
    /* create() initialises every field of the new slot. */
    if (w->ids_used >= w->timers_size
        && pollux_grow_array_uninit((void **)&w->timers, &w->timers_size, w->ids_used + 1,
                                    sizeof *w->timers) < 0)
        return -ENOMEM;
    return w->ids_used++;
}

POLLUX_API int pollux_timer_create(pollux *p, int clockid, void *data)
{
    if (p == NULL)
        return -EINVAL;
    int q = queue_of_clock(clockid);
    if (q < 0)
        return -EINVAL;
    if (p->timers == NULL && (p->timers = wheel_new(p)) == NULL)
        return -ENOMEM;
    p->core_sources = true;
    struct pollux_timers *w = p->timers;
    int id = new_id(w);
    if (id < 0)
        return id;
    struct timer *t = &w->timers[id];
    uint32_t serial = pollux_next_serial(t->serial); /* a new id's slot is zeroed */
    memset(t, 0, sizeof *t);
    t->serial = serial;
    t->due_prev = t->due_next = -1;
    t->queue = -1;
    t->clock_queue = (int8_t)q;
    t->relative_queue = (int8_t)(q == QUEUE_REALTIME ? QUEUE_MONOTONIC : q);
    t->data = data;
    t->in_use = true;
    return id;
}

/* Re-arming or deleting drops what was pending. */
static void drop_pending(struct pollux_timers *w, int id, struct timer *t)
{
    if (t->due)
        leave_due_list(w, id, t);
}

/* Where a relative time counts from: now, or with POLLUX_TIMER_LOOPTIME the
 * clock as the last pollux_wait() read it (no clock reading here). Before
 * any wait has read it, the first such call reads it, and from then on
 * every wait does. */
static int64_t start_of(struct clock_queue *cq, unsigned flags)
{
    if (!(flags & POLLUX_TIMER_LOOPTIME))
        return pollux_clock_now_ns(cq->clock);
    if (!cq->loop_time_used) {
        cq->now = pollux_clock_now_ns(cq->clock);
        cq->loop_time_used = true;
    }
    return cq->now;
}

static void disarm(struct pollux_timers *w, int id, struct timer *t)
{
    if (t->queue >= 0)
        pollux_heap_remove(&w->queues[t->queue].heap, id);
    t->queue = -1;
    drop_pending(w, id, t);
}

/*
 * The uncommon preparations of an arm, kept out of the common path:
 * dropping pending expirations, moving the timer from another queue, and
 * growing the heap. Out of memory keeps the old setting.
 */
static int prepare_arm(struct pollux_timers *w, int id, struct timer *t, int q)
{
    if (t->queue == q) {
        drop_pending(w, id, t);
        return 0;
    }
    int err = pollux_heap_reserve(&w->queues[q].heap, id);
    if (err < 0)
        return err;
    disarm(w, id, t);
    return 0;
}

/* Without a source now (out of descriptors), the wait's timeout covers
 * the timer and the next call tries the source again. A call of its own
 * so that the arms that need no source take no call at all. */
static POLLUX_NOINLINE int arm_source_after(pollux *p, int q)
{
    arm_queue(p, q);
    return 0;
}

/*
 * Arm timer id, prepared (prepare_arm()), on queue q at deadline: its node is
 * changed in place when it is armed on q already (a reset), inserted
 * otherwise. Only a deadline that moved earlier can need the queue's
 * source earlier: a keepalive pushed later costs no source check.
 */
static POLLUX_ALWAYS_INLINE int arm_at(pollux *p, int id, struct timer *t, int q,
                                       int64_t deadline, int64_t interval_ns)
{
    struct pollux_heap *h = &p->timers->queues[q].heap;
    bool earlier = true;
    if (t->queue == q)
        earlier = pollux_heap_update(h, id, deadline);
    else
        pollux_heap_insert(h, id, deadline);
    t->queue = (int8_t)q;
    t->deadline = deadline;
    t->interval = interval_ns;
    t->serial = pollux_next_serial(t->serial);
    if (earlier && !by_timeout(p, q))
        return arm_source_after(p, q);
    return 0;
}

/* Every arm that the short paths of pollux_timer_settime() leave. */
static POLLUX_NOINLINE int settime_arm(pollux *p, int timer, int64_t initial_ns,
                                       int64_t interval_ns, unsigned flags)
{
    struct pollux_timers *w = p->timers;
    struct timer *t = &w->timers[timer];
    int q = (flags & POLLUX_TIMER_ABSTIME) ? t->clock_queue : t->relative_queue;
    int err = prepare_arm(w, timer, t, q);
    if (err < 0)
        return err;
    int64_t deadline = initial_ns;
    if (!(flags & POLLUX_TIMER_ABSTIME))
        deadline = add_saturated(start_of(&w->queues[q], flags), initial_ns);
    return arm_at(p, timer, t, q, deadline, interval_ns);
}

/* The uncommon disarms: of a timer with pending expirations, or whose
 * node is not the last of its heap. */
static POLLUX_NOINLINE int disarm_slow(struct pollux_timers *w, int id, struct timer *t)
{
    disarm(w, id, t);
    return 0;
}

/* Disarm (settime 0). A timeout cancelled soon after it was armed is
 * usually the last node of its heap: only a count goes down. */
static POLLUX_ALWAYS_INLINE int settime_disarm(struct pollux_timers *w, int id, struct timer *t,
                                               int64_t interval_ns)
{
    t->interval = interval_ns;
    t->serial = pollux_next_serial(t->serial);
    if (t->queue < 0 && !t->due)
        return 0;
    if (t->queue == QUEUE_MONOTONIC && !t->due) {
        /* A constant queue: see pollux_timer_settime(). */
        struct pollux_heap *h = &w->queues[QUEUE_MONOTONIC].heap;
        if (h->position_of[id] == h->count - 1) {
            h->count--;
            t->queue = -1;
            return 0;
        }
    }
    return disarm_slow(w, id, t);
}

/* A relative arm on the monotonic queue, at deadline, with nothing
 * pending, that is not done in place. Its own function, taking no more
 * than it needs, so that a reset saves few registers and takes no call. */
static POLLUX_NOINLINE int arm_monotonic(pollux *p, int id, int64_t deadline,
                                         int64_t interval_ns)
{
    struct pollux_timers *w = p->timers;
    struct timer *t = &w->timers[id];
    int err = prepare_arm(w, id, t, QUEUE_MONOTONIC);
    if (err < 0)
        return err;
    return arm_at(p, id, t, QUEUE_MONOTONIC, deadline, interval_ns);
}

/* What arm_in_place() did. */
enum { NOT_ARMED, ARMED, ARMED_NEEDS_SOURCE };

/*
 * The arms of a loop that only store: a reset on the monotonic queue to a
 * later deadline (the keepalive's), which leaves the heap alone (its node
 * is re-keyed when its old key comes up: struct timer), or an arm of a
 * disarmed timer whose node stays where it is inserted. The timer has
 * nothing pending. NOT_ARMED leaves it as it was.
 */
static POLLUX_ALWAYS_INLINE int arm_in_place(pollux *p, int id, struct timer *t,
                                             int64_t deadline, int64_t interval_ns)
{
    struct clock_queue *cq = &p->timers->queues[QUEUE_MONOTONIC];
    int armed = ARMED; /* a reset here moved later: no source to move earlier */
    if (t->queue == QUEUE_MONOTONIC) {
        if (deadline < t->deadline)
            return NOT_ARMED;
    } else if (t->queue < 0 && pollux_heap_insert_in_place(&cq->heap, id, deadline)) {
        t->queue = QUEUE_MONOTONIC;
        if (!by_timeout(p, QUEUE_MONOTONIC))
            armed = ARMED_NEEDS_SOURCE;
    } else {
        return NOT_ARMED;
    }
    t->deadline = deadline;
    t->interval = interval_ns;
    t->serial = pollux_next_serial(t->serial);
    return armed;
}

/* Finish a relative arm on the monotonic queue at deadline. */
static POLLUX_ALWAYS_INLINE int arm_monotonic_at(pollux *p, int id, struct timer *t,
                                                 int64_t deadline, int64_t interval_ns)
{
    int r = arm_in_place(p, id, t, deadline, interval_ns);
    if (r == ARMED)
        return 0;
    if (r == ARMED_NEEDS_SOURCE)
        return arm_source_after(p, QUEUE_MONOTONIC);
    return arm_monotonic(p, id, deadline, interval_ns);
}

/* The same counting from now: the clock reading is the one call. */
static POLLUX_NOINLINE int arm_monotonic_now(pollux *p, int id, int64_t initial_ns,
                                             int64_t interval_ns)
{
    struct pollux_timers *w = p->timers;
    int64_t now = pollux_clock_now_ns(w->queues[QUEUE_MONOTONIC].clock);
    return arm_monotonic_at(p, id, &w->timers[id], add_saturated(now, initial_ns), interval_ns);
}

/*
 * The common calls of a loop, a disarm and a reset or an arm with loop
 * time, take no call here but a tail call, and the same with the default
 * time one call besides the clock's; the rest goes to settime_arm().
 * Re-arming discards pending expirations, those a wait has already
 * returned in a batch included: their events are no longer current (the
 * serial changes on every successful call).
 */
POLLUX_API int pollux_timer_settime(pollux *p, int timer, int64_t initial_ns,
                                    int64_t interval_ns, unsigned flags)
{
    if (p == NULL)
        return -EINVAL;
    struct pollux_timers *w = p->timers;
    /* One unsigned compare rejects negative ids and those never handed out. */
    if (w == NULL || (unsigned)timer >= (unsigned)w->ids_used || !w->timers[timer].in_use)
        return -ENOENT;
    /* The flags are the two lowest bits. */
    if ((initial_ns | interval_ns) < 0 || flags > (POLLUX_TIMER_ABSTIME | POLLUX_TIMER_LOOPTIME))
        return -EINVAL;
    struct timer *t = &w->timers[timer];
    if (initial_ns == 0)
        return settime_disarm(w, timer, t, interval_ns);
    /* The fast paths are the monotonic queue's, the queue of every
     * relative time but boot time's: a constant queue lets the loads of
     * its heap start without waiting for the timer's fields. */
    struct clock_queue *cq = &w->queues[QUEUE_MONOTONIC];
    if (t->relative_queue == QUEUE_MONOTONIC && !t->due) {
        if (flags == POLLUX_TIMER_LOOPTIME && cq->loop_time_used)
            return arm_monotonic_at(p, timer, t, add_saturated(cq->now, initial_ns), interval_ns);
        if (flags == 0)
            return arm_monotonic_now(p, timer, initial_ns, interval_ns);
    }
    return settime_arm(p, timer, initial_ns, interval_ns, flags);
}

POLLUX_API int pollux_timer_gettime(pollux *p, int timer, int64_t *remaining_ns,
                                    int64_t *interval_ns)
{
    struct timer *t = lookup(p, timer);
    if (t == NULL)
        return p == NULL ? -EINVAL : -ENOENT;
    int64_t remaining = 0;
    if (t->queue >= 0) {
        int64_t now = pollux_clock_now_ns(p->timers->queues[t->queue].clock);
        /* A due timer's deadline is its node's key (struct timer). */
        int64_t next = t->due ? pollux_heap_deadline_of(&p->timers->queues[t->queue].heap, timer)
                              : t->deadline;
        uint64_t periods;
        if (next <= now && t->interval > 0)
            next = next_period(next, t->interval, now, &periods);
        remaining = next > now ? next - now : 0;
    }
    if (remaining_ns != NULL)
        *remaining_ns = remaining;
    if (interval_ns != NULL)
        *interval_ns = t->interval;
    return 0;
}

POLLUX_API int pollux_timer_delete(pollux *p, int timer)
{
    struct timer *t = lookup(p, timer);
    if (t == NULL)
        return p == NULL ? -EINVAL : -ENOENT;
    struct pollux_timers *w = p->timers;
    disarm(w, timer, t);
    t->in_use = false;
    t->due_next = w->free_first;
    w->free_first = timer;
    return 0;
}
