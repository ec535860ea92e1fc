/*
 * common.c - helpers shared by the benchmark programs.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct bench_pairs bench_pairs;
uint64_t bench_dispatched;

void bench_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int bench_pairs_open(int n)
{
    struct bench_pairs *p = &bench_pairs;

    p->rfd = calloc((size_t)n, sizeof *p->rfd);
    p->wfd = calloc((size_t)n, sizeof *p->wfd);
    if (!p->rfd || !p->wfd)
        return -ENOMEM;
    for (p->n = 0; p->n < n; p->n++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
            int err = -errno;
            bench_pairs_close();
            return err;
        }
        p->rfd[p->n] = sv[0];
        p->wfd[p->n] = sv[1];
    }
    return 0;
}

void bench_pairs_close(void)
{
    struct bench_pairs *p = &bench_pairs;

    for (int i = 0; i < p->n; i++) {
        close(p->rfd[i]);
        close(p->wfd[i]);
    }
    free(p->rfd);
    free(p->wfd);
    memset(p, 0, sizeof *p);
}

void bench_pairs_seed(int active)
{
    int space = bench_pairs.n / active;

    for (int i = 0; i < active; i++)
        if (write(bench_pairs.wfd[i * space], "e", 1) != 1)
            perror("bench: seed write");
}

long bench_pairs_drain(void)
{
    char buf[64];
    long total = 0;

    for (int i = 0; i < bench_pairs.n; i++) {
        ssize_t r;
        while ((r = read(bench_pairs.rfd[i], buf, sizeof buf)) > 0)
            total += r;
    }
    return total;
}

/*
 * The work every driver does per ready descriptor, as in libev's classic
 * benchmark: take this socket's byte and pass one to the next socket of the
 * chain. Exactly one byte is read, so a socket that received two keeps
 * one and is reported again (also under edge triggering: the second byte's
 * arrival queued a new edge).
 */
void bench_readable(int i)
{
    char ch;

    bench_dispatched++;
    if (read(bench_pairs.rfd[i], &ch, 1) != 1)
        return; /* spurious: no token here, none to pass on */
    if (++i == bench_pairs.n)
        i = 0;
    if (write(bench_pairs.wfd[i], &ch, 1) != 1)
        perror("bench: chain write");
}

int64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct bench_stats bench_stats_of(double *v, int n)
{
    struct bench_stats s = {0, 0, 0};

    if (n < 1)
        return s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return s;
}

long bench_rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

int bench_parse_ints(const char *s, int *out, int max)
{
    int count = 0;
    char *end;

    while (*s && count < max) {
        long v = strtol(s, &end, 10);
        if (end == s || v < 1)
            break;
        out[count++] = (int)v;
        s = *end == ',' ? end + 1 : end;
    }
    return count;
}

int bench_name_in(const char *list, const char *name)
{
    size_t len = strlen(name);

    if (!list)
        return 1;
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += len)
        if ((p == list || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
            return 1;
    return 0;
}
