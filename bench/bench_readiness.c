/*
 * bench_readiness.c - the readiness benchmark, after libev's classic one.
 *
 * N socketpairs are watched for reading; A bytes ("tokens") circulate
 * round-robin along the chain of sockets. One iteration is one wait plus
 * its dispatch: every ready socket's byte is read and one is written to the
 * next socket. With --modes rearm, every watcher is also re-registered
 * before each wait. Reports ns per iteration: the median, min and max over
 * the repetitions, the ratio of the median to raw epoll's, and the median
 * of the per-repetition ratios to raw epoll (each driver and raw epoll
 * measured back to back in the same repetition): with differences of a
 * percent, this paired figure is the steadier one on a shared machine.
 *
 * Drivers are interleaved within each repetition, in alternating order, so
 * slow drift of the machine hits all of them alike.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "common.h"
#include "driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST 16
#define MAX_REPS 31

struct options {
    int n[MAX_LIST], n_count;
    int active[MAX_LIST], active_count;
    int reps;
    int64_t budget_ns;  /* timed part of one measurement */
    const char *drivers; /* NULL: all */
    const char *modes;   /* "kept,rearm" */
};

static int iterate(const struct driver *d, void *st, int rearm, long iters)
{
    for (long k = 0; k < iters; k++) {
        int r;
        if (rearm && (r = d->rearm(st)) < 0)
            return r;
        if ((r = d->run_once(st)) < 0)
            return r;
    }
    return 0;
}

/* Warm up while finding how many iterations fill the budget, then time
 * that many without reading the clock inside the loop. */
static int timed(const struct driver *d, void *st, int rearm, int64_t budget, double *ns)
{
    long iters = 1;
    int64_t t;
    int r;

    for (;;) {
        int64_t t0 = bench_now_ns();
        if ((r = iterate(d, st, rearm, iters)) < 0)
            return r;
        t = bench_now_ns() - t0;
        if (t >= budget / 8 || iters >= 1L << 30)
            break;
        iters *= 2;
    }
    iters = (long)((double)budget * (double)iters / (double)(t > 0 ? t : 1));
    if (iters < 1)
        iters = 1;
    int64_t t0 = bench_now_ns();
    if ((r = iterate(d, st, rearm, iters)) < 0)
        return r;
    *ns = (double)(bench_now_ns() - t0) / (double)iters;
    return 0;
}

static int measure(const struct driver *d, int active, int rearm, int64_t budget, double *ns)
{
    void *st = NULL;
    int r = d->setup(&st, bench_pairs.rfd, bench_pairs.n);

    if (r == 0) {
        bench_pairs_seed(active);
        r = timed(d, st, rearm, budget, ns);
    }
    if (st)
        d->teardown(st);
    long left = bench_pairs_drain();
    if (r == 0 && left != active) {
        fprintf(stderr, "bench_readiness: %s lost tokens: %ld of %d left\n", d->name, left, active);
        r = -EPROTO;
    }
    return r;
}

static const struct driver *drivers[MAX_LIST];
static int ndrivers;
static int violations;

/* Check the targets on one row and say so on stderr. */
/* Issue 11: without re-registration, within 2% of raw epoll (the paired
 * ratio); with it, within 5% (its syscalls dominate either way). */
#define KEPT_TARGET 1.02
#define REARM_TARGET 1.05

static void check_targets(const char *cell, int rearm, struct bench_stats *st,
                          const double *paired, const int *ok)
{
    int e = -1, px = -1;

    for (int i = 0; i < ndrivers; i++) {
        if (strcmp(drivers[i]->name, "epoll") == 0)
            e = i;
        if (strcmp(drivers[i]->name, "pollux-epoll") == 0)
            px = i;
    }
    if (px < 0 || !ok[px])
        return;
    double target = rearm ? REARM_TARGET : KEPT_TARGET;
    if (e >= 0 && ok[e] && paired[px] > target) {
        fprintf(stderr, "target missed: %s pollux-epoll %.3f x epoll (paired) > %.2f\n", cell,
                paired[px], target);
        violations++;
    }
    for (int i = 0; i < ndrivers; i++) {
        const char *nm = drivers[i]->name;
        if (!ok[i] || strncmp(nm, "lib", 3) != 0 || st[px].median < st[i].median)
            continue;
        fprintf(stderr, "target missed: %s pollux-epoll %.0f ns >= %s %.0f ns\n",
                cell, st[px].median, nm, st[i].median);
        violations++;
    }
}

static void run_cell(const struct options *o, int active, int rearm)
{
    static double v[MAX_LIST][MAX_REPS];
    struct bench_stats st[MAX_LIST];
    int ok[MAX_LIST];
    char cell[64];

    snprintf(cell, sizeof cell, "N=%d A=%d %s", bench_pairs.n, active, rearm ? "rearm" : "kept");
    fprintf(stderr, "  %s\n", cell);
    for (int i = 0; i < ndrivers; i++)
        ok[i] = 1;
    for (int rep = 0; rep < o->reps; rep++) {
        /* Odd repetitions run the drivers in reverse order, so that no
         * driver always runs right after the same one. */
        for (int k = 0; k < ndrivers; k++) {
            int i = rep % 2 ? ndrivers - 1 - k : k;
            if (!ok[i])
                continue;
            int r = measure(drivers[i], active, rearm, o->budget_ns, &v[i][rep]);
            if (r < 0) {
                if (r != -ENOTSUP)
                    fprintf(stderr, "  %s: %s\n", drivers[i]->name, strerror(-r));
                ok[i] = 0;
            }
        }
    }
    double base = 0, paired[MAX_LIST] = { 0 };
    int e = -1;
    for (int i = 0; i < ndrivers; i++) {
        if (ok[i] && strcmp(drivers[i]->name, "epoll") == 0)
            e = i;
    }
    /* The paired ratios first: bench_stats_of() sorts what it is given. */
    for (int i = 0; i < ndrivers; i++) {
        if (e >= 0 && ok[e] && ok[i]) {
            double ratio[MAX_REPS];
            for (int rep = 0; rep < o->reps; rep++)
                ratio[rep] = v[i][rep] / v[e][rep];
            paired[i] = bench_stats_of(ratio, o->reps).median;
        }
    }
    for (int i = 0; i < ndrivers; i++)
        if (ok[i])
            st[i] = bench_stats_of(v[i], o->reps);
    if (e >= 0 && ok[e])
        base = st[e].median;
    for (int i = 0; i < ndrivers; i++) {
        printf("| %d | %d | %s | %s ", bench_pairs.n, active, rearm ? "rearm" : "kept",
               drivers[i]->name);
        if (!ok[i])
            printf("| n/a | | | | |\n");
        else if (base > 0)
            printf("| %.0f | %.0f | %.0f | %.2f | %.3f |\n", st[i].median, st[i].min, st[i].max,
                   st[i].median / base, paired[i]);
        else
            printf("| %.0f | %.0f | %.0f | | |\n", st[i].median, st[i].min, st[i].max);
    }
    fflush(stdout);
    check_targets(cell, rearm, st, paired, ok);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_readiness [--n 100,1000,5000,9000] [--active 1,100]\n"
            "       [--reps 7] [--ms 100] [--modes kept,rearm] [--drivers a,b] [--list]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct options o = { .n = {100, 1000, 5000, 9000}, .n_count = 4,
                         .active = {1, 100}, .active_count = 2,
                         .reps = 7, .budget_ns = 100000000, .modes = "kept,rearm" };

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--list") == 0) {
            for (int k = 0; bench_drivers[k]; k++)
                puts(bench_drivers[k]->name);
            return 0;
        }
        if (!v)
            usage();
        i++;
        if (strcmp(a, "--n") == 0)
            o.n_count = bench_parse_ints(v, o.n, MAX_LIST);
        else if (strcmp(a, "--active") == 0)
            o.active_count = bench_parse_ints(v, o.active, MAX_LIST);
        else if (strcmp(a, "--reps") == 0)
            o.reps = atoi(v);
        else if (strcmp(a, "--ms") == 0)
            o.budget_ns = (int64_t)(atof(v) * 1e6);
        else if (strcmp(a, "--modes") == 0)
            o.modes = v;
        else if (strcmp(a, "--drivers") == 0)
            o.drivers = v;
        else
            usage();
    }
    if (o.reps < 1 || o.reps > MAX_REPS || o.budget_ns <= 0)
        usage();
    for (int k = 0; bench_drivers[k] && ndrivers < MAX_LIST; k++)
        if (bench_name_in(o.drivers, bench_drivers[k]->name))
            drivers[ndrivers++] = bench_drivers[k];

    bench_raise_nofile();
    printf("## Readiness: ns per iteration (median of %d; min, max; ratio of medians to raw "
           "epoll; median of the ratios within each repetition)\n\n",
           o.reps);
    printf("| N | A | watchers | driver | median | min | max | vs epoll | paired |\n");
    printf("|--:|--:|---|---|--:|--:|--:|--:|--:|\n");
    for (int ni = 0; ni < o.n_count; ni++) {
        int r = bench_pairs_open(o.n[ni]);
        if (r < 0) {
            fprintf(stderr, "bench_readiness: %d socketpairs: %s\n", o.n[ni], strerror(-r));
            return 1;
        }
        for (int ai = 0; ai < o.active_count; ai++) {
            if (o.active[ai] > o.n[ni])
                continue;
            if (bench_name_in(o.modes, "kept"))
                run_cell(&o, o.active[ai], 0);
            if (bench_name_in(o.modes, "rearm"))
                run_cell(&o, o.active[ai], 1);
        }
        bench_pairs_close();
    }
    printf("\n");
    fprintf(stderr, "bench_readiness: %d target violation(s)\n", violations);
    return 0;
}
