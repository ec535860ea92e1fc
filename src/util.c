/*
 * util.c - see util.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int grow(void **array, int *size, int needed, size_t item, bool zero)
{
    if (needed <= *size)
        return 0;
    int grown_size = *size ? *size : 64;
    while (grown_size < needed)
        grown_size *= 2;
    char *grown = realloc(*array, (size_t)grown_size * item);
    if (grown == NULL)
        return -ENOMEM;
    if (zero)
        memset(grown + (size_t)*size * item, 0, (size_t)(grown_size - *size) * item);
    *array = grown;
    *size = grown_size;
    return 0;
}

int pollux_grow_array(void **array, int *size, int needed, size_t item)
{
    return grow(array, size, needed, item, true);
}

int pollux_grow_array_uninit(void **array, int *size, int needed, size_t item)
{
    return grow(array, size, needed, item, false);
}

int pollux_grow_index(int **array, int *size, int needed)
{
    int old = *size;
    int err = pollux_grow_array((void **)array, size, needed, sizeof **array);
    for (int i = old; err == 0 && i < *size; i++)
        (*array)[i] = -1;
    return err;
}

bool pollux_fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}
