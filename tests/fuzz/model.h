/*
 * model.h - shared state of the pollux fuzz harness (tests/fuzz/README.md).
 *
 * One run executes an input's operations on one backend: a pool of real
 * descriptors ("slots"), the open file descriptions behind them
 * ("objects"), the poller, and the reference model's view of the poller's
 * registrations, timers and wake. fuzz_pollux.c executes operations;
 * model.c predicts and checks their results.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_FUZZ_MODEL_H
#define POLLUX_FUZZ_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "pollux.h"

#define MAX_SLOTS  40
#define MAX_OBJS   80
#define MAX_REGS   64
#define MAX_TIMERS 16
#define MAX_OPS    256
#define MAX_WAIT   8
#define MAX_STALE  16

/* What a number names from the harness's point of view. */
#define NUM_CLOSED   (-1) /* not open */
#define NUM_INTERNAL (-2) /* open, but not the harness's: the poller's own */

enum obj_kind { K_PIPE_R = 1, K_PIPE_W, K_UNIX, K_TCP, K_EVENTFD, K_MEMFD };

struct obj {
    uint8_t kind;
    int refs; /* harness numbers naming it */
};

struct slot {
    int fd;   /* -1 once closed */
    int last; /* the number it had, for operations on a closed number */
    int obj;
    int bind; /* changes whenever the number is (re)opened */
};

struct reg {
    bool used;
    bool fired; /* a ONESHOT that was reported */
    int fd;
    uint32_t interest;
    void *data;
    int obj;  /* the object the number named at register/modify, or -1 */
    int bind; /* the slot binding at that moment, or -1 */
    bool foreign; /* made on a number the kqueue implementation opened (model_register) */
    int gen;         /* which registration this is: new at every successful register */
    uint64_t serial; /* event.serial of its events, 0 until the first one */
};

enum timer_state { T_OFF, T_DUE, T_MAYBE, T_NEVER };

struct tmr {
    bool live;
    int id;
    int clockid;
    void *data;
    enum timer_state state;
    int64_t interval;
    int gen;         /* which timer setting this is: new at every successful
                      * create and settime */
    uint64_t serial; /* event.serial of its events, 0 until the first one
                      * (again after a settime) */
};

/* A file libkqueue may go on watching under a number (see model_closing). */
struct stale {
    int fd;
    int obj;
};

/* What one operation gave, for the comparison between backends. */
struct trace_entry {
    int op;
    int result;
    bool complete;        /* a wait with room left: everything ready was reported */
    uint64_t read, write; /* a wait: slots that must be and were reported, by bit */
};

struct run {
    pollux_backend backend;
    pollux *p;
    bool broken;  /* a failed after_fork: no kernel state */
    bool limited; /* this operation runs with no or few free descriptors */
    bool wake_pending;
    bool has_fileno; /* what pollux_fileno gave on a fresh poller of the backend */
    bool libkqueue;  /* kqueue, and the kqueue is libkqueue's */
    struct stale stale[MAX_STALE];
    int nstale;
    int op_index;
    const char *op_name;
    struct slot slots[MAX_SLOTS];
    int nslots;
    struct obj objs[MAX_OBJS];
    int nobjs;
    int next_bind;
    struct reg regs[MAX_REGS];
    struct tmr timers[MAX_TIMERS];
    int next_gen;
    /* The events of the last wait that returned some, and the model's
     * registration or timer (gen) behind each: pollux_event_current() is
     * checked on them after every operation (model_check_current). */
    pollux_event batch[MAX_WAIT];
    int batch_gen[MAX_WAIT];
    int nbatch;
    struct trace_entry trace[MAX_OPS];
    int ntrace;
};

/* Stops the execution with a message naming the backend and operation. */
_Noreturn void fuzz_fail(const struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The object a number names now, NUM_CLOSED or NUM_INTERNAL. */
int model_number(const struct run *r, int fd);
/* The slot whose open number is fd, or NULL. */
struct slot *model_slot_of(struct run *r, int fd);
struct reg *model_reg(struct run *r, int fd);

/* Each checks the result of a call made with the arguments given and
 * updates the model. */
void model_register(struct run *r, int fd, uint32_t events, void *data, int got);
void model_modify(struct run *r, int fd, uint32_t events, void *data, int got);
void model_unregister(struct run *r, int fd, int got);
/* The harness is about to close the slot's number, or dup2 over it. */
void model_closing(struct run *r, const struct slot *s);
void model_after_fork(struct run *r, int got);
void model_wake(struct run *r, int got);
void model_fileno(struct run *r, int got);
/* pollux_fileno's result on a fresh poller of backend b, checked against
 * the documented table: whether the backend has a fileno here. */
bool model_fileno_probe(pollux_backend b, int got);
void model_wait(struct run *r, const pollux_event *ev, int max, int got,
                const short *before, const short *after);

void model_timer_create(struct run *r, int clockid, void *data, int got);
void model_timer_settime(struct run *r, int id, int clockid, int64_t initial,
                         int64_t interval, unsigned flags, int64_t now, int got);
void model_timer_gettime(struct run *r, int id, bool want_remaining, int64_t remaining,
                         bool want_interval, int64_t interval, int got);
void model_timer_delete(struct run *r, int id, int got);
struct tmr *model_timer(struct run *r, int id);

/* pollux_event_current() on every event of the last batch must say
 * whether the model still has the registration or timer behind it. */
void model_check_current(struct run *r);

/* poll(2) revents of every slot's number (0 for a closed one). */
void model_probe(const struct run *r, short *out);

/* Compares the traces of two runs of the same input. */
void model_compare(const struct run *a, const struct run *b);

#endif
