/*
 * backend_select.c - select(2), with pselect(2) for nanosecond timeouts.
 *
 * The descriptor sets are bit arrays sized by this file rather than
 * fd_set, so descriptors >= FD_SETSIZE work where the kernel allows it
 * (Linux does), and glibc's fortified FD_SET, which aborts on them, is
 * never used. select() fails as a whole with EBADF when one descriptor
 * was closed; that one is then found and reported as closed, and the
 * others are asked for again without it, so that none is left out.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h" /* first: it may define _GNU_SOURCE */

#ifdef HAVE_BACKEND_SELECT
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include "backend.h"
#include "clock.h"
#include "util.h"

typedef unsigned long word_t;
#define WORD_BITS ((int)(sizeof(word_t) * CHAR_BIT))

enum { SET_READ, SET_WRITE, SET_EXCEPT, SET_COUNT };

struct select_state {
    word_t *want[SET_COUNT]; /* what is registered */
    word_t *got[SET_COUNT];  /* what select() returned */
    int words;               /* size of each array */
    int max_fd;              /* highest registered fd, or -1 */
    int next;                /* where the next scan of results starts */
};

static bool bit_get(const word_t *set, int fd)
{
    return (set[fd / WORD_BITS] >> (fd % WORD_BITS)) & 1u;
}

static void bit_put(word_t *set, int fd, bool on)
{
    word_t bit = (word_t)1 << (fd % WORD_BITS);
    if (on)
        set[fd / WORD_BITS] |= bit;
    else
        set[fd / WORD_BITS] &= ~bit;
}

static bool registered(const struct select_state *s, int fd)
{
    return bit_get(s->want[SET_READ], fd) || bit_get(s->want[SET_WRITE], fd)
        || bit_get(s->want[SET_EXCEPT], fd);
}

static int select_backend_init(void **state)
{
    struct select_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->max_fd = -1;
    *state = s;
    return 0;
}

static void select_backend_destroy(void *state)
{
    struct select_state *s = state;
    for (int k = 0; k < SET_COUNT; k++) {
        free(s->want[k]);
        free(s->got[k]);
    }
    free(s);
}

static int reserve(struct select_state *s, int fd)
{
    if (fd / WORD_BITS < s->words)
        return 0;
    int words = s->words ? s->words : FD_SETSIZE / WORD_BITS;
    while (fd / WORD_BITS >= words)
        words *= 2;
    for (int k = 0; k < SET_COUNT; k++) {
        word_t *want = realloc(s->want[k], (size_t)words * sizeof(word_t));
        if (want == NULL)
            return -ENOMEM;
        memset(want + s->words, 0, (size_t)(words - s->words) * sizeof(word_t));
        s->want[k] = want;
        word_t *got = realloc(s->got[k], (size_t)words * sizeof(word_t));
        if (got == NULL)
            return -ENOMEM;
        s->got[k] = got;
    }
    s->words = words;
    return 0;
}

/*
 * Set fd's bits to mask and keep max_fd the highest number with a bit set,
 * whatever the order of changes: a registration that sets no bit (RDHUP
 * alone) must neither hold max_fd up nor be passed over when it gets one.
 */
static void put_mask(struct select_state *s, int fd, uint32_t mask)
{
    /* select() cannot tell end of stream from data: RDHUP alone is not
     * watched (it would report READ, outside the interest, forever). */
    bit_put(s->want[SET_READ], fd, mask & POLLUX_READ);
    bit_put(s->want[SET_WRITE], fd, mask & POLLUX_WRITE);
    bit_put(s->want[SET_EXCEPT], fd, mask & POLLUX_PRI);
    if (registered(s, fd)) {
        if (fd > s->max_fd)
            s->max_fd = fd;
        return;
    }
    while (s->max_fd >= 0 && !registered(s, s->max_fd))
        s->max_fd--;
}

static int select_backend_add(void *state, int fd, uint32_t mask)
{
    struct select_state *s = state;
    if (!pollux_fd_is_open(fd))
        return -EBADF;
    int err = reserve(s, fd);
    if (err < 0)
        return err;
    put_mask(s, fd, mask);
    return POLLUX_ADD_WATCHED;
}

static int select_backend_mod(void *state, int fd, uint32_t old_mask, uint32_t mask)
{
    (void)old_mask;
    put_mask(state, fd, mask);
    return POLLUX_ADD_WATCHED;
}

static void select_backend_del(void *state, int fd, uint32_t old_mask)
{
    (void)old_mask;
    put_mask(state, fd, 0);
}

static int kernel_wait(struct select_state *s, int64_t timeout_ns)
{
    struct timespec ts = pollux_ns_to_timespec(timeout_ns);
    if (s->max_fd < 0)
        return pselect(0, NULL, NULL, NULL, timeout_ns < 0 ? NULL : &ts, NULL);
    size_t bytes = (size_t)(s->max_fd / WORD_BITS + 1) * sizeof(word_t);
    for (int k = 0; k < SET_COUNT; k++)
        memcpy(s->got[k], s->want[k], bytes);
    return pselect(s->max_fd + 1, (fd_set *)s->got[SET_READ], (fd_set *)s->got[SET_WRITE],
                   (fd_set *)s->got[SET_EXCEPT], timeout_ns < 0 ? NULL : &ts, NULL);
}

static uint32_t readiness(const struct select_state *s, int fd)
{
    uint32_t bits = 0;
    if (bit_get(s->got[SET_READ], fd))
        bits |= POLLUX_READ;
    if (bit_get(s->got[SET_WRITE], fd))
        bits |= POLLUX_WRITE;
    if (bit_get(s->got[SET_EXCEPT], fd))
        bits |= POLLUX_PRI;
    return bits;
}

/* Store up to max of the `ready` descriptors select() left in got[],
 * starting where the last scan stopped, so that each gets its turn. */
static int scan_ready(struct select_state *s, struct pollux_report *out, int max, int ready)
{
    int n = 0, span = s->max_fd + 1;
    int start = pollux_rotation_start(s->next, span);
    for (int k = 0; k < span && n < max && ready > 0; k++) {
        int fd = pollux_rotation_at(start, k, span);
        uint32_t bits = readiness(s, fd);
        if (bits == 0)
            continue;
        out[n++] = (struct pollux_report){ .fd = fd, .kind = POLLUX_REPORT_READY, .events = bits };
        s->next = fd + 1;
    }
    return n;
}

static bool closed_number(const struct select_state *s, int fd)
{
    return registered(s, fd) && !pollux_fd_is_open(fd);
}

/*
 * select() said EBADF, as a whole: it said nothing of the descriptors that
 * are ready. Ask again without blocking, without the closed numbers, and
 * report what is ready first, then the closed numbers as closed in
 * the room left: a wait with room left then holds everything ready, and a
 * closed number the core has not been told about yet stays in the sets,
 * to be found again by the next wait.
 */
static int wait_after_ebadf(struct select_state *s, struct pollux_report *out, int max)
{
    int span = s->max_fd + 1;
    size_t bytes = (size_t)(span / WORD_BITS + 1) * sizeof(word_t);
    for (int k = 0; k < SET_COUNT; k++)
        memcpy(s->got[k], s->want[k], bytes);
    for (int fd = 0; fd < span; fd++)
        if (closed_number(s, fd))
            for (int k = 0; k < SET_COUNT; k++)
                bit_put(s->got[k], fd, false);
    struct timespec zero = { 0, 0 };
    int ready = pselect(span, (fd_set *)s->got[SET_READ], (fd_set *)s->got[SET_WRITE],
                        (fd_set *)s->got[SET_EXCEPT], &zero, NULL);
    if (ready < 0 && errno != EBADF)
        return -errno; /* EBADF again: closed meanwhile, found below */
    int n = ready > 0 ? scan_ready(s, out, max, ready) : 0;
    for (int fd = 0; fd < span && n < max; fd++) {
        if (closed_number(s, fd)) {
            out[n++] = (struct pollux_report){ .fd = fd, .kind = POLLUX_REPORT_CLOSED };
        }
    }
    return n;
}

/* Nothing is batched (ops.batched is 0): the batch is always empty. */
static int select_backend_wait(void *state, struct pollux_batch *batch, struct pollux_report *out,
                              int max, int64_t timeout_ns)
{
    (void)batch;
    struct select_state *s = state;
    int ready = kernel_wait(s, timeout_ns);
    if (ready < 0)
        return errno == EBADF ? wait_after_ebadf(s, out, max) : -errno;
    return scan_ready(s, out, max, ready);
}

const struct backend_ops pollux_backend_select = {
    .native_modes = 0,
    .events = BACKEND_EVENT_BITS,
    .reports = 0, /* select() says readable or writable, never why */
    .caps = 0,
    .batched = 0,
    .timer_source = POLLUX_TIMER_SOURCE_TIMERFD,
    .init = select_backend_init,
    .destroy = select_backend_destroy,
    .add = select_backend_add,
    .mod = select_backend_mod,
    .del = select_backend_del,
    .wait = select_backend_wait,
};

#endif /* HAVE_BACKEND_SELECT */
