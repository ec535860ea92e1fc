/*
 * common.h - helpers shared by the benchmark programs: the socketpairs,
 * the clock, statistics and memory readings.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdint.h>

/* N socketpairs: rfd[i] is watched, wfd[i] is its peer. Non-blocking. */
struct bench_pairs {
    int n;
    int *rfd;
    int *wfd;
};

extern struct bench_pairs bench_pairs;
/* Callbacks run by bench_readable() since the last reset. */
extern uint64_t bench_dispatched;

/* Raise the soft RLIMIT_NOFILE to the hard limit. */
void bench_raise_nofile(void);
/* Open n socketpairs into bench_pairs; 0 or -errno. */
int bench_pairs_open(int n);
void bench_pairs_close(void);
/* Write one byte to the peer of each of 'active' evenly spaced sockets. */
void bench_pairs_seed(int active);
/* Read every pending byte; returns the number of bytes drained. */
long bench_pairs_drain(void);

int64_t bench_now_ns(void);

struct bench_stats {
    double median, min, max;
};
/* Sorts v[0..n-1] in place. */
struct bench_stats bench_stats_of(double *v, int n);

/* Resident set size in bytes, from /proc/self/statm. */
long bench_rss_bytes(void);

/* Parse "100,1000,5000" into out[]; returns the count (<= max). */
int bench_parse_ints(const char *s, int *out, int max);
/* True when name appears in the comma-separated list (NULL: every name). */
int bench_name_in(const char *list, const char *name);

#endif
