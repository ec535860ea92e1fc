/*
 * grow.h - growing the backends' arrays.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_GROW_H
#define POLLUX_GROW_H

#include <stddef.h>

/* Make *array hold at least `needed` items of `item` bytes, doubling from
 * 64; new items are zeroed. 0 or -ENOMEM (then nothing changed). */
int grow_array(void **array, int *size, int needed, size_t item);

#endif
