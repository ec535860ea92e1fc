/*
 * supervisor.c - keep a program running: start it, start it again when it
 * exits, restart it on SIGHUP (a reload), stop it and exit on SIGTERM or
 * SIGINT. Signals, the child's exit and the restart delay are all events
 * of one pollux loop.
 *
 *   supervisor PROGRAM [ARG...]
 *
 * What it does is printed on stdout, one line each:
 *   started PID
 *   exited PID status N         (or: killed PID signal N)
 *   reload: stopping PID
 *   stopping PID
 *   stopped
 *
 * A program that exits at once is started again after a short delay (a
 * timer), so a broken one does not spin. The same code runs on every
 * backend: POLLUX_BACKEND=select (or poll, epoll, ...) picks one.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pollux.h>

static const int watched[] = { SIGHUP, SIGTERM, SIGINT };
#define NWATCHED (int)(sizeof watched / sizeof watched[0])

struct supervisor {
    pollux *p;
    char **argv;
    pid_t child;        /* running, or 0 */
    bool restart_asap;  /* a reload stopped it: start again at once */
    bool stopping;      /* SIGTERM/SIGINT: exit once the child is gone */
    int delay_timer;    /* starts the program again after a quick exit */
    int kill_timer;     /* SIGKILL for a child that ignores SIGTERM */
    struct timespec started_at;
};

/* In the child, before exec: what pollux did to the signals (blocked them
 * on epoll, SIG_IGN on kqueue) must not reach the program. */
static void reset_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int i = 0; i < NWATCHED; i++)
        signal(watched[i], SIG_DFL);
}

static int start(struct supervisor *s)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        reset_signals();
        execvp(s->argv[0], s->argv);
        _exit(127);
    }
    int err = pollux_child_add(s->p, pid, NULL);
    if (err < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return err;
    }
    s->child = pid;
    clock_gettime(CLOCK_MONOTONIC, &s->started_at);
    printf("started %d\n", (int)pid);
    fflush(stdout);
    return 0;
}

/* SIGTERM now, SIGKILL in 5 s if it is still there. */
static void stop_child(struct supervisor *s, const char *why)
{
    if (s->child == 0)
        return;
    printf("%s%d\n", why, (int)s->child);
    fflush(stdout);
    kill(s->child, SIGTERM);
    pollux_timer_settime(s->p, s->kill_timer, POLLUX_SEC(5), 0, 0);
}

static double seconds_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void on_child_exit(struct supervisor *s, const pollux_event *ev)
{
    if (WIFSIGNALED(ev->status))
        printf("killed %d signal %d\n", ev->fd, WTERMSIG(ev->status));
    else
        printf("exited %d status %d\n", ev->fd, WEXITSTATUS(ev->status));
    fflush(stdout);
    s->child = 0;
    pollux_timer_settime(s->p, s->kill_timer, 0, 0, 0);
    if (s->stopping)
        return;
    /* A program that lived less than a second waits a little. */
    bool quick = seconds_since(&s->started_at) < 1.0 && !s->restart_asap;
    s->restart_asap = false;
    if (quick)
        pollux_timer_settime(s->p, s->delay_timer, POLLUX_MSEC(500), 0, 0);
    else if (start(s) < 0)
        s->stopping = true;
}

static void on_signal(struct supervisor *s, int signo)
{
    if (signo == SIGHUP && !s->stopping) {
        if (s->child == 0)
            return; /* waiting to start it anyway */
        s->restart_asap = true;
        stop_child(s, "reload: stopping ");
        return;
    }
    s->stopping = true;
    pollux_timer_settime(s->p, s->delay_timer, 0, 0, 0);
    stop_child(s, "stopping ");
}

static void on_timer(struct supervisor *s, int timer)
{
    if (timer == s->kill_timer && s->child != 0)
        kill(s->child, SIGKILL);
    else if (timer == s->delay_timer && !s->stopping && s->child == 0 && start(s) < 0)
        s->stopping = true;
}

static int run(struct supervisor *s)
{
    pollux_event ev[16];
    while (!s->stopping || s->child != 0) {
        int n = pollux_wait(s->p, ev, 16, -1);
        if (n < 0 && n != -EINTR)
            return n;
        for (int i = 0; i < n; i++) {
            if (!pollux_event_current(s->p, &ev[i]))
                continue;
            switch (ev[i].kind) {
            case POLLUX_KIND_CHILD:
                on_child_exit(s, &ev[i]);
                break;
            case POLLUX_KIND_SIGNAL:
                on_signal(s, ev[i].fd);
                break;
            case POLLUX_KIND_TIMER:
                on_timer(s, ev[i].fd);
                break;
            default:
                break;
            }
        }
    }
    printf("stopped\n");
    return 0;
}

static int setup(struct supervisor *s)
{
    int err = pollux_new(&s->p, POLLUX_BACKEND_AUTO);
    for (int i = 0; err == 0 && i < NWATCHED; i++)
        err = pollux_signal_add(s->p, watched[i], NULL);
    if (err == 0 && (s->delay_timer = pollux_timer_create(s->p, CLOCK_MONOTONIC, NULL)) < 0)
        err = s->delay_timer;
    if (err == 0 && (s->kill_timer = pollux_timer_create(s->p, CLOCK_MONOTONIC, NULL)) < 0)
        err = s->kill_timer;
    return err < 0 ? err : start(s);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PROGRAM [ARG...]\n", argv[0]);
        return 2;
    }
    struct supervisor s = { .argv = argv + 1 };
    int err = setup(&s);
    if (err == 0)
        err = run(&s);
    pollux_free(s.p); /* restores the signals' dispositions and mask */
    if (err < 0) {
        fprintf(stderr, "supervisor: %s\n", strerror(-err));
        return 1;
    }
    return 0;
}
