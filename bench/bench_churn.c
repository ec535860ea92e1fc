/*
 * bench_churn.c - the cost of changing registrations: ns and syscalls per
 * register, modify (READ <-> READ|WRITE), modify to the same mask, and
 * unregister, over N sockets (5000 by default).
 *
 * Syscalls are counted by the program itself: it forks a child that runs
 * the phases once under ptrace(PTRACE_SYSCALL), and the parent counts the
 * child's syscall entries (PTRACE_GET_SYSCALL_INFO) between marker calls,
 * close(-1000 - phase), that the child makes at each phase boundary. This
 * counts exactly the syscalls of each phase, vDSO calls excluded, and the
 * tracing never slows the timed runs, which are separate and untraced.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ptrace.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef BENCH_HAVE_POLLUX
#include "pollux.h"
#endif

#define MAX_REPS 31
#define MARKER_BASE 1000

enum phase { P_SETUP, P_REGISTER, P_MODIFY, P_SAME, P_UNREGISTER, P_END, NPHASES = P_END };
static const char *const phase_names[] = { "setup", "register", "modify", "modify same", "unregister" };

/* A target: raw epoll (backend < 0) or pollux on a backend. */
struct target {
    const char *name;
    int backend;
};

static const struct target targets[] = {
    { "epoll", -1 },
#ifdef BENCH_POLLUX_EPOLL
    { "pollux-epoll", POLLUX_BACKEND_EPOLL },
#endif
#ifdef BENCH_POLLUX_POLL
    { "pollux-poll", POLLUX_BACKEND_POLL },
#endif
#ifdef BENCH_POLLUX_SELECT
    { "pollux-select", POLLUX_BACKEND_SELECT },
#endif
};
#define NTARGETS ((int)(sizeof targets / sizeof targets[0]))

static int epfd = -1;
#ifdef BENCH_HAVE_POLLUX
static pollux *px;
#endif

static int t_open(const struct target *t)
{
    if (t->backend < 0)
        return (epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ? -errno : 0;
#ifdef BENCH_HAVE_POLLUX
    return pollux_new(&px, (pollux_backend)t->backend);
#else
    return -ENOTSUP;
#endif
}

static void t_close(const struct target *t)
{
    if (t->backend < 0)
        close(epfd);
#ifdef BENCH_HAVE_POLLUX
    else
        pollux_free(px);
#endif
}

/* op: EPOLL_CTL_ADD, _MOD or _DEL; write: add WRITE to READ. */
static int t_ctl(const struct target *t, int op, int fd, int write)
{
    if (t->backend < 0) {
        struct epoll_event ev = { .events = EPOLLIN | (write ? EPOLLOUT : 0), .data.fd = fd };
        return epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0;
    }
#ifdef BENCH_HAVE_POLLUX
    uint32_t mask = POLLUX_READ | (write ? POLLUX_WRITE : 0);
    if (op == EPOLL_CTL_ADD)
        return pollux_register(px, fd, mask, NULL);
    if (op == EPOLL_CTL_MOD)
        return pollux_modify(px, fd, mask, NULL);
    return pollux_unregister(px, fd);
#else
    return -ENOTSUP;
#endif
}

static void marker(enum phase ph)
{
    close(-MARKER_BASE - (int)ph);
}

/* Run every phase over the first n sockets; ns[ph] = ns per operation. */
static int run_phases(const struct target *t, int n, double *ns)
{
    int64_t t0;
    int r = 0;

    marker(P_SETUP);
    if ((r = t_open(t)) < 0)
        return r;
#define PHASE(ph, ops, body)                                                                       \
    do {                                                                                           \
        marker(ph);                                                                                \
        t0 = bench_now_ns();                                                                       \
        for (int i = 0; r == 0 && i < n; i++) {                                                    \
            body;                                                                                  \
        }                                                                                          \
        ns[ph] = (double)(bench_now_ns() - t0) / (ops);                                            \
    } while (0)
    PHASE(P_REGISTER, n, r = t_ctl(t, EPOLL_CTL_ADD, bench_pairs.rfd[i], 0));
    PHASE(P_MODIFY, 2.0 * n,
          r = t_ctl(t, EPOLL_CTL_MOD, bench_pairs.rfd[i], 1);
          if (r == 0) r = t_ctl(t, EPOLL_CTL_MOD, bench_pairs.rfd[i], 0));
    PHASE(P_SAME, n, r = t_ctl(t, EPOLL_CTL_MOD, bench_pairs.rfd[i], 0));
    PHASE(P_UNREGISTER, n, r = t_ctl(t, EPOLL_CTL_DEL, bench_pairs.rfd[i], 0));
#undef PHASE
    marker(P_END);
    t_close(t);
    return r;
}

/* Syscalls per phase of one traced run in a child; -1 when ptrace fails. */
static int count_syscalls(const struct target *t, int n, long *count)
{
    pid_t pid = fork();
    int status, phase = P_SETUP;

    if (pid < 0)
        return -errno;
    if (pid == 0) {
        double ns[NPHASES];
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
            _exit(3);
        raise(SIGSTOP);
        _exit(run_phases(t, n, ns) < 0 ? 1 : 0);
    }
    memset(count, 0, NPHASES * sizeof *count);
    if (waitpid(pid, &status, 0) < 0 || !WIFSTOPPED(status)) {
        waitpid(pid, &status, 0);
        return -EPERM;
    }
    ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL));
    for (;;) {
        if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL) < 0 || waitpid(pid, &status, 0) < 0)
            return -errno;
        if (WIFEXITED(status) || WIFSIGNALED(status))
            break;
        if (!WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80))
            continue;
        struct __ptrace_syscall_info info;
        if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info) <= 0 ||
            info.op != PTRACE_SYSCALL_INFO_ENTRY)
            continue;
        int arg0 = (int)info.entry.args[0];
        if ((long)info.entry.nr == SYS_close && arg0 <= -MARKER_BASE &&
            arg0 >= -MARKER_BASE - P_END)
            phase = -MARKER_BASE - arg0;
        else if (phase < P_END)
            count[phase]++;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

int main(int argc, char **argv)
{
    int n = 5000, reps = 7;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--n") == 0)
            n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--reps") == 0)
            reps = atoi(argv[i + 1]);
    }
    if (n < 1 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "usage: bench_churn [--n 5000] [--reps 7]\n");
        return 2;
    }
    bench_raise_nofile();
    if (bench_pairs_open(n) < 0) {
        perror("bench_churn: socketpairs");
        return 1;
    }
    printf("## Churn: ns per operation (median of %d; min-max) and syscalls per operation\n\n",
           reps);
    printf("| driver | N |");
    for (int ph = P_REGISTER; ph < P_END; ph++)
        printf(" %s ns | syscalls |", phase_names[ph]);
    printf(" vs epoll (sum of ns) |\n|---|--:|");
    for (int ph = P_REGISTER; ph < P_END; ph++)
        printf("--:|--:|");
    printf("--:|\n");

    double base = 0;
    for (int k = 0; k < NTARGETS; k++) {
        const struct target *t = &targets[k];
        double v[NPHASES][MAX_REPS], ns[NPHASES];
        long count[NPHASES];
        int tn = n, r = 0;

        /* select cannot take descriptors >= FD_SETSIZE: use the low ones. */
        if (strcmp(t->name, "pollux-select") == 0)
            while (tn > 0 && bench_pairs.rfd[tn - 1] >= FD_SETSIZE)
                tn--;
        for (int rep = 0; r == 0 && rep < reps; rep++) {
            r = run_phases(t, tn, ns);
            for (int ph = 0; ph < NPHASES; ph++)
                v[ph][rep] = ns[ph];
        }
        if (r < 0) {
            printf("| %s | %d | n/a (%s) |\n", t->name, tn, strerror(-r));
            continue;
        }
        int counted = count_syscalls(t, tn, count) == 0;
        double sum = 0;
        printf("| %s | %d |", t->name, tn);
        for (int ph = P_REGISTER; ph < P_END; ph++) {
            struct bench_stats s = bench_stats_of(v[ph], reps);
            double ops = ph == P_MODIFY ? 2.0 * tn : tn;
            sum += s.median;
            printf(" %.0f (%.0f-%.0f) |", s.median, s.min, s.max);
            if (counted)
                printf(" %.2f |", (double)count[ph] / ops);
            else
                printf(" ? |");
        }
        if (base == 0)
            base = sum;
        printf(" %.2f |\n", sum / base);
        fflush(stdout);
    }
    printf("\n");
    bench_pairs_close();
    return 0;
}
