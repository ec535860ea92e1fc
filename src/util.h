/*
 * util.h - plumbing shared by the core and the backends: growing arrays,
 * asking whether a number is open, scanning from a rotating start.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_UTIL_H
#define POLLUX_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* For the few small functions on the path every wait takes (the core's
 * collection and a backend's wait), which the compiler would otherwise
 * leave as calls: see docs/internals.md, "The wait path". */
#if defined(__GNUC__)
#define POLLUX_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define POLLUX_ALWAYS_INLINE inline
#endif
/* And for the rare paths next to them (in the wait, a timer's settime),
 * which the compiler would otherwise inline there, making the common case
 * save registers it does not use. */
#if defined(__GNUC__)
#define POLLUX_NOINLINE __attribute__((noinline))
#define POLLUX_COLD __attribute__((cold))
#else
#define POLLUX_NOINLINE
#define POLLUX_COLD
#endif
/* The functions every wait runs (pollux_wait() and a backend's wait()):
 * the linker puts them side by side, in one page of code rather than
 * several (a wait touches as few pages as it can: where each syscall
 * flushes the TLB, as under kernel page-table isolation without PCID,
 * every page is a TLB miss). */
#if defined(__GNUC__)
#define POLLUX_HOT __attribute__((hot))
#else
#define POLLUX_HOT
#endif

/* Make *array hold at least `needed` items of `item` bytes, doubling from
 * 64; new items are zeroed. 0 or -ENOMEM (then nothing changed). */
int pollux_grow_array(void **array, int *size, int needed, size_t item);

/* The same without zeroing the new items, for arrays whose items are
 * written before they are read: pages the kernel hands out are only
 * touched once used (a million timers do not pay for the slack). */
int pollux_grow_array_uninit(void **array, int *size, int needed, size_t item);

/* The same for an index array (int per number): new items are -1,
 * "nowhere". */
int pollux_grow_index(int **array, int *size, int needed);

/* The next generation of a slot (a registration or timer serial): never
 * 0, so that a zeroed pollux_event is never current. */
static inline uint32_t pollux_next_serial(uint32_t serial)
{
    return serial + 1 != 0 ? serial + 1 : 1;
}

/* Whether fd is an open descriptor of this process (fcntl F_GETFD). */
bool pollux_fd_is_open(int fd);

/*
 * Fairness when more is ready than there is room for: a scan of `count`
 * positions starts where the last one stopped (`cursor`, wrapped), so that
 * every position leads in turn. pollux_rotation_at(start, k, count) is the
 * k-th position of the scan, 0 <= k < count.
 */
static inline int pollux_rotation_start(int cursor, int count)
{
    return cursor >= 0 && cursor < count ? cursor : 0;
}

static inline int pollux_rotation_at(int start, int k, int count)
{
    int i = start + k;
    return i >= count ? i - count : i;
}

#endif
