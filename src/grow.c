/*
 * grow.c - see grow.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

int grow_array(void **array, int *size, int needed, size_t item)
{
    if (needed <= *size)
        return 0;
    int grown_size = *size ? *size : 64;
    while (grown_size < needed)
        grown_size *= 2;
    char *grown = realloc(*array, (size_t)grown_size * item);
    if (grown == NULL)
        return -ENOMEM;
    memset(grown + (size_t)*size * item, 0, (size_t)(grown_size - *size) * item);
    *array = grown;
    *size = grown_size;
    return 0;
}
