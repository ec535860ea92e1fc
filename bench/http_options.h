/*
 * http_options.h - the command line of the benchmark's HTTP servers on
 * other libraries (http_libev.c, http_libuv.c), which take the options of
 * examples/http_server.c so that bench/http_wrk starts all three alike.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_BENCH_HTTP_OPTIONS_H
#define POLLUX_BENCH_HTTP_OPTIONS_H

/* "[--backend LIBRARY] [--idle-ms MS] [PORT]": --backend must name
 * library; defaults 8080 and 5000 ms. Returns 0, or -1 on a usage error. */
int http_bench_options(int argc, char **argv, const char *library, int *port, long *idle_ms);

#endif
