/*
 * bench_memory.c - memory per registered descriptor, N = 9000 by default.
 *
 * The socketpairs are opened first; then, in a fresh child process per
 * measurement (so that no earlier driver's freed memory is reused), the
 * resident set size (/proc/self/statm) and the heap in use (mallinfo2:
 * arena bytes in use plus mmapped blocks) are read before and after the
 * driver creates its loop and registers N descriptors. The socketpairs'
 * own cost is outside the difference. Kernel memory (epoll's epitems, a
 * poll's kernel copy) is not in either number.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "common.h"
#include "driver.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_REPS 31

struct sample {
    long rss;  /* bytes of RSS added */
    long heap; /* bytes of heap added */
    int err;
};

static long heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (long)(mi.uordblks + mi.hblkhd);
}

static struct sample measure_here(const struct driver *d)
{
    struct sample s = {0, 0, 0};
    void *st = NULL;

    /* The first reading pays for stdio's own setup: leave it out. */
    bench_rss_bytes();
    heap_bytes();
    long rss0 = bench_rss_bytes(), heap0 = heap_bytes();

    s.err = d->setup(&st, bench_pairs.rfd, bench_pairs.n);
    s.rss = bench_rss_bytes() - rss0;
    s.heap = heap_bytes() - heap0;
    if (st)
        d->teardown(st);
    return s;
}

static struct sample measure(const struct driver *d)
{
    struct sample s = { .err = -EIO };
    int fd[2], status;

    if (pipe(fd) < 0)
        return s;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        s = measure_here(d);
        _exit(write(fd[1], &s, sizeof s) == sizeof s ? 0 : 1);
    }
    close(fd[1]);
    if (pid < 0 || read(fd[0], &s, sizeof s) != sizeof s)
        s.err = -EIO;
    close(fd[0]);
    if (pid > 0)
        waitpid(pid, &status, 0);
    return s;
}

int main(int argc, char **argv)
{
    int n = 9000, reps = 5;
    const char *only = NULL;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--n") == 0)
            n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--reps") == 0)
            reps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--drivers") == 0)
            only = argv[i + 1];
    }
    if (n < 1 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "usage: bench_memory [--n 9000] [--reps 5] [--drivers a,b]\n");
        return 2;
    }
    bench_raise_nofile();
    if (bench_pairs_open(n) < 0) {
        perror("bench_memory: socketpairs");
        return 1;
    }
    printf("## Memory: bytes per registered descriptor at N=%d (median of %d; min-max)\n\n",
           n, reps);
    printf("Loop creation is included (amortized over N); kernel memory is not.\n\n");
    printf("| driver | RSS bytes/fd | heap bytes/fd (mallinfo2) |\n|---|--:|--:|\n");
    for (int k = 0; bench_drivers[k]; k++) {
        const struct driver *d = bench_drivers[k];
        double rss[MAX_REPS], heap[MAX_REPS];
        int err = 0;

        if (!bench_name_in(only, d->name))
            continue;
        for (int rep = 0; !err && rep < reps; rep++) {
            struct sample s = measure(d);
            err = s.err;
            rss[rep] = (double)s.rss / n;
            heap[rep] = (double)s.heap / n;
        }
        if (err) {
            printf("| %s | n/a (%s) | |\n", d->name, strerror(-err));
            continue;
        }
        struct bench_stats r = bench_stats_of(rss, reps), h = bench_stats_of(heap, reps);
        printf("| %s | %.1f (%.1f-%.1f) | %.1f (%.1f-%.1f) |\n", d->name, r.median, r.min, r.max,
               h.median, h.min, h.max);
    }
    printf("\n");
    bench_pairs_close();
    return 0;
}
