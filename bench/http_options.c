/*
 * http_options.c - see http_options.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "http_options.h"

#include <stdlib.h>
#include <string.h>

int http_bench_options(int argc, char **argv, const char *library, int *port, long *idle_ms)
{
    *port = 8080;
    *idle_ms = 5000;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
            if (strcmp(argv[++i], library) != 0)
                return -1;
        } else if (strcmp(argv[i], "--idle-ms") == 0 && i + 1 < argc) {
            *idle_ms = strtol(argv[++i], &end, 10);
            if (*end != '\0' || *idle_ms <= 0)
                return -1;
        } else {
            *port = (int)strtol(argv[i], &end, 10);
            if (*end != '\0' || *port < 0 || *port > 65535)
                return -1;
        }
    }
    return 0;
}
