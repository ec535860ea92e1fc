/*
 * collect.c - one wait's collection: the kernel's reports turned into the
 * user's events, and the core's own sources (timers, always-ready files)
 * taking turns with them so that no kind starves another (see collect.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "always_ready.h"
#include "changes.h"
#include "childwatch.h"
#include "clock.h"
#include "collect.h"
#include "fdtable.h"
#include "sigwatch.h"
#include "timer.h"
#include "util.h"
#include "wake.h"

/*
 * epoll cannot watch regular files, so nothing in its set would make
 * pollux_fileno() readable for them. The ready flag, an internal eventfd
 * in the set, is kept signalled while any of them is armed. Returns 0 or
 * the error of opening the flag while it is needed (tried again at the
 * next call). Once pollux_fileno() was asked for, the flag is opened even
 * before it is needed, so that a later shortage of descriptors cannot
 * leave it missing.
 */
int pollux_sync_ready_flag(pollux *p)
{
    if (p->ops->fileno == NULL)
        return 0;
    bool armed = pollux_always_ready_any_armed(p) || pollux_timers_pending(p);
    struct pollux_channel *flag = &p->ready_flag;
    if ((armed || p->nested) && flag->read_fd < 0) {
        int err = pollux_channel_open(flag);
        if (err == 0 && (err = pollux_fdtable_watch_internal(p, flag->read_fd, FD_READY_FLAG)) < 0)
            pollux_channel_close(flag);
        if (err < 0)
            return armed ? err : 0; /* not needed yet: tried again next time */
    }
    if (armed)
        return pollux_channel_signal(flag);
    if (flag->read_fd >= 0 && atomic_load(&flag->pending))
        pollux_channel_drain(flag);
    return 0;
}

static void report_wake(pollux_event *ev)
{
    ev->fd = -1;
    ev->events = POLLUX_WAKE;
    ev->count = 0;
    ev->data = NULL;
    ev->kind = POLLUX_KIND_WAKE;
    ev->serial = POLLUX_WAKE_SERIAL;
}

/* A report for one of the poller's own descriptors. */
static bool deliver_internal(pollux *p, const struct fd_entry *e, int fd, pollux_event *ev)
{
    if (e->role == FD_WAKE) {
        pollux_channel_drain(&p->wake);
        report_wake(ev);
        return true;
    }
    if (e->role == FD_TIMER)
        pollux_timers_source_fd_ready(p, fd); /* timers_collect() reports them */
    if (e->role == FD_SIGNAL)
        pollux_signals_fd_ready(p, fd); /* signals_collect() reports them */
    if (e->role == FD_CHILD)
        pollux_children_fd_ready(p, fd); /* children_collect() reports it */
    /* FD_READY_FLAG: the files themselves are reported by the core. */
    return false;
}

/* CLOSED and ALWAYS_READY: no readiness, a change of state. */
static void deliver_state(pollux *p, const struct pollux_report *r, struct fd_entry *e)
{
    if (r->kind == POLLUX_REPORT_ALWAYS_READY) {
        /* Reported below, with the other always-ready files. */
        e->kernel = 0;
        pollux_always_ready_add(p, r->fd);
        return;
    }
    /* CLOSED: closed without unregistering; stop watching so wait cannot spin. */
    pollux_change(p, r->fd, e->kernel, 0);
    e->kernel = 0;
    e->flags |= FD_CLOSED;
}

/* Reports of the backend's own sources, and of a change of state. */
static bool deliver_other(pollux *p, const struct pollux_report *r, pollux_event *ev)
{
    if (r->kind == POLLUX_REPORT_WAKE) {
        atomic_store(&p->wake.pending, 0);
        report_wake(ev);
        return true;
    }
    if (r->kind == POLLUX_REPORT_TIMER) {
        pollux_timers_source_fired(p);
        return false;
    }
    if (r->kind == POLLUX_REPORT_SIGNAL) {
        pollux_signals_fired(p, r->fd, r->events);
        return false;
    }
    if (r->kind == POLLUX_REPORT_CHILD) {
        pollux_children_exited(p, r->fd);
        return false;
    }
    if (r->fd >= p->fds_size)
        return false;
    struct fd_entry *e = &p->fds[r->fd].entry;
    if (e->role != FD_USER)
        return deliver_internal(p, e, r->fd, ev);
    /* Not watched any more, or a ONESHOT already reported. */
    if (e->kernel != 0 && !(e->flags & FD_DISARMED))
        deliver_state(p, r, e);
    return false;
}

/* What the readiness a backend reports means for registration e. */
static uint32_t reported_bits(const struct fd_entry *e, uint32_t ready)
{
    uint32_t bits = (ready & e->interest & BACKEND_EVENT_BITS) | (ready & POLLUX_ALWAYS_BITS);
    if (bits & POLLUX_ALWAYS_BITS)
        bits |= e->interest & (POLLUX_READ | POLLUX_WRITE); /* nothing would block */
    return bits;
}

/* deliver() for every report but readiness of a plainly watched
 * descriptor: out of line, so that the common case calls nothing. */
static POLLUX_NOINLINE POLLUX_COLD bool deliver_unusual(pollux *p, const struct pollux_report *r,
                                                        pollux_event *ev)
{
    if (r->kind != POLLUX_REPORT_READY)
        return deliver_other(p, r, ev);
    int fd = r->fd;
    if (fd >= p->fds_size)
        return false;
    struct fd_entry *e = &p->fds[fd].entry;
    if (e->role != FD_USER)
        return deliver_internal(p, e, fd, ev);
    /* Not watched any more, or a ONESHOT already reported. */
    if (e->kernel == 0 || (e->flags & FD_DISARMED))
        return false;
    uint32_t bits = reported_bits(e, r->events);
    if (bits == 0)
        return false;
    if (e->interest & POLLUX_ONESHOT) {
        e->flags |= FD_DISARMED;
        if (!(p->ops->native_modes & POLLUX_ONESHOT)) {
            pollux_change(p, fd, e->kernel, 0);
            e->kernel = 0;
        }
    }
    pollux_fdtable_event(p, fd, bits, ev);
    return true;
}

/* The 32 bits of an entry, so that several fields are tested at once. */
static POLLUX_ALWAYS_INLINE uint32_t entry_word(struct fd_entry e)
{
    uint32_t word;
    memcpy(&word, &e, sizeof word);
    return word;
}
_Static_assert(sizeof(struct fd_entry) == sizeof(uint32_t), "entry_word() reads a whole entry");

/* A user's registration that the kernel watches, neither ONESHOT (whose
 * report disarms it) nor disarmed, closed or always ready: its report
 * only needs its bits translated. One mask and two tests, the constants
 * folded by the compiler. */
static POLLUX_ALWAYS_INLINE bool plainly_watched(struct fd_entry e)
{
    uint32_t word = entry_word(e);
    uint32_t tested = entry_word((struct fd_entry){ .role = 7, .flags = FD_FLAGS_ALL,
                                                    .interest = POLLUX_ONESHOT });
    uint32_t expected = entry_word((struct fd_entry){ .role = FD_USER });
    uint32_t kernel = entry_word((struct fd_entry){ .kernel = (1u << FD_MASK_BITS) - 1 });
    return (word & tested) == expected && (word & kernel) != 0;
}

/* Readiness of a plainly watched descriptor with bits to report, into
 * *ev; false, with nothing stored, for any other report. */
static POLLUX_ALWAYS_INLINE bool deliver_plain(const pollux *p, const struct pollux_report *r,
                                               pollux_event *ev)
{
    int fd = r->fd;
    if (r->kind != POLLUX_REPORT_READY || (unsigned)fd >= (unsigned)p->fds_size
        || !plainly_watched(p->fds[fd].entry))
        return false;
    uint32_t bits = reported_bits(&p->fds[fd].entry, r->events);
    if (bits == 0)
        return false;
    pollux_fdtable_event(p, fd, bits, ev);
    return true;
}

/*
 * Turn a backend report into the user's event. Returns false when nothing
 * is to be reported for it (deliver_unusual() also says so for a plain
 * report without bits).
 */
static POLLUX_ALWAYS_INLINE bool deliver(pollux *p, const struct pollux_report *r, pollux_event *ev)
{
    return deliver_plain(p, r, ev) || deliver_unusual(p, r, ev);
}

/* deliver() for reports[first..got) into out[n..]; returns the new n. */
static POLLUX_NOINLINE int deliver_from(pollux *p, int first, int got, pollux_event *out, int n)
{
    for (int i = first; i < got; i++)
        n += deliver(p, &p->reports[i], &out[n]);
    return n;
}

/*
 * A later round's report for a descriptor an earlier round reported:
 * merged into that event, since a backend whose kernel returns one result
 * per filter (kqueue) may have had room for only one of them before.
 * Returns false when fd was not reported yet. out[] holds only this
 * call's kernel events here, so an fd >= 0 names a descriptor.
 */
static bool merged_into_earlier(pollux *p, const struct pollux_report *r, pollux_event *out,
                                int count)
{
    for (int i = 0; i < count; i++) {
        if (out[i].fd != r->fd || r->fd < 0)
            continue;
        if (r->kind == POLLUX_REPORT_READY && p->fds[r->fd].entry.role == FD_USER)
            out[i].events |= reported_bits(&p->fds[r->fd].entry, r->events);
        return true;
    }
    return false;
}

/*
 * Ask the kernel, then keep only what is to be reported: rounds `round`
 * on, after out[0..n) was filled by the earlier ones. Internal sources
 * (timer sources, the ready flag) take room in a batch without being
 * reported: when they filled it, ask again without waiting, or with
 * max_events 1 a timer source could crowd out every descriptor. A few
 * rounds suffice, there are only a handful of internal sources.
 */
static POLLUX_NOINLINE int collect_rounds(pollux *p, pollux_event *out, int n, int max,
                                          int64_t timeout_ns, int round)
{
    int repeats = 0;
    for (; round < 4 && n < max; round++) {
        int room = max - n, first_of_round = n;
        struct pollux_batch batch = { 0 };
        if (p->changes_count > 0)
            pollux_changes_batch(p, &batch);
        int got = p->ops->wait(p->backend, &batch, p->reports, room, round == 0 ? timeout_ns : 0);
        if (batch.taken > 0)
            pollux_changes_done(p, &batch);
        if (got < 0)
            return n > 0 ? n : got;
        int kept = 0;
        bool repeated = false;
        for (int i = 0; i < got; i++) {
            const struct pollux_report *r = &p->reports[i];
            /* A later round may see a level-triggered source again. */
            if (round > 0 && merged_into_earlier(p, r, out, first_of_round)) {
                repeated = true;
                continue;
            }
            if (deliver(p, r, &out[n + kept]))
                kept++;
        }
        n += kept;
        /* Seeing reported sources again usually means the kernel has gone
         * round; but a scan that wrapped around (poll, after a removal
         * during the wait) or libkqueue's filter order can show one again
         * before the rest: the second such round ends it. */
        if (got < room || kept == got || (repeated && ++repeats == 2))
            break;
    }
    return n;
}

static int collect_kernel(pollux *p, pollux_event *out, int max, int64_t timeout_ns)
{
    if (max > p->reports_size
        && pollux_grow_array((void **)&p->reports, &p->reports_size, max, sizeof *p->reports) < 0)
        return -ENOMEM;
    return collect_rounds(p, out, 0, max, timeout_ns, 0);
}

/* The core's own sources, timers and always-ready files, taking turns at
 * leading so that an always-due timer cannot crowd out the files; signals
 * and children come first, each is reported once per delivery or exit. */
static int collect_own(pollux *p, pollux_event *out, int max)
{
    int n = pollux_signals_collect(p, out, max);
    n += pollux_children_collect(p, out + n, max - n);
    out += n;
    max -= n;
    if (p->files_before_timers) {
        int k = pollux_always_ready_collect(p, out, max);
        n += k + pollux_timers_collect(p, out + k, max - k);
    } else {
        int k = pollux_timers_collect(p, out, max);
        n += k + pollux_always_ready_collect(p, out + k, max - k);
    }
    p->files_before_timers = !p->files_before_timers;
    return n;
}

/* The kernel round of a poller with only kernel-watched descriptors
 * found regular files (epoll's deferred checks of an unchanged modify):
 * they are ready now, report them now. */
static int collect_found_files(pollux *p, pollux_event *out, int n, int max)
{
    n += pollux_always_ready_collect(p, out + n, max - n);
    pollux_sync_ready_flag(p);
    return n;
}

/*
 * A round of a poller with timers, always-ready files, signal or child
 * watches: the sources the core reports itself and the kernel's. Whoever
 * was left without room last time goes first, so neither kind starves
 * the other.
 */
static int collect_mixed(pollux *p, pollux_event *out, int max, int64_t timeout_ns)
{
    bool own_ready = pollux_always_ready_any_armed(p) || pollux_timers_due(p)
                     || pollux_signals_due(p)
                     || pollux_children_due(p);
    if (own_ready)
        timeout_ns = 0;
    else
        timeout_ns = pollux_timers_clamp_timeout(p, timeout_ns);

    bool own_first = own_ready && p->own_sources_first;
    int n = 0;
    if (own_first)
        n += collect_own(p, out + n, max - n);
    if (n < max) {
        int r = collect_kernel(p, out + n, max - n, n > 0 ? 0 : timeout_ns);
        /* A watched signal's handler interrupted the wait: report it. */
        if (r == -EINTR && (pollux_signals_due(p) || pollux_children_due(p)))
            r = 0;
        if (r < 0)
            return n > 0 ? n : r;
        n += r;
    }
    if (!own_first)
        n += collect_own(p, out + n, max - n);
    /* Only pollers with timers, always-ready files, signals or children get here. */
    pollux_timers_arm_sources(p); /* for pollux_fileno() users that never block */
    pollux_sync_ready_flag(p);    /* due timers left over, files disarmed (ONESHOT, EDGE) */
    /* Turns alternate: after leading, the core's sources follow; after
     * following without room, they lead. */
    p->own_sources_first = !own_first && n == max
                           && (pollux_always_ready_any_armed(p) || pollux_timers_due(p)
                               || pollux_signals_due(p) || pollux_children_due(p));
    return n;
}

/* One round: up to max events, waiting up to timeout_ns; the number
 * stored or -errno. In the same file as pollux_wait() so that the
 * compiler can make the common case (only descriptors the kernel
 * watches) one function around the backend's wait. */
static int collect(pollux *p, pollux_event *out, int max, int64_t timeout_ns)
{
    /* A poller that once had a timer, or watched a signal or child, takes
     * the general path, which also serves one that has none left. */
    if (p->core_sources || p->always_ready_count != 0)
        return collect_mixed(p, out, max, timeout_ns);
    int n = collect_kernel(p, out, max, timeout_ns);
    if (n < 0 || p->always_ready_count == 0)
        return n;
    return collect_found_files(p, out, n, max);
}

static int wait_general(pollux *p, pollux_event *events, int max_events, int64_t timeout_ns);

/* The steady loop of pollux_wait() for all but plain readiness: the
 * reports from reports[i] on, after the i events of the plain ones before
 * them; a batch the poller's own descriptors filled (the later rounds of
 * collect_rounds()); files found always ready; an error; or a wait
 * forever that had nothing to report. */
static POLLUX_NOINLINE int finish_unusual(pollux *p, pollux_event *out, int max, int got, int i)
{
    int64_t timeout_ns = p->steady_forever ? -1 : 0;
    if (got < 0)
        return got;
    int n = i < got ? deliver_from(p, i, got, out, i) : i;
    if (got == max && n < got)
        n = collect_rounds(p, out, n, max, timeout_ns, 1);
    /* A report found a file the kernel refuses (after an epoll rebuild). */
    if (p->always_ready_count != 0)
        n = collect_found_files(p, out, n, max);
    if (n == 0 && timeout_ns < 0)
        return wait_general(p, out, max, timeout_ns);
    return n;
}

/* The rest of pollux_wait(): timeouts, and pollers with more than
 * kernel-watched descriptors. */
static POLLUX_NOINLINE int wait_general(pollux *p, pollux_event *events, int max_events,
                                        int64_t timeout_ns)
{
    if (p->backend == NULL)
        return POLLUX_NO_KERNEL_STATE;
    /* The children the last wait reported: their batch is handled. */
    if (p->children != NULL)
        pollux_children_forget_reported(p);
    int64_t deadline = 0;
    if (timeout_ns > 0) {
        int64_t now = pollux_clock_now_ns(CLOCK_MONOTONIC);
        /* A timeout past the end of time is forever, not an overflow. */
        if (timeout_ns > INT64_MAX - now)
            timeout_ns = -1;
        else
            deadline = now + timeout_ns;
    }

    for (;;) {
        int n = collect(p, events, max_events, timeout_ns);
        if (n != 0 || timeout_ns == 0)
            return n;
        if (timeout_ns > 0) {
            /* Never return 0 before the whole timeout has passed. */
            timeout_ns = deadline - pollux_clock_now_ns(CLOCK_MONOTONIC);
            if (timeout_ns <= 0)
                return 0;
        }
    }
}

/* Only descriptors the kernel watches, no change to hand over, room for
 * the reports (never without a backend: pollux_lifecycle_close()), a wait
 * forever or none: the steady loop. A poller that once had a timer, or
 * watched a signal or child, takes the general path, which also serves
 * one that has none left. */
static POLLUX_ALWAYS_INLINE bool steady(const pollux *p, int max_events, int64_t timeout_ns)
{
    unsigned others = (unsigned)p->core_sources | (unsigned)p->always_ready_count
                      | (unsigned)p->changes_count;
    return others == 0 && timeout_ns <= 0 && max_events <= p->reports_size;
}

POLLUX_API POLLUX_HOT int pollux_wait(pollux *p, pollux_event *events, int max_events,
                                      int64_t timeout_ns)
{
    if (p == NULL || events == NULL || max_events < 1)
        return -EINVAL;
    if (!steady(p, max_events, timeout_ns))
        return wait_general(p, events, max_events, timeout_ns);
    /* In the poller rather than in a register kept across the call: only
     * the unusual cases read it back. */
    p->steady_forever = timeout_ns < 0;
    int got = p->backend_wait(p->backend, &p->no_changes, p->reports, max_events, timeout_ns);
    /* Readiness of plainly watched descriptors, each turned into an event
     * in a loop that calls nothing; from the first report that is
     * anything else on, finish_unusual() takes over. */
    if (got <= 0)
        return finish_unusual(p, events, max_events, got, 0);
    const struct pollux_report *reports = p->reports;
    for (int i = 0; i < got; i++)
        if (!deliver_plain(p, &reports[i], &events[i]))
            return finish_unusual(p, events, max_events, got, i);
    /* Plain reports change nothing steady() tested: no always-ready file
     * was found, no change was queued. A full batch may have left others
     * out for the poller's own descriptors. */
    if (got == max_events)
        return finish_unusual(p, events, max_events, got, got);
    return got;
}
