/*
 * bench_timers.c - what pollux timers cost at scale, and how late they fire.
 *
 *   bench_timers [BACKEND [N [LATENCY_SAMPLES]]]
 *
 * BACKEND is "auto" (default), "epoll", "poll", "select", ...; N is the
 * number of timers (default 1000000); LATENCY_SAMPLES the number of
 * one-shot timers of the lateness run (default 2000).
 *
 * Prints, one "name: value" per line:
 *   - lateness percentiles (p50, p90, p99, max) of one-shot timers fired
 *     one after another at random 1-5 ms on an otherwise idle poller:
 *     the CLOCK_MONOTONIC time pollux_wait() returned minus the deadline.
 *     Run first, before the big heaps exist.
 *   - ns per create, per add (settime with a random far deadline on a
 *     disarmed timer), per re-arm (settime of an armed timer), per cancel
 *     (settime 0) and per delete, over N timers;
 *   - ns per expiry: N timers with deadlines spread over a short window,
 *     all due, drained through pollux_wait() with a big events array;
 *   - peak RSS (getrusage ru_maxrss) and bytes per timer.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <time.h>

#include "pollux.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define BATCH 4096

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
    struct timespec ts = { .tv_sec = (time_t)(t / SEC), .tv_nsec = (long)(t % SEC) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        continue;
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void die(const char *what, int err)
{
    fprintf(stderr, "bench_timers: %s: %s\n", what, strerror(-err));
    exit(1);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t percentile(const int64_t *sorted, int n, double q)
{
    int i = (int)(q * (n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

static pollux *new_poller(pollux_backend b)
{
    pollux *p;
    int err = pollux_new(&p, b);
    if (err < 0)
        die("pollux_new", err);
    return p;
}

/* One-shot timers fired one after another, each alone in the poller. */
static void lateness(pollux_backend b, int samples)
{
    pollux *p = new_poller(b);
    int id = pollux_timer_create(p, CLOCK_MONOTONIC, NULL);
    if (id < 0)
        die("pollux_timer_create", id);
    int64_t *late = malloc((size_t)samples * sizeof *late);
    if (late == NULL)
        die("malloc", -ENOMEM);
    int early = 0;
    for (int i = 0; i < samples; i++) {
        int64_t deadline = now_ns() + 1 * MS + (int64_t)(rng() % (uint64_t)(4 * MS));
        int err = pollux_timer_settime(p, id, deadline, 0, POLLUX_TIMER_ABSTIME);
        if (err < 0)
            die("pollux_timer_settime", err);
        pollux_event ev;
        int n;
        do
            n = pollux_wait(p, &ev, 1, -1);
        while (n == 0 || n == -EINTR);
        int64_t t = now_ns();
        if (n < 0)
            die("pollux_wait", n);
        late[i] = t - deadline;
        if (late[i] < 0)
            early++;
    }
    qsort(late, (size_t)samples, sizeof *late, cmp_i64);
    printf("lateness samples: %d one-shot timers at 1-5 ms, CLOCK_MONOTONIC\n", samples);
#ifdef PR_GET_TIMERSLACK
    /* The kernel may defer a sleeper's wake-up by up to this much. */
    printf("timer slack: %d ns (prctl PR_SET_TIMERSLACK)\n", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
#endif
    printf("lateness p50: %.1f us\n", percentile(late, samples, 0.50) / 1e3);
    printf("lateness p90: %.1f us\n", percentile(late, samples, 0.90) / 1e3);
    printf("lateness p99: %.1f us\n", percentile(late, samples, 0.99) / 1e3);
    printf("lateness max: %.1f us\n", late[samples - 1] / 1e3);
    printf("lateness min: %.1f us\n", late[0] / 1e3);
    printf("fired early: %d\n", early);
    free(late);
    pollux_free(p);
}

static void print_per(const char *what, int64_t elapsed, int n)
{
    printf("%s: %.1f ns\n", what, (double)elapsed / n);
}

/* Wait until n timer events are reported, in batches of up to BATCH;
 * exits when a wait of timeout_ns reports none. Returns the number of
 * waits. */
static int drain_timers(pollux *p, pollux_event *ev, int n, int64_t timeout_ns)
{
    long drained = 0;
    int waits = 0;
    while (drained < n) {
        int got = pollux_wait(p, ev, BATCH, timeout_ns);
        if (got < 0 && got != -EINTR)
            die("pollux_wait", got);
        if (got == 0) {
            fprintf(stderr, "bench_timers: only %ld of %d timers fired\n", drained, n);
            exit(1);
        }
        if (got > 0)
            drained += got;
        waits++;
    }
    return waits;
}

static void scale(pollux_backend b, int n)
{
    long rss_before = max_rss_kb();
    pollux *p = new_poller(b);
    int *ids = malloc((size_t)n * sizeof *ids);
    int64_t *delays = malloc((size_t)n * sizeof *delays);
    pollux_event *ev = malloc(BATCH * sizeof *ev);
    if (ids == NULL || delays == NULL || ev == NULL)
        die("malloc", -ENOMEM);
    /* Random far deadlines (100-200 s) so that nothing fires meanwhile;
     * drawn before the clock starts. */
    for (int i = 0; i < n; i++)
        delays[i] = 100 * SEC + (int64_t)(rng() % (uint64_t)(100 * SEC));

    int64_t t0 = now_ns();
    for (int i = 0; i < n; i++)
        if ((ids[i] = pollux_timer_create(p, CLOCK_MONOTONIC, NULL)) < 0)
            die("pollux_timer_create", ids[i]);
    int64_t t1 = now_ns();
    for (int i = 0; i < n; i++) {
        int err = pollux_timer_settime(p, ids[i], delays[i], 0, 0);
        if (err < 0)
            die("pollux_timer_settime", err);
    }
    int64_t t2 = now_ns();
    /* The wait arms the kernel source for the earliest deadline. */
    if (pollux_wait(p, ev, BATCH, 0) != 0)
        die("unexpected event", -EPROTO);
    for (int i = 0; i < n; i++) /* move every deadline: re-arm */
        pollux_timer_settime(p, ids[i], delays[n - 1 - i], 0, 0);
    int64_t t3 = now_ns();
    for (int i = 0; i < n; i++)
        pollux_timer_settime(p, ids[i], 0, 0, 0);
    int64_t t4 = now_ns();

    printf("timers: %d\n", n);
    print_per("ns per create", t1 - t0, n);
    print_per("ns per add (settime, random deadline)", t2 - t1, n);
    print_per("ns per re-arm (settime of an armed timer)", t3 - t2, n);
    print_per("ns per cancel (settime 0)", t4 - t3, n);

    for (int i = 0; i < n; i++)
        pollux_timer_settime(p, ids[i], delays[i], 0, 0);
    int64_t t5 = now_ns();
    for (int i = 0; i < n; i++)
        pollux_timer_delete(p, ids[i]);
    int64_t t6 = now_ns();
    print_per("ns per cancel (delete of an armed timer)", t6 - t5, n);

    /* Expiry: deadlines spread over a 100 ms window; once all are due,
     * drain them. The time measured is pollux's work per expiration:
     * moving it off the heap and reporting it. */
    for (int i = 0; i < n; i++)
        if ((ids[i] = pollux_timer_create(p, CLOCK_MONOTONIC, NULL)) < 0)
            die("pollux_timer_create", ids[i]);
    int64_t base = now_ns() + 100 * MS;
    for (int i = 0; i < n; i++)
        pollux_timer_settime(p, ids[i], base + (int64_t)(rng() % (uint64_t)(100 * MS)), 0,
                             POLLUX_TIMER_ABSTIME);
    int64_t arm_end = now_ns();
    if (arm_end > base)
        fprintf(stderr, "bench_timers: arming took %.0f ms, longer than the 100 ms lead\n",
                (arm_end - base) / 1e6);
    sleep_until(base + 100 * MS + 1 * MS);
    int64_t t7 = now_ns();
    int waits = drain_timers(p, ev, n, 1 * SEC);
    int64_t t8 = now_ns();
    print_per("ns per expiry (all due, drained by pollux_wait)", t8 - t7, n);
    printf("waits to drain: %d of up to %d events\n", waits, BATCH);

    /* The same, live: deadlines ahead, the loop waits for them. */
    base = now_ns() + 50 * MS;
    for (int i = 0; i < n; i++)
        pollux_timer_settime(p, ids[i], base + (int64_t)(rng() % (uint64_t)(200 * MS)), 0,
                             POLLUX_TIMER_ABSTIME);
    drain_timers(p, ev, n, 2 * SEC);
    int64_t worst = now_ns() - (base + 200 * MS);
    printf("live drain of %d timers over 200 ms: last reported %.2f ms after the window\n", n,
           worst / 1e6);

    long rss_after = max_rss_kb();
    printf("peak RSS: %ld kB (before the timers: %ld kB)\n", rss_after, rss_before);
    printf("bytes per timer: %.1f\n", (rss_after - rss_before) * 1024.0 / n);

    for (int i = 0; i < n; i++)
        pollux_timer_delete(p, ids[i]);
    pollux_free(p);
    free(ids);
    free(delays);
    free(ev);
}

int main(int argc, char **argv)
{
    pollux_backend b = POLLUX_BACKEND_AUTO;
    if (argc > 1 && strcmp(argv[1], "auto") != 0) {
        int found = 0;
        for (int i = POLLUX_BACKEND_SELECT; i <= POLLUX_BACKEND_DEVPOLL; i++) {
            const char *name = pollux_backend_name((pollux_backend)i);
            if (name != NULL && strcmp(name, argv[1]) == 0) {
                b = (pollux_backend)i;
                found = 1;
            }
        }
        if (!found) {
            fprintf(stderr, "bench_timers: unknown backend '%s'\n", argv[1]);
            return 2;
        }
    }
    int n = argc > 2 ? atoi(argv[2]) : 1000000;
    int samples = argc > 3 ? atoi(argv[3]) : 2000;
    if (n < 1 || samples < 1) {
        fprintf(stderr, "usage: %s [BACKEND [N [LATENCY_SAMPLES]]]\n", argv[0]);
        return 2;
    }

    pollux *probe = new_poller(b);
    printf("backend: %s\n", pollux_backend_name(pollux_backend_of(probe)));
    pollux_free(probe);
    fflush(stdout);

    lateness(b, samples);
    fflush(stdout);
    scale(b, n);
    return 0;
}
