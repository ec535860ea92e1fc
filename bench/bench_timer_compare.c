/*
 * bench_timer_compare.c - pollux's timers side by side with libev's,
 * libevent's and libuv's, the rows of the timer table in docs/benchmarks.md.
 *
 *   bench_timer_compare [--reps 5] [--quick] [--libs a,b] [--n N]
 *                       [--keepalive K] [--rounds R] [--ops M] [--among B]
 *   bench_timer_compare --lib NAME [--scenario S] [sizes as above]
 *
 * Without --lib, the program runs every (scenario, library) pair in a
 * fresh process of its own (fork + exec of itself with --lib), so that no
 * library's memory, heap layout or peak RSS is shared with another's, and
 * interleaves the libraries within each repetition so that drift of the
 * machine hits all of them alike. It prints a Markdown table of medians
 * and one of min-max. With --lib it runs the scenarios of one library in
 * this process (all four unless --scenario names one) and prints
 * "row value" lines: the mode to run under a profiler.
 *
 * Every time is the process's CPU time (CLOCK_PROCESS_CPUTIME_ID), read
 * outside the loops: the timed loops never block, and on a shared machine
 * CPU time leaves out the time other processes held the CPU, which wall
 * time does not.
 *
 * Scenarios and the rows they give (ns per operation unless noted):
 *   expire     create + arm N one-shot timers, deadlines spread over
 *              1 ms - 1 s ("create"); run the loop, blocking, until all N
 *              fired: process CPU time / N ("expire"); peak RSS growth
 *              from after the loop's creation to the end / N ("bytes").
 *   keepalive  K timers armed 10-20 s ahead (a fixed timeout each), then
 *              R rounds: reset every timer to its timeout, then one
 *              non-blocking loop pass. "reset": the resets only, per reset;
 *              "pass": the passes, ns per pass (not in the table:
 *              it shows work a library defers from the reset to the loop).
 *   cancel     arm + cancel of one timer M times, no other timer armed.
 *   among      the same among B timers armed 10-20 s ahead, so that the
 *              one timer is always the earliest (no loop pass runs).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "common.h"
#include "timer_driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pollux.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define MAX_REPS 31
#define MAX_LIBS 8
#define NDELAYS 1024 /* the table of delays the arm + cancel rows cycle through */

struct sizes {
    int n, keepalive, rounds, ops, among;
};

enum row { R_CREATE, R_EXPIRE, R_RESET, R_PASS, R_CANCEL, R_AMONG, R_BYTES, NROWS };

static const char *const row_key[NROWS] = {
    "create", "expire", "reset", "pass", "cancel", "among", "bytes",
};

static const char *const scenarios[] = { "expire", "keepalive", "cancel", "among", NULL };

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* n delays drawn uniformly from [lo, lo + span). */
static int64_t *delays(int n, int64_t lo, int64_t span)
{
    int64_t *d = malloc((size_t)n * sizeof *d);

    if (!d) {
        fprintf(stderr, "bench_timer_compare: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < n; i++)
        d[i] = lo + (int64_t)(rng() % (uint64_t)span);
    return d;
}

/* The clock of every row: see the top of the file. */
static int64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static long max_rss_kb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void check(const struct timer_driver *d, const char *what, int r)
{
    if (r < 0) {
        fprintf(stderr, "bench_timer_compare: %s: %s: %s\n", d->name, what, strerror(-r));
        exit(1);
    }
}

static void *setup(const struct timer_driver *d, int n)
{
    void *st = NULL;

    check(d, "setup", d->setup(&st, n));
    return st;
}

/* Rows create, expire and bytes. */
static void run_expire(const struct timer_driver *d, int n)
{
    int64_t *delay = delays(n, 1 * MS, 999 * MS);
    void *st = setup(d, n);
    long rss0 = max_rss_kb();

    int r = 0;
    int64_t t0 = cpu_ns();
    for (int i = 0; i < n; i++)
        if ((r = d->create(st, i)) < 0 || (r = d->arm(st, i, delay[i])) < 0)
            break;
    int64_t t1 = cpu_ns();
    check(d, "create + arm", r);
    printf("create %.2f\n", (double)(t1 - t0) / n);

    bench_timer_fired = 0;
    int64_t c0 = cpu_ns(), give_up = bench_now_ns() + 30 * SEC;
    while (bench_timer_fired < (uint64_t)n && bench_now_ns() < give_up)
        check(d, "run", d->run(st, 1));
    int64_t c1 = cpu_ns();
    if (bench_timer_fired != (uint64_t)n) {
        fprintf(stderr, "bench_timer_compare: %s: %llu of %d timers fired\n", d->name,
                (unsigned long long)bench_timer_fired, n);
        exit(1);
    }
    printf("expire %.2f\n", (double)(c1 - c0) / n);
    printf("bytes %.2f\n", (double)(max_rss_kb() - rss0) * 1024.0 / n);
    d->teardown(st);
    free(delay);
}

/* Rows reset and pass. */
static void run_keepalive(const struct timer_driver *d, int k, int rounds)
{
    int64_t *timeout = delays(k, 10 * SEC, 10 * SEC);
    void *st = setup(d, k);
    int r = 0;

    for (int i = 0; i < k; i++) {
        check(d, "create", d->create(st, i));
        check(d, "reset", d->reset(st, i, timeout[i]));
    }
    check(d, "run", d->run(st, 0));
    bench_timer_fired = 0;
    int64_t resets = 0, passes = 0;
    for (int round = 0; round < rounds; round++) {
        int64_t t0 = cpu_ns();
        for (int i = 0; i < k; i++)
            if ((r = d->reset(st, i, timeout[i])) < 0)
                break;
        int64_t t1 = cpu_ns();
        check(d, "reset", r);
        check(d, "run", d->run(st, 0));
        resets += t1 - t0;
        passes += cpu_ns() - t1;
    }
    if (bench_timer_fired != 0)
        fprintf(stderr, "bench_timer_compare: %s: a keepalive timer fired\n", d->name);
    printf("reset %.2f\n", (double)resets / ((double)k * rounds));
    printf("pass %.2f\n", (double)passes / rounds);
    d->teardown(st);
    free(timeout);
}

/* Row cancel (background == 0) or among: arm + cancel of timer 'background'
 * while timers 0..background-1 are armed 10-20 s ahead, so that the probe,
 * 1 ms - 1 s ahead, is always the earliest: a short timeout among long ones,
 * the deepest path through a heap. */
static void run_cancel(const struct timer_driver *d, int ops, int background, const char *row)
{
    int64_t *delay = delays(NDELAYS, 1 * MS, 999 * MS);
    int64_t *far = delays(background > 0 ? background : 1, 10 * SEC, 10 * SEC);
    void *st = setup(d, background + 1);
    int r = 0;

    for (int i = 0; i < background; i++) {
        check(d, "create", d->create(st, i));
        check(d, "arm", d->arm(st, i, far[i]));
    }
    check(d, "create", d->create(st, background));
    int64_t t0 = cpu_ns();
    for (int k = 0; k < ops; k++)
        if ((r = d->arm(st, background, delay[k % NDELAYS])) < 0 ||
            (r = d->cancel(st, background)) < 0)
            break;
    int64_t t1 = cpu_ns();
    check(d, "arm + cancel", r);
    printf("%s %.2f\n", row, (double)(t1 - t0) / ops);
    d->teardown(st);
    free(delay);
    free(far);
}

static void run_scenario(const struct timer_driver *d, const char *sc, const struct sizes *z)
{
    if (strcmp(sc, "expire") == 0)
        run_expire(d, z->n);
    else if (strcmp(sc, "keepalive") == 0)
        run_keepalive(d, z->keepalive, z->rounds);
    else if (strcmp(sc, "cancel") == 0)
        run_cancel(d, z->ops, 0, "cancel");
    else
        run_cancel(d, z->ops, z->among, "among");
    fflush(stdout);
}

struct results {
    double v[NROWS][MAX_LIBS][MAX_REPS];
    int count[NROWS][MAX_LIBS]; /* repetitions that gave the row */
};

static void parse(const char *out, int lib, struct results *res)
{
    for (const char *line = out; *line; ) {
        char key[16];
        double val;
        if (sscanf(line, "%15s %lf", key, &val) == 2)
            for (int row = 0; row < NROWS; row++)
                if (strcmp(key, row_key[row]) == 0 && res->count[row][lib] < MAX_REPS)
                    res->v[row][lib][res->count[row][lib]++] = val;
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : line + strlen(line);
    }
}

/* Run one scenario of one library in a fresh process; its lines into res. */
static void spawn(const char *lib_name, int lib, const char *sc, const struct sizes *z,
                  struct results *res)
{
    char num[5][16], out[4096];
    int fd[2], status = 0;
    size_t len = 0;
    ssize_t got;

    snprintf(num[0], 16, "%d", z->n);
    snprintf(num[1], 16, "%d", z->keepalive);
    snprintf(num[2], 16, "%d", z->rounds);
    snprintf(num[3], 16, "%d", z->ops);
    snprintf(num[4], 16, "%d", z->among);
    char *argv[] = { "bench_timer_compare", "--lib", (char *)lib_name, "--scenario", (char *)sc,
                     "--n", num[0], "--keepalive", num[1], "--rounds", num[2], "--ops", num[3],
                     "--among", num[4], NULL };
    if (pipe(fd) < 0)
        return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(fd[1]);
    while (pid > 0 && len < sizeof out - 1 && (got = read(fd[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)got;
    out[len] = '\0';
    close(fd[0]);
    if (pid > 0)
        waitpid(pid, &status, 0);
    if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "bench_timer_compare: %s %s failed\n", lib_name, sc);
    else
        parse(out, lib, res);
}

static const char *human(int n, char *buf)
{
    if (n % 1000000 == 0)
        sprintf(buf, "%dM", n / 1000000);
    else if (n % 1000 == 0)
        sprintf(buf, "%dk", n / 1000);
    else
        sprintf(buf, "%d", n);
    return buf;
}

static void row_label(int row, const struct sizes *z, char *out, size_t size)
{
    char a[16], b[16];

    switch (row) {
    case R_CREATE: snprintf(out, size, "create + arm, %s timers", human(z->n, a)); break;
    case R_EXPIRE: snprintf(out, size, "CPU per expired timer, %s", human(z->n, a)); break;
    case R_RESET:
        snprintf(out, size, "reset a keepalive timer (%s x %d)", human(z->keepalive, a), z->rounds);
        break;
    case R_CANCEL: snprintf(out, size, "arm + cancel, empty queue"); break;
    case R_AMONG: snprintf(out, size, "arm + cancel among %s", human(z->among, b)); break;
    case R_BYTES: snprintf(out, size, "bytes per timer (peak RSS)"); break;
    default: snprintf(out, size, "loop pass between reset rounds, us (no target)"); break;
    }
}

static const int row_order[NROWS] = { R_CREATE, R_EXPIRE, R_RESET, R_CANCEL, R_AMONG, R_BYTES, R_PASS };

/* Three significant digits at most, without exponents. */
static void put(double v)
{
    printf(v >= 100 ? " %.0f" : v >= 10 ? " %.1f" : " %.2f", v);
}

static int is_pollux(const struct timer_driver *d)
{
    return strncmp(d->name, "pollux", 6) == 0;
}

static int find_libev(const struct timer_driver *const *libs, int nlibs)
{
    for (int l = 0; l < nlibs; l++)
        if (strcmp(libs[l]->name, "libev") == 0)
            return l;
    return -1;
}

/* One "<pollux driver> / libev" column per pollux driver (its two modes). */
static void print_ratios(const struct timer_driver *const *libs, int nlibs,
                         struct bench_stats st[NROWS][MAX_LIBS], const struct results *res, int row)
{
    int ev = find_libev(libs, nlibs);
    for (int l = 0; l < nlibs; l++) {
        if (!is_pollux(libs[l]))
            continue;
        if (ev >= 0 && res->count[row][l] && res->count[row][ev])
            printf(" %.2f |", st[row][l].median / st[row][ev].median);
        else
            printf(" |");
    }
}

static void print_table(const struct timer_driver *const *libs, int nlibs,
                        struct bench_stats st[NROWS][MAX_LIBS], const struct results *res,
                        const struct sizes *z, int spread)
{
    char label[96];
    int columns = nlibs;

    printf("| row |");
    for (int l = 0; l < nlibs; l++)
        printf(" %s |", libs[l]->name);
    for (int l = 0; l < nlibs && !spread; l++)
        if (is_pollux(libs[l])) {
            printf(" %s / libev |", libs[l]->name);
            columns++;
        }
    printf("\n|---|");
    for (int l = 0; l < columns; l++)
        printf("--:|");
    printf("\n");
    for (int k = 0; k < NROWS; k++) {
        int row = row_order[k];
        double scale = row == R_PASS ? 1e-3 : 1;
        row_label(row, z, label, sizeof label);
        printf("| %s |", label);
        for (int l = 0; l < nlibs; l++) {
            if (res->count[row][l] == 0) {
                printf(" n/a |");
                continue;
            }
            put((spread ? st[row][l].min : st[row][l].median) * scale);
            if (spread) {
                printf(" -");
                put(st[row][l].max * scale);
            }
            printf(" |");
        }
        if (!spread)
            print_ratios(libs, nlibs, st, res, row);
        printf("\n");
    }
    printf("\n");
}

/* The targets: each pollux mode at or below libev on every row, at
 * most 64 bytes per timer. Misses go to stderr. */
static int check_targets(const struct timer_driver *const *libs, int nlibs,
                         struct bench_stats st[NROWS][MAX_LIBS], const struct results *res)
{
    int missed = 0, ev = find_libev(libs, nlibs);

    for (int p = 0; p < nlibs; p++) {
        if (!is_pollux(libs[p]))
            continue;
        for (int row = 0; row < NROWS; row++) {
            if (row == R_PASS || res->count[row][p] == 0 || ev < 0 || res->count[row][ev] == 0)
                continue;
            if (st[row][p].median > st[row][ev].median) {
                fprintf(stderr, "target missed: %s: %s %.1f > libev %.1f\n", row_key[row],
                        libs[p]->name, st[row][p].median, st[row][ev].median);
                missed++;
            }
        }
        if (res->count[R_BYTES][p] && st[R_BYTES][p].median > 64) {
            fprintf(stderr, "target missed: bytes: %s %.1f > 64\n", libs[p]->name,
                    st[R_BYTES][p].median);
            missed++;
        }
    }
    return missed;
}

static void load_average(char *out, size_t size)
{
    FILE *f = fopen("/proc/loadavg", "r");

    snprintf(out, size, "unknown");
    if (f) {
        if (fscanf(f, "%15s", out) != 1)
            snprintf(out, size, "unknown");
        fclose(f);
    }
}

static void print_notes(const struct timer_driver *const *libs, int nlibs, int reps,
                        const struct sizes *z, const char *load0)
{
    char load1[16], a[16], b[16];
    pollux *p;

    load_average(load1, sizeof load1);
    printf("## Timers: ns of CPU time per operation (median of %d runs; min - max below)\n\n",
           reps);
    printf("Each library runs each scenario in a fresh process; the libraries take turns within\n"
           "each run. %s one-shot timers with deadlines over 1 ms - 1 s; %s keepalive timers\n"
           "reset %d times, a non-blocking loop pass between rounds; arm + cancel %s times.\n",
           human(z->n, a), human(z->keepalive, b), z->rounds, human(z->ops, a));
    if (pollux_new(&p, POLLUX_BACKEND_AUTO) == 0) {
        printf("pollux backend: %s.", pollux_backend_name(pollux_backend_of(p)));
        pollux_free(p);
    }
    printf(" Per-timer structures counted in bytes per timer:");
    for (int l = 0; l < nlibs; l++)
        if (libs[l]->struct_size())
            printf(" %s %zu B,", libs[l]->storage, libs[l]->struct_size());
    printf(" pollux none. Load average: %s at start, %s at end.\n\n", load0, load1);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_timer_compare [--reps 5] [--quick] [--libs a,b] [--list]\n"
            "       [--n 1000000] [--keepalive 100000] [--rounds 10] [--ops 1000000]\n"
            "       [--among 100000] [--lib NAME [--scenario expire|keepalive|cancel|among]]\n");
    exit(2);
}

/* One of the size options; 0 when a is none of them. */
static int parse_size(const char *a, const char *v, struct sizes *z)
{
    static const char *const names[] = { "--n", "--keepalive", "--rounds", "--ops", "--among" };
    int *fields[] = { &z->n, &z->keepalive, &z->rounds, &z->ops, &z->among };

    for (int k = 0; k < 5; k++)
        if (strcmp(a, names[k]) == 0) {
            *fields[k] = atoi(v);
            return 1;
        }
    return 0;
}

static const struct timer_driver *find(const char *name)
{
    for (int k = 0; bench_timer_drivers[k]; k++)
        if (strcmp(bench_timer_drivers[k]->name, name) == 0)
            return bench_timer_drivers[k];
    fprintf(stderr, "bench_timer_compare: no driver '%s' in this build\n", name);
    exit(2);
}

static int compare(const char *only, int reps, const struct sizes *z)
{
    static struct results res;
    static struct bench_stats st[NROWS][MAX_LIBS];
    const struct timer_driver *libs[MAX_LIBS];
    int nlibs = 0;
    char load0[16];

    load_average(load0, sizeof load0);
    for (int k = 0; bench_timer_drivers[k] && nlibs < MAX_LIBS; k++)
        if (bench_name_in(only, bench_timer_drivers[k]->name))
            libs[nlibs++] = bench_timer_drivers[k];
    for (int rep = 0; rep < reps; rep++) {
        fprintf(stderr, "  timers: run %d of %d\n", rep + 1, reps);
        for (int sc = 0; scenarios[sc]; sc++)
            for (int l = 0; l < nlibs; l++)
                spawn(libs[l]->name, l, scenarios[sc], z, &res);
    }
    for (int row = 0; row < NROWS; row++)
        for (int l = 0; l < nlibs; l++)
            st[row][l] = bench_stats_of(res.v[row][l], res.count[row][l]);
    print_notes(libs, nlibs, reps, z, load0);
    print_table(libs, nlibs, st, &res, z, 0);
    print_table(libs, nlibs, st, &res, z, 1);
    fflush(stdout);
    fprintf(stderr, "bench_timer_compare: %d target miss(es)\n",
            check_targets(libs, nlibs, st, &res));
    return 0;
}

int main(int argc, char **argv)
{
    struct sizes z = { 1000000, 100000, 10, 1000000, 100000 };
    const char *lib = NULL, *scenario = NULL, *only = NULL;
    int reps = 5;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--list") == 0) {
            for (int k = 0; bench_timer_drivers[k]; k++)
                puts(bench_timer_drivers[k]->name);
            return 0;
        }
        if (strcmp(a, "--quick") == 0) {
            z = (struct sizes){ 100000, 10000, 10, 100000, 10000 };
            continue;
        }
        if (!v)
            usage();
        i++;
        if (strcmp(a, "--reps") == 0)
            reps = atoi(v);
        else if (strcmp(a, "--libs") == 0)
            only = v;
        else if (strcmp(a, "--lib") == 0)
            lib = v;
        else if (strcmp(a, "--scenario") == 0)
            scenario = v;
        else if (!parse_size(a, v, &z))
            usage();
    }
    if (reps < 1 || reps > MAX_REPS || z.n < 1 || z.keepalive < 1 || z.rounds < 1 ||
        z.ops < 1 || z.among < 1)
        usage();
    if (!lib)
        return compare(only, reps, &z);
    const struct timer_driver *d = find(lib);
    int ran = 0;
    for (int sc = 0; scenarios[sc]; sc++)
        if (!scenario || strcmp(scenario, scenarios[sc]) == 0) {
            run_scenario(d, scenarios[sc], &z);
            ran++;
        }
    if (!ran)
        usage();
    return 0;
}
