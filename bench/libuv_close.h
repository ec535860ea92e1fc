/*
 * libuv_close.h - the end of a libuv loop, shared by the two libuv
 * drivers (driver_libuv.c, timer_libuv.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef BENCH_LIBUV_CLOSE_H
#define BENCH_LIBUV_CLOSE_H

#include <stddef.h>
#include <stdlib.h>

#include <uv.h>

/* Where the loop was initialised (loop_ok), close the n handles of the
 * array at handles (each size bytes), run the loop until libuv has let go
 * of them, then close the loop: libuv refuses to close a loop with open
 * handles. Then free the array. */
static inline void bench_uv_close_all(uv_loop_t *loop, int loop_ok, void *handles, size_t size,
                                      int n)
{
    if (loop_ok) {
        for (int i = 0; i < n; i++)
            uv_close((uv_handle_t *)((char *)handles + (size_t)i * size), NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
    }
    free(handles);
}

#endif
